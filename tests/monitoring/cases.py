"""
cases.py - monitoring, in the order the tests run. STATIC: promtool on
deploy/prometheus/ (and on Compose's Prometheus config), no stack; each
check also shown to refuse a broken copy. TESTS: the local stack with
SHOAL_MONITORING=1, through Prometheus's HTTP API.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from harness import procs, prom, resp
from harness.core import REPO, STACK, TestFailure, check, check_eq, new_name
from harness.runner import Tests

try:
    import yaml
except ImportError:             # python3-yaml (tools/deps installs it)
    yaml = None

STATIC = Tests()
TESTS = Tests()
static, case = STATIC.case, TESTS.case

PROM_DIR = os.path.join(REPO, "deploy", "prometheus")
RULES = os.path.join(PROM_DIR, "rules", "shoal.rules.yml")
RULE_TESTS = os.path.join(PROM_DIR, "rules", "shoal.rules.test.yml")
LONGEST_FOR = 120               # seconds: an alert that waits longer is seen too late


def promtool(*args, cwd=None):
    """(exit status, output) of promtool ARGS."""
    p = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120,
                       cwd=cwd, stdin=subprocess.DEVNULL)
    return p.returncode, (p.stdout + p.stderr).strip()


def must_pass(*args, cwd=None):
    rc, out = promtool(*args, cwd=cwd)
    check(rc == 0, f"promtool {' '.join(args)} exited {rc}:\n{out[-1500:]}")
    return out


def must_refuse(what, *args, cwd=None):
    rc, out = promtool(*args, cwd=cwd)
    check(rc != 0, f"promtool {' '.join(args)} accepted {what}:\n{out[-800:]}")
    return out


def local_config(d):
    """deploy/prometheus/prometheus.yml.in filled in as the stack fills it
    (deploy/local/stack, prometheus_config), in folder d, with a targets
    file of two worker servers."""
    os.makedirs(os.path.join(d, "prometheus"), exist_ok=True)
    with open(os.path.join(d, "prometheus", "workers.json"), "w") as f:
        f.write('[{"targets": ["127.0.0.1:8281"], "labels": {"server": "1"}},\n'
                ' {"targets": ["127.0.0.1:8282"], "labels": {"server": "2"}}]\n')
    jobs = "\n".join(f'  - job_name: {j}\n    static_configs:\n'
                     f'      - targets: ["127.0.0.1:{p}"]'
                     for j, p in (("redis", 9091), ("postgres", 9092), ("nginx", 9093)))
    with open(os.path.join(PROM_DIR, "prometheus.yml.in")) as f:
        text = f.read()
    fields = {"RULES": RULES, "RUN_DIR": d, "PROMETHEUS_PORT": "9090", "EXPORTER_JOBS": jobs}
    text = re.sub(r"@([A-Z0-9_]+)@", lambda m: fields[m.group(1)], text)
    path = os.path.join(d, "prometheus", "prometheus.yml")
    with open(path, "w") as f:
        f.write(text)
    return path


def rule_docs():
    check(yaml, "python3-yaml is missing (make deps installs it)")
    with open(RULES) as f:
        rules = yaml.safe_load(f)
    with open(RULE_TESTS) as f:
        tests = yaml.safe_load(f)
    return rules, tests


def seconds(d):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", d or "0s")
    check(m, f"cannot read the duration {d!r}")
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


# ================================================================ promtool
@static
def local_prometheus_config_passes_promtool_check_config(scale):
    """The local stack's config, filled in as the stack fills it, and
    Compose's: promtool check config (which checks the rule files they
    load too). A copy with a scrape interval it cannot read is refused."""
    d = tempfile.mkdtemp(prefix="shoal-monitoring-")
    try:
        path = local_config(d)
        must_pass("check", "config", path)
        # Compose's, with the rules where the image has them (/etc/shoal/rules).
        with open(os.path.join(REPO, "deploy", "docker", "prometheus.yml")) as f:
            compose = f.read()
        check("/etc/shoal/rules/shoal.rules.yml" in compose, "Compose's config loads no rules")
        with open(os.path.join(d, "compose.yml"), "w") as f:
            f.write(compose.replace("/etc/shoal/rules/shoal.rules.yml", RULES))
        must_pass("check", "config", os.path.join(d, "compose.yml"))
        with open(path) as f:
            text = f.read()
        bad = os.path.join(d, "broken.yml")
        with open(bad, "w") as f:
            f.write(text.replace("scrape_interval: 1s", "scrape_interval: soon", 1))
        out = must_refuse("a config with scrape_interval: soon", "check", "config", bad)
        check("soon" in out, f"promtool's refusal does not name the bad value:\n{out[-400:]}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


@static
def rules_pass_promtool_check_rules(scale):
    """shoal.rules.yml passes promtool check rules; a copy with an
    expression that does not parse is refused, naming the rule's file."""
    out = must_pass("check", "rules", RULES)
    m = re.search(r"SUCCESS: (\d+) rules found", out)
    check(m and int(m.group(1)) >= 10, f"promtool check rules: {out[-300:]}")
    d = tempfile.mkdtemp(prefix="shoal-monitoring-")
    try:
        with open(RULES) as f:
            text = f.read()
        bad = os.path.join(d, "shoal.rules.yml")
        with open(bad, "w") as f:
            f.write(text.replace("expr: redis_up == 0", "expr: redis_up == == 0", 1))
        check(text.count("expr: redis_up == 0") == 1, "the rule to break is not in shoal.rules.yml")
        out2 = must_refuse("a rule with a broken expression", "check", "rules", bad)
        check("parse error" in out2, f"promtool's refusal says no parse error:\n{out2[-400:]}")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return f"{m.group(1)} rules"


