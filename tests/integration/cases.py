"""
cases.py - the integration tests, in the order they run.

Each test is a function named after the behaviour it guards, run against the
real stack (Redis, spawn-fcgi workers, nginx, CDN origin) that `run` started.
Tests that break something (kill a worker server, stop Redis) come last and
put back what they can.
"""

import base64
import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

from harness import fcgi, metrics, ports, procs, resp
from harness.core import (TestFailure, check, check_eq, check_logs_are_json, excerpt,
                          json_log_lines, new_name)
from harness.runner import Tests, time_limit
from harness.sid import decode_cookie_kind, record_key, session_hash
from harness.stack import OwnWorker
from harness.threads import EveryThread, on_every_thread
from harness.web import (Browser, cookie_is_expiry, fetch, form_tokens, home_anonymous,
                         home_signed_in, is_anonymous_page, parse_set_cookie, signed_in_as)

TESTS = Tests()
case, after_down = TESTS.case, TESTS.after_down


PASSWORD = "correct horse battery"
B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def signed_up(ctx, prefix="it"):
    """A fresh user, signed up and signed in: (browser, name)."""
    b = ctx.browser()
    name = new_name(prefix)
    b.signup(name, PASSWORD)
    check(ctx.cookie in b.jar, f"signup set no {ctx.cookie} cookie: {b.history}")
    return b, name


def served_pid(r):
    sb = r.served_by
    check(sb and ":" in sb, f"no X-Served-By HOST:PID header: {r.describe()}")
    host, _, pid = sb.rpartition(":")
    check(host and pid.isdigit(), f"X-Served-By {sb!r} is not HOST:PID")
    return int(pid)


def api_add(b, item, qty, token):
    return b.post("/api/cart/add", {"item": item, "qty": str(qty)},
                  headers={"X-CSRF-Token": token})


def session_keys(ctx):
    r = ctx.redis()
    try:
        return r.scan(f"{ctx.prefix}s:*")
    finally:
        r.close()


# --------------------------------------------------------------------------
# the stack answers

def front_log_lines(ctx):
    path = ctx.path(f"{ctx.front}-access.log")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        return [l for l in f.read().splitlines() if l.strip()]


@case
def one_request_id_in_the_response_the_worker_log_and_the_front_log(ctx):
    """Every answer carries X-Request-Id; the worker's log line of that
    request and the front's access log line carry the same id, with the
    client's address and the bytes sent. A client's own X-Request-Id is not
    taken (no trusted proxy here)."""
    sizes = ctx.log_sizes()
    path = f"/no-such-page-{new_name('rid')}"
    r = fetch(ctx.http_port, "GET", path, headers={"X-Request-Id": "chosen-by-client"})
    check_eq(r.status, 404, "status")
    rid = r.headers.get("X-Request-Id") or ""
    check(re.fullmatch(r"[0-9a-f]{32}", rid), f"X-Request-Id {rid!r} is not 32 hex digits")
    # lighttpd writes its buffered access log in the seconds divisible by 4,
    # when its once-a-second timer falls in one: up to 8 s after a request.
    deadline = time.monotonic() + 12
    mine = front = []
    while time.monotonic() < deadline and not (mine and front):
        mine = [e for e in ctx.log_events_since(sizes) if e.get("path") == path]
        front = [l for l in front_log_lines(ctx) if rid in l]
        time.sleep(0.1)
    check(len(mine) == 1, f"{len(mine)} worker log lines for {path}")
    e = mine[0]
    check_eq(e.get("id"), rid, "the worker's log line's id")
    check_eq(e.get("client"), "127.0.0.1", "the worker's log line's client")
    check(isinstance(e.get("bytes"), int) and e["bytes"] >= len(r.body),
          f"bytes {e.get('bytes')!r} for a body of {len(r.body)}")
    check(len(front) == 1, f"{len(front)} lines of the {ctx.front} access log name {rid}")
    j = json.loads(front[0])
    check_eq((j.get("path"), j.get("status")), (path, 404), f"{ctx.front}'s log line")


@case
def healthz_answers_200(ctx):
    r = ctx.browser().get("/healthz")
    check_eq(r.status, 200, "GET /healthz status")


@case
def readyz_answers_200_while_redis_is_up(ctx):
    r = ctx.browser().get("/readyz")
    check_eq(r.status, 200, "GET /readyz status")


@case
def every_response_names_a_worker_of_the_stack(ctx):
    b = ctx.browser()
    pids = set(ctx.initial_pids_flat())
    for path in ("/", "/healthz", "/login", "/signup", "/api/session",
                 "/no-such-page"):
        r = b.get(path)
        pid = served_pid(r)
        check(pid in pids, f"GET {path}: X-Served-By {r.served_by} names pid "
              f"{pid}, not one of the workers {sorted(pids)}")


@case
def unknown_path_is_404(ctx):
    r = ctx.browser().get("/no-such-page")
    check_eq(r.status, 404, "GET /no-such-page status")


@case
def page_assets_are_served_by_the_cdn_origin(ctx):
    r = ctx.browser().get("/")
    hrefs = re.findall(r'<link\b[^>]*\bhref="([^"]+\.css[^"]*)"', r.body)
    check(hrefs, f"GET /: no stylesheet link in {excerpt(r.body)}")
    urls = hrefs + re.findall(r'<img\b[^>]*\bsrc="([^"]+)"', r.body)
    for url in urls:
        m = re.match(r"^(?:https?:)?//[^/]*:(\d+)(/.*)$", url)
        check(m and int(m.group(1)) == ctx.cdn_port,
              f"asset {url!r} is not on the CDN origin port {ctx.cdn_port}")
        a = Browser(ctx.cdn_port, ctx.timeout).get(m.group(2))
        check_eq(a.status, 200, f"GET {url} from the CDN origin")
        check("immutable" in (a.header("Cache-Control") or ""),
              f"{url}: Cache-Control {a.header('Cache-Control')!r} is not "
              "immutable")
    css = Browser(ctx.cdn_port, ctx.timeout).get(
        re.match(r"^(?:https?:)?//[^/]*(/.*)$", hrefs[0]).group(1))
    check("text/css" in (css.header("Content-Type") or ""),
          f"stylesheet Content-Type {css.header('Content-Type')!r}")


# --------------------------------------------------------------------------
# anonymous visitors

@case
def anonymous_home_has_sign_in_link(ctx):
    r = ctx.browser().get("/")
    check_eq(r.status, 200, "GET / status")
    check(re.search(r'<a\b[^>]*href="[^"]*/login"[^>]*>[^<]*Sign in', r.body),
          f"GET /: no 'Sign in' link to /login in {excerpt(r.body)}")
    check("Signed in as" not in r.body, "anonymous page says 'Signed in as'")


@case
def anonymous_forms_set_double_submit_cookie(ctx):
    for path in ("/login", "/signup", "/api/session"):
        b = ctx.browser()
        r = b.get(path)
        check_eq(r.status, 200, f"GET {path} status")
        check(ctx.csrf_cookie in b.jar,
              f"GET {path} set no {ctx.csrf_cookie} cookie: {r.set_cookies()}")
        check(ctx.cookie not in b.jar,
              f"GET {path} gave an anonymous visitor a session cookie")
        if path == "/api/session":
            tok = r.json().get("csrf")
        else:
            toks = form_tokens(r.body)
            check(toks, f"GET {path}: no hidden csrf input")
            tok = toks[0]
        check(isinstance(tok, str) and tok and B64URL.match(tok),
              f"GET {path}: csrf token {tok!r} is not base64url")
        check(tok != b.jar[ctx.csrf_cookie],
              "the form token is the cookie nonce itself, not bound to it")


@case
def anonymous_visits_cost_redis_nothing(ctx):
    b = ctx.browser()

    def visit():
        out = []
        for path in ("/", "/login", "/signup", "/api/session", "/cart",
                     "/healthz"):
            out.append(b.get(path))
        return out

    _, cmds = resp.commands_during(ctx.redis, visit)
    check_eq(cmds, [], "Redis commands sent for anonymous GETs")


# --------------------------------------------------------------------------
# sign up and sign in

@case
def signup_creates_user_signs_in_and_redirects_home(ctx):
    b = ctx.browser()
    name = new_name("su")
    r = b.signup(name, PASSWORD)
    check_eq(r.location_path(), "/", "POST /signup Location")
    check(ctx.cookie in b.jar, f"no {ctx.cookie} cookie after signup: "
          f"{r.set_cookies()}")
    value = b.jar[ctx.cookie]
    check_eq(len(value), 87, "session cookie length")
    check(B64URL.match(value), f"session cookie {value!r} is not base64url")
    attrs = b.attrs[ctx.cookie]
    check(attrs.get("httponly") is True, f"cookie not HttpOnly: {attrs}")
    check(str(attrs.get("samesite", "")).lower() == "lax",
          f"cookie not SameSite=Lax: {attrs}")
    check_eq(attrs.get("path"), "/", "cookie Path")
    home_signed_in(b, name)
    # The account is a row in PostgreSQL, with its empty profile; in Redis
    # there is no user record.
    row = ctx.db.psql(f"SELECT a.generation, p.display_name, p.email, "
                      f"a.password_hash LIKE '$argon2id$%' FROM accounts a "
                      f"JOIN profiles p ON p.account_id = a.id WHERE a.name = '{name}'")
    check_eq(row.strip(), "1|||t", f"the account {name} and its profile in PostgreSQL "
             f"(generation|display_name|email|argon2id)")
    red = ctx.redis()
    try:
        check_eq(red.cmd("EXISTS", f"{ctx.prefix}u:{{{name}}}"), 0,
                 f"a user record {ctx.prefix}u:{{{name}}} in Redis")
    finally:
        red.close()


