"""
procs.py - what the hardening checks start: a throwaway redis-server and
a worker listening on loopback TCP ports below the kernel's ephemeral range,
a keyring for it, each in a temporary directory that is removed afterwards.
Every process is stopped by its own pid.

Python 3 standard library only.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness.core import TestFailure  # noqa: E402
from harness.ports import Ports  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


Failure = TestFailure


def free_port():
    """A free loopback port below the kernel's ephemeral range (the tests'
    port policy, tests/harness/ports.py)."""
    return Ports().one()


def wait_for(what, test, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():
            return
        time.sleep(0.05)
    raise Failure(f"{what}: not within {timeout:g} s")


def stop(proc, timeout=30):
    """SIGTERM to proc's pid, SIGKILL if it lingers; its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else 0


class Redis:
    """redis-server on 127.0.0.1:port, nothing kept on disk."""

    def __init__(self, tmp):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", tmp,
             "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(f"redis-server on {self.port}", self.ping, 10)

    def ping(self):
        if self.proc.poll() is not None:
            raise Failure(f"redis-server exited with {self.proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        return stop(self.proc)


class Worker:
    """build/shoal (or SHOAL_BIN) serving FastCGI on 127.0.0.1:port, its
    log in the temporary directory. prefix runs it under another program
    (valgrind) that keeps the worker's pid."""

    def __init__(self, tmp, redis_port, env=None, prefix=(), ready_timeout=30):
        self.bin = os.environ.get("SHOAL_BIN") or os.path.join(ROOT, "build", "shoal")
        self.port = free_port()
        self.log = os.path.join(tmp, f"worker-{self.port}.log")
        keyring = os.path.join(tmp, "keyring")
        if not os.path.exists(keyring):
            line = subprocess.run([self.bin, "keygen"], check=True,
                                  capture_output=True, text=True).stdout
            fd = os.open(keyring, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(line)
        e = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
        e.update({"SHOAL_KEYRING": keyring, "SHOAL_REDIS": f"127.0.0.1:{redis_port}",
                  "SHOAL_COOKIE_SECURE": "0", "SHOAL_THREADS": "4",
                  "SHOAL_REDIS_TIMEOUT_MS": "5000"})
        e.update(env or {})
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                list(prefix) + [self.bin, "--listen", f"127.0.0.1:{self.port}"],
                env=e, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=logf)
        self.pid = self.proc.pid
        wait_for(f"worker on {self.port}", self.ready, ready_timeout)

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def ready(self):
        if self.proc.poll() is not None:
            raise Failure(f"worker exited with {self.proc.returncode}: "
                          f"{self.text()[-400:]!r}")
        return '"msg":"ready: ' in self.text()

    def stop(self, timeout=60):
        return stop(self.proc, timeout)


class TempDir:
    """A temporary directory, removed with everything in it on exit."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="shoal-hardening-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
        return False
