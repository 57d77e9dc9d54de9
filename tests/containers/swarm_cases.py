"""
swarm_cases.py - the same compose.yaml on Swarm, the distributed engine
Docker ships: `docker swarm init` on the suite's own engine, `docker stack
deploy` of the file Compose brought up, a rolling update of the worker
image under load, and the stack removed and the swarm left.
"""

import importlib.util
import json
import os
import signal
import subprocess
import time
import types

from harness.core import REPO, TestFailure, check
from harness.figures import Figures, fill_load_figures
from harness.runner import time_limit

from compose_cases import drive, population, report, verify, wait_for

STACK = "shoalsw"
ADVERTISE = "10.99.0.1"         # on a veth pair inside the engine's namespace


def services(ctx):
    """{service: (running, desired)} of the stack, by `docker service ls`."""
    out = ctx.engine.docker("service", "ls", "--filter", f"label=com.docker.stack.namespace={STACK}",
                            "--format", "{{.Name}} {{.Replicas}}").stdout
    got = {}
    for line in out.splitlines():
        name, reps = line.split()[:2]
        run, _, want = reps.partition("/")
        got[name[len(STACK) + 1:]] = (int(run), int(want.split()[0]))
    return got


def migrated(ctx):
    out = ctx.engine.docker("service", "ps", f"{STACK}_migrate", "--format",
                            "{{.CurrentState}}").stdout
    return any(l.startswith("Complete") for l in out.splitlines())


@time_limit(600)
def swarm_runs_the_same_compose_file(ctx, ns):
    """`docker swarm init`, then `docker stack deploy -c compose.yaml`: every
    service converges (the workers 3 of 3, migrate complete) with nothing
    waiting on anything's health, and the front answers /readyz on the
    port published in host mode."""
    ns.add_address(f"{ADVERTISE}/24")
    ctx.engine.docker("swarm", "init", "--advertise-addr", ADVERTISE)
    ctx.swarm = STACK
    ctx.pop = []                # a new Redis: new users
    t0 = time.monotonic()
    env = dict(ctx.engine.env, SHOAL_SECRETS=ctx.secrets)
    ctx.engine.run(["/usr/bin/docker", "stack", "deploy", "-c", ctx.compose_file,
                     "-c", ctx.override, STACK], True, 300, env=env)

    def converged():
        got = services(ctx)
        if len(got) < 13:
            return f"{len(got)} services"
        bad = {k: v for k, v in got.items() if k != "migrate" and v[0] != v[1]}
        if bad or not migrated(ctx):
            return bad or "migrate not complete"
        try:
            r = ctx.browser().get("/readyz")
            return True if r.status == 200 else f"/readyz {r.status}"
        except (OSError, TestFailure) as e:
            return repr(e)
    wait_for("the stack converged", converged, 300 * ctx.scale, 2.0)
    got = services(ctx)
    check(got["worker"] == (3, 3), f"workers: {got['worker']}")
    return f"converged in {time.monotonic() - t0:.0f}s: " + ", ".join(
        f"{k} {v[0]}/{v[1]}" for k, v in sorted(got.items()))


UNDER_LOAD = []        # what runs on the stack, in order (run picks by name)


ONE_THREAD = "SHOAL_THREADS=1"


def worker_env(ctx):
    out = ctx.engine.docker("service", "inspect", "--format",
                            "{{json .Spec.TaskTemplate.ContainerSpec.Env}}", f"{STACK}_worker").stdout
    return json.loads(out) or []


def worker_images(ctx):
    """The image each running worker task's spec names."""
    out = ctx.engine.docker("service", "ps", f"{STACK}_worker", "--filter", "desired-state=running",
                            "--format", "{{.Image}}").stdout
    return sorted(out.split())


