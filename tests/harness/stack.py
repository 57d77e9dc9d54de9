"""
stack.py - the local stack (deploy/local/stack) as the suites drive it: up
in a temporary run dir of its own on free loopback ports, status, scale,
roll, down; its pieces by the pid files in the run dir; the faults the
suites inject (Redis stopped or restarted, a worker server started again);
and worker processes of a test's own.

Everything here signals only pids named in the run dir or started here,
never a process found by its name. `down` always runs (the suites call it
from `finally` and with SIGINT, SIGTERM and SIGHUP ignored meanwhile), and
then kills by pid whatever `stack down` left. The run dir is removed when
everything passed and kept otherwise.
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from . import fcgi, procs, resp
from .core import STACK, REPO, TestFailure, check, knob_on, shoal_bin
from .pg import PgTier
from .ports import Ports, stack_ports, wait_port
from .web import Browser

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _tail(text, n=30):
    return "\n".join(text.splitlines()[-n:])


def _parse_duration(s):
    """nginx time: '10s', '500ms', '1m', '10' (seconds) -> seconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m)?", s.strip())
    check(m, f"cannot read nginx time {s!r}")
    n, unit = int(m.group(1)), m.group(2) or "s"
    return n / 1000.0 if unit == "ms" else n * 60.0 if unit == "m" else float(n)


