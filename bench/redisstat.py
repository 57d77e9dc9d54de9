"""bench/redisstat.py - CPU time of processes from /proc, and Redis CPU per
request, read the same way by bench/run and bench/cluster: utime + stime
of every redis-server of the stack (clock ticks, /proc/PID/stat) at the
start and at the end of a measured window, over the requests wrk counted
in it."""
import os
import re

CLK = os.sysconf("SC_CLK_TCK")


def proc_ticks(pids):
    """utime + stime of the pids, all threads (clock ticks); a pid that is
    gone counts 0."""
    t = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return t


def us_per_request(ticks, requests):
    """Clock ticks over a window -> microseconds per request."""
    return ticks * 1e6 / CLK / max(requests, 1)


def redis_pids(st):
    """Every redis-server process of a harness Stack, from its run dir's pid
    files: the cluster's nodes, or the primary with its replica and
    Sentinels when it has them."""
    names = [f[:-4] for f in st.pid_files()
             if re.fullmatch(r"(cluster-\d+|redis|replica|sentinel-\d+)\.pid", f)]
    return [p for n in names for p in st.pids(n)]

