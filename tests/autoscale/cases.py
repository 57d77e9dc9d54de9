"""
cases.py - the autoscaler on a real stack: a stack of 2 worker servers of
one process and one thread each, SHOAL_AUTOSCALE=2:8 with a short interval
and window, and signed-in users driven through the front in a bounded ramp,
low -> high -> low (pages and cart writes). The stack must grow to at least
twice its start at the peak and shrink back after, with no failed request
and nobody signed out; a second ramp SIGKILLs a server at the peak and the
autoscaler must start it again. Each ramp prints a figures line (servers
over time, decisions, p99 per phase) and draws build/autoscale/NAME.png
(servers, offered load, p99 over time) with tools/chart.
"""

import datetime
import json
import math
import os
import re
import signal
import subprocess
import threading
import time

from harness.figures import (Figures, count_failures, percentile, verify_sessions)
from harness import procs
from harness.core import REPO, TestFailure
from harness.load import Load
from harness.runner import Tests, time_limit

PASSWORD = "autoscale horse battery"
OUT = os.path.join(REPO, "build", "autoscale")
HERE = os.path.dirname(os.path.abspath(__file__))
CHART = os.path.join(REPO, "tools", "chart")

TESTS = Tests()


def knob(name, default):
    v = os.environ.get(name)
    return type(default)(v) if v else default


class Settings:
    """What the ramps do; AUTOSCALE_* in the environment change it."""

    def __init__(self, scale=1.0):
        self.start = 2                  # servers at `up`, and MIN
        self.max = 8
        self.users = knob("AUTOSCALE_USERS", 40)
        self.sessions = knob("AUTOSCALE_SESSIONS", 80)
        self.low = knob("AUTOSCALE_LOW", 20.0)          # requests/s
        self.high = knob("AUTOSCALE_HIGH", 100.0)       # requests/s of the users
        self.wrk_conns = knob("AUTOSCALE_WRK_CONNECTIONS", 8)   # and wrk's, at full speed
        self.low_secs = knob("AUTOSCALE_LOW_SECONDS", 10.0)
        self.high_secs = knob("AUTOSCALE_HIGH_SECONDS", 35.0)
        self.settle_secs = knob("AUTOSCALE_SETTLE_SECONDS", 120.0) * scale
        self.replace_within = 15.0 * scale              # a killed server back
        self.client_timeout = 40.0
        self.stack = {
            "SHOAL_SERVERS": str(self.start), "SHOAL_PROCS": "1", "SHOAL_THREADS": "1",
            "SHOAL_SENTINEL_COUNT": "0", "SHOAL_DATABASE": "1", "SHOAL_DRAIN_SECONDS": "5",
            "SHOAL_AUTOSCALE": f"{self.start}:{self.max}",
            "SHOAL_AUTOSCALE_INTERVAL": knob("AUTOSCALE_INTERVAL", "1"),
            "SHOAL_AUTOSCALE_WINDOW": knob("AUTOSCALE_WINDOW", "5"),
            # On 2 cores shared by wrk, nginx, Redis and the Python users,
            # a one-thread server's thread is about 65 % busy at most: the
            # machine runs out before the worker does. The test aims lower
            # than the default (0.6) so that the peak doubles the servers.
            "SHOAL_AUTOSCALE_TARGET": knob("AUTOSCALE_TARGET", "0.3"),
        }


class Context:
    def __init__(self, stack, settings, log):
        self.stack, self.s, self.log = stack, settings, log
        self.pop = []


# ----------------------------------------------------------------- timeline
def servers_running(st):
    """Worker servers with every process alive, by their pid files."""
    n = 0
    for k in st.server_ids():
        pids = st.server_pids(k)
        f = st.path(f"server-{k}.pid")
        if pids and all(procs.pid_ours(p, f) for p in pids):
            n += 1
    return n


class Timeline:
    """Servers running, sampled twice a second from its start."""

    def __init__(self, st):
        self.st, self.samples, self.halt = st, [], threading.Event()
        self.t0, self.wall0 = time.monotonic(), time.time()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.halt.is_set():
            try:
                self.samples.append((time.monotonic(), servers_running(self.st)))
            except OSError:
                pass
            self.halt.wait(0.5)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.halt.set()
        self.thread.join(5)

    def now(self):
        return self.samples[-1][1] if self.samples else 0

    def peak(self):
        return max((n for _, n in self.samples), default=0)

    def changes(self):
        """'2@0s 3@12.5s ...': the count at the start and at each change."""
        out, last = [], None
        for t, n in self.samples:
            if n != last:
                out.append(f"{n}@{t - self.t0:.0f}s")
                last = n
        return " ".join(out)

    def at(self, t):
        n = self.samples[0][1] if self.samples else 0
        for ts, v in self.samples:
            if ts > t:
                break
            n = v
        return n