@static
def rules_unit_tests_pass_and_fail_on_a_changed_rule(scale):
    """promtool test rules shoal.rules.test.yml passes; the same tests
    against a copy of the rules in which ShoalRedisDown waits for
    redis_up == 1 fail: the tests look at what the rules say."""
    must_pass("test", "rules", os.path.basename(RULE_TESTS), cwd=os.path.dirname(RULE_TESTS))
    d = tempfile.mkdtemp(prefix="shoal-monitoring-")
    try:
        with open(RULES) as f:
            text = f.read()
        with open(os.path.join(d, "shoal.rules.yml"), "w") as f:
            f.write(text.replace("expr: redis_up == 0", "expr: redis_up == 1", 1))
        shutil.copy(RULE_TESTS, d)
        out = must_refuse("rules whose Redis alert waits for the wrong value",
                          "test", "rules", os.path.basename(RULE_TESTS), cwd=d)
        check("ShoalRedisDown" in out, f"the failure does not name ShoalRedisDown:\n{out[-600:]}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


@static
def every_alert_is_explained_waits_briefly_and_is_tested(scale):
    """Every alerting rule has a severity, a summary and a description, a
    `for` no longer than 2 minutes, and a unit test in which it fires; every
    recording rule follows level:metric:operations and the names the docs
    and the autoscaler use exist."""
    rules, tests = rule_docs()
    fired = {t["alertname"] for tc in tests["tests"] for t in tc.get("alert_rule_test") or []
             if t.get("exp_alerts")}
    alerts, records = [], []
    for g in rules["groups"]:
        for r in g["rules"]:
            if "alert" in r:
                name = r["alert"]
                alerts.append(name)
                ann = r.get("annotations") or {}
                check(ann.get("summary") and ann.get("description"),
                      f"{name}: no summary or description annotation")
                check((r.get("labels") or {}).get("severity") in ("page", "ticket"),
                      f"{name}: severity must be page or ticket")
                check(0 < seconds(r.get("for")) <= LONGEST_FOR,
                      f"{name}: for {r.get('for')!r} is not between 0 and {LONGEST_FOR}s")
                check(name in fired, f"{name}: no unit test makes it fire")
            else:
                records.append(r["record"])
                check(re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", r["record"]),
                      f"recording rule {r['record']}: not level:metric:operations")
    want = {"ShoalWorkerServerDown", "ShoalRedisDown", "ShoalRedisErrors", "ShoalDatabaseDown",
            "ShoalDatabaseErrors", "ShoalHigh5xxRatio", "ShoalP99OverBudget", "ShoalCasGiveUps",
            "ShoalRedisMemoryNearMax"}
    check(want <= set(alerts), f"alerts missing: {sorted(want - set(alerts))}")
    check("instance:shoal_busy_ratio:rate1m" in records, "no per-server busy ratio recorded")
    with open(os.path.join(REPO, "docs", "monitoring.md")) as f:
        doc = f.read()
    undocumented = [a for a in alerts if a not in doc]
    check(not undocumented, f"docs/monitoring.md does not explain {undocumented}")
    return f"{len(alerts)} alerts, {len(records)} recording rules"


@static
def bad_monitoring_settings_are_refused_before_anything_starts(scale):
    """`stack up` with SHOAL_MONITORING, SHOAL_PROMETHEUS_PORT or
    SHOAL_EXPORTER_PORT_BASE out of range: exit 1, one line naming the
    setting, nothing started (no pid file in the run dir)."""
    for name, value in (("SHOAL_MONITORING", "yes"), ("SHOAL_PROMETHEUS_PORT", "70000"),
                        ("SHOAL_PROMETHEUS_PORT", "90x"), ("SHOAL_EXPORTER_PORT_BASE", "65533")):
        d = tempfile.mkdtemp(prefix="shoal-monitoring-")
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
            env.update({"SHOAL_RUN_DIR": d, name: value})
            p = subprocess.run([STACK, "up"], env=env, capture_output=True, text=True,
                               timeout=30, stdin=subprocess.DEVNULL)
            lines = (p.stdout + p.stderr).strip().splitlines()
            check(p.returncode == 1 and len(lines) == 1 and name in lines[0],
                  f"{name}={value}: exit {p.returncode}, {lines}")
            check(not [f for f in os.listdir(d) if f.endswith(".pid")], f"{name}={value}: pid files")
        finally:
            shutil.rmtree(d, ignore_errors=True)


# ================================================================ the stack
def wait_targets(st, job, want, health="up"):
    """Waits until Prometheus has exactly `want` targets of job, all of the
    given health; returns them."""
    def probe():
        ts = [t for t in prom.targets(st.prometheus_url()) if t["job"] == job]
        return ts if len(ts) == want and all(t["health"] == health for t in ts) else None
    return prom.wait_until(f"{want} {job} target(s) {health}", probe, 20 * st.scale)


def firing(st, name):
    return [a for a in prom.alerts(st.prometheus_url()) if a["name"] == name and a["state"] == "firing"]


@case
def the_exporters_and_prometheus_are_scraped_and_up(st):
    """Prometheus scrapes itself and the PostgreSQL and nginx exporters,
    each up on the loopback port the stack gave it, and both Redis nodes
    through the Redis exporter (one target per node, named by its
    address); the exporters see what they watch (redis_up for both nodes,
    pg_up, nginx_up are 1; Redis's maxmemory is known); `stack status`
    lists Prometheus and each exporter alive."""
    for job, port in (("prometheus", st.prometheus_port), ("postgres", st.exporter_port("postgres")),
                      ("nginx", st.exporter_port("nginx"))):
        ts = wait_targets(st, job, 1)
        check_eq(ts[0]["instance"], f"127.0.0.1:{port}", f"{job}'s target")
    nodes = sorted(f"redis://127.0.0.1:{p}" for p in (st.redis_port, st.replica_port))
    ts = wait_targets(st, "redis", 2)
    check_eq(sorted(t["instance"] for t in ts), nodes, "the Redis targets")
    base = st.prometheus_url()
    for metric, n in (("redis_up", 2), ("pg_up", 1), ("nginx_up", 1)):
        prom.wait_until(f"{metric} == 1 for {n}", lambda m=metric, n=n: len(
            [v for _, v in prom.query(base, m) if v == 1]) == n, 10 * st.scale)
    mx = prom.query(base, "redis_memory_max_bytes")
    check(len(mx) == 2 and all(v > 0 for _, v in mx), f"redis_memory_max_bytes: {mx}")
    rc, out = st.status()
    check(rc == 0, f"stack status exited {rc}:\n{out}")
    for name in ("prometheus", "redis-exp", "postgres-exp", "nginx-exp"):
        check(re.search(rf"^{name}\s+127\.0\.0\.1:\d+\s+pid \d+\s+alive$", out, re.M),
              f"stack status shows no live {name}:\n{out}")


@case
def prometheus_and_the_exporters_listen_on_loopback_only(st):
    """Every port Prometheus and the exporters listen on is 127.0.0.1's."""
    pids = set()
    for name in ("prometheus", "redis-exporter", "postgres-exporter", "nginx-exporter"):
        got = st.pids(name)
        check(got, f"{name}.pid lists no pid")
        pids.update(got)
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, timeout=10).stdout
    seen = []
    for line in out.splitlines():
        if any(f"pid={p}," in line for p in pids):
            local = line.split()[3]
            seen.append(local)
            check(local.startswith("127.0.0.1:"), f"listens beyond loopback: {line}")
    check(len(seen) >= 4, f"listening sockets of {sorted(pids)}: {seen}")


