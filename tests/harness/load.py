"""
load.py - signed-in users and the load generator that drives them through
the front.

sign_in_population() signs users up and in through the real pages. Load
drives their sessions, one thread per session, each sending GET / (must
say "Signed in as NAME") or POST /api/cart/add (with X-CSRF-Token; the
answer must name the user) and then thinking for a random while, so that
all threads together aim at `rate` requests a second. A user never has two
requests of their own in flight, so what each was told is exact: every add
answered 200 must be in its cart. A Load is bounded in requests and in
time and stops by itself at whichever bound comes first.
"""

import json
import random
import threading
import time
import urllib.parse

from .core import TestFailure, new_name
from .sid import record_key, session_hash
from .web import Browser, attempt, cookie_is_expiry, parse_set_cookie, signed_in_as

ADDS_PER_ITEM = 900     # a cart line holds at most 999 of an item


class Session:
    """One signed-in browser session of a user."""

    def __init__(self, name, cookie_name, cookie, csrf, prefix):
        self.name = name
        self.cookie_name = cookie_name
        self.cookie = cookie
        self.csrf = csrf
        self.key = record_key(prefix, session_hash(cookie))
        self.acked = {}         # tag -> start times of the adds answered 200
        self.unsure = {}        # tag -> adds without a 200
        self.signed_out = None  # first sign of being anonymous, or None

    def cookie_header(self):
        return f"{self.cookie_name}={self.cookie}"

    def browser(self, port, timeout=15.0):
        b = Browser(port, timeout)
        b.jar = {self.cookie_name: self.cookie}
        return b

    def acked_count(self, tag):
        return len(self.acked.get(tag, ()))

    def absorb(self, r):
        """Takes a re-signed session cookie from a response, like a browser.
        True when the response expired the session cookie instead."""
        expired = False
        for line in r.set_cookies() if not isinstance(r, str) else ():
            n, v, attrs = parse_set_cookie(line)
            if n != self.cookie_name:
                continue
            if v == "" or cookie_is_expiry(attrs):
                expired = True
            else:
                self.cookie = v
        return expired


def sign_in_population(port, users, sessions, cookie_name, prefix, password,
                       parallel=4, timeout=30.0, name="pop", log=print):
    """Signs up `users` users through the real pages, then signs them in
    again in turn until there are `sessions` sessions (the sign-up is each
    user's first). Argon2id makes each sign-up or login cost ~50 ms of CPU;
    `parallel` threads share that. Setting up is not under test, so a 5xx
    or a transport error is retried a few times. Returns [Session]."""
    base = new_name(name)
    names = [f"{base}_{i:04d}" for i in range(users)]
    jobs = [(names[i % users], i < users) for i in range(sessions)]
    out, errors, lock = [], [], threading.Lock()

    def one(user, signup):
        err = None
        for attempt_no in range(5):
            b = Browser(port, timeout)
            try:
                r = (b.signup if signup else b.login)(user, password, expect=None)
                err = r.describe()
                if r.status == 303 and cookie_name in b.jar:
                    j = b.api_session()
                    if j.get("user") == user:
                        with lock:
                            out.append(Session(user, cookie_name, b.jar[cookie_name],
                                               j["csrf"], prefix))
                        return
                    err = f"signed in, but /api/session says {j.get('user')!r}"
                    break
                if r.status < 500:
                    break
            except (OSError, TestFailure) as e:
                err = repr(e)
            time.sleep(0.2 * (attempt_no + 1))
        with lock:
            errors.append(f"{'signup' if signup else 'login'} {user}: {err}")

    def run(batch):
        it, it_lock = iter(batch), threading.Lock()

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
    run(jobs[:users])           # a login needs the user
    run(jobs[users:])
    if errors:
        raise TestFailure(f"{len(errors)} of {sessions} sign-ins failed, e.g. {errors[:3]}")
    log(f"population: {len(out)} sessions of {users} users signed in "
        f"({users} sign-ups, {sessions - users} logins) in {time.monotonic() - t0:.1f}s")
    return out


# --------------------------------------------------------------------------
# one request

