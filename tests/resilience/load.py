"""
load.py - a fixed population of signed-in users, a bounded load generator
that drives them through the balancer, and the figures a scenario prints.

One thread per session: a user never has two requests of their own in
flight (scenario 7 tests that separately), so what each user was told is
exact: every cart add that answered 200 must be in their cart at the end.
A user thinks for a random while between requests, so the load is spread
over all users the way real traffic is, and a stuck request holds up only
its own user, not the others.
"""

import base64
import hashlib
import http.client
import json
import random
import socket
import threading
import time
import urllib.parse

import lib

PASSWORD = "resilience horse battery"


class Session:
    """One signed-in browser session of a user."""

    def __init__(self, name, cookie_name, cookie, csrf, prefix):
        self.name = name
        self.cookie_name = cookie_name
        self.cookie = cookie
        self.csrf = csrf
        self.key = store_key(cookie, prefix)
        self.acked = {}         # scenario tag -> quantity added with a 200
        self.unsure = {}        # scenario tag -> adds without a 200
        self.signed_out = None  # first sign of being anonymous, or None

    def cookie_header(self):
        return f"{self.cookie_name}={self.cookie}"


def store_key(cookie, prefix):
    """The Redis key of a session, as app/tier/sid.c derives it: the cookie
    is base64url(key id || ID || MAC); the key is PREFIX s:{b64url(BLAKE2b-128(ID))}."""
    raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    if len(raw) != 65:
        raise lib.TestFailure(f"session cookie decodes to {len(raw)} bytes, "
                              "expected 65 (key id, ID, MAC)")
    h = hashlib.blake2b(raw[1:33], digest_size=16).digest()
    enc = base64.urlsafe_b64encode(h).decode().rstrip("=")
    return f"{prefix}s:{{{enc}}}"


# --------------------------------------------------------------------------
# one request

class Result:
    __slots__ = ("t0", "t1", "kind", "status", "ok", "anon", "user")

    def __init__(self, t0, t1, kind, status, ok, anon, user):
        self.t0, self.t1, self.kind = t0, t1, kind
        self.status, self.ok, self.anon, self.user = status, ok, anon, user


