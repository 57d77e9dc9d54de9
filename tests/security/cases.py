"""
cases.py - the security tests, in the order they run: response headers and
cookie attributes on every route, key rotation and keyring reload, seeing
and ending sessions (page and operator CLI), password change, login
throttling, idle and absolute expiry, and, last, what Redis and the logs
hold.

The stack gets short session and throttle times (STACK_ENV, multiplied by
the time scale, 3 for a sanitizer build) so that expiry and throttle
windows can be waited out. Every browser of this suite records the cookies,
CSRF tokens and passwords it saw or sent; the last tests look for them in
Redis and in every log of the run.
"""

import base64
import calendar
import glob
import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid

from harness import resp
from harness.core import (REPO, TestFailure, check, check_eq, excerpt, new_name,
                          check_logs_are_json, scale)
from harness.ports import port_free
from harness.runner import Tests, time_limit
from harness.sid import B64URL, b64u, decode_cookie, decode_cookie_kind, record_key, session_hash
from harness.stack import OwnWorker
from harness.threads import on_every_thread
from harness.web import (Browser, cookie_is_expiry, form_tokens, home_anonymous,
                         home_signed_in, is_anonymous_page, parse_set_cookie, signed_in_as)

SCALE = scale("SECURITY_SCALE", "INTEGRATION_SCALE")
IDLE = max(3, int(round(3 * SCALE)))        # SHOAL_SESSION_IDLE, seconds
MAX = max(IDLE + 2, int(round(8 * SCALE)))  # SHOAL_SESSION_MAX, seconds
# Long enough for six sign-ins (six Argon2id hashes) on a busy machine: a
# throttle test whose attempts outlast the window would see it end.
WINDOW = max(10, int(round(10 * SCALE)))    # SHOAL_LOGIN_WINDOW, seconds
MAX_FAILS = 5                               # SHOAL_LOGIN_MAX_FAILS

STACK_ENV = {
    "SHOAL_SESSION_IDLE": str(IDLE),
    "SHOAL_SESSION_MAX": str(MAX),
    "SHOAL_LOGIN_WINDOW": str(WINDOW),
    "SHOAL_LOGIN_MAX_FAILS": str(MAX_FAILS),
}

TESTS = Tests()
case, after_down = TESTS.case, TESTS.after_down

# Tests that apply to one state tier only (Stack.state, SHOAL_STATE): the
# others run on both.
ONLY_ON = {
    "sentinel": "Sentinel only: they start workers with SHOAL_SENTINELS, which "
                "a worker refuses together with the cluster's SHOAL_REDIS_CLUSTER",
    "cluster": "Redis Cluster only: a slot map naming nodes outside SHOAL_REDIS_ALLOWED",
}


def only_on(state):
    """Marks a test of the state tier `state` only (below @case)."""
    def mark(fn):
        fn.only_on = state
        return fn
    return mark


def tests_for(state):
    """The tests for a stack whose state tier is `state` ("sentinel" or
    "cluster"): (a Tests, {why: [names of the tests left out]})."""
    out, left = Tests(), {}
    for fn in TESTS.cases:
        want = getattr(fn, "only_on", state)
        if want == state:
            out.case(fn)
        else:
            left.setdefault(ONLY_ON[want], []).append(fn.__name__)
    out.after = list(TESTS.after)
    return out, left


WHEN = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$")


# --------------------------------------------------------------------------
# what the suite saw: every secret, to look for in Redis and the logs

SEEN = {
    "session cookie": set(),    # values of sid / __Host-sid
    "csrf cookie": set(),       # values of sid_csrf / __Host-sid_csrf
    "csrf token": set(),        # form fields, JSON, X-CSRF-Token
    "password": set(),          # every password the suite sent
    "key": set(),               # keyring key material the suite made
}


def note_sent(form, headers):
    for k, v in (form or {}).items():
        if k in ("password", "current") and v:
            SEEN["password"].add(str(v))
        elif k == "csrf" and v:
            SEEN["csrf token"].add(str(v))
    for k, v in (headers or {}).items():
        if k.lower() == "x-csrf-token" and v:
            SEEN["csrf token"].add(v)


def note_set_cookie(line):
    name, value, _ = parse_set_cookie(line)
    if not value:
        return
    if name.endswith("_csrf"):
        SEEN["csrf cookie"].add(value)
    else:
        SEEN["session cookie"].add(value)


def note(r):
    """Writes down the cookies and CSRF tokens of a response (HTTP or
    FastCGI)."""
    for line in r.set_cookies():
        note_set_cookie(line)
    for t in form_tokens(r.body):
        if t:
            SEEN["csrf token"].add(t)
    if "json" in (r.header("Content-Type") or ""):
        try:
            j = json.loads(r.body)
        except ValueError:
            return r
        if isinstance(j, dict) and isinstance(j.get("csrf"), str) and j["csrf"]:
            SEEN["csrf token"].add(j["csrf"])
    return r


class SBrowser(Browser):
    """A Browser that sends a User-Agent of its own and writes down every
    cookie, token and password that passes through it."""

    def __init__(self, port, timeout=15.0, ua=None):
        super().__init__(port, timeout)
        self.ua = ua or f"shoal-security-it/{uuid.uuid4().hex[:8]}"

    def request(self, method, path, body=None, form=None, headers=None, **kw):
        hdrs = {"User-Agent": self.ua}
        hdrs.update(headers or {})
        note_sent(form, hdrs)
        return note(super().request(method, path, body=body, form=form, headers=hdrs, **kw))


def browser(ctx, ua=None):
    return SBrowser(ctx.http_port, ctx.timeout, ua)


def with_cookie(ctx, value, ua=None):
    """A fresh browser holding only the session cookie value."""
    b = browser(ctx, ua)
    b.jar = {ctx.cookie: value}
    return b


def new_password():
    return "pw-" + uuid.uuid4().hex


def signed_up(ctx, prefix, ua=None, password=None):
    """A fresh user, signed up and signed in: (browser, name, password)."""
    b = browser(ctx, ua)
    name, pw = new_name(prefix), password or new_password()
    b.signup(name, pw)
    check(ctx.cookie in b.jar, f"signup set no {ctx.cookie} cookie: {b.history}")
    return b, name, pw


def signed_in(ctx, name, pw, ua=None):
    b = browser(ctx, ua)
    b.login(name, pw)
    check(ctx.cookie in b.jar, f"login set no {ctx.cookie} cookie: {b.history}")
    return b


def anonymous_costs_redis_nothing(ctx, value, what):
    """GET / with only this session cookie: the anonymous page, and not a
    single Redis command."""
    b = with_cookie(ctx, value)
    r, cmds = resp.commands_during(ctx.redis, lambda: b.get("/"))
    check(r.status == 200 and is_anonymous_page(r.body),
          f"GET / with {what}: expected the anonymous page, got {r.describe()}")
    check_eq(cmds, [], f"Redis commands for GET / with {what}")


def api_add(b, item, qty, token):
    return b.post("/api/cart/add", {"item": item, "qty": str(qty)},
                  headers={"X-CSRF-Token": token})


# --------------------------------------------------------------------------
# cookies, IDs and the Redis keys named after them

def index_keys(ctx, name):
    return (f"{ctx.prefix}u:{{{name}}}:sessions",
            f"{ctx.prefix}u:{{{name}}}:meta")


def redis_do(ctx, *args):
    red = ctx.redis()
    try:
        return red.cmd(*args)
    finally:
        red.close()


def index_state(ctx, name):
    """(sorted-set members, meta hash fields) of a user's session index."""
    zkey, hkey = index_keys(ctx, name)
    red = ctx.redis()
    try:
        members = sorted(m.decode() for m in red.cmd("ZRANGE", zkey, 0, -1))
        fields = sorted(f.decode() for f in red.cmd("HKEYS", hkey))
    finally:
        red.close()
    return members, fields


def check_index(ctx, name, want, what):
    members, fields = index_state(ctx, name)
    check_eq(members, sorted(want), f"{what}: members of {index_keys(ctx, name)[0]}")
    check_eq(fields, sorted(want), f"{what}: fields of {index_keys(ctx, name)[1]}")


def record_exists(ctx, value):
    return redis_do(ctx, "EXISTS", record_key(ctx.prefix, session_hash(value))) == 1


# --------------------------------------------------------------------------
# the worker environment, workers of our own, the operator CLI

def static_base(ctx):
    return ctx.worker_env().get("SHOAL_STATIC_BASE", "")


def cli(ctx, *args, expect=0, stdin=None):
    p = subprocess.run([ctx.bin] + list(args), env=ctx.worker_env(),
                       capture_output=True, timeout=30 * ctx.scale,
                       input=stdin.encode() if stdin is not None else b"")
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    if expect is not None:
        check(p.returncode == expect,
              f"shoal {' '.join(args)}: exit {p.returncode}, expected {expect}; "
              f"stdout {excerpt(out)!r} stderr {excerpt(err)!r}")
    return p.returncode, out, err


class NotingWorker(OwnWorker):
    """A worker of our own (`shoal --listen`) behind a TLS-terminating
    proxy (HTTPS=on), whose requests and answers are written down."""

    def request(self, method, uri, cookies=None, form=None, headers=None,
                remote_addr="127.0.0.1"):
        note_sent(form, headers)
        return note(super().request(method, uri, cookies=cookies, form=form, headers=headers,
                                    extra={"REMOTE_ADDR": remote_addr, "HTTPS": "on",
                                           "REQUEST_SCHEME": "https"}))


def cookies_of(r):
    """{name: (value, attrs)} of the Set-Cookie lines of a response."""
    out = {}
    for line in r.set_cookies():
        name, value, attrs = parse_set_cookie(line)
        out[name] = (value, attrs)
    return out


# --------------------------------------------------------------------------
# the keyring

def keyring_path(ctx):
    return os.path.join(ctx.run_dir, "keyring")


def read_keyring(ctx):
    """[(id, key)] in file order; the first signs."""
    out = []
    with open(keyring_path(ctx)) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            kid, key = line.split(None, 1)
            out.append((int(kid), key.strip()))
    check(out, "the keyring is empty")
    return out


def write_keyring(ctx, keys, mode=0o600):
    path = keyring_path(ctx)
    tmp = path + ".it-tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(f"{kid} {key}\n" for kid, key in keys))
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def keygen(ctx, keys):
    """A new keyring entry from `shoal keygen --id N`, N not in use."""
    used = {kid for kid, _ in keys}
    kid = next(k for k in list(range(200, 256)) + list(range(1, 200))
               if k not in used)
    _, out, _ = cli(ctx, "keygen", "--id", str(kid))
    parts = out.split()
    check(len(parts) == 2 and parts[0] == str(kid) and len(parts[1]) == 43 and
          B64URL.match(parts[1]),
          f"shoal keygen --id {kid} printed {out!r}, expected '{kid} <43 "
          f"base64url characters>'")
    SEEN["key"].add(parts[1])
    return kid, parts[1]


def worker_pids(ctx):
    pids = ctx.worker_pids()
    check(pids, "no worker pids in server-K.pid")
    return pids


def sighup_workers(ctx, expect):
    """Sends SIGHUP to every worker and waits until each one logged its
    keyring line; returns {pid: msg}. expect: the message every worker must
    log, or a regex."""
    sizes = ctx.log_sizes()
    pids = worker_pids(ctx)
    for pid in pids:
        os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + 10 * ctx.scale
    got = {}
    while True:
        for j in ctx.log_events_since(sizes):
            msg = str(j.get("msg", ""))
            if msg.startswith("SIGHUP"):
                pid = str(j.get("worker", "")).rpartition(":")[2]
                if pid.isdigit():
                    got[int(pid)] = msg
        if all(p in got for p in pids):
            break
        check(time.monotonic() < deadline,
              f"after SIGHUP, workers {[p for p in pids if p not in got]} "
              f"logged no keyring line within 10 s (got {got})")
        time.sleep(0.05)
    bad = {p: m for p, m in got.items() if p in pids and not re.fullmatch(expect, m)}
    check(not bad, f"after SIGHUP, expected every worker to log {expect!r}; "
          f"these logged otherwise: {bad}")
    return got


def reload_keyring(ctx, keys):
    write_keyring(ctx, keys)
    sighup_workers(ctx, re.escape(
        f"SIGHUP: keyring reloaded, {len(keys)} keys, signing with key {keys[0][0]}"))


# --------------------------------------------------------------------------
# the sessions page

def session_rows(html):
    """[{current, agent_html, created, last_seen, inputs}] of /account/sessions."""
    m = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
    check(m, f"/account/sessions has no <tbody>: {excerpt(html, 600)}")
    rows = []
    for tr in re.findall(r"<tr\b.*?</tr>", m.group(1), re.S):
        cells = re.findall(r"<td>(.*?)</td>", tr, re.S)
        inputs = {}
        for tag in re.findall(r"<input\b[^>]*>", tr):
            a = dict(re.findall(r'([a-zA-Z_-]+)\s*=\s*"([^"]*)"', tag))
            if "name" in a:
                inputs[a["name"]] = a.get("value", "")
        rows.append({"current": "(this one)" in tr, "html": tr,
                     "cells": cells, "inputs": inputs,
                     "form": 'action="/account/sessions/revoke"' in tr})
    return rows


def sessions_page(b):
    r = b.get("/account/sessions")
    check(r.status == 200, f"GET /account/sessions: expected 200, got {r.describe()}")
    return r, session_rows(r.body)


def revoke_all_form(html):
    m = re.search(r'<form method="post" action="/account/sessions/revoke">'
                  r'(.*?)</form>', html, re.S)
    if not m or 'name="all"' not in m.group(1):
        return None
    return {a["name"]: a.get("value", "") for a in
            (dict(re.findall(r'([a-zA-Z_-]+)\s*=\s*"([^"]*)"', t))
             for t in re.findall(r"<input\b[^>]*>", m.group(1))) if "name" in a}


# ==========================================================================
# 6. headers and cookie attributes on every route

