"""
compose_cases.py - the containers suite's steps: the images built, the
whole compose.yaml up, the scenarios under load (scaling, a worker
container killed, the Redis primary's container killed), the same
deployment switched to a Redis Cluster (compose.cluster.yaml) and taken
down, Compose down, and the host checked for anything left behind.

The Context stands in for the local stack where the integration suite's
core asks for one: the front and the CDN on their published ports (on the
loopback of the engine's network namespace), the cookie names, a browser.
"""

import json
import os
import signal
import subprocess
import time

from harness.core import TestFailure, check
from harness.figures import Figures, fill_load_figures, verify_sessions
from harness.load import Load, cart_count, sign_in_population, session_state
from harness.procs import wait_dead
from harness.runner import time_limit
from harness.sid import record_key, session_hash
from harness.stack import TEST_BUDGETS
from harness.web import Browser, form_tokens

PROJECT = "shoalct"
PASSWORD = "container horse battery"
SERVICES = ["redis-1", "redis-2", "sentinel-1", "sentinel-2", "sentinel-3", "postgres-1",
            "postgres-2", "pgbouncer", "worker", "front", "cdn", "prometheus"]
SENTINEL_TIER = SERVICES[:5]
CLUSTER_NODES = [f"cluster-{k}" for k in range(1, 7)]
# compose.yaml with compose.cluster.yaml: the nodes instead of the Sentinel tier.
CLUSTER_SERVICES = CLUSTER_NODES + SERVICES[5:]


class Context:
    def __init__(self, engine, root, tmp, scale):
        self.engine = engine
        self.root = root
        self.tmp = tmp
        self.scale = scale
        self.timeout = 15.0 * scale
        self.http_port = 8080           # compose.yaml's published ports
        self.cdn_port = 8081
        self.cookie = "sid"
        self.csrf_cookie = "sid_csrf"
        self.flash_cookie = "sid_flash"
        self.prefix = "shoal:"
        self.max_body = 65536           # the workers' SHOAL_MAX_BODY there
        self.front = "nginx"
        self.secrets = os.path.join(tmp, "secrets")
        self.compose_file = os.path.join(root, "deploy", "docker", "compose.yaml")
        self.override = os.path.join(tmp, "compose.test.yaml")
        # Given between compose.yaml and the test override: compose.cluster.yaml
        # while the project runs (or may run) with the Redis Cluster.
        self.extra_files = []
        self.project_up = False
        self.swarm = None               # the stack's name while on Swarm
        self.pop = []
        self.figures = []

    def browser(self):
        return Browser(self.http_port, self.timeout)

    def compose(self, *args, check=True, timeout=600):
        env = dict(self.engine.env, SHOAL_SECRETS=self.secrets)
        files = [self.compose_file] + self.extra_files + [self.override]
        return self.engine.run(["docker-compose", "--no-ansi", "-p", PROJECT] +
                               [a for f in files for a in ("-f", f)] + list(args),
                               check, timeout, env=env)

    def write_override(self):
        """The one change to compose.yaml: the tests sign up hundreds of
        users from one address (the engine's gateway), so the workers get
        the local stack's test budgets, and name themselves in X-Served-By."""
        env = dict(TEST_BUDGETS, SHOAL_SERVED_BY="1")
        with open(self.override, "w") as f:
            f.write('version: "3.9"\nservices:\n  worker:\n    environment:\n')
            for k, v in sorted(env.items()):
                f.write(f"      {k}: {json.dumps(v)}\n")

    def containers(self, service):
        """The ids of the service's running containers (Compose's, or the
        Swarm stack's tasks'), oldest first."""
        labels = ([f"label=com.docker.swarm.service.name={self.swarm}_{service}"] if self.swarm
                  else [f"label=com.docker.compose.project={PROJECT}",
                        f"label=com.docker.compose.service={service}"])
        args = ["ps", "-q"]
        for label in labels:
            args += ["--filter", label]
        return list(reversed(self.engine.docker(*args).stdout.split()))

    def inspect(self, cid):
        return json.loads(self.engine.docker("inspect", cid).stdout)[0]

    def health(self, cid):
        st = self.inspect(cid)["State"]
        return st.get("Health", {}).get("Status") or st.get("Status")

    def redis_cli(self, cid, *args, input=None):
        return self.engine.docker(
            "exec", "-i", cid, "sh", "-c",
            'REDISCLI_AUTH="$(cat /run/secrets/redis-password)" exec redis-cli '
            '--no-auth-warning --user shoal "$@"', "redis-cli", *args, input=input,
            timeout=60).stdout

    def primary(self):
        """The Redis container whose ROLE is master."""
        for svc in ("redis-1", "redis-2"):
            for cid in self.containers(svc):
                try:
                    if self.redis_cli(cid, "ROLE").split()[:1] == ["master"]:
                        return cid
                except TestFailure:
                    continue
        return None

    # What harness.figures.verify_sessions asks of a stack.
    def primary_port(self):
        return self.primary()

    def redis(self, cid):
        return KeySnapshot(self, cid)

    def redis_of_keys(self):
        """What verify_sessions reads the keys from: the primary's now."""
        return self.redis(self.primary_port())


