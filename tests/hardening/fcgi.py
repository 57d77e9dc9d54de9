"""
fcgi.py - a small FastCGI client (responder role) and a visitor that walks
the example shop the way a browser would: anonymous pages, sign-up,
sign-in, cart adds by form and by the JSON API, the sessions page, ending
another session, a password change, sign-out. The hardening checks use it
to drive a worker directly, with no front in between (tests/hardening/slow).

Python 3 standard library only.
"""

import re
import socket
import struct
import urllib.parse

from procs import Failure

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6
RESPONDER, KEEP_CONN = 1, 1
MAX_CONTENT = 65535
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
CSRF_JSON = re.compile(r'"csrf":"([^"]+)"')
SESSION_ID = re.compile(r'name="id" value="([^"]+)"')


class FcgiError(Failure):
    pass


def _record(rtype, content):
    pad = -len(content) % 8
    return (struct.pack("!BBHHBx", 1, rtype, 1, len(content), pad)
            + content + b"\0" * pad)


def _stream(rtype, data):
    """data as records of rtype, then the empty record that ends it."""
    return b"".join(_record(rtype, data[i:i + MAX_CONTENT])
                    for i in range(0, len(data), MAX_CONTENT)) + _record(rtype, b"")


def _length(n):
    return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)


def _params(p):
    pairs = b"".join(_length(len(k)) + _length(len(v)) + k + v
                     for k, v in ((k.encode(), v.encode()) for k, v in p.items()))
    return _stream(PARAMS, pairs)


class Response:
    def __init__(self, stdout):
        head, _, body = stdout.partition(b"\r\n\r\n")
        self.headers = []
        for line in head.decode("latin-1").split("\r\n"):
            n, colon, v = line.partition(":")
            if colon:
                self.headers.append((n.strip().lower(), v.strip()))
        st = [v for n, v in self.headers if n == "status"]
        self.status = int(st[0].split()[0]) if st else 200
        self.body = body.decode("utf-8", "replace")

    def cookies(self):
        """{name: value} of every Set-Cookie; an expired cookie maps to None."""
        out = {}
        for n, v in self.headers:
            if n != "set-cookie":
                continue
            first, _, attrs = v.partition(";")
            name, _, value = first.partition("=")
            gone = "max-age=0" in attrs.lower().replace(" ", "")
            out[name.strip()] = None if gone else value.strip()
        return out


class Connection:
    """One kept-alive connection to a worker, as nginx's fastcgi_keep_conn
    holds it."""

    def __init__(self, port, timeout):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def request(self, method, uri, cookie="", body=b"", headers=None):
        path, _, query = uri.partition("?")
        p = {
            "QUERY_STRING": query, "REQUEST_METHOD": method,
            "CONTENT_TYPE": "application/x-www-form-urlencoded" if body else "",
            "CONTENT_LENGTH": str(len(body)) if body else "",
            "SCRIPT_NAME": path, "REQUEST_URI": uri, "DOCUMENT_URI": path,
            "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1",
            "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000",
            "SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "80",
            "SERVER_NAME": "localhost", "HTTP_HOST": "localhost",
            "HTTP_USER_AGENT": "hardening/1",
        }
        if cookie:
            p["HTTP_COOKIE"] = cookie
        for k, v in (headers or {}).items():
            p["HTTP_" + k.upper().replace("-", "_")] = v
        self.sock.sendall(_record(BEGIN_REQUEST, struct.pack("!HB5x", RESPONDER, KEEP_CONN))
                          + _params(p) + _stream(STDIN, body))
        out = b""
        while True:
            self._fill(8)
            _, rtype, _, clen, plen = struct.unpack("!BBHHBx", self.buf[:8])
            self._fill(8 + clen + plen)
            content = self.buf[8:8 + clen]
            self.buf = self.buf[8 + clen + plen:]
            if rtype == STDOUT:
                out += content
            elif rtype == END_REQUEST:
                return Response(out)

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise FcgiError("connection closed before END_REQUEST")
            self.buf += chunk

    def close(self):
        self.sock.close()


