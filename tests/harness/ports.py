"""
ports.py - the one port policy: every server a suite starts listens on a
loopback port BELOW the kernel's ephemeral range, checked free on
127.0.0.1. Outgoing connections (Redis clients, Sentinels, replicas, nginx
to the workers) take their local ports from the ephemeral range, so a
listening port picked there may be taken by one of them before its server
binds it.
"""

import random
import socket
import time

from .core import TestFailure

LOWEST = 10000


def ephemeral_low():
    """The first port of the kernel's ephemeral range."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Ports:
    """Hands out free ports below the ephemeral range, never the same one
    twice."""

    def __init__(self):
        self.taken = set()
        self.top = ephemeral_low()

    def span(self, n):
        """A base such that base .. base + n are all free: n + 1 ports."""
        for _ in range(500):
            base = random.randrange(LOWEST, self.top - n - 1)
            ports = range(base, base + n + 1)
            if not self.taken.intersection(ports) and all(port_free(p) for p in ports):
                self.taken.update(ports)
                return base
        raise TestFailure(f"no {n + 1} free loopback ports in a row below {self.top}")

    def one(self):
        return self.span(0)


def stack_ports(servers):
    """SHOAL_*_PORT settings for every part of the local stack: the front,
    the CDN edge and origin, Redis primary and replica (and their TLS ports),
    and ranges for up to 9 Sentinels and `servers` worker servers (their
    FastCGI ports and their metrics ports)."""
    p = Ports()
    return {
        "SHOAL_HTTP_PORT": p.one(), "SHOAL_CDN_PORT": p.one(),
        "SHOAL_CDN_ORIGIN_PORT": p.one(), "SHOAL_REDIS_PORT": p.one(),
        "SHOAL_REPLICA_PORT": p.one(), "SHOAL_SENTINEL_PORT_BASE": p.span(9),
        "SHOAL_WORKER_PORT_BASE": p.span(servers),
        "SHOAL_METRICS_PORT_BASE": p.span(servers),
        "SHOAL_REDIS_TLS_PORT": p.one(), "SHOAL_REPLICA_TLS_PORT": p.one(),
    }


def wait_port(port, timeout):
    """True once something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_unix(path, timeout):
    """True once something accepts connections on the unix socket at path."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            try:
                s.connect(path)
                return True
            except OSError:
                pass
        time.sleep(0.05)
    return False


def accept_queue(port):
    """Connections waiting to be accepted on the listening socket
    127.0.0.1:port (its rx_queue in /proc/net/tcp), or None when nothing
    listens there."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f:
            w = line.split()
            if len(w) > 4 and w[1] == want and w[3] == "0A":
                return int(w[4].split(":")[1], 16)
    return None
