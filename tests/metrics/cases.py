"""
cases.py - the workers' /metrics through the real stack, in the order the
tests run. Each server is scraped directly on its metrics port (never
through the front); a scrape is an HTTP request to the worker's own
listener, not a FastCGI request, so it counts in no request metric.
"""

import socket
import subprocess
import time

from harness.core import check, check_eq
from harness.load import Load, sign_in_population
from harness.metrics import parse, scrape, total
from harness.ports import Ports
from harness.runner import Tests
from harness.web import attempt

TESTS = Tests()
case, after_down = TESTS.case, TESTS.after_down

PASSWORD = "correct horse battery"
USERS = 6


def scrape_all(st):
    """[samples of server k] for every server."""
    out = []
    for k in range(1, st.servers + 1):
        status, ctype, samples = scrape(st.metrics_url(k))
        check(status == 200, f"server {k}: GET /metrics answered {status}")
        out.append(samples)
    return out


def summed(scrapes, name, **labels):
    return sum(total(s, name, **labels) for s in scrapes)


def metrics_port(st, k):
    return int(st.metrics_url(k).split("/")[2].split(":")[1])


def raw(st, k, data, timeout=5.0):
    """Sends data to server k's metrics port; returns all it answers."""
    s = socket.create_connection(("127.0.0.1", metrics_port(st, k)), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks).decode("latin-1")
    finally:
        s.close()


@case
def every_server_answers_for_all_its_processes(st):
    for k in range(1, st.servers + 1):
        status, ctype, samples = scrape(st.metrics_url(k))
        check_eq(status, 200, f"server {k}: status")
        check(ctype.startswith("text/plain; version=0.0.4"),
              f"server {k}: Content-Type {ctype!r}")
        check_eq(total(samples, "shoal_processes"), st.procs, f"server {k}: processes")
        check_eq(total(samples, "shoal_threads"), st.procs * st.threads,
                 f"server {k}: threads")
        check_eq(total(samples, "shoal_build_info"), 1, f"server {k}: build info")
        for name in ("shoal_connections_accepted_total", "shoal_redis_round_trips_total",
                     "shoal_cas_give_ups_total", "shoal_password_hashes_waiting",
                     "shoal_cache_misses_total", "shoal_guest_sessions_created_total",
                     "shoal_sessions_expired_on_read_total"):
            check(any(n == name for n, _ in samples), f"server {k}: no {name}")