@time_limit(600)
def swarm_rolling_update_of_the_worker_image_under_load_without_a_failure(ctx):
    """`docker service update --image` of the workers under load: Swarm
    starts each new task before it stops an old one (update_config
    order start-first) and the front follows the tasks through Swarm's
    DNS. Zero failed requests, zero users signed out, zero cart adds
    lost; every task runs the new image at the end. The same update gives
    the workers one thread each, which the autoscaler's test after it
    needs (one rolling update instead of two)."""
    fig = Figures("swarm rolling update of the worker image")
    version = open(os.path.join(ctx.root, "VERSION")).read().strip()
    target = f"shoal/worker:{version}"
    timing = {}

    def update(load):
        t = time.monotonic()
        load.mark(f"service update --image {target}")
        ctx.engine.docker("service", "update", "--quiet", "--image", target,
                          "--env-add", ONE_THREAD, f"{STACK}_worker", timeout=400)
        timing["s"] = time.monotonic() - t
        load.mark("update converged")

    load = drive(ctx, "ru", 90 * ctx.scale, [(5 * ctx.scale, update)])
    fill_load_figures(fig, load)
    verify(ctx, "ru", fig)
    images = worker_images(ctx)
    fig.extra["update_s"] = f"{timing.get('s', 0):.1f}"
    fig.extra["tasks_on_new_image"] = sum(1 for i in images if i == target)
    fig.bound("the update converged during the load", "s" in timing)
    fig.bound(f"every running task runs {target}", images and all(i == target for i in images))
    fig.bound("zero failed requests", fig.nfailed == 0)
    fig.bound("zero users signed out", fig.signed_out == 0)
    fig.bound("zero sessions lost", fig.sessions_lost == 0)
    fig.bound("zero cart updates lost", fig.cart_lost == 0)
    return report(fig)


UNDER_LOAD.append(swarm_rolling_update_of_the_worker_image_under_load_without_a_failure)


