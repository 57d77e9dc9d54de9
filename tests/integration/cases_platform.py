"""
cases_platform.py - integration tests of what an app gets from the tier
besides sign-in: guest sessions and their cart kept through sign-up and
sign-in, "remember me", flash messages. Registered into cases.TESTS, in
order, by the import at the end of the non-destructive part of cases.py.
"""

import concurrent.futures
import re

from harness import resp
from harness.core import check, check_eq, excerpt, new_name
from harness.sid import decode_cookie_kind, record_key, session_hash
from harness.web import home_signed_in

from cases import PASSWORD, case, signed_up


def guest_with_cart(ctx, items):
    """An anonymous browser that put items ({name: qty}) in its cart."""
    b = ctx.browser()
    for item, qty in items.items():
        tok = b.token("/cart")
        r = b.post("/cart/add", {"item": item, "qty": str(qty), "csrf": tok})
        check(r.status == 303, f"guest POST /cart/add {item}: {r.describe()}")
    check(ctx.cookie in b.jar, f"no {ctx.cookie} cookie after a guest's cart add: "
          f"{b.history}")
    return b


def guest_key(ctx, b):
    return record_key(ctx.prefix, session_hash_any(b.jar[ctx.cookie]))


def session_hash_any(value):
    """session_hash for both cookie forms."""
    import hashlib
    from harness.sid import b64u
    _, _, sid, _ = decode_cookie_kind(value)
    return b64u(hashlib.blake2b(sid, digest_size=16).digest())


def cart_of(b):
    return b.api_session()["cart"]


# --------------------------------------------------------------------------
# guest sessions

@case
def guest_cart_add_starts_a_guest_session(ctx):
    b = ctx.browser()
    tok = b.token("/cart")
    r = b.post("/cart/add", {"item": "fig", "qty": "2", "csrf": tok})
    check(r.status == 303, f"anonymous POST /cart/add: expected 303, got {r.describe()}")
    check_eq(r.location_path(), "/cart", "Location")
    value = b.jar.get(ctx.cookie)
    check(value is not None, f"no session cookie after the first cart add: {b.history}")
    check_eq(decode_cookie_kind(value)[0], "guest", "the new session's kind")
    attrs = b.attrs[ctx.cookie]
    check(attrs.get("httponly") is True, f"guest cookie not HttpOnly: {attrs}")
    check_eq(attrs.get("max-age"), str(ctx.env_int("SHOAL_GUEST_MAX", 604800)),
             "guest cookie Max-Age")
    api = b.api_session()
    check_eq(api["user"], None, "a guest is not signed in")
    check_eq(api["cart"], {"fig": 2}, "the guest's cart")
    page = b.get("/cart")
    check(page.status == 200 and "fig" in page.body,
          f"GET /cart of a guest: {page.describe()}")
    red = ctx.redis()
    try:
        ttl = red.cmd("PTTL", guest_key(ctx, b))
    finally:
        red.close()
    idle = ctx.env_int("SHOAL_GUEST_IDLE", 86400) * 1000
    check(0 < ttl <= idle, f"guest record PTTL {ttl}, expected 1..{idle}")


@case
def visitor_without_a_session_costs_redis_nothing_until_a_change(ctx):
    b = ctx.browser()

    def visit():
        return [b.get(p) for p in ("/", "/cart", "/login", "/api/session")]

    _, cmds = resp.commands_during(ctx.redis, visit)
    check_eq(cmds, [], "Redis commands for a visitor without a session")
    tok = b.token("/cart")
    _, cmds = resp.commands_during(
        ctx.redis, lambda: b.post("/cart/add", {"item": "fig", "csrf": tok}))
    trips = resp.round_trips(cmds)
    check(len(trips) >= 1, "the first cart add wrote nothing to Redis")
    check(ctx.cookie in b.jar, "no guest cookie after the first cart add")


@case
def guest_cart_survives_signup(ctx):
    b = guest_with_cart(ctx, {"apple": 2, "pear": 1})
    key = guest_key(ctx, b)
    name = new_name("gsu")
    b.signup(name, PASSWORD)
    check_eq(decode_cookie_kind(b.jar[ctx.cookie])[0], "user", "kind after sign-up")
    home_signed_in(b, name)
    check_eq(cart_of(b), {"apple": 2, "pear": 1}, "cart after sign-up")
    red = ctx.redis()
    try:
        check_eq(red.cmd("EXISTS", key), 0, "the guest record after sign-up")
    finally:
        red.close()


@case
def guest_cart_joins_the_cart_at_sign_in(ctx):
    b, name = signed_up(ctx, "gsi")
    b.logout()
    b.jar.pop(ctx.cookie, None)
    g = guest_with_cart(ctx, {"plum": 3})
    g.login(name, PASSWORD)
    home_signed_in(g, name)
    check_eq(cart_of(g), {"plum": 3}, "cart after sign-in")
    # The old guest cookie no longer names a session.
    old = ctx.browser()
    old.jar[ctx.cookie] = b.jar.get(ctx.cookie, "") or ""
    check_eq(old.api_session()["cart"], {}, "cart of a stale cookie")


@case
def two_tabs_signing_in_at_once_take_the_guest_cart_once(ctx):
    _, name = signed_up(ctx, "tabs")
    for round_ in range(3):
        g = guest_with_cart(ctx, {"kiwi": 4})
        key = guest_key(ctx, g)
        tabs = [g.copy(), g.copy()]
        toks = [t.token("/login") for t in tabs]

        def sign_in(i):
            return tabs[i].post("/login", {"username": name, "password": PASSWORD,
                                           "csrf": toks[i]})

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            rs = list(pool.map(sign_in, range(2)))
        for r in rs:
            check(r.status == 303, f"round {round_}: a tab's sign-in: {r.describe()}")
        carts = [cart_of(t) for t in tabs]
        with_cart = [c for c in carts if c]
        check(len(with_cart) == 1,
              f"round {round_}: the guest cart must join exactly one of the two "
              f"new sessions, got {carts}")
        check_eq(with_cart[0], {"kiwi": 4}, f"round {round_}: the cart that joined")
        red = ctx.redis()
        try:
            check_eq(red.cmd("EXISTS", key), 0, f"round {round_}: guest record")
        finally:
            red.close()