class KeySnapshot:
    """The primary's keys under the prefix, read once (SCAN through
    docker exec): answers EXISTS for verify_sessions without one exec per
    session."""

    def __init__(self, ctx, cid):
        check(cid, "no Redis container answers ROLE as master")
        out = ctx.redis_cli(cid, "--scan", "--pattern", ctx.prefix + "*")
        self.keys = set(out.split())

    def cmd(self, name, key):
        check(name == "EXISTS", f"KeySnapshot answers EXISTS only, not {name}")
        return 1 if key in self.keys else 0

    def close(self):
        pass



def not_up(ctx, services):
    """What keeps services from being up: "SERVICE: none" for one without a
    container, "SERVICE: STATE" for a container neither healthy nor running."""
    bad = []
    for svc in services:
        ids = ctx.containers(svc)
        if not ids:
            bad.append(f"{svc}: none")
        for cid in ids:
            h = ctx.health(cid)
            if h not in ("healthy", "running"):
                bad.append(f"{svc}: {h}")
    return bad

def crash(ctx, cid):
    """SIGKILL to the container's first process from the host, as a crash
    (or the kernel's OOM killer) would: unlike `docker kill`, which the
    engine takes as an operator's stop, this leaves the restart policy
    (unless-stopped) to bring the container back."""
    pid = ctx.inspect(cid)["State"]["Pid"]
    check(pid > 0, f"container {cid[:12]} has no process")
    os.kill(pid, signal.SIGKILL)
    return pid


def restarted(ctx, cid, before, timeout):
    """Seconds until the container was restarted and healthy, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if ctx.inspect(cid)["RestartCount"] > before and ctx.health(cid) == "healthy":
            return time.monotonic() - t0
        time.sleep(0.5)
    return None


def wait_for(what, fn, timeout, every=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last is True:
            return
        time.sleep(every)
    raise TestFailure(f"{what}: not within {timeout:.0f}s (last: {last})")


# --------------------------------------------------------------------------
# set up

@time_limit(900)
def images_build(ctx, builder):
    """make images' script on the build engine: the base made with
    mmdebstrap (or the cached tar imported), every image tagged with the
    version and the commit. Prints each image's size."""
    base_tar = os.environ.get("SHOAL_BASE_TAR") or \
        os.path.join(ctx.root, "build", "docker", "base.tar")
    env = dict(builder.env, DOCKER="/usr/bin/docker", SHOAL_BUILD_NETWORK="host",
               SHOAL_BASE_TAR=base_tar)
    t0 = time.monotonic()
    p = builder.run([os.path.join(ctx.root, "deploy", "docker", "build")], True, 1200, env=env)
    lines = [l for l in p.stdout.splitlines() if l.startswith("build: shoal/")]
    check(len(lines) == 6, f"expected 6 images, got: {p.stdout[-600:]}")
    version = open(os.path.join(ctx.root, "VERSION")).read().strip()
    for t in ("worker", "redis", "nginx", "postgres", "pgbouncer", "prometheus"):
        labels = json.loads(builder.docker("inspect", f"shoal/{t}:{version}").stdout)[0][
            "Config"]["Labels"] or {}
        check(labels.get("org.opencontainers.image.version") == version,
              f"shoal/{t}:{version} has no version label: {labels}")
    user = json.loads(builder.docker("inspect", "shoal/worker:latest").stdout)[0]["Config"]["User"]
    check(user and not user.startswith("0"), f"the worker image runs as {user!r}")
    return "\n".join(lines + [f"built in {time.monotonic() - t0:.0f}s"])