def route_table():
    """(method, path) of every route in app/example/routes.c."""
    with open(os.path.join(REPO, "app", "example", "routes.c")) as f:
        text = f.read()
    routes = re.findall(r'\{\s*SHOAL_(GET|POST),\s*"([^"]+)"', text)
    check(len(routes) >= 10, f"found only {len(routes)} routes in routes.c")
    return routes


def sweep_every_route(ctx):
    """Sends every route of the app, GET and POST, anonymous and signed in,
    with a valid CSRF token and without, plus /healthz, /readyz, a 404, 405s,
    a 400 and a forged cookie. Returns [(label, response)]."""
    out = []
    routes = route_table()

    def rec(label, r):
        out.append((label, r))
        return r

    def post_form(path, name, pw):
        return {
            "/login": {"username": name, "password": pw},
            "/signup": {"username": new_name("sw"), "password": new_password()},
            "/cart/add": {"item": "sweep", "qty": "1"},
            "/cart/remove": {"item": "sweep"},
            "/api/cart/add": {"item": "sweep", "qty": "1"},
            "/account/sessions/revoke": {"id": "A" * 22},
            "/account/password": {"current": "not-the-password",
                                  "password": new_password()},
        }.get(path, {})

    # Someone to sign in as.
    owner, name, pw = signed_up(ctx, "sweep")

    # Anonymous.
    for m, p in routes:
        if m == "GET":
            rec(f"anonymous GET {p}", browser(ctx).get(p))
    anon = browser(ctx)
    tok = anon.token("/login")
    for m, p in routes:
        if m != "POST":
            continue
        form = post_form(p, name, "wrong-" + new_password())
        rec(f"anonymous POST {p} without token", anon.copy().post(p, form))
        who = anon.copy()
        rec(f"anonymous POST {p}", who.post(p, dict(form, csrf=tok)))

    # Signed in. The routes that end or replace the session go last.
    s = signed_in(ctx, name, pw)
    for m, p in routes:
        if m == "GET":
            rec(f"signed-in GET {p}", s.get(p))
    last = ["/account/password", "/signup", "/login", "/logout"]
    posts = [p for m, p in routes if m == "POST"]
    posts = [p for p in posts if p not in last] + [p for p in last if p in posts]
    for p in posts:
        form = post_form(p, name, pw)
        rec(f"signed-in POST {p} without token", s.copy().post(p, form))
        tok = s.api_session()["csrf"]
        rec(f"signed-in POST {p}", s.post(p, dict(form, csrf=tok)))
        if p == "/signup":      # now someone else: sign in as the owner again
            s = signed_in(ctx, name, pw)

    # The tier's own answers.
    b = browser(ctx)
    rec("GET /healthz", b.get("/healthz"))
    rec("GET /readyz", b.get("/readyz"))
    rec("GET of an unknown path (404)", b.get("/no-such-page"))
    rec("GET of a POST-only route (405)", b.get("/logout"))
    rec("POST to a GET-only route (405)", b.post("/"))
    rec("PUT (405)", b.request("PUT", "/"))
    rec("DELETE (405)", b.request("DELETE", "/cart"))
    rec("malformed query (400)", b.get("/?a=%zz"))
    forged = b64u(os.urandom(65))
    rec("GET / with a forged cookie", with_cookie(ctx, forged).get("/"))
    rec("signed-in GET / as the owner", owner.get("/"))

    # The sweep did what it claims: both states, every route.
    status = {label: r.status for label, r in out}
    check_eq(status.get("anonymous GET /account/sessions"), 303,
             "anonymous GET /account/sessions status (sweep sanity)")
    check_eq(status.get("signed-in GET /account/sessions"), 200,
             "signed-in GET /account/sessions status (sweep sanity)")
    check_eq(status.get("signed-in POST /api/cart/add"), 200,
             "signed-in POST /api/cart/add status (sweep sanity)")
    for m, p in routes:
        for who in ("anonymous", "signed-in"):
            check(f"{who} {m} {p}" in status, f"the sweep missed {who} {m} {p}")
    check_eq(status.get("GET of an unknown path (404)"), 404, "404 status")
    for label in ("GET of a POST-only route (405)", "POST to a GET-only route (405)",
                  "PUT (405)", "DELETE (405)"):
        check_eq(status.get(label), 405, f"{label} status")
    return out


def csp_directives(value):
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


SAFE_REFERRER = {"no-referrer", "same-origin", "strict-origin",
                 "strict-origin-when-cross-origin"}


def header_problems(r, base):
    """What is wrong with the security headers of one response."""
    bad = []
    csp = r.get_all("Content-Security-Policy")
    if len(csp) != 1:
        bad.append(f"{len(csp)} Content-Security-Policy headers")
    else:
        d = csp_directives(csp[0])
        if d.get("default-src") != ["'none'"]:
            bad.append(f"default-src is {d.get('default-src')}, not 'none'")
        if d.get("frame-ancestors") != ["'none'"]:
            bad.append(f"frame-ancestors is {d.get('frame-ancestors')}, not 'none'")
        for k in ("style-src", "img-src"):
            if d.get(k) != [base]:
                bad.append(f"{k} is {d.get(k)}, not only the static base {base!r}")
        if "script-src" in d and d["script-src"] != ["'none'"]:
            bad.append(f"script-src allows {d['script-src']}")
        for k, srcs in d.items():
            for s in srcs:
                if s.lower() in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:",
                                 "http:", "https:"):
                    bad.append(f"{k} allows {s}")
    xcto = r.get_all("X-Content-Type-Options")
    if xcto != ["nosniff"]:
        bad.append(f"X-Content-Type-Options {xcto}")
    rp = r.get_all("Referrer-Policy")
    if len(rp) != 1 or rp[0].strip().lower() not in SAFE_REFERRER:
        bad.append(f"Referrer-Policy {rp}")
    cc = r.get_all("Cache-Control")
    if not any("no-store" in [x.strip().lower() for x in v.split(",")] for v in cc):
        bad.append(f"Cache-Control {cc} lacks no-store")
    return bad


@case
def every_route_sends_strict_csp_nosniff_referrer_policy_and_no_store(ctx):
    base = static_base(ctx)
    check(base.startswith("http://127.0.0.1:"),
          f"SHOAL_STATIC_BASE in worker.env is {base!r}")
    problems = []
    responses = sweep_every_route(ctx)
    for label, r in responses:
        if not r.served_by:
            problems.append(f"{label}: {r.status} did not come from a worker")
        for p in header_problems(r, base):
            problems.append(f"{label} ({r.status}): {p}")
    check(not problems, f"{len(problems)} header problems in {len(responses)} "
          f"responses: " + "; ".join(problems[:12]))


def cookie_problems(line, ctx, secure):
    """What is wrong with one Set-Cookie line. Every cookie: Path=/, no
    Domain, HttpOnly, SameSite=Lax (and Secure with SHOAL_COOKIE_SECURE=1).
    Lifetimes: a signed-in session's cookie has no Max-Age (it ends with the
    browser), a "remember me" session's and a guest's their absolute
    lifetime; the CSRF nonce and flash cookies a number of seconds; a
    clearing cookie Max-Age=0."""
    name, value, attrs = parse_set_cookie(line)
    prefix = "__Host-" if secure else ""
    bad = []
    if name not in (prefix + ctx.cookie, prefix + ctx.csrf_cookie,
                    prefix + ctx.flash_cookie):
        bad.append(f"unexpected cookie name {name!r}")
    if attrs.get("path") != "/":
        bad.append(f"Path={attrs.get('path')!r}, not /")
    if "domain" in attrs:
        bad.append(f"has Domain={attrs['domain']!r}")
    if attrs.get("httponly") is not True:
        bad.append("not HttpOnly")
    if str(attrs.get("samesite", "")).lower() != "lax":
        bad.append(f"SameSite={attrs.get('samesite')!r}, not Lax")
    ma = attrs.get("max-age")
    if name == prefix + ctx.cookie and value:
        kind = decode_cookie_kind(value)[0]
        want = {"user": None, "guest": str(ctx.env_int("SHOAL_GUEST_MAX", 604800)),
                "remembered": str(ctx.env_int("SHOAL_REMEMBER_MAX", 7776000))}[kind]
        if ma != want:
            bad.append(f"{kind} session cookie Max-Age={ma!r}, expected {want!r}")
    elif ma is None or not re.fullmatch(r"\d+", str(ma)):
        bad.append(f"Max-Age={ma!r}, not a number of seconds")
    elif not value and int(ma) != 0:
        bad.append(f"an empty (clearing) cookie with Max-Age={ma}")
    elif name == prefix + ctx.flash_cookie and int(ma) > 60:
        bad.append(f"flash cookie Max-Age={ma}, more than a minute")
    if secure and attrs.get("secure") is not True:
        bad.append("not Secure")
    return [f"{name}: {b}" for b in bad]


@case
def every_cookie_on_every_route_is_httponly_samesite_lax_path_root_with_its_lifetime(ctx):
    problems, kinds = [], set()
    responses = sweep_every_route(ctx)
    for label, r in responses:
        for line in r.set_cookies():
            name, value, _ = parse_set_cookie(line)
            kinds.add((name, bool(value)))
            for p in cookie_problems(line, ctx, secure=False):
                problems.append(f"{label}: {p} in {line!r}")
    for want in ((ctx.cookie, True), (ctx.cookie, False), (ctx.csrf_cookie, True)):
        check(want in kinds, f"the sweep never saw a {'set' if want[1] else 'cleared'} "
              f"{want[0]} cookie; saw {sorted(kinds)}")
    check(not problems, f"{len(problems)} cookie problems: " + "; ".join(problems[:12]))


@case
def secure_setting_names_cookies_host_prefixed_and_marks_them_secure(ctx):
    w = NotingWorker(ctx, "own-secure-worker", {"SHOAL_COOKIE_SECURE": "1"})
    sid, csrf = "__Host-" + ctx.cookie, "__Host-" + ctx.csrf_cookie
    base = static_base(ctx)
    try:
        problems = []

        def look(label, r):
            for p in header_problems(r, base):
                problems.append(f"{label}: {p}")
            for line in r.set_cookies():
                for p in cookie_problems(line, ctx, secure=True):
                    problems.append(f"{label}: {p} in {line!r}")

        r = w.request("GET", "/login")
        look("GET /login", r)
        check_eq(r.status, 200, "GET /login on the secure worker")
        c = cookies_of(r)
        check(csrf in c and c[csrf][0], f"GET /login set no {csrf} cookie: "
              f"{r.set_cookies()}")
        check(ctx.csrf_cookie not in c, f"GET /login also set an unprefixed "
              f"{ctx.csrf_cookie}: {r.set_cookies()}")
        nonce, tok = c[csrf][0], form_tokens(r.body)[0]

        name, pw = new_name("sec"), new_password()
        r = w.request("POST", "/signup", cookies={csrf: nonce},
                      form={"username": name, "password": pw, "csrf": tok})
        look("POST /signup", r)
        check(r.status == 303, f"POST /signup on the secure worker: {r.describe()}")
        c = cookies_of(r)
        check(sid in c and len(c[sid][0]) == 87,
              f"POST /signup set no {sid} cookie: {r.set_cookies()}")
        check(ctx.cookie not in c, f"POST /signup also set an unprefixed "
              f"{ctx.cookie}: {r.set_cookies()}")
        value = c[sid][0]

        r = w.request("GET", "/", cookies={sid: value})
        look("signed-in GET /", r)
        check(r.status == 200 and signed_in_as(r.body, name),
              f"GET / with {sid}: {r.describe()}")
        # The unprefixed name is not the session cookie here: a cookie a
        # sibling site or plain HTTP could plant must not sign anyone in.
        r = w.request("GET", "/", cookies={ctx.cookie: value})
        check(r.status == 200 and is_anonymous_page(r.body),
              f"GET / with the cookie under the unprefixed name {ctx.cookie}: "
              f"expected anonymous, got {r.describe()}")

        r = w.request("GET", "/", cookies={sid: b64u(os.urandom(65))})
        look("GET / with a forged cookie", r)
        cleared = cookies_of(r).get(sid)
        check(cleared is not None and cookie_is_expiry(cleared[1]),
              f"a forged {sid} was not cleared: {r.set_cookies()}")

        r = w.request("GET", "/api/session", cookies={sid: value})
        stok = json.loads(r.body)["csrf"]
        r = w.request("POST", "/logout", cookies={sid: value}, form={"csrf": stok})
        look("POST /logout", r)
        check(r.status == 303, f"POST /logout on the secure worker: {r.describe()}")
        cleared = cookies_of(r).get(sid)
        check(cleared is not None and cookie_is_expiry(cleared[1]),
              f"logout did not clear {sid}: {r.set_cookies()}")
        check(not problems, f"{len(problems)} problems with SHOAL_COOKIE_SECURE=1: "
              + "; ".join(problems[:12]))
    finally:
        w.stop()


# ==========================================================================
# 1. key rotation

@case
def keyring_reload_on_sighup_drops_no_request(ctx):
    b, name, _ = signed_up(ctx, "hup")
    value = b.jar[ctx.cookie]
    keys = read_keyring(ctx)
    stop = threading.Event()
    results, lock = [], threading.Lock()

    def hammer():
        c = with_cookie(ctx, value)
        while not stop.is_set():
            try:
                r = c.get("/", keep_cookies=False)
                res = (r.status, signed_in_as(r.body, name))
            except Exception as e:      # counted as a dropped request below
                res = (repr(e), False)
            with lock:
                results.append(res)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.2)
        extra = keygen(ctx, keys)
        reload_keyring(ctx, [extra] + keys)     # a new key in front
        reload_keyring(ctx, [extra] + keys)     # the same file again
        reload_keyring(ctx, keys)               # and back
        time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(ctx.timeout * 2)
    bad = [r for r in results if r != (200, True)]
    check(len(results) >= 20, f"only {len(results)} requests ran during the reloads")
    check(not bad, f"{len(bad)} of {len(results)} requests during three keyring "
          f"reloads were not the signed-in page: {bad[:5]}")


