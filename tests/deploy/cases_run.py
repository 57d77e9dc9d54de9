"""
cases_run.py - `make run` (deploy/local/run) leaves nothing running however
it ends: its terminal closed (SIGHUP), Ctrl-C on `make run | tee log`
(SIGINT to the whole process group; tee is gone, so every write after it
fails), its reader gone and then SIGPIPE, and its controlling terminal gone
without any signal at all.

Each test starts deploy/local/run itself, as `make run` does, with the
stack's defaults but on free loopback ports and with a run dir of its own
(SHOAL_*_PORT, SHOAL_RUN_DIR); waits for it to say the stack is running;
ends it one way; and checks that, within STOP_WITHIN seconds, every process
the run dir's pid files named is gone, no port of the stack listens, and
run itself has exited. Whatever is left is then stopped by pid (`stack
down`, then SIGKILL to what the snapshot of the pid files named).
"""

import os
import pty
import select
import signal
import subprocess
import time

from harness import procs
from harness.core import REPO, TestFailure, check
from harness.ports import accept_queue
from harness.runner import Tests
from harness.stack import Stack

TESTS = Tests()
case = TESTS.case
RUN = os.path.join(REPO, "deploy", "local", "run")
UP_WITHIN = 90          # seconds for run to say the stack is up (times scale)
STOP_WITHIN = 20        # seconds for everything to be gone (times scale): 4 s idle, 12 s seen on a busy machine
RUNNING = b"Ctrl-C stops the stack."   # the last line run prints before it waits


def start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def child_setup():
    """In a forked child before exec: signals as a shell would leave them
    (Python ignores SIGPIPE; a test's handlers do not survive exec)."""
    for s in (signal.SIGPIPE, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)
    signal.alarm(0)


