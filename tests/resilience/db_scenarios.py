"""
db_scenarios.py - the database tier under a fault: signed-in users browse
the catalogue, fill carts, check out and edit their profiles through the
balancer while one piece of PostgreSQL breaks. Each scenario prints a
`figures` line and fails when a bound did not hold. They share one stack
with the database (SHOAL_DATABASE=1) and run in this order: the last one
promotes the replica, so nothing can come after it. `db` runs them.
"""

import json
import os
import random
import urllib.parse
import re
import threading
import time

from harness.core import check, new_name
from harness.runner import Tests
from harness.web import Browser, attempt

TESTS = Tests()
case = TESTS.case

PASSWORD = "resilience db battery"
SOAK = os.environ.get("SOAK") == "1"
USERS = 30 if SOAK else 10  # signed-in users, each its own thread
LONG = 4.0 if SOAK else 1.0  # the load runs this many times longer
THINK = (0.15, 0.45)        # seconds between one user's requests
FAST_503 = 3.0              # SHOAL_DB_TIMEOUT_MS (2 s) + 1 s: a write with the primary away answers within
RECOVER = 5.0               # primary back -> a write succeeds within
PROMOTE_RECOVER = 5.0       # bouncer reloaded -> no more failures after

CATALOGUE = ("GET /products", "GET /products/N")
OWN_READS = ("GET /orders", "GET /api/orders")
WRITES = ("POST /cart/checkout", "POST /account/profile")


class Result:
    __slots__ = ("user", "what", "status", "t0", "t1", "retry_after", "signed_out")

    def __init__(self, user, what, status, t0, t1, retry_after=None, signed_out=False):
        self.user, self.what, self.status = user, what, status
        self.t0, self.t1 = t0, t1
        self.retry_after, self.signed_out = retry_after, signed_out

    @property
    def ok(self):
        return self.status in (200, 303) and not self.signed_out


class User:
    def __init__(self, st, i):
        self.name = new_name(f"rdb{i}")
        self.b = Browser(st.http_port, 30.0)
        self.b.signup(self.name, PASSWORD)
        self.csrf = self.b.api_session()["csrf"]
        self.orders = set()         # placed, answered 303
        self.stale = 0              # own order missing right after checkout
        self.cart_full = False      # a checkout failed with the cart filled


class Load:
    """USERS threads, each: a random catalogue read, or an add and a
    checkout followed at once by a read of its own orders (which must show
    the new order), or a profile edit. Runs until stop()."""

    def __init__(self, st, users):
        self.st, self.users = st, users
        self.results, self.lock = [], threading.Lock()
        self.halt = threading.Event()
        self.marks = []
        self.rng = random.Random(13)

    def mark(self, what):
        self.marks.append((time.monotonic(), what))

    def req(self, u, method, path, form=None, what=None):
        what = what or f"{method} {re.sub(r'/[0-9]+', '/N', path.split('?')[0])}"
        hdrs = {"Cookie": u.b.cookie_header()} if u.b.jar else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(dict(form, csrf=u.csrf))
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        t0 = time.monotonic()
        r = attempt(self.st.http_port, method, path, hdrs, body, 30.0)
        t1 = time.monotonic()
        if isinstance(r, str):
            res = Result(u.name, what, r, t0, t1)
        else:
            loc = r.location_path()
            out = (r.status == 401 or (r.status == 303 and loc == "/login")
                   or r.status == 403)
            res = Result(u.name, what, r.status, t0, t1, r.header("Retry-After"), out)
        with self.lock:
            self.results.append(res)
        return res, r

    def step(self, u, rng):
        k = rng.random()
        if k < 0.35:
            self.req(u, "GET", f"/products?page={rng.randint(1, 250)}")
        elif k < 0.6:
            self.req(u, "GET", f"/products/{rng.randint(1, 5000)}")
        elif k < 0.7:
            self.req(u, "GET", rng.choice(["/orders", "/api/orders"]))
        elif k < 0.8:
            self.req(u, "POST", "/account/profile",
                     {"display_name": f"User {rng.randint(1, 999)}", "email": ""})
        else:
            self.buy(u, rng)

    def buy(self, u, rng):
        if not u.cart_full:
            res, _ = self.req(u, "POST", "/cart/add",
                              {"product": str(rng.randint(1, 5000)), "qty": "1"})
            if res.status != 303:
                return
            u.cart_full = True
        res, r = self.req(u, "POST", "/cart/checkout", {})
        if res.status == 409:
            u.cart_full = False         # an earlier checkout went through
            return
        if res.status != 303:
            return
        m = re.fullmatch(r"/orders/(\d+)", r.location_path() or "")
        if not m:
            return
        u.cart_full = False
        oid = int(m.group(1))
        u.orders.add(oid)
        # Read-your-writes: the new order, at once, on whatever worker.
        if rng.random() < 0.5:
            res, r = self.req(u, "GET", "/api/orders", what="GET /api/orders (own)")
            try:
                seen = not isinstance(r, str) and r.status == 200 and \
                    oid in [o["id"] for o in json.loads(r.body)["orders"]]
            except (ValueError, KeyError, TypeError):
                seen = False
        else:
            res, r = self.req(u, "GET", "/orders", what="GET /orders (own)")
            seen = not isinstance(r, str) and f'href="/orders/{oid}"' in r.body
        if res.ok and not seen:
            u.stale += 1

    def run_user(self, u, seed):
        rng = random.Random(seed)
        while not self.halt.is_set():
            self.step(u, rng)
            self.halt.wait(rng.uniform(*THINK))

    def start(self):
        self.t_start = time.monotonic()
        self.threads = [threading.Thread(target=self.run_user, args=(u, i), daemon=True)
                        for i, u in enumerate(self.users)]
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join(60)
        self.t_end = time.monotonic()


