"""
cases_tier.py - the production state tier, run here: the primary, a replica
and three Sentinels started by deploy/redis/shoal-redis exactly as the
Compose file, the Kubernetes StatefulSets and the systemd units start them
(only the addresses are loopback ports), and a worker started by the
command line of deploy/systemd/shoal@.service, checked with
deploy/docker/shoal-probe, the probe Compose and Kubernetes use.
"""

import os
import secrets
import shlex
import signal
import subprocess
import tempfile
import time

from harness.core import REPO, TestFailure, check, check_eq
from harness.ports import Ports
from harness.resp import Redis, RedisError
from harness.runner import Tests

TESTS = Tests()
case = TESTS.case


SHOAL_REDIS = os.path.join(REPO, "deploy", "redis", "shoal-redis")
PROBE = os.path.join(REPO, "deploy", "docker", "shoal-probe")
UNIT = os.path.join(REPO, "deploy", "systemd", "shoal@.service")
UNIT_ENV = os.path.join(REPO, "deploy", "systemd", "shoal.env")


class Tier:
    """Processes started in the foreground (as containers and systemd run
    them), each with its output in a log file, stopped by pid."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.dir = tempfile.mkdtemp(prefix="shoal-deploy-tier-")
        self.procs = {}
        self.failed = True

    def secret(self, name):
        p = os.path.join(self.dir, name)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24) + "\n")
        return p

    def start(self, name, argv, env):
        log = open(os.path.join(self.dir, f"{name}.log"), "ab")
        self.procs[name] = subprocess.Popen(argv, env=env, stdout=log, stderr=log,
                                            stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        log.close()
        return self.procs[name]

    def stop(self, name, sig=signal.SIGTERM):
        p = self.procs.pop(name, None)
        if p is None or p.poll() is not None:
            return p.returncode if p else None
        p.send_signal(sig)
        try:
            return p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait()

    def node_env(self, primary_port, sentinels):
        """What deploy/redis/shoal-redis gets on every node here: passwords
        (made now, in files), loopback addresses, where the primary and the
        Sentinels are, and Sentinel times short enough for a test."""
        self.internal_pw = self.secret("redis-internal-password")
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "SHOAL_REDIS_PASSWORD_FILE": self.secret("redis-password"),
            "SHOAL_REDIS_INTERNAL_PASSWORD_FILE": self.internal_pw,
            "SHOAL_SENTINEL_PASSWORD_FILE": self.secret("sentinel-password"),
            "REDIS_ANNOUNCE_HOST": "127.0.0.1", "REDIS_BIND": "127.0.0.1",
            "REDIS_PRIMARY_HOST": "127.0.0.1", "REDIS_PRIMARY_PORT": str(primary_port),
            "SHOAL_SENTINELS": sentinels,
            "SENTINEL_DOWN_AFTER_MS": "1000", "SENTINEL_FAILOVER_TIMEOUT_MS": "3000",
        }

    def unit_worker(self, port, sentinels, password_file):
        """A worker started by the command line of shoal@.service and its
        environment file, the addresses made local (the Sentinels, and the
        one address they may name: every node is on loopback here), with a
        keyring of its own and the unit's credentials as files."""
        ctx = self.ctx
        argv = [a.replace("%i", str(port)).replace("/usr/local/bin/shoal", ctx.bin)
                for a in unit_exec_start()]
        env = env_file(UNIT_ENV)
        check(env.get("SHOAL_REDIS_USER") == "shoal", "shoal.env does not set SHOAL_REDIS_USER=shoal")
        check(env.get("SHOAL_SENTINEL_USER") == "shoal", "shoal.env does not set SHOAL_SENTINEL_USER=shoal")
        check("SHOAL_REDIS_ALLOWED" in env, "shoal.env does not set SHOAL_REDIS_ALLOWED")
        keyring = os.path.join(self.dir, "keyring")
        fd = os.open(keyring, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(subprocess.run([ctx.bin, "keygen"], capture_output=True,
                                   check=True).stdout.decode())
        # The state tier only: no PgBouncer here (the database settings of
        # shoal.env are checked in cases_manifests.py).
        for k in [k for k in env if k.startswith("SHOAL_DB")]:
            del env[k]
        static = ctx.static_dir or os.path.join(REPO, "build", "static")
        env.update({
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SHOAL_SENTINELS": sentinels,
            "SHOAL_REDIS_ALLOWED": "127.0.0.1",
            "SHOAL_SENTINEL_PASSWORD_FILE": os.path.join(self.dir, "sentinel-password"),
            "SHOAL_ASSET_MANIFEST": os.path.join(static, "manifest"),
            "SHOAL_KEYRING": keyring, "SHOAL_REDIS_PASSWORD_FILE": password_file,
        })
        return self.start("worker", argv, env)

    def log(self, name):
        try:
            with open(os.path.join(self.dir, f"{name}.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        for name in list(self.procs):
            self.stop(name)
        if kind is None and os.environ.get("DEPLOY_KEEP_RUN_DIR") != "1":
            subprocess.run(["rm", "-rf", self.dir], check=False)
        else:
            print(f"    tier dir kept: {self.dir}")
        return False


def wait_until(fn, secs, what):
    deadline = time.monotonic() + secs
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, RedisError) as e:
            last = e
        time.sleep(0.1)
    raise TestFailure(f"{what}: not within {secs} s (last: {last!r})")


def redis_as(port, user, password_file):
    r = Redis(port, timeout=5.0)
    with open(password_file) as f:
        r.cmd("AUTH", user, f.read().strip())
    return r


def sentinel_says(t, port, field, master="shoal"):
    """A field of SENTINEL MASTER, asked as the Sentinels' "sentinel" user
    (they take no command without a password)."""
    with open(t.internal_pw) as f:
        r = Redis(port, "sentinel", f.read().strip(), timeout=2.0)
    try:
        flat = r.cmd("SENTINEL", "MASTER", master)
    finally:
        r.close()
    d = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
    return d.get(field)


def unit_exec_start():
    """ExecStart= of shoal@.service, split like systemd does (no shell)."""
    with open(UNIT) as f:
        for line in f:
            if line.startswith("ExecStart="):
                return shlex.split(line.split("=", 1)[1])
    raise TestFailure("shoal@.service has no ExecStart=")


def env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                env[k] = v
    return env


def probe(path, port):
    return subprocess.run([PROBE, path, f"127.0.0.1:{port}"],
                          capture_output=True, timeout=10).returncode


@case
def production_state_tier_and_worker_unit_run_here(ctx):
    """shoal-redis brings up a primary, a replica and three Sentinels with
    ACL users (default off); the "shoal" user can do what the worker does
    and nothing dangerous; a worker started by shoal@.service's command
    line and environment file (addresses made local) finds the primary
    through the Sentinels and is ready by shoal-probe; the primary is
    SIGKILLed, the replica promoted, the worker follows; started again by
    the same command, the old primary comes back as a replica of the new
    one (it asks the Sentinels first), not as a second primary."""
    ports = Ports()
    p1, p2, sbase, wport = ports.one(), ports.one(), ports.span(3), ports.one()
    sentinels = ",".join(f"127.0.0.1:{sbase + k}" for k in (1, 2, 3))
    with Tier(ctx) as t:
        base = t.node_env(p1, sentinels)
        shoal_pw = base["SHOAL_REDIS_PASSWORD_FILE"]
        internal_pw = base["SHOAL_REDIS_INTERNAL_PASSWORD_FILE"]

        def node(name, port, role="redis", sport=None):
            env = dict(base, REDIS_STATE_DIR=os.path.join(t.dir, name),
                       REDIS_PORT=str(port))
            if sport:
                env["SENTINEL_PORT"] = str(sport)
            t.start(name, [SHOAL_REDIS, role], env)

        node("redis-1", p1)
        wait_until(lambda: Redis(p1, timeout=1).close() or True, 10,
                   "redis-1 listens")
        node("redis-2", p2)
        for k in (1, 2, 3):
            node(f"sentinel-{k}", p1, "sentinel", sbase + k)

        # Users: default off; shoal may do what the worker does, no more.
        r = Redis(p1, timeout=2)
        try:
            r.cmd("GET", "shoal:x")
            raise TestFailure("the default user may run commands")
        except RedisError as e:
            check("NOAUTH" in str(e) or "NOPERM" in str(e), f"default user: {e}")
        finally:
            r.close()
        r = wait_until(lambda: redis_as(p1, "shoal", shoal_pw), 10, "AUTH as shoal")
        try:
            check_eq(r.cmd("SET", "shoal:s:{t}", "v", "PX", "60000"), "OK", "SET as shoal")
            check_eq(r.cmd("EVAL", "redis.call('ZADD', KEYS[1], 1, 'a');"
                           "redis.call('HSET', KEYS[1] .. 'h', 'a', 'b');"
                           "redis.call('PEXPIRE', KEYS[1], 60000);"
                           "return redis.call('ZCARD', KEYS[1])", 1, "shoal:i:{t}"),
                     1, "EVAL with ZADD/HSET/PEXPIRE inside, as shoal")
            sha = r.cmd("SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])").decode()
            check_eq(r.cmd("EVALSHA", sha, 1, "shoal:s:{t}"), b"v", "EVALSHA as shoal")
            check_eq(r.cmd("ROLE")[0], b"master", "ROLE of redis-1")
            for denied in (("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "*"),
                           ("GET", "other:x"), ("DEBUG", "SLEEP", "0"),
                           ("SCRIPT", "FLUSH"), ("SUBSCRIBE", "x")):
                try:
                    r.cmd(*denied)
                    raise TestFailure(f"user shoal may run {' '.join(denied)}")
                except RedisError as e:
                    check("NOPERM" in str(e) or "not allowed" in str(e),
                          f"{' '.join(denied)} as shoal: {e}")
        finally:
            r.close()

        # The replica follows as user "replica"; the Sentinels see it all.
        def replica_up():
            out = subprocess.run(["redis-cli", "-p", str(p2), "--user", "sentinel",
                                  "--pass", open(internal_pw).read().strip(),
                                  "--no-auth-warning", "info", "replication"],
                                 capture_output=True, text=True).stdout
            return "master_link_status:up" in out
        wait_until(replica_up, 15, "redis-2 replicating from redis-1")
        for k in (1, 2, 3):
            wait_until(lambda: sentinel_says(t, sbase + k, "num-other-sentinels") == "2"
                       and sentinel_says(t, sbase + k, "num-slaves") == "1"
                       and sentinel_says(t, sbase + k, "flags") == "master",
                       20, f"sentinel-{k} sees the primary, the replica and 2 Sentinels")

        # A worker by the systemd unit's own command line and env file.
        # Nobody gets anything from a Sentinel without a password; the
        # workers' Sentinel user may ask where the primary is, no more.
        r = Redis(sbase + 1, timeout=2)
        try:
            for cmd in (("SENTINEL", "MONITOR", "evil", "127.0.0.1", p1, 1),
                        ("SENTINEL", "REMOVE", "shoal"),
                        ("SENTINEL", "get-master-addr-by-name", "shoal")):
                try:
                    r.cmd(*cmd)
                    raise TestFailure(f"an anonymous client may run {' '.join(map(str, cmd))}")
                except RedisError as e:
                    check("NOAUTH" in str(e), f"anonymous {cmd[1]}: {e}")
        finally:
            r.close()
        with open(base["SHOAL_SENTINEL_PASSWORD_FILE"]) as f:
            r = Redis(sbase + 1, "shoal", f.read().strip(), timeout=2)
        try:
            check_eq(r.cmd("SENTINEL", "get-master-addr-by-name", "shoal"),
                     [b"127.0.0.1", str(p1).encode()], "the primary, asked as shoal")
            try:
                r.cmd("SENTINEL", "REMOVE", "shoal")
                raise TestFailure("the workers' Sentinel user may run SENTINEL REMOVE")
            except RedisError as e:
                check("NOPERM" in str(e), f"SENTINEL REMOVE as shoal: {e}")
        finally:
            r.close()

        t.unit_worker(wport, sentinels, shoal_pw)
        wait_until(lambda: probe("/healthz", wport) == 0, 10, "shoal-probe /healthz")
        wait_until(lambda: probe("/readyz", wport) == 0, 10, "shoal-probe /readyz")

        # Failover, and the old primary's return.
        t.stop("redis-1", signal.SIGKILL)
        t0 = time.monotonic()
        wait_until(lambda: sentinel_says(t, sbase + 1, "port") == str(p2), 20,
                   "the Sentinels promote redis-2")
        promoted = time.monotonic() - t0
        wait_until(lambda: probe("/readyz", wport) == 0, 20,
                   "the worker ready again after the failover")
        node("redis-1", p1)
        wait_until(lambda: "starting as a replica of 127.0.0.1:%d" % p2 in t.log("redis-1"),
                   10, "redis-1 restarted as a replica of redis-2")
        r = wait_until(lambda: redis_as(p1, "shoal", shoal_pw), 10, "AUTH on the old primary")
        try:
            wait_until(lambda: r.cmd("ROLE")[0] == b"slave", 10, "ROLE of the old primary")
        finally:
            r.close()
        rc = t.stop("worker")
        check_eq(rc, 0, "worker exit status on SIGTERM (systemd's KillSignal)")
        return (f"ACL users enforced; worker by shoal@.service ready through "
                f"Sentinel; replica promoted {promoted:.2f} s after SIGKILL; old "
                f"primary rejoined as a replica")


# ---------------------------------------------------------------- stunnel
STUNNEL_DIR = os.path.join(REPO, "deploy", "stunnel")


def make_tls(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate,
    made as deploy/stunnel/README.md says; returns the folder."""
    tls = os.path.join(d, "tls")
    os.makedirs(tls, mode=0o700)
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

    def ssl(*args):
        p = subprocess.run(["openssl"] + list(args), cwd=tls, capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 0, f"openssl {args[0]}: {p.stderr[-500:]}")

    ssl("req", "-x509", *curve, "-days", "2", "-keyout", "ca.key", "-out", "ca.crt",
        "-subj", "/CN=shoal state tier CA (test)",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for who, ext in (("server", "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1"),
                     ("client", "extendedKeyUsage=clientAuth")):
        with open(os.path.join(tls, f"{who}.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    f"keyUsage=critical,digitalSignature\n{ext}\n")
        ssl("req", "-new", *curve, "-keyout", f"{who}.key", "-out", f"{who}.csr",
            "-subj", f"/CN=shoal {who} (test)")
        ssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{who}.ext", "-out", f"{who}.crt")
    return tls


def stunnel_conf(name, tls, replace):
    """deploy/stunnel/NAME with its addresses replaced (old -> new, in
    order), the certificates taken from tls, and no switch to user
    stunnel4 (the test's files are root's)."""
    with open(os.path.join(STUNNEL_DIR, name)) as f:
        text = f.read()
    text = text.replace("/etc/shoal/tls", tls)
    for old, new in replace:
        check(old in text, f"deploy/stunnel/{name} has no {old!r}")
        text = text.replace(old, new)
    return "\n".join(l for l in text.splitlines()
                     if not l.startswith(("setuid", "setgid")))


@case
def production_state_tier_through_stunnel_on_both_ends(ctx):
    """The encrypted layout of deploy/stunnel/README.md, on loopback: each
    "host" runs Redis and its Sentinel on 127.0.0.1 only, behind the
    stunnel server of server.conf; one stunnel client of client.conf (the
    same file on every host) maps every node to a loopback port, the nodes
    announce those ports (REDIS_ANNOUNCE_PORT, SENTINEL_ANNOUNCE_PORT), and
    shoal-redis, the Sentinels, the replica and a worker (shoal@.service's
    command line) all go through it. A client without the CA's certificate
    gets nothing from a TLS port, nor does plain RESP. Then the primary is
    SIGKILLed: the Sentinels promote the replica through stunnel, the worker
    follows, and the old primary comes back as a replica."""
    base = Ports().span(24)
    free = iter(range(base + 1, base + 25))
    hosts = {k: {"redis": next(free), "sentinel": next(free),
                 "redis_tls": next(free), "sentinel_tls": next(free),
                 "redis_map": next(free), "sentinel_map": next(free)}
             for k in (1, 2, 3)}
    wport = next(free)
    sentinels = ",".join(f"127.0.0.1:{hosts[k]['sentinel_map']}" for k in (1, 2, 3))
    with Tier(ctx) as t:
        tls = make_tls(t.dir)
        # The client: the same file on every host; here one serves them all.
        replace = []
        for k in (1, 2, 3):
            h = hosts[k]
            replace += [(f"127.0.0.1:1638{k}\n", f"127.0.0.1:{h['redis_map']}\n"),
                        (f"10.0.0.1{k}:6380\n", f"127.0.0.1:{h['redis_tls']}\n"),
                        (f"127.0.0.1:2638{k}\n", f"127.0.0.1:{h['sentinel_map']}\n"),
                        (f"10.0.0.1{k}:26380\n", f"127.0.0.1:{h['sentinel_tls']}\n"),
                        (f"checkIP = 10.0.0.1{k}\n", "checkIP = 127.0.0.1\n")]
        conf = os.path.join(t.dir, "shoal-client.conf")
        with open(conf, "w") as f:
            f.write(stunnel_conf("client.conf", tls, replace))
        t.start("stunnel-client", ["stunnel", conf], {"PATH": os.environ.get("PATH", "")})
        # A server per host, in front of its Redis and Sentinel.
        for k in (1, 2, 3):
            h = hosts[k]
            conf = os.path.join(t.dir, f"shoal-server-{k}.conf")
            with open(conf, "w") as f:
                f.write(stunnel_conf("server.conf", tls, [
                    ("10.0.0.11:6380\n", f"127.0.0.1:{h['redis_tls']}\n"),
                    ("127.0.0.1:6379\n", f"127.0.0.1:{h['redis']}\n"),
                    ("10.0.0.11:26380\n", f"127.0.0.1:{h['sentinel_tls']}\n"),
                    ("127.0.0.1:26379\n", f"127.0.0.1:{h['sentinel']}\n")]))
            t.start(f"stunnel-server-{k}", ["stunnel", conf],
                    {"PATH": os.environ.get("PATH", "")})
        for k in (1, 2, 3):
            wait_until(lambda: socket_open(hosts[k]["redis_map"])
                       and socket_open(hosts[k]["redis_tls"]), 10, f"stunnel ports of host {k}")

        base = t.node_env(hosts[1]["redis_map"], sentinels)
        shoal_pw = base["SHOAL_REDIS_PASSWORD_FILE"]

        def node(k, role="redis"):
            h = hosts[k]
            env = dict(base, REDIS_STATE_DIR=os.path.join(t.dir, f"{role}-{k}"),
                       REDIS_PORT=str(h["redis"]), REDIS_ANNOUNCE_PORT=str(h["redis_map"]),
                       SENTINEL_PORT=str(h["sentinel"]),
                       SENTINEL_ANNOUNCE_PORT=str(h["sentinel_map"]))
            t.start(f"{role}-{k}", [SHOAL_REDIS, role], env)

        node(1)
        wait_until(lambda: redis_as(hosts[1]["redis_map"], "shoal", shoal_pw).close() or True,
                   10, "redis-1 answers through stunnel")
        node(2)
        for k in (1, 2, 3):
            node(k, "sentinel")

        # Only TLS on the "network" ports: plain RESP gets nothing, and TLS
        # without a client certificate of the CA neither.
        check(b"PONG" not in plain_ping(hosts[1]["redis_tls"]),
              "plain RESP answered on a stunnel server port")
        check(not tls_answers(hosts[1]["redis_tls"], tls, with_cert=False),
              "TLS without a client certificate got through the stunnel server")
        check(tls_answers(hosts[1]["redis_tls"], tls, with_cert=True),
              "TLS with the client certificate did not get through")

        for k in (1, 2, 3):
            m = hosts[k]["sentinel_map"]
            wait_until(lambda: sentinel_says(t, m, "num-other-sentinels") == "2"
                       and sentinel_says(t, m, "num-slaves") == "1"
                       and sentinel_says(t, m, "port") == str(hosts[1]["redis_map"]),
                       20, f"sentinel-{k} sees the primary, the replica and 2 Sentinels, "
                       "all at their stunnel ports")
        r = redis_as(hosts[1]["redis_map"], "shoal", shoal_pw)
        try:
            info = r.cmd("ROLE")
        finally:
            r.close()
        check(info[0] == b"master" and info[2] and
              info[2][0][:2] == [b"127.0.0.1", str(hosts[2]["redis_map"]).encode()],
              f"redis-1's replica is not announced at its stunnel port: {info!r}")

        # A worker by the unit's command line, through the client.
        t.unit_worker(wport, sentinels, shoal_pw)
        wait_until(lambda: probe("/readyz", wport) == 0, 10, "shoal-probe /readyz")

        t.stop("redis-1", signal.SIGKILL)
        t0 = time.monotonic()
        wait_until(lambda: sentinel_says(t, hosts[1]["sentinel_map"], "port")
                   == str(hosts[2]["redis_map"]), 20, "the Sentinels promote redis-2")
        promoted = time.monotonic() - t0
        wait_until(lambda: probe("/readyz", wport) == 0, 20,
                   "the worker ready again after the failover")
        node(1)
        wait_until(lambda: "starting as a replica of 127.0.0.1:%d" % hosts[2]["redis_map"]
                   in t.log("redis-1"), 10, "redis-1 restarted as a replica of redis-2")
        r = wait_until(lambda: redis_as(hosts[1]["redis_map"], "shoal", shoal_pw), 10,
                       "AUTH on the old primary")
        try:
            wait_until(lambda: r.cmd("ROLE")[0] == b"slave", 10, "ROLE of the old primary")
        finally:
            r.close()
        check_eq(t.stop("worker"), 0, "worker exit status on SIGTERM")
        return (f"Redis and Sentinels on loopback behind stunnel servers, every "
                f"client through one stunnel client; replica promoted "
                f"{promoted:.2f} s after SIGKILL, the worker followed, the old "
                f"primary rejoined as a replica")


def socket_open(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def plain_ping(port):
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    try:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        try:
            return s.recv(64)
        except (socket.timeout, ConnectionResetError):
            return b""
    finally:
        s.close()


def tls_answers(port, tls, with_cert):
    """True when a TLS client (checking the server against the CA) gets a
    RESP answer to PING (NOAUTH counts: Redis answered)."""
    import socket
    import ssl
    sc = ssl.create_default_context(cafile=os.path.join(tls, "ca.crt"))
    if with_cert:
        sc.load_cert_chain(os.path.join(tls, "client.crt"), os.path.join(tls, "client.key"))
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=3)
        with sc.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64)[:1] in (b"+", b"-")
    except (OSError, ssl.SSLError):
        return False