class LocalRun:
    """deploy/local/run on a stack of its own: the Stack gives the
    environment (free ports, run dir, worker binary) and, at the end, stops
    by pid whatever is left."""

    def __init__(self, ctx, name):
        self.ctx = ctx
        self.st = Stack(f"deploy-run-{name}", ctx.scale, inherit=False,
                        keep=("DEPLOY_KEEP_RUN_DIR",))
        self.env = dict(self.st.env)
        self.log = self.st.path("run.out")
        self.seen = b""
        self.known = {}                 # pid -> start time, from the pid files
        self.ports = []
        self.pids = []                  # processes of ours to end at close()
        self.autoscaler = False         # `make run` starts one (SHOAL_AUTOSCALE)

    # ------------------------------------------------------------ output
    def wait_text(self, read, text, what):
        """Calls read() (new output, or b"") until text has been seen."""
        deadline = time.monotonic() + UP_WITHIN * self.ctx.scale
        while text not in self.seen:
            if time.monotonic() > deadline:
                raise TestFailure(f"{what}: no {text!r} within "
                                  f"{UP_WITHIN * self.ctx.scale:.0f} s; run printed:\n"
                                  + self.seen.decode("utf-8", "replace")[-2000:])
            self.seen += read()

    def pty_reader(self, fd):
        def read():
            r, _, _ = select.select([fd], [], [], 0.2)
            if not r:
                return b""
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                time.sleep(0.2)
            with open(self.log, "ab") as f:
                f.write(data)
            return data
        return read

    def file_reader(self, path):
        def read():
            time.sleep(0.1)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                return b""
            new = data[len(self.seen):]
            return new
        return read

    # ------------------------------------------------------------ the stack
    def snapshot(self):
        """Every pid the run dir's pid files name (with its start time, so
        a pid reused later is never taken for ours) and every port of the
        stack."""
        st = self.st
        for f in st.pid_files():
            for p in procs.read_pids(st.path(f)):
                t = start_time(p)
                if t is not None:
                    self.known[p] = t
        e = st.env
        self.ports = ([st.http_port, st.cdn_port, int(e["SHOAL_CDN_ORIGIN_PORT"]),
                       st.redis_port, st.replica_port] + st.sentinel_ports()
                      + [st.worker_base + k for k in range(1, st.servers + 1)])
        want = st.servers * st.procs + 3 + 1 + st.sentinels
        if st.database:
            # PostgreSQL's primary, its replica and PgBouncer (accounts).
            self.ports += [st.pg_port, st.pg_port + 1, st.pg_port + 2]
            want += 3
        if self.autoscaler:
            want += 1
            check("autoscale.pid" in st.pid_files(), "make run started no autoscaler")
        check(len(self.known) == want,
              f"the run dir's pid files name {len(self.known)} processes, expected "
              f"{want}: {sorted(st.pid_files())}")
        listening = [p for p in self.ports if accept_queue(p) is not None]
        check(len(listening) == len(self.ports),
              f"only {listening} of the stack's ports {self.ports} listen")

    def alive(self):
        return sorted(p for p, t in self.known.items()
                      if start_time(p) == t and procs.alive(p))

    def wait_stopped(self, run_pid, how):
        """Everything gone within STOP_WITHIN s: the stack's processes, its
        listening ports, and run itself. Returns a note with the time."""
        t0 = time.monotonic()
        limit = STOP_WITHIN * self.ctx.scale
        run_t = start_time(run_pid)
        while True:
            left = self.alive()
            ports = [p for p in self.ports if accept_queue(p) is not None]
            run_alive = start_time(run_pid) == run_t and procs.alive(run_pid)
            if not left and not ports and not run_alive:
                return f"{how}: everything stopped in {time.monotonic() - t0:.1f} s"
            if time.monotonic() - t0 > limit:
                names = {p: self.named(p) for p in left}
                raise TestFailure(
                    f"{how}: {limit:.0f} s later still running: {names or 'nothing'}; "
                    f"listening: {ports or 'nothing'}; run (pid {run_pid}) "
                    f"{'still running' if run_alive else 'exited'}\nrun printed:\n"
                    + self.output()[-1500:])
            time.sleep(0.1)

    def named(self, pid):
        for f in self.st.pid_files():
            if pid in procs.read_pids(self.st.path(f)):
                return f
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return f.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            return "?"

    def output(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return self.seen.decode("utf-8", "replace")

    def close(self, failed):
        """Ends our own processes that are still there, then `stack down`
        and SIGKILL by pid (Stack.down); the run dir is kept on failure."""
        for p, t in self.pids:
            if start_time(p) == t and procs.alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        left = self.alive()
        self.st.started = True
        try:
            self.st.close(failed=failed)
        except TestFailure:
            if not failed:
                raise
        for p in left:
            if start_time(p) == self.known[p]:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        for p, _ in self.pids:
            try:
                os.waitpid(p, os.WNOHANG)
            except ChildProcessError:
                pass

    def own(self, pid):
        self.pids.append((pid, start_time(pid)))

    # ------------------------------------------------------------ ways to start
    def in_a_terminal(self):
        """An interactive shell as the session leader of a new
        pseudo-terminal (a terminal window) with `make run` typed at its
        prompt (-o deps -o all: only run's own recipe, no install, no
        build): (shell pid, master fd)."""
        env = dict(self.env, HISTFILE="", PS1="$ ", TERM="dumb")
        pid, fd = pty.fork()
        if pid == 0:
            try:
                child_setup()
                os.chdir(REPO)
                os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "-i"], env)
            finally:
                os._exit(127)
        self.own(pid)
        self.autoscaler = "SHOAL_AUTOSCALE" not in env     # make run's default
        os.write(fd, b"exec 2>&1; make --no-print-directory -o deps -o all run\n")
        return pid, fd

    def run_pid_under(self, shell):
        """The pid of deploy/local/run below the shell (and make)."""
        deadline = time.monotonic() + 10 * self.ctx.scale
        while time.monotonic() < deadline:
            todo = [shell]
            while todo:
                for p in procs.children(todo.pop()):
                    try:
                        with open(f"/proc/{p}/cmdline", "rb") as f:
                            argv = f.read().split(b"\0")
                    except OSError:
                        continue
                    if any(a.endswith(b"deploy/local/run") for a in argv[:2]):
                        return p
                    todo.append(p)
            time.sleep(0.05)
        raise TestFailure(f"no deploy/local/run below the shell (pid {shell})")

    def piped_to_tee(self):
        """`run | tee run.out` in a process group of their own, as a shell
        runs a pipeline: (run, tee) Popen objects."""
        run = subprocess.Popen([RUN], env=self.env, cwd=REPO, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               process_group=0)
        self.own(run.pid)
        tee = subprocess.Popen(["tee", self.log], stdin=run.stdout,
                               stdout=subprocess.DEVNULL, process_group=run.pid)
        self.own(tee.pid)
        run.stdout.close()
        return run, tee