@case
def guest_whose_session_expired_signs_in_with_an_empty_cart(ctx):
    _, name = signed_up(ctx, "gexp")
    g = guest_with_cart(ctx, {"lime": 1})
    red = ctx.redis()
    try:
        check_eq(red.cmd("DEL", guest_key(ctx, g)), 1, "guest record deleted (expiry)")
    finally:
        red.close()
    g.login(name, PASSWORD)
    home_signed_in(g, name)
    check_eq(cart_of(g), {}, "cart after signing in as an expired guest")


@case
def guest_sign_out_ends_the_guest_session(ctx):
    g = guest_with_cart(ctx, {"date": 1})
    key = guest_key(ctx, g)
    tok = g.token("/cart")
    r = g.post("/logout", {"csrf": tok})
    check(r.status == 303, f"guest POST /logout: {r.describe()}")
    check(ctx.cookie not in g.jar, "guest cookie kept after sign-out")
    red = ctx.redis()
    try:
        check_eq(red.cmd("EXISTS", key), 0, "guest record after sign-out")
    finally:
        red.close()


# --------------------------------------------------------------------------
# remember me

@case
def remember_me_session_outlives_the_browser_and_is_listed(ctx):
    b = ctx.browser()
    name = new_name("rem")
    b.signup(name, PASSWORD, remember=True)
    value = b.jar[ctx.cookie]
    check_eq(decode_cookie_kind(value)[0], "remembered", "kind with remember me")
    check_eq(b.attrs[ctx.cookie].get("max-age"),
             str(ctx.env_int("SHOAL_REMEMBER_MAX", 7776000)), "cookie Max-Age")
    red = ctx.redis()
    try:
        ttl = red.cmd("PTTL", record_key(ctx.prefix, session_hash_any(value)))
    finally:
        red.close()
    session_idle = ctx.env_int("SHOAL_SESSION_IDLE", 1800) * 1000
    check(ttl > session_idle, f"remembered record PTTL {ttl} ms is not past the "
          f"plain idle window {session_idle} ms")
    other = ctx.browser()
    other.login(name, PASSWORD)
    check_eq(decode_cookie_kind(other.jar[ctx.cookie])[0], "user", "kind without")
    check("max-age" not in other.attrs[ctx.cookie],
          f"a session without remember me has a Max-Age: {other.attrs[ctx.cookie]}")
    page = other.get("/account/sessions")
    check_eq(page.status, 200, "GET /account/sessions")
    rows = re.findall(r"<tr\b.*?</tr>", page.body, re.S)[1:]
    check_eq(len(rows), 2, f"session rows in {excerpt(page.body, 600)}")
    marked = [row for row in rows if "remembered" in row]
    check_eq(len(marked), 1, "rows marked remembered")
    check("this one" not in marked[0], "the remembered row is the other browser's")


# --------------------------------------------------------------------------
# flash messages

def flash_text(body):
    m = re.search(r'<p class="flash (\w+)" role="status">(.*?)</p>', body, re.S)
    return (m.group(1), m.group(2)) if m else None


@case
def flash_shows_once_after_the_redirect(ctx):
    b, _ = signed_up(ctx, "flash")
    tok = b.token("/cart")
    r = b.post("/cart/add", {"item": "melon", "qty": "2", "csrf": tok})
    check_eq(r.status, 303, "POST /cart/add")
    check(ctx.flash_cookie in b.jar, f"no flash cookie after the add: {b.history}")
    page = b.get("/cart")
    got = flash_text(page.body)
    check(got is not None and "melon" in got[1] and got[0] == "success",
          f"GET /cart after the add shows no success flash: {excerpt(page.body, 800)}")
    check(ctx.flash_cookie not in b.jar, "the flash cookie is not cleared once shown")
    again = b.get("/cart")
    check_eq(flash_text(again.body), None, "the flash on the next page")


@case
def flash_for_a_visitor_without_a_session_costs_redis_nothing(ctx):
    b, _ = signed_up(ctx, "flout")
    b.logout()
    check(ctx.cookie not in b.jar, "session cookie kept after sign-out")
    check(ctx.flash_cookie in b.jar, "no flash cookie after sign-out")
    r, cmds = resp.commands_during(ctx.redis, lambda: b.get("/"))
    got = flash_text(r.body)
    check(got is not None and "signed out" in got[1],
          f"GET / after sign-out shows no flash: {excerpt(r.body, 800)}")
    check_eq(cmds, [], "Redis commands for the page with the flash")


@case
def tampered_flash_cookie_shows_nothing(ctx):
    b, _ = signed_up(ctx, "fltamp")
    tok = b.token("/cart")
    b.post("/cart/add", {"item": "melon", "csrf": tok})
    v = b.jar[ctx.flash_cookie]
    b.jar[ctx.flash_cookie] = v[:-3] + ("AAA" if v[-3:] != "AAA" else "BBB")
    page = b.get("/cart")
    check_eq(flash_text(page.body), None, "flash from a tampered cookie")
    forged = ctx.browser()
    forged.jar[ctx.flash_cookie] = "x" * 60
    check_eq(flash_text(forged.get("/").body), None, "flash from a forged cookie")