@case
def keyring_readable_by_others_is_refused_on_sighup_and_old_keys_stay(ctx):
    keys = read_keyring(ctx)
    extra = keygen(ctx, keys)
    try:
        write_keyring(ctx, [extra] + keys, mode=0o644)
        sighup_workers(ctx, r"SIGHUP: keyring not reloaded, keeping the old one: .*")
        b, name, _ = signed_up(ctx, "perm")
        check_eq(decode_cookie(b.jar[ctx.cookie])[0], keys[0][0],
                 "key id of a session made after a refused reload")
    finally:
        reload_keyring(ctx, keys)


@case
def session_under_old_key_stays_signed_in_after_new_key_is_added_in_front(ctx):
    keys = read_keyring(ctx)
    a_id = keys[0][0]
    b, name, _ = signed_up(ctx, "rota")
    value = b.jar[ctx.cookie]
    check_eq(decode_cookie(value)[0], a_id, "key id in a cookie made under key A")
    new = keygen(ctx, keys)
    reload_keyring(ctx, [new] + keys)
    seen = set()
    for i in range(3 * ctx.servers):
        r = home_signed_in(with_cookie(ctx, value), name,
                           f"a key-A cookie after key B was added in front (request {i})")
        seen.add(r.served_by)
    check(len(seen) >= 2, f"the key-A cookie reached only {seen}")
    # New sessions are signed by the new first key.
    b2, _, _ = signed_up(ctx, "rotb")
    check_eq(decode_cookie(b2.jar[ctx.cookie])[0], new[0],
             "key id in a cookie made after key B was added in front")


@case
def write_to_session_of_old_key_resigns_cookie_with_new_first_key_same_session(ctx):
    keys = read_keyring(ctx)
    b, name, _ = signed_up(ctx, "resign")
    old = b.jar[ctx.cookie]
    old_kid, old_id, _ = decode_cookie(old)
    check_eq(old_kid, keys[0][0], "key id of the new session")
    tok = b.api_session()["csrf"]
    check_eq(api_add(b, "before", 1, tok).status, 200, "API add before the rotation")
    h = session_hash(old)
    check(redis_do(ctx, "EXISTS", record_key(ctx.prefix, h)) == 1,
          f"no record {record_key(ctx.prefix, h)} for the session")
    before_keys = redis_do_scan(ctx, f"{ctx.prefix}s:*")

    new = keygen(ctx, keys)
    reload_keyring(ctx, [new] + keys)
    tok = b.api_session()["csrf"]
    r = api_add(b, "after", 2, tok)
    check(r.status == 200, f"API add after the rotation: {r.describe()}")
    lines = [l for l in r.set_cookies() if l.startswith(ctx.cookie + "=")]
    check(lines, f"a write to a session signed by key {old_kid} (no longer first) "
          f"carried no Set-Cookie for {ctx.cookie}: {r.set_cookies()}")
    fresh = parse_set_cookie(lines[-1])[1]
    kid, sid_bytes, _ = decode_cookie(fresh)
    check_eq(kid, new[0], "key id of the re-signed cookie")
    check(sid_bytes == old_id, "the re-signed cookie carries another session ID "
          "(expected the same session)")
    check_eq(b.jar.get(ctx.cookie), fresh, "cookie in the jar after the write")
    j = b.api_session()
    check_eq((j["user"], j["cart"]), (name, {"before": 1, "after": 2}),
             "user and cart with the re-signed cookie")
    check_eq(redis_do_scan(ctx, f"{ctx.prefix}s:*") - before_keys, set(),
             "session records created by the re-signing write")
    check(redis_do(ctx, "EXISTS", record_key(ctx.prefix, h)) == 1,
          "the session's record is gone after re-signing")
    check_index(ctx, name, [h], "index after re-signing")
    # Key A is still in the ring: the old cookie still works.
    home_signed_in(with_cookie(ctx, old), name, "the pre-rotation cookie")


def redis_do_scan(ctx, pattern):
    red = ctx.redis()
    try:
        return red.scan(pattern)
    finally:
        red.close()


@case
def cookie_signed_by_dropped_key_is_anonymous_and_costs_redis_nothing(ctx):
    keys = read_keyring(ctx)
    a_id = keys[0][0]
    x, xname, _ = signed_up(ctx, "dropx")
    y, yname, _ = signed_up(ctx, "dropy")
    x_old, y_old = x.jar[ctx.cookie], y.jar[ctx.cookie]
    check_eq(decode_cookie(y_old)[0], a_id, "key id of the session made under A")
    new = keygen(ctx, keys)
    reload_keyring(ctx, [new] + keys)
    r = api_add(x, "keep", 1, x.api_session()["csrf"])
    check_eq(r.status, 200, "API add after B was added in front")
    x_new = x.jar[ctx.cookie]
    check_eq(decode_cookie(x_new)[0], new[0], "key id of x's cookie after a write")
    # Drop A.
    reload_keyring(ctx, [new] + [k for k in keys if k[0] != a_id])
    anonymous_costs_redis_nothing(ctx, y_old, f"a cookie signed by dropped key {a_id}")
    anonymous_costs_redis_nothing(ctx, x_old, f"the pre-write cookie of dropped key {a_id}")
    home_signed_in(with_cookie(ctx, x_new), xname,
                   "the cookie re-signed with B after A was dropped")


# ==========================================================================
# 2. seeing and ending sessions

@case
def sessions_page_lists_each_session_with_agent_times_and_marks_this_one(ctx):
    b1, name, pw = signed_up(ctx, "list", ua="it-agent-one/1.0")
    b2 = signed_in(ctx, name, pw, ua="it-agent-two/2.0")
    h1, h2 = session_hash(b1.jar[ctx.cookie]), session_hash(b2.jar[ctx.cookie])
    r, rows = sessions_page(b1)
    check_eq(len(rows), 2, f"rows on /account/sessions ({[x['html'] for x in rows]})")
    cur = [x for x in rows if x["current"]]
    other = [x for x in rows if not x["current"]]
    check(len(cur) == 1 and len(other) == 1,
          f"expected one row marked '(this one)': {[x['html'] for x in rows]}")
    check("it-agent-one/1.0" in cur[0]["html"] and "it-agent-two/2.0" in other[0]["html"],
          f"user agents not on their rows: {[x['html'] for x in rows]}")
    check(not cur[0]["form"], "the current session's row has a revoke form")
    check(other[0]["form"], f"the other session's row has no revoke form: {other[0]['html']}")
    check_eq(other[0]["inputs"].get("id"), h2, "id in the other row's form "
             "(base64url BLAKE2b-128 of the session ID)")
    check_eq(other[0]["inputs"].get("csrf"), b1.api_session()["csrf"],
             "csrf in the other row's form")
    now = time.time()
    for row in rows:
        check(len(row["cells"]) >= 3, f"row has {len(row['cells'])} cells: {row['html']}")
        for cell in row["cells"][1:3]:
            check(WHEN.match(cell.strip()), f"time cell {cell!r} is not "
                  "'YYYY-MM-DD HH:MM UTC'")
            t = calendar.timegm(time.strptime(cell.strip(), "%Y-%m-%d %H:%M UTC"))
            check(abs(t - now) < 180, f"time {cell!r} is not about now")
    check(revoke_all_form(r.body) is not None and
          revoke_all_form(r.body).get("all") == "1",
          "no 'Sign out everywhere else' form with all=1")
    for v in (b1.jar[ctx.cookie], b2.jar[ctx.cookie]):
        check(v not in r.body and b64u(decode_cookie(v)[1]) not in r.body,
              "/account/sessions shows a session cookie or ID")
    check_index(ctx, name, [h1, h2], "index of a user with two sessions")


@case
def sessions_page_escapes_user_agent(ctx):
    evil = '<script>alert("ua")</script>'
    b1, name, pw = signed_up(ctx, "uaesc", ua="it-plain/1.0")
    signed_in(ctx, name, pw, ua=evil)
    r, rows = sessions_page(b1)
    check_eq(len(rows), 2, "rows on /account/sessions")
    check("<script>" not in r.body,
          f"the raw user agent {evil!r} is on the page: {excerpt(r.body, 1200)}")
    check("&lt;script&gt;" in r.body, "the user agent is not shown escaped")


@case
def revoke_all_others_ends_other_session_at_once_on_every_worker(ctx):
    # The user comes from the operator CLI so that the one to be revoked
    # can be checked on every worker thread (which takes a while) before the
    # revoking session exists and could go idle.
    name, pw = new_name("revall"), new_password()
    cli(ctx, "user", "add", name, stdin=pw + "\n")
    SEEN["password"].add(pw)
    b2 = signed_in(ctx, name, pw, ua="it-victim/1.0")
    v2 = b2.jar[ctx.cookie]
    before = on_every_thread(ctx, "GET", "/account/sessions", f"{ctx.cookie}={v2}")
    check(before and all(st == 200 for _, st in before),
          f"before revoking, GET /account/sessions with the second session "
          f"was not 200 on every worker thread: {before}")
    b1 = signed_in(ctx, name, pw, ua="it-keeper/1.0")
    h1, h2 = session_hash(b1.jar[ctx.cookie]), session_hash(v2)
    r, rows = sessions_page(b1)
    check_eq(len(rows), 2, "rows before revoking")
    form = revoke_all_form(r.body)
    check(form is not None, "no 'Sign out everywhere else' form")
    r = b1.post("/account/sessions/revoke", form)
    check(r.status == 303, f"POST /account/sessions/revoke all=1: {r.describe()}")
    check_eq(r.location_path(), "/account/sessions", "Location after revoking")
    home_anonymous(with_cookie(ctx, v2), "the revoked session's cookie, right after")
    home_signed_in(b1, name, "the session that revoked the others")
    _, rows = sessions_page(b1)
    check_eq([x["current"] for x in rows], [True], "rows after revoking all others")
    check_eq(redis_do(ctx, "EXISTS", record_key(ctx.prefix, h2)), 0,
             "the revoked session's record")
    check_index(ctx, name, [h1], "index after revoking all others")
    after = on_every_thread(ctx, "GET", "/account/sessions", f"{ctx.cookie}={v2}")
    bad = [(k, st) for k, st in after if st != 303]
    check(after and not bad, f"after revoking, GET /account/sessions with the "
          f"revoked cookie was not a 303 to /login on {len(bad)} of {len(after)} "
          f"worker threads: {bad}")


@case
def revoke_one_session_by_id_ends_only_that_one(ctx):
    b1, name, pw = signed_up(ctx, "revone", ua="it-one/1.0")
    b2 = signed_in(ctx, name, pw, ua="it-two/1.0")
    b3 = signed_in(ctx, name, pw, ua="it-three/1.0")
    v2, v3 = b2.jar[ctx.cookie], b3.jar[ctx.cookie]
    h1, h2, h3 = (session_hash(b1.jar[ctx.cookie]), session_hash(v2),
                  session_hash(v3))
    _, rows = sessions_page(b1)
    row = [x for x in rows if "it-three/1.0" in x["html"]]
    check(len(row) == 1 and row[0]["form"], f"no revoke form on the row of the "
          f"third session: {[x['html'] for x in rows]}")
    check_eq(row[0]["inputs"].get("id"), h3, "id on the third session's row")
    r = b1.post("/account/sessions/revoke", row[0]["inputs"])
    check(r.status == 303, f"POST /account/sessions/revoke id=...: {r.describe()}")
    check_eq(r.location_path(), "/account/sessions", "Location after revoking one")
    home_anonymous(with_cookie(ctx, v3), "the revoked session's cookie")
    home_signed_in(with_cookie(ctx, v2), name, "the session not revoked")
    home_signed_in(b1, name, "the revoking session")
    check_index(ctx, name, [h1, h2], "index after revoking one session")


@case
def revoking_session_id_of_another_user_is_404_and_ends_nothing(ctx):
    b, name, _ = signed_up(ctx, "revme")
    other, oname, _ = signed_up(ctx, "revother")
    ov = other.jar[ctx.cookie]
    oh = session_hash(ov)
    tok = b.api_session()["csrf"]
    r = b.post("/account/sessions/revoke", {"id": oh, "csrf": tok})
    check(r.status == 404, f"revoking another user's session id: expected 404, "
          f"got {r.describe()}")
    home_signed_in(with_cookie(ctx, ov), oname, "the other user's session")
    check_index(ctx, oname, [oh], "the other user's index")
    home_signed_in(b, name, "the session that tried")


@case
def account_posts_without_csrf_token_are_403_and_change_nothing(ctx):
    b1, name, pw = signed_up(ctx, "acsrf")
    b2 = signed_in(ctx, name, pw)
    h2 = session_hash(b2.jar[ctx.cookie])
    for path, form in (("/account/sessions/revoke", {"all": "1"}),
                       ("/account/sessions/revoke", {"id": h2}),
                       ("/account/password", {"current": pw, "password": new_password()})):
        r = b1.post(path, form)
        check(r.status == 403, f"POST {path} {sorted(form)} without a token: "
              f"expected 403, got {r.describe()}")
    home_signed_in(b2, name, "the second session")
    signed_in(ctx, name, pw)     # the password is unchanged


@case
def index_drops_sessions_that_expired_idle_when_listed(ctx):
    b1, name, pw = signed_up(ctx, "idx", ua="it-active/1.0")
    b2 = signed_in(ctx, name, pw, ua="it-idle/1.0")
    h1, h2 = session_hash(b1.jar[ctx.cookie]), session_hash(b2.jar[ctx.cookie])
    check_index(ctx, name, [h1, h2], "index with two live sessions")
    # b1 stays active; b2 is left alone for longer than the idle timeout.
    end = time.monotonic() + IDLE + 1
    while time.monotonic() < end:
        home_signed_in(b1, name, "the active session")
        time.sleep(0.5)
    check_eq(redis_do(ctx, "EXISTS", record_key(ctx.prefix, h2)), 0,
             f"record of the session left idle for {IDLE + 1} s")
    r, rows = sessions_page(b1)
    check_eq([x["current"] for x in rows], [True],
             f"rows on /account/sessions after the second session expired idle "
             f"({[x['html'] for x in rows]})")
    check("it-idle/1.0" not in r.body, "the idle-expired session is still listed")
    check_index(ctx, name, [h1], "index after the list was read")