def autoscale_wrk():
    """The autoscale suite's Wrk (signed-in pages at full speed), loaded
    under a name of its own (the integration suite's cases.py is "cases")."""
    spec = importlib.util.spec_from_file_location(
        "autoscale_cases", os.path.join(REPO, "tests", "autoscale", "cases.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Wrk


def replicas(ctx):
    return services(ctx)["worker"]


@time_limit(700)
def autoscaler_scales_a_swarm_service_under_a_load_ramp(ctx):
    """deploy/local/autoscale on the Swarm: it lists the worker tasks'
    containers, reads each one's metrics through `docker exec CONTAINER
    shoal metrics` (their metrics port is on an overlay the host does not
    reach), and scales with `docker service scale`. One-thread workers
    (set for this test) under a ramp: signed-in users, then wrk at full
    speed for 20 s, then the users alone. The service grows to 4 or more,
    then shrinks back to 2; no request of the users fails and nobody is
    signed out. The target busy ratio is low (0.15): the engine's network
    and wrk share the host's cores with the workers, which keeps one
    thread's busy ratio near 0.3 at full speed here."""
    fig = Figures("swarm autoscale ramp")
    svc = f"{STACK}_worker"
    if ONE_THREAD not in worker_env(ctx):    # run alone, without the update before it
        ctx.engine.docker("service", "update", "--quiet", "--env-add", ONE_THREAD, svc, timeout=400)
    d = "/usr/bin/docker"
    env = dict(ctx.engine.env, SHOAL_AUTOSCALE="2:6", SHOAL_AUTOSCALE_INTERVAL="2",
               SHOAL_AUTOSCALE_WINDOW="6", SHOAL_AUTOSCALE_TARGET="0.15",
               SHOAL_AUTOSCALE_SERVERS_COMMAND=f"{d} ps -q --filter "
               f"label=com.docker.swarm.service.name={svc} --filter status=running",
               SHOAL_AUTOSCALE_METRICS_COMMAND=f"sh -c 'exec {d} exec \"$0\" "
               "/usr/local/bin/shoal metrics /run/shoal-metrics'",
               SHOAL_AUTOSCALE_SCALE_COMMAND=f"sh -c 'exec {d} service scale --detach {svc}=$0'")
    log_path = os.path.join(ctx.tmp, "autoscale.log")
    with open(log_path, "wb") as log:
        scaler = subprocess.Popen([os.path.join(REPO, "deploy", "local", "autoscale")], env=env,
                                  stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
    seen = {"max": 0, "final": None}
    wrk_cls = autoscale_wrk()
    shim = types.SimpleNamespace(stack=types.SimpleNamespace(http_port=ctx.http_port, cookie=ctx.cookie),
                                 s=types.SimpleNamespace(wrk_conns=8), pop=population(ctx))
    bulk = {}

    def high(load):
        load.mark("wrk -c8 for 20 s")
        bulk["w"] = wrk_cls(shim, 20)
        t_end = time.monotonic() + 20
        while time.monotonic() < t_end:
            seen["max"] = max(seen["max"], replicas(ctx)[1])
            time.sleep(1)
        bulk["w"].wait()
        load.mark("wrk done")

    def low(load):
        # One server fewer per window (6 s) of samples that all want fewer:
        # 6 -> 2 takes about 50 s.
        t_end = time.monotonic() + 120 * ctx.scale
        while time.monotonic() < t_end:
            want = replicas(ctx)[1]
            seen["max"] = max(seen["max"], want)
            if want == 2 and replicas(ctx) == (2, 2):
                load.mark("back to 2")
                seen["final"] = 2
                return
            time.sleep(1)

    try:
        load = drive(ctx, "as", 180 * ctx.scale, [(5 * ctx.scale, high), (30 * ctx.scale, low)],
                     rate=30.0, settle=5.0)
    finally:
        if "w" in bulk:
            bulk["w"].stop()
        scaler.send_signal(signal.SIGTERM)
        try:
            scaler.wait(15)
        except subprocess.TimeoutExpired:
            scaler.kill()
            scaler.wait()
    fill_load_figures(fig, load)
    verify(ctx, "as", fig)
    with open(log_path, errors="replace") as f:
        lines = [json.loads(l) for l in f if l.startswith("{")]
    events = [f"{r['event']} {r.get('from')}->{r.get('to')}" for r in lines
              if r.get("event") in ("scale_up", "scale_down", "bounds", "replace")]
    ratios = [r["ratio"] for r in lines if isinstance(r.get("ratio"), (int, float))]
    fig.extra["ratio_max"] = max(ratios) if ratios else "none"
    if not seen["max"] >= 4:
        fig.notes.append("autoscale.log:\n" + "\n".join(json.dumps(r) for r in lines[-12:]))
    w = bulk["w"].figures() if "w" in bulk else {}
    fig.extra["workers_max"] = seen["max"]
    fig.extra["workers_final"] = seen["final"]
    fig.extra["wrk_requests"] = w.get("requests")
    fig.extra["decisions"] = "|".join(events) or "none"
    fig.bound("the autoscaler grew the service to 4 or more", seen["max"] >= 4)
    fig.bound("and shrank it back to 2", seen["final"] == 2)
    fig.bound("it exited 0 on SIGTERM", scaler.returncode == 0)
    fig.bound("zero failed requests (the users')", fig.nfailed == 0)
    fig.bound("wrk: no non-2xx answer", w.get("non_2xx", 1) == 0)
    fig.bound("zero users signed out", fig.signed_out == 0)
    fig.bound("zero cart updates lost", fig.cart_lost == 0)
    return report(fig)


UNDER_LOAD.append(autoscaler_scales_a_swarm_service_under_a_load_ramp)


@time_limit(300)
def swarm_stack_removed_and_swarm_left(ctx):
    """`docker stack rm`, the stack's containers and networks gone, its
    volumes removed, and the engine leaves the swarm (its state would
    otherwise come back with the next engine on this data root)."""
    ctx.engine.docker("stack", "rm", STACK)

    def gone():
        left = ctx.engine.docker("ps", "-aq").stdout.split()
        nets = [n for n in ctx.engine.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
                if n.startswith(STACK)]
        return True if not left and not nets else f"containers {left}, networks {nets}"
    wait_for("the stack's containers and networks gone", gone, 120, 1.0)
    ctx.engine.docker("volume", "prune", "-f")
    ctx.engine.docker("swarm", "leave", "--force")
    ctx.swarm = None
    info = json.loads(ctx.engine.docker("info", "--format", "{{json .Swarm}}").stdout)
    check(info.get("LocalNodeState") == "inactive", f"swarm state after leave: {info}")
