"""
threads.py - every worker thread of every live worker process, driven
directly over FastCGI, each on a kept-alive connection of its own.

Why this works (app/tier/worker.c): every thread of a process polls the
listening socket it shares with its sibling processes, together with the
kept-alive connections it holds, and a connection it has accepted stays
with it. A thread that has accepted a connection on which only a
BEGIN_REQUEST has arrived blocks reading the rest of that request and
accepts nothing else. So when as many connections as a server has threads
(processes x SHOAL_THREADS) are opened and held that way, each one is
taken by a thread of its own, and every thread holds one. The proof does
not rest on that reasoning: the first request on each connection is a
probe with a path of its own, and the workers log each request with their
pid and thread number; the probes must name every thread once.
"""

import time
import uuid

from . import fcgi, ports, procs
from .core import TestFailure, check


class ThreadConn:
    """A kept-alive connection held by one worker thread."""

    def __init__(self, server, port, timeout):
        self.server = server
        self.port = port
        self.conn = fcgi.Connection(port, timeout, keep=True)
        self.probe = None
        self.worker = None          # pid of the process
        self.thread = None          # thread number within the process

    def request(self, method, uri, cookie=None, body=b"", headers=None, extra=None):
        return self.conn.request(fcgi.params(method, uri, self.port, cookie, body,
                                             headers, extra), body)

    def close(self):
        self.conn.close()


class EveryThread:
    """with EveryThread(stack) as every: every.conns holds one connection per
    worker thread of every live worker process (SIGKILLed or stopped ones
    left out), its thread proven by the workers' own log."""

    def __init__(self, stack):
        self.stack = stack
        self.conns = []

    def __enter__(self):
        try:
            self._pin()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        for c in self.conns:
            c.close()

    def _pin(self):
        st = self.stack
        want = {}                   # pid -> threads it runs
        for k in st.server_ids():
            live = [p for p in st.server_pids(k)
                    if procs.proc_state(p) not in (None, "Z", "X", "T")]
            if not live:
                continue
            for p in live:
                want[p] = st.threads
            port = st.server_port(k)
            for _ in range(len(live) * st.threads):
                c = ThreadConn(k, port, st.timeout)
                self.conns.append(c)
                c.conn.begin()
        check(self.conns, "no live worker server to send to")
        # Every connection taken by a thread before any is let go: a thread
        # that has served its probe would take the next one waiting.
        deadline = time.monotonic() + 2 * st.scale
        for port in {c.port for c in self.conns}:
            while (ports.accept_queue(port) or 0) > 0 and time.monotonic() < deadline:
                time.sleep(0.01)
        tag = uuid.uuid4().hex[:12]
        sizes = st.log_sizes()
        for i, c in enumerate(self.conns):
            c.probe = f"/harness-probe/{tag}/{i}"
            c.conn.send(fcgi.encode_params(fcgi.params("GET", c.probe, c.port))
                        + fcgi.stream(fcgi.STDIN, b""))
            c.conn.begun = False
        for c in self.conns:
            c.conn.read()
        self._locate(sizes, want)

    def _locate(self, sizes, want):
        """Finds each probe in the workers' logs (a thread writes its lines
        once it has nothing to do) and checks that they name every thread of
        every live process once."""
        st = self.stack
        by_path = {c.probe: c for c in self.conns}
        deadline = time.monotonic() + 5 * st.scale
        while True:
            for j in st.log_events_since(sizes):
                c = by_path.get(j.get("path"))
                if c is not None:
                    c.worker = int(str(j.get("worker", "")).rpartition(":")[2])
                    c.thread = j.get("thread")
            if all(c.thread is not None for c in self.conns) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        unseen = [c.probe for c in self.conns if c.thread is None]
        check(not unseen, f"{len(unseen)} of {len(self.conns)} probes are in no worker "
              f"log after {5 * st.scale:.0f} s: {unseen[:3]}")
        got = {(c.worker, c.thread) for c in self.conns}
        missed = {p: n - len({t for w, t in got if w == p}) for p, n in want.items()}
        missed = {p: n for p, n in missed.items() if n}
        if len(got) != len(self.conns) or missed:
            raise TestFailure(
                f"the {len(self.conns)} connections reached {len(got)} distinct worker "
                f"threads; threads not reached, per pid: {missed}")

    def describe(self):
        return f"{len(self.conns)} worker threads ({len({c.worker for c in self.conns})} processes)"


def on_every_thread(stack, method, path, cookie=None, body=b"", headers=None):
    """Sends the same request straight to every worker thread of every live
    worker process. Returns [(server, status)], one per thread."""
    out = []
    with EveryThread(stack) as every:
        for c in every.conns:
            try:
                st = c.request(method, path, cookie, body, headers).status
            except (OSError, TestFailure) as e:
                st = repr(e)
            out.append((c.server, st))
    return sorted(out, key=lambda x: (x[0], str(x[1])))

