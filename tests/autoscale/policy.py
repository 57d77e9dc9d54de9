"""
policy.py - the autoscaler's parts on their own: its settings, the
Prometheus text it reads, the busy ratio from two readings, and the policy
fed with made-up samples (the policy's input, so a fake is the point);
then the whole program against two small /metrics servers of the test's
own and a scale command that writes down what it was asked.
"""

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from importlib.machinery import SourceFileLoader

from harness.core import REPO, TestFailure, check, check_eq
from harness.runner import Tests

AUTOSCALE = os.path.join(REPO, "deploy", "local", "autoscale")
sys.dont_write_bytecode = True
A = SourceFileLoader("autoscale", AUTOSCALE).load_module()

TESTS = Tests()
case = TESTS.case


def settings(**kw):
    env = {"SHOAL_AUTOSCALE": "2:8"}
    env.update(kw)
    return A.Settings(env)


def bad(**kw):
    try:
        settings(**kw)
    except A.BadSetting as e:
        return str(e)
    return None


@case
def settings_defaults_and_bounds(_):
    s = settings()
    check_eq((s.min, s.max, s.target, s.interval, s.window), (2, 8, 0.6, 5.0, 30.0), "defaults")
    s = settings(SHOAL_AUTOSCALE="1:64", SHOAL_AUTOSCALE_TARGET="0.05",
                 SHOAL_AUTOSCALE_INTERVAL="0.5", SHOAL_AUTOSCALE_WINDOW="0")
    check_eq((s.min, s.max, s.target, s.interval, s.window), (1, 64, 0.05, 0.5, 0.0), "lowest")


@case
def settings_refused_with_one_line(_):
    for raw in ("", "8", "2:", ":8", "a:b", "2:8:9", "0:4", "5:4", "2:65", "-1:4", " 2:8",
                "2:0008", "2:\u00b2", "2:8\n"):
        msg = bad(SHOAL_AUTOSCALE=raw)
        check(msg and msg.startswith("SHOAL_AUTOSCALE:"), f"SHOAL_AUTOSCALE={raw!r} accepted ({msg})")
    for name, raw in (("TARGET", "0"), ("TARGET", "1"), ("TARGET", "nan"), ("TARGET", "inf"),
                      ("TARGET", "x"), ("INTERVAL", "0.1"), ("INTERVAL", "301"),
                      ("WINDOW", "-1"), ("WINDOW", "3601"), ("WINDOW", "9" * 40)):
        msg = bad(**{f"SHOAL_AUTOSCALE_{name}": raw})
        check(msg and msg.startswith(f"SHOAL_AUTOSCALE_{name}:"),
              f"SHOAL_AUTOSCALE_{name}={raw!r} accepted ({msg})")
    msg = bad(SHOAL_AUTOSCALE_SCALE_COMMAND="sh -c 'unclosed")
    check(msg and msg.startswith("SHOAL_AUTOSCALE_SCALE_COMMAND:"), f"unclosed quote accepted ({msg})")
    check_eq(settings(SHOAL_AUTOSCALE_SCALE_COMMAND="sh -c 'echo $0' x").scale_command,
             ["sh", "-c", "echo $0", "x"], "a command with quotes")
    msg = bad(SHOAL_AUTOSCALE_METRICS_COMMAND="docker exec")
    check(msg and msg.startswith("SHOAL_AUTOSCALE_METRICS_COMMAND:"),
          f"a metrics command without a servers command accepted ({msg})")
    env = dict(os.environ, SHOAL_AUTOSCALE="9:2")
    p = subprocess.run([AUTOSCALE, "--check"], env=env, capture_output=True, text=True, timeout=20)
    check_eq(p.returncode, 2, "exit status of --check with SHOAL_AUTOSCALE=9:2")
    check_eq(len(p.stderr.splitlines()), 1, f"lines on stderr ({p.stderr!r})")
    check(p.stderr.startswith("autoscale: SHOAL_AUTOSCALE:"), f"stderr: {p.stderr!r}")
    p = subprocess.run([AUTOSCALE, "--check"], env=dict(os.environ, SHOAL_AUTOSCALE="2:8"),
                       capture_output=True, text=True, timeout=20)
    check_eq((p.returncode, p.stderr), (0, ""), "--check with good settings")


