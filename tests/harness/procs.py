"""
procs.py - processes by pid: what a pid file lists, whether a process is
alive, its environment and children, and stopping it. Nothing here finds a
process by its name.
"""

import os
import signal
import time


def read_pids(path):
    try:
        with open(path) as f:
            return [int(x) for x in f.read().split() if x.strip().isdigit()]
    except FileNotFoundError:
        return []


def proc_state(pid):
    """'R', 'S', 'T', 'Z', ... or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(")") + 2:].split()[0]


def alive(pid):
    """False once the whole process is gone. A killed multi-threaded
    process shows its first thread as a zombie while the other threads are
    still exiting and its files (listening socket included) still open, so
    a zombie counts as dead only when no other thread of it is left."""
    s = proc_state(pid)
    if s is None:
        return False
    if s not in ("Z", "X"):
        return True
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    return any(t != str(pid) and proc_state_of_task(pid, t) not in (None, "Z", "X")
               for t in tasks)


def proc_state_of_task(pid, tid):
    try:
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(")") + 2:].split()[0]


def wait_dead(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


def pid_ours(pid, pidfile):
    """True when pid is alive and started no later than pidfile was last
    written (as deploy/local/stack judges it): after a crash the pid may
    belong to someone else by now, and that must never be signalled."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/stat") as f:
            boot = next(int(l.split()[1]) for l in f if l.startswith("btime "))
        written = os.stat(pidfile).st_mtime
    except (OSError, StopIteration, IndexError):
        return False
    started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return fields[0] not in ("Z", "X") and started <= written + 5


def proc_environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        data = f.read()
    env = {}
    for item in data.split(b"\0"):
        if b"=" in item:
            k, _, v = item.partition(b"=")
            env[k.decode()] = v.decode("utf-8", "replace")
    return env


def children(pid):
    """The pids whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def stop(pids, sig=signal.SIGTERM, wait=5.0, kids=()):
    """Sends sig to the pids that are alive, waits up to `wait` s for them
    to exit, then SIGKILLs what is left of them and of kids."""
    pids = [p for p in pids if p and alive(p)]
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    for p in list(pids) + list(kids):
        if alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
