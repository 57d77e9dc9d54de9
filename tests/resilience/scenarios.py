"""
scenarios.py - what the resilience suite breaks, and the bound each break
must stay within. Each scenario drives the population through the balancer
for a bounded time, applies its fault in the middle, puts back what it
broke, reads every session back, and returns its Figures with the bounds it
checked. `run` calls them in the order of SCENARIOS.
"""

import json
import signal
import threading
import time

from harness.figures import (Figures, count_failures, fill_load_figures, longest_gap,
                     percentile, verify_sessions)
from harness.core import TestFailure
from harness.load import Load, Session, add, session_state
from harness.procs import wait_dead
from harness.web import Browser

PASSWORD = "resilience horse battery"


class Settings:
    """Short form for `make check`, long form with SOAK=1."""

    def __init__(self, soak, scale=1.0):
        self.soak = soak
        self.scale = scale                  # slower builds (sanitizers): x3
        self.users = 200 if soak else 40
        self.sessions_per_user = 5          # 1000 or 200 sessions
        self.rate = (300.0 if soak else 150.0) / scale  # requests/s, all users
        self.duration = 60.0 if soak else 8.0
        self.sigterm_rounds = 24 if soak else 8  # scenario 2
        self.redis_stop = 5.0               # scenario 5, both forms
        self.same_session_clients = 50      # scenario 7
        self.same_session_adds = 20 if soak else 4
        self.client_timeout = 40.0          # a request slower than this hangs
        # Bounds shared by several scenarios.
        # Worker: SHOAL_REDIS_TIMEOUT_MS (0.5 s) for a connect and as much
        # for a command, plus slack; reconnect backoff at most 0.5 s.
        self.fast_503 = 1.5 * scale         # slowest answer while Redis is away
        self.recover = 1.5 * scale          # Redis back -> no more failures
        # A worker answers within ~1 s even when Redis hangs (a connect and
        # a command, SHOAL_REDIS_TIMEOUT_MS each), so a balancer read
        # timeout of 3 s is 3x headroom; plus 1.5 s for the retry elsewhere.
        self.hang = 4.5 * scale             # slowest request, worker paused
        self.gap = 1.0 * scale              # others keep serving


class Context:
    def __init__(self, stack, settings, log):
        self.stack = stack
        self.s = settings
        self.log = log
        self.pop = []           # the signed-in sessions the load drives

    def load(self, tag, duration, sessions=None, rate=None):
        """The load for one scenario: it stops by itself after `duration`
        seconds (or twice the requests that takes, whichever comes first)."""
        rate = rate or self.s.rate
        return Load(self.stack.http_port, sessions or self.pop, tag, rate, duration,
                    int(2 * rate * duration) + 100, self.s.client_timeout)


SCENARIOS = []


def scenario(fn):
    SCENARIOS.append(fn)
    return fn


def sleep_until(t):
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)


def drive(ctx, tag, duration, faults, sessions=None, rate=None):
    """Runs the load for `duration` seconds, calling each fault (at, fn) at
    its time with the Load; always stops the load, even when a fault
    raises."""
    load = ctx.load(tag, duration, sessions, rate).start()
    try:
        for at, fn in faults:
            sleep_until(load.t_start + at)
            fn(load)
        load.wait()
    finally:
        load.stop()
    return load


def standard_bounds(fig, zero_failed=True):
    fig.bound("zero users signed out", fig.signed_out == 0)
    fig.bound("zero sessions lost", fig.sessions_lost == 0)
    fig.bound("zero cart updates lost", fig.cart_lost == 0)
    if zero_failed:
        fig.bound("zero failed requests", fig.nfailed == 0)


def sentinel_figure(st, fig):
    """Whether the Sentinels (if the stack has any) failed over."""
    if st.sentinels:
        m = st.sentinel_master()
        fig.extra["sentinel_failover"] = \
            "no" if m == ("127.0.0.1", st.redis_port) else \
            f"yes_to_{m[1]}" if m else "unknown"


def failures(load):
    return [r for r in load.all_results() if not r.ok]


# --------------------------------------------------------------------------

@scenario
def s0_baseline(ctx):
    """The same load with no fault: what every other scenario is compared
    with. A failure here is the stack or the load, not a fault."""
    fig = Figures("0 baseline (no fault)")
    load = drive(ctx, "s0", ctx.s.duration, [])
    fill_load_figures(fig, load)
    verify_sessions(ctx.stack, ctx.pop, "s0", fig)
    standard_bounds(fig)
    return fig