@case
def session_cookie_never_appears_in_redis(ctx):
    before = session_keys(ctx)
    b, name = signed_up(ctx, "leak")
    new = session_keys(ctx) - before
    check_eq(len(new), 1, f"new session keys after signup ({sorted(new)})")
    key = new.pop()
    check(re.match(rf"^{re.escape(ctx.prefix)}s:\{{[A-Za-z0-9_-]+\}}$", key),
          f"session key {key!r} is not PREFIX s:{{HASH}}")
    value = b.jar[ctx.cookie]
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    check_eq(len(raw), 65, "decoded cookie length (key id, ID, MAC)")
    secret_id = raw[1:33]
    red = ctx.redis()
    try:
        for k in red.scan("*"):
            check(value not in k and secret_id.hex() not in k,
                  f"Redis key {k!r} holds the session ID")
            if red.cmd("TYPE", k) == "string":
                v = red.cmd("GET", k) or b""
                check(value.encode() not in v and secret_id not in v,
                      f"Redis value of {k!r} holds the session ID")
        ttl = red.cmd("PTTL", key)
        check(ttl > 0, f"session key {key} has no idle TTL (PTTL {ttl})")
    finally:
        red.close()


@case
def signup_with_taken_name_is_409(ctx):
    _, name = signed_up(ctx, "taken")
    b2 = ctx.browser()
    b2.signup(name, PASSWORD + "x", expect=409)
    check(ctx.cookie not in b2.jar, "a refused signup issued a session cookie")
    # The refused signup changed nothing about the existing account.
    ctx.browser().login(name, PASSWORD + "x", expect=401)
    ctx.browser().login(name, PASSWORD)


@case
def signup_with_invalid_name_is_400(ctx):
    for name in ("ab", "a" * 33, "Upper", "has space", "semi;colon", "dot.ted",
                 "", "caf\u00e9", "tab\tname", "<script>"):
        b = ctx.browser()
        r = b.signup(name, PASSWORD, expect=None)
        check(r.status == 400, f"signup {name!r}: expected 400, got {r.describe()}")
        check(ctx.cookie not in b.jar, f"signup {name!r} issued a session cookie")


@case
def signup_accepts_names_of_3_and_32_allowed_characters(ctx):
    tag = new_name("")[1:]
    for name in (tag[:3], ("x-_" + tag + "0123456789abcdef")[:32]):
        b = ctx.browser()
        b.signup(name, PASSWORD)
        home_signed_in(b, name)


@case
def signup_with_invalid_password_is_400(ctx):
    for pw in ("", "1234567", "p" * 129):
        b = ctx.browser()
        r = b.signup(new_name("pw"), pw, expect=None)
        check(r.status == 400,
              f"signup with a {len(pw)}-byte password: expected 400, got {r.describe()}")
    for pw in ("12345678", "p" * 128):
        b = ctx.browser()
        b.signup(new_name("pw"), pw)


@case
def login_with_wrong_password_is_401_and_shows_the_form(ctx):
    _, name = signed_up(ctx, "wrong")
    for user, pw in ((name, PASSWORD + "!"), (new_name("nobody"), PASSWORD)):
        b = ctx.browser()
        r = b.login(user, pw, expect=None)
        check(r.status == 401, f"login {user!r} with a wrong password: "
              f"expected 401, got {r.describe()}")
        check(form_tokens(r.body),
              f"401 page carries no form with a csrf token: {excerpt(r.body)}")
        check('name="password"' in r.body, "401 page has no password field")
        check(ctx.cookie not in b.jar, "a failed login issued a session cookie")
        home_anonymous(b, "a failed login")


@case
def login_signs_in_and_redirects_home(ctx):
    _, name = signed_up(ctx, "login")
    b = ctx.browser()
    r = b.login(name, PASSWORD)
    check_eq(r.location_path(), "/", "POST /login Location")
    home_signed_in(b, name)


@case
def login_issues_a_new_session_id(ctx):
    b, name = signed_up(ctx, "fix")
    first = b.jar[ctx.cookie]
    other = ctx.browser()
    other.login(name, PASSWORD)
    check(other.jar[ctx.cookie] != first,
          "a login from another browser got the signup session ID")
    # Signing in again from the browser that holds a session (fixation):
    b.login(name, PASSWORD)
    check(b.jar[ctx.cookie] != first,
          "login kept the session ID the browser already had")
    home_signed_in(b, name)
    home_signed_in(other, name)


# --------------------------------------------------------------------------
# CSRF

@case
def post_without_csrf_is_403(ctx):
    b, name = signed_up(ctx, "csrf")
    anon = ctx.browser()
    anon.get("/login")          # has the double-submit cookie, not the token
    cases = [
        (anon, "/login", {"username": name, "password": PASSWORD}),
        (anon, "/signup", {"username": new_name("c"), "password": PASSWORD}),
        (b, "/cart/add", {"item": "apple", "qty": "1"}),
        (b, "/cart/remove", {"item": "apple"}),
        (b, "/logout", {}),
        (b, "/api/cart/add", {"item": "apple", "qty": "1"}),
    ]
    for who, path, form in cases:
        r = who.post(path, form)
        check(r.status == 403, f"POST {path} without a csrf token: "
              f"expected 403, got {r.describe()}")
    check(anon.jar.get(ctx.cookie) is None, "login without csrf signed in")
    home_signed_in(b, name)
    check_eq(b.api_session()["cart"], {}, "cart after refused adds")


@case
def post_with_a_token_not_bound_to_the_visitor_is_403(ctx):
    # Anonymous: a valid token whose nonce cookie is someone else's, or gone.
    x, y = ctx.browser(), ctx.browser()
    tok_x = x.token("/login")
    y.get("/login")
    _, name = signed_up(ctx, "bind")
    r = y.post("/login", {"username": name, "password": PASSWORD, "csrf": tok_x})
    check(r.status == 403, f"login with another visitor's token: {r.describe()}")
    z = x.copy()
    z.jar.pop(ctx.csrf_cookie)
    r = z.post("/login", {"username": name, "password": PASSWORD, "csrf": tok_x})
    check(r.status == 403, f"login with a token but no {ctx.csrf_cookie} "
          f"cookie: {r.describe()}")
    r = x.post("/login", {"username": name, "password": PASSWORD,
                          "csrf": tok_x[:-4] + ("AAAA" if tok_x[-4:] != "AAAA" else "BBBB")})
    check(r.status == 403, f"login with a mangled token: {r.describe()}")
    # Signed in: the token of one session does not work for another.
    a, _ = signed_up(ctx, "ta")
    c, _ = signed_up(ctx, "tc")
    tok_a = a.api_session()["csrf"]
    r = c.post("/cart/add", {"item": "pear", "qty": "1", "csrf": tok_a})
    check(r.status == 403, f"cart add with another session's token: {r.describe()}")
    r = api_add(c, "pear", 1, tok_a)
    check(r.status == 403, f"API add with another session's token: {r.describe()}")
    # An anonymous token is no signed-in token.
    r = c.post("/cart/add", {"item": "pear", "qty": "1", "csrf": tok_x})
    check(r.status == 403, f"cart add with an anonymous token: {r.describe()}")
    check_eq(c.api_session()["cart"], {}, "cart after refused adds")


@case
def csrf_token_changes_at_login(ctx):
    b, name = signed_up(ctx, "rot")
    t1 = b.api_session()["csrf"]
    b.login(name, PASSWORD)
    t2 = b.api_session()["csrf"]
    check(t1 != t2, "the signed-in CSRF token survived a new login")
    r = b.post("/cart/add", {"item": "fig", "qty": "1", "csrf": t1})
    check(r.status == 403, f"cart add with the previous session's token: {r.describe()}")


# --------------------------------------------------------------------------
# cart and JSON API

@case
def cart_add_and_remove_through_forms(ctx):
    b, name = signed_up(ctx, "cart")
    tok = b.token("/cart")
    r = b.post("/cart/add", {"item": "apple", "qty": "2", "csrf": tok})
    check(r.status == 303, f"POST /cart/add: expected 303, got {r.describe()}")
    check_eq(r.location_path(), "/cart", "POST /cart/add Location")
    r = b.post("/cart/add", {"item": "banana", "qty": "3", "csrf": tok})
    check_eq(r.status, 303, "second POST /cart/add status")
    r = b.post("/cart/add", {"item": "apple", "qty": "1", "csrf": tok})
    check_eq(r.status, 303, "third POST /cart/add status")
    page = b.get("/cart")
    check_eq(page.status, 200, "GET /cart status")
    check("apple" in page.body and "banana" in page.body,
          f"/cart does not list apple and banana: {excerpt(page.body)}")
    check_eq(b.api_session()["cart"], {"apple": 3, "banana": 3}, "cart")
    tok = form_tokens(page.body)[0]
    r = b.post("/cart/remove", {"item": "apple", "csrf": tok})
    check(r.status == 303, f"POST /cart/remove: expected 303, got {r.describe()}")
    check_eq(r.location_path(), "/cart", "POST /cart/remove Location")
    check_eq(b.api_session()["cart"], {"banana": 3}, "cart after remove")
    page = b.get("/cart")
    check("apple" not in page.body, "/cart still lists a removed item")


@case
def cart_items_page_shows_one_line_by_its_path(ctx):
    """GET /cart/items/{item}: a route parameter, percent-decoded once by the
    worker behind either front ("%2541" is the item "%41", never "A")."""
    b, _ = signed_up(ctx, "items")
    tok = b.token("/cart")
    for item, qty in (("apple", 2), ("green apple", 3), ("100%", 1),
                      ("A", 5), ("a+b", 4)):
        r = b.post("/cart/add", {"item": item, "qty": str(qty), "csrf": tok})
        check_eq(r.status, 303, f"POST /cart/add {item!r} status")
    for path, qty in (("/cart/items/apple", 2), ("/cart/items/green%20apple", 3),
                      ("/cart/items/100%25", 1), ("/cart/items/%41", 5),
                      ("/cart/items/a+b", 4), ("/cart/items/a%2Bb", 4)):
        r = b.get(path)
        check_eq(r.status, 200, f"GET {path} status")
        check(f'<span id="qty">{qty}</span>' in r.body,
              f"GET {path}: quantity {qty} not shown: {excerpt(r.body, 600)}")
    for path in ("/cart/items/nothere", "/cart/items/%2541"):
        r = b.get(path)
        check_eq(r.status, 404, f"GET {path} status")
        check_eq(r.body, "404 Not Found: no such item in the cart\n", f"GET {path} body")
    for path in ("/cart/items/", "/cart/items", "/cart/items/apple/",
                 "/cart/items/a/b"):
        r = b.get(path)
        check_eq(r.status, 404, f"GET {path} status")
        check_eq(r.body, "404 Not Found: no such page\n", f"GET {path} body")
    for path in ("/cart/items/%zz", "/cart/items/a%2Fb", "/cart/items/a%00"):
        r = b.get(path)
        check_eq(r.status, 400, f"GET {path} status")
    r = b.post("/cart/items/apple", {"csrf": tok})
    check_eq(r.status, 405, "POST /cart/items/apple status")
    r = ctx.browser().get("/cart/items/apple")
    check_eq(r.status, 404, "GET /cart/items/apple without a session (an empty cart)")