@time_limit(600)
def compose_up(ctx):
    """deploy/docker/make-secrets, then `docker-compose up -d` of the whole
    file with the built images; every service running (healthy where it has
    a health check) and the front answering /readyz."""
    subprocess.run([os.path.join(ctx.root, "deploy", "docker", "make-secrets"), ctx.secrets],
                   check=True, capture_output=True, timeout=30)
    ctx.write_override()
    t0 = time.monotonic()
    ctx.project_up = True
    ctx.compose("--compatibility", "up", "-d", "--no-build", timeout=600 * ctx.scale)

    def all_up():
        bad = not_up(ctx, SERVICES)
        return True if not bad else bad
    wait_for("every service up", all_up, 180 * ctx.scale, 1.0)
    n = len(ctx.containers("worker"))
    check(n == 3, f"compose.yaml starts 3 workers (deploy.replicas), got {n}")

    def front_ready():
        try:
            r = ctx.browser().get("/readyz")
            return True if r.status == 200 else r.status
        except (OSError, TestFailure) as e:
            return repr(e)
    wait_for("the front answers /readyz", front_ready, 60 * ctx.scale)
    return f"up in {time.monotonic() - t0:.0f}s: {', '.join(SERVICES)}"


@time_limit(300)
def compose_down(ctx):
    """`docker-compose down -v`: every container, network and volume of the
    project gone."""
    ctx.compose("down", "-v", "--remove-orphans", "--timeout", "30", timeout=300)
    ctx.project_up = False
    ctx.extra_files = []
    left = ctx.engine.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout.strip()
    check(not left, f"containers left after down: {left.splitlines()}")
    nets = [n for n in ctx.engine.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
            if n.startswith(PROJECT)]
    check(not nets, f"networks left after down: {nets}")


def nothing_left_behind(snap, tmp):
    """After both engines stopped: no mount under the temp dir, no process
    naming it, no network link and no iptables rule the host did not have."""
    left = snap.left_behind()
    check(not left, "left behind: " + "; ".join(left))
    return "none: no mounts, processes, network links or iptables rules"


# --------------------------------------------------------------------------
# under load

UNDER_LOAD = []


def under_load(fn):
    UNDER_LOAD.append(fn)
    return fn


def population(ctx):
    if not ctx.pop:
        ctx.pop = sign_in_population(ctx.http_port, 30, 60, ctx.cookie, ctx.prefix,
                                     PASSWORD, timeout=ctx.timeout, name="ct",
                                     log=lambda s: None)
    return ctx.pop


def drive(ctx, tag, seconds, faults, rate=60.0, settle=10.0):
    """The load through the front, each fault (at, fn) called at its time;
    it stops `settle` seconds after the last fault returned (the time to
    see what follows it), or after `seconds` at most; always stopped."""
    load = Load(ctx.http_port, population(ctx), tag, rate / ctx.scale, seconds,
                int(2 * rate * seconds) + 100, 40.0).start()
    try:
        for at, fn in faults:
            d = load.t_start + at - time.monotonic()
            if d > 0:
                time.sleep(d)
            fn(load)
        end = min(load.t_start + seconds, time.monotonic() + settle * ctx.scale)
        while time.monotonic() < end and any(t.is_alive() for t in load.threads):
            time.sleep(0.2)
    finally:
        load.stop()
    return load


def verify(ctx, tag, fig):
    """Every session still signed in as its user, its cart holding every
    add answered 200 (through the front), its record on the primary."""
    verify_sessions(ctx, ctx.pop, tag, fig)


def scale_workers(ctx, n):
    ctx.compose("--compatibility", "up", "-d", "--no-build", "--no-deps", "--no-recreate", "--scale",
                f"worker={n}", "worker", timeout=300)

    def settled():
        ids = ctx.containers("worker")
        if len(ids) != n:
            return f"{len(ids)} workers"
        bad = [ctx.health(c) for c in ids if ctx.health(c) != "healthy"]
        return True if not bad else bad
    wait_for(f"{n} healthy workers", settled, 120 * ctx.scale, 1.0)