@case
def the_workers_get_none_of_the_monitoring_settings(st):
    """SHOAL_MONITORING, SHOAL_PROMETHEUS_PORT and SHOAL_EXPORTER_PORT_BASE
    are the stack's own: no worker has them in its environment, and no
    worker warns of a SHOAL_* name that is not a setting."""
    own = {"SHOAL_MONITORING", "SHOAL_PROMETHEUS_PORT", "SHOAL_EXPORTER_PORT_BASE"}
    for pid in st.worker_pids():
        leaked = own & set(procs.proc_environ(pid))
        check(not leaked, f"worker {pid} has the stack's settings {sorted(leaked)}")
    warned = []
    for path in st.log_files():
        with open(path, encoding="utf-8", errors="replace") as f:
            warned += [l.strip() for l in f if "not a setting" in l]
    check(not warned, f"workers warned of names that are no setting: {warned[:3]}")


@case
def the_monitoring_credentials_read_statistics_and_nothing_else(st):
    """The Redis user "monitor" runs INFO but reads no key and runs no
    CONFIG GET (it would show the replication password); the PostgreSQL
    role shoal_monitor has pg_monitor and may not connect to database
    shoal. Their password files are mode 600."""
    for f in ("redis-monitor-password", "db-monitor-password", "redis-exporter-password.json"):
        mode = os.stat(st.path(f)).st_mode & 0o777
        check_eq(oct(mode), oct(0o600), f"mode of {f}")
    with open(st.path("redis-monitor-password")) as f:
        pw = f.readline().strip()
    r = resp.Redis(st.redis_port, "monitor", pw, st.timeout)
    try:
        check(b"redis_version" in r.cmd("INFO", "server"), "INFO as monitor")
        for cmd in (("GET", st.prefix + "x"), ("CONFIG", "GET", "masterauth"), ("KEYS", "*")):
            try:
                got = r.cmd(*cmd)
            except resp.RedisError as e:
                check("NOPERM" in str(e), f"{cmd} as monitor: {e}")
            else:
                raise TestFailure(f"{cmd} as monitor answered {got!r}")
    finally:
        r.close()
    granted = st.db.psql("SELECT string_agg(b.rolname, ',') FROM pg_auth_members m "
                         "JOIN pg_roles a ON a.oid = m.member JOIN pg_roles b ON b.oid = m.roleid "
                         "WHERE a.rolname = 'shoal_monitor'").strip()
    check_eq(granted, "pg_monitor", "roles granted to shoal_monitor")
    can = st.db.psql("SELECT has_database_privilege('shoal_monitor', 'shoal', 'CONNECT')").strip()
    check_eq(can, "f", "shoal_monitor may connect to database shoal")