@scenario
def s1_sigkill_worker_then_server(ctx):
    """SIGKILL one worker process of the first server, later every process
    of the second. nginx retries a GET on another server when the connection
    breaks; a POST already sent to the dead process cannot be retried (it
    may have been applied), so it fails: at most the requests in flight at
    each kill may fail. Nobody is signed out, nothing acknowledged is lost."""
    st = ctx.stack
    fig = Figures("1 SIGKILL worker, then server")
    d = ctx.s.duration
    victims = {}
    one, two = st.server_ids()[:2]

    def kill(load, key, pids, label):
        # In flight: those sent before the signal, and those sent until
        # the kernel has ended the processes and closed their sockets (a
        # request nginx passes on meanwhile may reach a dying process).
        n, before = load.mark(label), load.sent()
        st.signal(pids, signal.SIGKILL)
        for p in pids:
            wait_dead(p, 5.0)
        victims[key] = (pids, n + load.sent() - before)

    def kill_one(load):
        pid = st.server_pids(one)[0]
        kill(load, "proc", [pid], f"SIGKILL pid {pid} (server {one})")

    def kill_server(load):
        pids = st.server_pids(two)
        kill(load, "server", pids, f"SIGKILL server {two} {pids}")

    load = drive(ctx, "s1", d, [(d * 0.3, kill_one), (d * 0.6, kill_server)])
    fill_load_figures(fig, load)
    verify_sessions(st, ctx.pop, "s1", fig)
    inflight = victims["proc"][1] + victims["server"][1]
    fig.extra["in_flight_at_kills"] = \
        f"{victims['proc'][1]}+{victims['server'][1]}"
    standard_bounds(fig, zero_failed=False)
    fig.bound(f"failed <= requests in flight at the kills ({inflight})",
              fig.nfailed <= inflight)
    fig.bound("only POSTs fail (GETs are retried on another server)",
              all(r.what != "GET /" for r in failures(load)))
    return fig


@scenario
def s2_sigterm_server(ctx):
    """SIGTERM every process of a worker server, the way a service manager
    stops it (nothing tells the balancer first), then start it again on its
    port; one server after the other, several rounds. Each worker stops
    accepting, finishes what it has and exits 0; nginx meets refused
    connections and goes to the next server. No request may fail. A race at
    one SIGTERM is rare enough to pass by luck, so this runs 8 rounds (24
    soak) at three times the usual rate, and the figures give failures per
    SIGTERM."""
    st = ctx.stack
    rounds = ctx.s.sigterm_rounds
    fig = Figures(f"2 SIGTERM server x{rounds} (drain)")
    # nginx keeps a server that failed once out for fail_timeout (2 s):
    # rounds further apart than that take out one server at a time. (A
    # second apart, two were out at once, and a reset on the third left
    # nginx with "no live upstreams": 502 for everyone.)
    step = 2.2
    d = step * (rounds + 1)
    info = {"in_flight": [], "drain": [], "exit": []}
    servers = st.server_ids()

    def term(i):
        def fn(load):
            k = servers[i % len(servers)]
            pids = st.server_pids(k)
            info["in_flight"].append(load.mark(f"SIGTERM server {k} {pids}"))
            t0 = time.monotonic()
            st.signal(pids, signal.SIGTERM)
            for p in pids:
                if not wait_dead(p, 30):
                    raise TestFailure(f"pid {p} alive 30 s after SIGTERM")
            info["drain"].append(time.monotonic() - t0)
            info["exit"].append(stopped_line_count(st, k, pids))
            # Back on the same port, as a service manager would restart it.
            st.start_server(k)
            load.mark(f"server {k} started again")
        return fn

    load = drive(ctx, "s2", d, [(step * (i + 1), term(i))
                                for i in range(rounds)], rate=ctx.s.rate * 3)
    fill_load_figures(fig, load)
    verify_sessions(st, ctx.pop, "s2", fig)
    fig.extra["in_flight_at_sigterms"] = "+".join(map(str, info["in_flight"]))
    fig.extra["failed_per_sigterm"] = f"{fig.nfailed / max(1, rounds):.2f}"
    fig.extra["drained_in_max"] = f"{max(info['drain'], default=0):.2f}s"
    standard_bounds(fig)
    clean, nprocs = sum(info["exit"]), rounds * st.procs
    fig.bound(f"every worker logged a clean stop after SIGTERM "
              f"({clean} of {nprocs})", clean == nprocs)
    return fig