class Result:
    __slots__ = ("t0", "t1", "what", "status", "ok", "anon", "session", "note")

    def __init__(self, t0, t1, what, status, ok, anon, session, note=""):
        self.t0, self.t1, self.what, self.status = t0, t1, what, status
        self.ok, self.anon, self.session, self.note = ok, anon, session, note

    @property
    def kind(self):
        """ok, signed_out (the answer was anonymous), unavailable (503) or
        failed (anything else, or no answer at all)."""
        if self.ok:
            return "ok"
        if self.anon:
            return "signed_out"
        return "unavailable" if self.status == 503 else "failed"


def _status(r):
    return r if isinstance(r, str) else r.status


def view(port, s, timeout):
    """GET / as session s."""
    t0 = time.monotonic()
    r = attempt(port, "GET", "/", {"Cookie": s.cookie_header()}, None, timeout)
    expired = s.absorb(r)
    anon = expired or (_status(r) == 200 and not signed_in_as(r.body, s.name))
    ok = _status(r) == 200 and not anon
    return Result(t0, time.monotonic(), "GET /", _status(r), ok, anon, s,
                  "" if ok or isinstance(r, str) else r.describe())


def add(port, s, tag, n, timeout):
    """POST /api/cart/add of one "TAG-(n mod 3)" as session s; counts it in
    s.acked when answered 200 for this user, else in s.unsure."""
    body = urllib.parse.urlencode({"item": f"{tag}-{n % 3}", "qty": "1"})
    hdrs = {"Cookie": s.cookie_header(), "X-CSRF-Token": s.csrf,
            "Content-Type": "application/x-www-form-urlencoded"}
    t0 = time.monotonic()
    r = attempt(port, "POST", "/api/cart/add", hdrs, body, timeout)
    anon = s.absorb(r) or _status(r) == 401
    ok = False
    if _status(r) == 200:
        try:
            ok = json.loads(r.body).get("user") == s.name
        except ValueError:
            ok = False
        anon = anon or not ok
    if ok:
        s.acked.setdefault(tag, []).append(t0)
    else:
        s.unsure[tag] = s.unsure.get(tag, 0) + 1
    return Result(t0, time.monotonic(), "POST add", _status(r), ok, anon, s,
                  "" if ok or isinstance(r, str) else r.describe())


def session_state(port, s, settle=0.0, timeout=10.0):
    """(status, /api/session JSON or None) for session s; polls for up to
    `settle` seconds while the answer is not 200."""
    deadline = time.monotonic() + settle
    while True:
        r = attempt(port, "GET", "/api/session", {"Cookie": s.cookie_header()}, None, timeout)
        if _status(r) == 200:
            return 200, json.loads(r.body)
        if time.monotonic() >= deadline:
            return _status(r), None
        time.sleep(0.1)


def cart_count(j, tag):
    """How many items of a Load's tag a /api/session answer's cart holds."""
    return sum(q for item, q in (j.get("cart") or {}).items() if item.startswith(tag + "-"))


# --------------------------------------------------------------------------
# the load