@case
def the_rules_are_loaded_and_evaluate_cleanly(st):
    """Prometheus has loaded shoal.rules.yml: every rule of the file, none
    in error after a few evaluations."""
    rules, _ = rule_docs()
    want = {r.get("alert") or r.get("record") for g in rules["groups"] for r in g["rules"]}

    def probe():
        got = {r["name"]: r for g in prom.api(st.prometheus_url(), "rules")["groups"]
               for r in g["rules"]}
        return got if set(got) == want and all(r.get("lastEvaluation", "").startswith("2")
                                                 for r in got.values()) else None
    got = prom.wait_until("every rule loaded and evaluated", probe, 15 * st.scale)
    bad = {n: r.get("lastError") for n, r in got.items() if r.get("health") != "ok"}
    check(not bad, f"rules in error: {bad}")
    return f"{len(got)} rules"


@case
def prometheus_scrapes_every_worker_server_directly(st):
    """One target per worker server, its own metrics address (not the
    balancer's), all up; each reports shoal_threads = procs x threads, and
    the recording rule gives each a busy ratio between 0 and 1."""
    ts = prom.wait_until(f"{st.servers} worker targets", lambda: (
        lambda ts: ts if len(ts) == st.servers else None)(
        [t for t in prom.targets(st.prometheus_url()) if t["job"] == "shoal"]), 15 * st.scale)
    check(all(t["instance"] != f"127.0.0.1:{st.http_port}" for t in ts), "a target is the balancer")
    ts = wait_targets(st, "shoal", st.servers)
    want = sorted(st.metrics_url(k).split("/")[2] for k in range(1, st.servers + 1))
    check_eq(sorted(t["instance"] for t in ts), want, "the worker targets' addresses")

    def threads():
        v = prom.query(st.prometheus_url(), "shoal_threads")
        return v if len(v) == st.servers else None
    got = prom.wait_until("shoal_threads from every server", threads, 10 * st.scale)
    for labels, v in got:
        check_eq(v, st.procs * st.threads, f"shoal_threads of {labels.get('instance')}")

    def busy():
        v = prom.query(st.prometheus_url(), "instance:shoal_busy_ratio:rate1m")
        return v if len(v) == st.servers else None
    ratios = prom.wait_until("the busy ratio recorded for every server", busy, 15 * st.scale)
    check(all(0 <= v <= 1 for _, v in ratios), f"busy ratios outside 0..1: {ratios}")
    return "busy ratio " + ", ".join(f"{l.get('instance')} {v:.3f}" for l, v in sorted(
        ratios, key=lambda r: r[0].get("instance", "")))


