"""
pg.py - the database tier as the suites run it: a PostgreSQL 15 primary, a
streaming replica made with pg_basebackup -R (its own physical replication
slot) and PgBouncer in front of both, in a temporary folder of its own, on
free loopback ports (primary P, replica P + 1, PgBouncer P + 2), from the
same templates under deploy/postgres/ that deploy/local/stack renders.

    with PgTier() as db:
        db.psql("SELECT 1")                         # superuser, unix socket
        os.environ["SHOAL_DB"] = db.app_uri()       # shoal_app via PgBouncer

Roles (deploy/postgres/setup.sql): shoal_owner owns database shoal and runs
the migrations (admin_uri, directly to the primary), shoal_app is the
workers' role (app_uri, through PgBouncer: database "shoal" is the primary,
"shoal_replica" the replica), shoal_repl streams the WAL; their passwords
are random, in files of mode 0600. The superuser postgres connects only
over the unix socket, by peer authentication.

PostgreSQL and PgBouncer refuse to run as root: when we are root they run
as the OS user postgres (setpriv, which execs: no process sits between us
and them), in a folder that user owns. A TMPDIR that user cannot reach (one
under /root) is passed over for /tmp.

Only in this harness, for speed: fsync, full_page_writes and
synchronous_commit off, initdb and pg_basebackup without syncing. Never in
deploy/postgres.

Every process is stopped by its pid (postmaster.pid, pgbouncer.pid), never
by name. The folder, with every log, is removed by stop() when nothing
failed, and kept (and named) otherwise.
"""

import base64
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import string
import subprocess
import tempfile
import time

from . import procs
from .core import REPO, TestFailure, check, knob_on
from .ports import Ports, port_free, wait_port

PG_BIN = "/usr/lib/postgresql/15/bin"
PGBOUNCER = "/usr/sbin/pgbouncer"
TEMPLATES = os.path.join(REPO, "deploy", "postgres")
DB = "shoal"
SLOT = "shoal_replica_1"

# Test-only settings, appended after the deploy ones: durability is not what
# a test run needs, startup time is.
FAST = """
# tests/harness/pg.py only: never in a deployment
fsync = off
full_page_writes = off
synchronous_commit = off
shared_buffers = 16MB
max_connections = 60
log_min_duration_statement = -1
log_checkpoints = off
"""


def render(template, values):
    """The template's text with its @NAME@ fields filled from values; a
    field without a value is an error (as deploy/local/stack's render)."""
    with open(os.path.join(TEMPLATES, template)) as f:
        text = f.read()

    def field(m):
        if m.group(1) not in values:
            raise TestFailure(f"{template}: no value for {m.group(0)}")
        return str(values[m.group(1)])
    return re.sub(r"@([A-Z0-9_]+)@", field, text)


def random_password(n=32):
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def reachable_tempdir(prefix, uid, gid):
    """A fresh folder that uid (the postgres user) can reach: under TMPDIR
    when it can, else under /tmp."""
    for parent in (tempfile.gettempdir(), "/tmp"):
        if os.path.isdir(parent) and reachable_by(parent, uid, gid):
            return tempfile.mkdtemp(prefix=prefix, dir=parent)
    raise TestFailure(f"no temporary folder uid {uid} can reach")


def reachable_by(path, uid, gid):
    """True when every folder from / down to path lets uid through."""
    if uid == 0:
        return True
    p = os.path.abspath(path)
    parts = []
    while True:
        parts.append(p)
        if p == "/":
            break
        p = os.path.dirname(p)
    for d in parts:
        st = os.stat(d)
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