class Figures:
    def __init__(self, name):
        self.name, self.extra, self.bounds = name, {}, []

    def bound(self, desc, ok):
        self.bounds.append((desc, bool(ok)))

    def report(self):
        extra = " ".join(f"{k}={v}" for k, v in self.extra.items())
        out = [f"figures {self.name}: {extra}"]
        out += [f"{'ok  ' if ok else 'FAIL'} {d}" for d, ok in self.bounds]
        return "\n".join(out)

    def finish(self):
        """The test's result line, or a failure naming the bounds missed."""
        print(self.report(), flush=True)
        missed = [d for d, ok in self.bounds if not ok]
        check(not missed, f"bounds missed: {missed}")
        return f"{len(self.bounds)} bounds held"


def worker_pids(st):
    return {k: tuple(st.server_pids(k)) for k in st.server_ids()}


def common(fig, load, users, pids_before, st):
    rs = load.results
    fails = [r for r in rs if not r.ok]
    by = {}
    for r in fails:
        key = f"{r.status} {r.what}"
        by[key] = by.get(key, 0) + 1
    fig.extra["sent"] = len(rs)
    fig.extra["failed"] = len(fails)
    if by:
        fig.extra["failed_by"] = ",".join(f"{k.replace(' ', '_')}:{v}"
                                          for k, v in sorted(by.items()))
    fig.extra["signed_out"] = sum(1 for r in rs if r.signed_out)
    fig.extra["slowest"] = f"{max((r.t1 - r.t0 for r in rs), default=0):.2f}s"
    fig.extra["stale_own_reads"] = sum(u.stale for u in users)
    fig.extra["checkouts"] = sum(1 for r in rs if r.what == "POST /cart/checkout"
                                 and r.status == 303)
    fig.bound("zero users signed out", fig.extra["signed_out"] == 0)
    fig.bound("no worker restarted (same pids)", worker_pids(st) == pids_before)
    return fails


def consistency(st, fig):
    """Nothing half-written: every order has its lines and its total is
    theirs."""
    bare = int(st.db.psql("SELECT count(*) FROM orders o WHERE NOT EXISTS "
                          "(SELECT 1 FROM order_lines l WHERE l.order_id = o.id)",
                          target=st.db_primary).strip())
    wrong = int(st.db.psql("SELECT count(*) FROM orders o WHERE total_cents <> "
                           "(SELECT coalesce(sum(qty::bigint * price_cents), 0) "
                           "FROM order_lines l WHERE l.order_id = o.id)",
                           target=st.db_primary).strip())
    fig.extra["orders_without_lines"] = bare
    fig.extra["orders_total_mismatch"] = wrong
    fig.bound("every order has its lines and its total", bare == 0 and wrong == 0)