def stopped_line_count(st, k, pids):
    """How many of pids wrote the worker's last log line, "stopped", to
    server-k.log: they drained and returned, rather than being killed."""
    want = {str(p) for p in pids}
    seen = set()
    try:
        with open(st.path(f"server-{k}.log"), errors="replace") as f:
            for line in f:
                if "stopped" not in line:
                    continue
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                pid = str(j.get("worker", "")).rpartition(":")[2]
                if j.get("msg") == "stopped" and pid in want:
                    seen.add(pid)
    except OSError:
        pass
    return len(seen)


@scenario
def s3_scale_up_and_down(ctx):
    """Scale from the stack's servers to one more, then down to two, under
    load. A new server must be serving before the balancer sends to it; a
    server taken out must get no new requests before it is stopped."""
    st = ctx.stack
    fig = Figures("3 scale up, then down")
    d = ctx.s.duration
    base = len(st.server_ids())
    up, down = base + 1, max(1, base - 1)
    info = {}

    def scale(n):
        def fn(load):
            load.mark(f"scale to {n}")
            t0 = time.monotonic()
            st.scale_to(n)
            info[f"to {n}"] = time.monotonic() - t0
        return fn

    load = drive(ctx, "s3", d, [(d * 0.25, scale(up)), (d * 0.6, scale(down))])
    fill_load_figures(fig, load)
    verify_sessions(st, ctx.pop, "s3", fig)
    fig.extra["servers"] = f"{base}->{up}->{down}"
    fig.extra["scale_took"] = "+".join(
        f"{info[k]:.1f}s" for k in (f"to {up}", f"to {down}") if k in info)
    standard_bounds(fig)
    return fig


@scenario
def s4_restart_redis(ctx):
    """Restart Redis (SIGTERM: it writes its append-only file out; then
    redis-server from the stack's redis.conf). While it is away signed-in
    requests get 503; once it answers, the workers reconnect by themselves
    within the reconnect backoff, and every session and every acknowledged
    cart update is still there."""
    st = ctx.stack
    fig = Figures("4 restart Redis (AOF)")
    d = ctx.s.duration
    info = {}

    def restart(load):
        load.mark("Redis SIGTERM")
        info["down"], info["pid"] = st.restart_redis()
        info["back"] = time.monotonic()
        load.mark("Redis answers again")

    load = drive(ctx, "s4", d, [(d * 0.4, restart)])
    fill_load_figures(fig, load)
    verify_sessions(st, ctx.pop, "s4", fig)
    fails = failures(load)
    late = [r.t1 - info["back"] for r in fails if r.t1 > info["back"]]
    fig.extra["redis_down"] = f"{info['down']:.2f}s"
    sentinel_figure(st, fig)
    fig.extra["last_failure_after_redis_back"] = \
        f"{max(late):.2f}s" if late else "none"
    standard_bounds(fig, zero_failed=False)
    fig.bound("failures are 503 only", all(r.status == 503 for r in fails))
    fig.bound(f"workers reconnect by themselves: no failure later than "
              f"{ctx.s.recover}s after Redis answers",
              not late or max(late) <= ctx.s.recover)
    return fig