@case
def index_prunes_entries_past_absolute_expiry_on_write_and_read(ctx):
    b1, name, pw = signed_up(ctx, "absidx")
    h1 = session_hash(b1.jar[ctx.cookie])
    zkey, hkey = index_keys(ctx, name)
    past = int(time.time() * 1000) - 1000
    red = ctx.redis()
    try:
        red.cmd("ZADD", zkey, past, "P" * 22)
        red.cmd("HSET", hkey, "P" * 22, f"{int(time.time()) - MAX}\tstale")
    finally:
        red.close()
    b2 = signed_in(ctx, name, pw)          # a write to the list
    h2 = session_hash(b2.jar[ctx.cookie])
    check_index(ctx, name, [h1, h2], "index after a login (write) with an entry "
                "past its absolute expiry")
    red = ctx.redis()
    try:
        red.cmd("ZADD", zkey, past, "Q" * 22)
        red.cmd("HSET", hkey, "Q" * 22, f"{int(time.time()) - MAX}\tstale")
    finally:
        red.close()
    _, rows = sessions_page(b1)             # a read of the list
    check_eq(len(rows), 2, "rows on /account/sessions")
    check_index(ctx, name, [h1, h2], "index after a read with an entry past its "
                "absolute expiry")


# --------------------------------------------------------------------------
# password change

@case
def password_change_ends_other_sessions_and_only_new_password_signs_in(ctx):
    b1, name, old_pw = signed_up(ctx, "pwchg")
    b2 = signed_in(ctx, name, old_pw)
    v2 = b2.jar[ctx.cookie]
    tok = b1.token("/account/password")
    new_pw = new_password()
    r = b1.post("/account/password", {"current": old_pw, "password": new_pw,
                                      "csrf": tok})
    check(r.status == 200, f"POST /account/password: expected 200, got {r.describe()}")
    check("Password changed" in r.body, f"no notice on the page: {excerpt(r.body, 800)}")
    home_anonymous(with_cookie(ctx, v2), "the other session after a password change")
    home_signed_in(b1, name, "the session that changed the password")
    h1 = session_hash(b1.jar[ctx.cookie])
    check_index(ctx, name, [h1], "index after a password change")
    browser(ctx).login(name, old_pw, expect=401)
    b3 = signed_in(ctx, name, new_pw)
    home_signed_in(b3, name, "a login with the new password")


@case
def password_change_with_wrong_current_is_401_and_changes_nothing(ctx):
    b1, name, pw = signed_up(ctx, "pwbad")
    b2 = signed_in(ctx, name, pw)
    tok = b1.token("/account/password")
    new_pw = new_password()
    r = b1.post("/account/password", {"current": "wrong-" + pw, "password": new_pw,
                                      "csrf": tok})
    check(r.status == 401, f"POST /account/password with a wrong current password: "
          f"expected 401, got {r.describe()}")
    home_signed_in(b2, name, "the other session")
    home_signed_in(b1, name, "the session that tried")
    browser(ctx).login(name, new_pw, expect=401)
    signed_in(ctx, name, pw)


# --------------------------------------------------------------------------
# operator CLI

def cli_list(ctx, name):
    _, out, _ = cli(ctx, "session", "list", name)
    rows = []
    for line in out.splitlines():
        parts = line.split("\t")
        check(len(parts) == 4 and re.fullmatch(r"created \d+", parts[1]) and
              re.fullmatch(r"last seen \d+", parts[2]),
              f"shoal session list: line {line!r} is not "
              "'HASH\\tcreated N\\tlast seen N\\tUSER AGENT'")
        rows.append({"id": parts[0], "created": int(parts[1].split()[1]),
                     "last_seen": int(parts[2].split()[2]), "agent": parts[3]})
    return rows


@case
def cli_session_list_prints_one_line_per_session(ctx):
    b1, name, pw = signed_up(ctx, "clil", ua="it-cli-one/1.0")
    b2 = signed_in(ctx, name, pw, ua="it-cli-two/1.0")
    other, _, _ = signed_up(ctx, "clio")
    h1, h2 = session_hash(b1.jar[ctx.cookie]), session_hash(b2.jar[ctx.cookie])
    rows = cli_list(ctx, name)
    check_eq(sorted(r["id"] for r in rows), sorted([h1, h2]),
             f"session hashes listed for {name}")
    agents = {r["id"]: r["agent"] for r in rows}
    check_eq((agents[h1], agents[h2]), ("it-cli-one/1.0", "it-cli-two/1.0"),
             "user agents listed")
    now = time.time()
    for r in rows:
        check(abs(r["created"] - now) < 120 and r["created"] <= r["last_seen"] <= now + 5,
              f"created/last seen of {r} are not about now ({int(now)})")
    check(session_hash(other.jar[ctx.cookie]) not in [r["id"] for r in rows],
          "another user's session is listed")


@case
def cli_session_revoke_ends_that_session_only(ctx):
    b1, name, pw = signed_up(ctx, "clir")
    b2 = signed_in(ctx, name, pw)
    other, oname, _ = signed_up(ctx, "cliro")
    v2 = b2.jar[ctx.cookie]
    h1, h2 = session_hash(b1.jar[ctx.cookie]), session_hash(v2)
    _, out, _ = cli(ctx, "session", "revoke", name, h2)
    check("ended" in out, f"shoal session revoke printed {out!r}")
    home_anonymous(with_cookie(ctx, v2), "a session the operator revoked")
    home_signed_in(b1, name, "the user's other session")
    check_eq([r["id"] for r in cli_list(ctx, name)], [h1], "sessions listed after revoke")
    # Another user's session, or one that is gone: refused, nothing ended.
    oh = session_hash(other.jar[ctx.cookie])
    rc, _, _ = cli(ctx, "session", "revoke", name, oh, expect=None)
    check(rc != 0, f"shoal session revoke {name} <{oname}'s session> exited 0")
    rc, _, _ = cli(ctx, "session", "revoke", name, h2, expect=None)
    check(rc != 0, "revoking a session already ended exited 0")
    home_signed_in(other, oname, "the other user's session")


@case
def cli_session_revoke_all_ends_every_session_of_the_user(ctx):
    b1, name, pw = signed_up(ctx, "clia")
    b2 = signed_in(ctx, name, pw)
    other, oname, _ = signed_up(ctx, "clioa")
    v1, v2 = b1.jar[ctx.cookie], b2.jar[ctx.cookie]
    _, out, _ = cli(ctx, "session", "revoke", name, "--all")
    check(re.search(r"\b2\b", out), f"shoal session revoke --all printed {out!r}, "
          "expected it to say 2 sessions ended")
    home_anonymous(with_cookie(ctx, v1), "the first session after revoke --all")
    home_anonymous(with_cookie(ctx, v2), "the second session after revoke --all")
    check_eq(cli_list(ctx, name), [], "sessions listed after revoke --all")
    check_index(ctx, name, [], "index after revoke --all")
    home_signed_in(other, oname, "another user's session")


# ==========================================================================
# 3. login throttling

def fail_logins(ctx, b, tok, name, n, headers=None):
    for i in range(n):
        h = headers(i) if callable(headers) else headers
        r = b.post("/login", {"username": name, "password": "wrong-" + new_password(),
                              "csrf": tok}, headers=h)
        check(r.status == 401, f"failed login {i + 1} of {n}: expected 401, got "
              f"{r.describe()}")


def retry_after(r):
    ra = r.header("Retry-After")
    check(ra is not None and re.fullmatch(r"\d+", ra.strip()),
          f"429 without a Retry-After in seconds: {r.describe()} {dict(r.headers)}")
    n = int(ra)
    check(1 <= n <= WINDOW, f"Retry-After {n} is not within 1..{WINDOW} (the window)")
    return n


@case
def sixth_failed_login_in_window_is_429_with_retry_after_even_for_right_password(ctx):
    _, name, pw = signed_up(ctx, "thr")
    a = browser(ctx)
    tok = a.token("/login")
    t0 = time.monotonic()
    fail_logins(ctx, a, tok, name, MAX_FAILS)
    r = a.post("/login", {"username": name, "password": "wrong-" + pw, "csrf": tok})
    check(r.status == 429, f"failed login {MAX_FAILS + 1}: expected 429, got {r.describe()}")
    retry_after(r)
    r = a.post("/login", {"username": name, "password": pw, "csrf": tok})
    check(r.status == 429, f"the right password while throttled: expected 429, got "
          f"{r.describe()}")
    retry_after(r)
    check(ctx.cookie not in a.jar, "a throttled login issued a session cookie")
    check(time.monotonic() - t0 < WINDOW, "the attempts took longer than the "
          "window; the test proves nothing (raise INTEGRATION_SCALE)")


@case
def x_forwarded_for_from_client_does_not_escape_login_throttle(ctx):
    _, name, pw = signed_up(ctx, "xff")
    a = browser(ctx)
    tok = a.token("/login")

    def spoof(i):
        return {"X-Forwarded-For": f"198.51.100.{i + 10}",
                "X-Real-IP": f"198.51.100.{i + 10}", "Forwarded": f"for=198.51.100.{i + 10}"}

    fail_logins(ctx, a, tok, name, MAX_FAILS, headers=spoof)
    for h in (spoof(77), {"X-Forwarded-For": "203.0.113.5, 127.0.0.1"}, None):
        r = a.post("/login", {"username": name, "password": pw, "csrf": tok}, headers=h)
        check(r.status == 429, f"right password after {MAX_FAILS} failures sent with "
              f"a different X-Forwarded-For each, now with {h}: expected 429, "
              f"got {r.describe()}")


@case
def login_throttle_counts_per_user_name(ctx):
    _, name1, _ = signed_up(ctx, "thr1")
    _, name2, pw2 = signed_up(ctx, "thr2")
    a = browser(ctx)
    tok = a.token("/login")
    fail_logins(ctx, a, tok, name1, MAX_FAILS)
    r = a.post("/login", {"username": name1, "password": "wrong-" + new_password(),
                          "csrf": tok})
    check_eq(r.status, 429, f"login as {name1} after {MAX_FAILS} failures")
    b = browser(ctx)
    b.login(name2, pw2)
    home_signed_in(b, name2, "another user name from the same address")


@case
def right_password_signs_in_once_the_login_window_has_passed(ctx):
    _, name, pw = signed_up(ctx, "thrwin")
    a = browser(ctx)
    tok = a.token("/login")
    t0 = time.monotonic()
    fail_logins(ctx, a, tok, name, MAX_FAILS)
    r = a.post("/login", {"username": name, "password": pw, "csrf": tok})
    check(r.status == 429, f"right password right after {MAX_FAILS} failures: "
          f"expected 429, got {r.describe()}")
    ra = retry_after(r)
    # The window started at the first failure; wait it out, and no longer
    # than Retry-After said.
    wait = max(t0 + WINDOW, time.monotonic() + ra) - time.monotonic() + 0.3
    time.sleep(max(0.0, wait))
    r = a.post("/login", {"username": name, "password": pw, "csrf": tok})
    check(r.status == 303, f"right password after the window passed: expected 303, "
          f"got {r.describe()}")
    home_signed_in(a, name, "the login after the window")


class ProxyLogin:
    """POST /login for one user straight to a worker of our own that trusts
    the proxies in 10.20.0.0/16, with REMOTE_ADDR and X-Forwarded-For of our
    choosing."""

    def __init__(self, ctx, w, prefix):
        self.w = w
        _, self.name, self.pw = signed_up(ctx, prefix)
        r = w.request("GET", "/login")
        check_eq(r.status, 200, "GET /login on the own worker")
        self.nonce = cookies_of(r)[ctx.csrf_cookie][0]
        self.tok = form_tokens(r.body)[0]
        self.cookie = ctx.csrf_cookie

    def __call__(self, remote, xff, right):
        pw = self.pw if right else "wrong-" + new_password()
        return self.w.request(
            "POST", "/login", cookies={self.cookie: self.nonce},
            form={"username": self.name, "password": pw, "csrf": self.tok},
            headers={"X-Forwarded-For": xff} if xff else None,
            remote_addr=remote)

    def fail(self, n, remote, xff):
        for i in range(n):
            x = xff(i) if callable(xff) else xff
            r = self(remote, x, right=False)
            check(r.status == 401, f"failure {i + 1} from {remote} (X-Forwarded-For "
                  f"{x!r}): expected 401, got {r.describe()}")


TRUSTED = {"SHOAL_TRUSTED_PROXIES": "10.20.0.0/16"}


@case
def x_forwarded_for_from_untrusted_address_is_ignored_by_login_throttle(ctx):
    w = NotingWorker(ctx, "own-proxy-worker-1", TRUSTED)
    try:
        login = ProxyLogin(ctx, w, "untrust")
        login.fail(MAX_FAILS, "203.0.113.9", lambda i: f"192.0.2.{i + 1}")
        r = login("203.0.113.9", "192.0.2.200", right=True)
        check(r.status == 429, f"untrusted 203.0.113.9 naming itself 192.0.2.200 "
              f"in X-Forwarded-For after {MAX_FAILS} failures naming other "
              f"addresses: expected 429, got {r.describe()}")
    finally:
        w.stop()


@case
def x_forwarded_for_from_trusted_proxy_names_the_client_for_login_throttle(ctx):
    w = NotingWorker(ctx, "own-proxy-worker-2", TRUSTED)
    try:
        login = ProxyLogin(ctx, w, "trust")
        login.fail(MAX_FAILS, "10.20.0.5", "198.51.100.7")
        for remote in ("10.20.0.5", "10.20.9.9"):
            r = login(remote, "198.51.100.7", right=True)
            check(r.status == 429, f"client 198.51.100.7 via trusted proxy {remote} "
                  f"after {MAX_FAILS} failures: expected 429, got {r.describe()}")
        r = login("10.20.0.5", "198.51.100.8", right=True)
        check(r.status == 303, f"another client (198.51.100.8) via the same proxy: "
              f"expected 303, got {r.describe()}")
    finally:
        w.stop()


