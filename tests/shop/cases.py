"""
cases.py - the shop on the database tier, through the real stack (nginx,
workers, Redis, PgBouncer, a PostgreSQL primary and its replica), in the
order the tests run. Orders and profiles belong to the signed-in user's
account (shoal_account_id).
"""

import re
import threading
import time
import urllib.parse

from harness.core import (check, check_eq, check_logs_are_json, check_no_errors_logged,
                          excerpt, new_name)
from harness.runner import Tests

TESTS = Tests()
case, after_down = TESTS.case, TESTS.after_down

PASSWORD = "correct horse battery"
PAGE = 20
ORDERS_PAGE = 50          # app/example/app.h
SQL_BAD = ["' OR '1'='1", "1; DROP TABLE products; --", "\\'\"", "a\0b", "x" * (1 << 20)]


def user(st, prefix="shop"):
    b = st.browser()
    name = new_name(prefix)
    b.signup(name, PASSWORD)
    return b, name


def csrf(b):
    return b.api_session()["csrf"]


def add(b, product, qty=1, expect=303):
    r = b.post("/cart/add", {"product": str(product), "qty": str(qty), "csrf": csrf(b)})
    check(r.status == expect, f"POST /cart/add product={product}: expected {expect}, "
          f"got {r.describe()}")
    return r


def checkout(b, expect=303):
    r = b.post("/cart/checkout", {"csrf": csrf(b)})
    check(r.status == expect, f"POST /cart/checkout: expected {expect}, got {r.describe()}")
    return r


def order_id(r):
    m = re.fullmatch(r"/orders/(\d+)", r.location_path() or "")
    check(m, f"checkout redirects to an order: {r.describe()}")
    return int(m.group(1))


def api_orders(b):
    r = b.get("/api/orders")
    check(r.status == 200, f"GET /api/orders: {r.describe()}")
    return [o["id"] for o in r.json()["orders"]]


def count(st, sql, target="primary"):
    return int(st.db.psql(sql, target=target).strip())


@case
def products_are_paged(st):
    b = st.browser()
    r = b.get("/products")
    check(r.status == 200, f"GET /products: {r.describe()}")
    ids = re.findall(r'href="/products/(\d+)"', r.body)
    check_eq(ids[:PAGE], [str(i) for i in range(1, PAGE + 1)], "page 1's products")
    check('rel="next"' in r.body and 'rel="prev"' not in r.body, "page 1 links next only")
    r = b.get("/products?page=3")
    check(r.status == 200 and 'href="/products/41"' in r.body, f"page 3: {r.describe()}")
    r = b.get("/products?page=250")
    check(r.status == 200 and 'href="/products/5000"' in r.body and 'rel="next"' not in r.body,
          f"the last page: {r.describe()}")
    for bad in ("0", "-1", "abc", "1001", "99999999999999999999", ""):
        r = b.get("/products?page=" + urllib.parse.quote(bad))
        check(r.status == 400 and "page must be 1 to 1000" in r.body,
              f"page={bad!r}: expected 400 with the reason, got {r.describe()}")
    r = b.get("/products/7")
    check(r.status == 200 and "Product 7" in r.body, f"GET /products/7: {r.describe()}")
    for missing in ("/products/5001", "/products/0", "/products/999999999999999"):
        r = b.get(missing)
        check_eq(r.status, 404, f"GET {missing}")
    return "catalogue pages: 200, bad page numbers 400, absent products 404"


@case
def cart_checks_products(st):
    b = st.browser()
    # A guest may fill a cart.
    add(b, 12, 2)
    r = b.get("/cart")
    check(r.status == 200 and "Product 12" in r.body, f"the cart shows the product: {r.describe()}")
    add(b, 5001, expect=404)
    for bad in ("abc", "0", "-3", "1e3", "'1'", "12 OR 1=1"):
        r = b.post("/cart/add", {"product": bad, "csrf": csrf(b)})
        check(r.status == 400 and "product must be a product number" in r.body,
              f"product={bad!r}: expected 400, got {r.describe()}")
    r = b.post("/cart/add", {"product": "12", "qty": "1000", "csrf": csrf(b)})
    check_eq(r.status, 400, "qty 1000")
    r = b.post("/cart/remove", {"product": "12", "csrf": csrf(b)})
    check_eq(r.status, 303, "remove a product line")
    check("Product 12" not in b.get("/cart").body, "the line is gone")
    return "products checked against the catalogue; 404 for none, 400 for bad numbers"


