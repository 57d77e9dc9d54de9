"""
engine.py - a Docker engine of the test's own: dockerd started by hand with
its data root, exec root, pid file and socket in one temp dir, stopped by
its pid, and what it may leave on the host (mounts, network links, iptables
rules, processes) compared with a snapshot taken before it started.

An engine that builds runs in the host's network namespace without a bridge
and without iptables rules (its RUN steps use the host's network, to reach
the package archive), so it changes nothing there. An engine that runs
containers runs in a network namespace of its own (unshare), where its
bridges, veths and iptables rules live and die with it; the test's own
clients move into that namespace to reach the published ports on loopback.
"""

import ctypes
import os
import shutil
import signal
import subprocess
import time

from .core import TestFailure
from .procs import alive, wait_dead

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def can_run_engine():
    """None when this machine can run the suite, else why not (one line)."""
    if os.geteuid() != 0:
        return "not root: dockerd needs root"
    for tool in ("dockerd", "docker-compose", "mmdebstrap", "ip", "iptables-save"):
        if not shutil.which(tool):
            return f"no {tool} (make deps installs it)"
    if not os.path.exists("/usr/bin/docker"):
        return "no /usr/bin/docker (Debian's docker.io)"
    return None


class NetNS:
    """The calling thread (the main thread, before any other starts) moves
    to a new network namespace with loopback up, and back to the host's."""

    def __init__(self):
        self.host_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.inside = False

    def enter(self):
        if _libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
        self.inside = True
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

    def add_address(self, cidr):
        """An address of its own (Swarm advertises one): a veth pair with
        both ends inside."""
        for args in (["link", "add", "ct0", "type", "veth", "peer", "name", "ct1"],
                     ["addr", "add", cidr, "dev", "ct0"],
                     ["link", "set", "ct0", "up"], ["link", "set", "ct1", "up"]):
            subprocess.run(["ip"] + args, check=True)

    def leave(self):
        if self.inside:
            if _libc.setns(self.host_fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns(host)")
            self.inside = False


class Engine:
    """dockerd with everything of its own under `root`. start() and stop();
    docker(...) and compose(...) run the clients against it."""

    def __init__(self, root, data_root, build_only=False):
        self.root = root
        self.data_root = data_root
        self.exec_root = os.path.join(root, "exec")
        self.sock = os.path.join(root, "docker.sock")
        self.pidfile = os.path.join(root, "dockerd.pid")
        self.log = os.path.join(root, "dockerd.log")
        self.build_only = build_only
        self.pid = None
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}")

    def start(self, timeout=60):
        args = ["dockerd", "--data-root", self.data_root, "--exec-root", self.exec_root,
                "--pidfile", self.pidfile, "-H", f"unix://{self.sock}",
                "--log-level", "warn"]
        if self.build_only:
            args += ["--bridge=none", "--iptables=false", "--ip-masq=false"]
        with open(self.log, "ab") as log:
            p = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        self.pid = p.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise TestFailure(f"dockerd exited {p.returncode}: {self.tail()}")
            if self.docker("version", "--format", "{{.Server.Version}}",
                           check=False, timeout=10).returncode == 0:
                return
            time.sleep(0.3)
        raise TestFailure(f"dockerd did not answer within {timeout}s: {self.tail()}")

    def tail(self, n=5):
        try:
            with open(self.log, errors="replace") as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def docker(self, *args, check=True, timeout=300, input=None):
        return self.run(["/usr/bin/docker"] + list(args), check, timeout, input)

    def run(self, argv, check, timeout, input=None, env=None):
        """argv with this engine's DOCKER_HOST (or env); raises when check
        and it exits non-zero."""
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           env=env or self.env, input=input)
        if check and p.returncode != 0:
            raise TestFailure(f"{' '.join(argv[:6])} ... exited {p.returncode}: "
                              f"{(p.stderr or p.stdout).strip()[-800:]}")
        return p

    def children(self):
        """Every process descended from dockerd (containerd, shims, the
        containers' processes), by /proc's parent links."""
        kids, parent = set(), {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        s = f.read()
                    parent[int(d)] = int(s[s.rindex(")") + 2:].split()[1])
                except (OSError, ValueError, IndexError):
                    pass
        frontier = {self.pid}
        while frontier:
            nxt = {p for p, pp in parent.items() if pp in frontier and p not in kids}
            kids |= nxt
            frontier = nxt
        return kids

    def stop(self, timeout=60):
        """SIGTERM to dockerd (it stops its containers and containerd), then
        SIGKILL to whatever of it is left, then unmount what it left under
        its root. Returns the pids that had to be killed."""
        if not self.pid:
            return []
        kids = self.children()
        if alive(self.pid):
            os.kill(self.pid, signal.SIGTERM)
            wait_dead(self.pid, timeout)
        killed = []
        for pid in [self.pid] + sorted(kids):
            if alive(pid):
                killed.append(pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for pid in killed:
            wait_dead(pid, 10)
        try:
            os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pass
        self.pid = None
        # dockerd leaves the bind mount of its default network namespace
        # (exec-root/netns/default) behind when it exits.
        for m in reversed(mounts_under(self.root)):
            subprocess.run(["umount", "-l", m], capture_output=True)
        return killed


# --------------------------------------------------------------------------
# what the host had before

def host_links():
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return sorted(l.split(":")[1].strip().split("@")[0] for l in out.splitlines() if ":" in l)


def host_rules():
    out = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    return sorted(l for l in out.splitlines()
                  if l and not l.startswith("#") and not l.startswith(":"))


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [l.split()[4] for l in f if l.split()[4].startswith(path)]


def processes_naming(path):
    """Pids whose command line or working directory names `path`."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
            cwd = os.readlink(f"/proc/{d}/cwd")
        except OSError:
            continue
        if path in cmd or cwd.startswith(path):
            out.append(int(d))
    return out


class HostSnapshot:
    """The host's network links and iptables rules; left_behind() lists
    what differs now, and the mounts and processes under the temp dir."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.links = host_links()
        self.rules = host_rules()

    def left_behind(self):
        out = []
        links = host_links()
        new_links = sorted(set(links) - set(self.links))
        if new_links:
            out.append(f"network links: {new_links}")
        rules = host_rules()
        added = sorted(set(rules) - set(self.rules))
        if added:
            out.append(f"iptables rules: {added[:5]}")
        m = mounts_under(self.tmp)
        if m:
            out.append(f"mounts: {m[:5]}")
        p = processes_naming(self.tmp)
        if p:
            out.append(f"processes: {p[:10]}")
        return out