def _file_hash(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# A test signs up and signs in thousands of users from 127.0.0.1, more than
# any one address may in production, and dozens at once on two cores: the
# per-address and per-user attempt budgets are out of the way, and a
# sign-in waits as long as it takes for its turn to hash, unless a suite or
# the environment sets them (the security suite tests them on workers of
# its own).
TEST_BUDGETS = {
    "SHOAL_SIGNUP_MAX": "1000000",
    "SHOAL_LOGIN_MAX_FAILS_SOURCE": "1000000",
    "SHOAL_LOGIN_MAX_FAILS_USER": "1000000",
    "SHOAL_HASH_WAIT_MS": "30000",
    "SHOAL_GUEST_RATE": "1000000",
}


def _taken_ports(env, servers):
    """Every port the stack's settings (`env`) take, with room around each
    base for the servers it numbers."""
    taken = set()
    for k, v in env.items():
        if not (k.startswith("SHOAL_") and v.isdigit()):
            continue
        if k.endswith("_PORT_BASE"):
            taken.update(range(int(v), int(v) + servers + 10))
        elif k.endswith("_PORT"):
            taken.update(range(int(v), int(v) + 3))
    return taken


def _monitoring_ports(env, servers):
    """SHOAL_PROMETHEUS_PORT and SHOAL_EXPORTER_PORT_BASE on free ports
    that no other port of the stack's settings takes."""
    taken = _taken_ports(env, servers)
    ports = Ports()
    while True:
        prom, base = ports.one(), ports.span(4)
        if not taken.intersection({prom, *range(base, base + 5)}):
            return {"SHOAL_PROMETHEUS_PORT": str(prom), "SHOAL_EXPORTER_PORT_BASE": str(base)}


CLUSTER_NODES = 6                       # SHOAL_STATE=cluster: 3 primaries, 3 replicas


def _cluster_ports(env, servers):
    """SHOAL_CLUSTER_PORT_BASE and SHOAL_CLUSTER_BUS_PORT_BASE such that
    base + 1 .. base + 6 of both are free and no other port of the stack's
    settings (`env`) takes them, nor each other."""
    taken = _taken_ports(env, servers)
    ports = Ports()
    picked = {}
    for name in ("SHOAL_CLUSTER_PORT_BASE", "SHOAL_CLUSTER_BUS_PORT_BASE"):
        if env.get(name):
            continue
        while True:
            base = ports.span(CLUSTER_NODES)
            if not taken.intersection(range(base + 1, base + CLUSTER_NODES + 1)):
                break
        picked[name] = str(base)
    return picked


class Stack:
    """One local stack. `settings` are SHOAL_* variables for the stack
    script and the workers; with inherit=True the SHOAL_* variables of the
    environment reach them too (a suite's documented knobs), with
    inherit=False only SHOAL_STATIC_DIR does. `keep` names environment
    variables that, set to 1, keep the run dir even when everything passed.
    As a context manager: up on entry, down on exit, the run dir kept when
    the block raised. The database tier (PostgreSQL primary, replica,
    PgBouncer), where accounts live, runs unless settings say
    {"SHOAL_DATABASE": "0"}, on free ports; Stack.db reaches it.

    With SHOAL_STATE=cluster (in settings, or in the environment when
    inherited) the stack runs a Redis Cluster of six nodes on free ports
    instead of a primary, a replica and Sentinels: `cluster_ports` lists
    them (node 1 first), `redis_port` is node 1's (a primary after the first
    `up`), `redis()` reaches node 1, `redis_cmd()` follows the redirects;
    `sentinels` and `replica_port` are 0. The faults on "Redis"
    (redis_stopped, stop_redis, start_redis, restart_redis) act on every
    node: the whole state tier away, as with a single primary."""

    def __init__(self, name, scale=1.0, settings=None, inherit=True, keep=()):
        self.name = name
        self.scale = scale
        self.timeout = 15.0 * scale
        self.keep = keep
        self.run_dir = tempfile.mkdtemp(prefix=f"shoal-{name}-")
        env = dict(os.environ)
        if not inherit:
            env = {k: v for k, v in env.items()
                   if not k.startswith("SHOAL_") or k == "SHOAL_STATIC_DIR"}
        settings = {k: str(v) for k, v in (settings or {}).items()}
        servers = int(settings.get("SHOAL_SERVERS") or env.get("SHOAL_SERVERS") or 3)
        env.update({k: str(v) for k, v in stack_ports(servers + 8).items()})
        env.update({"SHOAL_RUN_DIR": self.run_dir, "SHOAL_BIN": shoal_bin(),
                    "SHOAL_SERVERS": str(servers),
                    "SHOAL_PROCS": env.get("SHOAL_PROCS") or "2"})
        if env.get("SHOAL_STATIC_DIR"):
            env["SHOAL_STATIC_DIR"] = os.path.abspath(env["SHOAL_STATIC_DIR"])
        for k, v in TEST_BUDGETS.items():
            env.setdefault(k, v)
        # The database tier (PostgreSQL primary, replica, PgBouncer) by
        # default: accounts live there, and most suites sign users in. A
        # suite that needs no accounts says SHOAL_DATABASE=0 and keeps its
        # speed; its workers run without SHOAL_DB (sign-up and sign-in 503).
        settings.setdefault("SHOAL_DATABASE", "1")
        env["SHOAL_DATABASE"] = "0"
        if settings.get("SHOAL_DATABASE") == "1":
            taken = set()
            for k, v in env.items():
                if k.startswith("SHOAL_") and k.endswith("_PORT") and v.isdigit():
                    taken.add(int(v))
                elif k.startswith("SHOAL_") and k.endswith("_PORT_BASE") and v.isdigit():
                    taken.update(range(int(v), int(v) + servers + 10))
            while True:
                base = Ports().span(2)
                if not taken.intersection(range(base, base + 3)):
                    break
            env["SHOAL_PG_PORT"] = str(base)
        # A Redis Cluster: its nodes' ports and their bus ports, both clear
        # of everything picked so far (the monitoring ports below keep
        # clear of them in turn).
        state = settings.get("SHOAL_STATE") or env.get("SHOAL_STATE") or "sentinel"
        if state == "cluster":
            env.update(_cluster_ports({**env, **settings}, servers))
        # Prometheus and the exporters only for a suite that asks for them
        # (SHOAL_MONITORING=1): free ports for Prometheus and for the
        # exporters' range (base + 1 .. base + 4).
        settings.setdefault("SHOAL_MONITORING", "0")
        env["SHOAL_MONITORING"] = "0"
        if settings.get("SHOAL_MONITORING") == "1":
            env.update(_monitoring_ports(env, servers))
        env.update(settings)
        self.env = env
        self.bin = env["SHOAL_BIN"]
        self.servers = servers
        self.procs = int(env["SHOAL_PROCS"])
        self.threads = int(env.get("SHOAL_THREADS") or 4)
        self.front = env.get("SHOAL_FRONT") or "nginx"
        self.tls = env.get("SHOAL_REDIS_TLS") == "1"
        self.http_port = int(env["SHOAL_HTTP_PORT"])
        self.cdn_port = int(env["SHOAL_CDN_PORT"])
        self.redis_port = int(env["SHOAL_REDIS_PORT"])
        self.replica_port = int(env["SHOAL_REPLICA_PORT"])
        self.redis_tls_port = int(env["SHOAL_REDIS_TLS_PORT"])
        self.replica_tls_port = int(env["SHOAL_REPLICA_TLS_PORT"])
        self.sentinel_base = int(env["SHOAL_SENTINEL_PORT_BASE"])
        self.sentinels = int(env.get("SHOAL_SENTINEL_COUNT") or 3)
        self.state = env.get("SHOAL_STATE") or "sentinel"
        self.cluster_ports = []
        self.cluster_bus_ports = []
        if self.state == "cluster":
            base = int(env.get("SHOAL_CLUSTER_PORT_BASE") or self.redis_port + 20)
            bus = int(env.get("SHOAL_CLUSTER_BUS_PORT_BASE") or base + 10)
            self.cluster_ports = [base + k for k in range(1, CLUSTER_NODES + 1)]
            self.cluster_bus_ports = [bus + k for k in range(1, CLUSTER_NODES + 1)]
            # No Sentinels, no replica of SHOAL_REPLICA_PORT: the stack
            # ignores those settings in cluster mode.
            self.sentinels = 0
            self.replica_port = 0
            self.redis_port = self.cluster_ports[0]
        self.worker_base = int(env["SHOAL_WORKER_PORT_BASE"])
        self.metrics_base = int(env["SHOAL_METRICS_PORT_BASE"])
        self.cookie = env.get("SHOAL_COOKIE_NAME") or "sid"
        self.csrf_cookie = self.cookie + "_csrf"
        self.flash_cookie = self.cookie + "_flash"
        self.prefix = env.get("SHOAL_KEY_PREFIX", "shoal:")
        self.max_body = int(env.get("SHOAL_MAX_BODY") or 65536)
        self.redis_user = "admin"
        self.database = env["SHOAL_DATABASE"] == "1"
        self.pg_port = int(env.get("SHOAL_PG_PORT") or 5433)
        self.monitoring = env["SHOAL_MONITORING"] == "1"
        self.prometheus_port = int(env.get("SHOAL_PROMETHEUS_PORT") or 9090)
        self.exporter_base = int(env.get("SHOAL_EXPORTER_PORT_BASE") or self.prometheus_port)
        self._db = None
        self.started = False
        self.failed = False
        self.initial_pids = {}          # server -> pids, as `up` left them
        self.killed = set()             # worker pids a test SIGKILLed
        self.stopped = set()            # pids sent SIGSTOP and not SIGCONT yet
        self.own = []                   # OwnWorkers, stopped by down()
        self.front_hash = None
        self._redis_password = None

    # ------------------------------------------------------------ the script
    def script(self, *args, timeout=120):
        """Runs deploy/local/stack ARGS; returns (exit status, output). The
        output is also appended to $RUN/stack-commands.out."""
        with open(self.path("stack-commands.out"), "ab") as f:
            f.write(f"$ {time.strftime('%H:%M:%S')} stack {' '.join(map(str, args))}\n".encode())
        p = subprocess.run([STACK] + [str(a) for a in args], env=self.env, cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=timeout * self.scale)
        with open(self.path("stack-commands.out"), "ab") as f:
            f.write(p.stdout)
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def must(self, *args, timeout=120):
        rc, text = self.script(*args, timeout=timeout)
        check(rc == 0, f"stack {' '.join(map(str, args))} exited {rc}:\n{_tail(text)}")
        return text

    def up(self):
        self.started = True
        self._redis_password = None
        self.must("up")
        self.initial_pids = {k: self.server_pids(k) for k in self.server_ids()}
        self.front_hash = _file_hash(self.front_conf())

    def status(self):
        """(exit status, output) of `stack status`: 0 when all is alive."""
        return self.script("status", timeout=30)

    def scale_to(self, n):
        return self.must("scale", n)

    def roll(self):
        return self.must("roll")

    def down(self):
        """Stops our own workers, continues what was stopped, runs `stack
        down`, then SIGKILLs by pid whatever a pid file still names. Raises
        TestFailure when `stack down` failed or left something running."""
        if not self.started:
            return
        self.started = False
        saved = {s: signal.signal(s, signal.SIG_IGN) for s in HANDLED}
        try:
            for w in self.own:
                w.stop()
            self.signal(list(self.stopped), signal.SIGCONT)
            try:
                rc, text = self.script("down", timeout=90)
            except subprocess.TimeoutExpired:
                rc, text = "timeout", ""
            left = []
            for f in self.pid_files():
                for p in procs.read_pids(self.path(f)):
                    if procs.pid_ours(p, self.path(f)):
                        os.kill(p, signal.SIGKILL)
                        left.append(p)
        finally:
            for s, h in saved.items():
                signal.signal(s, h)
        if rc != 0 or left:
            self.failed = True
            raise TestFailure(f"stack down: exit {rc}, killed what it left running: "
                              f"{left}\n{_tail(text, 10)}")

    def close(self, failed=False):
        """down, then removes the run dir, or keeps it (and says so) when
        something failed or a keep variable is 1. The database tier's
        folder goes with it, also when run/pg is a link to one elsewhere
        (a run dir the OS user postgres cannot reach)."""
        try:
            self.down()
        finally:
            pg = self.path("pg")
            if failed or self.failed or knob_on(*self.keep):
                print(f"{self.name}: run dir kept: {self.run_dir}", flush=True)
                if os.path.islink(pg):
                    print(f"{self.name}: its database tier kept: {os.path.realpath(pg)}", flush=True)
            else:
                if os.path.islink(pg):
                    shutil.rmtree(os.path.realpath(pg), ignore_errors=True)
                shutil.rmtree(self.run_dir, ignore_errors=True)

    def restack(self):
        """Puts the topology back as `up` made it: down, then up on the same
        run dir (Redis writes its AOF on the way down: sessions survive)."""
        self.down()
        self.up()

    def __enter__(self):
        try:
            self.up()
        except BaseException:
            self.close(failed=True)
            raise
        return self

    def __exit__(self, kind, value, tb):
        self.close(failed=kind is not None)
        return False

    # ------------------------------------------------------------ pieces
    def path(self, name):
        return os.path.join(self.run_dir, name)

    def pid_files(self):
        return sorted(f for f in os.listdir(self.run_dir) if f.endswith(".pid"))

    def pids(self, name):
        """What $RUN/NAME.pid lists."""
        return procs.read_pids(self.path(f"{name}.pid"))

    def server_ids(self):
        return sorted(int(m.group(1)) for m in
                      (re.fullmatch(r"server-(\d+)\.pid", f) for f in self.pid_files()) if m)

    def env_int(self, name, default):
        """A numeric SHOAL_* setting the workers run with."""
        try:
            return int(self.env.get(name, default))
        except ValueError:
            return default

    def server_pids(self, k):
        return self.pids(f"server-{k}")

    def server_port(self, k):
        try:
            with open(self.path(f"server-{k}.port")) as f:
                return int(f.read().strip())
        except FileNotFoundError:
            return self.worker_base + k

    def metrics_url(self, k):
        """http://HOST:PORT/metrics of worker server k (what `stack up`
        wrote to server-K.metrics)."""
        try:
            with open(self.path(f"server-{k}.metrics")) as f:
                addr = f.read().strip()
        except FileNotFoundError:
            addr = f"127.0.0.1:{self.metrics_base + k}"
        return f"http://{addr}/metrics"

    def worker_pids(self):
        return [p for k in self.server_ids() for p in self.server_pids(k)]

    def initial_pids_flat(self):
        return [p for k in sorted(self.initial_pids) for p in self.initial_pids[k]]

    def redis_name(self):
        """The name of "the primary"'s files in the run dir (NAME.pid,
        NAME.conf): redis, or cluster-1 (node 1) in cluster mode."""
        return "cluster-1" if self.cluster_ports else "redis"

    def redis_pid(self):
        pids = self.pids(self.redis_name())
        return pids[0] if pids else None

    def cluster_pids(self):
        """Node K's pid (None when its pid file lists none), K = 1..6; empty
        without a cluster."""
        out = []
        for k in range(1, len(self.cluster_ports) + 1):
            pids = self.pids(f"cluster-{k}")
            out.append(pids[0] if pids else None)
        return out

    def front_pid(self):
        pids = self.pids(self.front)
        return pids[0] if pids else None

    def front_conf(self):
        return self.path(f"{self.front}.conf")

    def setting(self, name, default=None):
        """A setting `stack up` saved in $RUN/stack.env."""
        try:
            with open(self.path("stack.env")) as f:
                for line in f:
                    k, eq, v = line.strip().partition("=")
                    if eq and k == name:
                        return v.strip("'\"")
        except OSError:
            pass
        return default

    def worker_env(self):
        """The environment the stack starts workers in: ours without SHOAL_*,
        plus the settings it wrote to $RUN/worker.env (shell-quoted)."""
        path = self.path("worker.env")
        check(os.path.exists(path), f"{path} is missing")
        out = subprocess.run(["bash", "-c", 'set -a; . "$1"; env -0', "bash", path],
                             env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                             capture_output=True, timeout=10, check=True).stdout
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
        for item in out.split(b"\0"):
            k, eq, v = item.decode().partition("=")
            if eq and k.startswith("SHOAL_"):
                env[k] = v
        return env

    def browser(self):
        return Browser(self.http_port, self.timeout)

    def prometheus_url(self, path=""):
        """The stack's Prometheus (SHOAL_MONITORING=1), on loopback."""
        return f"http://127.0.0.1:{self.prometheus_port}{path}"

    def exporter_port(self, name):
        """Where the stack's exporter of redis, postgres or nginx listens."""
        return self.exporter_base + {"redis": 1, "postgres": 2, "nginx": 3}[name]

    @property
    def db(self):
        """The stack's database tier (with SHOAL_DATABASE=1) as a PgTier
        attached to the run dir: psql, replay paused, a node stopped or
        promoted, PgBouncer repointed. Ports: pg_port, pg_port + 1 (the
        replica), pg_port + 2 (PgBouncer)."""
        check(self.database, f"{self.name}: the stack runs without the database tier")
        if self._db is None:
            self._db = PgTier(self.pg_port, self.scale, name=self.name, attach=self.run_dir)
        return self._db

    @property
    def redis_password(self):
        """The stack's "admin" Redis user's password, made by `stack up`."""
        if self._redis_password is None:
            with open(self.path("redis-admin-password")) as f:
                self._redis_password = f.readline().rstrip("\r\n")
        return self._redis_password

    def redis(self, port=None, timeout=None):
        """A client of the primary (or of `port`) signed in as "admin": with
        SHOAL_REDIS_TLS=1 through the stack's stunnel client, like the
        workers. In cluster mode without a port: a resp.ClusterRedis over
        every node, which sends each key command where its slot lives."""
        if self.cluster_ports and port is None:
            return resp.ClusterRedis(self.cluster_ports, self.redis_user, self.redis_password,
                                     timeout or self.timeout)
        return resp.Redis(port or self.redis_port, self.redis_user, self.redis_password,
                          timeout or self.timeout)

    def redis_of_keys(self):
        """A client for key commands wherever the keys are now: the whole
        cluster, or the primary the Sentinels name (after a failover not
        the stack's own)."""
        return self.redis(None if self.cluster_ports else self.primary_port())

    def redis_cmd(self, *args, port=None, timeout=None):
        """One command as "admin", the reply returned (errors raised as
        resp.RedisError). Without a cluster on the primary (or `port`); in
        cluster mode sent to node 1 (or `port`) and along its MOVED and ASK
        redirects, as redis-cli -c does."""
        port = port or (self.cluster_ports[0] if self.cluster_ports else self.primary_port())
        asking = False
        for _ in range(5):
            r = self.redis(port, timeout)
            try:
                if asking:
                    r.cmd("ASKING")
                r.send(*args)
                reply = r.read(errors="return")
            finally:
                r.close()
            if not (self.cluster_ports and isinstance(reply, resp.RedisError)):
                break
            kind, _, rest = str(reply).partition(" ")
            if kind not in ("MOVED", "ASK"):
                break
            port = int(rest.split()[-1].rsplit(":", 1)[1])
            asking = kind == "ASK"
        if isinstance(reply, resp.RedisError):
            raise reply
        return reply

    def cluster_info(self, port=None):
        """CLUSTER INFO of node 1 (or `port`) as a dict of strings."""
        r = self.redis(port or self.cluster_ports[0], 2.0 * self.scale)
        try:
            info = r.cmd("CLUSTER", "INFO")
        finally:
            r.close()
        return dict(line.split(":", 1) for line in info.decode().splitlines() if ":" in line)

    def cluster_nodes(self, port=None):
        """CLUSTER NODES of node 1 (or `port`): one dict per node, with
        "port", "id", "flags" (a set), "primary" (True/False), "of" (the
        primary's id, for a replica), "epoch" (its config epoch) and
        "slots" (the slot fields as given, "0-5460" and the like)."""
        r = self.redis(port or self.cluster_ports[0], 2.0 * self.scale)
        try:
            text = r.cmd("CLUSTER", "NODES").decode()
        finally:
            r.close()
        out = []
        for line in text.splitlines():
            f = line.split()
            if len(f) < 8:
                continue
            flags = set(f[2].split(","))
            out.append({"id": f[0], "port": int(f[1].split("@")[0].rsplit(":", 1)[1]),
                        "flags": flags, "primary": "master" in flags,
                        "of": None if f[3] == "-" else f[3], "epoch": int(f[6]),
                        "slots": f[8:]})
        return sorted(out, key=lambda n: n["port"])

    def sentinel_ports(self):
        return [self.sentinel_base + k for k in range(1, self.sentinels + 1)]

    def sentinel_master(self):
        """(host, port) of the primary as the first Sentinel that answers
        names it, or None."""
        master = self.setting("SHOAL_SENTINEL_MASTER", "shoal")
        for port in self.sentinel_ports():
            try:
                # The stack's Sentinels take its admin user, like Redis.
                r = resp.Redis(port, self.redis_user, self.redis_password, timeout=2.0)
                try:
                    a = r.cmd("SENTINEL", "get-master-addr-by-name", master)
                finally:
                    r.close()
            except (OSError, resp.RedisError):
                continue
            if a and len(a) == 2:
                return a[0].decode(), int(a[1])
        return None

    def primary_port(self):
        """Where the primary is now: the port the Sentinels name (after a
        failover no longer the stack's own), else the stack's Redis port. In
        cluster mode: the primary that serves slot 0 as node 1 sees it (node
        1 itself when node 1 does not answer)."""
        if self.cluster_ports:
            try:
                for n in self.cluster_nodes():
                    if n["primary"] and "fail" not in n["flags"] and any(
                            s.split("-")[0] == "0" for s in n["slots"]):
                        return n["port"]
            except (OSError, resp.RedisError):
                pass
            return self.redis_port
        m = self.sentinel_master() if self.sentinels else None
        return m[1] if m else self.redis_port

    def read_timeout(self):
        """How long the front waits for a worker's answer, in seconds."""
        with open(self.front_conf()) as f:
            text = f.read()
        if self.front == "lighttpd":
            found = re.findall(r'"read-timeout"\s*=>\s*(\d+)', text)
            return float(min(map(int, found))) if found else 0.0
        m = re.search(r"^\s*fastcgi_read_timeout\s+(\S+);", text, re.M)
        return _parse_duration(m.group(1) if m else "60s")

    def log_files(self):
        """The worker servers' logs, $RUN/server-K.log."""
        return [self.path(f) for f in sorted(os.listdir(self.run_dir),
                                             key=lambda f: (len(f), f))
                if re.fullmatch(r"server-\d+\.log", f)]

    def log_sizes(self):
        return {p: os.path.getsize(p) for p in self.log_files()}

    def log_lines_since(self, sizes):
        """The lines the worker logs gained since log_sizes() gave sizes."""
        out = []
        for p in self.log_files():
            with open(p, "rb") as f:
                f.seek(sizes.get(p, 0))
                out += [l for l in f.read().decode("utf-8", "replace").splitlines() if l.strip()]
        return out

    def log_events_since(self, sizes):
        """The JSON objects among those lines (what the workers log is one
        object a line)."""
        out = []
        for line in self.log_lines_since(sizes):
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if isinstance(j, dict):
                out.append(j)
        return out

    def intact(self):
        """True when every process of the last `up` is alive and running
        (not stopped), the front's config is as `up` wrote it, and Redis on
        the stack's port is the primary (for the Sentinels too)."""
        if self.front_hash != _file_hash(self.front_conf()):
            return False
        if self.server_ids() != sorted(self.initial_pids):
            return False
        pids = self.initial_pids_flat() + [self.redis_pid(), self.front_pid()]
        if self.cluster_ports:
            pids += self.cluster_pids()
        if any(procs.proc_state(p) in (None, "Z", "X", "T") for p in pids):
            return False
        if any(sorted(self.server_pids(k)) != sorted(v) for k, v in self.initial_pids.items()):
            return False
        if self.cluster_ports:
            # Every node up, the cluster ok: which node is a primary may have
            # changed (a failover is kept across `up`s, like the data).
            try:
                return self.cluster_info().get("cluster_state") == "ok"
            except (OSError, resp.RedisError):
                return False
        if self.sentinels and self.sentinel_master() != ("127.0.0.1", self.redis_port):
            return False
        try:
            r = self.redis(timeout=2.0)
            try:
                role = r.cmd("ROLE")
            finally:
                r.close()
        except (OSError, resp.RedisError):
            return False
        return bool(role) and role[0] == b"master"

    # ------------------------------------------------------------ faults
    def signal(self, pids, sig):
        """Signals pids, keeping track of the ones left stopped."""
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
            if sig == signal.SIGSTOP:
                self.stopped.add(p)
            elif sig == signal.SIGCONT:
                self.stopped.discard(p)

    def state_pids(self):
        """The pids of the state tier's data nodes: the primary's, or every
        cluster node's."""
        pids = self.cluster_pids() if self.cluster_ports else [self.redis_pid()]
        check(all(pids), f"a pid file of {self.redis_name()} lists no pid")
        return pids

    @contextlib.contextmanager
    def redis_stopped(self):
        """Redis SIGSTOPped for the block (a Redis that hangs): the primary,
        or every cluster node. Yields the first pid."""
        pids = self.state_pids()
        self.signal(pids, signal.SIGSTOP)
        try:
            yield pids[0]
        finally:
            self.signal(pids, signal.SIGCONT)

    def redis_ping(self):
        try:
            r = self.redis(timeout=1.0)
            try:
                return r.cmd("PING") == "PONG"
            finally:
                r.close()
        except (OSError, resp.RedisError):
            return False

    def stop_redis(self):
        """SIGTERM to the primary, or to every cluster node: Redis writes its
        append-only file out and exits. Returns the first pid once all are
        gone."""
        pids = self.state_pids()
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        for pid in pids:
            check(procs.wait_dead(pid, 15 * self.scale),
                  f"Redis pid {pid} still alive {15 * self.scale:.0f} s after SIGTERM")
        return pids[0]

    def _start_node(self, name):
        with open(self.path("redis-restart.out"), "ab") as log:
            subprocess.run(["setsid", "-w", "redis-server", self.path(f"{name}.conf")],
                           stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                           cwd=self.run_dir, timeout=30, check=True)

    def start_redis(self):
        """Starts the primary again from the stack's own $RUN/redis.conf (it
        daemonizes and writes redis.pid, so `stack down` stops it); returns
        its pid once it answers PING. In cluster mode every node, from its
        cluster-K.conf (they rejoin as their nodes.conf says), once the
        cluster is ok again; the first node's pid."""
        if self.cluster_ports:
            for k in range(1, len(self.cluster_ports) + 1):
                self._start_node(f"cluster-{k}")
            deadline = time.monotonic() + 30 * self.scale
            while True:
                try:
                    if all(self.cluster_info(p).get("cluster_state") == "ok"
                           for p in self.cluster_ports):
                        return self.state_pids()[0]
                except (OSError, resp.RedisError):
                    pass
                check(time.monotonic() < deadline, "the restarted cluster is not ok")
                time.sleep(0.05)
        old = self.redis_pid()
        name = self.redis_name()
        self._start_node(name)
        deadline = time.monotonic() + 15 * self.scale
        while not self.redis_ping():
            check(time.monotonic() < deadline, "restarted Redis does not answer PING")
            time.sleep(0.02)
        while True:
            new = self.redis_pid()
            if new not in (None, old) and procs.alive(new):
                return new
            check(time.monotonic() < deadline, f"restarted Redis wrote no new {name}.pid")
            time.sleep(0.02)

    def restart_redis(self):
        """stop_redis, start_redis. Returns (seconds without Redis, new pid)."""
        t0 = time.monotonic()
        self.stop_redis()
        pid = self.start_redis()
        return time.monotonic() - t0, pid

    def start_server(self, k):
        """Starts worker server k again on its port, as `stack up` starts
        one: spawn-fcgi with SHOAL_PROCS processes in the environment of
        worker.env, each worker's stderr to $RUN/server-K.log. For a server
        whose processes were stopped behind the stack's back."""
        port = self.server_port(k)
        with open(self.path(f"server-{k}.port"), "w") as f:
            f.write(f"{port}\n")
        env = self.worker_env()
        env["SHOAL_METRICS_LISTEN"] = self.metrics_url(k).split("/")[2]
        env["SHOAL_METRICS_DIR"] = self.path(f"metrics/{k}")
        with open(self.path("spawn-fcgi.log"), "ab") as log:
            rc = subprocess.run(
                ["setsid", "-w", "spawn-fcgi", "-a", "127.0.0.1", "-p", str(port),
                 "-F", str(self.procs), "-P", self.path(f"server-{k}.pid"), "--",
                 "/bin/sh", "-c", 'exec "$0" 2>>"$1"', self.bin, self.path(f"server-{k}.log")],
                env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                timeout=30).returncode
        check(rc == 0 and len(self.server_pids(k)) == self.procs,
              f"spawn-fcgi for server {k} failed (exit {rc})")
        check(wait_port(port, 10 * self.scale), f"server {k} does not listen on {port}")
        return self.server_pids(k)


class OwnWorker:
    """A worker process of a test's own, in the stack's worker environment
    plus `settings`, on a free port; its log is $RUN/NAME.log, which the log
    checks read too. By default `shoal --listen`; spawn=True starts it as
    the stack does, through spawn-fcgi (-n: the worker is our child, so its
    exit status is ours to see). binary: another worker binary than the
    stack's (a bench's older one). `stack.down()` stops it if the test did
    not."""

    def __init__(self, stack, name, settings=None, spawn=False, binary=None):
        self.stack = stack
        binary = binary or stack.bin
        env = stack.worker_env()
        env.update(settings or {})
        self.port = Ports().one()
        self.logf = open(stack.path(f"{name}.log"), "ab")
        addr = ["-a", "127.0.0.1", "-p", str(self.port)]
        argv = (["spawn-fcgi", "-n"] + addr + ["--", binary] if spawn
                else [binary, "--listen", f"127.0.0.1:{self.port}"])
        self.proc = subprocess.Popen(argv, env=env, stdout=self.logf, stderr=self.logf,
                                     stdin=subprocess.DEVNULL)
        stack.own.append(self)
        if not wait_port(self.port, 10 * stack.scale):
            self.stop()
            raise TestFailure(f"own worker ({name}) did not listen on 127.0.0.1:{self.port}")

    def request(self, method, uri, **kw):
        """fcgi.request to this worker."""
        return fcgi.request(self.port, method, uri, timeout=self.stack.timeout, **kw)

    def stop(self):
        """SIGTERM, then SIGKILL if it has not exited in time; returns its
        exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15 * self.stack.scale)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        return self.proc.returncode