@case
def guest_checks_out_after_sign_in(st):
    b = st.browser()
    add(b, 3, 2)
    add(b, 4)
    r = checkout(b)
    check_eq(r.location_path(), "/login", "a guest's checkout redirects to")
    check(st.flash_cookie in b.jar, "with a flash message")
    name = new_name("guest")
    b.signup(name, PASSWORD)
    r = checkout(b)
    oid = order_id(r)
    r = b.get(f"/orders/{oid}")
    check(r.status == 200 and "Product 3" in r.body and "Product 4" in r.body,
          f"GET /orders/{oid}: {r.describe()}")
    price = count(st, "SELECT 2 * price_cents + (SELECT price_cents FROM products WHERE id = 4) "
                  "FROM products WHERE id = 3")
    check(f'<strong id="total">{price // 100}.{price % 100:02d}</strong>' in r.body,
          f"the total is the catalogue's prices: {excerpt(r.body, 600)}")
    r = b.get("/orders")
    check(r.status == 200 and f'href="/orders/{oid}"' in r.body, f"GET /orders: {r.describe()}")
    check_eq(api_orders(b), [oid], "/api/orders")
    r = b.get("/cart")
    check("Product 3" not in r.body and "Check out" not in r.body, "the cart is empty")
    checkout(b, expect=409)
    return f"order {oid}; the cart emptied; a second checkout 409"


@case
def orders_are_private(st):
    a, _ = user(st, "own")
    add(a, 9)
    oid = order_id(checkout(a))
    b, _ = user(st, "other")
    r = b.get(f"/orders/{oid}")
    check(r.status == 404, f"another user's order: expected 404, got {r.describe()}")
    check_eq(b.get("/orders/999999999").status, 404, "an order that never was")
    check_eq(api_orders(b), [], "another user's /api/orders")
    anon = st.browser()
    r = anon.get("/orders")
    check(r.status == 303 and r.location_path() == "/login", f"anonymous /orders: {r.describe()}")
    check_eq(anon.get(f"/orders/{oid}").status, 303, "anonymous /orders/N")
    check_eq(anon.get("/api/orders").status, 401, "anonymous /api/orders")
    check_eq(anon.get("/account/profile").status, 303, "anonymous /account/profile")
    return "others' orders 404; visitors sent to sign in (API: 401)"