@case
def x_forwarded_for_chain_of_trusted_proxies_names_the_first_untrusted_hop(ctx):
    # "client, proxy": the list format proxies append in (nginx's
    # $proxy_add_x_forwarded_for), the last hop itself a trusted proxy.
    w = NotingWorker(ctx, "own-proxy-worker-3", TRUSTED)
    try:
        login = ProxyLogin(ctx, w, "chain")
        login.fail(MAX_FAILS, "10.20.0.5", "198.51.100.7, 10.20.3.3")
        r = login("10.20.0.5", "198.51.100.7", right=True)
        check(r.status == 429, f"client 198.51.100.7 after {MAX_FAILS} failures "
              f"sent via proxies 10.20.3.3 and 10.20.0.5 (X-Forwarded-For "
              f"'198.51.100.7, 10.20.3.3'): expected 429, got {r.describe()}")
        r = login("10.20.0.5", "198.51.100.9, 10.20.3.3", right=True)
        check(r.status == 303, f"another client behind the same two proxies: "
              f"expected 303, got {r.describe()}")
    finally:
        w.stop()


# ==========================================================================
# the security review's findings: each test failed before its fix

class Direct:
    """Sign-ins and sign-ups straight to a worker of our own, with the
    anonymous CSRF pair a browser would hold, from REMOTE_ADDR and
    X-Forwarded-For of our choosing."""

    def __init__(self, ctx, w):
        self.ctx, self.w = ctx, w
        r = w.request("GET", "/login")
        check_eq(r.status, 200, "GET /login on the own worker")
        self.nonce = cookies_of(r)[ctx.csrf_cookie][0]
        self.tok = form_tokens(r.body)[0]

    def post(self, path, form, remote="127.0.0.1", xff=None):
        form = dict(form, csrf=self.tok)
        return self.w.request("POST", path, cookies={self.ctx.csrf_cookie: self.nonce},
                              form=form, remote_addr=remote,
                              headers={"X-Forwarded-For": xff} if xff else None)

    def login(self, name, pw, remote="127.0.0.1", xff=None):
        return self.post("/login", {"username": name, "password": pw}, remote, xff)

    def signup(self, name, pw, remote="127.0.0.1"):
        return self.post("/signup", {"username": name, "password": pw}, remote)


def statuses(rs):
    out = {}
    for r in rs:
        out[r.status] = out.get(r.status, 0) + 1
    return dict(sorted(out.items()))


def in_parallel(n, fn, workers=32):
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(fn, range(n)))


def own(ctx, name, **settings):
    return NotingWorker(ctx, name, {k: str(v) for k, v in settings.items()})


# A worker of our own asking Sentinels of our own: none of the stack's
# Sentinel settings.
NO_STACK_SENTINELS = {"SHOAL_REDIS_ALLOWED": "", "SHOAL_SENTINEL_USER": "",
                      "SHOAL_SENTINEL_PASSWORD": "", "SHOAL_SENTINEL_PASSWORD_FILE": ""}


def readyz_of(w):
    return w.request("GET", "/readyz")


# -- 1: the Sentinels name the primary the workers send their password to

@case
@only_on("sentinel")
def sentinel_naming_a_primary_outside_redis_allowed_gets_no_password(ctx):
    from fakes import rogue_redis, sentinel
    rogue = rogue_redis()
    liar = sentinel(rogue.port)
    w = own(ctx, "own-sentinel-1", **dict(NO_STACK_SENTINELS,
            SHOAL_SENTINELS=f"127.0.0.1:{liar.port}",
            SHOAL_REDIS_ALLOWED="192.0.2.0/24"))
    try:
        r = readyz_of(w)
        check(r.status == 503, f"/readyz with the only Sentinel naming an address "
              f"outside SHOAL_REDIS_ALLOWED: expected 503, got {r.describe()}")
        check(liar.commands("SENTINEL"), "the worker never asked the Sentinel")
        check(not rogue.seen, f"the worker talked to the primary the Sentinel named, "
              f"outside SHOAL_REDIS_ALLOWED: {[c[0] for c in rogue.seen]} "
              f"(AUTH sent: {bool(rogue.commands('AUTH'))})")
    finally:
        w.stop()
        liar.stop()
        rogue.stop()


@case
@only_on("sentinel")
def one_lying_sentinel_is_outvoted_and_its_primary_gets_no_password(ctx):
    from fakes import rogue_redis, sentinel
    rogue = rogue_redis()
    liar = sentinel(rogue.port)
    honest = [sentinel(ctx.redis_port), sentinel(ctx.redis_port)]
    ports = [liar.port] + [s.port for s in honest]     # the liar is asked first
    w = own(ctx, "own-sentinel-2", **dict(NO_STACK_SENTINELS,
            SHOAL_SENTINELS=",".join(f"127.0.0.1:{p}" for p in ports)))
    try:
        r = readyz_of(w)
        check(r.status == 200, f"/readyz with two of three Sentinels naming the real "
              f"primary: expected 200, got {r.describe()}")
        check(not rogue.commands("AUTH"), "the worker sent its Redis password to the "
              "primary one lying Sentinel named")
    finally:
        w.stop()
        for s in [liar] + honest:
            s.stop()
        rogue.stop()


@case
@only_on("sentinel")
def worker_logs_in_to_the_sentinels(ctx):
    from fakes import sentinel
    guard = sentinel(ctx.redis_port, password="sentinel-secret-1")
    w = own(ctx, "own-sentinel-3", **dict(NO_STACK_SENTINELS,
            SHOAL_SENTINELS=f"127.0.0.1:{guard.port}",
            SHOAL_SENTINEL_USER="shoal-sentinel",
            SHOAL_SENTINEL_PASSWORD="sentinel-secret-1",
            SHOAL_REDIS_ALLOWED="127.0.0.1"))
    try:
        r = readyz_of(w)
        check(r.status == 200, f"/readyz through a Sentinel that wants a password: "
              f"expected 200, got {r.describe()}")
        auth = guard.commands("AUTH")
        check(auth and auth[0] == ["AUTH", "shoal-sentinel", "sentinel-secret-1"],
              f"AUTH the Sentinel saw: {auth}")
        first = guard.seen[0][0].upper()
        check_eq(first, "AUTH", "the first command on a Sentinel connection")
    finally:
        w.stop()
        guard.stop()


def auth_calls(clients):
    """{port: AUTH calls the node counted} (INFO commandstats), read on
    connections already signed in (reading adds no AUTH)."""
    return {p: resp.cmdstat_calls(r.info("commandstats")).get("auth", 0)
            for p, r in clients.items()}


@case
@only_on("cluster")
def a_cluster_node_outside_redis_allowed_gets_no_password(ctx):
    # The operator names the seeds (trusted: the worker signs in there to
    # ask CLUSTER SLOTS); the map the seed answers names the nodes to send
    # the password to, and SHOAL_REDIS_ALLOWED decides which of them may
    # have it. Seeded with a replica only (it serves no slot) and
    # 127.0.0.2 allowed, the map's primaries (all on 127.0.0.1) are left
    # out: no node but the seed sees an AUTH, and nothing is served.
    check(ctx.cluster_ports, "needs a Redis Cluster")
    nodes = ctx.cluster_nodes()
    seed = next((n["port"] for n in nodes if not n["primary"]), None)
    check(seed, f"no replica among the cluster's nodes: {nodes}")
    primaries = [n["port"] for n in nodes if n["primary"]]
    b, name, pw = signed_up(ctx, "allowed")
    live = b.jar[ctx.cookie]
    clients = {p: ctx.redis(p) for p in ctx.cluster_ports}
    try:
        before = auth_calls(clients)
        w = own(ctx, "own-cluster-allowed-1", SHOAL_REDIS_CLUSTER=f"127.0.0.1:{seed}",
                SHOAL_REDIS_ALLOWED="127.0.0.2")
        try:
            r = readyz_of(w)
            check(r.status == 503, f"/readyz with every primary outside "
                  f"SHOAL_REDIS_ALLOWED: expected 503, got {r.describe()}")
            r = w.request("GET", "/", cookies={ctx.cookie: live})
            check(r.status == 503, f"GET / with a live session's cookie: expected "
                  f"503, got {r.describe()}")
            r = Direct(ctx, w).login(name, pw)
            check(r.status == 503 and ctx.cookie not in cookies_of(r),
                  f"a sign-in with the right password: expected 503 and no "
                  f"{ctx.cookie} cookie, got {r.describe()}")
            after = auth_calls(clients)
        finally:
            w.stop()
        check(after[seed] > before[seed], f"the worker never signed in to its seed "
              f"(node on {seed}) to ask CLUSTER SLOTS")
        talked = {p: after[p] - before[p] for p in ctx.cluster_ports
                  if p != seed and after[p] != before[p]}
        check(not talked, f"nodes outside SHOAL_REDIS_ALLOWED saw AUTH calls "
              f"({{port: calls}}): {talked}")
        with open(ctx.path("own-cluster-allowed-1.log"), errors="replace") as f:
            log = f.read()
        check("not in SHOAL_REDIS_ALLOWED" in log, "the worker did not log why it "
              "left the map's primaries out")
        # What the count would show: the same worker allowed 127.0.0.1
        # signs in to the primary serving its probe key.
        before = auth_calls(clients)
        w = own(ctx, "own-cluster-allowed-2", SHOAL_REDIS_CLUSTER=f"127.0.0.1:{seed}",
                SHOAL_REDIS_ALLOWED="127.0.0.1")
        try:
            r = readyz_of(w)
            check(r.status == 200, f"/readyz with 127.0.0.1 allowed: expected 200, "
                  f"got {r.describe()}")
            after = auth_calls(clients)
        finally:
            w.stop()
        check(any(after[p] > before[p] for p in primaries), f"with 127.0.0.1 "
              f"allowed no primary counted an AUTH: {before} -> {after}")
    finally:
        for r in clients.values():
            r.close()
    return f"seed {seed}; primaries {primaries}"


# -- 2: password hashes per process are bounded

def vm_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise TestFailure(f"no {field} for pid {pid}")


@case
def concurrent_sign_ins_hash_at_most_hash_concurrency_at_once(ctx):
    w = own(ctx, "own-hash-1", SHOAL_THREADS=8, SHOAL_HASH_CONCURRENCY=1,
            SHOAL_HASH_WAIT_MS=20000)
    try:
        d = Direct(ctx, w)
        base = vm_kib(w.proc.pid, "VmHWM")
        rs = in_parallel(8, lambda i: d.login(new_name("nobody"), new_password()), 8)
        peak = vm_kib(w.proc.pid, "VmHWM")
        check(all(r.status == 401 for r in rs), f"8 sign-ins of unknown names: "
              f"{statuses(rs)}")
        grew = (peak - base) / 1024.0
        check(grew <= 64 * 1.5, f"8 sign-ins at once grew the worker's peak memory by "
              f"{grew:.0f} MiB with SHOAL_HASH_CONCURRENCY=1 (one hash is 64 MiB)")
        return f"peak resident size grew {grew:.0f} MiB over 8 concurrent sign-ins"
    finally:
        w.stop()


@case
def sign_in_that_waits_too_long_for_a_hash_is_503_with_retry_after(ctx):
    w = own(ctx, "own-hash-2", SHOAL_THREADS=8, SHOAL_HASH_CONCURRENCY=1,
            SHOAL_HASH_WAIT_MS=1)
    try:
        d = Direct(ctx, w)
        rs = in_parallel(8, lambda i: d.login(new_name("nobody"), new_password()), 8)
        busy = [r for r in rs if r.status == 503]
        check(busy, f"8 sign-ins at once, one hash at a time, 1 ms wait: "
              f"{statuses(rs)}, none 503")
        check(set(statuses(rs)) <= {401, 503}, f"statuses: {statuses(rs)}")
        for r in busy:
            check_eq(r.header("Retry-After"), "1", "Retry-After of a 503 for a busy hash")
            check("too many sign-ins at once" in r.body, f"503 body: {r.body!r}")
        return f"{statuses(rs)}"
    finally:
        w.stop()


