"""
resp.py - a RESP2 client for Redis and Sentinel, and a MONITOR reader that
lists every command Redis ran during an action: commands a script ran
inside Redis carry client "lua", so client round trips can be counted
exactly.
"""

import re
import socket
import time
import uuid

from .core import check, check_eq


class RedisError(Exception):
    pass


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Redis:
    """One connection. With a password: AUTH as `user` (an ACL user), or
    as the default user when no user is given."""

    def __init__(self, port, user=None, password=None, timeout=10.0,
                 host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        if password:
            try:
                self.cmd("AUTH", *([user, password] if user else [password]))
            except Exception:
                self.close()
                raise

    @property
    def addr(self):
        h, p = self.sock.getsockname()[:2]
        return f"{h}:{p}"

    def send(self, *args):
        self.sock.sendall(encode(*args))

    def read(self, errors="raise"):
        """One reply. An error reply is raised, or returned as a RedisError
        with errors="return"."""
        line = self.f.readline()
        if not line:
            raise RedisError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            if errors == "return":
                return RedisError(rest.decode())
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read(errors) for _ in range(n)]
        raise RedisError(f"bad reply line {line!r}")

    def cmd(self, *args):
        self.send(*args)
        return self.read()

    def pipeline(self, cmds, chunk=1000):
        """Sends many commands, chunk at a time; returns every reply, errors
        as RedisError instances (not raised)."""
        out = []
        for i in range(0, len(cmds), chunk):
            part = cmds[i:i + chunk]
            self.sock.sendall(b"".join(encode(*c) for c in part))
            out.extend(self.read("return") for _ in part)
        return out

    def info(self, *sections):
        d = {}
        for line in self.cmd("INFO", *sections).decode().splitlines():
            if line and not line.startswith("#") and ":" in line:
                k, v = line.split(":", 1)
                d[k] = v
        return d

    def scan(self, match):
        keys, cursor = set(), b"0"
        while True:
            cursor, batch = self.cmd("SCAN", cursor, "MATCH", match, "COUNT", 1000)
            keys.update(k.decode() for k in batch)
            if cursor in (b"0", 0, "0"):
                return keys

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


def cmdstat_calls(info):
    """{command: calls} from an INFO commandstats dict."""
    out = {}
    for k, v in info.items():
        if k.startswith("cmdstat_"):
            for field in v.split(","):
                if field.startswith("calls="):
                    out[k[8:]] = int(field[6:])
    return out


MONITOR_LINE = re.compile(r"^(\d+\.\d+) \[(\d+) ([^\]]+)\] (.*)$")
MONITOR_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')


class Command:
    def __init__(self, client, name, args, raw):
        self.client = client        # "ip:port", "unix:...", or "lua"
        self.name = name            # lowercased
        self.args = args
        self.raw = raw

    @property
    def from_script(self):
        return self.client == "lua"

    def __repr__(self):
        return self.raw


def commands_during(connect, action, timeout=10.0):
    """Runs action() and returns (result, commands): every command Redis
    executed meanwhile, from MONITOR, minus our own. connect() makes a
    client signed in as a user that may run MONITOR (the stack's "admin").
    Markers sent on a second connection bracket the action, so nothing
    before or after it is counted."""
    ctl, mon = connect(), connect()
    try:
        check_eq(mon.cmd("MONITOR"), "OK", "MONITOR")
        tag = uuid.uuid4().hex
        begin, end = f"begin-{tag}", f"end-{tag}"
        ctl.cmd("ECHO", begin)
        result = action()
        ctl.cmd("ECHO", end)
        seen, started = [], False
        deadline = time.monotonic() + timeout
        while True:
            check(time.monotonic() < deadline, "MONITOR: end marker not seen")
            line = mon.f.readline()
            check(line, "MONITOR: connection closed")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if text.startswith("+"):
                text = text[1:]
            if begin in text:
                started = True
                continue
            if end in text:
                break
            m = MONITOR_LINE.match(text) if started else None
            if not m or m.group(3) == ctl.addr:
                continue
            args = MONITOR_ARG.findall(m.group(4))
            seen.append(Command(m.group(3), args[0].lower() if args else "",
                                args[1:], text))
        return result, seen
    finally:
        ctl.close()
        mon.close()


def round_trips(commands):
    """Commands a client sent (not those a script ran inside Redis)."""
    return [c for c in commands if not c.from_script]