@case
def orders_are_paged_by_key(st):
    b, name = user(st, "many")
    add(b, 3)
    first = order_id(checkout(b))
    more = ORDERS_PAGE + 10
    st.db.psql(f"INSERT INTO orders (account_id, idempotency_key, total_cents) "
               f"SELECT o.account_id, md5('paged ' || o.id || ' ' || g), 0 "
               f"FROM orders o, generate_series(1, {more}) g WHERE o.id = {first}")
    want = [int(x) for x in st.db.psql(
        f"SELECT id FROM orders WHERE account_id = (SELECT account_id FROM orders "
        f"WHERE id = {first}) ORDER BY id DESC", target="primary").split()]
    check_eq(len(want), more + 1, "orders of the account")
    # Rows written behind the session's back reach the replica shortly.
    deadline = time.monotonic() + 10
    while True:
        r = b.get("/api/orders")
        check(r.status == 200, f"GET /api/orders: {r.describe()}")
        if r.json()["orders"] and r.json()["orders"][0]["id"] == want[0]:
            break
        check(time.monotonic() < deadline, "the replica never showed the new orders")
        time.sleep(0.1)
    seen, url, pages = [], "/api/orders", 0
    while url:
        r = b.get(url)
        check(r.status == 200, f"GET {url}: {r.describe()}")
        page = r.json()
        check(len(page["orders"]) <= ORDERS_PAGE, f"{url}: {len(page['orders'])} orders on a page")
        seen += [o["id"] for o in page["orders"]]
        pages += 1
        url = f"/api/orders?before={page['next']}" if "next" in page else None
        check(pages <= 3, "paging does not end")
    check_eq(seen, want, "every order once, newest first, across the pages")
    check_eq(pages, 2, "pages of /api/orders")
    r = b.get("/orders")
    check(f'href="/orders?before={want[ORDERS_PAGE - 1]}"' in r.body,
          f"/orders links to the older orders: {r.describe()}")
    r = b.get(f"/orders?before={want[ORDERS_PAGE - 1]}")
    check(f'href="/orders/{first}"' in r.body and "before=" not in r.body,
          f"/orders, the last page: {r.describe()}")
    for bad in ["abc", "0", "-1", "9" * 30, ""]:
        r = b.get(f"/api/orders?before={urllib.parse.quote(bad)}")
        check_eq(r.status, 400, f"/api/orders?before={bad[:12]}")
    return f"{more + 1} orders over {pages} pages, each once; bad before= is 400"


def profile_post(b, name, email, expect):
    r = b.post("/account/profile", {"display_name": name, "email": email, "csrf": csrf(b)})
    check(r.status == expect, f"POST /account/profile {excerpt(name, 30)!r} "
          f"{excerpt(email, 30)!r}: expected {expect}, got {r.describe()}")
    return r


@case
def profile_edits_with_limits(st):
    b, _ = user(st, "prof")
    r = b.get("/account/profile")
    check(r.status == 200 and 'name="display_name"' in r.body, f"GET profile: {r.describe()}")
    profile_post(b, "Ada Lovelace", "ada@example.org", 303)
    r = b.get("/account/profile")
    check('value="Ada Lovelace"' in r.body and 'value="ada@example.org"' in r.body,
          f"the profile shows the edit: {excerpt(r.body, 800)}")
    profile_post(b, "é" * 32, "", 303)
    cases = [("x" * 65, "a@b", "at most 64 bytes"), ("tab\there", "a@b", "control characters"),
             ("ok", "no-at-sign", "name@domain"), ("ok", "a@b@c", "name@domain"),
             ("ok", "sp ace@b", "name@domain"), ("ok", "a@" + "b" * 253, "at most 254"),
             (b"\xff", "a@b", "64 bytes of text")]
    for name, email, why in cases:
        r = profile_post(b, name, email, 400)
        check(why in r.body, f"400 names the reason {why!r}: {excerpt(r.body, 500)}")
    r = b.post("/account/profile", {"display_name": "x", "csrf": csrf(b)})
    check_eq(r.status, 400, "a form without email")
    return f"valid edits 303 and shown; {len(cases) + 1} bad forms 400 with the reason"


@case
def checkout_exactly_once(st):
    b, name = user(st, "once")
    add(b, 21, 3)
    add(b, 22)
    b.get("/orders")                    # the account's row exists
    tok = csrf(b)
    n, results, errors = 20, [], []
    gate = threading.Barrier(n)

    def submit():
        c = b.copy()
        try:
            gate.wait()
            r = c.post("/cart/checkout", {"csrf": tok})
            results.append((r.status, r.location_path()))
        except Exception as e:          # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=submit) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, f"requests failed: {errors[:3]}")
    orders = count(st, f"SELECT count(*) FROM orders o JOIN accounts a ON a.id = o.account_id "
                   f"WHERE a.name = '{name}'")
    check_eq(orders, 1, "orders made by 20 concurrent checkouts of one cart")
    oid = count(st, f"SELECT o.id FROM orders o JOIN accounts a ON a.id = o.account_id "
                f"WHERE a.name = '{name}'")
    lines = count(st, f"SELECT count(*) FROM order_lines WHERE order_id = {oid}")
    check_eq(lines, 2, "the order's lines")
    same = sum(1 for s, loc in results if s == 303 and loc == f"/orders/{oid}")
    clear = sum(1 for s, loc in results if s == 409)
    other = [x for x in results if not (x[0] == 303 and x[1] == f"/orders/{oid}") and x[0] != 409]
    check(not other, f"answers other than the order or 409: {other[:5]}")
    check(same >= 1, "at least one submit was answered with the order")
    check("Product 21" not in b.get("/cart").body, "the cart is empty afterwards")
    return f"20 submits: 1 order ({lines} lines), {same} answered with it, {clear} with 409"


