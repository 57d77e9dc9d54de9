"""
core.py - what a failed check is, the repository's paths, the worker binary
under test and how much slower than usual it runs.
"""

import json
import os
import sys
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STACK = os.path.join(REPO, "deploy", "local", "stack")


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure(f"{what}: expected {want!r}, got {got!r}")


def excerpt(text, n=300):
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= n else text[:n] + "..."


def new_name(prefix="it"):
    """A user name no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def shoal_bin():
    """SHOAL_BIN (default build/shoal) as an absolute path, relative to the
    current directory or else to the repository; exits with status 2 when
    it is not an executable."""
    raw = os.environ.get("SHOAL_BIN", "build/shoal")
    path = os.path.abspath(raw)
    if not os.path.exists(path):
        path = os.path.join(REPO, raw)
    if not os.access(path, os.X_OK):
        print(f"run: SHOAL_BIN {raw} is not an executable (run make)", file=sys.stderr)
        sys.exit(2)
    return path


def sanitized():
    """1 when SHOAL_BIN is a sanitizer build (under build/san/): its memory
    figures are ASan's (shadow memory, a quarantine of freed blocks), not
    the worker's."""
    return "/san/" in os.path.abspath(os.environ.get("SHOAL_BIN", "build/shoal"))


def scale(*knobs):
    """How many times slower than usual the worker runs: the first of the
    environment variables `knobs` that is set, else 3 for a sanitizer build
    (a SHOAL_BIN under build/san/), else 1. Time limits are multiplied by it."""
    for k in knobs:
        if os.environ.get(k):
            return float(os.environ[k])
    return 3.0 if sanitized() else 1.0


def knob_on(*names):
    return any(os.environ.get(n) == "1" for n in names)


def non_json_lines(paths):
    """Every line of the files that is not one JSON object, as
    "FILE:LINE: text" (how a sanitizer report, a crash or a stray printf in
    a worker log shows up)."""
    bad = []
    for p in paths:
        with open(p, "rb") as f:
            for n, line in enumerate(f, 1):
                text = line.decode("utf-8", "replace").rstrip("\n")
                try:
                    ok = isinstance(json.loads(text), dict)
                except ValueError:
                    ok = False
                if not ok:
                    bad.append(f"{os.path.basename(p)}:{n}: {excerpt(text, 160)}")
    return bad


def check_logs_are_json(paths, least=1):
    """Every worker log line is one JSON object (a sanitizer report, a crash
    or a stray printf is not); at least `least` log files."""
    check(len(paths) >= least, f"worker logs: {paths}")
    bad = non_json_lines(paths)
    check(not bad, f"{len(bad)} log lines are not JSON objects: {bad[:5]}")


def check_no_errors_logged(paths):
    """No log line at level error and no request answered 500 (a bad
    statement, a missing grant, a misused template or JSON writer)."""
    seen = [excerpt(json.dumps(j), 200) for j in json_log_lines(paths)
            if j.get("status") == 500 or j.get("level") == "error"]
    check(not seen, f"{len(seen)} errors logged: {seen[:5]}")


def json_log_lines(paths):
    """Every log line of the files that is one JSON object, decoded."""
    for p in paths:
        with open(p, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if isinstance(j, dict):
                    yield j