@scenario
def s5_redis_stopped(ctx):
    """SIGSTOP Redis for a few seconds: a Redis that hangs rather than one
    that is gone. Signed-in requests must get a 503 quickly (the worker's
    Redis timeout), never hang; when Redis runs again everything recovers:
    nobody signed out, no acknowledged cart update lost. An add whose 503
    was a timeout may still be applied when Redis wakes up (it was sent):
    that shows as applied-without-200, never as lost. With Sentinels in the
    stack, a primary that stops answering for longer than their
    down-after-milliseconds is failed over to the replica and the workers
    follow it; the bounds are the same, and the figures say whether that
    happened."""
    st = ctx.stack
    fig = Figures(f"5 Redis stopped {ctx.s.redis_stop:.0f}s")
    d = ctx.s.duration + ctx.s.redis_stop
    info = {}
    pid = st.redis_pid()

    def stop(load):
        info["in_flight"] = load.mark("Redis SIGSTOP")
        info["t_stop"] = time.monotonic()
        st.signal([pid], signal.SIGSTOP)

    def cont(load):
        st.signal([pid], signal.SIGCONT)
        info["t_cont"] = time.monotonic()
        load.mark("Redis SIGCONT")

    try:
        load = drive(ctx, "s5", d, [(ctx.s.duration * 0.3, stop),
                                    (ctx.s.duration * 0.3 + ctx.s.redis_stop,
                                     cont)])
    finally:
        if pid in st.stopped:
            st.signal([pid], signal.SIGCONT)
    fill_load_figures(fig, load)
    verify_sessions(st, ctx.pop, "s5", fig)
    rs = load.all_results()
    t_stop, t_cont = info["t_stop"], info["t_cont"]
    during = [r for r in rs if t_stop <= r.t0 < t_cont]
    slow_during = max((r.t1 - r.t0 for r in during), default=0.0)
    fails = [r for r in rs if not r.ok]
    late = [r.t1 - t_cont for r in fails if r.t1 > t_cont]
    early = [r for r in fails if r.t1 < t_stop]
    sentinel_figure(st, fig)
    fig.extra["slowest_while_stopped"] = f"{slow_during:.2f}s"
    fig.extra["503s"] = sum(1 for r in fails if r.status == 503)
    fig.extra["last_failure_after_sigcont"] = \
        f"{max(late):.2f}s" if late else "none"
    standard_bounds(fig, zero_failed=False)
    fig.bound(f"503 quickly: slowest response while stopped <= "
              f"{ctx.s.fast_503}s", slow_during <= ctx.s.fast_503)
    fig.bound(f"nothing hangs: slowest response <= {ctx.s.fast_503}s",
              fig.slowest <= ctx.s.fast_503)
    fig.bound("failures are 503 only", all(r.status == 503 for r in fails))
    fig.bound("no failure before the stop", not early)
    fig.bound(f"recovers: no failure later than {ctx.s.recover}s after "
              f"SIGCONT", not late or max(late) <= ctx.s.recover)
    return fig


@scenario
def s6_worker_paused(ctx):
    """SIGSTOP every process of the last server for longer than nginx's
    fastcgi_read_timeout: a server that hangs instead of dying. The kernel
    still completes TCP handshakes on its listening socket, so connect
    succeeds and only the read timeout notices: every request routed to the
    paused server waits that long. Bounds: no request slower than 4.5 s
    (a 3 s read timeout, 3x the longest a worker legitimately takes, plus
    a retry elsewhere; nginx's 10 s fails this); zero failed GETs; a failed
    POST only as the balancer's timeout answer after the read timeout
    (nginx must not resend a POST it sent); nobody signed out, nothing
    acknowledged lost; the other servers keep serving (longest gap without
    a success under 1 s)."""
    st = ctx.stack
    rt = st.read_timeout()
    pause = rt + 2.0
    fig = Figures(f"6 pause server ({pause:.0f}s SIGSTOP)")
    pre, post = 2.0, 4.0
    k = st.server_ids()[-1]
    pids = st.server_pids(k)
    info = {}

    def stop(load):
        info["in_flight"] = load.mark(f"SIGSTOP server {k} {pids}")
        st.signal(pids, signal.SIGSTOP)

    def cont(load):
        st.signal(pids, signal.SIGCONT)
        load.mark(f"SIGCONT server {k}")

    try:
        load = drive(ctx, "s6", pre + pause + post,
                     [(pre, stop), (pre + pause, cont)])
    finally:
        live = [p for p in pids if p in st.stopped]
        if live:
            st.signal(live, signal.SIGCONT)
    fill_load_figures(fig, load)
    # nginx keeps the server out for fail_timeout after its last failure.
    time.sleep(2.5)
    verify_sessions(st, ctx.pop, "s6", fig)
    rs = load.all_results()
    fails = [r for r in rs if not r.ok]
    waited = [r for r in rs if r.t1 - r.t0 >= rt - 0.5]
    fig.extra["read_timeout"] = f"{rt:.0f}s"
    fig.extra["requests_that_waited_the_timeout"] = len(waited)
    fig.extra["failed_GET"] = sum(1 for r in fails if r.what == "GET /")
    fig.extra["failed_POST"] = sum(1 for r in fails if r.what != "GET /")
    standard_bounds(fig, zero_failed=False)
    fig.bound(f"no request slower than {ctx.s.hang:.1f}s (balancer read "
              f"timeout here: {rt:.0f}s)", fig.slowest <= ctx.s.hang)
    fig.bound("zero failed GETs", fig.extra["failed_GET"] == 0)
    fig.bound("a failed POST is the balancer's timeout answer (504 from "
              "nginx) after the read timeout",
              all(r.status in (502, 503, 504) and r.t1 - r.t0 >= rt - 0.5
                  for r in fails if r.what != "GET /"))
    fig.bound(f"the other servers keep serving: longest gap < "
              f"{ctx.s.gap:.1f}s", fig.gap < ctx.s.gap)
    return fig