@case
def cache_invalidation(st):
    # The profile: the write path commits, then drops the entry.
    b, name = user(st, "cache")
    profile_post(b, "First", "first@example.org", 303)
    check('value="First"' in b.get("/account/profile").body, "the first edit shows")
    aid = count(st, f"SELECT id FROM accounts WHERE name = '{name}'")
    r = st.redis()
    try:
        key = f"{st.prefix}c:profile:{aid}"
        check(r.cmd("EXISTS", key) == 1, f"the profile is cached under {key}")
        profile_post(b, "Second", "second@example.org", 303)
        check(r.cmd("EXISTS", key) == 0, "the edit dropped the cache entry")
        check('value="Second"' in b.get("/account/profile").body,
              "the next read shows the edit")
        check(r.cmd("EXISTS", key) == 1, "and filled the cache again")
        ttl = r.cmd("PTTL", key)
        check(0 < ttl <= 300000, f"the entry has a TTL ({ttl} ms)")
        # A product's price, changed by the catalogue's owner; the entry
        # kept until its write path (here the test) drops it.
        pkey = f"{st.prefix}c:product:31"
        b.get("/products/31")
        old = count(st, "SELECT price_cents FROM products WHERE id = 31")
        st.db.psql("UPDATE products SET price_cents = price_cents + 100 WHERE id = 31",
                   user="shoal_owner")
        st.db.wait_replayed()
        shown = b.get("/products/31").body
        check(f"{old // 100}.{old % 100:02d}" in shown, "a cached product keeps its entry")
        r.cmd("DEL", pkey)
        new = old + 100
        shown = b.get("/products/31").body
        check(f"{new // 100}.{new % 100:02d}" in shown,
              f"after the entry is dropped the new price shows: {excerpt(shown, 600)}")
    finally:
        r.close()
    return "profile edit: entry dropped, next read fresh; product: fresh after the drop"


@case
def read_your_writes_with_replay_paused(st):
    b, name = user(st, "ryw")
    add(b, 40)
    b.get("/orders")
    st.db.wait_replayed()
    st.db.pause_replay()
    try:
        oid = order_id(checkout(b))
        on_replica = count(st, f"SELECT count(*) FROM orders WHERE id = {oid}", target="replica")
        check_eq(on_replica, 0, "the paused replica lacks the new order")
        reads, stale, servers = 60, 0, set()
        for i in range(reads):
            r = b.get("/api/orders" if i % 2 else "/orders")
            check(r.status == 200, f"read {i}: {r.describe()}")
            servers.add(r.served_by)
            seen = oid in [o["id"] for o in r.json()["orders"]] if i % 2 else \
                f'href="/orders/{oid}"' in r.body
            stale += not seen
        r = b.get(f"/orders/{oid}")
        stale += r.status != 200
        # A visitor of another session reads the replica, which lags.
        other, _ = user(st, "rywo")
        check_eq(other.get("/orders").status, 200, "another user's /orders while paused")
    finally:
        st.db.resume_replay()
    check_eq(stale, 0, "stale reads of one's own order")
    return f"figures: {reads + 1} reads while replay paused, 0 stale, workers {len(servers)}"