@case
def metrics_text_summed_over_label_sets(_):
    text = "\n".join([
        "# HELP shoal_threads serving threads",
        "# TYPE shoal_threads gauge",
        "shoal_threads 4",
        'shoal_requests_total{route="/orders/{id:int}",method="GET",code="200"} 7',
        'shoal_requests_total{route="/a b",method="GET",code="200"} 3 1700000000000',
        "shoal_thread_busy_seconds_total 12.5",
        "shoal_bad_value x",
        "shoal_nan NaN",
        "",
        "truncated_line",
    ])
    m = A.parse_metrics(text)
    check_eq(m.get("shoal_threads"), 4.0, "shoal_threads")
    check_eq(m.get("shoal_requests_total"), 10.0, "requests over two label sets")
    check_eq(m.get("shoal_thread_busy_seconds_total"), 12.5, "busy seconds")
    check("shoal_bad_value" not in m and "shoal_nan" not in m and "truncated_line" not in m,
          f"malformed lines taken: {sorted(m)}")


@case
def busy_ratio_from_two_readings(_):
    s = A.Sampler()
    ratio, per, missing = s.sample(10.0, {1: (100.0, 4), 2: (50.0, 4)})
    check_eq((ratio, per, missing), (None, {}, []), "first reading")
    # 2 s later: server 1 busy 4 thread-seconds of 8, server 2 all 8.
    ratio, per, missing = s.sample(12.0, {1: (104.0, 4), 2: (58.0, 4), 3: None})
    check_eq(per, {1: 0.5, 2: 1.0}, "per server")
    check_eq(round(ratio, 3), 0.75, "fleet ratio")
    check_eq(missing, [], "missing after one failed scrape (a server just started)")
    _, _, missing = s.sample(13.0, {1: (104.0, 4), 2: (58.0, 4), 3: None})
    check_eq(missing, [3], "missing after two")
    s.sample(13.5, {1: (104.0, 4), 2: (58.0, 4), 3: (0.0, 4)})
    _, _, missing = s.sample(13.7, {1: (104.0, 4), 2: (58.0, 4), 3: None})
    check_eq(missing, [], "missing after an answer and one failure")
    s = A.Sampler()
    s.sample(10.0, {1: (100.0, 4), 2: (50.0, 4)})
    s.sample(12.0, {1: (104.0, 4), 2: (58.0, 4)})
    # Server 2 started again (its counter went back): no figure for it.
    ratio, per, _ = s.sample(14.0, {1: (106.0, 4), 2: (1.0, 4)})
    check_eq(per, {1: 0.25}, "after a counter reset")
    ratio, per, _ = s.sample(16.0, {1: (106.0, 4), 2: (5.0, 4)})
    check_eq(per, {1: 0.0, 2: 0.5}, "after the reset, read twice")
    check_eq(round(ratio, 3), 0.25, "fleet ratio weighted by threads")


def run(policy, samples, servers, t0=0.0, step=1.0):
    """Feeds ratios one a step; returns [(time, Decision)] and the servers
    after each decision is carried out."""
    out, t = [], t0
    for r in samples:
        d = policy.decide(t, servers, r)
        if d is not None:
            out.append((t, d))
            servers = d.to
        t += step
    return out, servers


@case
def up_after_two_samples_over_the_target(_):
    p = A.Policy(2, 8, 0.6, 30)
    check(p.decide(0, 2, 0.9) is None, "scaled on the first sample over the target")
    d = p.decide(1, 2, 0.9)
    check(d is not None and d.event == "scale_up", f"second sample over: {d and d.record()}")
    check_eq(d.to, 3, "ceil(2 * 0.9 / 0.6)")
    check("0.6" in d.reason and d.figures["ratio"] == 0.9, f"record: {d.record()}")
    # A sample under the target in between starts the count again.
    p = A.Policy(2, 8, 0.6, 30)
    got, _ = run(p, [0.9, 0.5, 0.9, 0.5, 0.9], 2)
    check_eq(got, [], "decisions with the ratio going over and under")


@case
def up_at_most_double_and_never_over_max(_):
    p = A.Policy(2, 8, 0.6, 30)
    got, n = run(p, [1.0] * 2, 2)
    check_eq([d.to for _, d in got], [4], "2 servers at ratio 1.0 (wants 4)")
    p = A.Policy(2, 8, 0.2, 30)
    got, n = run(p, [1.0] * 6, 2)
    check_eq([d.to for _, d in got], [4, 8], "doubling each time, up to MAX")
    p = A.Policy(2, 5, 0.6, 30)
    got, n = run(p, [1.0] * 10, 4)
    check_eq([d.to for _, d in got], [5], "capped at MAX, then nothing more")