def with_run(name, body):
    """Runs body(LocalRun) and always stops what is left."""
    def test(ctx):
        lr = LocalRun(ctx, name)
        failed = True
        try:
            note = body(lr)
            failed = False
            return note
        finally:
            lr.close(failed)
    test.__name__ = body.__name__
    return test


# --------------------------------------------------------------------------

def local_run_stops_the_stack_when_its_terminal_closes(lr):
    """`make run` typed into an interactive shell in a terminal, and the
    terminal window closed: the pty's master goes away, the kernel hangs
    the terminal up, the shell gets SIGHUP and passes it on to its jobs, and
    as the shell exits the foreground process group gets SIGHUP once more
    (whatever `stack down` run started by then included)."""
    shell, fd = lr.in_a_terminal()
    try:
        lr.wait_text(lr.pty_reader(fd), RUNNING, "run in a terminal")
        run_pid = lr.run_pid_under(shell)
        lr.own(run_pid)
        lr.snapshot()
    finally:
        os.close(fd)
    return lr.wait_stopped(run_pid, "terminal closed")


def local_run_piped_to_tee_stops_the_stack_on_ctrl_c(lr):
    """Ctrl-C on `make run | tee log`: SIGINT to the whole foreground
    process group, so tee dies too and every write run makes on the way
    down fails (SIGPIPE, EPIPE)."""
    run, tee = lr.piped_to_tee()
    lr.wait_text(lr.file_reader(lr.log), RUNNING, "run | tee")
    lr.snapshot()
    os.killpg(run.pid, signal.SIGINT)
    note = lr.wait_stopped(run.pid, "SIGINT to run | tee")
    tee.wait(5)
    return note


def local_run_whose_reader_died_stops_the_stack_on_sigpipe(lr):
    """`make run | tee log` where tee alone dies (killed, or its disk
    full): run's next write raises SIGPIPE, and then every write fails."""
    run, tee = lr.piped_to_tee()
    lr.wait_text(lr.file_reader(lr.log), RUNNING, "run | tee")
    lr.snapshot()
    tee.kill()
    tee.wait(5)
    os.kill(run.pid, signal.SIGPIPE)
    return lr.wait_stopped(run.pid, "tee killed, then SIGPIPE")


def local_run_stops_the_stack_on_sigterm(lr):
    run, tee = lr.piped_to_tee()
    lr.wait_text(lr.file_reader(lr.log), RUNNING, "run | tee")
    lr.snapshot()
    os.kill(run.pid, signal.SIGTERM)
    note = lr.wait_stopped(run.pid, "SIGTERM to run")
    tee.wait(5)
    return note


def local_run_stops_the_stack_when_its_terminal_goes_away_without_a_signal(lr):
    """run in a background process group of a terminal's session (`make
    run &`); the session's leader dies without passing SIGHUP on (killed)
    and the terminal closes. run gets no signal at all: it loses its
    controlling terminal, and must notice."""
    r, w = os.pipe()
    leader, fd = pty.fork()
    if leader == 0:
        try:
            os.close(r)
            child_setup()
            pid = os.fork()
            if pid == 0:
                os.setpgid(0, 0)
                os.chdir(REPO)
                os.execve(RUN, [RUN], lr.env)
            os.write(w, f"{pid}\n".encode())
            while True:
                signal.pause()
        finally:
            os._exit(127)
    lr.own(leader)
    os.close(w)
    try:
        with os.fdopen(r) as f:
            run_pid = int(f.readline())
        lr.own(run_pid)
        lr.wait_text(lr.pty_reader(fd), RUNNING, "run in the background of a terminal")
        lr.snapshot()
        os.kill(leader, signal.SIGKILL)
        os.waitpid(leader, 0)
    finally:
        os.close(fd)
    return lr.wait_stopped(run_pid, "terminal gone, no signal")


for _body in (local_run_stops_the_stack_when_its_terminal_closes,
              local_run_piped_to_tee_stops_the_stack_on_ctrl_c,
              local_run_whose_reader_died_stops_the_stack_on_sigpipe,
              local_run_stops_the_stack_on_sigterm,
              local_run_stops_the_stack_when_its_terminal_goes_away_without_a_signal):
    case(with_run(_body.__name__.replace("local_run_", ""), _body))
