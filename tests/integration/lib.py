"""
lib.py - the clients the integration tests drive the real stack with.

Everything here talks to real components over loopback sockets: a browser
with a cookie jar (http.client), a RESP client for Redis, a MONITOR reader
that counts the commands a request sent to Redis, and a FastCGI client for
driving one worker directly. Python standard library only.
"""

import email.utils
import http.client
import json
import os
import re
import socket
import struct
import time
import urllib.parse
import uuid


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure(f"{what}: expected {want!r}, got {got!r}")


def non_json_lines(paths):
    """Every line of the files that is not one JSON object, as
    "FILE:LINE: text" (how a sanitizer report, a crash or a stray printf in
    a worker log shows up)."""
    bad = []
    for p in paths:
        with open(p, "rb") as f:
            for n, line in enumerate(f, 1):
                text = line.decode("utf-8", "replace").rstrip("\n")
                try:
                    ok = isinstance(json.loads(text), dict)
                except ValueError:
                    ok = False
                if not ok:
                    bad.append(f"{os.path.basename(p)}:{n}: {excerpt(text, 160)}")
    return bad


def excerpt(text, n=300):
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= n else text[:n] + "..."


# --------------------------------------------------------------------------
# HTTP: a browser with a cookie jar

class Response:
    def __init__(self, status, reason, headers, body, elapsed):
        self.status = status
        self.reason = reason
        self.headers = headers          # http.client.HTTPMessage
        self.raw = body                 # bytes
        self.body = body.decode("utf-8", "replace")
        self.elapsed = elapsed

    def header(self, name):
        return self.headers.get(name)

    def set_cookies(self):
        return self.headers.get_all("Set-Cookie") or []

    @property
    def served_by(self):
        return self.headers.get("X-Served-By")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise TestFailure(f"not JSON ({e}): {excerpt(self.body)}")

    def location_path(self):
        loc = self.headers.get("Location")
        if loc is None:
            return None
        return urllib.parse.urlsplit(loc).path or "/"

    def describe(self):
        return (f"{self.status} {self.reason} served-by={self.served_by} "
                f"body={excerpt(self.body, 200)!r}")


