"""
move_scenarios.py - a live site moved from its Sentinel-run primary to a
Redis Cluster, as docs/scaling.md ("Moving a live site from Sentinel to a
Cluster") tells an operator to: the keys copied with `redis-cli --cluster
import` while users keep reading and adding to their carts, the old
primary made to refuse writes, the keys copied once more from its replica
(the primary refuses MIGRATE too, a write), and the workers rolled onto
the cluster one server at a time. Nobody may be signed out and
no acknowledged cart update lost; what fails is a 503, and only from the
write stop to the end of the roll. The last scenario of a Sentinel run: it
leaves the stack's workers on the cluster.
"""

import os
import re
import subprocess
import time

from harness.core import check
from harness.figures import Figures, fill_load_figures, verify_sessions
from harness.stack import Stack

from scenarios import drive, failures, standard_bounds

SCENARIOS = []


def scenario(fn):
    SCENARIOS.append(fn)
    return fn


def cluster_import(st, cl, source):
    """redis-cli --cluster import: every key of the old primary or its
    replica (SCAN, then MIGRATE COPY REPLACE, keeping its TTL) to the node
    serving its slot. The cluster's admin password goes through the
    environment, the old tier's on the command line (redis-cli has no
    other way for it). -> keys copied"""
    env = dict(os.environ, REDISCLI_AUTH=cl.redis_password)
    p = subprocess.run(
        ["redis-cli", "--user", "admin", "--cluster", "import",
         f"127.0.0.1:{cl.cluster_ports[0]}", "--cluster-from", f"127.0.0.1:{source}",
         "--cluster-from-user", "admin", "--cluster-from-pass", st.redis_password,
         "--cluster-copy", "--cluster-replace"],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=120 * st.scale)
    out = p.stdout + p.stderr
    check(p.returncode == 0 and "[ERR]" not in out,
          f"redis-cli --cluster import exited {p.returncode}:\n{out[-1500:]}")
    m = re.search(r"Importing (\d+) keys", out)
    check(m is not None, f"redis-cli --cluster import did not say how many keys:\n{out[-1500:]}")
    return int(m.group(1))


def caught_up(st, primary, replica, timeout=10):
    """Waits until the replica has applied everything the primary wrote
    (their replication offsets equal): with writes refused, the replica's
    keys are then the primary's."""
    t_end = time.monotonic() + timeout * st.scale
    p, r = st.redis(port=primary), st.redis(port=replica)
    try:
        while True:
            want = p.info("replication")["master_repl_offset"]
            have = r.info("replication")["master_repl_offset"]
            if have == want:
                return
            check(time.monotonic() < t_end, f"the replica is at offset {have}, the "
                  f"primary at {want}, after {timeout}s")
            time.sleep(0.05)
    finally:
        p.close()
        r.close()


def point_workers_at(st, cl):
    """The stack's worker.env with the cluster's seeds and the workers'
    password on the cluster instead of the Sentinels: what `stack roll`
    starts each server with."""
    path = st.path("worker.env")
    with open(path) as f:
        lines = [ln for ln in f if not re.match(
            r"SHOAL_(REDIS|SENTINELS|SENTINEL_[A-Z_]+|REDIS_PASSWORD_FILE)=", ln)]
    seeds = ",".join(f"127.0.0.1:{p}" for p in cl.cluster_ports)
    lines += [f"SHOAL_REDIS_CLUSTER={seeds}\n",
              f"SHOAL_REDIS_PASSWORD_FILE={cl.path('redis-password')}\n"]
    with open(path, "w") as f:
        f.writelines(lines)


class OnCluster:
    """The stack as verify_sessions sees it after the move: the same front,
    the keys on the cluster."""

    def __init__(self, st, cl):
        self.http_port = st.http_port
        self.redis_of_keys = cl.redis


@scenario
def m1_move_to_a_cluster(ctx):
    st = ctx.stack
    fig = Figures("m1 move from Sentinel to a Cluster")
    check(not st.cluster_ports and st.sentinels, "needs a stack with Sentinels")
    cl = Stack("move-cluster", st.scale, {"SHOAL_STATE": "cluster", "SHOAL_DATABASE": "0",
                                          "SHOAL_SERVERS": "1", "SHOAL_MONITORING": "0",
                                          "SHOAL_KEY_PREFIX": st.prefix})
    info = {}
    try:
        cl.up()
        primary = st.primary_port()
        replica = st.replica_port if primary == st.redis_port else st.redis_port

        def move(load):
            load.mark("copy")
            info["copied"] = cluster_import(st, cl, primary)
            info["t_stop"] = time.monotonic()
            load.mark("old primary refuses writes")
            st.redis_cmd("CONFIG", "SET", "min-replicas-to-write", "100", port=primary)
            caught_up(st, primary, replica)
            st.redis_cmd("CONFIG", "SET", "replica-read-only", "no", port=replica)
            try:
                info["copied_again"] = cluster_import(st, cl, replica)
            finally:
                st.redis_cmd("CONFIG", "SET", "replica-read-only", "yes", port=replica)
            point_workers_at(st, cl)
            load.mark("roll")
            st.roll()
            info["t_rolled"] = time.monotonic()
            load.mark("every server on the cluster")

        d = ctx.s.duration
        load = drive(ctx, "m1", 2 * d, [(d * 0.3, move)])
        st.redis_cmd("CONFIG", "SET", "min-replicas-to-write", "0", port=primary)
        check("t_rolled" in info, "the move did not finish while the load ran: "
              "make the scenario longer")
        fill_load_figures(fig, load)
        verify_sessions(OnCluster(st, cl), ctx.pop, "m1", fig)
        fails = failures(load)
        t_stop, t_rolled = info["t_stop"], info["t_rolled"]
        outside = [r for r in fails if r.t1 < t_stop or r.t0 > t_rolled + ctx.s.recover]
        fig.extra["keys_copied"] = f"{info['copied']}+{info['copied_again']}"
        fig.extra["writes_stopped_for"] = f"{t_rolled - t_stop:.2f}s"
        fig.extra["503s"] = sum(1 for r in fails if r.status == 503)
        standard_bounds(fig, zero_failed=False)
        fig.bound("failures are 503 only", all(r.status == 503 for r in fails))
        fig.bound(f"failures only between the write stop and {ctx.s.recover}s after the roll",
                  not outside)
        fig.bound("the keys were copied", info["copied"] > 0)
        return fig
    finally:
        cl.down()
        cl.close()