@under_load
@time_limit(400)
def workers_scale_3_6_2_under_load_without_a_failure(ctx):
    """While signed-in users read pages and add to their carts: 3 -> 6
    workers, then 6 -> 2 (Compose stops four at once; they drain, and the
    front's list follows Docker's DNS). Zero failed requests, zero users
    signed out, zero cart adds lost."""
    fig = Figures("containers scale 3->6->2")
    timing = {}

    def scale_to(n, key):
        def fault(load):
            t = time.monotonic()
            load.mark(f"scale to {n}")
            scale_workers(ctx, n)
            timing[key] = time.monotonic() - t
            load.mark(f"{n} healthy")
        return fault

    load = drive(ctx, "sc", 120 * ctx.scale,
                 [(5, scale_to(6, "up")), (30 * ctx.scale, scale_to(2, "down"))])
    fill_load_figures(fig, load)
    verify(ctx, "sc", fig)
    fig.extra["scale_up_s"] = f"{timing.get('up', 0):.1f}"
    fig.extra["scale_down_s"] = f"{timing.get('down', 0):.1f}"
    fig.bound("the scale-down happened during the load", "down" in timing)
    fig.bound("zero failed requests", fig.nfailed == 0)
    fig.bound("zero users signed out", fig.signed_out == 0)
    fig.bound("zero sessions lost", fig.sessions_lost == 0)
    fig.bound("zero cart updates lost", fig.cart_lost == 0)
    scale_workers(ctx, 3)
    return report(fig)


@under_load
@time_limit(300)
def worker_container_sigkilled_under_load(ctx):
    """SIGKILL the process of one of the 3 worker containers under load (a
    crash): at most the requests in flight at the kill fail (POSTs only:
    nginx passes a GET on), nobody is signed out, nothing acknowledged is
    lost, and the engine starts the container again (restart:
    unless-stopped)."""
    fig = Figures("containers SIGKILL worker container")
    info = {}
    victim = ctx.containers("worker")[0]
    restarts0 = ctx.inspect(victim)["RestartCount"]

    def kill(load):
        n, before = load.mark(f"SIGKILL worker container {victim[:12]}"), load.sent()
        pid = crash(ctx, victim)
        wait_dead(pid, 5.0)
        # In flight: those sent before the signal, and those sent until
        # the process was gone (nginx may pass one to it meanwhile).
        info["inflight"] = n + load.sent() - before
        info["back"] = restarted(ctx, victim, restarts0, 60 * ctx.scale)

    load = drive(ctx, "wk", 25 * ctx.scale, [(5 * ctx.scale, kill)])
    fill_load_figures(fig, load)
    verify(ctx, "wk", fig)
    inflight = info.get("inflight", 0)
    fails = [r for r in load.all_results() if not r.ok]
    back = info.get("back")
    fig.extra["in_flight_at_kill"] = inflight
    fig.extra["healthy_again_after_s"] = f"{back:.1f}" if back is not None else "never"
    fig.bound("the engine restarted the container, healthy again", back is not None)
    fig.bound(f"failed <= requests in flight at the kill ({inflight})", fig.nfailed <= inflight)
    fig.bound("only POSTs fail", all(r.what != "GET /" for r in fails))
    fig.bound("zero users signed out", fig.signed_out == 0)
    fig.bound("zero sessions lost", fig.sessions_lost == 0)
    fig.bound("zero cart updates lost", fig.cart_lost == 0)
    return report(fig)


