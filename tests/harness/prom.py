"""
prom.py - the local stack's Prometheus through its HTTP API
(SHOAL_MONITORING=1): scrape targets and their health, alerts and their
state, instant queries; and waiting, with a deadline, for one of them to
be as a test needs it.
"""

import json
import time
import urllib.parse
import urllib.request

from .core import TestFailure


def api(base, path, params=None, timeout=5.0):
    """GET base + /api/v1/PATH; its "data" when the answer says success."""
    url = f"{base}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body = json.loads(r.read().decode())
    if body.get("status") != "success":
        raise TestFailure(f"{url}: {body}")
    return body["data"]


def targets(base):
    """The active scrape targets: [{job, instance, health, lastError}]."""
    return [{"job": t["labels"].get("job"), "instance": t["labels"].get("instance"),
             "health": t["health"], "lastError": t.get("lastError", "")}
            for t in api(base, "targets", {"state": "active"})["activeTargets"]]


def alerts(base):
    """Pending and firing alerts: [{name, state, labels}]."""
    return [{"name": a["labels"]["alertname"], "state": a["state"], "labels": a["labels"]}
            for a in api(base, "alerts")["alerts"]]


def query(base, expr):
    """An instant query's vector: [(labels, float value)]."""
    data = api(base, "query", {"query": expr})
    return [(r["metric"], float(r["value"][1])) for r in data["result"]]


def wait_until(what, probe, timeout, step=0.25):
    """Calls probe() until it returns something true, for at most timeout
    seconds; returns that, or raises TestFailure naming what and the last
    thing probe returned (or raised)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            got = probe()
            if got:
                return got
            last = got
        except (OSError, ValueError, TestFailure) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() >= deadline:
            raise TestFailure(f"{what}: not so after {timeout:.0f}s; last: {str(last)[:600]}")
        time.sleep(step)
