"""
runner.py - runs named checks, one line each (ok, FAIL with the reason, or
skip with why), and ends with "N passed, M failed"; the exit status is 1
when any failed.
"""

import sys
import time
import traceback

from procs import Failure


class Skip(Exception):
    pass


class Runner:
    def __init__(self, title):
        self.title = title
        self.passed = 0
        self.failed = 0
        print(title, flush=True)

    def check(self, name, fn, *args):
        start = time.monotonic()
        try:
            fn(*args)
        except Skip as e:
            print(f"{name:<58} skip  ({e})", flush=True)
            return
        except Failure as e:
            self.failed += 1
            print(f"{name:<58} FAIL  {time.monotonic() - start:.2f}s\n    {e}", flush=True)
            return
        except Exception:		# a bug in the check: say where
            self.failed += 1
            print(f"{name:<58} FAIL  {time.monotonic() - start:.2f}s", flush=True)
            traceback.print_exc(file=sys.stdout)
            return
        self.passed += 1
        print(f"{name:<58} ok    {time.monotonic() - start:.2f}s", flush=True)

    def note(self, line):
        print(f"    {line}", flush=True)

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0
