"""
fakes.py - a Redis or Sentinel that lies: a small RESP server on a free
loopback port that writes down every command it receives and answers from
a table, for the tests of what a worker believes and whom it sends its
password to.
"""

import socket
import threading

from harness.ports import Ports


def _bulk(s):
    s = s if isinstance(s, bytes) else str(s).encode()
    return b"$%d\r\n%s\r\n" % (len(s), s)


def reply(v):
    """A Python value as RESP: None nil, int integer, str/bytes bulk,
    list array, Exception error, ("+", text) status."""
    if v is None:
        return b"$-1\r\n"
    if isinstance(v, tuple) and v[0] == "+":
        return b"+" + v[1].encode() + b"\r\n"
    if isinstance(v, Exception):
        return b"-" + str(v).encode() + b"\r\n"
    if isinstance(v, int):
        return b":%d\r\n" % v
    if isinstance(v, list):
        return b"*%d\r\n" % len(v) + b"".join(reply(x) for x in v)
    return _bulk(v)


class FakeServer:
    """Answers each command with answer(args) (args: list of str), or
    "-ERR unknown" when it returns None; `seen` holds every command, as
    lists of str, of every connection, in order."""

    def __init__(self, answer):
        self.answer = answer
        self.seen = []
        self.lock = threading.Lock()
        self.port = Ports().one()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def commands(self, name):
        with self.lock:
            return [c for c in self.seen if c and c[0].upper() == name.upper()]

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn):
        f = conn.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line or not line.startswith(b"*"):
                    return
                args = []
                for _ in range(int(line[1:])):
                    n = int(f.readline()[1:])
                    args.append(f.read(n + 2)[:-2].decode(errors="replace"))
                with self.lock:
                    self.seen.append(args)
                out = self.answer(args)
                conn.sendall(reply(out if out is not None else
                                   Exception("ERR unknown command")))
        except (OSError, ValueError):
            pass
        finally:
            conn.close()

    def stop(self):
        self.stopping = True
        self.sock.close()
        self.thread.join(timeout=2)


def sentinel(primary_port, password=None):
    """A Sentinel naming 127.0.0.1:primary_port as the primary of any name;
    with a password, only after AUTH with it."""
    state = {"authed": password is None}

    def answer(args):
        cmd = args[0].upper()
        if cmd == "AUTH":
            state["authed"] = args[-1] == password
            return ("+", "OK") if state["authed"] else Exception("WRONGPASS")
        if not state["authed"]:
            return Exception("NOAUTH Authentication required.")
        if cmd == "SENTINEL" and len(args) > 1 and \
                args[1].lower() == "get-master-addr-by-name":
            return ["127.0.0.1", str(primary_port)]
        if cmd == "PING":
            return ("+", "PONG")
        return None
    return FakeServer(answer)


def rogue_redis():
    """A Redis that takes any password and has every record: what an
    attacker would run."""
    def answer(args):
        cmd = args[0].upper()
        if cmd in ("AUTH", "PING"):
            return ("+", "OK") if cmd == "AUTH" else ("+", "PONG")
        if cmd == "ROLE":
            return ["master", 0, []]
        if cmd == "SCRIPT":
            return "0" * 40
        return None
    return FakeServer(answer)
