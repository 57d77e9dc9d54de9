"""
resp.py - a RESP2 client for Redis and Sentinel, one for a Redis Cluster
(ClusterRedis), and a MONITOR reader that
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


def crc16(data):
    """CRC16/XMODEM, Redis Cluster's key hash."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    """The cluster slot of key (str or bytes), hash tags as Redis reads them."""
    k = key.encode() if isinstance(key, str) else key
    i = k.find(b"{")
    if i >= 0:
        j = k.find(b"}", i + 1)
        if j > i + 1:
            k = k[i + 1:j]
    return crc16(k) % 16384


# Where the key is in the commands the tests send that do not have it first.
KEY_AT = {"MEMORY": 2, "OBJECT": 2, "EVAL": 3, "EVALSHA": 3}


def _add_info(a, b):
    """Two INFO values added: numbers, or "name=number,..." lists field by
    field; otherwise a."""
    try:
        return str(int(a) + int(b))
    except ValueError:
        pass
    try:
        fa = dict(f.split("=", 1) for f in a.split(","))
        fb = dict(f.split("=", 1) for f in b.split(","))
        out = {}
        for k in fa:
            x, y = float(fa[k]), float(fb.get(k, 0))
            out[k] = str(int(x + y)) if x.is_integer() and y.is_integer() else str(x + y)
        return ",".join(f"{k}={v}" for k, v in out.items())
    except ValueError:
        return a


class ClusterRedis:
    """The tests' client for a Redis Cluster, with Redis's interface for
    key commands: each goes to the node serving its key's slot, following
    MOVED and ASK as a cluster client must. scan() and info() cover every
    primary. Connections are opened when first needed."""

    def __init__(self, ports, user=None, password=None, timeout=10.0):
        self.seeds = list(ports)
        self.user, self.password, self.timeout = user, password, timeout
        self.conns = {}
        self.slots = {}                 # slot -> port
        self.refresh()

    def conn(self, port):
        if port not in self.conns:
            self.conns[port] = Redis(port, self.user, self.password, self.timeout)
        return self.conns[port]

    def refresh(self):
        for port in list(self.conns) + self.seeds:
            try:
                ranges = self.conn(port).cmd("CLUSTER", "SLOTS")
            except (OSError, RedisError):
                self.conns.pop(port, None)
                continue
            self.slots = {}
            for r in ranges:
                for slot in range(r[0], r[1] + 1):
                    self.slots[slot] = int(r[2][1])
            return
        raise RedisError("no cluster node answered CLUSTER SLOTS")

    def primaries(self):
        return sorted(set(self.slots.values()))

    def cmd(self, *args):
        name = str(args[0]).upper()
        at = KEY_AT.get(name, 1)
        port = self.slots.get(key_slot(args[at])) if len(args) > at else None
        port = port or self.primaries()[0]
        asking = False
        for _ in range(5):
            c = self.conn(port)
            if asking:
                c.cmd("ASKING")
            c.send(*args)
            reply = c.read("return")
            if not isinstance(reply, RedisError):
                return reply
            kind, _, rest = str(reply).partition(" ")
            if kind not in ("MOVED", "ASK"):
                raise reply
            slot, addr = rest.split(" ")
            port = int(addr.rpartition(":")[2])
            asking = kind == "ASK"
            if kind == "MOVED":
                self.slots[int(slot)] = port
        raise RedisError(f"{args[0]}: still redirected after 5 tries")

    def on_every_primary(self, *args):
        """A command without a key (CLIENT LIST, CONFIG GET) on every
        primary: [reply]."""
        return [self.conn(port).cmd(*args) for port in self.primaries()]

    def pipeline(self, cmds, chunk=1000):
        out = []
        for c in cmds:
            try:
                out.append(self.cmd(*c))
            except RedisError as e:
                out.append(e)
        return out

    def scan(self, match):
        keys = set()
        for port in self.primaries():
            keys |= self.conn(port).scan(match)
        return keys

    def info(self, *sections):
        """The primaries' INFO added up: numbers summed, and so are the
        numbers of "calls=3,usec=40,..." fields (commandstats); any other
        value is the first primary's."""
        total = {}
        for port in self.primaries():
            for k, v in self.conn(port).info(*sections).items():
                total[k] = _add_info(total[k], v) if k in total else v
        return total

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}


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


class _Watch:
    """MONITOR on one node, between two markers sent on a second connection."""

    def __init__(self, connect, tag):
        self.ctl, self.mon = connect(), connect()
        self.begin, self.end = f"begin-{tag}", f"end-{tag}"
        check_eq(self.mon.cmd("MONITOR"), "OK", "MONITOR")

    def mark(self, which):
        self.ctl.cmd("ECHO", self.begin if which == "begin" else self.end)

    def read(self, deadline):
        seen, started = [], False
        while True:
            check(time.monotonic() < deadline, "MONITOR: end marker not seen")
            line = self.mon.f.readline()
            check(line, "MONITOR: connection closed")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if text.startswith("+"):
                text = text[1:]
            if self.begin in text:
                started = True
                continue
            if self.end in text:
                return seen
            m = MONITOR_LINE.match(text) if started else None
            if not m or m.group(3) == self.ctl.addr:
                continue
            args = MONITOR_ARG.findall(m.group(4))
            seen.append((float(m.group(1)), Command(m.group(3), args[0].lower() if args else "",
                                                    args[1:], text)))

    def close(self):
        self.ctl.close()
        self.mon.close()


def commands_during(connect, action, timeout=10.0):
    """Runs action() and returns (result, commands): every command Redis
    executed meanwhile, from MONITOR, minus our own. connect() makes a
    client signed in as a user that may run MONITOR (the stack's "admin");
    when it makes a ClusterRedis, every primary is watched and their
    commands merged in time order. Markers sent on a second connection
    bracket the action, so nothing before or after it is counted."""
    probe = connect()
    if isinstance(probe, ClusterRedis):
        nodes = [lambda p=p: Redis(p, probe.user, probe.password, probe.timeout)
                 for p in probe.primaries()]
    else:
        nodes = [connect]
    probe.close()
    tag = uuid.uuid4().hex
    watches = []
    try:
        for c in nodes:
            watches.append(_Watch(c, tag))
        for w in watches:
            w.mark("begin")
        result = action()
        for w in watches:
            w.mark("end")
        deadline = time.monotonic() + timeout
        seen = sorted((c for w in watches for c in w.read(deadline)), key=lambda tc: tc[0])
        return result, [c for _, c in seen]
    finally:
        for w in watches:
            w.close()


def round_trips(commands):
    """Commands a client sent (not those a script ran inside Redis)."""
    return [c for c in commands if not c.from_script]
