"""
fcgi.py - a visitor that walks the example shop the way a browser would,
over the tests' FastCGI client (tests/harness/fcgi.py): anonymous pages, sign-up,
sign-in, cart adds by form and by the JSON API, the sessions page, ending
another session, a password change, sign-out. The hardening checks use it
to drive a worker directly, with no front in between (tests/hardening/slow).

Python 3 standard library only.
"""

import re
import urllib.parse

from procs import Failure  # first: it puts tests/ on sys.path for the harness
from harness import fcgi  # noqa: E402
from harness.web import cookie_is_expiry, parse_set_cookie  # noqa: E402

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
CSRF_JSON = re.compile(r'"csrf":"([^"]+)"')
SESSION_ID = re.compile(r'name="id" value="([^"]+)"')


class FcgiError(Failure):
    pass


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
            self.conn = fcgi.Connection(self.port, self.timeout, keep=True)
        r = self.conn.request(fcgi.params(method, uri, self.port, cookie, body, headers,
                                          {"HTTP_USER_AGENT": "hardening/1"}), body)
        self.requests += 1
        self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
        for line in r.set_cookies():
            k, v, attrs = parse_set_cookie(line)
            if v == "" or cookie_is_expiry(attrs):
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
            other.get("/account/sessions", want=(303,))	# ended: back to sign-in
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