def thread_stats(pid):
    """Each thread of a process: (name, nice value, CPU ticks) from
    /proc/PID/task/TID/stat."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                line = f.read()
        except OSError:
            continue
        name = line[line.index("(") + 1:line.rindex(")")]
        rest = line[line.rindex(")") + 2:].split()
        # rest[0] is field 3 (state): utime 14, stime 15, nice 19.
        out.append((name, int(rest[16]), int(rest[11]) + int(rest[12])))
    return out


@case
def password_hashes_run_on_threads_of_their_own_behind_the_pages(ctx):
    """SHOAL_HASH_CONCURRENCY threads named shoal-hash at SHOAL_HASH_NICE do
    every hash; the request threads keep the process's priority and spend
    next to nothing on a sign-in, whose request thread sleeps meanwhile."""
    w = own(ctx, "own-hash-3", SHOAL_THREADS=4, SHOAL_HASH_CONCURRENCY=3,
            SHOAL_HASH_NICE=12)
    try:
        d = Direct(ctx, w)
        before = thread_stats(w.proc.pid)
        hashers = [t for t in before if t[0] == "shoal-hash"]
        check_eq(len(hashers), 3, "threads named shoal-hash with SHOAL_HASH_CONCURRENCY=3")
        check_eq({t[1] for t in hashers}, {12}, "nice value of the hashing threads")
        check_eq({t[1] for t in before if t[0] != "shoal-hash"}, {0},
                 "nice value of every other thread")
        rs = [d.login(new_name("nobody"), new_password()) for _ in range(6)]
        check_eq(statuses(rs), {401: 6}, "six sign-ins of unknown names, one after another")
        after = thread_stats(w.proc.pid)
        spent = lambda ts, hashing: sum(t[2] for t in ts if (t[0] == "shoal-hash") == hashing)
        hashed, served = spent(after, True) - spent(before, True), spent(after, False) - spent(before, False)
        check(hashed >= 6 and served * 3 < hashed,
              f"CPU ticks over six sign-ins: hashing threads {hashed}, the others {served}")
        return f"3 hashing threads at nice 12; six sign-ins: {hashed} ticks on them, {served} on the rest"
    finally:
        w.stop()


# -- 3: sign-in throttling, counted before the hash

@case
def parallel_wrong_passwords_reach_the_hash_at_most_max_fails_times(ctx):
    w = own(ctx, "own-race-1", SHOAL_THREADS=16, SHOAL_HASH_CONCURRENCY=4,
            SHOAL_HASH_WAIT_MS=30000)
    try:
        _, name, _ = signed_up(ctx, "race")
        d = Direct(ctx, w)
        rs = in_parallel(60, lambda i: d.login(name, "wrong-" + new_password()), 16)
        st = statuses(rs)
        check(st.get(401, 0) <= MAX_FAILS, f"60 wrong passwords at once for one user "
              f"from one address: {st}; at most {MAX_FAILS} may reach the password "
              f"check (401), the rest 429")
        odd = [r.describe() for r in rs if r.status not in (401, 429)]
        check(not odd, f"statuses: {st}; others: {odd[:3]}")
        return f"{st}"
    finally:
        w.stop()


@case
def failures_for_one_user_from_many_addresses_are_throttled(ctx):
    w = own(ctx, "own-user-budget", SHOAL_TRUSTED_PROXIES="10.20.0.0/16",
            SHOAL_LOGIN_MAX_FAILS_USER=8)
    try:
        _, name, pw = signed_up(ctx, "spread")
        d = Direct(ctx, w)
        for i in range(8):
            r = d.login(name, "wrong-" + pw, "10.20.0.5", f"198.51.100.{i + 1}")
            check_eq(r.status, 401, f"failure {i + 1} from its own address")
        r = d.login(name, pw, "10.20.0.5", "198.51.100.99")
        check(r.status == 429, f"the right password from a ninth address after 8 "
              f"failures for the user from 8 others (SHOAL_LOGIN_MAX_FAILS_USER=8): "
              f"expected 429, got {r.describe()}")
    finally:
        w.stop()


@case
def password_spraying_from_one_address_is_throttled(ctx):
    w = own(ctx, "own-source-budget", SHOAL_LOGIN_MAX_FAILS_SOURCE=8)
    try:
        d = Direct(ctx, w)
        for i in range(8):
            r = d.login(new_name("spray"), new_password(), "203.0.113.50")
            check_eq(r.status, 401, f"failure {i + 1}, a user name of its own")
        _, name, pw = signed_up(ctx, "sprayed")
        r = d.login(name, pw, "203.0.113.50")
        check(r.status == 429, f"a ninth user name from an address with 8 failures "
              f"(SHOAL_LOGIN_MAX_FAILS_SOURCE=8): expected 429, got {r.describe()}")
        r = d.login(name, pw, "203.0.113.51")
        check_eq(r.status, 303, "the same user from another address")
    finally:
        w.stop()


@case
def ipv6_addresses_of_one_64_share_a_budget(ctx):
    w = own(ctx, "own-ipv6")
    try:
        _, name, pw = signed_up(ctx, "six")
        d = Direct(ctx, w)
        for i in range(MAX_FAILS):
            r = d.login(name, "wrong-" + pw, f"2001:db8:1:2::{i + 1:x}")
            check_eq(r.status, 401, f"failure {i + 1}")
        r = d.login(name, pw, "2001:db8:1:2:ffff::99")
        check(r.status == 429, f"the right password from another address of the same "
              f"/64 after {MAX_FAILS} failures from it: expected 429, got {r.describe()}")
        r = d.login(name, pw, "2001:db8:1:3::1")
        check_eq(r.status, 303, "the right password from another /64")
    finally:
        w.stop()


# -- 4: sign-up has a budget; Redis at its maxmemory is reported

@case
def sign_up_has_a_budget_per_address_taken_names_included(ctx):
    w = own(ctx, "own-signup", SHOAL_SIGNUP_MAX=3)
    try:
        _, taken, _ = signed_up(ctx, "taken")
        d = Direct(ctx, w)
        r = d.signup(new_name("su"), new_password(), "203.0.113.60")
        check_eq(r.status, 303, "sign-up 1")
        r = d.signup(taken, new_password(), "203.0.113.60")
        check_eq(r.status, 409, "sign-up 2, a taken name")
        r = d.signup(new_name("su"), new_password(), "203.0.113.60")
        check_eq(r.status, 303, "sign-up 3")
        for what, nm in (("a free name", new_name("su")), ("a taken name", taken)):
            r = d.signup(nm, new_password(), "203.0.113.60")
            check(r.status == 429, f"sign-up of {what} after 3 from the address "
                  f"(SHOAL_SIGNUP_MAX=3): expected 429, got {r.describe()}")
            check(int(r.header("Retry-After") or 0) >= 1, "Retry-After of the 429")
        r = d.signup(new_name("su"), new_password(), "203.0.113.61")
        check_eq(r.status, 303, "a sign-up from another address")
    finally:
        w.stop()


def probe_node(ctx):
    """(a client, where) of the node /readyz writes its probe key to
    (app/tier/keys.c key_probe, "PREFIXreadyz"): the primary, or on a Redis
    Cluster the primary serving that key's slot."""
    if not ctx.cluster_ports:
        return ctx.redis(), "Redis"
    cl = ctx.redis()
    try:
        slot = resp.key_slot(f"{ctx.prefix}readyz")
        port = cl.slots.get(slot)
    finally:
        cl.close()
    check(port, f"no cluster node serves slot {slot} of the probe key")
    return ctx.redis(port), f"the node serving the probe key's slot {slot} ({port})"


@case
def readyz_says_when_redis_refuses_writes_for_memory(ctx):
    w = own(ctx, "own-oom")
    rc, where = probe_node(ctx)
    try:
        check_eq(readyz_of(w).status, 200, "/readyz before")
        rc.cmd("CONFIG", "SET", "maxmemory", "1")
        r = readyz_of(w)
        check(r.status == 503 and "out of memory" in r.body, f"/readyz with {where} at "
              f"its maxmemory: expected 503 saying so, got {r.describe()}")
    finally:
        rc.cmd("CONFIG", "SET", "maxmemory", "0")
        rc.close()
        w.stop()
    with open(ctx.path("own-oom.log"), errors="replace") as f:
        log = f.read()
    check("maxmemory" in log, "no log line about Redis refusing writes")


# -- 4b: guest sessions have a budget per address and a size cap

def guest_add(d, item, remote, cookies=None):
    """POST /cart/add as a visitor of d's CSRF pair (plus cookies)."""
    jar = {d.ctx.csrf_cookie: d.nonce}
    jar.update(cookies or {})
    return d.w.request("POST", "/cart/add", cookies=jar,
                       form={"item": item, "qty": "1", "csrf": d.tok},
                       remote_addr=remote)


@case
def guest_sessions_have_a_budget_per_address(ctx):
    w = own(ctx, "own-guest-rate", SHOAL_GUEST_RATE=3)
    try:
        d = Direct(ctx, w)
        for i in range(3):
            r = guest_add(d, f"item{i}", "203.0.113.70")
            check(r.status == 303 and ctx.cookie in cookies_of(r),
                  f"guest {i + 1} of 3 from one address: {r.describe()}")
        r = guest_add(d, "item3", "203.0.113.70")
        check(r.status == 429, f"a fourth guest session from one address in a minute "
              f"(SHOAL_GUEST_RATE=3): expected 429, got {r.describe()}")
        check(r.header("Retry-After"), "429 without Retry-After")
        check(ctx.cookie not in cookies_of(r), "a refused guest got a session cookie")
        r = guest_add(d, "item4", "203.0.113.71")
        check_eq(r.status, 303, "a guest from another address")
    finally:
        w.stop()


@case
def guest_session_over_its_size_cap_is_413_and_not_written(ctx):
    w = own(ctx, "own-guest-size", SHOAL_GUEST_MAX_BYTES=200)
    try:
        d = Direct(ctx, w)
        r = guest_add(d, "a" * 60, "203.0.113.80")
        check_eq(r.status, 303, "the first item")
        sid = cookies_of(r)[ctx.cookie][0]
        statuses_seen = []
        for i in range(6):
            r = guest_add(d, f"{i}" + "b" * 60, "203.0.113.80", {ctx.cookie: sid})
            statuses_seen.append(r.status)
            if r.status != 303:
                break
        check(statuses_seen[-1] == 413, f"a guest growing past SHOAL_GUEST_MAX_BYTES="
              f"200: statuses {statuses_seen}, expected a 413 after a few 303s")
        red = ctx.redis()
        try:
            v = red.cmd("GET", record_key(ctx.prefix, guest_hash(sid)))
        finally:
            red.close()
        check(v is not None and len(v) <= 200, f"the guest record is "
              f"{None if v is None else len(v)} bytes, over its cap or gone")
    finally:
        w.stop()


def guest_hash(value):
    import hashlib
    from harness.sid import decode_cookie_kind
    return b64u(hashlib.blake2b(decode_cookie_kind(value)[2], digest_size=16).digest())


# -- 5: an old password stops working at once

@case
def old_password_fails_while_the_database_replica_lags(ctx):
    # Accounts are read for a sign-in on the PostgreSQL primary: a replica
    # whose replay is paused still holds the old hash, and must not matter.
    b, name, old_pw = signed_up(ctx, "lag")
    db = ctx.db
    db.wait_replayed()
    db.pause_replay()
    try:
        before = db.psql(f"SELECT password_hash FROM accounts WHERE name = '{name}'").strip()
        tok = b.token("/account/password")
        new_pw = new_password()
        r = b.post("/account/password", {"current": old_pw, "password": new_pw,
                                         "csrf": tok})
        check_eq(r.status, 200, "password change")
        on_replica = db.psql(f"SELECT password_hash FROM accounts WHERE name = '{name}'",
                             target="replica").strip()
        check(on_replica == before, "the replica is not behind: it already holds the "
              "new hash, so the test proves nothing")
        r = browser(ctx).login(name, old_pw, expect=None)
        check(r.status == 401, f"the old password while the replica still holds it: "
              f"expected 401, got {r.describe()}")
        check_eq(browser(ctx).login(name, new_pw).status, 303, "the new password")
    finally:
        db.resume_replay()


BLOCKERS = 30      # sign-ins ahead of the one that races a password change


@case
def sign_in_that_checked_the_old_password_gets_no_session_after_a_change(ctx):
    # A sign-in reads the account (the old hash, generation g), then waits
    # for its turn to hash behind 30 others (one hash at a time on its
    # worker); meanwhile the password change commits generation g + 1 and
    # ends every session. When the sign-in's hash finally says "right
    # password", its session must be refused. The change starts 0.4 s in
    # and hashes twice itself: 10 blockers (0.45 s of hashes under the
    # sanitizers) left the sign-in waiting too short a while to be sure.
    w = own(ctx, "own-gen-race", SHOAL_THREADS=16, SHOAL_HASH_CONCURRENCY=1,
            SHOAL_HASH_WAIT_MS=60000)
    try:
        b, name, old_pw = signed_up(ctx, "genrace")
        _, bname, bpw = signed_up(ctx, "blocker")
        d = Direct(ctx, w)
        results = {}

        def blocker(i):
            results[f"b{i}"] = d.login(bname, bpw, f"198.51.100.{i + 10}")

        def late():
            results["late"] = d.login(name, old_pw, "198.51.100.99")
        threads = [threading.Thread(target=blocker, args=(i,)) for i in range(BLOCKERS)]
        for t in threads:
            t.start()
        time.sleep(0.2 * ctx.scale)
        sign_in = threading.Thread(target=late)
        sign_in.start()
        time.sleep(0.2 * ctx.scale)
        tok = b.token("/account/password")
        r = b.post("/account/password", {"current": old_pw, "password": new_password(),
                                         "csrf": tok})
        check_eq(r.status, 200, "the password change")
        waiting = sign_in.is_alive()
        home_signed_in(b, name, "the session that changed the password, at once")
        changed_at = time.monotonic()
        for t in threads + [sign_in]:
            t.join(60 * ctx.scale)
        check(waiting, "the sign-in finished before the password change: the test "
              "proves nothing (more blockers, or slower hashes, are needed)")
        r = results["late"]
        check(r.status == 401, f"a sign-in that checked the old password, finishing "
              f"{time.monotonic() - changed_at:.2f} s after the change: expected 401, "
              f"got {r.describe()}")
        # The changer's session may have idled out (SHOAL_SESSION_IDLE is
        # short here); the late sign-in's must never have joined the index.
        members, _ = index_state(ctx, name)
        check(set(members) <= {session_hash(b.jar[ctx.cookie])},
              f"the index after the change and the late sign-in: {members}")
        return (f"blockers {statuses([results[f'b{i}'] for i in range(BLOCKERS)])}, "
                f"late sign-in {r.status}")
    finally:
        w.stop()


def record_fields(record):
    """A protobuf record's fields in order: (number, start, end, value), the
    value an int for a varint field, else None."""
    def varint(at):
        v, shift = 0, 0
        while True:
            c = record[at]
            v |= (c & 0x7F) << shift
            at += 1
            if not c & 0x80:
                return v, at
            shift += 7
    out, i = [], 0
    while i < len(record):
        start, value = i, None
        key, i = varint(i)
        kind = key & 7
        if kind == 0:
            value, i = varint(i)
        elif kind == 2:
            n, i = varint(i)
            i += n
        elif kind == 1:
            i += 8
        elif kind == 5:
            i += 4
        else:
            raise TestFailure(f"record: wire type {kind}")
        out.append((key >> 3, start, i, value))
    return out


def without_field(record, number):
    """A protobuf record with every occurrence of a field left out."""
    return b"".join(record[start:end] for n, start, end, _ in record_fields(record)
                    if n != number)


def record_version(ctx, value):
    """The version (field 2) of a session's record: bumped by every write."""
    record = redis_do(ctx, "GET", record_key(ctx.prefix, session_hash(value)))
    return next((v for n, _, _, v in record_fields(record or b"") if n == 2), 0)