def parse_set_cookie(line):
    """Returns (name, value, attrs) where attrs maps lowercased names to
    values (True for flags)."""
    parts = [p.strip() for p in line.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        if not p:
            continue
        k, eq, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip() if eq else True
    return name.strip(), value.strip(), attrs


def cookie_is_expiry(attrs):
    if "max-age" in attrs:
        try:
            return int(attrs["max-age"]) <= 0
        except ValueError:
            return False
    if "expires" in attrs:
        try:
            when = email.utils.parsedate_to_datetime(attrs["expires"])
            return when.timestamp() <= time.time()
        except (TypeError, ValueError):
            return False
    return False


CSRF_INPUT = re.compile(r"<input\b[^>]*>", re.I)
ATTR = re.compile(r'([a-zA-Z_-]+)\s*=\s*"([^"]*)"')


def form_tokens(html):
    """The values of every <input type=hidden name=csrf> in a page."""
    out = []
    for tag in CSRF_INPUT.findall(html):
        attrs = {k.lower(): v for k, v in ATTR.findall(tag)}
        if attrs.get("name") == "csrf" and attrs.get("type", "").lower() == "hidden":
            out.append(attrs.get("value", ""))
    return out


class Browser:
    """One simulated user: keeps cookies like a browser does (name=value,
    deleted by an expiring Set-Cookie), and never follows redirects."""

    def __init__(self, port, timeout=15.0, host="127.0.0.1"):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.jar = {}
        self.attrs = {}             # last attributes seen per cookie name
        self.history = []           # Set-Cookie lines seen, in order

    def copy(self):
        b = Browser(self.port, self.timeout, self.host)
        b.jar = dict(self.jar)
        return b

    def cookie_header(self):
        return "; ".join(f"{k}={v}" for k, v in self.jar.items())

    def request(self, method, path, body=None, form=None, headers=None,
                send_cookies=True, keep_cookies=True):
        hdrs = {}
        if form is not None:
            body = urllib.parse.urlencode(form)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if send_cookies and self.jar:
            hdrs["Cookie"] = self.cookie_header()
        if headers:
            hdrs.update(headers)
        if isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection(self.host, self.port,
                                          timeout=self.timeout)
        t0 = time.monotonic()
        try:
            try:
                conn.request(method, path, body=body, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                # The server may answer (413) and close before reading a
                # large body; the answer is still there to read.
                pass
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        resp = Response(r.status, r.reason, r.headers, data,
                        time.monotonic() - t0)
        if keep_cookies:
            for line in resp.set_cookies():
                self.history.append(line)
                name, value, attrs = parse_set_cookie(line)
                self.attrs[name] = attrs
                if cookie_is_expiry(attrs) or value == "":
                    self.jar.pop(name, None)
                else:
                    self.jar[name] = value
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, form=None, **kw):
        return self.request("POST", path, form=form if form is not None else {},
                            **kw)

    def token(self, path):
        """GETs a page and returns the CSRF token of its first form."""
        r = self.get(path)
        check(r.status == 200, f"GET {path}: {r.describe()}")
        toks = form_tokens(r.body)
        check(toks, f"GET {path}: no hidden csrf input in {excerpt(r.body)}")
        return toks[0]

    def api_session(self):
        r = self.get("/api/session")
        check(r.status == 200, f"GET /api/session: {r.describe()}")
        return r.json()

    def signup(self, name, password, expect=303):
        tok = self.token("/signup")
        r = self.post("/signup", {"username": name, "password": password,
                                  "csrf": tok})
        if expect is not None:
            check(r.status == expect,
                  f"POST /signup {name!r}: expected {expect}, got {r.describe()}")
        return r

    def login(self, name, password, expect=303):
        tok = self.token("/login")
        r = self.post("/login", {"username": name, "password": password,
                                 "csrf": tok})
        if expect is not None:
            check(r.status == expect,
                  f"POST /login {name!r}: expected {expect}, got {r.describe()}")
        return r

    def logout(self, expect=303):
        tok = self.api_session()["csrf"]
        r = self.post("/logout", {"csrf": tok})
        if expect is not None:
            check(r.status == expect, f"POST /logout: {r.describe()}")
        return r


def new_name(prefix="it"):
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def signed_in_as(body, name):
    return f"Signed in as {name}" in body


def is_anonymous_page(body):
    return "Sign in" in body and "Signed in as" not in body


# --------------------------------------------------------------------------
# Redis: a small RESP2 client

class RedisError(Exception):
    pass


class Redis:
    """With a password: AUTH as `user` (an ACL user), or as the default
    user when no user is given."""

    def __init__(self, port, host="127.0.0.1", password=None, timeout=10.0,
                 user=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        if password:
            try:
                if user:
                    self.cmd("AUTH", user, password)
                else:
                    self.cmd("AUTH", password)
            except Exception:
                self.close()
                raise

    @property
    def addr(self):
        h, p = self.sock.getsockname()[:2]
        return f"{h}:{p}"

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def read(self):
        line = self.f.readline()
        if not line:
            raise RedisError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read() for _ in range(n)]
        raise RedisError(f"bad reply line {line!r}")

    def cmd(self, *args):
        self.send(*args)
        return self.read()

    def scan(self, match):
        keys, cursor = set(), b"0"
        while True:
            cursor, batch = self.cmd("SCAN", cursor, "MATCH", match,
                                     "COUNT", 1000)
            keys.update(k.decode() for k in batch)
            if cursor in (b"0", 0, "0"):
                return keys

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


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


def redis_commands_during(redis_port, action, password=None, timeout=10.0,
                          user=None):
    """Runs action() and returns (result, commands): every command Redis
    executed meanwhile, from MONITOR, minus our own. Markers sent on a
    second connection bracket the action, so nothing before or after it is
    counted. Commands a script ran carry client "lua". MONITOR needs a user
    that may run it (the stack's "admin")."""
    ctl = Redis(redis_port, password=password, timeout=timeout, user=user)
    mon = Redis(redis_port, password=password, timeout=timeout, user=user)
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
            if not started:
                continue
            m = MONITOR_LINE.match(text)
            if not m:
                continue
            client, rest = m.group(3), m.group(4)
            if client == ctl.addr:
                continue
            args = MONITOR_ARG.findall(rest)
            name = args[0].lower() if args else ""
            seen.append(Command(client, name, args[1:], text))
        return result, seen
    finally:
        ctl.close()
        mon.close()


def round_trips(commands):
    """Commands a client sent (not those a script ran inside Redis)."""
    return [c for c in commands if not c.from_script]


# --------------------------------------------------------------------------
# processes

def read_pids(path):
    try:
        with open(path) as f:
            return [int(x) for x in f.read().split() if x.strip().isdigit()]
    except FileNotFoundError:
        return []


def proc_state(pid):
    """'R', 'S', 'T', 'Z', ... or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(")") + 2:].split()[0]


def alive(pid):
    s = proc_state(pid)
    return s is not None and s not in ("Z", "X")


def wait_dead(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


def proc_environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        data = f.read()
    env = {}
    for item in data.split(b"\0"):
        if b"=" in item:
            k, _, v = item.partition(b"=")
            env[k.decode()] = v.decode("utf-8", "replace")
    return env


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_port(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


# --------------------------------------------------------------------------
# FastCGI: just enough of a client to drive one worker directly

FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS = 1, 3, 4
FCGI_STDIN, FCGI_STDOUT, FCGI_STDERR = 5, 6, 7
FCGI_RESPONDER = 1


def fcgi_record(rtype, content, req_id=1):
    return struct.pack("!BBHHBx", 1, rtype, req_id, len(content), 0) + content


def fcgi_pair(name, value):
    out = b""
    for s in (name, value):
        n = len(s)
        out += bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)
    return out + name + value


def fcgi_params(params):
    body = b"".join(fcgi_pair(k.encode(), v.encode())
                    for k, v in params.items())
    return fcgi_record(FCGI_PARAMS, body) + fcgi_record(FCGI_PARAMS, b"")


def fcgi_begin():
    return fcgi_record(FCGI_BEGIN_REQUEST,
                       struct.pack("!HB5x", FCGI_RESPONDER, 0))


def fcgi_read_response(sock):
    """Reads records until END_REQUEST. Returns (stdout bytes, app status);
    raises TestFailure when the connection closes first."""
    buf, out = b"", b""

    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise TestFailure(
                    f"FastCGI connection closed before END_REQUEST "
                    f"(stdout so far {excerpt(out)!r})")
            buf += chunk

    while True:
        need(8)
        _, rtype, _, clen, plen = struct.unpack("!BBHHBx", buf[:8])
        need(8 + clen + plen)
        content = buf[8:8 + clen]
        buf = buf[8 + clen + plen:]
        if rtype == FCGI_STDOUT:
            out += content
        elif rtype == FCGI_END_REQUEST:
            return out, struct.unpack("!I", content[:4])[0]


def fcgi_base_params(method, uri, port, extra=None):
    path, _, query = uri.partition("?")
    p = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "shoal-integration",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(port),
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "REQUEST_METHOD": method,
        "REQUEST_URI": uri,
        "DOCUMENT_URI": path,
        "SCRIPT_NAME": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": "",
        "CONTENT_LENGTH": "",
        "HTTP_HOST": f"127.0.0.1:{port}",
    }
    if extra:
        p.update(extra)
    return p