def all_orders(u):
    """Every order id in the user's /api/orders, page after page."""
    have, url = set(), "/api/orders"
    for _ in range(1000):
        r = u.b.get(url)
        if r.status != 200:
            break
        page = r.json()
        have |= {o["id"] for o in page["orders"]}
        if "next" not in page:
            break
        url = f"/api/orders?before={page['next']}"
    return have


def orders_all_there(st, users, fig):
    """Every order answered 303 is in that user's /api/orders at the end."""
    missing = 0
    for u in users:
        missing += len(u.orders - all_orders(u))
    fig.extra["acknowledged_orders_missing"] = missing
    fig.bound("every acknowledged order is in its user's /api/orders", missing == 0)


def population(st):
    if not hasattr(st, "db_users"):
        st.db_users = [User(st, i) for i in range(USERS)]
        st.db_primary = "primary"
    for u in st.db_users:
        u.stale = 0
    return st.db_users


def drive(st, duration, faults):
    users = population(st)
    load = Load(st, users).start()
    try:
        for at, fn in faults:
            d = load.t_start + at - time.monotonic()
            if d > 0:
                time.sleep(d)
            fn(load)
        d = load.t_start + duration - time.monotonic()
        if d > 0:
            time.sleep(d)
    finally:
        load.stop()
    return load, users


# --------------------------------------------------------------------------

@case
def d1_replica_stopped(st):
    """The replica stops (fast shutdown): reads of the catalogue and of
    orders move to the primary; not one request fails."""
    fig = Figures("d1 replica stopped")
    pids = worker_pids(st)
    population(st)
    info = {}

    def stop(load):
        load.mark("replica stopped")
        st.db.stop_replica()
        info["t"] = time.monotonic()

    try:
        load, users = drive(st, 8.0 * LONG * st.scale, [(2.0 * st.scale, stop)])
    finally:
        st.db.start_replica()
    st.db.wait_replayed()
    after = [r for r in load.results if r.t0 >= info.get("t", 1e18)]
    fails = common(fig, load, users, pids, st)
    fig.extra["reads_while_stopped"] = sum(1 for r in after if r.what.startswith("GET"))
    fig.bound("zero failed requests", not fails)
    fig.bound("reads served while the replica was stopped",
              any(r.ok for r in after if r.what in CATALOGUE))
    orders_all_there(st, users, fig)
    return fig.finish()


@case
def d2_primary_stopped(st):
    """The primary stops for 5 s. Checkouts and profile edits answer 503
    with Retry-After, fast; catalogue pages are served from the cache and
    the replica (none fails); nothing is half-written; once the primary is
    back a write succeeds within RECOVER s, no worker restarted."""
    fig = Figures("d2 primary stopped 5s")
    pids = worker_pids(st)
    population(st)
    info = {}

    def stop(load):
        load.mark("primary stopped")
        st.db.stop_primary()
        info["t_stop"] = time.monotonic()

    def start(load):
        st.db.start_primary()
        info["t_back"] = time.monotonic()
        load.mark("primary started")

    try:
        load, users = drive(st, (9.0 + 5.0 * LONG) * st.scale,
                            [(2.0 * st.scale, stop), (2.0 * st.scale + 5.0, start)])
    finally:
        if "t_stop" in info and "t_back" not in info:
            st.db.start_primary()
    t_stop, t_back = info["t_stop"], info["t_back"]
    fails = common(fig, load, users, pids, st)
    rs = load.results
    during = [r for r in rs if t_stop <= r.t0 < t_back]
    wfail = [r for r in fails if r.what in WRITES + ("POST /cart/add",)]
    first_write = min((r.t1 for r in rs if r.t0 >= t_back and r.what in WRITES
                       and r.ok), default=None)
    slow_503 = max((r.t1 - r.t0 for r in wfail), default=0.0)
    cat_fail = [r for r in fails if r.what in CATALOGUE]
    fig.extra["writes_503"] = sum(1 for r in wfail if r.status == 503)
    fig.extra["slowest_failed_write"] = f"{slow_503:.2f}s"
    fig.extra["catalogue_reads_while_stopped"] = sum(1 for r in during if r.what in CATALOGUE)
    fig.extra["first_write_after_primary_back"] = \
        f"{first_write - t_back:.2f}s" if first_write else "none"
    fig.bound("failed writes are 503 with Retry-After",
              all(r.status == 503 and r.retry_after for r in wfail))
    fig.bound("only writes and own-order reads fail",
              all(r.what in WRITES + OWN_READS + ("POST /cart/add", "GET /api/orders (own)",
                                                  "GET /orders (own)") for r in fails))
    fig.bound(f"a failed write answers within {FAST_503 * st.scale:.1f}s",
              slow_503 <= FAST_503 * st.scale)
    fig.bound("zero failed catalogue reads", not cat_fail)
    fig.bound(f"a write succeeds within {RECOVER * st.scale:.1f}s of the primary's return",
              first_write is not None and first_write - t_back <= RECOVER * st.scale)
    # A cart whose checkout failed still holds its product.
    emptied = 0
    for u in users:
        if u.cart_full:
            r = u.b.get("/cart")
            if r.status == 200 and "Check out" not in r.body:
                emptied += 1
    fig.extra["carts_emptied_without_order"] = emptied
    fig.bound("no cart emptied without an order", emptied == 0)
    consistency(st, fig)
    orders_all_there(st, users, fig)
    st.db.wait_replayed()
    return fig.finish()