@case
def request_counts_add_up_to_what_the_load_sent(st):
    before = scrape_all(st)
    sessions = sign_in_population(st.http_port, USERS, USERS, st.cookie, st.prefix,
                                  PASSWORD, name="metrics", log=lambda msg: None)
    after_signup = scrape_all(st)
    # Each sign-up: GET /signup for the form, POST /signup, GET /api/session.
    check_eq(summed(after_signup, "shoal_sessions_created_total")
             - summed(before, "shoal_sessions_created_total"), USERS, "sessions created")
    load = Load(st.http_port, sessions, "metrics", rate=60.0, seconds=8 * st.scale,
                requests=400, timeout=10.0 * st.scale, add_share=0.3).start()
    try:
        time.sleep(2.0)
        # Mid-load: counted requests lie between those answered before the
        # scrape and those sent after it (the difference is in flight).
        done_before = load.total()
        mid = scrape_all(st)
        sent_after = load.sent()
        counted = summed(mid, "shoal_requests_total") - summed(after_signup, "shoal_requests_total")
        check(done_before <= counted <= sent_after,
              f"mid-load: {counted} requests counted, {done_before} answered before the "
              f"scrape and {sent_after} sent after it")
        busy = summed(mid, "shoal_threads_busy")
        check(0 <= busy <= summed(mid, "shoal_threads"), f"{busy} threads busy")
        load.wait()
    finally:
        load.stop()
    end = scrape_all(st)
    results = load.all_results()
    check(load.count("ok") == len(results),
          f"load failures: {load.first_failures(('failed', 'unavailable', 'signed_out'))}")

    def delta(name, **labels):
        return summed(end, name, **labels) - summed(after_signup, name, **labels)

    check_eq(delta("shoal_requests_total"), len(results), "requests counted over all servers")
    views = sum(1 for r in results if r.what == "GET /")
    adds = len(results) - views
    check_eq(delta("shoal_requests_total", route="/", method="GET", code="200"), views,
             "GET / counted")
    check_eq(delta("shoal_requests_total", route="/api/cart/add", method="POST",
                   code="200"), adds, "POST /api/cart/add counted")
    check_eq(delta("shoal_request_duration_seconds_count"), len(results),
             "the duration histogram's count")
    check_eq(delta("shoal_request_duration_seconds_bucket", le="+Inf"), len(results),
             "the +Inf bucket")
    elapsed = load.t_stop - load.t_start + 1.0
    busy_s = delta("shoal_thread_busy_seconds_total")
    threads = summed(end, "shoal_threads")
    check(0 < busy_s <= elapsed * threads,
          f"busy seconds {busy_s:.3f} over {elapsed:.1f} s and {threads:.0f} threads")
    check_eq(summed(end, "shoal_threads_busy"), 0, "threads busy once the load stopped")
    # A page whose session the request before it on its thread loaded
    # makes no round trip of its own.
    trips = delta("shoal_redis_round_trips_total") + delta("shoal_sessions_loaded_ahead_total")
    check(trips >= len(results), f"{trips} Redis round trips and sessions loaded ahead for "
          f"{len(results)} signed-in requests")
    check(summed(end, "shoal_connections_accepted_total") > 0, "no connection accepted")
    check_eq(delta("shoal_redis_errors_total"), 0, "Redis errors with Redis up")


@case
def scrapes_count_in_no_request_metric(st):
    first = scrape_all(st)
    for _ in range(5):
        scrape_all(st)
    last = scrape_all(st)
    check_eq(summed(last, "shoal_requests_total"), summed(first, "shoal_requests_total"),
             "requests counted across 6 scrapes and no other request")


@case
def shoal_metrics_prints_what_the_server_answers(st):
    """`shoal metrics DIR` (what the autoscaler runs in a container whose
    metrics port it cannot reach) reads the counter files server 1's
    processes write: every request count and gauge as GET /metrics gives
    them, with no request in between."""
    _, _, served = scrape(st.metrics_url(1))
    env = st.worker_env()
    for k in ("SHOAL_METRICS_LISTEN", "SHOAL_METRICS_DIR"):
        env.pop(k, None)
    p = subprocess.run([st.bin, "metrics", st.path("metrics/1")], env=env, capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=30 * st.scale)
    check_eq(p.returncode, 0, f"exit status; stderr {p.stderr[-300:]!r}")
    printed = parse(p.stdout.decode())
    for name in ("shoal_requests_total", "shoal_processes", "shoal_threads",
                 "shoal_sign_ins_total", "shoal_sessions_created_total"):
        want = {k: v for k, v in served.items() if k[0] == name}
        check(want, f"GET /metrics has no {name}")
        check_eq({k: v for k, v in printed.items() if k[0] == name}, want, name)
    for argv, status, says in (([], 2, "no folder"), (["run/metrics/1"], 2, "not an absolute path"),
                               ([st.path("metrics/none")], 1, "cannot read")):
        p = subprocess.run([st.bin, "metrics"] + argv, env=env, capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=30 * st.scale)
        err = p.stderr.decode(errors="replace").strip()
        check(p.returncode == status and len(err.splitlines()) == 1 and says in err,
              f"shoal metrics {argv}: exit {p.returncode}, stderr {err!r}")


