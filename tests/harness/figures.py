"""
figures.py - what one resilience scenario measured, from the answers of a
harness.load.Load, and the sessions read back after the fault.
"""

from harness.load import cart_count, session_state


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

    def report(self):
        """The figures line, each bound checked, and the notes."""
        out = [self.line()]
        out += [f"{'ok  ' if ok else 'FAIL'} {desc}" for desc, ok in self.bounds]
        out += [f"note: {l}" for n in self.notes for l in n.splitlines()]
        return "\n".join(out)


def count_failures(results):
    """{"502 POST": 3, "timeout GET": 1, ...}: status (or transport error)
    and method of every request that did not succeed."""
    failed = {}
    for r in results:
        if not r.ok:
            st = "200-anonymous" if r.status == 200 and r.anon else r.status
            key = f"{st} {r.what.split()[0]}"
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
    red = stack.redis_of_keys()
    try:
        missing = [s for s in sessions if red.cmd("EXISTS", s.key) != 1]
    finally:
        red.close()
    fig.sessions_lost = sum(1 for s in missing if s not in expect_anonymous)
    lost, extra, out, problems = 0, 0, 0, []
    for s in sessions:
        last, j = session_state(stack.http_port, s, settle_timeout)
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
        have, want = cart_count(j, tag), s.acked_count(tag)
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