def decisions(st, skip):
    """The autoscaler's log lines after the first `skip` (JSON each)."""
    try:
        with open(st.path("autoscale.log")) as f:
            lines = f.read().splitlines()[skip:]
    except FileNotFoundError:
        return []
    out = []
    for l in lines:
        try:
            out.append(json.loads(l))
        except ValueError:
            raise TestFailure(f"autoscale.log: a line that is not JSON: {l[:200]!r}")
    return out


def tail_log(st, n=8):
    try:
        with open(st.path("autoscale.log")) as f:
            return "\n".join(f.read().splitlines()[-n:])
    except FileNotFoundError:
        return "(no autoscale.log)"


def log_lines(st):
    try:
        with open(st.path("autoscale.log")) as f:
            return len(f.read().splitlines())
    except FileNotFoundError:
        return 0


# -------------------------------------------------------------------- ramp
def phase(ctx, tag, rate, seconds, until=None):
    """One phase of the ramp: the population at `rate` requests/s for
    `seconds`, or less when until(load) says so (polled every 0.5 s)."""
    load = Load(ctx.stack.http_port, ctx.pop, tag, rate, seconds,
                int(2 * rate * seconds) + 100, ctx.s.client_timeout).start()
    try:
        while load.t_stop is None and time.monotonic() < load.t_start + seconds:
            if until is not None and until(load):
                break
            time.sleep(0.5)
    finally:
        load.stop()
    return load


class Wrk:
    """wrk on signed-in pages (signed_in.lua) over the population's
    sessions, as many connections as asked, for `seconds`: the bulk of the
    high phase, which the Python users alone could not make."""

    def __init__(self, ctx, seconds):
        st = ctx.stack
        # signed_in.lua opens a connection per request (see there).
        self.cmd = ["wrk", "-t1", f"-c{ctx.s.wrk_conns}", f"-d{int(seconds)}s", "--timeout", "10s",
                    "-s", os.path.join(HERE, "signed_in.lua"), f"http://127.0.0.1:{st.http_port}/",
                    "--", st.cookie] + [p.cookie for p in ctx.pop]
        self.seconds = seconds
        self.text = ""
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)

    def wait(self):
        try:
            self.text = self.proc.communicate(timeout=self.seconds + 40)[0]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.text = self.proc.communicate()[0] + "\nwrk timed out"
        return self

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()

    def figures(self):
        """{requests, non_2xx, socket_errors, signed_out} from its output."""
        out = {"requests": 0, "non_2xx": 0, "socket_errors": 0, "signed_out": 0}
        m = re.search(r"(\d+) requests in", self.text)
        if not m:
            raise TestFailure(f"wrk: no request count in its output:\n{self.text[-600:]}")
        out["requests"] = int(m.group(1))
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", self.text)
        out["non_2xx"] = int(m.group(1)) if m else 0
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", self.text)
        out["socket_errors"] = sum(map(int, m.groups())) if m else 0
        m = re.search(r"signed_out (\d+)", self.text)
        out["signed_out"] = int(m.group(1)) if m else -1
        return out