@case
def down_one_at_a_time_after_the_window(_):
    p = A.Policy(2, 8, 0.6, 10)
    # 6 servers at 0.1: each sample wants 1 (2 with MIN). One goes after
    # 10 s of that, the next 10 s later.
    got, n = run(p, [0.1] * 25, 6)
    check_eq([(t, d.event, d.to) for t, d in got],
             [(10.0, "scale_down", 5), (20.0, "scale_down", 4)], "decisions")
    # A sample that does not want fewer starts the window again.
    p = A.Policy(2, 8, 0.6, 10)
    got, _ = run(p, [0.1] * 8 + [0.5] + [0.1] * 9, 4)
    check_eq(got, [], "decisions when one sample in the window wanted as many")
    # 4 servers at 0.5 want ceil(3.33) = 4: no change, however long.
    p = A.Policy(2, 8, 0.6, 5)
    got, _ = run(p, [0.5] * 30, 4)
    check_eq(got, [], "decisions at a ratio that wants the same number")


@case
def never_below_min(_):
    p = A.Policy(3, 8, 0.6, 2)
    got, n = run(p, [0.0] * 40, 5)
    check_eq(([d.to for _, d in got], n), ([4, 3], 3), "scaled down to MIN and no further")


@case
def outside_the_bounds_goes_to_the_bound_at_once(_):
    p = A.Policy(2, 8, 0.6, 30)
    d = p.decide(0, 1, None)
    check(d and d.event == "bounds" and d.to == 2, f"1 server with MIN 2: {d and d.record()}")
    d = p.decide(0, 9, 0.1)
    check(d and d.event == "bounds" and d.to == 8, f"9 servers with MAX 8: {d and d.record()}")


@case
def a_silent_server_is_replaced(_):
    p = A.Policy(2, 8, 0.6, 30)
    d = p.decide(0, 3, 0.9, missing=[2])
    check(d and d.event == "replace" and d.to == 3 and d.figures["missing"] == [2],
          f"server 2 silent: {d and d.record()}")
    # Still silent (running, metrics broken): the others decide meanwhile.
    check(p.decide(1, 3, 0.9, missing=[2]) is None, "first sample over the target")
    d = p.decide(2, 3, 0.9, missing=[2])
    check(d and d.event == "scale_up", f"second sample over, server 2 still silent: {d and d.record()}")
    for t in range(3, 3 + A.REPLACE_RETRY - 2):
        d = p.decide(t, 5, 0.5, missing=[2])
        check(d is None, f"replaced again too soon, at {t}: {d and d.record()}")
    d = p.decide(10, 5, 0.5, missing=[2])
    check(d and d.event == "replace", f"after {A.REPLACE_RETRY} samples: {d and d.record()}")
    check("again" in d.reason, f"a retry says so: {d.reason}")
    check(p.decide(11, 5, 0.5) is None, "all answering")
    d = p.decide(12, 5, 0.5, missing=[2])
    check(d and d.event == "replace", f"silent again: {d and d.record()}")


@case
def a_server_that_stays_silent_does_not_hold_the_fleet(_):
    p = A.Policy(2, 8, 0.6, 10)
    got = []
    for t in range(40):
        d = p.decide(float(t), 6 - len([x for x in got if x == "scale_down"]), 0.1, missing=[3])
        if d is not None:
            got.append(d.event)
    check(got.count("scale_down") >= 2, f"decisions with server 3 silent all along: {got}")
    check(got[0] == "replace" and got.count("replace") >= 4, f"replaces retried: {got}")


@case
def no_ratio_no_decision(_):
    p = A.Policy(2, 8, 0.6, 0)
    for t in range(5):
        check(p.decide(t, 4, None) is None, "decided without a ratio")