@case
def stampede_reads_once(st):
    pid, n = 4321, 20
    r = st.redis()
    try:
        r.cmd("DEL", f"{st.prefix}c:product:{pid}")
    finally:
        r.close()
    sizes = st.log_sizes()
    gate = threading.Barrier(n)
    statuses, errors = [], []

    def get():
        try:
            gate.wait()
            statuses.append(st.browser().get(f"/products/{pid}").status)
        except Exception as e:          # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=get) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, f"requests failed: {errors[:3]}")
    check_eq(statuses, [200] * n, "statuses")
    time.sleep(0.2)
    loads = [l for l in st.log_lines_since(sizes) if f"cache miss: product:{pid} " in l]
    check_eq(len(loads), 1, f"database reads for {n} concurrent misses of one key")
    return f"figures: {n} concurrent misses, {len(loads)} database read"


@case
def no_sql_from_input(st):
    b, _ = user(st, "inj")
    before = count(st, "SELECT count(*) FROM products")
    forms = [("/cart/add", ["product", "item", "qty"]), ("/cart/remove", ["product", "item"]),
             ("/account/profile", ["display_name", "email"]), ("/cart/checkout", ["x"])]
    sent = 0
    for path, fields in forms:
        for field in fields:
            for bad in SQL_BAD:
                form = {"display_name": "n", "email": "", "csrf": csrf(b)}
                form[field] = bad
                r = b.post(path, form)
                sent += 1
                check(r.status < 500, f"POST {path} {field}={excerpt(bad, 20)!r}: {r.describe()}")
                if "\0" in bad:
                    # Refused, never kept cut short at the NUL.
                    check(r.status == 400 and "NUL" in r.body,
                          f"POST {path} {field} with a NUL: {r.describe()}")
    for bad in SQL_BAD[:4]:
        for path in ("/products?page=", "/orders/"):
            r = b.get(path + urllib.parse.quote(bad))
            sent += 1
            check(400 <= r.status < 500, f"GET {path}{excerpt(bad, 20)!r}: {r.describe()}")
    check_eq(count(st, "SELECT count(*) FROM products"), before, "products after the attempts")
    check(count(st, "SELECT count(*) FROM profiles WHERE display_name LIKE '%DROP%' "
                "OR display_name LIKE '%''%'") >= 0, "profiles readable")
    return f"{sent} hostile values: none answered 5xx, the catalogue intact"


@case
def primary_down_is_a_fast_503(st):
    b, _ = user(st, "down")
    profile_post(b, "Before", "", 303)
    b.get("/products/77")                   # cached now
    tok = csrf(b)
    st.db.stop_primary()
    try:
        t0 = time.monotonic()
        r = b.post("/account/profile", {"display_name": "During", "email": "", "csrf": tok})
        took = time.monotonic() - t0
        check(r.status == 503 and r.header("Retry-After"),
              f"a write with the primary stopped: expected 503 with Retry-After, got {r.describe()}")
        check(took < 3 * st.scale, f"the 503 took {took:.2f} s")
        r = b.get("/products/77")
        check(r.status == 200 and "Product 77" in r.body, f"a cached product: {r.describe()}")
        r = b.get("/products/78")
        check(r.status == 200 and "Product 78" in r.body,
              f"an uncached product from the replica: {r.describe()}")
    finally:
        st.db.start_primary()
    deadline = time.monotonic() + 15 * st.scale
    while True:
        r = b.post("/account/profile", {"display_name": "After", "email": "", "csrf": csrf(b)})
        if r.status == 303 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check_eq(r.status, 303, "a write once the primary is back")
    check('value="After"' in b.get("/account/profile").body, "the write shows")
    return f"figures: 503 in {took * 1000:.0f} ms with the primary stopped; cache and replica served"


@after_down
def worker_logs_are_json_lines(st):
    """A sanitizer's report (SHOAL_BIN=build/san/shoal) is not JSON."""
    check_logs_are_json(st.log_files())


@after_down
def nothing_logged_as_an_error(st):
    """A bad statement, a missing grant or a 500 logs at level error."""
    check_no_errors_logged(st.log_files())