@case
def d3_replay_paused(st):
    """The replica's replay is paused (pg_wal_replay_pause) while users
    check out: each checkout is followed at once by a read of the user's
    orders on whatever worker, and the new order is always there (the
    read goes to the primary while the replica is behind)."""
    fig = Figures("d3 replica replay paused")
    pids = worker_pids(st)
    population(st)

    def pause(load):
        load.mark("replay paused")
        st.db.pause_replay()

    def resume(load):
        st.db.resume_replay()
        load.mark("replay resumed")

    try:
        load, users = drive(st, 10.0 * LONG * st.scale,
                            [(1.5 * st.scale, pause),
                             ((10.0 * LONG - 1.5) * st.scale, resume)])
    finally:
        st.db.resume_replay()
    fails = common(fig, load, users, pids, st)
    own = sum(1 for r in load.results if r.what.endswith("(own)"))
    fig.extra["own_reads_after_checkout"] = own
    fig.bound("zero failed requests", not fails)
    fig.bound("zero stale reads of one's own orders", fig.extra["stale_own_reads"] == 0)
    fig.bound("some own-order reads were checked", own > 0)
    st.db.wait_replayed()
    orders_all_there(st, users, fig)
    return fig.finish()


@case
def d4_replica_promoted(st):
    """The primary is lost (stopped), the replica promoted (pg_promote) and
    PgBouncer repointed at it and reloaded; no worker restarts. Nobody is
    signed out; failures are 503s during the switch and none later than
    PROMOTE_RECOVER s after the reload; checkouts succeed on the new
    primary afterwards. Last: the stack has no replica after it."""
    fig = Figures("d4 replica promoted")
    pids = worker_pids(st)
    population(st)
    info = {}

    def failover(load):
        load.mark("primary stopped")
        st.db.stop_primary()
        st.db.promote_replica()
        port = st.db.replica_port
        st.db.bouncer_reload(primary_port=port, replica_port=port)
        st.db_primary = "replica"       # psql's name for the new primary
        info["t"] = time.monotonic()
        load.mark("bouncer reloaded")

    load, users = drive(st, 12.0 * LONG * st.scale, [(2.0 * st.scale, failover)])
    t = info["t"]
    fails = common(fig, load, users, pids, st)
    late = [r.t1 - t for r in fails if r.t1 > t + PROMOTE_RECOVER * st.scale]
    after = [r for r in load.results if r.t0 > t + PROMOTE_RECOVER * st.scale]
    fig.extra["last_failure_after_reload"] = \
        f"{max((r.t1 - t for r in fails), default=0):.2f}s" if fails else "none"
    fig.extra["checkouts_on_new_primary"] = sum(
        1 for r in after if r.what == "POST /cart/checkout" and r.ok)
    fig.bound("failures are 503 only", all(r.status == 503 for r in fails))
    fig.bound(f"no failure later than {PROMOTE_RECOVER * st.scale:.1f}s after the reload",
              not late)
    fig.bound("checkouts succeed on the new primary",
              fig.extra["checkouts_on_new_primary"] > 0)
    consistency(st, fig)
    orders_all_there(st, users, fig)
    return fig.finish()