@case
def home_shows_cart_count(ctx):
    b, name = signed_up(ctx, "count")
    tok = b.api_session()["csrf"]
    r = api_add(b, "kiwi", 7, tok)
    check_eq(r.status, 200, "POST /api/cart/add status")
    r = api_add(b, "plum", 4, tok)
    check_eq(r.status, 200, "POST /api/cart/add status")
    home = home_signed_in(b, name)
    text = re.sub(r"<[^>]+>", " ", home.body)
    check(re.search(r"\b11\b", text),
          f"GET /: the cart count 11 (7 kiwi + 4 plum) is not on the page: "
          f"{excerpt(text, 600)}")


@case
def cart_page_escapes_item_names(ctx):
    b, _ = signed_up(ctx, "esc")
    baseline = b.get("/cart").body.count("<script>")
    item = '<script>"&\''
    tok = b.token("/cart")
    r = b.post("/cart/add", {"item": item, "qty": "1", "csrf": tok})
    check(r.status == 303, f"POST /cart/add of {item!r}: {r.describe()}")
    check_eq(b.api_session()["cart"], {item: 1}, "cart (JSON keeps the raw name)")
    page = b.get("/cart")
    check("&lt;script&gt;" in page.body,
          f"/cart does not show the escaped name: {excerpt(page.body, 800)}")
    check_eq(page.body.count("<script>"), baseline, "raw <script> tags on /cart")
    check(re.search(r"&quot;|&#34;|&#x22;", page.body),
          "/cart does not escape the double quote of the item name")


@case
def api_session_has_user_cart_csrf_and_expires_in(ctx):
    anon = ctx.browser()
    r = anon.get("/api/session")
    check_eq(r.status, 200, "anonymous GET /api/session status")
    check("json" in (r.header("Content-Type") or ""),
          f"Content-Type {r.header('Content-Type')!r}")
    j = r.json()
    check_eq(set(j), {"user", "cart", "csrf", "expires_in"}, "anonymous keys")
    check_eq(j["user"], None, "anonymous user")
    check_eq(j["cart"], {}, "anonymous cart")
    check(isinstance(j["csrf"], str) and j["csrf"], "anonymous csrf")

    b, name = signed_up(ctx, "api")
    j = b.api_session()
    check_eq(set(j), {"user", "cart", "csrf", "expires_in"}, "signed-in keys")
    check_eq(j["user"], name, "user")
    check_eq(j["cart"], {}, "cart of a new user")
    check(isinstance(j["csrf"], str) and B64URL.match(j["csrf"]),
          f"csrf {j['csrf']!r}")
    check(isinstance(j["expires_in"], int) and 0 < j["expires_in"] <= 10**8,
          f"expires_in {j['expires_in']!r} is not a positive number of seconds")
    r = api_add(b, "melon", 2, j["csrf"])
    check(r.status == 200, f"POST /api/cart/add: expected 200, got {r.describe()}")
    check("json" in (r.header("Content-Type") or ""),
          f"API add Content-Type {r.header('Content-Type')!r}")
    j2 = r.json()
    check_eq(set(j2), {"user", "cart", "csrf", "expires_in"}, "API add answer keys")
    check_eq(j2["user"], name, "API add answer user")
    check_eq(j2["cart"], {"melon": 2}, "API add answer cart")
    check_eq(b.api_session()["cart"], {"melon": 2}, "cart after API add")


@case
def api_cart_add_rejects_bad_quantities(ctx):
    b, _ = signed_up(ctx, "qty")
    tok = b.api_session()["csrf"]
    for qty in ("0", "-1", "abc", "1e3", "99999999999999999999"):
        r = api_add(b, "nut", qty, tok)
        check(400 <= r.status < 500 and r.status != 403,
              f"API add qty={qty!r}: expected a 4xx, got {r.describe()}")
    check_eq(b.api_session()["cart"], {}, "cart after refused adds")


# --------------------------------------------------------------------------
# what a request costs Redis

@case
def authenticated_home_costs_one_redis_round_trip(ctx):
    b, name = signed_up(ctx, "rtt")
    for _ in range(40):         # give every worker thread its connection
        home_signed_in(b, name)
    measured, fresh = 0, 0
    while measured < 5:
        red = ctx.redis()
        try:
            lists = red.on_every_primary("CLIENT", "LIST") \
                if isinstance(red, resp.ClusterRedis) else [red.cmd("CLIENT", "LIST")]
            clients = {m.group(1) for text in lists
                       for m in re.finditer(r"addr=(\S+)", text.decode())}
            before = get_calls(red)
            r, cmds = resp.commands_during(ctx.redis, lambda: b.get("/"))
            after = get_calls(red)
        finally:
            red.close()
        check(r.status == 200 and signed_in_as(r.body, name),
              f"GET /: {r.describe()}")
        trips = resp.round_trips(cmds)
        if any(c.client not in clients for c in trips) and fresh < 10:
            fresh += 1          # a worker thread connecting: not this request's cost
            continue
        check(len(trips) == 1, f"signed-in GET / sent {len(trips)} commands "
              f"to Redis, expected exactly 1: {trips}")
        check(trips[0].name == "get",
              f"the one command is {trips[0]!r}, expected a plain GET")
        check_eq(after - before, 1, "INFO commandstats get calls delta")
        measured += 1


def get_calls(red):
    return resp.cmdstat_calls(red.info("commandstats")).get("get", 0)


@case
def tampered_cookie_is_anonymous_and_costs_redis_nothing(ctx):
    b, name = signed_up(ctx, "tamper")
    good = b.jar[ctx.cookie]
    variants = []
    for i in (0, 1, 43, 60, 85):        # key id, ID, MAC
        c = good[i]
        flip = "A" if c != "A" else "B"
        variants.append(good[:i] + flip + good[i + 1:])
    for bad in variants:
        t = ctx.browser()
        t.jar = {ctx.cookie: bad}
        r, cmds = resp.commands_during(ctx.redis, lambda: t.get("/"))
        check_eq(cmds, [], "Redis commands for a tampered cookie")
        check(r.status == 200 and is_anonymous_page(r.body),
              f"tampered cookie: expected the anonymous page, got {r.describe()}")
    home_signed_in(b, name)


# --------------------------------------------------------------------------
# concurrency and balancing

@case
def concurrent_api_cart_adds_of_one_session_all_count(ctx):
    b, name = signed_up(ctx, "conc")
    tok = b.api_session()["csrf"]
    n = 40
    barrier = threading.Barrier(n)
    statuses = [None] * n

    def add(i):
        try:
            c = b.copy()
            barrier.wait(timeout=30)
            r = c.post("/api/cart/add", {"item": "widget", "qty": "1"},
                       headers={"X-CSRF-Token": tok}, keep_cookies=False)
            statuses[i] = r.status
        except Exception as e:  # reported below as a missing status
            statuses[i] = repr(e)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(ctx.timeout * 3)
    bad = [s for s in statuses if s != 200]
    check(not bad, f"{len(bad)} of {n} concurrent adds did not answer 200: {bad}")
    check_eq(b.api_session()["cart"], {"widget": n}, "cart after concurrent adds")


@case
def one_user_is_served_by_at_least_3_workers(ctx):
    b, name = signed_up(ctx, "rr")
    seen = set()
    for _ in range(30):
        r = home_signed_in(b, name)
        seen.add(r.served_by)
    check(len(seen) >= 3, f"30 requests reached only {len(seen)} workers: {seen}")


# --------------------------------------------------------------------------
# logout

@case
def logout_expires_cookie_and_deletes_session(ctx):
    before = session_keys(ctx)
    b, name = signed_up(ctx, "out")
    new = session_keys(ctx) - before
    check_eq(len(new), 1, "session keys the signup created")
    key = new.pop()
    r = b.logout()
    check_eq(r.location_path(), "/", "POST /logout Location")
    expired = [l for l in r.set_cookies() if l.startswith(ctx.cookie + "=")]
    check(expired, f"logout sent no Set-Cookie for {ctx.cookie}: {r.set_cookies()}")
    check(cookie_is_expiry(parse_set_cookie(expired[-1])[2]),
          f"logout's Set-Cookie does not expire the cookie: {expired[-1]!r}")
    check(ctx.cookie not in b.jar, f"logout did not expire the cookie: {expired}")
    red = ctx.redis()
    try:
        check_eq(red.cmd("EXISTS", key), 0, f"session key {key} after logout")
    finally:
        red.close()
    home_anonymous(b, "no cookie after logout")


@case
def stale_cookie_after_logout_is_anonymous(ctx):
    b, name = signed_up(ctx, "stale")
    old = b.jar[ctx.cookie]
    b.logout()
    replay = ctx.browser()
    replay.jar = {ctx.cookie: old}
    home_anonymous(replay, "the cookie of a logged-out session")
    j = replay.api_session()
    check_eq(j["user"], None, "/api/session user with a stale cookie")
    tok = j["csrf"]
    r = replay.post("/cart/add", {"item": "ghost", "qty": "1", "csrf": tok})
    check(r.status in (303, 403), f"cart add with a stale cookie: {r.describe()}")
    # The add may start a guest session, under a new ID: never the old one.
    red = ctx.redis()
    try:
        check_eq(red.cmd("EXISTS", record_key(ctx.prefix, session_hash(old))), 0,
                 "the logged-out session's record after a cart add with its cookie")
    finally:
        red.close()
    if ctx.cookie in replay.jar:
        check(replay.jar[ctx.cookie] != old, "the stale cookie was kept")
        check_eq(decode_cookie_kind(replay.jar[ctx.cookie])[0], "guest",
                 "the session a stale cookie's cart add starts")
        check_eq(replay.api_session()["user"], None, "user after the add")