@under_load
@time_limit(400)
def redis_primary_container_killed_under_load_fails_over(ctx):
    """`docker kill` the Redis primary's container under load, as a host
    that is lost: it stays down (a crash alone would be restarted by the
    engine in about a second, before the Sentinels' down-after of 5 s).
    The Sentinels promote the replica and the workers follow them. Failed
    requests are 503 (Retry-After) and stop within the failover's time;
    nobody is signed out; a cart add acknowledged more than a second before
    the kill is never lost (replication is asynchronous: what the primary
    acknowledged in its last instant may not have reached the replica).
    Then the old primary's container starts again and joins as a replica."""
    fig = Figures("containers kill Redis primary (failover)")
    info = {}
    victim = ctx.primary()
    check(victim, "no Redis primary found")

    def kill(load):
        load.mark(f"docker kill Redis primary {victim[:12]}")
        info["t"] = time.monotonic()
        ctx.engine.docker("kill", "-s", "KILL", victim)

    def start_again(load):
        load.mark(f"docker start {victim[:12]}")
        ctx.engine.docker("start", victim)

    load = drive(ctx, "rk", 60 * ctx.scale, [(5 * ctx.scale, kill), (25 * ctx.scale, start_again)])
    rs = fill_load_figures(fig, load)
    t_kill = info["t"]
    fails = [r for r in rs if not r.ok]
    late = max((r.t1 - t_kill for r in fails), default=0.0)
    # Adds acknowledged in the last second before the kill may be lost.
    recent = {id(s): sum(1 for t in s.acked.get("rk", ()) if t_kill - 1.0 < t <= t_kill)
              for s in ctx.pop}
    verify(ctx, "rk", fig)
    lost_old = 0
    for s in ctx.pop:
        code, j = session_state(ctx.http_port, s, 10.0)
        if j and j.get("user") == s.name:
            lost_old += max(0, s.acked_count("rk") - recent[id(s)] - cart_count(j, "rk"))
    new_primary = ctx.primary()
    fig.extra["recovered_after_s"] = f"{late:.1f}"
    fig.extra["adds_acked_in_last_1s"] = sum(recent.values())
    fig.extra["promoted"] = "yes" if new_primary and new_primary != victim else "no"
    fig.bound("the replica was promoted", new_primary and new_primary != victim)
    fig.bound("failures are 503 only", all(r.status == 503 for r in fails))
    bound_s = 20.0 * ctx.scale
    fig.bound(f"no failure later than {bound_s:.0f}s after the kill", late <= bound_s)
    fig.bound("zero users signed out", fig.signed_out == 0)
    fig.bound("zero sessions lost", fig.sessions_lost == 0)
    fig.bound("no add acknowledged more than 1s before the kill lost", lost_old == 0)
    wait_for("the old primary's container healthy again",
             lambda: ctx.health(victim) == "healthy" or ctx.health(victim), 60 * ctx.scale, 1.0)
    role = ctx.redis_cli(victim, "ROLE").split()[:1]
    fig.extra["old_primary_back_as"] = role[0] if role else "?"
    fig.bound("the old primary is back, as a replica", role == ["slave"])
    return report(fig)


# --------------------------------------------------------------------------
# the Redis Cluster (compose.cluster.yaml)

def cluster_cli(ctx, cid, *args, user="cluster"):
    """redis-cli in a cluster node's container: as "cluster" (the internal
    password: CLUSTER INFO, NODES, KEYSLOT), or as the workers' "shoal",
    following MOVED (-c) to the node that serves the key."""
    pw = "redis-internal-password" if user == "cluster" else "redis-password"
    return ctx.engine.docker(
        "exec", "-i", cid, "sh", "-c",
        f'REDISCLI_AUTH="$(cat /run/secrets/{pw})" exec redis-cli --no-auth-warning '
        f'--user {user} "$@"', "redis-cli", *args, timeout=60).stdout.replace("\r", "")


