"""
harness.py - what the deploy tests drive: the local stack on free loopback
ports (deploy/local/stack up, scale, roll, down) and a steady stream of
signed-in users that records every answer.

The clients (browser, Redis, FastCGI) are the integration suite's own
(tests/integration/lib.py); nothing here mocks a component.
"""

import os
import random
import signal
import subprocess
import tempfile
import threading
import time

from lib import (Browser, Redis, TestFailure, alive, check, form_tokens,
                 new_name, port_free, read_pids, signed_in_as, wait_dead)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
STACK = os.path.join(REPO, "deploy", "local", "stack")
PASSWORD = "correct horse battery"


def ephemeral_low():
    """The first port of the kernel's ephemeral range: outgoing connections
    (Redis clients, Sentinels, replicas) take their local ports from it, so
    a listening port picked there may be taken by one of them before the
    server binds it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def pick_ports(n_workers):
    """Free loopback ports below the ephemeral range for every part of the
    stack: the front, the CDN edge and origin, Redis primary and replica,
    and ranges for Sentinels and worker servers."""
    taken = set()
    top = ephemeral_low()

    def span(n):
        for _ in range(500):
            base = random.randrange(10000, top - n - 1)
            ports = range(base, base + n + 1)
            if not taken.intersection(ports) and all(port_free(p) for p in ports):
                taken.update(ports)
                return base
        raise TestFailure("no free range of ports found")

    def one():
        return span(0)

    return {
        "SHOAL_HTTP_PORT": one(), "SHOAL_CDN_PORT": one(),
        "SHOAL_CDN_ORIGIN_PORT": one(), "SHOAL_REDIS_PORT": one(),
        "SHOAL_REPLICA_PORT": one(), "SHOAL_SENTINEL_PORT_BASE": span(9),
        "SHOAL_WORKER_PORT_BASE": span(n_workers),
        # Where Redis listens for TLS when a test sets SHOAL_REDIS_TLS=1.
        "SHOAL_REDIS_TLS_PORT": one(), "SHOAL_REPLICA_TLS_PORT": one(),
    }


class Stack:
    """One local stack in a run dir of its own. Use as a context manager:
    `down` runs however the test ends, and the run dir is removed only
    when the test passed (DEPLOY_KEEP_RUN_DIR=1 keeps it always)."""

    MAX_SERVERS = 8

    def __init__(self, ctx, name, **settings):
        self.ctx = ctx
        self.run_dir = tempfile.mkdtemp(prefix=f"shoal-deploy-{name}-")
        self.env = dict(os.environ)
        for k in [k for k in self.env if k.startswith("SHOAL_")]:
            del self.env[k]
        self.env.update({k: str(v) for k, v in pick_ports(self.MAX_SERVERS).items()})
        self.env.update({
            "SHOAL_RUN_DIR": self.run_dir,
            "SHOAL_BIN": ctx.bin,
            "SHOAL_SERVERS": "3",
            "SHOAL_PROCS": "2",
        })
        if ctx.static_dir:
            self.env["SHOAL_STATIC_DIR"] = ctx.static_dir
        self.env.update({k: str(v) for k, v in settings.items()})
        self.http_port = int(self.env["SHOAL_HTTP_PORT"])
        self.cdn_port = int(self.env["SHOAL_CDN_PORT"])
        self.redis_port = int(self.env["SHOAL_REDIS_PORT"])
        self.replica_port = int(self.env["SHOAL_REPLICA_PORT"])
        self.sentinel_base = int(self.env["SHOAL_SENTINEL_PORT_BASE"])
        self.sentinels = int(self.env.get("SHOAL_SENTINEL_COUNT", "3"))
        self.front = self.env.get("SHOAL_FRONT", "nginx")
        self.failed = True
        self.started = False

    # ------------------------------------------------------------ commands
    def stack(self, *args, timeout=120):
        """Runs deploy/local/stack ARGS; returns (exit status, output)."""
        out = os.path.join(self.run_dir, "stack-commands.out")
        with open(out, "ab") as f:
            f.write(f"$ stack {' '.join(args)}\n".encode())
        p = subprocess.run([STACK] + list(args), env=self.env, cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL,
                           timeout=timeout * self.ctx.scale)
        text = p.stdout.decode("utf-8", "replace")
        with open(out, "ab") as f:
            f.write(p.stdout)
        return p.returncode, text

    def must(self, *args, timeout=120):
        rc, text = self.stack(*args, timeout=timeout)
        check(rc == 0, f"stack {' '.join(args)} exited {rc}:\n{text[-2000:]}")
        return text

    def __enter__(self):
        self.started = True
        self.must("up")
        return self

    def __exit__(self, kind, value, tb):
        self.failed = kind is not None
        self.down()
        return False

    def down(self):
        if not self.started:
            return
        self.started = False
        # A second Ctrl-C must not cut `stack down` short.
        saved = {s: signal.signal(s, signal.SIG_IGN)
                 for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            rc, text = self.stack("down", timeout=90)
        except subprocess.TimeoutExpired:
            rc, text = "timeout", ""
        finally:
            for s, h in saved.items():
                signal.signal(s, h)
        left = [p for p in self.all_pids() if alive(p)]
        for p in left:             # by pid, ours only: the run dir names them
            os.kill(p, signal.SIGKILL)
        if rc != 0 or left:
            self.failed = True
            print(f"    stack down: exit {rc}, still alive after it: {left}\n"
                  f"    {text[-500:]}")
        keep = self.failed or os.environ.get("DEPLOY_KEEP_RUN_DIR") == "1"
        if keep:
            print(f"    run dir kept: {self.run_dir}")
        else:
            subprocess.run(["rm", "-rf", self.run_dir], check=False)

    # ------------------------------------------------------------ state
    def path(self, name):
        return os.path.join(self.run_dir, name)

    def pid_files(self):
        return [f for f in os.listdir(self.run_dir) if f.endswith(".pid")]

    def all_pids(self):
        return [p for f in self.pid_files() for p in read_pids(self.path(f))]

    def server_pids(self):
        """{k: [pids]} for every server-K.pid in the run dir."""
        out = {}
        for f in self.pid_files():
            if f.startswith("server-"):
                out[int(f[7:-4])] = read_pids(self.path(f))
        return out

    def setting(self, name):
        with open(self.path("stack.env")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                if k == name:
                    return v
        return None

    def browser(self):
        return Browser(self.http_port, 10.0 * self.ctx.scale)

    def redis(self, port=None):
        """A client of the primary (or of `port`) as the stack's "admin"
        Redis user; `stack up` made its password."""
        with open(self.path("redis-admin-password")) as f:
            pw = f.readline().rstrip("\r\n")
        return Redis(port or self.redis_port, user="admin", password=pw,
                     timeout=5.0 * self.ctx.scale)

    def sentinel_port(self, k):
        return self.sentinel_base + k

    def primary_per_sentinel(self):
        """(host, port) the Sentinels name as primary now; asks each in turn."""
        for k in range(1, self.sentinels + 1):
            try:
                r = Redis(self.sentinel_port(k), timeout=2.0)
                try:
                    a = r.cmd("SENTINEL", "get-master-addr-by-name",
                              self.env.get("SHOAL_SENTINEL_MASTER", "shoal"))
                finally:
                    r.close()
                if a:
                    return a[0].decode(), int(a[1])
            except OSError:
                continue
        return None

    def log_text(self, name):
        try:
            with open(self.path(name), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


# ---------------------------------------------------------------- users
def sign_up(stack, prefix):
    """A fresh user, signed up (so signed in): (browser, name)."""
    b = stack.browser()
    name = new_name(prefix)
    b.signup(name, PASSWORD)
    r = b.get("/")
    check(r.status == 200 and signed_in_as(r.body, name),
          f"{name} not signed in after signup: {r.describe()}")
    return b, name


def api_csrf(b):
    r = b.get("/api/session")
    check(r.status == 200, f"GET /api/session: {r.describe()}")
    return r.json()["csrf"]


class Answer:
    __slots__ = ("t", "user", "what", "status", "kind", "note")

    def __init__(self, t, user, what, status, kind, note=""):
        self.t = t              # monotonic time the answer arrived
        self.user = user
        self.what = what        # "view" or "add"
        self.status = status    # HTTP status, or None for no answer
        self.kind = kind        # ok, signed_out, unavailable (503), failed
        self.note = note


class Load:
    """A steady stream of signed-in users: each one, in its own thread,
    loads the home page (must say "Signed in as NAME") and every few
    requests adds an item to its cart through the API. Every answer is
    recorded; adds answered 200 are counted per user, so that the cart can
    be checked afterwards. Bounded: `users` threads, a pause between
    requests."""

    def __init__(self, stack, users=6, pause=0.02, add_every=4, prefix="ld"):
        self.stack = stack
        self.pause = pause
        self.add_every = add_every
        self.users = []
        for _ in range(users):
            b, name = sign_up(stack, prefix)
            self.users.append({"b": b, "name": name, "csrf": api_csrf(b),
                               "acked": [], "signed_out": False})
        self.answers = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []

    def start(self):
        for u in self.users:
            t = threading.Thread(target=self._run, args=(u,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(30)
        return self

    def _record(self, a):
        with self.lock:
            self.answers.append(a)

    def _run(self, u):
        n = 0
        while not self.stopping.is_set():
            n += 1
            # A cart holds at most 999 of an item: stop adding well before.
            add = (self.add_every and n % self.add_every == 0
                   and len(u["acked"]) < 900)
            t0 = time.monotonic()
            try:
                if add:
                    r = u["b"].post("/api/cart/add", {"item": "tea", "qty": "1"},
                                    headers={"X-CSRF-Token": u["csrf"]})
                else:
                    r = u["b"].get("/")
            except Exception as e:          # no answer at all
                self._record(Answer(time.monotonic(), u["name"],
                                    "add" if add else "view", None, "failed",
                                    repr(e)[:200]))
                time.sleep(self.pause)
                continue
            now = time.monotonic()
            if r.status == 200:
                if add:
                    kind = "ok"
                    u["acked"].append(t0)
                elif signed_in_as(r.body, u["name"]):
                    kind = "ok"
                else:
                    kind = "signed_out"
                    u["signed_out"] = True
            elif r.status == 503:
                kind = "unavailable"
            else:
                kind = "failed"
            self._record(Answer(now, u["name"], "add" if add else "view",
                                r.status, kind,
                                "" if kind == "ok" else r.describe()[:200]))
            time.sleep(self.pause)

    # ------------------------------------------------------------ figures
    def count(self, kind, since=None):
        with self.lock:
            return sum(1 for a in self.answers
                       if a.kind == kind and (since is None or a.t >= since))

    def total(self):
        with self.lock:
            return len(self.answers)

    def first_failures(self, kinds, n=3):
        with self.lock:
            return [f"{a.user} {a.what}: {a.status} {a.note}"
                    for a in self.answers if a.kind in kinds][:n]

    def all_ok_since(self, t):
        """Every user has had an ok answer after t, and no other answer
        after its first ok one."""
        with self.lock:
            by_user = {}
            for a in self.answers:
                if a.t < t:
                    continue
                by_user.setdefault(a.user, []).append(a)
        if len(by_user) < len(self.users):
            return False
        for seq in by_user.values():
            oks = [i for i, a in enumerate(seq) if a.kind == "ok"]
            if not oks or any(a.kind != "ok" for a in seq[oks[0]:]):
                return False
        return True

    def window(self, kind, since):
        """(first, last, count) of answers of a kind after `since`."""
        with self.lock:
            ts = [a.t for a in self.answers if a.kind == kind and a.t >= since]
        if not ts:
            return None, None, 0
        return min(ts), max(ts), len(ts)

    def carts(self):
        """{name: items of "tea" in the cart}, read through the stack."""
        out = {}
        for u in self.users:
            r = u["b"].get("/api/session")
            check(r.status == 200, f"{u['name']}: GET /api/session {r.describe()}")
            j = r.json()
            check(j.get("user") == u["name"],
                  f"{u['name']}: /api/session says user {j.get('user')!r}")
            out[u["name"]] = (j.get("cart") or {}).get("tea", 0)
        return out


def kill_pid(pid, sig=signal.SIGKILL, wait=5.0):
    os.kill(pid, sig)
    check(wait_dead(pid, wait), f"pid {pid} still alive after {sig.name}")


def form_token(b, path):
    r = b.get(path)
    toks = form_tokens(r.body)
    check(toks, f"GET {path}: no csrf token")
    return toks[0]