# --------------------------------------------------------------------------
# bad input: a 4xx, never a crash

@case
def body_over_max_body_is_413(ctx):
    b = ctx.browser()
    tok = b.token("/login")
    limit = ctx.max_body
    body = "csrf=" + tok + "&username=x&pad=" + "a" * limit
    r = b.request("POST", "/login", body=body,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    check(r.status == 413, f"POST /login with a {len(body)}-byte body: "
          f"expected 413, got {r.describe()}")
    # At the limit it is read and judged on its content.
    pad = limit - len("csrf=" + tok + "&username=x&password=wrongwrong&pad=")
    body = "csrf=" + tok + "&username=x&password=wrongwrong&pad=" + "a" * pad
    check_eq(len(body), limit, "boundary body length")
    r = b.request("POST", "/login", body=body,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    check(r.status == 401, f"POST /login with a body of exactly {limit} bytes: "
          f"expected 401 (wrong credentials), got {r.describe()}")


@case
def cookie_header_over_4096_bytes_is_400(ctx):
    b, name = signed_up(ctx, "bigck")
    sid = b.jar[ctx.cookie]
    base = f"{ctx.cookie}={sid}; pad="
    over = base + "p" * (4097 - len(base))
    check_eq(len(over), 4097, "oversized Cookie header length")
    r = b.get("/", send_cookies=False, headers={"Cookie": over})
    check(r.status == 400, f"GET / with a 4097-byte Cookie header: "
          f"expected 400, got {r.describe()}")
    check(r.served_by, "the 400 for a big cookie should come from the worker")
    at = base + "p" * (4096 - len(base))
    r = b.get("/", send_cookies=False, headers={"Cookie": at})
    check(r.status == 200 and signed_in_as(r.body, name),
          f"GET / with a Cookie header of exactly 4096 bytes: expected the "
          f"signed-in page, got {r.describe()}")


@case
def header_over_8k_is_400_from_nginx(ctx):
    # lighttpd refuses the same header with 431 (Request Header Fields Too
    # Large), the more precise answer; what matters is that the front does.
    want = 431 if ctx.front == "lighttpd" else 400
    b = ctx.browser()
    r = b.get("/", headers={"X-Big": "h" * 9000})
    check(r.status == want, f"GET / with a 9000-byte header: expected {want}, "
          f"got {r.describe()}")
    check(r.served_by is None, f"the {want} came from a worker ({r.served_by}), "
          f"not from {ctx.front}")


@case
def malformed_percent_encoding_in_form_is_400(ctx):
    anon = ctx.browser()
    tok = anon.token("/login")
    b, _ = signed_up(ctx, "pct")
    stok = b.api_session()["csrf"]
    ct = {"Content-Type": "application/x-www-form-urlencoded"}
    for who, path, body in (
            (anon, "/login", f"csrf={tok}&username=%zz&password=x"),
            (anon, "/login", f"csrf={tok}&username=abc&password=%4"),
            (b, "/cart/add", f"csrf={stok}&item=%zz&qty=1"),
            (b, "/cart/add", f"csrf={stok}&qty=1&item=a%4"),
            (b, "/cart/add", f"csrf={stok}&item=a&qty=1&x=%"),
            (b, "/api/cart/add", "item=%g1&qty=1")):
        hdrs = dict(ct)
        if path.startswith("/api/"):
            hdrs["X-CSRF-Token"] = stok
        r = who.request("POST", path, body=body, headers=hdrs)
        check(r.status == 400, f"POST {path} body {body[-24:]!r}: expected 400, "
              f"got {r.describe()}")
    check_eq(b.api_session()["cart"], {}, "cart after malformed adds")


@case
def malformed_percent_encoding_in_query_is_400(ctx):
    b = ctx.browser()
    for path in ("/?a=%zz", "/?a=%4", "/login?next=%", "/api/session?x=%0g"):
        r = b.get(path)
        check(r.status == 400, f"GET {path}: expected 400, got {r.describe()}")
    r = b.get("/?a=%41&b=c+d")
    check_eq(r.status, 200, "GET /?a=%41&b=c+d (well-formed) status")


@case
def forged_cookie_is_anonymous(ctx):
    forged = base64.urlsafe_b64encode(os.urandom(65)).decode().rstrip("=")
    check_eq(len(forged), 87, "forged cookie length")
    for value in (forged, "A" * 87, "!" * 87, "", "x"):
        b = ctx.browser()
        b.jar = {ctx.cookie: value}
        r, cmds = resp.commands_during(ctx.redis, lambda: b.get("/"))
        check(r.status == 200 and is_anonymous_page(r.body),
              f"forged cookie {value[:12]!r}: expected the anonymous page, "
              f"got {r.describe()}")
        check_eq(cmds, [], f"Redis commands for forged cookie {value[:12]!r}")


@case
def truncated_cookie_is_anonymous(ctx):
    b, name = signed_up(ctx, "trunc")
    good = b.jar[ctx.cookie]
    for cut in (86, 60, 44, 1):
        t = ctx.browser()
        t.jar = {ctx.cookie: good[:cut]}
        r, cmds = resp.commands_during(ctx.redis, lambda: t.get("/"))
        check(r.status == 200 and is_anonymous_page(r.body),
              f"cookie cut to {cut} characters: expected the anonymous page, "
              f"got {r.describe()}")
        check_eq(cmds, [], f"Redis commands for a cookie cut to {cut}")
    t = ctx.browser()
    t.jar = {ctx.cookie: good + "A"}
    home_anonymous(t, "a cookie with one character too many")
    home_signed_in(b, name)


@case
def undecodable_session_record_is_anonymous_deleted_and_logged(ctx):
    other, other_name = signed_up(ctx, "bystander")
    before = session_keys(ctx)
    victim, name = signed_up(ctx, "victim")
    new = session_keys(ctx) - before
    check_eq(len(new), 1, f"session keys the victim's signup created ({new})")
    key = new.pop()
    red = ctx.redis()
    try:
        check_eq(red.cmd("SET", key, b"\xff" * 16 + b"not a protobuf record"),
                 "OK", "SET garbage")
        sizes = ctx.log_sizes()
        home_anonymous(victim, "a session record that does not decode")
        deadline = time.monotonic() + 2 * ctx.scale
        while red.cmd("EXISTS", key) and time.monotonic() < deadline:
            time.sleep(0.05)
        check_eq(red.cmd("EXISTS", key), 0, "the undecodable record is deleted")
    finally:
        red.close()
    time.sleep(0.2)
    lines = ctx.log_lines_since(sizes)
    notes = [l for l in lines if not is_plain_request_line(l)]
    check(any(re.search(r"decod|corrupt|malformed|invalid|garbage|unpack|parse",
                        l, re.I) for l in notes),
          f"no log line about the undecodable record; new lines: {lines[:8]}")
    home_signed_in(other, other_name)
    j = victim.api_session()
    check_eq(j["user"], None, "/api/session user of the broken session")


def is_plain_request_line(line):
    try:
        j = json.loads(line)
    except ValueError:
        return False
    return isinstance(j, dict) and "status" in j and "path" in j and \
        not any(k in j for k in ("msg", "message", "error", "reason"))


@case
def workers_survive_bad_input(ctx):
    dead = [(k, p) for k, pids in ctx.initial_pids.items() for p in pids
            if p not in ctx.killed and not procs.alive(p)]
    check(not dead, f"worker processes died: {dead}")
    for k, pids in ctx.initial_pids.items():
        check_eq(sorted(ctx.server_pids(k)), sorted(pids),
                 f"pids in server-{k}.pid")


# --------------------------------------------------------------------------
# a password hash on one thread, pages on its other connections

@case
def pages_on_a_hashing_threads_connections_wait_for_no_hash(ctx):
    """A thread about to hash a password (a sign-in: about a tenth of a
    second) first hands the other kept-alive connections it holds to its
    sibling: pages the web server sends on them meanwhile are answered at
    once, not after the hash. Which thread holds what is arranged: the
    sibling is held on a connection that has sent only its BEGIN_REQUEST
    while the three connections the test uses are opened, so one thread
    takes all three."""
    w = OwnWorker(ctx, "handover-worker", {"SHOAL_THREADS": "2"})
    conns = []

    def kept():
        conns.append(fcgi.Connection(w.port, ctx.timeout, keep=True))
        return conns[-1]

    def page():
        return fcgi.params("GET", "/", ctx.http_port)

    try:
        r = w.request("GET", "/login")
        check_eq(r.status, 200, "GET /login")
        nonce = {n: v for n, v, _ in map(parse_set_cookie, r.set_cookies())}.get(ctx.csrf_cookie)
        check(nonce and form_tokens(r.body), "GET /login: no CSRF pair")
        held = kept()
        held.begin()
        time.sleep(0.2 * ctx.scale)         # taken: that thread waits for the rest
        signin, *others = kept(), kept(), kept()
        for k in [signin] + others:
            check_eq(k.request(page()).status, 200, "a page on the other thread")
        check_eq(held.request(page()).status, 200, "the held connection's page")

        body = urllib.parse.urlencode({"username": new_name("nobody"), "password": "wrong horse",
                                       "csrf": form_tokens(r.body)[0]}).encode()
        t0 = time.monotonic()
        signin.send(fcgi.begin(True) + fcgi.encode_params(fcgi.params(
            "POST", "/login", ctx.http_port, f"{ctx.csrf_cookie}={nonce}", body))
            + fcgi.stream(fcgi.STDIN, body))
        time.sleep(0.02 * ctx.scale)        # the hash has begun
        pages = []
        for k in others:
            t = time.monotonic()
            check_eq(k.request(page()).status, 200, "a page while the sign-in hashes")
            pages.append(time.monotonic() - t)
        r = fcgi.Response(signin.read())
        took = time.monotonic() - t0
        check_eq(r.status, 401, "the sign-in of an unknown name")
        check(max(pages) < took / 2,
              f"pages on the hashing thread's connections took {max(pages) * 1000:.0f} ms "
              f"(the sign-in {took * 1000:.0f} ms): they waited for the hash")
        return (f"sign-in {took * 1000:.0f} ms; pages on its thread's other connections "
                f"{', '.join(f'{p * 1000:.1f}' for p in pages)} ms")
    finally:
        for k in conns:
            k.close()
        w.stop()


@case
def changes_to_one_session_from_many_threads_share_its_writes(ctx):
    """Sixteen clients add to one cart at once through one worker process of
    eight threads. A thread already writing the session takes the changes
    the others hand it and writes them together: the process writes the
    record fewer times than it is changed (counted in Redis: the loads are
    plain GETs, each EVALSHA is a write), and every
    add answered 200 is in the cart, once. So that the changes meet, the
    Redis node holding the session is stopped (SIGSTOP) for 0.2 s while the
    first adds arrive: their loads are answered together, and the threads
    reach their changes together."""
    w = OwnWorker(ctx, "combine-worker", {"SHOAL_THREADS": "8"})
    clients, adds = 16, 10
    try:
        b, _ = signed_up(ctx, "combine")
        tok, sid = b.api_session()["csrf"], b.jar[ctx.cookie]
        red = ctx.redis()
        if ctx.cluster_ports:
            port = red.slots[resp.key_slot(record_key(ctx.prefix, session_hash(sid)))]
            node = [ctx.cluster_pids()[ctx.cluster_ports.index(port)]]
        else:
            node = [ctx.redis_pid()]
        try:
            before = resp.cmdstat_calls(red.info("commandstats")).get("evalsha", 0)
            start, answered, lock = threading.Barrier(clients), [], threading.Lock()

            def client(k):
                c = fcgi.Connection(w.port, ctx.timeout, keep=True)
                try:
                    start.wait()
                    for _ in range(adds):
                        body = f"item=c{k}&qty=1".encode()
                        r = c.request(fcgi.params("POST", "/api/cart/add", ctx.http_port,
                                                  f"{ctx.cookie}={sid}", body,
                                                  {"X-CSRF-Token": tok}), body)
                        with lock:
                            answered.append(r.status)
                finally:
                    c.close()
            ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
            ctx.signal(node, signal.SIGSTOP)
            try:
                for t in ts:
                    t.start()
                time.sleep(0.2)
            finally:
                ctx.signal(node, signal.SIGCONT)
            for t in ts:
                t.join(60 * ctx.scale)
            calls = resp.cmdstat_calls(red.info("commandstats")).get("evalsha", 0) - before
        finally:
            red.close()
        ok = answered.count(200)
        check(len(answered) == clients * adds, f"{len(answered)} of {clients * adds} adds answered")
        cart = b.api_session()["cart"]
        check_eq(sum(cart.values()), ok, f"items in the cart {cart} against the adds answered 200")
        writes = calls
        check(writes < ok, f"{writes} writes for {ok} changes: no change was written with another")
        return f"{ok} of {len(answered)} adds answered 200 and in the cart; {writes} writes"
    finally:
        w.stop()


class BatchWorker(OwnWorker):
    """An own worker of `threads` threads whose metrics the test reads:
    redis_counts() is (batches run, writes sent) so far."""

    def __init__(self, ctx, name, threads):
        self.metrics_port = ports.Ports().one()
        mdir = ctx.path(f"metrics/{name}")
        os.makedirs(mdir, exist_ok=True)
        super().__init__(ctx, name, {
            "SHOAL_THREADS": str(threads),
            "SHOAL_METRICS_LISTEN": f"127.0.0.1:{self.metrics_port}",
            "SHOAL_METRICS_DIR": mdir})

    def redis_counts(self):
        _, _, samples = metrics.scrape(f"http://127.0.0.1:{self.metrics_port}/metrics")
        return (metrics.total(samples, "shoal_redis_round_trips_total"),
                metrics.total(samples, "shoal_redis_writes_total"))


def pages_at_once(ctx, w, sessions, node, rounds=1, first_alone=False):
    """Every (name, sid) in sessions asks w (a BatchWorker) for GET / at
    once, from a thread each, rounds times, while the Redis node `node` (a
    list of pids) is stopped for the first 0.3 s: the threads' session
    loads reach the worker's shared connection together. With first_alone,
    the first session asks 0.1 s before the others: its load goes out
    alone, and the others' queue behind it for the next write. Returns
    [(name, status, body)], and the batches the worker ran and the writes
    it sent to Redis meanwhile."""
    rest = sessions[1:] if first_alone else sessions
    start, out, lock = threading.Barrier(len(rest)), [], threading.Lock()

    def client(name, sid, barrier):
        c = fcgi.Connection(w.port, ctx.timeout, keep=True)
        try:
            if barrier:
                start.wait()
            for _ in range(rounds):
                r = c.request(fcgi.params("GET", "/", ctx.http_port, f"{ctx.cookie}={sid}"))
                with lock:
                    out.append((name, r.status, r.body))
        finally:
            c.close()
    batches0, writes0 = w.redis_counts()
    ts = [threading.Thread(target=client, args=(name, sid, True)) for name, sid in rest]
    ctx.signal(node, signal.SIGSTOP)
    try:
        if first_alone:
            ts.insert(0, threading.Thread(target=client, args=(*sessions[0], False)))
            ts[0].start()
            time.sleep(0.1)
        for t in ts[1 if first_alone else 0:]:
            t.start()
        time.sleep(0.3)
    finally:
        ctx.signal(node, signal.SIGCONT)
    for t in ts:
        t.join(60 * ctx.scale)
    batches1, writes1 = w.redis_counts()
    return out, int(batches1 - batches0), int(writes1 - writes0)


def users_of_a_batch(ctx, n):
    """n users signed up: [(name, sid)]."""
    out = []
    for _ in range(n):
        b, name = signed_up(ctx, "batch")
        out.append((name, b.jar[ctx.cookie]))
    return out


def redis_node_of(ctx, red, sid):
    if ctx.cluster_ports:
        port = red.slots[resp.key_slot(record_key(ctx.prefix, session_hash(sid)))]
        return [ctx.cluster_pids()[ctx.cluster_ports.index(port)]]
    return [ctx.redis_pid()]


@case
def pages_of_many_sessions_on_one_connection_each_show_their_own_user(ctx):
    """Twelve users, each with a session of their own, ask one worker process
    of eight threads for their page at once, ten times each. The threads
    share one Redis connection (SHOAL_REDIS_BATCH, the default) and send
    the session loads they have ready together, and a thread's load
    carries those of the requests waiting on its other ready connections,
    so replies come back in batches: every page must still show its own
    user, and the worker must have sent fewer writes than it served pages
    (with a connection per thread and nothing loaded ahead, every page's
    load is a write of its own). On a cluster the threads keep a
    connection per node, and only the first holds."""
    users = users_of_a_batch(ctx, 12)
    w = BatchWorker(ctx, "batch-worker", 8)
    try:
        red = ctx.redis()
        try:
            node = redis_node_of(ctx, red, users[0][1])
        finally:
            red.close()
        out, batches, writes = pages_at_once(ctx, w, users, node, rounds=10)
        check_eq(len(out), 120, "pages answered")
        wrong = [(name, status) for name, status, body in out
                 if status != 200 or not signed_in_as(body, name)]
        check(not wrong, f"{len(wrong)} of 120 pages not 200 with their own user: {wrong[:5]}")
        if ctx.cluster_ports:
            return f"120 pages, each its own user's (cluster: {batches} batches, {writes} writes)"
        check(writes < 120, f"{writes} writes to Redis for 120 pages ({batches} batches): "
              "no write carried more than one page's load")
        return f"120 pages, each its own user's; {batches} batches in {writes} writes"
    finally:
        w.stop()


@case
def a_redis_error_in_a_shared_write_fails_only_its_own_request(ctx):
    """Nine sessions ask one worker process of nine threads for a page
    while Redis is stopped: the first load goes out alone, the eight others
    queue and go out together in the next write. One of those eight has
    had its record replaced by a list, so its load is answered with a
    WRONGTYPE error in the middle of that write: that request alone fails
    (500), the others are answered 200 with their own user, and the
    connection serves on. When the threads did not meet as arranged (the
    eight not in one write), the scenario runs again, up to three times."""
    users = users_of_a_batch(ctx, 9)
    bad_name, bad_sid = users[4]
    w = BatchWorker(ctx, "batch-error-worker", 9)
    red = ctx.redis()
    key = record_key(ctx.prefix, session_hash(bad_sid))
    try:
        node = redis_node_of(ctx, red, users[0][1])
        red.cmd("DEL", key)
        red.cmd("RPUSH", key, "not a record")
        red.cmd("PEXPIRE", key, "60000")
        for attempt in range(1, 4):
            out, batches, writes = pages_at_once(ctx, w, users, node, first_alone=True)
            check_eq(len(out), 9, "pages answered")
            for name, status, body in out:
                if name == bad_name:
                    check_eq(status, 500, f"{name}'s page, whose record is a list")
                else:
                    check(status == 200 and signed_in_as(body, name),
                          f"{name}'s page beside the failed one: {status}")
            if ctx.cluster_ports or writes == 2:
                break
        after = fcgi.request(w.port, "GET", "/", cookies={ctx.cookie: users[0][1]},
                             timeout=ctx.timeout)
        check(after.status == 200 and signed_in_as(after.body, users[0][0]),
              f"the next page on the same worker: {after.status}")
        if not ctx.cluster_ports:
            check_eq(writes, 2, f"writes for {batches} batches (the eight queued "
                     "loads in one write), in each of 3 attempts")
        return (f"1 request failed with 500, 8 answered 200 ({batches} batches in "
                f"{writes} writes, attempt {attempt})")
    finally:
        red.cmd("DEL", key)
        red.close()
        w.stop()


@case
def a_thread_loads_the_sessions_waiting_on_its_connections_in_one_write(ctx):
    """One worker thread holds eight kept-alive connections, each a session
    of its own. The worker is stopped (SIGSTOP) while the eight send their
    next page, so the thread finds all eight ready at once: the first
    request's session load carries the seven others', each a batch of its
    own, in one write, and the pages after it take their record from what
    came back. One of the eight has had its record replaced by a list:
    its load fails alone (500), every other page shows its own user, and
    the thread wrote to Redis at most twice for the eight (the failed one
    may load again on its own). Redis ran each load once (that one at most
    twice). The thread may wake to some of the eight before it sees the
    rest: then it runs again, up to three times."""
    users = users_of_a_batch(ctx, 8)
    bad_name, bad_sid = users[4]
    w = BatchWorker(ctx, "ahead-worker", 1)
    red = ctx.redis()
    key = record_key(ctx.prefix, session_hash(bad_sid))
    conns = [fcgi.Connection(w.port, ctx.timeout, keep=True) for _ in users]
    try:
        def page(c, sid):
            return c.request(fcgi.params("GET", "/", ctx.http_port, f"{ctx.cookie}={sid}"))
        for c, (name, sid) in zip(conns, users):
            r = page(c, sid)
            check(r.status == 200 and signed_in_as(r.body, name), f"{name}'s first page: {r.status}")
        red.cmd("DEL", key)
        red.cmd("RPUSH", key, "not a record")
        red.cmd("PEXPIRE", key, "60000")
        for attempt in range(1, 4):
            calls0 = resp.cmdstat_calls(red.info("commandstats")).get("get", 0)
            batches0, writes0 = w.redis_counts()
            # Every request is in its socket before the worker runs again.
            ctx.signal([w.proc.pid], signal.SIGSTOP)
            try:
                for c, (name, sid) in zip(conns, users):
                    c.send_request(fcgi.params("GET", "/", ctx.http_port, f"{ctx.cookie}={sid}"))
            finally:
                ctx.signal([w.proc.pid], signal.SIGCONT)
            out = {name: fcgi.Response(c.read()) for c, (name, _) in zip(conns, users)}
            batches1, writes1 = w.redis_counts()
            calls = resp.cmdstat_calls(red.info("commandstats")).get("get", 0) - calls0
            check_eq(len(out), 8, "pages answered")
            for name, r in out.items():
                if name == bad_name:
                    check_eq(r.status, 500, f"{name}'s page, whose record is a list")
                else:
                    check(r.status == 200 and signed_in_as(r.body, name),
                          f"{name}'s page, loaded with the others: {r.status} {r.body[:300]!r}")
            writes = int(writes1 - writes0)
            if ctx.cluster_ports:
                return f"8 pages, 7 their own user's, 1 500 (cluster: {writes} writes)"
            # The thread may wake to some of the eight before the rest are
            # ready in its eyes: then the first load carries only those.
            # Without loads ahead every attempt takes 8 writes or more.
            if writes <= 2 or attempt == 3:
                break
        check(writes <= 2, f"{writes} writes to Redis for 8 pages ready at once, "
              f"in each of {attempt} attempts")
        check(calls in (8, 9), f"Redis ran {calls} loads for 8 pages")
        return (f"8 pages ready at once: 7 their own user's, 1 500; {writes} writes, "
                f"{int(batches1 - batches0)} round trips, {calls} loads in Redis "
                f"(attempt {attempt})")
    finally:
        for c in conns:
            c.close()
        red.cmd("DEL", key)
        red.close()
        w.stop()


# --------------------------------------------------------------------------
# SIGTERM on a worker of our own (spawn-fcgi -n: we are its parent)

def exit_status_after_sigterm(ctx, w, who="worker"):
    """The exit status of w, which was sent SIGTERM; fails after 15 s."""
    try:
        return w.proc.wait(timeout=15 * ctx.scale)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"{who} still running 15 s after SIGTERM")


@case
def sigterm_with_a_drain_delay_serves_on_and_readyz_says_stopping(ctx):
    """SHOAL_DRAIN_DELAY_MS: after SIGTERM the worker serves as usual for
    that long (new connections and kept-alive ones), with /readyz at 503,
    so a balancer that learns its servers by name stops sending before
    any connection is closed; then it drains and exits 0."""
    w = OwnWorker(ctx, "delay-worker", {"SHOAL_DRAIN_DELAY_MS": "2000"}, spawn=True)
    try:
        kept = fcgi.Connection(w.port, ctx.timeout, keep=True)
        check_eq(kept.request(fcgi.params("GET", "/healthz", ctx.http_port)).status, 200,
                 "before SIGTERM, kept-alive connection")
        check_eq(w.request("GET", "/readyz").status, 200, "/readyz before SIGTERM")
        t0 = time.monotonic()
        w.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        r = w.request("GET", "/readyz")
        check(r.status == 503 and "stopping" in r.body,
              f"/readyz after SIGTERM: {r.status} {excerpt(r.body)!r}")
        check_eq(w.request("GET", "/healthz").status, 200, "a new connection after SIGTERM")
        check_eq(kept.request(fcgi.params("GET", "/healthz", ctx.http_port)).status, 200,
                 "the kept-alive connection after SIGTERM")
        check(time.monotonic() - t0 < 1.8, "the checks above took the whole delay")
        kept.close()
        rc = exit_status_after_sigterm(ctx, w, "worker")
        waited = time.monotonic() - t0
        check_eq(rc, 0, "exit status")
        check(waited >= 2.0, f"exited {waited:.2f} s after SIGTERM, before the delay")
        return f"served for the delay, exited 0 after {waited:.1f} s"
    finally:
        w.stop()


@case
def sigterm_worker_finishes_request_in_flight_and_exits_0(ctx):
    w = OwnWorker(ctx, "sigterm-worker", spawn=True)
    try:
        # Warm up: the worker answers at all.
        check_eq(w.request("GET", "/healthz").status, 200, "own worker: GET /healthz status")

        body = b"username=someone&password=secret-ish"
        s1 = fcgi.Connection(w.port, ctx.timeout, keep=False)
        s1.send(fcgi.begin() + fcgi.encode_params(fcgi.params(
            "POST", "/login", ctx.http_port, body=body)) + fcgi.record(fcgi.STDIN, body[:7]))
        time.sleep(0.5 * ctx.scale)      # the worker is now reading the body
        w.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5 * ctx.scale)
        check(w.proc.poll() is None,
              f"worker exited ({w.proc.returncode}) with a request in flight")
        # A request arriving after SIGTERM is not served: the worker has let
        # go of its listening socket, so the connection is refused (and a
        # balancer tries another server).
        try:
            s2 = fcgi.Connection(w.port, ctx.timeout, keep=False)
            s2.send(fcgi.begin() + fcgi.encode_params(fcgi.params(
                "GET", "/healthz", ctx.http_port)) + fcgi.stream(fcgi.STDIN, b""))
        except ConnectionRefusedError:
            s2 = None
        s1.send(fcgi.record(fcgi.STDIN, body[7:]) + fcgi.record(fcgi.STDIN, b""))
        out = s1.read()
        s1.close()
        check_eq(fcgi.status_of(out), 403, "status of the in-flight POST /login (no csrf)")
        rc = exit_status_after_sigterm(ctx, w, "worker")
        check_eq(rc, 0, "worker exit status after SIGTERM")
        late = None
        if s2 is not None:
            s2.sock.settimeout(2)
            try:
                late = s2.read()
            except (TestFailure, OSError):
                pass            # closed or reset without an answer
            finally:
                s2.close()
        check(late is None, f"a request sent after SIGTERM was served: "
              f"{excerpt(late)!r}")
    finally:
        w.stop()