def front_log(st, wall0):
    """(second since wall0, request time) of every request in the front's
    access log (JSON lines) from wall0 on."""
    out = []
    try:
        with open(st.path("nginx-access.log"), encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    j = json.loads(line)
                    t = datetime.datetime.fromisoformat(j["time"]).timestamp()
                except (ValueError, KeyError, TypeError):
                    continue
                if t >= wall0 - 1:
                    out.append((t - wall0, float(j.get("s") or 0)))
    except FileNotFoundError:
        pass
    return out


def chart(name, timeline, st, t_end, note=""):
    """build/autoscale/NAME.tsv and NAME.png: servers running, requests/s
    at the front and their p99 (the front's access log), per second."""
    os.makedirs(OUT, exist_ok=True)
    # nginx writes its log out every second.
    time.sleep(1.5)
    t0 = timeline.t0
    secs = int(math.ceil(t_end - t0))
    sent, lat = [0] * (secs + 1), [[] for _ in range(secs + 1)]
    for t, took in front_log(st, timeline.wall0):
        i = int(t)
        if 0 <= i <= secs:
            sent[i] += 1
            lat[i].append(took)
    data = os.path.join(OUT, f"{name}.tsv")
    with open(data, "w") as f:
        f.write("seconds\tservers\toffered req/s\tp99 ms\n")
        for i in range(secs + 1):
            p99 = f"{percentile(lat[i], 0.99) * 1000:.1f}" if lat[i] else "-"
            f.write(f"{i}\t{timeline.at(t0 + i + 0.99)}\t{sent[i]}\t{p99}\n")
    png = os.path.join(OUT, f"{name}.png")
    p = subprocess.run([CHART, "panels", data, png, f"autoscale: {name.replace('-', ' ')}{note}"],
                       capture_output=True, text=True, timeout=120)
    return png if p.returncode == 0 else f"no chart: {p.stderr.strip()}"


def ramp(ctx, name, kill=False):
    """low -> high -> low; returns its Figures. With kill, every process of
    server 1 gets SIGKILL once the stack has grown to twice its start."""
    st, s = ctx.stack, ctx.s
    fig = Figures(f"autoscale {name}")
    # Signing the users in (Argon2id) keeps the workers busy too: the ramp
    # starts once the autoscaler has brought the stack back to its start.
    start, deadline = s.start, time.monotonic() + s.settle_secs
    while servers_running(st) != start and time.monotonic() < deadline:
        time.sleep(0.5)
    if servers_running(st) != start:
        raise TestFailure(f"{servers_running(st)} servers {s.settle_secs:.0f}s after the "
                          f"last load, not {start}:\n{tail_log(st)}")
    # The autoscaler writes its line once `stack scale` has returned.
    time.sleep(2)
    skip = log_lines(st)
    timeline = Timeline(st).start()
    victim = {}

    def kill_at_peak(load):
        if "pids" not in victim and timeline.now() >= 2 * start:
            pids = st.server_pids(1)
            n, before = load.mark(f"SIGKILL server 1 {pids}"), load.sent()
            victim.update(pids=pids, t=time.monotonic())
            st.signal(pids, signal.SIGKILL)
            for p in pids:
                procs.wait_dead(p, 5.0)
            victim["in_flight"] = n + load.sent() - before
        if "pids" in victim and "back" not in victim:
            now = st.server_pids(1)
            f = st.path("server-1.pid")
            if now and now != victim["pids"] and all(procs.pid_ours(p, f) for p in now):
                victim["back"] = time.monotonic() - victim["t"]
        return False

    def back_to_start(load):
        # Every server but `start` stopped, and stayed so for 2 samples.
        return len(timeline.samples) > 4 and load.t_start + 3 < time.monotonic() and \
            all(n == start for _, n in timeline.samples[-4:])

    loads, bulk = [], None
    try:
        ctx.log(f"{name}: low {s.low:.0f} req/s for {s.low_secs:.0f}s")
        loads.append(phase(ctx, f"{name}-low", s.low, s.low_secs))
        ctx.log(f"{name}: high {s.high:.0f} req/s and wrk -c{s.wrk_conns} for {s.high_secs:.0f}s")
        bulk = Wrk(ctx, s.high_secs)
        try:
            loads.append(phase(ctx, f"{name}-high", s.high, s.high_secs,
                               kill_at_peak if kill else None))
            bulk.wait()
        finally:
            bulk.stop()
        peak = timeline.peak()
        ctx.log(f"{name}: peak {peak} servers; low again until back to {start} "
                f"(at most {s.settle_secs:.0f}s)")
        loads.append(phase(ctx, f"{name}-after", s.low, s.settle_secs, back_to_start))
    finally:
        timeline.stop()
    t_end = time.monotonic()
    decided = decisions(st, skip)
    note = ""
    if "t" in victim:
        note = f" (server 1 SIGKILLed at {victim['t'] - timeline.t0:.0f} s" + \
            (f", running again {victim['back']:.1f} s later)" if "back" in victim else ")")
    fig.extra["chart"] = chart(name, timeline, st, t_end, note)

    results = [r for l in loads for r in l.all_results()]
    fig.sent = len(results)
    fig.ok = sum(1 for r in results if r.ok)
    fig.failed = count_failures(results)
    lat = [r.t1 - r.t0 for r in results]
    fig.slowest = max(lat) if lat else 0.0
    fig.p99 = percentile(lat, 0.99)
    verify_sessions(st, ctx.pop, f"{name}-low", fig)
    lost = fig.cart_lost
    for tag in (f"{name}-high", f"{name}-after"):
        verify_sessions(st, ctx.pop, tag, fig)
        lost += fig.cart_lost
    fig.cart_lost = lost

    w = bulk.figures() if bulk else {"requests": 0, "non_2xx": 0, "socket_errors": 0, "signed_out": 0}
    fig.sent += w["requests"]
    if w["non_2xx"]:
        fig.failed["wrk non-2xx GET"] = w["non_2xx"]
    if w["socket_errors"]:
        fig.failed["wrk socket error GET"] = w["socket_errors"]
    if w["non_2xx"] or w["socket_errors"]:
        fig.notes.append("wrk: " + "; ".join(l.strip() for l in bulk.text.splitlines()
                                             if "errors" in l or "Non-2xx" in l))
    fig.extra["wrk_requests"] = w["requests"]
    fig.extra["wrk_signed_out"] = w["signed_out"]

    kinds = {}
    for d in decided:
        if d.get("event") not in ("start", "stop"):
            kinds[d["event"]] = kinds.get(d["event"], 0) + 1
    for label, load in zip(("low", "high", "after"), loads):
        rs = load.all_results()
        fig.extra[f"p99_{label}"] = f"{percentile([r.t1 - r.t0 for r in rs], 0.99):.3f}s"
        fig.extra[f"rate_{label}"] = \
            f"{len(rs) / max(0.1, (load.t_stop or t_end) - load.t_start):.0f}/s"
    fig.extra["servers"] = timeline.changes().replace(" ", ",")
    fig.extra["peak"] = timeline.peak()
    fig.extra["decisions"] = ",".join(f"{k}:{v}" for k, v in sorted(kinds.items())) or "none"
    fig.notes.append("decisions: " + "; ".join(
        f"{d['event']} {d.get('from')}->{d.get('to')} ratio={d.get('ratio')} ({d.get('reason')})"
        for d in decided if d.get("event") not in ("start", "stop")))

    fig.bound(f"grew to >= {2 * start} servers at the peak (peak {timeline.peak()})",
              timeline.peak() >= 2 * start)
    fig.bound(f"back to {start} servers after (last {timeline.now()})", timeline.now() == start)
    fig.bound(f"never more than {s.max} servers", timeline.peak() <= s.max)
    fig.bound("zero users signed out", fig.signed_out == 0)
    fig.bound("zero signed-out pages for wrk", w["signed_out"] == 0)
    fig.bound("zero sessions lost", fig.sessions_lost == 0)
    fig.bound("zero cart updates lost", fig.cart_lost == 0)
    fig.bound("every decision logged with a reason",
              all(d.get("reason") and d.get("time") for d in decided))
    fig.bound("scale_up and scale_down decisions logged",
              kinds.get("scale_up", 0) >= 1 and kinds.get("scale_down", 0) >= 1)
    fig.bound("no failed scale (no error line)", kinds.get("error", 0) == 0)
    if not kill:
        fig.bound("zero failed requests", fig.nfailed == 0)
        fig.bound(f"never fewer than {start} servers",
                  min((n for _, n in timeline.samples), default=0) >= start)
    else:
        fig.extra["in_flight_at_kill"] = victim.get("in_flight", "-")
        fig.extra["replaced_after"] = f"{victim['back']:.1f}s" if "back" in victim else "never"
        fig.bound("server 1 was SIGKILLed at the peak", "pids" in victim)
        fig.bound("the autoscaler logged a replace of server 1",
                  any(d.get("event") == "replace" and 1 in d.get("missing", []) for d in decided))
        fig.bound(f"server 1 running again within {s.replace_within:.0f}s of the kill",
                  victim.get("back", 1e9) <= s.replace_within)
        fig.bound(f"failed <= requests in flight at the kill ({victim.get('in_flight', 0)})",
                  fig.nfailed <= victim.get("in_flight", 0))
        fig.bound("only POSTs fail (GETs are retried on another server)",
                  all(r.what != "GET /" for r in results if not r.ok)
                  and w["non_2xx"] + w["socket_errors"] == 0)
    return fig


def report(fig):
    if not fig.passed:
        raise TestFailure(fig.report())
    return fig.report()


@TESTS.case
@time_limit(400)
def ramp_grows_and_shrinks(ctx):
    """2 servers; the ramp must take them to 4 or more and back to 2."""
    return report(ramp(ctx, "ramp"))


@TESTS.case
@time_limit(400)
def ramp_with_a_server_killed_at_the_peak(ctx):
    """The same ramp; server 1 SIGKILLed once the stack has doubled."""
    return report(ramp(ctx, "ramp-kill", kill=True))
