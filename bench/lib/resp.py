"""resp.py - a minimal Redis (RESP2) client for the benchmark harness: INFO
snapshots, MEMORY USAGE, DUMP/RESTORE, SWAPDB, MONITOR. Standard library only."""
import socket


class RedisError(Exception):
    pass


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Redis:
    def __init__(self, port, host="127.0.0.1", timeout=30, auth=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        if auth:
            self.cmd("AUTH", *auth)

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass

    def _line(self):
        line = self.f.readline()
        if not line:
            raise RedisError("connection closed")
        return line[:-2]

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RedisError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read() for _ in range(n)]
        raise RedisError("bad reply %r" % line)

    def cmd(self, *args):
        self.sock.sendall(encode(*args))
        r = self.read()
        if isinstance(r, RedisError):
            raise r
        return r

    def pipeline(self, cmds, chunk=1000):
        """Sends many commands, chunk at a time; returns every reply (errors as
        RedisError instances, not raised)."""
        out = []
        for i in range(0, len(cmds), chunk):
            part = cmds[i:i + chunk]
            self.sock.sendall(b"".join(encode(*c) for c in part))
            out.extend(self.read() for _ in part)
        return out

    def info(self, *sections):
        raw = self.cmd("INFO", *sections).decode()
        d = {}
        for line in raw.splitlines():
            if not line or line.startswith("#") or ":" not in line:
                continue
            k, v = line.split(":", 1)
            d[k] = v
        return d

    def scan(self, match, count=1000):
        cur = b"0"
        keys = []
        while True:
            cur, part = self.cmd("SCAN", cur, "MATCH", match, "COUNT", count)
            keys.extend(part)
            if cur == b"0":
                return keys


def cmdstat_calls(info):
    """{command: calls} from an INFO commandstats dict."""
    out = {}
    for k, v in info.items():
        if not k.startswith("cmdstat_"):
            continue
        for field in v.split(","):
            if field.startswith("calls="):
                out[k[8:]] = int(field[6:])
    return out