@scenario
def s7_one_session_many_clients(ctx):
    """One session cookie in many parallel clients, all adding to the cart
    at once: the compare-and-set must count every add that answered 200,
    and nothing else. A change that loses the race 64 times in a row is
    answered 503 "too many concurrent changes" with Retry-After (and not
    applied); that is allowed, for at most 5 % of the adds."""
    st = ctx.stack
    n, k = ctx.s.same_session_clients, ctx.s.same_session_adds
    fig = Figures(f"7 one session, {n} parallel clients")
    first = ctx.pop[0]
    b = Browser(st.http_port, 30.0)
    b.login(first.name, PASSWORD)
    j = b.api_session()
    s = Session(first.name, st.cookie, b.jar[st.cookie], j["csrf"], st.prefix)
    barrier = threading.Barrier(n)
    results = [[] for _ in range(n)]

    def client(i):
        try:
            barrier.wait(30)
        except threading.BrokenBarrierError:
            return
        for m in range(k):
            results[i].append(add(st.http_port, s, "s7", i * k + m,
                                     ctx.s.client_timeout))

    t0 = time.monotonic()
    ths = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(ctx.s.client_timeout * k + 30)
    t1 = time.monotonic()
    rs = sorted((r for rr in results for r in rr), key=lambda r: r.t0)
    fig.sent = len(rs)
    fig.failed = count_failures(rs)
    fig.gap = longest_gap(rs, t0, t1)
    lat = [r.t1 - r.t0 for r in rs]
    fig.slowest = max(lat, default=0.0)
    fig.p99 = percentile(lat, 0.99)
    verify_sessions(st, [s], "s7", fig)
    acked = s.acked_count("s7")
    gave_up = sum(1 for r in rs if r.status == 503)
    fig.extra["adds_answered_200"] = acked
    fig.extra["gave_up_503"] = gave_up
    standard_bounds(fig, zero_failed=False)
    fig.bound(f"every client ran ({n}x{k} adds)", fig.sent == n * k)
    fig.bound("failures are 503 (too many concurrent changes) only",
              all(r.status == 503 for r in rs if not r.ok))
    fig.bound("at least 95% of the adds answered 200",
              acked >= 0.95 * n * k)
    fig.bound("no add counted that was not answered 200",
              fig.cart_extra == 0)
    return fig


@scenario
def s8_corrupt_record(ctx):
    """Overwrite one session's record in Redis with bytes that do not
    decode, under load. That user is anonymous from then on (the record is
    deleted, the cookie expired); every other user carries on untouched."""
    st = ctx.stack
    fig = Figures("8 corrupt one record")
    d = ctx.s.duration
    victim = ctx.pop[-1]
    info = {}

    def corrupt(load):
        red = st.redis_of_keys()
        try:
            red.cmd("SET", victim.key, b"\xff\x00garbage, not a record")
        finally:
            red.close()
        info["t"] = time.monotonic()
        load.mark(f"corrupted the record of {victim.name}")

    load = drive(ctx, "s8", d, [(d * 0.4, corrupt)])
    rs = load.all_results()
    t = info["t"]
    others = [r for r in rs if r.session is not victim or r.t0 < t]
    mine = [r for r in rs if r.session is victim and r.t0 >= t]
    fill_load_figures(fig, load, others)
    verify_sessions(st, ctx.pop, "s8", fig, expect_anonymous=(victim,))
    red = st.redis_of_keys()
    try:
        gone = red.cmd("EXISTS", victim.key) == 0
    finally:
        red.close()
    _, j = session_state(st.http_port, victim)
    anon_end = j is not None and j.get("user") is None
    # Anonymous now: the page without "Signed in as", 401 from the API, or
    # 403 for a POST whose token belonged to the session that is gone.
    bad_victim = [r.status for r in mine
                  if not ((r.anon and r.status in (200, 401))
                          or r.status == 403)]
    fig.extra["victim_requests_after"] = len(mine)
    fig.extra["victim_anonymous"] = "yes" if anon_end else "NO"
    fig.extra["victim_record_deleted"] = "yes" if gone else "NO"
    standard_bounds(fig)
    fig.bound("the victim is anonymous (GET /api/session: user null)",
              anon_end)
    fig.bound("the victim's record is deleted", gone)
    fig.bound("the victim saw anonymous pages, 401 or 403, nothing else"
              + (f" (got {bad_victim[:5]})" if bad_victim else ""),
              not bad_victim)
    ctx.pop.remove(victim)
    return fig
