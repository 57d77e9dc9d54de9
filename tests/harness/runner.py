"""
runner.py - runs a suite's tests: only those whose name contains one of the
words given on the command line (all without words), each within a time
limit; prints one line per test (indented lines under it: why it failed, or
its figures) and ends with exactly the line "N passed, M failed". The exit
status is 0 only when every selected test passed. SIGINT, SIGTERM and
SIGHUP stop the run where it is; what was started is still stopped.
"""

import signal
import sys
import time
import traceback

from .core import TestFailure, scale as time_scale
from .stack import HANDLED, Stack


class Interrupted(BaseException):
    pass


class TestTimeout(TestFailure):
    pass


def _on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def _on_alarm(signum, frame):
    raise TestTimeout("took longer than the per-test time limit")


def time_limit(seconds):
    """For a test that needs more than its suite's per-test time limit
    (seconds, multiplied by the suite's time scale like the limit itself)."""
    def mark(fn):
        fn.time_limit = seconds
        return fn
    return mark


class Tests:
    """A suite's tests in the order they run: @tests.case. @tests.after_down
    marks checks that need the stack stopped (every log line written)."""

    def __init__(self):
        self.cases = []
        self.after = []

    def case(self, fn):
        self.cases.append(fn)
        return fn

    def after_down(self, fn):
        self.after.append(fn)
        return fn


class Runner:
    def __init__(self, suite, patterns, limit, scale=1.0):
        self.suite = suite
        self.patterns = patterns
        self.limit = limit              # seconds per test
        self.scale = scale
        self.passed = 0
        self.failed = 0
        self.stopped = False            # interrupted

    def selected(self, fns):
        return [f for f in fns if not self.patterns
                or any(p in f.__name__ for p in self.patterns)]

    def __enter__(self):
        for s in HANDLED:
            signal.signal(s, _on_signal)
        signal.signal(signal.SIGALRM, _on_alarm)
        return self

    def __exit__(self, kind, value, tb):
        signal.alarm(0)
        for s in HANDLED:
            signal.signal(s, signal.SIG_IGN)
        if kind is Interrupted:
            self.interrupted(value)
            return True
        return False

    def run(self, fn, *args, name=None, quiet=False):
        """Runs one test; returns (passed, what it returned). A test fails by
        raising; what it returns (a note, its figures) is printed under its
        line. quiet: print nothing when it passes, and do not count it (set
        up and tear down)."""
        name = name or fn.__name__
        t0, err, note = time.monotonic(), None, None
        limit = getattr(fn, "time_limit", 0) * self.scale or self.limit
        signal.alarm(max(1, int(limit)))
        try:
            note = fn(*args)
        except TestFailure as e:
            err = str(e)
        except Exception:
            err = traceback.format_exc().rstrip()
        finally:
            signal.alarm(0)
        if err is None and quiet:
            return True, note
        self.report(name, err is None, time.monotonic() - t0, err or note)
        return err is None, note

    def report(self, name, ok, dt, text=None):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{name:<66} {'ok' if ok else 'FAIL'} {dt:6.2f}s")
        for line in str(text or "").splitlines():
            print(f"    {line}")
        sys.stdout.flush()

    def interrupted(self, e):
        self.stopped = True
        self.report("interrupted", False, 0.0, f"by {e}")

    def finish(self):
        """Prints the last line; returns the exit status."""
        if not self.passed and not self.failed:
            print(f"{self.suite}: no test matches {self.patterns}", file=sys.stderr)
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        if not self.passed and not self.failed:
            return 2
        return 1 if self.failed else 0


def run_on_one_stack(suite, tests, argv, settings=None, scale_knobs=(),
                     keep_knobs=(), limit=90):
    """The integration-style run: one stack up on free ports, the selected
    tests in order against it (each gets the Stack), the stack down, then
    the after-down checks. Returns the exit status."""
    scale = time_scale(*scale_knobs)
    runner = Runner(suite, argv, limit * scale, scale)
    todo, after = runner.selected(tests.cases), runner.selected(tests.after)
    if not todo and not after:
        return runner.finish()
    st = Stack(suite, scale, settings, keep=keep_knobs)
    tls = f" (TLS only on {st.redis_tls_port}, through stunnel)" if st.tls else ""
    print(f"{suite}: run dir {st.run_dir}, {st.front} on {st.http_port}, redis "
          f"{st.redis_port}{tls}, workers {st.worker_base + 1}..{st.worker_base + st.servers}",
          flush=True)
    up = False
    with runner:
        try:
            up, _ = runner.run(st.up, name="stack_up", quiet=True)
            for fn in todo if up else ():
                runner.run(fn, st)
        finally:
            runner.run(st.down, name="stack_down", quiet=True)
        for fn in after if up else ():
            runner.run(fn, st)
    st.close(failed=runner.failed > 0 or not up)
    return runner.finish()