def closed_by_peer(conn, wait):
    """True when the worker closed conn (EOF or reset) within wait seconds."""
    conn.sock.settimeout(wait)
    try:
        return conn.sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except OSError:
        return False


@case
def sigterm_answers_on_idle_kept_alive_connections_until_quiet(ctx):
    """A balancer may be sending a request on an idle kept-alive connection
    at the moment a draining worker closes it, and a POST sent so gets a
    502 (nginx never resends one). So after SIGTERM the worker refuses new
    connections at once, answers what comes on its kept-alive ones (closing
    each after its response), and closes the idle rest only once no
    request has come for half a second; holding none, it exits at once."""
    w = OwnWorker(ctx, "quiet-worker", spawn=True)
    try:
        kept = [fcgi.Connection(w.port, ctx.timeout, keep=True) for _ in range(3)]
        for i, c in enumerate(kept):
            check_eq(c.request(fcgi.params("GET", "/healthz", ctx.http_port)).status,
                     200, f"kept-alive connection {i} before SIGTERM")
        t0 = time.monotonic()
        w.proc.send_signal(signal.SIGTERM)
        # Past the 50 ms a thread used to wait before closing its idle
        # connections, well inside the half second.
        time.sleep(0.15)
        try:
            fcgi.Connection(w.port, 1.0, keep=False).close()
            refused = False
        except OSError:
            refused = True
        check(refused, "a new connection 0.15 s after SIGTERM was accepted")
        body = b"username=someone&password=secret-ish"
        r = kept[0].request(fcgi.params("POST", "/login", ctx.http_port, body=body), body)
        check_eq(r.status, 403, "a POST on an idle kept-alive connection "
                 "0.15 s after SIGTERM (no CSRF token: 403)")
        check(closed_by_peer(kept[0], 2.0),
              "the connection stayed open after its response while draining")
        kept[0].close()          # as nginx does: libfcgi waits for it
        time.sleep(0.3)          # quiet again, but for less than half a second
        check_eq(kept[1].request(fcgi.params("GET", "/healthz", ctx.http_port)).status,
                 200, "a GET on the second idle connection 0.3 s after the POST")
        check(closed_by_peer(kept[1], 2.0),
              "the second connection stayed open after its response")
        kept[1].close()
        # The third is never used again: closed once the worker is quiet.
        check(closed_by_peer(kept[2], 5.0 * ctx.scale),
              "the idle connection was not closed within 5 s")
        rc = exit_status_after_sigterm(ctx, w, "worker")
        took = time.monotonic() - t0
        check_eq(rc, 0, "exit status")
        check(took >= 0.45 + 0.3, f"exited {took:.2f} s after SIGTERM: before "
              f"half a second without requests")
        for c in kept:
            c.close()

    finally:
        w.stop()
    # Holding no connection, a worker does not wait out the half second.
    w = OwnWorker(ctx, "quiet-worker-2", spawn=True)
    try:
        check_eq(w.request("GET", "/healthz").status, 200, "second worker answers")
        t1 = time.monotonic()
        w.proc.send_signal(signal.SIGTERM)
        rc = exit_status_after_sigterm(ctx, w, "second worker")
        idle_took = time.monotonic() - t1
        check_eq(rc, 0, "second worker's exit status")
        check(idle_took < 0.4 * ctx.scale, f"a worker holding no connection took "
              f"{idle_took:.2f} s to exit")
    finally:
        w.stop()
    return (f"answered on kept-alive connections 0.15 s and 0.45 s after "
            f"SIGTERM, exited after {took:.2f} s; holding none, {idle_took:.2f} s")