@case
def stack_scale_changes_the_targets_without_restarting_prometheus(st):
    """`stack scale 3` adds a third worker target and `stack scale 2`
    removes it again, Prometheus the same process throughout (file_sd)."""
    pid = st.pids("prometheus")
    st.scale_to(3)
    try:
        wait_targets(st, "shoal", 3)
    finally:
        st.scale_to(2)
    wait_targets(st, "shoal", 2)
    check_eq(st.pids("prometheus"), pid, "Prometheus's pid")


@case
def a_hung_worker_server_fires_the_alert_which_resolves_once_it_runs(st):
    """Every process of worker server 2 stopped (SIGSTOP: a server that
    hangs, which still accepts connections): its scrapes time out,
    ShoalWorkerServerDown fires for its address and no other; continued,
    the alert resolves."""
    base = st.prometheus_url()
    addr = st.metrics_url(2).split("/")[2]
    wait_targets(st, "shoal", st.servers)
    # A server an earlier test scaled away may have been scraped while it
    # stopped: its alert lasts until Prometheus evaluates without it.
    prom.wait_until("no ShoalWorkerServerDown before the stop", lambda: not [
        a for a in prom.alerts(base) if a["name"] == "ShoalWorkerServerDown"], 30 * st.scale, step=0.5)
    pids = st.server_pids(2)
    t0 = time.monotonic()
    st.signal(pids, signal.SIGSTOP)
    try:
        got = prom.wait_until("ShoalWorkerServerDown firing",
                              lambda: firing(st, "ShoalWorkerServerDown"), 30 * st.scale, step=0.5)
        fired_after = time.monotonic() - t0
        check_eq([a["labels"].get("instance") for a in got], [addr], "the servers it fires for")
    finally:
        st.signal(pids, signal.SIGCONT)
    t1 = time.monotonic()
    prom.wait_until("ShoalWorkerServerDown resolved", lambda: not [
        a for a in prom.alerts(base) if a["name"] == "ShoalWorkerServerDown"], 20 * st.scale, step=0.5)
    return (f"fired {fired_after:.1f}s after the stop, resolved "
            f"{time.monotonic() - t1:.1f}s after SIGCONT")


@case
def a_stopped_redis_fires_the_alert_which_resolves_once_it_is_back(st):
    """Redis stopped: ShoalRedisDown fires in Prometheus within a bounded
    time (for: 5s plus a few scrapes) for the primary alone, the workers'
    Redis error counter rises and ShoalRedisErrors fires too.
    Redis started again: both resolve."""
    base = st.prometheus_url()
    check(not firing(st, "ShoalRedisDown"), "ShoalRedisDown fires before Redis is stopped")
    # A signed-in user: each of its pages reads its session from Redis, so
    # the workers meet Redis down.
    user = st.browser()
    user.signup(new_name("mon"), "correct horse battery")
    errors_before = sum(v for _, v in prom.query(base, "shoal_redis_errors_total"))

    def firing_with_traffic(name):
        for _ in range(3):
            user.get("/cart")
        return firing(st, name)
    t0 = time.monotonic()
    st.stop_redis()
    try:
        got = prom.wait_until("ShoalRedisDown firing", lambda: firing_with_traffic("ShoalRedisDown"),
                              30 * st.scale, step=0.5)
        fired_after = time.monotonic() - t0
        check_eq([a["labels"].get("instance") for a in got], [f"redis://127.0.0.1:{st.redis_port}"],
                 "the Redis nodes ShoalRedisDown fires for (the replica runs on)")
        prom.wait_until("ShoalRedisErrors firing", lambda: firing_with_traffic("ShoalRedisErrors"),
                        20 * st.scale, step=0.5)
        errors = sum(v for _, v in prom.query(base, "shoal_redis_errors_total"))
        check(errors > errors_before, f"shoal_redis_errors_total {errors_before} -> {errors}")
    finally:
        st.start_redis()
    t1 = time.monotonic()
    prom.wait_until("ShoalRedisDown resolved", lambda: not [
        a for a in prom.alerts(base) if a["name"] == "ShoalRedisDown"], 20 * st.scale, step=0.5)
    return (f"fired {fired_after:.1f}s after the stop, resolved {time.monotonic() - t1:.1f}s "
            f"after the start; shoal_redis_errors_total {errors_before:.0f} -> {errors:.0f}")