# ------------------------------------------------------- the whole program
class FakeWorker:
    """/metrics of one worker server, with counters the test moves."""

    def __init__(self):
        self.busy, self.threads = 0.0, 2
        self.per_second = 0.0           # busy seconds added per second
        self.t = time.monotonic()
        me = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                now = time.monotonic()
                me.busy += me.per_second * (now - me.t)
                me.t = now
                body = (f"shoal_threads {me.threads}\n"
                        f"shoal_thread_busy_seconds_total {me.busy:.6f}\n").encode()
                self.send_response(200 if self.path == "/metrics" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.address = f"127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self):
        self.http.shutdown()
        self.http.server_close()


def read_log(text):
    try:
        return [json.loads(l) for l in text.splitlines() if l.strip()]
    except ValueError as e:
        raise TestFailure(f"the log has a line that is not JSON ({e}):\n{text[-500:]}")


@case
def the_program_scales_on_what_it_reads(_):
    return program_scales(by_command=False)


@case
def the_program_reads_metrics_through_a_command(_):
    """SHOAL_AUTOSCALE_METRICS_COMMAND: each server's metrics come from the
    command run with the server's line appended (here curl, as `docker
    exec ... shoal metrics` would print them), not from GET /metrics."""
    return program_scales(by_command=True)


def program_scales(by_command):
    workers = [FakeWorker(), FakeWorker()]
    tmp = tempfile.mkdtemp(prefix="shoal-autoscale-unit-")
    servers, asked, logf = (os.path.join(tmp, n) for n in ("servers", "asked", "log"))
    with open(servers, "w") as f:
        f.write("".join(w.address + "\n" for w in workers))
    with open(os.path.join(tmp, "scale"), "w") as f:
        f.write(f'#!/bin/sh\necho "$1" >> {asked}\necho "scaled to $1"\n')
    with open(os.path.join(tmp, "list"), "w") as f:
        f.write(f"#!/bin/sh\ncat {servers}\n")
    # The command's reads are counted, to show they happened.
    reads = os.path.join(tmp, "reads")
    with open(os.path.join(tmp, "metrics"), "w") as f:
        f.write(f'#!/bin/sh\necho "$1" >> {reads}\nexec curl -sf --max-time 2 "http://$1/metrics"\n')
    for n in ("scale", "list", "metrics"):
        os.chmod(os.path.join(tmp, n), 0o755)
    env = dict(os.environ, SHOAL_AUTOSCALE="2:8", SHOAL_AUTOSCALE_INTERVAL="0.5",
               SHOAL_AUTOSCALE_WINDOW="0", SHOAL_AUTOSCALE_TARGET="0.6",
               SHOAL_AUTOSCALE_SCALE_COMMAND=os.path.join(tmp, "scale"),
               SHOAL_AUTOSCALE_SERVERS_COMMAND=os.path.join(tmp, "list"))
    if by_command:
        env["SHOAL_AUTOSCALE_METRICS_COMMAND"] = os.path.join(tmp, "metrics")
    with open(logf, "w") as out:
        p = subprocess.Popen([AUTOSCALE], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        for w in workers:
            w.per_second = 0.75 * w.threads     # busy ratio 0.75
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not os.path.exists(asked):
            time.sleep(0.1)
        check(os.path.exists(asked), f"no scale asked in 20 s; log: {open(logf).read()[-500:]}")
        p.send_signal(signal.SIGTERM)
        check_eq(p.wait(10), 0, "exit status on SIGTERM")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for w in workers:
            w.close()
    with open(asked) as f:
        asked_for = f.read().split()
    with open(logf) as f:
        log_text = f.read()
    read_by_command = open(reads).read().split() if os.path.exists(reads) else []
    shutil.rmtree(tmp, ignore_errors=True)
    names = {w.address for w in workers}
    if by_command:
        check(set(read_by_command) == names, f"the metrics command read {set(read_by_command)}, "
              f"not every server {names}")
    else:
        check_eq(read_by_command, [], "reads by a command that is not set")
    check_eq(asked_for[:1], ["3"], "first number asked (ceil(2 * 0.75 / 0.6))")
    recs = read_log(log_text)
    events = [r["event"] for r in recs]
    check_eq((events[0], events[-1]), ("start", "stop"), f"first and last events ({events})")
    up = [r for r in recs if r["event"] == "scale_up"]
    check(up, f"no scale_up line: {events}")
    check_eq((up[0]["from"], up[0]["to"]), (2, 3), "scale_up from, to")
    check(0.62 <= up[0]["ratio"] <= 0.88 and set(up[0]["servers"]) == names,
          f"figures (each server known by its line): {up[0]}")
    check_eq(up[0]["answer"], "scaled to 3", "the scale command's answer")
    for r in recs:
        check(r.get("reason") and r.get("time"), f"a line without reason or time: {r}")