class Visitor:
    """A browser with a cookie jar, on one kept-alive connection opened with
    its first request (a worker thread that accepts a connection waits for
    its first request, as nginx sends it at once). Each call is one request;
    every answer's status is counted in self.statuses."""

    def __init__(self, port, timeout=60.0):
        self.port = port
        self.timeout = timeout
        self.conn = None
        self.jar = {}
        self.statuses = {}
        self.requests = 0

    def close(self):
        if self.conn is not None:
            self.conn.close()

    def _do(self, method, uri, form=None, headers=None, want=(200,)):
        body = urllib.parse.urlencode(form).encode() if form is not None else b""
        cookie = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        if self.conn is None:
            self.conn = Connection(self.port, self.timeout)
        r = self.conn.request(method, uri, cookie, body, headers)
        self.requests += 1
        self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
        for k, v in r.cookies().items():
            if v is None:
                self.jar.pop(k, None)
            else:
                self.jar[k] = v
        if r.status not in want:
            raise FcgiError(f"{method} {uri}: status {r.status}, wanted {want}: "
                            f"{r.body[:200]!r}")
        return r

    def get(self, uri, want=(200,)):
        return self._do("GET", uri, want=want)

    def post(self, uri, form, want=(303,), headers=None):
        return self._do("POST", uri, form, headers, want)

    def token(self, uri):
        """The CSRF token of the form on page uri."""
        m = CSRF_FIELD.search(self.get(uri).body)
        if m is None:
            raise FcgiError(f"no CSRF token on {uri}")
        return m.group(1)

    def anonymous(self):
        self.get("/")
        self.get("/login")
        self.get("/nowhere", want=(404,))
        self.get("/healthz")
        self.get("/readyz")

    def signup(self, name, password):
        self.post("/signup", {"username": name, "password": password,
                              "csrf": self.token("/signup")})

    def login(self, name, password):
        self.post("/login", {"username": name, "password": password,
                             "csrf": self.token("/login")})

    def shop(self, adds):
        """Cart adds by form and by the API, the cart and the sessions page."""
        csrf = self.token("/cart")
        for i in range(adds):
            self.post("/cart/add", {"item": f"item{i % 5}", "qty": "1", "csrf": csrf})
        m = CSRF_JSON.search(self.get("/api/session").body)
        self.post("/api/cart/add", {"item": "api", "qty": "2"}, want=(200,),
                  headers={"X-CSRF-Token": m.group(1) if m else ""})
        self.get("/cart")
        self.get("/account/sessions")

    def revoke_others(self):
        """Ends one other session of the user from the sessions page."""
        page = self.get("/account/sessions").body
        ids = SESSION_ID.findall(page)
        m = CSRF_FIELD.search(page)
        if ids and m:
            self.post("/account/sessions/revoke", {"id": ids[0], "csrf": m.group(1)})

    def change_password(self, old, new):
        self.post("/account/password", {"current": old, "password": new,
                                        "csrf": self.token("/account/password")},
                  want=(200,))

    def logout(self):
        self.post("/logout", {"csrf": self.token("/cart")})


class Shopper:
    """A signed-in user and an anonymous visitor, each on a kept-alive
    connection of its own, going round the shop. One round is 16 requests:
    anonymous pages, the cart changed by form and by the API and put back
    as it was, the sessions page, /healthz and /readyz. Every relogin_every
    rounds a second device signs in and the user ends it from the sessions
    page, changes the password (the first time), signs out and in again:
    the password hashing (Argon2, 64 MiB) stays a small share of the load."""

    def __init__(self, port, name, relogin_every=100, timeout=120.0):
        self.port = port
        self.name = name
        self.password = "password-1"
        self.relogin_every = relogin_every
        self.timeout = timeout
        self.rounds = 0
        self.changed = False
        self.anon = Visitor(port, timeout)
        self.user = Visitor(port, timeout)
        self.user.signup(name, self.password)

    def requests(self):
        return self.user.requests + self.anon.requests

    def statuses(self):
        out = dict(self.anon.statuses)
        for k, v in self.user.statuses.items():
            out[k] = out.get(k, 0) + v
        return out

    def round(self):
        a, u = self.anon, self.user
        item = f"item{self.rounds % 5}"
        a.get("/")
        a.get("/signup")
        a.get("/api/session")
        a.get("/nowhere", want=(404,))
        u.get("/")
        csrf = u.token("/cart")
        u.post("/cart/add", {"item": item, "qty": "3", "csrf": csrf})
        u.post("/cart/add", {"item": "extra", "qty": "1", "csrf": csrf})
        m = CSRF_JSON.search(u.get("/api/session").body)
        u.post("/api/cart/add", {"item": "api", "qty": "1"}, want=(200,),
               headers={"X-CSRF-Token": m.group(1) if m else ""})
        for it in (item, "extra", "api"):
            u.post("/cart/remove", {"item": it, "csrf": csrf})
        u.get("/account/sessions")
        u.get("/healthz")
        u.get("/readyz")
        self.rounds += 1
        if self.rounds % self.relogin_every == 0:
            self.relogin()

    def relogin(self):
        other = Visitor(self.port, self.timeout)
        try:
            other.login(self.name, self.password)
            self.user.revoke_others()
            other.get("/cart", want=(303,))	# ended: back to sign-in
        finally:
            other.close()
        if not self.changed:
            self.user.change_password(self.password, "password-2")
            self.password = "password-2"
            self.changed = True
        self.user.logout()
        self.user.login(self.name, self.password)

    def close(self):
        self.anon.close()
        self.user.close()