@case
def sign_ins_cache_and_database_are_counted(st):
    before = scrape_all(st)
    b = st.browser()
    name = f"mfail{int(time.time() * 1000) % 10**9}"
    b.signup(name, PASSWORD)
    r = st.browser().login(name, "not the password", expect=None)
    check(r.status != 303, f"a wrong password signed in: {r.describe()}")
    r = st.browser().login(name, PASSWORD, expect=None)
    check(r.status == 303, f"the right password: {r.describe()}")
    product = 1000 + int(time.time()) % 4000
    for _ in range(2):
        r = b.get(f"/products/{product}")
        check(r.status == 200, f"GET /products/{product}: {r.describe()}")
    after = scrape_all(st)

    def delta(name, **labels):
        return summed(after, name, **labels) - summed(before, name, **labels)

    check_eq(delta("shoal_sign_ins_total", result="failed"), 1, "failed sign-ins")
    check_eq(delta("shoal_sign_ins_total", result="ok"), 1, "sign-ins")
    check_eq(delta("shoal_sessions_created_total"), 2, "sessions created (sign-up, sign-in)")
    check_eq(delta("shoal_password_hashes_total"), 3, "password hashes")
    check_eq((delta("shoal_cache_misses_total"), delta("shoal_cache_hits_total")), (1, 1),
             "a product read twice: (misses, hits)")
    check(delta("shoal_db_queries_total", target="replica") > 0,
          "the cache miss read no replica")
    check(delta("shoal_db_queries_total", target="primary") > 0,
          "sign-up and sign-in wrote nothing to the primary")
    check_eq(delta("shoal_db_errors_total"), 0, "database errors")


@case
def redis_stop_shows_in_the_error_counter(st):
    sessions = sign_in_population(st.http_port, 3, 3, st.cookie, st.prefix, PASSWORD,
                                  name="mredis", log=lambda msg: None)
    before = scrape_all(st)
    load = Load(st.http_port, sessions, "mredis", rate=30.0, seconds=6 * st.scale,
                requests=300, timeout=10.0 * st.scale, add_share=0.3).start()
    try:
        time.sleep(1.0)
        st.stop_redis()
        try:
            time.sleep(2.0)
            during = scrape_all(st)
        finally:
            st.start_redis()
    finally:
        load.wait()
    rose = summed(during, "shoal_redis_errors_total") - summed(before, "shoal_redis_errors_total")
    check(rose > 0, f"shoal_redis_errors_total rose by {rose} while Redis was stopped")
    failed = sum(1 for r in load.all_results() if r.kind != "ok")
    check(failed > 0, "no request failed while Redis was stopped: was it?")
    deadline = time.monotonic() + 10 * st.scale
    while True:
        r = attempt(st.http_port, "GET", "/readyz", timeout=5)
        if not isinstance(r, str) and r.status == 200:
            break
        check(time.monotonic() < deadline, f"/readyz after Redis came back: {r}")
        time.sleep(0.2)