@case
def session_written_before_accounts_moved_names_no_account_and_is_signed_out(ctx):
    # A user's session record from before account_id (field 8) existed: the
    # visitor is signed out (the record deleted), not signed in as nobody.
    b, name, _ = signed_up(ctx, "legacy")
    key = record_key(ctx.prefix, session_hash(b.jar[ctx.cookie]))
    red = ctx.redis()
    try:
        rec = red.cmd("GET", key)
        old = without_field(rec, 8)
        check(len(old) < len(rec), "the session record holds no account_id")
        red.cmd("SET", key, old, "KEEPTTL")
    finally:
        red.close()
    home_anonymous(b, "a user's session record without account_id")
    check(redis_do(ctx, "EXISTS", key) == 0, "the record without account_id is not deleted")


@case
def without_a_database_sign_up_and_sign_in_are_503_and_pages_serve(ctx):
    w = own(ctx, "own-nodb", SHOAL_DB="", SHOAL_DB_REPLICAS="", SHOAL_DB_PASSWORD_FILE="")
    try:
        _, name, pw = signed_up(ctx, "nodb")
        d = Direct(ctx, w)
        for what, r in (("sign-in", d.login(name, pw)),
                        ("sign-up", d.signup(new_name("nodb"), new_password()))):
            check(r.status == 503, f"{what} without SHOAL_DB: expected 503, got "
                  f"{r.describe()}")
        check_eq(w.request("GET", "/").status, 200, "GET / without SHOAL_DB")
    finally:
        w.stop()
    with open(ctx.path("own-nodb.log"), errors="replace") as f:
        lines = [x for x in f if "accounts need the database: SHOAL_DB is not set" in x]
    check_eq(len(lines), 1, "log lines saying accounts need the database")


@case
def password_change_gives_this_browser_a_new_session_id(ctx):
    b, name, old_pw = signed_up(ctx, "rot")
    before = b.jar[ctx.cookie]
    tok = b.token("/account/password")
    r = b.post("/account/password", {"current": old_pw, "password": new_password(),
                                     "csrf": tok})
    check_eq(r.status, 200, "password change")
    after = b.jar[ctx.cookie]
    check(after != before, "the session ID stayed the same across a password change")
    home_signed_in(b, name, "the session after the change")
    home_anonymous(with_cookie(ctx, before), "the cookie from before the change")


@case
@time_limit(180)        # 200 Argon2id hashes on two cores
def sign_ins_racing_a_password_change_leave_no_session(ctx):
    # As many hashes at once as clients: nobody waits for a turn, so every
    # sign-in answers within the client's time limit on a busy machine.
    # Sessions that outlive the test: the suite's are seconds long, which
    # would end every session before it is looked at.
    w = own(ctx, "own-gen", SHOAL_THREADS=8, SHOAL_HASH_CONCURRENCY=8,
            SHOAL_HASH_WAIT_MS=30000, SHOAL_SESSION_IDLE=600,
            SHOAL_SESSION_MAX=600)
    try:
        _, name, old_pw = signed_up(ctx, "gen")
        d = Direct(ctx, w)
        done = []
        changed = threading.Event()

        def change():
            while len(done) < 40:
                time.sleep(0.005)
            # Signed in just now: the 200 sign-ins push older sessions out
            # of the user's 64.
            b = signed_in(ctx, name, old_pw)
            tok = b.token("/account/password")
            r = b.post("/account/password", {"current": old_pw,
                                             "password": new_password(), "csrf": tok})
            check_eq(r.status, 200, "the password change")
            changed.set()

        t = threading.Thread(target=change)
        t.start()

        def one(i):
            r = d.login(name, old_pw, f"198.18.{i // 250}.{i % 250 + 1}")
            done.append(r)
            return r
        rs = in_parallel(200, one, 8)
        t.join()
        check(changed.is_set(), "the password change did not happen")
        cookies = [cookies_of(r)[ctx.cookie][0] for r in rs
                   if r.status == 303 and ctx.cookie in cookies_of(r)]
        alive = [c for c in cookies if not is_anonymous_page(
            w.request("GET", "/", cookies={ctx.cookie: c}).body)]
        check(not alive, f"{len(alive)} of {len(cookies)} sessions made with the old "
              f"password during its change are still signed in")
        return f"{statuses(rs)}; sessions made, all ended: {len(cookies)}"
    finally:
        w.stop()


# -- 6: an unknown name costs what a wrong password costs

@case
def unknown_name_and_wrong_password_send_redis_the_same_commands(ctx):
    # On a worker told where the replica is: workers once read accounts
    # there, and an unknown name then cost the primary one more read.
    w = own(ctx, "own-same", SHOAL_REDIS_REPLICA=f"127.0.0.1:{ctx.replica_port}")
    try:
        _, name, pw = signed_up(ctx, "same")
        d = Direct(ctx, w)

        def sent(who):
            _, cmds = resp.commands_during(
                ctx.redis, lambda: check_eq(d.login(who, "wrong-" + pw).status, 401,
                                            "a failed sign-in"))
            # Not what a worker sends when it opens a connection (on a
            # cluster, a thread's first connection reads the slot map too).
            return [c.name for c in resp.round_trips(cmds)
                    if c.name not in ("auth", "script", "role", "cluster")]
        known, unknown = sent(name), sent(new_name("ghost"))
        check_eq(unknown, known, "the commands a client sent the primary for a "
                 "sign-in with an unknown name, and with a wrong password")
        return f"both: {' '.join(known)}"
    finally:
        w.stop()


TIMING_PAIRS = 101


@case
@time_limit(120)        # 202 Argon2id hashes, one at a time
def unknown_name_and_wrong_password_take_the_same_time(ctx):
    w = own(ctx, "own-timing", SHOAL_LOGIN_MAX_FAILS=1000)
    try:
        _, name, pw = signed_up(ctx, "clock")
        d = Direct(ctx, w)
        known, unknown = [], []
        # Alternated, so that what else the machine does falls on both; 101
        # of each (an Argon2id hash apiece) put the medians well inside the
        # bound on a quiet machine and on a busy one.
        for i in range(TIMING_PAIRS):
            for who, out in ((name, known), (new_name("ghost"), unknown)):
                t0 = time.monotonic()
                r = d.login(who, "wrong-" + pw)
                out.append(time.monotonic() - t0)
                check_eq(r.status, 401, "a failed sign-in")
        mid = TIMING_PAIRS // 2
        mk, mu = sorted(known)[mid] * 1000, sorted(unknown)[mid] * 1000
        check(abs(mk - mu) <= max(0.1 * mk, 3.0), f"median sign-in time: wrong "
              f"password {mk:.1f} ms, unknown name {mu:.1f} ms")
        return (f"medians over {TIMING_PAIRS} each: wrong password {mk:.1f} ms, "
                f"unknown name {mu:.1f} ms")
    finally:
        w.stop()


# ==========================================================================
# absolute and idle expiry

@case
def session_left_idle_past_idle_timeout_is_anonymous(ctx):
    b, name, _ = signed_up(ctx, "idle")
    value = b.jar[ctx.cookie]
    t0 = time.monotonic()
    time.sleep(1.0)
    home_signed_in(b, name, "a session idle for 1 s")
    # The request at 1 s pushed the idle end out: still signed in past
    # IDLE s after login, because it was not idle all that time.
    time.sleep(IDLE - 0.8)
    home_signed_in(b, name, f"a session {time.monotonic() - t0:.1f} s after login, "
                   f"last used {IDLE - 0.8:.1f} s ago (SHOAL_SESSION_IDLE={IDLE})")
    time.sleep(IDLE + 1)
    home_anonymous(with_cookie(ctx, value), f"a session left idle for {IDLE + 1} s "
                   f"(SHOAL_SESSION_IDLE={IDLE})")
    check(not record_exists(ctx, value), "the idle session's record is still in Redis")


@case
def session_used_every_half_second_outlives_idle_timeout(ctx):
    b, name, _ = signed_up(ctx, "active")
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 2 * IDLE:
        home_signed_in(b, name, f"an active session {time.monotonic() - t0:.1f} s "
                       f"after login (SHOAL_SESSION_IDLE={IDLE})")
        n += 1
        time.sleep(0.5)
    check(n >= 2 * IDLE, f"only {n} requests in {2 * IDLE} s")


@case
def a_busy_session_slides_its_idle_window_once_a_step_not_on_every_read(ctx):
    """A load is a plain GET: reading a page writes nothing until a tenth of
    the idle window has passed since the record's TTL was last set; then
    one read writes the record back (its version moves by one) and the
    next ones again write nothing."""
    b, name, _ = signed_up(ctx, "slide")
    value = b.jar[ctx.cookie]
    step = IDLE / 10
    v0, t0, reads = record_version(ctx, value), time.monotonic(), 0
    while time.monotonic() - t0 < 5 * step:
        home_signed_in(b, name, "a busy session")
        reads += 1
        time.sleep(step / 6)
    slides = record_version(ctx, value) - v0
    check(reads >= 10, f"only {reads} reads in {5 * step:.1f} s")
    check(1 <= slides <= 6, f"{slides} writes of the record over {reads} reads in "
          f"{5 * step:.1f} s (a slide at most every {step:.1f} s)")
    return f"{reads} reads, {slides} slides in {5 * step:.1f} s"


@case
def session_ends_at_absolute_max_however_active(ctx):
    b = browser(ctx)
    name, pw = new_name("absmax"), new_password()
    tok = b.token("/signup")
    t0 = time.time()
    b.post("/signup", {"username": name, "password": pw, "csrf": tok})
    t1 = time.time()
    check(ctx.cookie in b.jar, f"signup set no cookie: {b.history}")
    value = b.jar[ctx.cookie]
    h = session_hash(value)
    first_anon = None
    while time.time() < t1 + MAX + 1.0:
        r = b.get("/", keep_cookies=False)
        now = time.time()
        check_eq(r.status, 200, "GET / status")
        if signed_in_as(r.body, name):
            check(first_anon is None, f"signed in again {now - t0:.1f} s after "
                  f"login, after being anonymous at {first_anon - t0 if first_anon else 0:.1f} s")
        else:
            check(is_anonymous_page(r.body), f"neither signed in nor anonymous: "
                  f"{r.describe()}")
            if first_anon is None:
                first_anon = now
        time.sleep(0.5)
    check(first_anon is not None, f"an active session still signed in "
          f"{MAX + 1} s after login (SHOAL_SESSION_MAX={MAX})")
    check(first_anon - t0 >= MAX - 1.5, f"an active session ended "
          f"{first_anon - t0:.1f} s after login, before SHOAL_SESSION_MAX={MAX}")
    check(not record_exists(ctx, value), "the expired session's record is still in Redis")
    b2 = signed_in(ctx, name, pw)        # a write to the index
    check_index(ctx, name, [session_hash(b2.jar[ctx.cookie])],
                f"index after a new login; the session past its absolute expiry "
                f"({h}) must be gone")


# ==========================================================================
# 4. no secret in Redis

def secret_needles():
    """(what, bytes) for every secret of every session cookie seen."""
    out = []
    for v in SEEN["session cookie"]:
        try:
            _, sid_bytes, _ = decode_cookie(v)
        except TestFailure:
            continue            # forged values the suite made up
        tag = v[:6] + "..."
        out += [(f"cookie value {tag}", v.encode()),
                (f"raw ID of cookie {tag}", sid_bytes),
                (f"base64url ID of cookie {tag}", b64u(sid_bytes).encode()),
                (f"base64 ID of cookie {tag}", base64.b64encode(sid_bytes).rstrip(b"=")),
                (f"hex ID of cookie {tag}", sid_bytes.hex().encode())]
    return out


def redis_contents(ctx, port):
    """{key: [DUMP, and what the type's read commands return]} of every key
    the node on `port` holds (a cluster node: its own slots' keys, read
    with READONLY on a replica)."""
    red = ctx.redis(port)
    out = {}
    try:
        if ctx.cluster_ports:
            red.cmd("READONLY")
        for k in sorted(red.scan("*")):
            parts = [k.encode(), red.cmd("DUMP", k) or b""]
            t = red.cmd("TYPE", k)
            if t == "string":
                parts.append(red.cmd("GET", k) or b"")
            elif t == "hash":
                parts += red.cmd("HGETALL", k)
            elif t == "zset":
                parts += red.cmd("ZRANGE", k, 0, -1, "WITHSCORES")
            elif t == "set":
                parts += red.cmd("SMEMBERS", k)
            elif t == "list":
                parts += red.cmd("LRANGE", k, 0, -1)
            out[k] = [p if isinstance(p, bytes) else str(p).encode() for p in parts]
    finally:
        red.close()
    return out


def redis_ports(ctx):
    """(label, port, is a primary) of every Redis node holding data: the
    primary and the replica (when it runs), or every node of a Redis
    Cluster (node K its K-th port)."""
    if ctx.cluster_ports:
        nodes = ctx.cluster_nodes()
        check(len(nodes) == len(ctx.cluster_ports), f"CLUSTER NODES lists "
              f"{len(nodes)} nodes, the stack runs {len(ctx.cluster_ports)}")
        return [(f"node {ctx.cluster_ports.index(n['port']) + 1} "
                 f"({'primary' if n['primary'] else 'replica'})", n["port"], n["primary"])
                for n in nodes]
    ports = [("primary", ctx.redis_port, True)]
    rp = ctx.env.get("SHOAL_REPLICA_PORT")
    if rp and rp != "0" and not port_free(int(rp)):
        ports.append(("replica", int(rp), False))
    return ports


@case
def redis_dump_holds_no_session_cookie_or_id(ctx):
    # A live session with a cart, to be sure there is one.
    b, name, _ = signed_up(ctx, "dump")
    check_eq(api_add(b, "dumped", 3, b.api_session()["csrf"]).status, 200, "API add")
    home_signed_in(b, name, "the session made for the dump")
    live = b.jar[ctx.cookie]
    needles = secret_needles()
    check(any(n == live.encode() for _, n in needles),
          "the live session's cookie was not recorded")
    found, nkeys, on_primaries = [], 0, set()
    for label, port, primary in redis_ports(ctx):
        contents = redis_contents(ctx, port)
        nkeys += len(contents)
        if primary:
            on_primaries.update(contents)
        for k, parts in contents.items():
            blob = b"\0".join(parts)
            for what, n in needles:
                if n in blob:
                    found.append(f"{label} {k}: {what}")
    check(nkeys > 0, "no keys in Redis")
    check(record_key(ctx.prefix, session_hash(live)) in on_primaries,
          f"the live session's record is not among the keys of the "
          f"{'primaries' if ctx.cluster_ports else 'primary'}")
    check(not found, f"{len(found)} session secrets in Redis "
          f"({len(SEEN['session cookie'])} cookies checked): {found[:8]}")