class PgTier:
    """One database tier. ports: None (free ones), a base port P, or a
    (primary, replica, bouncer) triple. scale multiplies the waits. keep
    names environment variables that, set to 1, keep the folder even when
    nothing failed. As a context manager: start on entry, stop on exit (the
    folder kept when the block raised).

    attach=RUN_DIR: instead, the tier deploy/local/stack started in that run
    dir (ports: its SHOAL_PG_PORT), for the faults a test injects there;
    stop() leaves it to `stack down`, and a primary or replica started
    again here is written to the stack's pid file, so that `stack down`
    stops it."""

    def __init__(self, ports=None, scale=1.0, keep=("PG_KEEP_DIR",), name="pg", attach=None):
        self.attached = attach is not None
        self.pid_files = {}
        if ports is None:
            base = Ports().span(2)
            ports = (base, base + 1, base + 2)
        elif isinstance(ports, int):
            ports = (ports, ports + 1, ports + 2)
        self.primary_port, self.replica_port, self.bouncer_port = map(int, ports)
        self.scale = scale
        self.keep = keep
        self.name = name
        self.failed = False
        self.started = False
        self.as_root = os.geteuid() == 0
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            self.uid, self.gid, self.os_user = pw.pw_uid, pw.pw_gid, "postgres"
        else:
            pw = pwd.getpwuid(os.geteuid())
            self.uid, self.gid, self.os_user = pw.pw_uid, pw.pw_gid, pw.pw_name
        if self.attached:
            # The stack's layout: deploy/local/stack's pg_home and db_up.
            self.dir = os.path.abspath(attach)
            self.pg_dir = os.path.realpath(os.path.join(self.dir, "pg"))
            self.app_password_file = os.path.join(self.dir, "db-password")
            self.admin_password_file = os.path.join(self.dir, "db-admin-password")
            self.pid_files = {"primary": os.path.join(self.dir, "postgres.pid"),
                              "replica": os.path.join(self.dir, "pg-replica.pid")}
            self.os_user = "postgres" if self.as_root else self.os_user
        else:
            self.dir = self._make_dir()
            # What runs as postgres lives in pg/ (its own); the password
            # files stay ours, outside it.
            self.pg_dir = os.path.join(self.dir, "pg")
            os.mkdir(self.pg_dir, 0o700)
            if self.as_root:
                os.chown(self.pg_dir, self.uid, self.gid)
            self.app_password_file = os.path.join(self.dir, "app-password")
            self.admin_password_file = os.path.join(self.dir, "admin-password")
        self.socket_dir = self.pg_dir
        self.primary_dir = os.path.join(self.pg_dir, "primary")
        self.replica_dir = os.path.join(self.pg_dir, "replica")
        self.repl_passfile = os.path.join(self.pg_dir, "replication.pgpass")
        self.bouncer_pidfile = os.path.join(self.pg_dir, "pgbouncer.pid")
        self.bouncer_ini = os.path.join(self.pg_dir, "pgbouncer.ini")
        self.bouncer_log = os.path.join(self.pg_dir, "pgbouncer.log")
        # Where PgBouncer sends "shoal" and "shoal_replica" (bouncer_reload
        # changes them after a promotion).
        self.bouncer_targets = {"primary": self.primary_port, "replica": self.replica_port}

    # ------------------------------------------------------------ folders
    def _make_dir(self):
        d = reachable_tempdir(f"shoal-{self.name}-", self.uid, self.gid)
        os.chmod(d, 0o711)
        return d

    def log_path(self, which):
        return os.path.join(self.pg_dir, f"{which}.log")

    # ------------------------------------------------------------ commands
    def _env(self, extra=None):
        env = {"PATH": f"{PG_BIN}:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
               "HOME": self.pg_dir, "PGSYSCONFDIR": self.pg_dir}
        env.update(extra or {})
        return env

    def _argv(self, argv):
        if self.as_root:
            return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}",
                    "--init-groups", "--"] + argv
        return argv

    def _run(self, argv, what, input=None, env=None, timeout=60):
        """Runs argv as the postgres user; returns its stdout. A non-zero
        exit fails the test with its stderr."""
        p = subprocess.run(self._argv(argv), input=input, capture_output=True,
                           env=self._env(env), cwd=self.pg_dir,
                           timeout=timeout * self.scale, text=True)
        if p.returncode != 0:
            self.failed = True
            raise TestFailure(f"{what}: exit {p.returncode}: {p.stderr.strip()[-2000:]}")
        return p.stdout

    def _write(self, path, text, mode=0o600, own=True):
        """A file of ours (own=False) or of the postgres user's."""
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(path + ".tmp", mode)
        if own and self.as_root:
            os.chown(path + ".tmp", self.uid, self.gid)
        os.replace(path + ".tmp", path)

    # ------------------------------------------------------------ start, stop
    def start(self):
        """initdb, primary, roles and database, replica, PgBouncer; returns
        once each answers. On failure everything started is stopped again
        and the folder is kept."""
        check(os.path.exists(os.path.join(PG_BIN, "initdb")), f"{PG_BIN}/initdb is missing")
        check(os.path.exists(PGBOUNCER), f"{PGBOUNCER} is missing (tools/deps installs it)")
        check(not self.attached, "an attached tier is the stack's to start")
        for p in (self.primary_port, self.replica_port, self.bouncer_port):
            check(port_free(p), f"port {p} is already in use")
        self.started = True
        try:
            self._init_primary()
            self.start_primary()
            self._setup()
            self._make_replica()
            self.start_replica()
            self._wait_streaming()
            self._write_bouncer_files()
            self._start_bouncer()
        except BaseException:
            self.failed = True
            self._stop_all()
            raise

    def _init_primary(self):
        self._run([os.path.join(PG_BIN, "initdb"), "-D", self.primary_dir, "-U", "postgres",
                   "--auth-local=peer", "--auth-host=scram-sha-256", "--data-checksums",
                   "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                  "initdb")
        self._configure(self.primary_dir, self.primary_port)

    def _configure(self, data, port):
        """The deploy configuration (shoal.conf, pg_hba.conf, pg_ident.conf)
        plus the test-only speed settings, written into a data folder."""
        conf = render("postgresql.conf.in", {"PORT": port, "SOCKET_DIR": self.socket_dir})
        self._write(os.path.join(data, "shoal.conf"), conf)
        self._write(os.path.join(data, "shoal-test.conf"), FAST)
        with open(os.path.join(TEMPLATES, "pg_hba.conf")) as f:
            self._write(os.path.join(data, "pg_hba.conf"), f.read())
        self._write(os.path.join(data, "pg_ident.conf"),
                    render("pg_ident.conf.in", {"OS_USER": self.os_user}))
        main = os.path.join(data, "postgresql.conf")
        with open(main) as f:
            text = f.read()
        if "include_if_exists = 'shoal.conf'" not in text:
            text += "\ninclude_if_exists = 'shoal.conf'\ninclude_if_exists = 'shoal-test.conf'\n"
            self._write(main, text)

    def _pg_ctl_start(self, data, which):
        self._run([os.path.join(PG_BIN, "pg_ctl"), "start", "-D", data, "-w",
                   "-t", str(int(60 * self.scale)), "-l", self.log_path(which)],
                  f"pg_ctl start ({which}); see {self.log_path(which)}")

    def _postmaster_pid(self, data):
        try:
            with open(os.path.join(data, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def _stop_postmaster(self, data, mode="fast"):
        """SIGINT (fast: roll back what is open, checkpoint, exit) or
        SIGQUIT (immediate: no checkpoint, like a crash) to the postmaster
        named in postmaster.pid; SIGKILL to it and its children if it has
        not exited in time. Returns the pid it stopped, or None."""
        pid = self._postmaster_pid(data)
        if not pid or not procs.alive(pid):
            return None
        kids = procs.children(pid)
        sig = signal.SIGQUIT if mode == "immediate" else signal.SIGINT
        procs.stop([pid], sig, wait=30 * self.scale, kids=kids)
        for k in kids:
            procs.wait_dead(k, 5)
        return pid

    def stop_primary(self, mode="fast"):
        """Stops the primary; returns its pid."""
        return self._stop_postmaster(self.primary_dir, mode)

    def start_primary(self):
        """Starts the primary (again); returns its pid once it answers."""
        return self._start_node(self.primary_dir, "primary")

    def stop_replica(self, mode="fast"):
        return self._stop_postmaster(self.replica_dir, mode)

    def start_replica(self):
        return self._start_node(self.replica_dir, "replica")

    def _start_node(self, data, which):
        self._pg_ctl_start(data, which)
        pid = self._postmaster_pid(data)
        check(pid, f"{data}/postmaster.pid names no pid")
        if which in self.pid_files:
            with open(self.pid_files[which] + ".tmp", "w") as f:
                f.write(f"{pid}\n")
            os.replace(self.pid_files[which] + ".tmp", self.pid_files[which])
        return pid

    def primary_pid(self):
        return self._postmaster_pid(self.primary_dir)

    def replica_pid(self):
        return self._postmaster_pid(self.replica_dir)

    def bouncer_pid(self):
        pids = procs.read_pids(self.bouncer_pidfile)
        return pids[0] if pids else None

    def pids(self):
        """Every pid of the tier that is alive: the postmasters, their
        children and PgBouncer."""
        out = []
        for p in (self.primary_pid(), self.replica_pid(), self.bouncer_pid()):
            if p and procs.alive(p):
                out.append(p)
                if p != self.bouncer_pid():
                    out += [k for k in procs.children(p) if procs.alive(k)]
        return out

    def _setup(self):
        """Roles and database (deploy/postgres/setup.sql), then their
        passwords: new random ones, set over the unix socket and kept in
        files of mode 0600."""
        with open(os.path.join(TEMPLATES, "setup.sql")) as f:
            self.psql(f.read(), db="postgres")
        self.app_password = random_password()
        self.admin_password = random_password()
        self.repl_password = random_password()
        self._write(self.app_password_file, self.app_password + "\n", own=False)
        self._write(self.admin_password_file, self.admin_password + "\n", own=False)
        self._write(self.repl_passfile,
                    f"127.0.0.1:{self.primary_port}:replication:shoal_repl:{self.repl_password}\n")
        # No log line may quote these statements, not even on an error.
        self.psql("SET log_min_error_statement = panic; SET log_min_duration_statement = -1; "
                  "SET log_statement = none;\n"
                  f"ALTER ROLE shoal_app PASSWORD '{self.app_password}';\n"
                  f"ALTER ROLE shoal_owner PASSWORD '{self.admin_password}';\n"
                  f"ALTER ROLE shoal_repl PASSWORD '{self.repl_password}';\n", db="postgres")

    def _make_replica(self):
        """pg_basebackup -R from the primary as shoal_repl, with a physical
        slot of its own (-C -S): standby.signal and primary_conninfo come
        with it; the port is the replica's own."""
        self._run([os.path.join(PG_BIN, "pg_basebackup"), "-h", "127.0.0.1",
                   "-p", str(self.primary_port), "-U", "shoal_repl", "-D", self.replica_dir,
                   "-R", "-X", "stream", "-C", "-S", SLOT, "--checkpoint=fast",
                   "--no-sync", "-w"],
                  "pg_basebackup", env={"PGPASSFILE": self.repl_passfile})
        conf = render("postgresql.conf.in", {"PORT": self.replica_port,
                                              "SOCKET_DIR": self.socket_dir})
        self._write(os.path.join(self.replica_dir, "shoal.conf"), conf)

    def _wait_streaming(self):
        deadline = time.monotonic() + 30 * self.scale
        while True:
            out = self.psql("SELECT state FROM pg_stat_replication WHERE application_name "
                            "IS NOT NULL AND state = 'streaming'", db="postgres")
            if "streaming" in out:
                return
            check(time.monotonic() < deadline,
                  f"the replica is not streaming after {30 * self.scale:.0f} s; "
                  f"see {self.log_path('replica')}")
            time.sleep(0.05)

    # ------------------------------------------------------------ PgBouncer
    def _bouncer_users(self):
        """auth_file: shoal_app's SCRAM secret as the primary stores it;
        and postgres, which PgBouncer must know to let it in at all, with a
        secret made of random keys that no password matches (it gets in by
        peer only, pgbouncer_hba.conf)."""
        secret = self.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'shoal_app'",
                           db="postgres").strip()
        check(secret.startswith("SCRAM-SHA-256$"), "shoal_app's password is not stored as SCRAM")
        b64 = lambda n: base64.b64encode(secrets.token_bytes(n)).decode()
        nobody = f"SCRAM-SHA-256$4096:{b64(16)}${b64(32)}:{b64(32)}"
        return f'"shoal_app" "{secret}"\n"postgres" "{nobody}"\n'

    def _write_bouncer_files(self):
        self._write(os.path.join(self.pg_dir, "pgbouncer-users.txt"), self._bouncer_users())
        with open(os.path.join(TEMPLATES, "pgbouncer_hba.conf")) as f:
            self._write(os.path.join(self.pg_dir, "pgbouncer_hba.conf"), f.read())
        self._write_bouncer_ini()

    def _write_bouncer_ini(self):
        self._write(self.bouncer_ini, render("pgbouncer.ini.in", {
            "PORT": self.bouncer_port, "SOCKET_DIR": self.socket_dir,
            "CONF_DIR": self.pg_dir, "LOG_FILE": self.bouncer_log,
            "PID_FILE": self.bouncer_pidfile,
            "PRIMARY_PORT": self.bouncer_targets["primary"],
            "REPLICA_PORT": self.bouncer_targets["replica"]}))

    def _start_bouncer(self):
        try:
            os.unlink(self.bouncer_pidfile)
        except FileNotFoundError:
            pass
        self._run([PGBOUNCER, "-d", "-q", self.bouncer_ini],
                  f"pgbouncer; see {self.bouncer_log}")
        check(wait_port(self.bouncer_port, 15 * self.scale),
              f"PgBouncer does not listen on {self.bouncer_port}; see {self.bouncer_log}")
        deadline = time.monotonic() + 5 * self.scale
        while not self.bouncer_pid():
            check(time.monotonic() < deadline, "PgBouncer wrote no pid file")
            time.sleep(0.02)

    def bouncer_reload(self, primary_port=None, replica_port=None):
        """Rewrites pgbouncer.ini, pointing "shoal" and "shoal_replica" at
        the given ports (after a promotion: the promoted replica's), and
        makes PgBouncer read it again (RELOAD on its admin console, as
        postgres over the unix socket)."""
        if primary_port:
            self.bouncer_targets["primary"] = int(primary_port)
        if replica_port:
            self.bouncer_targets["replica"] = int(replica_port)
        self._write_bouncer_ini()
        if self.os_user != "postgres":
            # The admin console is the OS user postgres's only: SIGHUP
            # makes PgBouncer read its files again too, without an answer.
            pid = self.bouncer_pid()
            check(pid and procs.alive(pid), "PgBouncer is not running")
            os.kill(pid, signal.SIGHUP)
            time.sleep(0.5)
            return
        self._run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-h", self.socket_dir,
                   "-p", str(self.bouncer_port), "-U", "postgres", "-d", "pgbouncer",
                   "-c", "RELOAD"], "pgbouncer RELOAD")

    def bouncer_show(self, what):
        """SHOW what on the admin console: its rows, '|'-separated."""
        return self._run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t",
                          "-h", self.socket_dir, "-p", str(self.bouncer_port),
                          "-U", "postgres", "-d", "pgbouncer", "-c", f"SHOW {what}"],
                         f"pgbouncer SHOW {what}")

    # ------------------------------------------------------------ SQL
    def target_port(self, target):
        ports = {"primary": self.primary_port, "replica": self.replica_port,
                 "bouncer": self.bouncer_port}
        check(target in ports, f"unknown target {target!r}")
        return ports[target]

    def psql(self, sql, target="primary", user="postgres", db=DB, check_rc=True):
        """Runs sql (stdin, ON_ERROR_STOP) with psql; returns stdout (rows
        unaligned, '|'-separated, no headers). As postgres: over the unix
        socket, by peer. As shoal_owner or shoal_app: over TCP with the
        password from its file (target "bouncer": through PgBouncer). With
        check_rc=False returns (exit status, stdout, stderr) instead of
        failing."""
        argv = [os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-p", str(self.target_port(target)), "-U", user, "-d", db, "-f", "-"]
        env = self._env()
        if user == "postgres":
            argv[1:1] = ["-h", self.socket_dir]
            cmd = self._argv(argv)
        else:
            argv[1:1] = ["-h", "127.0.0.1", "-w"]
            env["PGPASSWORD"] = self.password_of(user)
            env["PGCONNECT_TIMEOUT"] = str(int(10 * self.scale))
            cmd = argv
        p = subprocess.run(cmd, input=sql, capture_output=True, env=env, text=True,
                           cwd=self.pg_dir, timeout=60 * self.scale)
        if not check_rc:
            return p.returncode, p.stdout, p.stderr
        if p.returncode != 0:
            raise TestFailure(f"psql ({target}, {user}) exit {p.returncode}: "
                              f"{p.stderr.strip()[-1500:]}")
        return p.stdout

    def password_of(self, user):
        files = {"shoal_app": self.app_password_file, "shoal_owner": self.admin_password_file}
        check(user in files, f"no password file for {user!r}")
        with open(files[user]) as f:
            return f.readline().rstrip("\r\n")

    def app_uri(self, target="primary"):
        """libpq URI of shoal_app through PgBouncer (no password: it is in
        app_password_file): database "shoal" for the primary,
        "shoal_replica" for the replica."""
        db = {"primary": "shoal", "replica": "shoal_replica"}
        check(target in db, f"unknown target {target!r}")
        return f"postgresql://shoal_app@127.0.0.1:{self.bouncer_port}/{db[target]}"

    def admin_uri(self):
        """libpq URI of shoal_owner, directly to the primary (migrations)."""
        return f"postgresql://shoal_owner@127.0.0.1:{self.primary_port}/shoal"

    def worker_env(self):
        """The SHOAL_DB* settings a worker takes to use this tier, and the
        SHOAL_DB_ADMIN* ones `shoal db migrate` takes."""
        return {"SHOAL_DB": self.app_uri("primary"),
                "SHOAL_DB_REPLICAS": self.app_uri("replica"),
                "SHOAL_DB_PASSWORD_FILE": self.app_password_file,
                "SHOAL_DB_ADMIN": self.admin_uri(),
                "SHOAL_DB_ADMIN_PASSWORD_FILE": self.admin_password_file}

    # ------------------------------------------------------------ replication
    def primary_lsn(self):
        return self.psql("SELECT pg_current_wal_lsn()").strip()

    def replay_lsn(self):
        """The replica's last replayed WAL position (e.g. '0/3000148')."""
        return self.psql("SELECT pg_last_wal_replay_lsn()", target="replica").strip()

    def replayed_past(self, lsn):
        """True when the replica has replayed lsn."""
        out = self.psql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn",
                        target="replica").strip()
        return out == "t"

    def wait_replayed(self, lsn=None, timeout=15):
        """Waits until the replica has replayed lsn (default: the
        primary's current position)."""
        lsn = lsn or self.primary_lsn()
        deadline = time.monotonic() + timeout * self.scale
        while not self.replayed_past(lsn):
            check(time.monotonic() < deadline,
                  f"the replica has not replayed {lsn} after {timeout * self.scale:.0f} s "
                  f"(it is at {self.replay_lsn()})")
            time.sleep(0.02)

    def pause_replay(self):
        """pg_wal_replay_pause() on the replica; returns once it is paused
        (WAL still arrives; it is not applied)."""
        self.psql("SELECT pg_wal_replay_pause()", target="replica")
        deadline = time.monotonic() + 15 * self.scale
        while self.psql("SELECT pg_get_wal_replay_pause_state()",
                        target="replica").strip() != "paused":
            check(time.monotonic() < deadline, "replay not paused after 15 s")
            time.sleep(0.02)

    def resume_replay(self):
        self.psql("SELECT pg_wal_replay_resume()", target="replica")

    def promote_replica(self):
        """Promotes the replica to a primary (pg_promote, waiting for it);
        PgBouncer still sends "shoal" to the old primary's port until
        bouncer_reload(primary_port=tier.replica_port)."""
        out = self.psql("SELECT pg_promote(true, 60)", target="replica").strip()
        check(out == "t", f"pg_promote answered {out!r}")
        check(self.psql("SELECT pg_is_in_recovery()", target="replica").strip() == "f",
              "the replica is still in recovery after pg_promote")

    # ------------------------------------------------------------ the end
    def _stop_all(self):
        """Stops PgBouncer, the replica and the primary by their pids."""
        left = []
        pid = self.bouncer_pid()
        if pid and procs.alive(pid):
            procs.stop([pid], signal.SIGINT, wait=10 * self.scale)
            if procs.alive(pid):
                left.append(pid)
        for data in (self.replica_dir, self.primary_dir):
            pid = self._stop_postmaster(data)
            if pid and procs.alive(pid):
                left.append(pid)
        return left

    def stop(self, failed=False):
        """Stops everything by pid; removes the folder when nothing failed
        (and no keep variable is 1), else keeps it and names it. An attached
        tier is left as it is, to `stack down`."""
        if self.attached or (not self.started and not os.path.isdir(self.dir)):
            return
        self.started = False
        left = self._stop_all()
        if failed or self.failed or left or knob_on(*self.keep):
            print(f"{self.name}: database tier folder kept: {self.dir}", flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        check(not left, f"database tier processes still alive after stop: {left}")

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop(failed=True)
            raise
        return self

    def __exit__(self, kind, value, tb):
        self.stop(failed=kind is not None)
        return False
