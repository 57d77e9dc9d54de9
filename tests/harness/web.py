"""
web.py - the HTTP client: one request on a fresh connection (fetch, or
attempt, which names a transport failure instead of raising), and a
browser that keeps cookies the way a browser does and fills in the CSRF
tokens of the shop's forms.
"""

import email.utils
import http.client
import json
import re
import socket
import time
import urllib.parse

from .core import TestFailure, check, excerpt


class Headers:
    """What both kinds of answer (this module's Response and fcgi.Response)
    offer on top of their own get_all(name)."""

    def header(self, name):
        vals = self.get_all(name)
        return vals[0] if vals else None

    def set_cookies(self):
        return self.get_all("Set-Cookie")

    def cookies(self):
        """{name: value} of the Set-Cookie lines."""
        return {n: v for n, v, _ in map(parse_set_cookie, self.set_cookies())}

    @property
    def served_by(self):
        return self.header("X-Served-By")


class Response(Headers):
    def __init__(self, status, reason, headers, body, elapsed):
        self.status = status
        self.reason = reason
        self.headers = headers          # http.client.HTTPMessage
        self.raw = body                 # bytes
        self.body = body.decode("utf-8", "replace")
        self.elapsed = elapsed

    def get_all(self, name):
        return self.headers.get_all(name) or []

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


def fetch(port, method, path, headers=None, body=None, timeout=15.0,
          host="127.0.0.1"):
    """One request on a fresh connection; raises on a transport error."""
    if isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    t0 = time.monotonic()
    try:
        try:
            conn.request(method, path, body=body, headers=headers or {})
        except (BrokenPipeError, ConnectionResetError):
            # The server may answer (413) and close before reading a large
            # body; the answer is still there to read.
            pass
        r = conn.getresponse()
        data = r.read()
    finally:
        conn.close()
    return Response(r.status, r.reason, r.headers, data, time.monotonic() - t0)


def attempt(port, method, path, headers=None, body=None, timeout=15.0):
    """fetch(), but a transport failure comes back as a word instead of an
    exception: 'refused', 'reset', 'closed', 'timeout' or 'error'."""
    try:
        return fetch(port, method, path, headers, body, timeout)
    except ConnectionRefusedError:
        return "refused"
    except ConnectionResetError:
        return "reset"
    except http.client.RemoteDisconnected:
        return "closed"
    except (socket.timeout, TimeoutError):
        return "timeout"
    except (OSError, http.client.HTTPException):
        return "error"


def parse_set_cookie(line):
    """Returns (name, value, attrs) where attrs maps lowercased names to
    values (True for flags)."""
    parts = [p.strip() for p in line.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        if p:
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


def signed_in_as(body, name):
    return f"Signed in as {name}" in body


def is_anonymous_page(body):
    return "Sign in" in body and "Signed in as" not in body


def home_signed_in(b, name, what="the session"):
    """GET / with b's cookies must be the page of the signed-in user name."""
    r = b.get("/")
    check(r.status == 200 and signed_in_as(r.body, name),
          f"GET / with {what}: expected 200 'Signed in as {name}', got {r.describe()}")
    return r


def home_anonymous(b, what):
    """GET / with b's cookies must be the anonymous page."""
    r = b.get("/")
    check(r.status == 200 and is_anonymous_page(r.body),
          f"GET / with {what}: expected 200 anonymous page with 'Sign in', "
          f"got {r.describe()}")
    return r


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
        b = type(self).__new__(type(self))
        b.__dict__.update(self.__dict__)
        b.jar, b.attrs, b.history = dict(self.jar), {}, []
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
        hdrs.update(headers or {})
        resp = fetch(self.port, method, path, hdrs, body, self.timeout, self.host)
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
        return self.request("POST", path, form=form if form is not None else {}, **kw)

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

    def signup(self, name, password, expect=303, remember=False):
        form = {"username": name, "password": password}
        if remember:
            form["remember"] = "1"
        return self._form("/signup", form, expect, f"POST /signup {name!r}")

    def login(self, name, password, expect=303, remember=False):
        form = {"username": name, "password": password}
        if remember:
            form["remember"] = "1"
        return self._form("/login", form, expect, f"POST /login {name!r}")

    def _form(self, path, form, expect, what):
        tok = self.token(path)
        r = self.post(path, dict(form, csrf=tok))
        if expect is not None:
            check(r.status == expect, f"{what}: expected {expect}, got {r.describe()}")
        return r

    def logout(self, expect=303):
        tok = self.api_session()["csrf"]
        r = self.post("/logout", {"csrf": tok})
        if expect is not None:
            check(r.status == expect, f"POST /logout: {r.describe()}")
        return r