@case
def redis_holds_no_plaintext_password(ctx):
    pws = [p for p in SEEN["password"] if len(p) >= 8]
    check(len(pws) >= 10, f"only {len(pws)} passwords recorded")
    found = []
    for label, port, _ in redis_ports(ctx):
        for k, parts in redis_contents(ctx, port).items():
            blob = b"\0".join(parts)
            found += [f"{label} {k}" for p in pws if p.encode() in blob]
    check(not found, f"plaintext passwords in Redis keys: {found[:8]}")


@case
def redis_holds_no_account_hash_or_profile(ctx):
    # Accounts live in PostgreSQL only: after sign-ups, a password change
    # and sign-ins, no key of Redis (primary or replica) holds a password
    # hash, anything Argon2id, a user record, or a profile's data.
    names, pws = [], []
    for i in range(3):
        b, name, pw = signed_up(ctx, "noacct")
        names.append(name)
        pws.append(pw)
    tok = b.token("/account/password")
    check_eq(b.post("/account/password", {"current": pw, "password": new_password(),
                                          "csrf": tok}).status, 200, "password change")
    marks = {n: ("Display-" + uuid.uuid4().hex, uuid.uuid4().hex + "@example.org")
             for n in names}
    for n, (shown, email) in marks.items():
        ctx.db.psql(f"UPDATE profiles SET display_name = '{shown}', email = '{email}' "
                    f"FROM accounts a WHERE a.id = account_id AND a.name = '{n}'")
    for n, p in zip(names[:2], pws[:2]):
        home_signed_in(signed_in(ctx, n, p), n, "a sign-in after the profile was filled")
    hashes = [h for h in ctx.db.psql(
        "SELECT password_hash FROM accounts WHERE name IN (" +
        ", ".join(f"'{n}'" for n in names) + ")").split() if h]
    check_eq(len(hashes), 3, "password hashes in PostgreSQL")
    needles = [("$argon2id$", b"$argon2id$")]
    needles += [("a password hash", h.encode()) for h in hashes]
    needles += [(f"{n}'s hash, base64", h.split("$")[-1].encode()) for n, h in zip(names, hashes)]
    for n, (shown, email) in marks.items():
        needles += [("a display name", shown.encode()), ("an email", email.encode())]
    found, nkeys = [], 0
    for label, port, _ in redis_ports(ctx):
        contents = redis_contents(ctx, port)
        nkeys += len(contents)
        for n in names:
            if f"{ctx.prefix}u:{{{n}}}" in contents:
                found.append(f"{label}: a user record for {n}")
        for k, parts in contents.items():
            blob = b"\0".join(parts)
            found += [f"{label} {k}: {what}" for what, x in needles if x in blob]
    check(nkeys > 0, "no keys in Redis")
    check(not found, f"account data in Redis: {found[:8]}")
    return f"{nkeys} keys read, {len(needles)} needles"


@case
def redis_append_only_file_holds_no_session_id_or_password(ctx):
    files = [p for p in glob.glob(os.path.join(ctx.run_dir, "*", "appendonlydir", "*"))
             if os.path.isfile(p)]
    check(files, f"no AOF files under {ctx.run_dir}/*/appendonlydir")
    needles = secret_needles() + [("a password", p.encode())
                                  for p in SEEN["password"] if len(p) >= 8]
    found = []
    for p in files:
        with open(p, "rb") as f:
            data = f.read()
        found += [f"{os.path.relpath(p, ctx.run_dir)}: {what}"
                  for what, n in needles if n in data]
    check(not found, f"{len(found)} secrets in the append-only files: {found[:8]}")


# ==========================================================================
# 4. no secret in any log (after `stack down`: every line is written)

@after_down
def no_log_line_holds_a_cookie_token_password_or_key(ctx):
    logs = sorted(glob.glob(os.path.join(ctx.run_dir, "*.log")))
    check(logs, f"no logs in {ctx.run_dir}")
    counts = {k: len(v) for k, v in SEEN.items()}
    check(counts["session cookie"] >= 20 and counts["csrf token"] >= 20 and
          counts["password"] >= 10 and counts["csrf cookie"] >= 5,
          f"the suite recorded too few secrets to check: {counts}")
    needles = [(kind, v) for kind, vals in SEEN.items() for v in vals if len(v) >= 8]
    found = []
    nlines = 0
    for p in logs:
        with open(p, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                nlines += 1
                for kind, v in needles:
                    if v in line:
                        found.append(f"{os.path.basename(p)}:{n}: a {kind} "
                                     f"({v[:6]}...)")
    check(nlines > 100, f"only {nlines} log lines in {logs}")
    check(not found, f"{len(found)} secrets in {len(logs)} logs "
          f"({nlines} lines; checked {counts}): {found[:8]}")


@after_down
def worker_logs_of_the_run_are_json_lines_without_sanitizer_reports(ctx):
    """The stack's workers and our own: a sanitizer report, a crash or a
    stray printf during these tests would not be one JSON object a line."""
    files = ctx.log_files() + sorted(glob.glob(os.path.join(ctx.run_dir, "own-*.log")))
    check_logs_are_json(files, least=ctx.servers + 1)


# ==========================================================================
# Redis access control (ACL users of the stack)

def redis_refuses(red, args, what, words=("NOPERM", "no permissions",
                                            "can't access")):
    """Runs a command that must be refused; returns the error text."""
    try:
        got = red.cmd(*args)
    except resp.RedisError as e:
        check(any(w in str(e) for w in words),
              f"{what}: {' '.join(map(str, args))} refused with {e!r}, "
              f"expected one of {words}")
        return str(e)
    raise TestFailure(f"{what} may run {' '.join(map(str, args))}: got {got!r}")


def run_dir_secret(ctx, name):
    with open(os.path.join(ctx.run_dir, name)) as f:
        return f.readline().rstrip("\r\n")


def slot_ranges(fields):
    """The slots of CLUSTER NODES slot fields ("0-5460", "5461"; the
    "[slot->-id]" of a slot on the move left out)."""
    out = set()
    for f in fields:
        if f.startswith("["):
            continue
        first, _, last = f.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


def acl_nodes(ctx):
    """(label, port, is a primary, a key of the prefix it serves) of the
    nodes the ACL test checks: the primary and the replica, one key; or
    every node of a Redis Cluster, each with a key of the slots it (a
    replica: its primary) serves."""
    if not ctx.cluster_ports:
        mine = f"{ctx.prefix}acl-test:{uuid.uuid4().hex}"
        nodes = [("primary", ctx.redis_port, True, mine)]
        rp = ctx.env.get("SHOAL_REPLICA_PORT")
        if rp and rp != "0":
            nodes.append(("replica", int(rp), False, mine))
        return nodes
    listed = ctx.cluster_nodes()
    check_eq(sorted(n["port"] for n in listed), sorted(ctx.cluster_ports),
             "the ports of the nodes CLUSTER NODES lists")
    slots = {n["id"]: slot_ranges(n["slots"]) for n in listed if n["primary"]}
    out = []
    for n in listed:
        served = slots.get(n["id"] if n["primary"] else n["of"]) or set()
        check(served, f"node on {n['port']}: no slots served by it or its primary: {n}")
        while True:
            mine = f"{ctx.prefix}acl-test:{uuid.uuid4().hex}"
            if resp.key_slot(mine) in served:
                break
        role = "primary" if n["primary"] else "replica"
        out.append((f"node {ctx.cluster_ports.index(n['port']) + 1} ({role})",
                    n["port"], n["primary"], mine))
    return out


@case
def redis_acl_default_user_is_off_and_shoal_user_is_confined_to_its_prefix(ctx):
    """Redis runs with the ACL file of deploy/redis/users.acl.in: a client
    without a user name can do nothing, with or without a password; the
    workers' user "shoal" (SHOAL_REDIS_USER, password in
    SHOAL_REDIS_PASSWORD_FILE) reaches only keys under SHOAL_KEY_PREFIX and
    no administrative command; "replica" and "sentinel" read no data. That
    "shoal" may do all the worker needs, every other test shows. On the
    primary and the replica alike; on a Redis Cluster on every node, each
    with a key of the prefix that it (or, for a replica, its primary)
    serves, so that no command with a key is merely redirected."""
    env = ctx.worker_env()
    check_eq(env.get("SHOAL_REDIS_USER"), "shoal", "SHOAL_REDIS_USER in worker.env")
    pw_file = env.get("SHOAL_REDIS_PASSWORD_FILE", "")
    check(pw_file and "SHOAL_REDIS_PASSWORD" not in env,
          "workers get their Redis password in a file, not in the environment")
    check_eq(os.stat(pw_file).st_mode & 0o777, 0o600, f"mode of {pw_file}")
    for name in ("redis-admin-password", "redis-internal-password", "users.acl"):
        p = os.path.join(ctx.run_dir, name)
        check_eq(os.stat(p).st_mode & 0o777, 0o600, f"mode of {p}")
    with open(pw_file) as f:
        shoal_pw = f.readline().rstrip("\r\n")
    internal_pw = run_dir_secret(ctx, "redis-internal-password")
    # The Redis passwords are secrets too: no log may hold them (checked
    # after `stack down`).
    SEEN["password"].update({shoal_pw, internal_pw,
                             run_dir_secret(ctx, "redis-admin-password")})
    outside = f"acl-test-{uuid.uuid4().hex[:8]}:x"
    check(not outside.startswith(ctx.prefix), "the outside key is outside the prefix")
    nodes = acl_nodes(ctx)
    for label, port, primary, mine in nodes:
        # No user name: NOAUTH for every command; AUTH with a password alone
        # (the default user) fails, whatever the password.
        r = resp.Redis(port, timeout=ctx.timeout)
        try:
            redis_refuses(r, ("PING",), f"{label}, no AUTH", ("NOAUTH",))
            redis_refuses(r, ("GET", mine), f"{label}, no AUTH", ("NOAUTH",))
            for pw in (shoal_pw, run_dir_secret(ctx, "redis-admin-password"), "nopass"):
                redis_refuses(r, ("AUTH", pw), f"{label}, the default user",
                              ("WRONGPASS",))
            redis_refuses(r, ("AUTH", "shoal", "not-the-password"),
                          f"{label}, shoal with a wrong password", ("WRONGPASS",))
        finally:
            r.close()

        # The workers' user.
        r = resp.Redis(port, "shoal", shoal_pw, ctx.timeout)
        try:
            check_eq(r.cmd("PING"), "PONG", f"{label}: PING as shoal")
            check(r.cmd("ROLE")[0] in (b"master", b"slave"), f"{label}: ROLE as shoal")
            if ctx.cluster_ports and not primary:
                # A cluster replica serves reads of its primary's slots
                # after READONLY (which "shoal" may send), else redirects.
                check_eq(r.cmd("READONLY"), "OK", f"{label}: READONLY as shoal")
            if primary:
                check_eq(r.cmd("SET", mine, "v", "PX", 60000), "OK",
                         f"{label}: SET in the prefix as shoal")
                check_eq(r.cmd("GET", mine), b"v", f"{label}: GET in the prefix as shoal")
                check_eq(r.cmd("EVAL", "return redis.call('PTTL', KEYS[1]) > 0", 1, mine),
                         1, f"{label}: EVAL in the prefix as shoal")
                check_eq(r.cmd("DEL", mine), 1, f"{label}: DEL in the prefix as shoal")
            denied = [("SET", outside, "v"), ("GET", outside), ("DEL", outside),
                      ("EVAL", "return redis.call('SET', KEYS[1], 'v')", 1, outside),
                      ("EVAL", "return redis.call('GET', 'other:x')", 1, mine),
                      ("FLUSHALL",), ("FLUSHDB",), ("KEYS", "*"),
                      ("CONFIG", "GET", "*"), ("CONFIG", "SET", "appendonly", "no"),
                      ("SCRIPT", "FLUSH"), ("ACL", "LIST"), ("MODULE", "LIST"),
                      ("CLIENT", "LIST"), ("SUBSCRIBE", "x"), ("SWAPDB", "0", "1"),
                      ("REPLICAOF", "NO", "ONE"), ("BGSAVE",), ("SAVE",)]
            for args in denied:
                redis_refuses(r, args, f"{label}: user shoal")
        finally:
            r.close()

        # The internal users read and write nothing.
        for user in ("replica", "sentinel"):
            r = resp.Redis(port, user, internal_pw, ctx.timeout)
            try:
                for args in (("GET", mine), ("SET", mine, "v"), ("KEYS", "*")):
                    redis_refuses(r, args, f"{label}: user {user}")
            finally:
                r.close()

    # Nothing got through, and the ACL is the template's on every node:
    # "shoal" on the prefix only.
    red = ctx.redis()
    try:
        check_eq(red.cmd("EXISTS", outside), 0,
                 f"{outside} on the {'cluster' if ctx.cluster_ports else 'primary'}")
    finally:
        red.close()
    for label, port, _, _ in nodes:
        red = ctx.redis(port)
        try:
            info = red.cmd("ACL", "GETUSER", "shoal")
            d = {info[i].decode(): info[i + 1] for i in range(0, len(info), 2)}
            check_eq(d.get("keys"), f"~{ctx.prefix}*".encode(),
                     f"{label}: key pattern of user shoal")
            check(b"on" in d.get("flags", []),
                  f"{label}: user shoal is not on: {d.get('flags')}")
            default = red.cmd("ACL", "GETUSER", "default")
            dd = {default[i].decode(): default[i + 1] for i in range(0, len(default), 2)}
            check(b"off" in dd.get("flags", []),
                  f"{label}: user default is not off: {dd.get('flags')}")
        finally:
            red.close()
    return f"{len(nodes)} nodes: {', '.join(n[0] for n in nodes)}"
