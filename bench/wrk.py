"""bench/wrk.py - wrk's command line and its report, read the same way by
every bench script (bench/run, bench/db, bench/cluster)."""
import os
import re

LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lua")


def ms(v):
    """wrk's "1.23ms", "870.00us", "2.01s", "1.00m" in milliseconds."""
    for suf, mul in (("us", 0.001), ("ms", 1.0), ("m", 60000.0), ("s", 1000.0)):
        if v.endswith(suf):
            return float(v[:-len(suf)]) * mul
    return float(v)


def command(url, dur, conns, threads, script=None, args=(), headers=(), timeout=2, latency=True):
    """wrk's argv: a script named by file name is one of bench/lua/."""
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % dur, "--timeout", "%ds" % timeout]
    if latency:
        cmd.append("--latency")
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", os.path.join(LUA, script)]
    cmd.append(url)
    if args:
        cmd += ["--"] + [str(a) for a in args]
    return cmd


def parse(text):
    """requests/s, latency (ms), counts and the script's own "bench: k=v ..."
    line (extra) from wrk's report."""
    m = {"rps": 0.0, "p50": 0.0, "p99": 0.0, "avg": 0.0, "requests": 0, "non2xx": 0,
         "sockerr": 0, "timeouts": 0, "extra": {}}
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "Latency" and len(f) > 1 and f[1] != "Distribution":
            m["avg"] = ms(f[1])
        elif f[0] == "50%":
            m["p50"] = ms(f[1])
        elif f[0] == "99%":
            m["p99"] = ms(f[1])
        elif "requests in" in line:
            m["requests"] = int(f[0])
        elif line.strip().startswith("Non-2xx"):
            m["non2xx"] = int(f[-1])
        elif line.strip().startswith("Socket errors"):
            nums = [int(x.strip(",")) for x in re.findall(r"\d+,?", line)]
            m["sockerr"] = sum(nums)
            m["timeouts"] = nums[-1] if nums else 0
        elif f[0] == "Requests/sec:":
            m["rps"] = float(f[1])
        elif f[0] == "bench:":
            for kv in f[1:]:
                k, _, v = kv.partition("=")
                m["extra"][k] = int(v) if v.isdigit() else v
    m["errors"] = m["non2xx"] + m["sockerr"]
    return m