# --------------------------------------------------------------------------
# SHOAL_* names that are no setting

def unknown_setting_warnings(paths):
    """The "not a setting" warnings in worker logs: [(file, msg)]."""
    out = []
    for p in paths:
        try:
            with open(p, encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
        except FileNotFoundError:
            continue
        for line in lines:
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if isinstance(j, dict) and j.get("level") == "warn" and \
                    "not a setting" in str(j.get("msg", "")):
                out.append((os.path.basename(p), j["msg"]))
    return out


@case
def worker_names_a_misspelt_setting_once_and_serves(ctx):
    """A worker started with SHOAL_TRHEADS (and the stack's own settings)
    logs one warning naming it, none for anything else, and serves."""
    w = OwnWorker(ctx, "misspelt-worker", {"SHOAL_TRHEADS": "8"})
    try:
        check_eq(w.request("GET", "/healthz").status, 200, "own worker: GET /healthz status")
        log = ctx.path("misspelt-worker.log")
        deadline = time.monotonic() + 5 * ctx.scale
        while not unknown_setting_warnings([log]) and time.monotonic() < deadline:
            time.sleep(0.05)
        got = [m for _, m in unknown_setting_warnings([log])]
        check(len(got) == 1 and got[0].startswith("SHOAL_TRHEADS: "),
              f"warnings of a worker with SHOAL_TRHEADS set: {got}")
    finally:
        w.stop()


# --------------------------------------------------------------------------
# how Redis listens: SHOAL_REDIS_TLS

def redis_config(red, name):
    got = red.cmd("CONFIG", "GET", name)
    check(len(got) == 2, f"CONFIG GET {name}: {got!r}")
    return got[1].decode()


def plain_resp_reply(port, timeout):
    """What a plain RESP PING on port gets back (b"" when the server closes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        data = b""
        try:
            while len(data) < 64:
                chunk = s.recv(64)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return data
    finally:
        s.close()


def tls_ping(ctx, port, with_cert):
    """AUTH as admin and PING over TLS straight to Redis, checking its
    certificate against the stack's CA for 127.0.0.1; with or without the
    client certificate the stack made. Returns the reply, or raises."""
    import ssl
    tls = os.path.join(ctx.run_dir, "tls")
    sc = ssl.create_default_context(cafile=os.path.join(tls, "ca.crt"))
    if with_cert:
        sc.load_cert_chain(os.path.join(tls, "client.crt"),
                           os.path.join(tls, "client.key"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=ctx.timeout)
    s = sc.wrap_socket(raw, server_hostname="127.0.0.1")
    try:
        pw = ctx.redis_password.encode()
        s.sendall(b"*3\r\n$4\r\nAUTH\r\n$5\r\nadmin\r\n$%d\r\n%s\r\n*1\r\n$4\r\nPING\r\n"
                  % (len(pw), pw))
        data = b""
        while data.count(b"\r\n") < 2:
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        s.close()


@case
def redis_listens_on_tls_only_when_the_stack_runs_tls(ctx):
    """SHOAL_REDIS_TLS=1: the primary and the replica have no plain port
    (port 0) and listen on their TLS ports only; there a plain RESP PING gets
    no reply, a TLS client without the stack's client certificate is
    refused, and one with it (checking Redis's certificate against the
    stack's CA) is answered. Every request of this suite reached Redis
    through the stack's stunnel client. Without TLS: a plain port and no
    tls-port."""
    nodes = [("primary", ctx.redis_port, ctx.redis_tls_port)]
    rp = ctx.replica_port
    if rp:
        nodes.append(("replica", rp, ctx.replica_tls_port))
    for label, port, tls_port in nodes:
        red = ctx.redis(port)
        try:
            listen, tls_listen = redis_config(red, "port"), redis_config(red, "tls-port")
            auth_clients = redis_config(red, "tls-auth-clients")
        finally:
            red.close()
        if not ctx.tls:
            check_eq((listen, tls_listen), (str(port), "0"), f"{label}: port, tls-port")
            continue
        check_eq((listen, tls_listen), ("0", str(tls_port)), f"{label}: port, tls-port")
        check_eq(auth_clients, "yes", f"{label}: tls-auth-clients")
        got = plain_resp_reply(tls_port, 2 * ctx.scale)
        check(got[:1] not in (b"+", b"-", b"$", b"*", b":"),
              f"{label}: a plain RESP PING on TLS port {tls_port} got a RESP reply {got!r}")
        check(b"PONG" not in got, f"{label}: plain PING answered on the TLS port: {got!r}")
        try:
            got = tls_ping(ctx, tls_port, with_cert=False)
        except OSError:         # ssl.SSLError is an OSError
            got = b""
        check(b"PONG" not in got,
              f"{label}: TLS without a client certificate answered: {got!r}")
        got = tls_ping(ctx, tls_port, with_cert=True)
        check_eq(got, b"+OK\r\n+PONG\r\n", f"{label}: AUTH and PING over TLS")
    if not ctx.tls:
        return
    # Each Redis process listens on its TLS port and nothing else; the
    # ports the workers use belong to the stunnel client.
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True,
                         timeout=10).stdout
    listening = {}              # pid -> ports
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 6:
            for pid in re.findall(r"pid=(\d+),", line):
                listening.setdefault(int(pid), set()).add(int(f[3].rsplit(":", 1)[1]))
    tunnel = ctx.pids("stunnel")
    check(tunnel and procs.alive(tunnel[0]), "the stunnel client is not running")
    for label, port, tls_port in nodes:
        pids = ctx.pids("redis" if label == "primary" else "replica")
        check(pids, f"no pid file for the {label}")
        check_eq(listening.get(pids[0]), {tls_port}, f"ports the {label} (pid {pids[0]}) listens on")
        check(port in listening.get(tunnel[0], set()),
              f"port {port} is not the stunnel client's: {listening.get(tunnel[0])}")


# Guest sessions, remember me, flash messages: tests/integration/cases_platform.py
import cases_platform  # noqa: E402,F401  (registers its tests here, in order)


# --------------------------------------------------------------------------
# destructive: Redis restarted under every worker thread, a dead worker
# server, Redis down

# The worker waits STORE_RECONNECT_MS (250 ms) after a dropped connection
# before it connects again, by design; a request in that window may still get
# 503 after Redis is back. SETTLE is longer than that.
SETTLE = 1.0


class ThreadUser:
    """A user that talks to one worker thread only, over the kept-alive
    connection that thread holds (harness.threads). Each of the four things
    it does after a Redis restart is one request, prepared before the
    restart so that none depends on another: sign up (a new name, with an
    anonymous CSRF pair), sign in (as its own user), the sessions page (of
    a session it has) and sign out (of another session it has)."""

    def __init__(self, ctx, c):
        self.ctx, self.c = ctx, c
        self.name = new_name("thr")
        self.nonce, self.tok = None, {}
        self.listing = self.leaving = self.leaving_tok = None

    def send(self, method, path, sid=None, form=None):
        cookie = (f"{self.ctx.cookie}={sid}" if sid else
                  f"{self.ctx.csrf_cookie}={self.nonce}" if self.nonce else None)
        body = urllib.parse.urlencode(form).encode() if form is not None else b""
        return self.c.request(method, path, cookie, body)

    def must(self, r, want, what):
        check(r.status == want, f"thread {self.c.worker}/{self.c.thread}: {what} "
              f"before the restart: expected {want}, got {r.describe()}")
        return r

    def new_session(self, path, name):
        r = self.send("POST", path, form={"username": name, "password": PASSWORD,
                                          "csrf": self.tok[path]})
        return r, r.cookies().get(self.ctx.cookie)

    def prepare(self, sid):
        """Before a restart: the sessions it needs. First a signed-in GET /
        as sid, a read, which a worker sends again on a fresh connection
        when it finds its connection closed (by an earlier restart): the
        thread's connection is then one to the Redis about to restart."""
        self.must(self.send("GET", "/", sid), 200, "signed-in GET /")
        if self.nonce is None:
            for path in ("/signup", "/login"):
                r = self.must(self.send("GET", path), 200, f"GET {path}")
                self.nonce = self.nonce or r.cookies()[self.ctx.csrf_cookie]
                self.tok[path] = form_tokens(r.body)[0]
            r, self.listing = self.new_session("/signup", self.name)
            self.must(r, 303, "sign-up")
        if self.listing is None:
            r, self.listing = self.new_session("/login", self.name)
            self.must(r, 303, "sign-in")
        if self.leaving is None:
            r, self.leaving = self.new_session("/login", self.name)
            self.must(r, 303, "sign-in")
        r = self.must(self.send("GET", "/api/session", self.leaving), 200, "GET /api/session")
        self.leaving_tok = json.loads(r.body)["csrf"]

    def sign_up(self):
        r, sid = self.new_session("/signup", new_name("thr"))
        return r, 303, sid

    def sign_in(self):
        r, sid = self.new_session("/login", self.name)
        return r, 303, sid

    def sessions_page(self):
        return self.send("GET", "/account/sessions", self.listing), 200, None

    def sign_out(self):
        return self.send("POST", "/logout", self.leaving, {"csrf": self.leaving_tok}), 303, None

    def act(self, order):
        """The four, in `order`; [(what, status, as expected)]. The sessions
        made become the ones the next round lists and signs out."""
        out, made = [], {}
        for what in order:
            try:
                r, want, sid = getattr(self, what.replace(" ", "_"))()
                out.append((what, r.status, r.status == want))
                made[what] = sid
            except (OSError, TestFailure) as e:
                out.append((what, repr(e), False))
        self.listing, self.leaving = made.get("sign in"), made.get("sign up")
        return out


@case
@time_limit(180)        # about 260 Argon2id hashes on two cores
def redis_restarted_every_worker_thread_signs_up_in_out_and_lists_sessions_without_503(ctx):
    """After Redis restarts, every worker thread of every worker process
    signs a user up, signs one in, shows a sessions page and signs one out,
    and none of it answers 503. A thread's connection to the Redis that was
    stopped is closed now; the first command on it finds out, and must get
    a fresh connection rather than fail the request. Nothing reaches the
    workers while Redis is away, so no thread has noticed beforehand. Four
    restarts: after each, a different one of the four is every thread's
    first Redis request. The threads are reached past the front, one
    kept-alive connection each; the workers' logs prove that every thread
    took one."""
    ops = ["sign up", "sign in", "sessions page", "sign out"]
    b, _ = signed_up(ctx, "every")
    lines, bad, answers = [], [], []
    with EveryThread(ctx) as every, \
            concurrent.futures.ThreadPoolExecutor(len(every.conns)) as pool:
        users = [ThreadUser(ctx, c) for c in every.conns]
        lines.append(every.describe())
        for k in range(len(ops)):
            order = ops[k:] + ops[:k]
            try:
                list(pool.map(lambda u: u.prepare(b.jar[ctx.cookie]), users))
            except TestFailure as e:
                raise TestFailure("\n".join(lines + [str(e)]))
            ctx.stop_redis()
            ctx.start_redis()
            time.sleep(SETTLE)
            per_user = list(pool.map(lambda u: u.act(order), users))
            if any(not ok for acts in per_user for _, _, ok in acts):
                time.sleep(SETTLE)      # a thread that failed waits to reconnect
            answers += [a for acts in per_user for a in acts]
            bad += [(u.c.worker, u.c.thread, what, st) for u, acts in zip(users, per_user)
                    for what, st, ok in acts if not ok]
            firsts = [acts[0][1] for acts in per_user]
            by_op = {op: sum(1 for acts in per_user for w, st, _ in acts
                             if w == op and st == 503) for op in ops}
            lines.append(f"restart {k + 1}, {order[0]} first: {firsts.count(503)} of "
                         f"{len(firsts)} threads answered 503 to it; 503s per "
                         f"operation: {by_op}")
    n503 = sum(1 for _, st, _ in answers if st == 503)
    lines.insert(1, f"{len(answers)} answers after {len(ops)} Redis restarts, "
                 f"{n503} of them 503")
    if bad:
        lines.append(f"unexpected answers (pid, thread, what, status), e.g. {bad[:6]}")
        raise TestFailure("\n".join(lines))
    return "\n".join(lines)


@case
def user_stays_signed_in_when_a_worker_server_is_killed(ctx):
    b, name = signed_up(ctx, "kill")
    home_signed_in(b, name)
    victims = ctx.server_pids(1)
    check(victims, "server-1.pid lists no pids")
    for pid in victims:
        ctx.killed.add(pid)
        os.kill(pid, signal.SIGKILL)
    for pid in victims:
        check(procs.wait_dead(pid, 5), f"pid {pid} still alive after SIGKILL")
    # Its listening socket closes with its last thread; until then the
    # kernel still queues connections for it that nobody will answer.
    port = ctx.server_port(1)
    deadline = time.monotonic() + 5
    while ports.accept_queue(port) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    check(ports.accept_queue(port) is None, f"port {port} still listening 5 s after SIGKILL")
    for i in range(20):
        r = home_signed_in(b, name)
        check(served_pid(r) not in victims,
              f"request {i} served by killed pid {r.served_by}")


@case
def redis_stopped_signed_in_request_gets_fast_503_with_retry_after(ctx):
    b, name = signed_up(ctx, "down")
    home_signed_in(b, name)
    with ctx.redis_stopped():
        for i in range(4):
            r = b.get("/")
            check(r.status == 503, f"signed-in GET / with Redis stopped "
                  f"(request {i}): expected 503, got {r.describe()}")
            check(r.header("Retry-After"), f"503 without Retry-After: "
                  f"{dict(r.headers)}")
            check(r.elapsed < 1.5, f"the 503 took {r.elapsed:.2f} s (limit 1.5 s)")
    wait_signed_in(ctx, b, name)
    time.sleep(SETTLE)
    for i in range(20):
        home_signed_in(b, name)
    every = on_every_thread(ctx, "GET", "/", b.cookie_header())
    bad = [(k, st) for k, st in every if st != 200]
    check(not bad, f"{SETTLE} s after Redis came back, {len(bad)} of "
          f"{len(every)} worker threads answered non-200: {bad}")


@case
def redis_stopped_readyz_is_503_and_anonymous_pages_still_work(ctx):
    with ctx.redis_stopped():
        r = ctx.browser().get("/readyz")
        check(r.status == 503, f"GET /readyz with Redis stopped: {r.describe()}")
        check(r.elapsed < 1.5, f"/readyz took {r.elapsed:.2f} s (limit 1.5 s)")
        r = ctx.browser().get("/healthz")
        check_eq(r.status, 200, "GET /healthz with Redis stopped")
        r = ctx.browser().get("/")
        check(r.status == 200 and is_anonymous_page(r.body),
              f"anonymous GET / with Redis stopped: {r.describe()}")
        r = ctx.browser().get("/login")
        check_eq(r.status, 200, "GET /login with Redis stopped")
    deadline = time.monotonic() + 10 * ctx.scale
    while time.monotonic() < deadline:
        if ctx.browser().get("/readyz").status == 200:
            time.sleep(SETTLE)  # threads that timed out wait before reconnecting
            return
        time.sleep(0.1)
    raise TestFailure("/readyz not 200 again 10 s after Redis came back")


def restart_redis(ctx, b):
    """Stops Redis cleanly (SIGTERM: it writes its AOF out first), checks
    that a signed-in request gets a fast 503 meanwhile, and starts it again
    from the stack's config."""
    ctx.stop_redis()
    for i in range(3):
        r = b.get("/")
        check(r.status == 503 and r.header("Retry-After"),
              f"signed-in GET / with Redis gone: expected 503 with "
              f"Retry-After, got {r.describe()}")
        check(r.elapsed < 1.5, f"the 503 took {r.elapsed:.2f} s (limit 1.5 s)")
    ctx.start_redis()


@case
def redis_restarted_no_503_once_redis_answers(ctx):
    b, name = signed_up(ctx, "stale")
    before = on_every_thread(ctx, "GET", "/", b.cookie_header())
    check(all(st == 200 for _, st in before),
          f"before the restart, not every worker thread answered 200: {before}")
    restart_redis(ctx, b)
    wait_signed_in(ctx, b, name)
    time.sleep(SETTLE)
    sizes = ctx.log_sizes()
    after = on_every_thread(ctx, "GET", "/", b.cookie_header())
    bad = [(k, st) for k, st in after if st != 200]
    drops = [l for l in ctx.log_lines_since(sizes) if "dropped" in l]
    check(not bad, f"{SETTLE} s after Redis answered again, {len(bad)} of "
          f"{len(after)} signed-in GET / sent straight to the worker threads "
          f"answered non-200 (server, status): {bad}; the workers logged "
          f"{len(drops)} dropped connections meanwhile, e.g. "
          f"{drops[:1]}")


@case
def redis_restarted_user_still_signed_in(ctx):
    b, name = signed_up(ctx, "restart")
    home_signed_in(b, name)
    tok = b.api_session()["csrf"]
    check_eq(api_add(b, "durable", 5, tok).status, 200, "API add")
    restart_redis(ctx, b)
    wait_signed_in(ctx, b, name)
    # What this checks is that the record survived; a thread still in its
    # reconnect backoff may answer 503 for a moment (that is what
    # redis_restarted_no_503_once_redis_answers measures).
    deadline = time.monotonic() + 5 * ctx.scale
    r = b.get("/api/session")
    while r.status == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
        r = b.get("/api/session")
    check_eq(r.status, 200, "GET /api/session after Redis restart")
    check_eq(r.json()["cart"], {"durable": 5}, "cart after Redis restart")
    check_eq(r.json()["user"], name, "user after Redis restart")


def wait_signed_in(ctx, b, name):
    """Polls GET / until it answers 200 (Redis back, worker reconnected),
    which must be the signed-in page."""
    deadline = time.monotonic() + 10 * ctx.scale
    last = None
    while time.monotonic() < deadline:
        last = b.get("/")
        if last.status == 200:
            check(signed_in_as(last.body, name),
                  f"after Redis came back, GET / is not signed in: {last.describe()}")
            return
        time.sleep(0.1)
    raise TestFailure(f"not signed in again 10 s after Redis came back: "
                      f"{last.describe() if last else None}")


@case
def workers_survive_redis_outage(ctx):
    dead = [(k, p) for k, pids in ctx.initial_pids.items() for p in pids
            if p not in ctx.killed and not procs.alive(p)]
    check(not dead, f"worker processes died: {dead}")


# --------------------------------------------------------------------------
# after `stack down` (run calls these once the stack is stopped)

@after_down
def worker_logs_are_json_lines_without_sanitizer_reports(ctx):
    """Every line a worker wrote to stderr is one JSON object: a sanitizer
    report, a crash message or a stray printf would not be. Checked after
    the workers exited, so leak reports at exit count too."""
    files = ctx.log_files()
    own = os.path.join(ctx.run_dir, "sigterm-worker.log")
    if os.path.exists(own):
        files.append(own)
    check_logs_are_json(files)


@after_down
def stack_workers_log_no_unknown_setting(ctx):
    """The stack passes its workers settings only (deploy/local/stack keeps
    its own, the ports, the run dir, the binary, to itself): no worker of
    it, nor the suite's SIGTERM worker, warns of a SHOAL_* name it does not
    know."""
    files = ctx.log_files() + [ctx.path("sigterm-worker.log")]
    got = unknown_setting_warnings(files)
    check(not got, f"workers warned of SHOAL_* names that are no setting: {got[:5]}")


@after_down
def workers_stop_cleanly_on_stack_down(ctx):
    """Each worker that was alive at the end logged its "stopped" line: it
    drained on SIGTERM instead of being killed."""
    stopped = {str(j.get("worker", "")).rpartition(":")[2]
               for j in json_log_lines(ctx.log_files()) if "stopped" in str(j.get("msg", ""))}
    missing = [p for p in ctx.initial_pids_flat()
               if p not in ctx.killed and str(p) not in stopped]
    check(not missing, f"workers without a 'stopped' log line: {missing}")