@under_load
@time_limit(400)
def compose_cluster_file_runs_the_deployment_on_a_redis_cluster(ctx):
    """Runs last: `up -d` with compose.cluster.yaml switches the running
    deployment to a Redis Cluster of 3 primaries and 3 replicas
    (cluster-1..6, made once by cluster-create) and takes the Sentinel tier
    away (scale 0). A user signed up through the front adds to the cart,
    and the session holds user and cart over 20 requests spread over the
    workers; every node says cluster_state:ok with 3 primaries (and 3
    replicas), the session's record is in the cluster (redis-cli -c, as the
    workers' user), no Redis or Sentinel of compose.yaml runs. Then `down
    -v`: nothing of the project is left."""
    fig = Figures("containers compose.cluster.yaml")
    ctx.extra_files = [os.path.join(ctx.root, "deploy", "docker", "compose.cluster.yaml")]
    ctx.pop = []                # the sessions of the Sentinel tier are gone with it
    t0 = time.monotonic()
    ctx.compose("--compatibility", "up", "-d", "--no-build", timeout=300 * ctx.scale)

    def all_up():
        bad = [f"{svc}: still there" for svc in SENTINEL_TIER if ctx.containers(svc)]
        bad += not_up(ctx, CLUSTER_SERVICES)
        return True if not bad else bad
    wait_for("every service of the cluster deployment up", all_up, 120 * ctx.scale, 1.0)
    check(len(ctx.containers("worker")) == 3, "not 3 workers")

    def front_ready():
        try:
            r = ctx.browser().get("/readyz")
            return True if r.status == 200 else r.status
        except (OSError, TestFailure) as e:
            return repr(e)
    wait_for("the front answers /readyz", front_ready, 30 * ctx.scale)
    up_s = time.monotonic() - t0
    created = ctx.engine.docker("ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
                                "--filter", "label=com.docker.compose.service=cluster-create",
                                "--format", "{{.Status}}").stdout.split("\n")[0]
    check(created.startswith("Exited (0)"), f"cluster-create: {created!r}")

    # A user through the front: signed up, an add to the cart, then the
    # session read back again and again (each request may reach another
    # worker, and each must find the session in the cluster).
    b = ctx.browser()
    name = f"cl_{os.urandom(6).hex()}"
    lat, failed, served = [], {}, set()

    def req(method, path, expect, **kw):
        t = time.monotonic()
        try:
            r = b.request(method, path, **kw)
            st = r.status
        except (OSError, TestFailure) as e:
            r, st = None, type(e).__name__
        lat.append(time.monotonic() - t)
        if st != expect:
            failed[f"{st} {method}"] = failed.get(f"{st} {method}", 0) + 1
        elif r is not None and r.served_by:
            served.add(r.served_by.rpartition(":")[0])
        return r if st == expect else None

    r = req("GET", "/signup", 200)
    tok = r and re_token(r.body)
    req("POST", "/signup", 303, form={"username": name, "password": PASSWORD, "csrf": tok})
    check(ctx.cookie in b.jar, f"signup set no {ctx.cookie} cookie: {failed}")
    r = req("GET", "/cart", 200)
    tok = r and re_token(r.body)
    req("POST", "/cart/add", 303, form={"item": "kiwi", "qty": "2", "csrf": tok})
    for _ in range(20):
        r = req("GET", "/api/session", 200)
        j = r.json() if r else {}
        if r and j.get("user") != name:
            fig.signed_out += 1
        elif r and (j.get("cart") or {}).get("kiwi") != 2:
            fig.cart_lost += 1
    fig.sent = len(lat)
    fig.failed = failed
    fig.slowest = max(lat, default=0.0)
    fig.p99 = sorted(lat)[int(0.99 * (len(lat) - 1))] if lat else 0.0

    # The cluster, as its nodes see it.
    nodes = {svc: ctx.containers(svc) for svc in CLUSTER_NODES}
    check(all(len(v) == 1 for v in nodes.values()), f"cluster nodes: {nodes}")
    states, masters, replicas = [], 0, 0
    for svc, (cid,) in nodes.items():
        info = cluster_cli(ctx, cid, "cluster", "info")
        states.append(f"{svc}:{'ok' if 'cluster_state:ok' in info.split() else 'NOT ok'}")
    lines = cluster_cli(ctx, nodes["cluster-1"][0], "cluster", "nodes").splitlines()
    for line in lines:
        flags = line.split()[2].split(",")
        masters += "master" in flags and "fail" not in flags
        replicas += "slave" in flags and "fail" not in flags
    key = record_key(ctx.prefix, session_hash(b.jar[ctx.cookie]))
    found = cluster_cli(ctx, nodes["cluster-4"][0], "-c", "exists", key, user="shoal").strip()
    slot = cluster_cli(ctx, nodes["cluster-1"][0], "cluster", "keyslot", key).strip()
    fig.sessions_lost = 0 if found == "1" else 1
    fig.extra["up_s"] = f"{up_s:.1f}"
    fig.extra["workers_seen"] = len(served)
    fig.extra["primaries"] = masters
    fig.extra["replicas"] = replicas
    fig.extra["session_slot"] = slot
    fig.bound("every node says cluster_state:ok (" + " ".join(states) + ")",
              all(s.endswith(":ok") for s in states))
    fig.bound("3 primaries and 3 replicas, none failing", masters == 3 and replicas == 3)
    fig.bound("the session's record is in the cluster", found == "1")
    fig.bound("zero failed requests", fig.nfailed == 0)
    fig.bound("the user signed in on every request", fig.signed_out == 0)
    fig.bound("the cart kept on every request", fig.cart_lost == 0)
    fig.bound("no Redis or Sentinel of compose.yaml running",
              not any(ctx.containers(s) for s in SENTINEL_TIER))

    t1 = time.monotonic()
    compose_down(ctx)
    fig.extra["down_s"] = f"{time.monotonic() - t1:.1f}"
    fig.extra["case_s"] = f"{time.monotonic() - t0:.1f}"
    return report(fig)


def re_token(html):
    """The CSRF token of a page's first form (None if it has none)."""
    toks = form_tokens(html)
    return toks[0] if toks else None


def report(fig):
    text = fig.report()
    if not fig.passed:
        raise TestFailure(text)
    return text