def http_request(port, method, path, headers, body, timeout):
    """One request on a fresh connection. Returns (status, headers, body),
    status being an int, or a word for what went wrong at the transport
    level: 'refused', 'reset', 'closed', 'timeout', 'error'."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return r.status, r.headers, data
    except ConnectionRefusedError:
        return "refused", None, b""
    except ConnectionResetError:
        return "reset", None, b""
    except http.client.RemoteDisconnected:
        return "closed", None, b""
    except (socket.timeout, TimeoutError):
        return "timeout", None, b""
    except (OSError, http.client.HTTPException):
        return "error", None, b""
    finally:
        conn.close()


def cookie_expired(headers, name):
    for line in (headers.get_all("Set-Cookie") or []) if headers else []:
        n, v, attrs = lib.parse_set_cookie(line)
        if n == name and (v == "" or lib.cookie_is_expiry(attrs)):
            return True
    return False


def do_get_home(port, s, timeout):
    t0 = time.monotonic()
    st, hdrs, body = http_request(port, "GET", "/",
                                  {"Cookie": s.cookie_header()}, None, timeout)
    t1 = time.monotonic()
    anon = False
    if st == 200:
        anon = not lib.signed_in_as(body.decode("utf-8", "replace"), s.name)
    anon = anon or cookie_expired(hdrs, s.cookie_name)
    return Result(t0, t1, "GET /", st, st == 200 and not anon, anon, s)


def do_add(port, s, tag, n, timeout):
    item = f"{tag}-{n % 3}"
    body = urllib.parse.urlencode({"item": item, "qty": "1"})
    hdrs = {"Cookie": s.cookie_header(), "X-CSRF-Token": s.csrf,
            "Content-Type": "application/x-www-form-urlencoded"}
    t0 = time.monotonic()
    st, rh, data = http_request(port, "POST", "/api/cart/add", hdrs, body,
                                timeout)
    t1 = time.monotonic()
    anon = st == 401 or cookie_expired(rh, s.cookie_name)
    ok = False
    if st == 200:
        try:
            ok = json.loads(data).get("user") == s.name
        except ValueError:
            ok = False
        anon = anon or not ok
    if ok:
        s.acked[tag] = s.acked.get(tag, 0) + 1
    else:
        s.unsure[tag] = s.unsure.get(tag, 0) + 1
    return Result(t0, t1, "POST add", st, ok, anon, s)


# --------------------------------------------------------------------------
# the population

def sign_in_population(port, users, per_user, cookie_name, prefix,
                       parallel=4, timeout=30.0, log=print):
    """Signs up `users` users through the real pages and signs each in
    `per_user` times in all (the signup is the first session), so
    users * per_user sessions. Argon2id makes each sign-up or login cost
    ~50 ms of CPU; `parallel` threads share that. Setting up is not under
    test, so a 5xx or a transport error is retried a few times."""
    tag = lib.new_name("rz")[3:9]
    names = [f"rz{tag}_{i:04d}" for i in range(users)]
    jobs = [(n, i) for n in names for i in range(per_user)]
    # Signups first (a login needs the user), then the logins.
    firsts = [j for j in jobs if j[1] == 0]
    rest = [j for j in jobs if j[1] != 0]
    out, errors, lock = [], [], threading.Lock()

    def one(name, i):
        for attempt in range(5):
            b = lib.Browser(port, timeout)
            try:
                if i == 0:
                    r = b.signup(name, PASSWORD, expect=None)
                else:
                    r = b.login(name, PASSWORD, expect=None)
            except (OSError, http.client.HTTPException, lib.TestFailure) as e:
                r, err = None, repr(e)
            else:
                err = r.describe()
            if r is not None and r.status == 303 and cookie_name in b.jar:
                try:
                    j = b.api_session()
                except (OSError, http.client.HTTPException,
                        lib.TestFailure) as e:
                    j, err = None, f"GET /api/session: {e!r}"
                if j is not None and j.get("user") == name:
                    with lock:
                        out.append(Session(name, cookie_name,
                                           b.jar[cookie_name], j["csrf"],
                                           prefix))
                    return
                if j is not None:
                    err = f"signed in, but /api/session says {j.get('user')!r}"
                    break
            if r is not None and r.status < 500:
                break
            time.sleep(0.2 * (attempt + 1))
        with lock:
            errors.append(f"{'signup' if i == 0 else 'login'} {name}: {err}")

    def run(batch):
        it = iter(batch)
        it_lock = threading.Lock()

        def worker():
            while True:
                with it_lock:
                    job = next(it, None)
                if job is None:
                    return
                one(*job)

        ths = [threading.Thread(target=worker) for _ in range(parallel)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()

    t0 = time.monotonic()
    run(firsts)
    run(rest)
    if errors:
        raise lib.TestFailure(f"{len(errors)} of {len(jobs)} sign-ins failed, "
                              f"e.g. {errors[:3]}")
    log(f"population: {len(out)} sessions of {users} users signed in "
        f"({len(firsts)} sign-ups, {len(rest)} logins) in "
        f"{time.monotonic() - t0:.1f}s")
    return out


# --------------------------------------------------------------------------
# the load

class Load:
    """Drives `sessions` through the balancer until stop(): one thread per
    session, each sending GET / or POST /api/cart/add (share `add_share`)
    and then thinking for a random while so that all threads together aim
    at `rate` requests per second."""

    def __init__(self, port, sessions, tag, rate, timeout, add_share=0.3):
        self.port = port
        self.sessions = sessions
        self.tag = tag
        self.timeout = timeout
        self.add_share = add_share
        self.mean_think = len(sessions) / float(rate)
        self.results = [[] for _ in sessions]
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.threads = []
        self.events = []        # (monotonic time, label)
        self.t_start = self.t_stop = None

    def _user(self, i):
        s = self.sessions[i]
        rnd = random.Random(i * 7919 + hash(self.tag))
        out = self.results[i]
        n = 0
        # Spread the first requests over one think time.
        if self.stopping.wait(rnd.uniform(0, self.mean_think)):
            return
        while not self.stopping.is_set():
            with self.lock:
                self.in_flight += 1
            try:
                if rnd.random() < self.add_share:
                    r = do_add(self.port, s, self.tag, n, self.timeout)
                else:
                    r = do_get_home(self.port, s, self.timeout)
            finally:
                with self.lock:
                    self.in_flight -= 1
            n += 1
            out.append(r)
            if r.anon and s.signed_out is None:
                s.signed_out = f"{r.kind} -> {r.status} (anonymous) at " \
                    f"{r.t1 - self.t_start:.2f}s"
            self.stopping.wait(rnd.expovariate(1.0 / self.mean_think))

    def start(self):
        self.t_start = time.monotonic()
        self.threads = [threading.Thread(target=self._user, args=(i,),
                                         daemon=True)
                        for i in range(len(self.sessions))]
        for t in self.threads:
            t.start()

    def mark(self, label):
        """Records an event (a fault) and returns the requests in flight."""
        with self.lock:
            n = self.in_flight
        self.events.append((time.monotonic(), label))
        return n

    def stop(self):
        """Stops sending; waits for requests in flight (each ends within the
        client timeout)."""
        self.t_stop = time.monotonic()
        self.stopping.set()
        deadline = time.monotonic() + self.timeout + 10
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        hung = sum(1 for t in self.threads if t.is_alive())
        if hung:
            raise lib.TestFailure(f"{hung} load threads still running "
                                  f"{self.timeout + 10:.0f}s after stop")

    def all_results(self):
        return sorted((r for rs in self.results for r in rs),
                      key=lambda r: r.t0)


# --------------------------------------------------------------------------
# figures

class Figures:
    """What one scenario measured. `bounds` is a list of
    (description, passed) the scenario checked."""

    def __init__(self, name):
        self.name = name
        self.sent = 0
        self.ok = 0
        self.failed = {}            # status -> count
        self.signed_out = 0
        self.sessions_lost = 0
        self.cart_lost = 0
        self.cart_extra = 0
        self.gap = 0.0
        self.slowest = 0.0
        self.p99 = 0.0
        self.extra = {}             # scenario-specific figures
        self.bounds = []
        self.notes = []

    @property
    def nfailed(self):
        return sum(self.failed.values())

    @property
    def passed(self):
        return all(ok for _, ok in self.bounds)

    def bound(self, desc, ok):
        self.bounds.append((desc, bool(ok)))

    def failed_text(self):
        if not self.failed:
            return "0"
        parts = ", ".join(f"{k}: {v}" for k, v in
                          sorted(self.failed.items(), key=lambda kv: str(kv[0])))
        return f"{self.nfailed} ({parts})"

    def line(self):
        extra = "".join(f" {k}={v}" for k, v in self.extra.items())
        return (f"figures {self.name}: sent={self.sent} failed={self.failed_text()} "
                f"signed_out={self.signed_out} sessions_lost={self.sessions_lost} "
                f"cart_lost={self.cart_lost} longest_gap={self.gap:.2f}s "
                f"slowest={self.slowest:.2f}s p99={self.p99:.3f}s "
                f"cart_applied_without_200={self.cart_extra}{extra}")


def count_failures(results):
    """{"502 POST": 3, "timeout GET": 1, ...}: status (or transport error)
    and method of every request that did not succeed."""
    failed = {}
    for r in results:
        if not r.ok:
            st = "200-anonymous" if r.status == 200 and r.anon else r.status
            key = f"{st} {r.kind.split()[0]}"
            failed[key] = failed.get(key, 0) + 1
    return failed


def longest_gap(results, t_start, t_end):
    """Longest stretch of [t_start, t_end] in which no request completed
    successfully."""
    times = sorted(r.t1 for r in results if r.ok and t_start <= r.t1 <= t_end)
    edges = [t_start] + times + [t_end]
    return max(b - a for a, b in zip(edges, edges[1:]))


def percentile(values, q):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def fill_load_figures(fig, load, results=None):
    rs = load.all_results() if results is None else results
    fig.sent = len(rs)
    fig.ok = sum(1 for r in rs if r.ok)
    fig.failed = count_failures(rs)
    fig.gap = longest_gap(rs, load.t_start, load.t_stop)
    lat = [r.t1 - r.t0 for r in rs]
    fig.slowest = max(lat) if lat else 0.0
    fig.p99 = percentile(lat, 0.99)
    if load.events:
        fig.notes.append("timeline: " + "; ".join(
            f"{t - load.t_start:.2f}s {what}" for t, what in load.events)
            + f"; {load.t_stop - load.t_start:.2f}s load stopped")
    return rs


def verify_sessions(stack, sessions, tag, fig, settle_timeout=10.0,
                    expect_anonymous=()):
    """After the fault is over: every session must still be signed in as
    its user (GET /api/session through the balancer) and hold its record
    in Redis, and its cart must hold every add of this scenario that was
    answered 200. Sessions in expect_anonymous are checked the other way
    round. Fills signed_out, sessions_lost, cart_lost, cart_extra."""
    red = stack.redis()
    try:
        missing = [s for s in sessions if red.cmd("EXISTS", s.key) != 1]
    finally:
        red.close()
    fig.sessions_lost = sum(1 for s in missing if s not in expect_anonymous)
    lost, extra, out, problems = 0, 0, 0, []
    for s in sessions:
        j, last = None, None
        deadline = time.monotonic() + settle_timeout
        while True:
            st, hdrs, body = http_request(
                stack.http_port, "GET", "/api/session",
                {"Cookie": s.cookie_header()}, None, 10.0)
            last = st
            if st == 200:
                j = json.loads(body)
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if j is None:
            problems.append(f"{s.name}: GET /api/session answered {last} "
                            f"for {settle_timeout:.0f}s")
            continue
        if s in expect_anonymous:
            continue
        if j.get("user") != s.name:
            out += 1
            if s.signed_out is None:
                s.signed_out = f"GET /api/session at the end: user {j.get('user')!r}"
            continue
        have = sum(q for item, q in j.get("cart", {}).items()
                   if item.startswith(tag + "-"))
        want = s.acked.get(tag, 0)
        lost += max(0, want - have)
        extra += max(0, have - want)
    during = sum(1 for s in sessions
                 if s.signed_out is not None and s not in expect_anonymous)
    fig.signed_out = max(during, out)
    fig.cart_lost = lost
    fig.cart_extra = extra
    if problems:
        fig.notes.append(f"{len(problems)} sessions could not be read back: "
                         f"{problems[:3]}")
        fig.bound("every session can be read back after the fault", False)