class Load:
    """Drives `sessions` through the front on `port` (see the module's
    comment): at most `requests` requests in all, for at most `seconds`
    seconds, whichever comes first; share `add_share` of them cart adds
    tagged `tag`. start(), then wait() for it to stop by itself, or stop()
    it sooner."""

    def __init__(self, port, sessions, tag, rate, seconds, requests,
                 timeout=40.0, add_share=0.3):
        self.port = port
        self.sessions = sessions
        self.tag = tag
        self.timeout = timeout
        self.add_share = add_share
        self.seconds = seconds
        self.budget = requests
        self.mean_think = len(sessions) / float(rate)
        self.results = [[] for _ in sessions]
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.started = 0        # requests sent so far
        self.threads = []
        self.events = []        # (monotonic time, label)
        self.t_start = self.t_stop = None

    def _ticket(self):
        """May a user send one more request? Counts it as in flight."""
        with self.lock:
            if self.budget <= 0 or time.monotonic() >= self.t_start + self.seconds:
                if self.t_stop is None:
                    self.t_stop = time.monotonic()
                return False
            self.budget -= 1
            self.in_flight += 1
            self.started += 1
            return True

    def _think(self, rnd):
        """A random pause, cut short by stop() and by the time bound."""
        left = self.t_start + self.seconds - time.monotonic()
        self.stopping.wait(max(0.0, min(rnd.expovariate(1.0 / self.mean_think), left)))

    def _user(self, i):
        s = self.sessions[i]
        rnd = random.Random(i * 7919 + hash(self.tag))
        out = self.results[i]
        adds = 0
        # Spread the first requests over one think time.
        if self.stopping.wait(rnd.uniform(0, self.mean_think)):
            return
        while not self.stopping.is_set() and self._ticket():
            try:
                if rnd.random() < self.add_share and s.acked_count(self.tag) < 3 * ADDS_PER_ITEM:
                    r = add(self.port, s, self.tag, adds, self.timeout)
                    adds += 1
                else:
                    r = view(self.port, s, self.timeout)
            finally:
                with self.lock:
                    self.in_flight -= 1
            out.append(r)
            if r.anon and s.signed_out is None:
                s.signed_out = f"{r.what} -> {r.status} (anonymous) at " \
                    f"{r.t1 - self.t_start:.2f}s"
            self._think(rnd)

    def start(self):
        self.t_start = time.monotonic()
        self.threads = [threading.Thread(target=self._user, args=(i,), daemon=True)
                        for i in range(len(self.sessions))]
        for t in self.threads:
            t.start()
        return self

    def mark(self, label):
        """Records an event (a fault) and returns the requests in flight."""
        with self.lock:
            n = self.in_flight
        self.events.append((time.monotonic(), label))
        return n

    def sent(self):
        """Requests sent so far: their difference around a fault counts
        those that started while it was happening."""
        with self.lock:
            return self.started

    def wait(self):
        """Waits until the load has stopped by itself."""
        deadline = self.t_start + self.seconds + self.timeout + 10
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        self.stop()

    def stop(self):
        """Stops sending; waits for requests in flight (each ends within the
        client timeout)."""
        if self.t_stop is None:
            self.t_stop = time.monotonic()
        self.stopping.set()
        deadline = time.monotonic() + self.timeout + 10
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        hung = sum(1 for t in self.threads if t.is_alive())
        if hung:
            raise TestFailure(f"{hung} load threads still running "
                              f"{self.timeout + 10:.0f}s after stop")
        return self

    # ------------------------------------------------------------ figures
    def all_results(self, since=None):
        return sorted((r for rs in self.results for r in list(rs)
                       if since is None or r.t1 >= since), key=lambda r: r.t0)

    def total(self):
        return len(self.all_results())

    def count(self, kind, since=None):
        return sum(1 for r in self.all_results(since) if r.kind == kind)

    def first_failures(self, kinds, n=3):
        return [f"{r.session.name} {r.what}: {r.status} {r.note[:200]}"
                for r in self.all_results() if r.kind in kinds][:n]

    def window(self, kind, since):
        """(first, last, count) of the answers of a kind after `since`."""
        ts = [r.t1 for r in self.all_results(since) if r.kind == kind]
        return (min(ts), max(ts), len(ts)) if ts else (None, None, 0)

    def all_ok_since(self, t):
        """Every session has had an ok answer after t, and no other answer
        after its first ok one."""
        for rs in self.results:
            seq = [r.kind for r in list(rs) if r.t1 >= t]
            if "ok" not in seq or any(k != "ok" for k in seq[seq.index("ok"):]):
                return False
        return True

    def carts(self):
        """{session: items of this load's tag in its cart}, read through the
        front; each session must still be signed in as its user."""
        out = {}
        for s in self.sessions:
            st, j = session_state(self.port, s)
            if j is None or j.get("user") != s.name:
                raise TestFailure(f"{s.name}: GET /api/session answered {st}, "
                                  f"user {j and j.get('user')!r}")
            out[s] = cart_count(j, self.tag)
        return out