@case
def what_is_not_a_scrape_is_refused(st):
    out = raw(st, 1, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
    check(out.startswith("HTTP/1.1 404 "), f"another path: {out[:80]!r}")
    check("Connection: close" in out, f"no Connection: close: {out[:200]!r}")
    out = raw(st, 1, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    check(out.startswith("HTTP/1.1 405 ") and "Allow: GET\r\n" in out,
          f"another method: {out[:200]!r}")
    out = raw(st, 1, b"\x16\x03\x01\x00\xa5\x01\x00\x00")
    check(out.startswith("HTTP/1.1 400 "), f"garbage: {out[:80]!r}")
    out = raw(st, 1, b"GET /metrics HTTP/3\r\n\r\n")
    check(out.startswith("HTTP/1.1 400 "), f"HTTP/3: {out[:80]!r}")
    out = raw(st, 1, b"GET /metrics HTTP/1.1\r\nX-Long: " + b"a" * 5000)
    check(out.startswith("HTTP/1.1 431 "), f"a head over 4 KiB: {out[:80]!r}")
    out = raw(st, 1, b"GET /metrics HTTP/1.0\r\n\r\n")
    check(out.startswith("HTTP/1.1 200 ") and "\r\n\r\n# HELP " in out,
          f"HTTP/1.0: {out[:200]!r}")
    head, _, body = out.partition("\r\n\r\n")
    length = [int(line.split(":")[1]) for line in head.split("\r\n")
              if line.lower().startswith("content-length:")]
    check(length == [len(body.encode("latin-1"))], f"Content-Length {length}, body {len(body)}")
    parse(body)


@case
def a_silent_client_holds_scrapes_up_two_seconds_at_most(st):
    silent = socket.create_connection(("127.0.0.1", metrics_port(st, 1)), timeout=10)
    try:
        silent.sendall(b"GET /met")
        t0 = time.monotonic()
        # Several scrapes, so that some reach the process the silent client
        # holds (SO_REUSEPORT spreads connections by their addresses): that
        # one waits for the client's 2 s read limit, no longer.
        for _ in range(4):
            status, _, _ = scrape(st.metrics_url(1), timeout=10)
            check_eq(status, 200, "scrape behind a silent client")
        took = time.monotonic() - t0
        check(took < 3.0, f"4 scrapes took {took:.2f}s behind a silent client")
        # The silent client is dropped at its limit, answered nothing.
        got = silent.recv(100)
        check_eq(got, b"", "what a silent client was sent")
        check(time.monotonic() - t0 < 3.0,
              f"a silent client still held after {time.monotonic() - t0:.1f}s")
    finally:
        silent.close()


@case
def a_server_added_by_scale_has_its_metrics(st):
    n = st.servers
    st.scale_to(n + 1)
    try:
        status, _, samples = scrape(st.metrics_url(n + 1))
        check_eq(status, 200, f"server {n + 1}: scrape")
        check_eq(total(samples, "shoal_processes"), st.procs, f"server {n + 1}: processes")
        rc, out = st.status()
        addr = st.metrics_url(n + 1).split("/")[2]
        check(rc == 0 and any(line.split()[:2] == [f"metrics-{n + 1}", addr]
                              for line in out.splitlines()),
              f"stack status does not list {addr}:\n{out}")
    finally:
        st.scale_to(n)


def start_fails(st, settings):
    """Starts a worker of our own with settings; it must exit 2 with one
    line on stderr, which is returned."""
    env = st.worker_env()
    env.update(settings)
    p = subprocess.run([st.bin, "--listen", f"127.0.0.1:{Ports().one()}"], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30 * st.scale)
    err = p.stderr.decode(errors="replace")
    lines = [line for line in err.splitlines() if not line.startswith("{")]
    check(p.returncode == 2 and len(lines) == 1,
          f"{settings}: exit {p.returncode}, stderr {err[-500:]!r}")
    return lines[0]


@case
def bad_metrics_settings_stop_the_worker_with_one_line(st):
    held = socket.socket()
    try:
        held.bind(("127.0.0.1", Ports().one()))
        held.listen(1)
        port = held.getsockname()[1]
        line = start_fails(st, {"SHOAL_METRICS_LISTEN": f"127.0.0.1:{port}",
                                "SHOAL_METRICS_DIR": st.path("metrics/own")})
        check(line.startswith(f"shoal: SHOAL_METRICS_LISTEN: 127.0.0.1:{port}: "),
              f"a port another program holds: {line!r}")
    finally:
        held.close()
    line = start_fails(st, {"SHOAL_METRICS_LISTEN": "127.0.0.1:9"})
    check("SHOAL_METRICS_DIR" in line, f"no folder: {line!r}")
    line = start_fails(st, {"SHOAL_METRICS_LISTEN": "127.0.0.1:99999",
                            "SHOAL_METRICS_DIR": "/tmp"})
    check("SHOAL_METRICS_LISTEN" in line, f"a bad port: {line!r}")


def log_text(st, name):
    with open(st.path(name), errors="replace") as f:
        return f.read()


@after_down
def every_worker_stopped_cleanly(st):
    for k in range(1, st.servers + 1):
        text = log_text(st, f"server-{k}.log")
        stopped = text.count('"stopped"')
        check_eq(stopped, st.procs, f"server {k}: workers that logged stopped")
        check("still busy" not in text, f"server {k}: a worker left busy threads")
