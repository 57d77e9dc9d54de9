"""
stack.py - the local stack the resilience scenarios break: start and stop it
through deploy/local/stack, and reach its pieces (worker servers, Redis,
nginx) by the pid files in its run dir.

Everything here signals only pids named in the run dir (or started by this
module), never processes found by name.
"""

import hashlib
import os
import random
import re
import signal
import subprocess
import time

import lib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
STACK = os.path.join(REPO, "deploy", "local", "stack")

UPSTREAM_LINE = re.compile(r"^\s*server\s+127\.0\.0\.1:(\d+)\b.*;\s*$")


class StackError(Exception):
    pass


def pick_ports(servers):
    """One block of free loopback ports, laid out so that the ports the
    stack script derives by default land inside it too (a CDN origin at
    cdn+1, a replica at redis+1, Sentinels at redis+2.., workers at
    base+1..): http B, cdn B+1, redis B+4, worker base B+12, with room for
    scaling up to servers+8."""
    size = 12 + servers + 10
    for _ in range(500):
        b = random.randrange(20000, 60000 - size)
        if all(lib.port_free(p) for p in range(b, b + size)):
            return b, b + 1, b + 4, b + 12
    raise StackError("no free block of loopback ports found")


def parse_duration(s):
    """nginx time: '10s', '500ms', '1m', '10' (seconds) -> seconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m)?", s.strip())
    if not m:
        raise StackError(f"cannot read nginx time {s!r}")
    n, unit = int(m.group(1)), m.group(2) or "s"
    return n / 1000.0 if unit == "ms" else n * 60.0 if unit == "m" else float(n)


class Stack:
    def __init__(self, run_dir, shoal_bin, servers, procs, log):
        self.run_dir = run_dir
        self.bin = shoal_bin
        self.servers = servers
        self.procs = procs
        self.log = log                  # function(str): progress lines
        http, cdn, redis, base = pick_ports(servers)
        self.http_port, self.redis_port = http, redis
        self.env = dict(os.environ)
        self.env.update({
            "SHOAL_HTTP_PORT": str(http),
            "SHOAL_CDN_PORT": str(cdn),
            "SHOAL_REDIS_PORT": str(redis),
            "SHOAL_WORKER_PORT_BASE": str(base),
            "SHOAL_RUN_DIR": run_dir,
            "SHOAL_BIN": shoal_bin,
            "SHOAL_SERVERS": str(servers),
            "SHOAL_PROCS": str(procs),
        })
        self.prefix = self.env.get("SHOAL_KEY_PREFIX", "shoal:")
        self.cookie = self.env.get("SHOAL_COOKIE_NAME", "sid")
        self.up_count = 0
        self.conf_hash = None
        self.own_pids = []              # Redis restarted by a scenario
        self.own_procs = []             # ... when it runs in the foreground
        self.stopped = set()            # pids we sent SIGSTOP
        self._creds = None              # Redis (user, password)
        self.has_scale = self._stack_has("scale")
        self.front = self.env.get("SHOAL_FRONT", "nginx")

    # ------------------------------------------------------------ stack script
    def _stack_has(self, verb):
        try:
            out = subprocess.run([STACK, "--help"], capture_output=True,
                                 text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return re.search(rf"\b{verb}\b", out.stdout + out.stderr) is not None

    def _script(self, *args, timeout=120):
        out = os.path.join(self.run_dir, "stack-" + "-".join(args) + ".out")
        with open(out, "ab") as f:
            f.write(f"--- {time.strftime('%H:%M:%S')} stack {' '.join(args)}\n"
                    .encode())
            f.flush()
            rc = subprocess.run([STACK] + list(args), env=self.env, cwd=REPO,
                                stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                timeout=timeout).returncode
        return rc, out

    def up(self):
        self._creds = None
        rc, out = self._script("up")
        if rc != 0:
            raise StackError(f"stack up failed (exit {rc}):\n"
                             + tail(out, 30))
        self.up_count += 1
        self.front = self.stack_setting("SHOAL_FRONT", "nginx")
        self.conf_hash = file_hash(self.front_conf())
        self.initial = {k: self.server_pids(k) for k in self.server_ids()}

    def down(self):
        for pid in list(self.stopped):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.stopped.clear()
        rc, out = self._script("down")
        if rc != 0:
            raise StackError(f"stack down failed (exit {rc}):\n"
                             + tail(out, 20))
        for pid in self.own_pids:
            if lib.alive(pid):
                os.kill(pid, signal.SIGTERM)
                if not lib.wait_dead(pid, 10):
                    os.kill(pid, signal.SIGKILL)
        for p in self.own_procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.own_pids, self.own_procs = [], []

    def restack(self):
        """Puts the topology back as `up` made it: down, then up on the same
        run dir. Redis flushes its AOF on SIGTERM, so sessions survive."""
        self.down()
        self.up()

    def intact(self):
        """True when every process of the first `up` is alive and running
        (not stopped), Redis answers as the primary, and the front's config
        is as `up` wrote it."""
        if self.conf_hash != file_hash(self.front_conf()):
            return False
        if sorted(self.server_ids()) != sorted(self.initial):
            return False
        for k, pids in self.initial.items():
            if sorted(self.server_pids(k)) != sorted(pids):
                return False
            if any(lib.proc_state(p) in (None, "Z", "X", "T") for p in pids):
                return False
        for p in (self.redis_pid(), self.front_pid()):
            if p is None or lib.proc_state(p) in (None, "Z", "X", "T"):
                return False
        # With Sentinels in the stack a scenario may have caused a failover:
        # the Redis on the stack's port must be the primary again, and the
        # Sentinels must say so too.
        if self.sentinel_ports():
            if self.sentinel_master() != ("127.0.0.1", self.redis_port):
                return False
        try:
            r = self.redis(timeout=2.0, port=self.redis_port)
            try:
                role = r.cmd("ROLE")
            finally:
                r.close()
        except (OSError, lib.RedisError):
            return False
        return bool(role) and role[0] in (b"master", "master")

    # ------------------------------------------------------------ pieces
    def path(self, name):
        return os.path.join(self.run_dir, name)

    def front_conf(self):
        """The balancer's generated config: nginx.conf, or lighttpd.conf
        when the stack runs with SHOAL_FRONT=lighttpd."""
        return self.path(f"{self.front}.conf")

    def nginx_conf(self):
        return self.path("nginx.conf")

    def server_ids(self):
        ids = []
        for name in os.listdir(self.run_dir):
            m = re.fullmatch(r"server-(\d+)\.pid", name)
            if m:
                ids.append(int(m.group(1)))
        return sorted(ids)

    def server_pids(self, k):
        return lib.read_pids(self.path(f"server-{k}.pid"))

    def server_port(self, k):
        with open(self.path(f"server-{k}.port")) as f:
            return int(f.read().strip())

    def all_worker_pids(self):
        return [p for k in self.server_ids() for p in self.server_pids(k)]

    def redis_pid(self):
        pids = lib.read_pids(self.path("redis.pid"))
        return pids[0] if pids else None

    def front_pid(self):
        pids = lib.read_pids(self.path(f"{self.front}.pid"))
        return pids[0] if pids else None

    def nginx_pid(self):
        pids = lib.read_pids(self.path("nginx.pid"))
        return pids[0] if pids else None

    def redis_credentials(self):
        """(user, password) for Redis: the stack's "admin" user when the run
        dir has its password (redis-admin-password), else what the workers
        use, from the environment of a running worker (SHOAL_REDIS_USER,
        SHOAL_REDIS_PASSWORD or SHOAL_REDIS_PASSWORD_FILE); (None, None)
        when Redis has no password. The suite only needs commands the
        workers may run too (EXISTS, SET, PING, ROLE)."""
        if self._creds is None and os.path.exists(
                self.path("redis-admin-password")):
            # The stack's operator user, where it makes one.
            with open(self.path("redis-admin-password")) as f:
                self._creds = ("admin", f.readline().rstrip("\r\n"))
        if self._creds is None:
            env = {}
            for p in self.all_worker_pids():
                if lib.alive(p):
                    try:
                        env = lib.proc_environ(p)
                        break
                    except OSError:
                        continue
            pw = env.get("SHOAL_REDIS_PASSWORD") or None
            pw_file = env.get("SHOAL_REDIS_PASSWORD_FILE")
            if not pw and pw_file:
                with open(pw_file) as f:
                    pw = f.readline().rstrip("\r\n") or None
            self._creds = (env.get("SHOAL_REDIS_USER") or None, pw)
        return self._creds

    def redis(self, timeout=5.0, port=None):
        """A client of the primary: the one the Sentinels name when the
        stack has Sentinels (after a failover that is no longer the Redis on
        the stack's own port), else the stack's Redis; or of `port`."""
        if port is None:
            port = self.redis_port
            m = self.sentinel_master() if self.sentinel_ports() else None
            if m is not None:
                port = m[1]
        user, pw = self.redis_credentials()
        r = lib.Redis(port, timeout=timeout)
        try:
            if pw and user:
                r.cmd("AUTH", user, pw)
            elif pw:
                r.cmd("AUTH", pw)
        except Exception:
            r.close()
            raise
        return r

    def redis_ping(self):
        """True when the Redis on the stack's own port answers PING."""
        try:
            r = self.redis(timeout=1.0, port=self.redis_port)
            try:
                return r.cmd("PING") == "PONG"
            finally:
                r.close()
        except (OSError, lib.RedisError):
            return False

    def stack_setting(self, name, default=None):
        """A setting `stack up` saved in stack.env (NAME=value lines)."""
        try:
            with open(self.path("stack.env")) as f:
                for line in f:
                    k, eq, v = line.strip().partition("=")
                    if eq and k == name:
                        return v.strip("'\"")
        except OSError:
            pass
        return default

    def sentinel_ports(self):
        """Ports of the stack's Sentinels, from the sentinel-K.conf files
        (none when the stack has no Sentinels)."""
        ports = []
        for name in sorted(os.listdir(self.run_dir)):
            if re.fullmatch(r"sentinel-\d+\.conf", name):
                with open(self.path(name)) as f:
                    for line in f:
                        w = line.split()
                        if len(w) == 2 and w[0] == "port":
                            ports.append(int(w[1]))
        return ports

    def sentinel_master(self):
        """(host, port) of the primary as the first Sentinel that answers
        names it, or None."""
        master = self.stack_setting("SHOAL_SENTINEL_MASTER", "shoal")
        for port in self.sentinel_ports():
            try:
                r = lib.Redis(port, timeout=2.0)
                try:
                    a = r.cmd("SENTINEL", "get-master-addr-by-name", master)
                finally:
                    r.close()
            except (OSError, lib.RedisError):
                continue
            if a and len(a) == 2:
                return a[0].decode(), int(a[1])
        return None

    def nginx_setting(self, name, default):
        """A directive's value as written in the generated nginx.conf."""
        with open(self.nginx_conf()) as f:
            for line in f:
                words = line.split("#", 1)[0].strip().rstrip(";").split()
                if len(words) >= 2 and words[0] == name:
                    return " ".join(words[1:])
        return default

    def read_timeout(self):
        """How long the balancer waits for a worker's answer."""
        if self.front == "lighttpd":
            with open(self.front_conf()) as f:
                found = re.findall(r'"read-timeout"\s*=>\s*(\d+)', f.read())
            return float(min(map(int, found))) if found else 0.0
        return parse_duration(self.nginx_setting("fastcgi_read_timeout", "60s"))

    # ------------------------------------------------------------ faults
    def kill(self, pids, sig):
        for p in pids:
            os.kill(p, sig)
            if sig == signal.SIGSTOP:
                self.stopped.add(p)
            elif sig == signal.SIGCONT:
                self.stopped.discard(p)

    def restart_redis(self):
        """SIGTERM to the pid in redis.pid (Redis writes its AOF out and
        exits), then redis-server from the stack's own redis.conf; keeps
        redis.pid truthful so that `stack down` stops the new one. Returns
        (seconds down, new pid)."""
        pid = self.redis_pid()
        conf = self.path("redis.conf")
        if pid is None or not os.path.exists(conf):
            raise StackError("no redis.pid or redis.conf in the run dir")
        t0 = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        if not lib.wait_dead(pid, 15):
            raise StackError(f"Redis pid {pid} still alive 15 s after SIGTERM")
        with open(conf) as f:
            daemon = any(l.split()[:2] == ["daemonize", "yes"]
                         for l in f.read().splitlines())
        with open(self.path("redis-restart.out"), "ab") as log:
            if daemon:
                subprocess.run(["redis-server", conf], stdout=log, stderr=log,
                               stdin=subprocess.DEVNULL, cwd=self.run_dir,
                               timeout=30, check=True, start_new_session=True)
            else:
                p = subprocess.Popen(["redis-server", conf], stdout=log,
                                     stderr=log, stdin=subprocess.DEVNULL,
                                     cwd=self.run_dir, start_new_session=True)
                self.own_procs.append(p)
                with open(self.path("redis.pid"), "w") as f:
                    f.write(f"{p.pid}\n")
        deadline = time.monotonic() + 15
        while not self.redis_ping():
            if time.monotonic() > deadline:
                raise StackError("restarted Redis does not answer PING")
            time.sleep(0.02)
        down = time.monotonic() - t0
        # redis.conf daemonizes and names redis.pid: Redis writes it.
        deadline = time.monotonic() + 5
        new = None
        while time.monotonic() < deadline:
            new = self.redis_pid()
            if new not in (None, pid) and lib.alive(new):
                break
            time.sleep(0.02)
        else:
            raise StackError("restarted Redis wrote no new pid to redis.pid")
        self.own_pids.append(new)
        return down, new

    # ------------------------------------------------------------ scaling
    def scale(self, n):
        """Scales to n worker servers: `stack scale N` when the stack script
        has it; otherwise by hand (see scale_by_hand). Returns how."""
        if self.has_scale:
            rc, out = self._script("scale", str(n))
            if rc != 0:
                raise StackError(f"stack scale {n} failed (exit {rc}):\n"
                                 + tail(out, 20))
            return "stack scale"
        if self.front != "nginx":
            raise StackError("scaling by hand rewrites nginx.conf; this "
                             f"stack's front is {self.front}")
        self.scale_by_hand(n)
        return "by hand (fallback: the stack script has no scale)"

    def scale_by_hand(self, n):
        """FALLBACK while deploy/local/stack has no `scale`: what a planned
        scale step must do, done here in this test's own run dir only.
        Up: start another spawn-fcgi server exactly as `stack up` starts one
        (same environment, taken from a running worker), add it to the
        upstream block of $RUN/nginx.conf and reload nginx. Down: take the
        last server out of nginx.conf, reload, wait until the old nginx
        workers have finished their requests, then SIGTERM the server (it
        drains) and wait for it to exit."""
        ids = self.server_ids()
        while len(ids) < n:
            self._add_server(max(ids) + 1)
            ids = self.server_ids()
        while len(ids) > n:
            self._remove_server(max(ids))
            ids = self.server_ids()

    def start_server(self, k, port):
        """Starts worker server k on port exactly as `stack up` starts one:
        spawn-fcgi with PROCS processes, each exec'ing the worker with its
        stderr to server-k.log, in the environment of a running worker."""
        src = next((p for p in self.all_worker_pids() if lib.alive(p)), None)
        if src is None:
            raise StackError("no live worker to copy the environment from")
        env = lib.proc_environ(src)
        with open(self.path(f"server-{k}.port"), "w") as f:
            f.write(f"{port}\n")
        with open(self.path("spawn-fcgi.log"), "ab") as log:
            rc = subprocess.run(
                ["setsid", "-w", "spawn-fcgi", "-a", "127.0.0.1", "-p",
                 str(port), "-F", str(self.procs), "-P",
                 self.path(f"server-{k}.pid"), "--", "/bin/sh", "-c",
                 'exec "$0" 2>>"$1"', self.bin, self.path(f"server-{k}.log")],
                env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                timeout=30).returncode
        if rc != 0 or len(self.server_pids(k)) != self.procs:
            raise StackError(f"spawn-fcgi for server {k} failed (exit {rc})")
        if not lib.wait_port(port, 10):
            raise StackError(f"server {k} does not listen on {port}")
        return self.server_pids(k)

    def _add_server(self, k):
        base = int(self.env["SHOAL_WORKER_PORT_BASE"])
        port = base + k
        if not lib.port_free(port):
            port = lib.free_port()
        pids = self.start_server(k, port)
        self._edit_upstream(add=port)
        self.log(f"scaled up by hand: server {k} on 127.0.0.1:{port} "
                 f"(pids {' '.join(map(str, pids))}), nginx reloaded")

    def _remove_server(self, k):
        port = self.server_port(k)
        pids = self.server_pids(k)
        t0 = time.monotonic()
        self._edit_upstream(remove=port)
        for p in pids:
            if lib.alive(p):
                os.kill(p, signal.SIGTERM)
        for p in pids:
            if not lib.wait_dead(p, 30):
                raise StackError(f"server {k} pid {p} alive 30 s after SIGTERM")
        for name in (f"server-{k}.pid", f"server-{k}.port"):
            try:
                os.unlink(self.path(name))
            except FileNotFoundError:
                pass
        self.log(f"scaled down by hand: server {k} out of nginx.conf, nginx "
                 f"reloaded, old nginx workers done, SIGTERM drained it in "
                 f"{time.monotonic() - t0:.2f}s")

    def _edit_upstream(self, add=None, remove=None):
        conf = self.nginx_conf()
        with open(conf) as f:
            lines = f.read().split("\n")
        last = max(i for i, l in enumerate(lines) if UPSTREAM_LINE.match(l))
        if add is not None:
            # A copy of the last server line: same max_fails, fail_timeout.
            lines.insert(last + 1, re.sub(r"127\.0\.0\.1:\d+",
                                          f"127.0.0.1:{add}", lines[last]))
        if remove is not None:
            lines = [l for l in lines
                     if not (UPSTREAM_LINE.match(l)
                             and int(UPSTREAM_LINE.match(l).group(1)) == remove)]
        with open(conf + ".tmp", "w") as f:
            f.write("\n".join(lines))
        os.replace(conf + ".tmp", conf)
        self.reload_nginx()

    def nginx_workers(self):
        pid = self.nginx_pid()
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)],
                             capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]

    def reload_nginx(self):
        """SIGHUP to the master; returns once the new workers run and every
        old worker has exited (finished its requests in flight)."""
        old = set(self.nginx_workers())
        os.kill(self.nginx_pid(), signal.SIGHUP)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = set(self.nginx_workers())
            if now and not (now & old):
                return
            time.sleep(0.05)
        raise StackError("nginx reload: old workers still running after 30 s")


def file_hash(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tail(path, n):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""
