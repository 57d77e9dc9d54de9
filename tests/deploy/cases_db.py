"""
cases_db.py - the database tier: the local stack with SHOAL_DATABASE=1
(deploy/local/stack: a PostgreSQL primary, a streaming replica and
PgBouncer, configured from deploy/postgres/), and the test harness's own
tier (tests/harness/pg.py) that the other suites use.

The stack tests share one stack, started by the first of them that runs and
stopped by `database_tier_stack_down_leaves_no_postgres_or_pgbouncer_alive`
(or by close() from tests/deploy/run, whatever happened). Each harness test
starts a PgTier of its own.
"""

import os
import pwd
import stat
import subprocess
import time

from harness import procs
from harness.core import REPO, TestFailure, check, check_eq
from harness.pg import PG_BIN, PgTier
from harness.runner import Tests
from harness.stack import Stack

TESTS = Tests()
case = TESTS.case
PSQL = os.path.join(PG_BIN, "psql")

_shared = {"stack": None, "failed": None}


def shared(ctx):
    """The stack these tests share, up with the database tier."""
    if _shared["failed"]:
        raise TestFailure(f"the database stack did not come up: {_shared['failed']}")
    if _shared["stack"] is None:
        st = Stack("deploy-db", ctx.scale, {"SHOAL_DATABASE": "1"}, inherit=False,
                   keep=("DEPLOY_KEEP_RUN_DIR",))
        _shared["stack"] = st
        try:
            st.up()
        except BaseException as e:
            _shared["failed"] = str(e).splitlines()[0] if str(e) else type(e).__name__
            close(failed=True)
            raise
    return _shared["stack"]


def close(failed=False):
    """Stops the shared stack if a test started it (tests/deploy/run calls
    this after the last test, whatever happened)."""
    st, _shared["stack"] = _shared["stack"], None
    if st is not None:
        st.close(failed=failed)


def psql_tcp(port, user, password, db, sql, timeout=20):
    """psql over TCP to 127.0.0.1:port as user with password (None: none
    at all): (exit status, stdout, stderr)."""
    env = {"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5", "LC_ALL": "C.UTF-8"}
    if password is not None:
        env["PGPASSWORD"] = password
    p = subprocess.run([PSQL, "-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1",
                        "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", db, "-c", sql],
                       capture_output=True, text=True, env=env, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def listeners(port):
    """The local addresses of every listening TCP socket on port (IPv4 and
    IPv6), as /proc/net/tcp{,6} show them (hex)."""
    out = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    w = line.split()
                    addr, _, p = w[1].rpartition(":")
                    if w[3] == "0A" and int(p, 16) == port:
                        out.append(addr)
        except FileNotFoundError:
            pass
    return out


def tier_pids(st):
    """The postmasters, their children and PgBouncer, as the run dir names
    them."""
    pids = []
    for name in ("postgres", "pg-replica", "pgbouncer"):
        for p in st.pids(name):
            if procs.alive(p):
                pids.append(p)
                if name != "pgbouncer":
                    pids += [k for k in procs.children(p) if procs.alive(k)]
    return pids


def proc_uid(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


# ---------------------------------------------------------------- the stack
@case
def database_tier_comes_up_with_the_stack_on_loopback_only(ctx):
    """`stack up` with SHOAL_DATABASE=1 starts a primary, a replica and
    PgBouncer on SHOAL_PG_PORT, +1, +2; `status` shows the three alive; each
    listens on 127.0.0.1 only; as root they run as the OS user postgres."""
    st = shared(ctx)
    rc, out = st.status()
    check(rc == 0, f"stack status exited {rc}:\n{out}")
    ports = {"postgres": st.pg_port, "pg-replica": st.pg_port + 1, "pgbouncer": st.pg_port + 2}
    for name, port in ports.items():
        lines = [l for l in out.splitlines() if l.split()[:1] == [name]]
        check(len(lines) == 1 and lines[0].split()[1] == f"127.0.0.1:{port}"
              and lines[0].endswith("alive"), f"status has no live {name} on {port}:\n{out}")
        found = listeners(port)
        check(found, f"nothing listens on port {port} ({name})")
        check(all(a == "0100007F" for a in found),
              f"{name} listens on {found} (hex), not only 127.0.0.1")
        pid = st.pids(name)[0]
        if os.geteuid() == 0:
            check_eq(proc_uid(pid), pwd.getpwnam("postgres").pw_uid, f"uid of {name} (pid {pid})")
    check("database replication: walreceiver streaming, replay lag" in out,
          f"status does not show the replica streaming:\n{out}")
    return f"primary {st.pg_port}, replica {st.pg_port + 1}, pgbouncer {st.pg_port + 2}"


@case
def database_tier_workers_get_the_app_role_through_pgbouncer(ctx):
    """The workers' settings: SHOAL_DB and SHOAL_DB_REPLICAS name shoal_app
    at PgBouncer (databases shoal and shoal_replica) with no password in
    them; SHOAL_DB_PASSWORD_FILE is mode 0600; shoal_owner's settings reach
    no worker; a running worker has them."""
    st = shared(ctx)
    env = st.worker_env()
    bouncer = st.pg_port + 2
    check_eq(env.get("SHOAL_DB"), f"postgresql://shoal_app@127.0.0.1:{bouncer}/shoal", "SHOAL_DB")
    check_eq(env.get("SHOAL_DB_REPLICAS"),
             f"postgresql://shoal_app@127.0.0.1:{bouncer}/shoal_replica", "SHOAL_DB_REPLICAS")
    pwf = env.get("SHOAL_DB_PASSWORD_FILE", "")
    check_eq(pwf, st.path("db-password"), "SHOAL_DB_PASSWORD_FILE")
    check_eq(stat.S_IMODE(os.stat(pwf).st_mode), 0o600, f"mode of {pwf}")
    for f in ("db-admin-password", "db-replication-password"):
        check_eq(stat.S_IMODE(os.stat(st.path(f)).st_mode), 0o600, f"mode of {f}")
    for k in ("SHOAL_DB_ADMIN", "SHOAL_DB_ADMIN_PASSWORD_FILE"):
        check(k not in env, f"{k} reaches the workers")
    w = procs.proc_environ(st.worker_pids()[0])
    check_eq(w.get("SHOAL_DB"), env["SHOAL_DB"], "SHOAL_DB of a running worker")


@case
def database_tier_app_role_logs_in_through_pgbouncer_with_its_password_only(ctx):
    """shoal_app through PgBouncer: its password works, on both databases
    (shoal is the primary, shoal_replica the replica); a wrong password
    and no password are refused."""
    st = shared(ctx)
    port = st.pg_port + 2
    pw = st.db.password_of("shoal_app")
    rc, out, err = psql_tcp(port, "shoal_app", pw, "shoal", "SELECT pg_is_in_recovery()")
    check(rc == 0 and out == "f", f"shoal_app on shoal: exit {rc}, {out!r} {err}")
    rc, out, err = psql_tcp(port, "shoal_app", pw, "shoal_replica", "SELECT pg_is_in_recovery()")
    check(rc == 0 and out == "t", f"shoal_app on shoal_replica: exit {rc}, {out!r} {err}")
    rc, out, err = psql_tcp(port, "shoal_app", pw + "x", "shoal", "SELECT 1")
    # PgBouncer's words for a failed SCRAM exchange.
    check(rc != 0 and "SASL authentication failed" in err,
          f"a wrong password: exit {rc}, {out!r} {err!r}")
    rc, out, err = psql_tcp(port, "shoal_app", None, "shoal", "SELECT 1")
    check(rc != 0 and out == "", f"no password: exit {rc}, {out!r} {err!r}")
    # Direct to the primary too: SCRAM, the same password.
    rc, out, err = psql_tcp(st.pg_port, "shoal_app", pw + "x", "shoal", "SELECT 1")
    check(rc != 0 and "password authentication failed" in err,
          f"a wrong password on the primary: exit {rc}, {out!r} {err!r}")


@case
def database_tier_refuses_the_owner_role_through_pgbouncer(ctx):
    """shoal_owner, with its right password, gets in directly to the
    primary (migrations) but not through PgBouncer; the superuser postgres
    gets in over TCP nowhere."""
    st = shared(ctx)
    pw = st.db.password_of("shoal_owner")
    rc, out, err = psql_tcp(st.pg_port, "shoal_owner", pw, "shoal", "SELECT current_user")
    check(rc == 0 and out == "shoal_owner", f"shoal_owner on the primary: exit {rc}, {err}")
    rc, out, err = psql_tcp(st.pg_port + 2, "shoal_owner", pw, "shoal", "SELECT 1")
    check(rc != 0 and out == "", f"shoal_owner through PgBouncer got in: {out!r}")
    for port in (st.pg_port, st.pg_port + 1, st.pg_port + 2):
        rc, out, err = psql_tcp(port, "postgres", None, "postgres", "SELECT 1")
        check(rc != 0 and out == "", f"postgres over TCP on {port} got in: {out!r}")
    return f"through PgBouncer: {err.splitlines()[-1] if err else '(no message)'}"


@case
def database_tier_pg_hba_has_no_trust_and_only_scram_from_loopback(ctx):
    """Every pg_hba file (deploy/postgres/, the primary's and the replica's
    as PostgreSQL reads them, PgBouncer's) has no `trust`; every network
    rule is scram-sha-256 from 127.0.0.1/32 or ::1/128; PostgreSQL stores
    passwords as SCRAM."""
    st = shared(ctx)
    pg = os.path.realpath(st.path("pg"))
    files = [os.path.join(REPO, "deploy", "postgres", "pg_hba.conf"),
             os.path.join(REPO, "deploy", "postgres", "pgbouncer_hba.conf"),
             os.path.join(pg, "primary", "pg_hba.conf"), os.path.join(pg, "replica", "pg_hba.conf"),
             os.path.join(pg, "pgbouncer_hba.conf")]
    rules = 0
    for path in files:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                w = line.split("#", 1)[0].split()
                if not w:
                    continue
                rules += 1
                check("trust" not in w, f"{path}:{n}: trust: {line.strip()}")
                if w[0].startswith("host"):
                    check(w[0] == "host" and w[3] in ("127.0.0.1/32", "::1/128")
                          and w[4] == "scram-sha-256", f"{path}:{n}: {line.strip()}")
                else:
                    check(w[0] == "local" and w[2] == "postgres" and w[3] == "peer",
                          f"{path}:{n}: a local rule not postgres by peer: {line.strip()}")
    for target in ("primary", "replica"):
        out = st.db.psql("SELECT type, address, auth_method, coalesce(error, '') "
                         "FROM pg_hba_file_rules", target=target, db="postgres")
        for row in out.splitlines():
            kind, addr, method, error = row.split("|")
            check(not error, f"{target}: pg_hba rule error: {row}")
            check(method in ("scram-sha-256", "peer"), f"{target}: a rule with {method}: {row}")
            check(kind == "local" or addr in ("127.0.0.1", "::1"), f"{target}: rule {row}")
    out = st.db.psql("SELECT rolname FROM pg_authid WHERE rolpassword IS NOT NULL "
                     "AND rolpassword NOT LIKE 'SCRAM-SHA-256$%'", db="postgres")
    check(out.strip() == "", f"passwords not stored as SCRAM: {out}")
    return f"{rules} rules in {len(files)} files"


@case
def database_tier_app_role_owns_nothing_and_cannot_create_tables(ctx):
    """shoal_app through PgBouncer cannot CREATE TABLE in schema public
    (permission denied, SQLSTATE 42501); it owns nothing, is no superuser
    and cannot create roles or databases; the tables the migrations made
    (if the worker binary has `db migrate`) belong to shoal_owner."""
    st = shared(ctx)
    pw = st.db.password_of("shoal_app")
    rc, out, err = psql_tcp(st.pg_port + 2, "shoal_app", pw, "shoal",
                            "CREATE TABLE public.app_made_this (id int)")
    check(rc != 0 and "permission denied for schema public" in err,
          f"CREATE TABLE as shoal_app: exit {rc}, {err!r}")
    rc, out, err = psql_tcp(st.pg_port + 2, "shoal_app", pw, "shoal", "CREATE SCHEMA app_schema")
    check(rc != 0 and "permission denied" in err, f"CREATE SCHEMA as shoal_app: exit {rc}, {err!r}")
    row = st.db.psql("SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
                     "FROM pg_roles WHERE rolname = 'shoal_app'").strip()
    check_eq(row, "f|f|f|f|f", "shoal_app's attributes (super, createrole, createdb, replication, bypassrls)")
    owned = st.db.psql("SELECT count(*) FROM pg_class WHERE relowner = 'shoal_app'::regrole").strip()
    check_eq(owned, "0", "relations owned by shoal_app")
    owners = st.db.psql("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
    owners = sorted(owners.split())
    check(owners in ([], ["shoal_owner"]), f"owners of the tables in public: {owners}")
    migrated = "database migrated" in open(st.path("stack-commands.out"), errors="replace").read()
    tables = st.db.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").strip()
    if migrated:
        check(int(tables) > 0, "the stack said it migrated, yet public has no table")
    return f"{tables} tables in public, all shoal_owner's" + ("" if migrated else " (not migrated)")


@case
def database_tier_replica_streams_what_the_primary_writes(ctx):
    """pg_stat_replication on the primary shows the replica streaming
    through its slot; a row written on the primary is read on the replica
    (directly and through PgBouncer's shoal_replica), within seconds."""
    st = shared(ctx)
    rows = st.db.psql("SELECT r.state, s.slot_name, s.active FROM pg_stat_replication r "
                      "JOIN pg_replication_slots s ON s.active_pid = r.pid", db="postgres")
    check_eq(rows.strip(), "streaming|shoal_replica_1|t", "pg_stat_replication joined with the slot")
    mark = f"probe-{time.time_ns()}"
    st.db.psql("CREATE TABLE IF NOT EXISTS replication_probe (v text); "
               f"INSERT INTO replication_probe VALUES ('{mark}')", db="postgres")
    t0 = time.monotonic()
    while True:
        got = st.db.psql(f"SELECT count(*) FROM replication_probe WHERE v = '{mark}'",
                         target="replica", db="postgres").strip()
        if got == "1":
            break
        check(time.monotonic() - t0 < 10 * ctx.scale, "the row did not reach the replica in 10 s")
        time.sleep(0.01)
    lag = time.monotonic() - t0
    # Through PgBouncer the app reads the replica's own view: what it
    # replayed is what the primary wrote.
    pw = st.db.password_of("shoal_app")
    rc, out, err = psql_tcp(st.pg_port + 2, "shoal_app", pw, "shoal_replica",
                            "SELECT pg_last_wal_replay_lsn() IS NOT NULL")
    check(rc == 0 and out == "t", f"shoal_replica through PgBouncer: exit {rc}, {out!r} {err}")
    return f"row seen on the replica after {lag * 1000:.0f} ms"


@case
def database_tier_faults_injected_through_the_harness(ctx):
    """Stack.db (a PgTier attached to the run dir): replay paused and
    resumed on the stack's replica; the primary stopped (PgBouncer's
    "shoal" fails, "shoal_replica" still answers) and started again, its
    new pid written to the stack's pid file so that `stack down` stops it."""
    st = shared(ctx)
    db = st.db
    db.pause_replay()
    db.psql("CREATE TABLE IF NOT EXISTS fault_probe (v int); INSERT INTO fault_probe VALUES (1)",
            db="postgres")
    lsn = db.primary_lsn()
    time.sleep(0.3)
    check(not db.replayed_past(lsn), "the stack's replica replayed while paused")
    db.resume_replay()
    db.wait_replayed(lsn)
    old = st.pids("postgres")
    db.stop_primary()
    pw = db.password_of("shoal_app")
    rc, out, err = psql_tcp(st.pg_port + 2, "shoal_app", pw, "shoal", "SELECT 1")
    check(rc != 0, f"\"shoal\" answered with the primary stopped: {out!r}")
    rc, out, err = psql_tcp(st.pg_port + 2, "shoal_app", pw, "shoal_replica", "SELECT 1")
    check(rc == 0 and out == "1", f"\"shoal_replica\" with the primary stopped: exit {rc}, {err}")
    new = db.start_primary()
    check_eq(st.pids("postgres"), [new], "postgres.pid after the restart")
    check(new not in old, f"the same pid {new} after a restart")
    deadline = time.monotonic() + 15 * ctx.scale
    while True:
        rc, out, err = psql_tcp(st.pg_port + 2, "shoal_app", pw, "shoal", "SELECT 1")
        if rc == 0:
            break
        check(time.monotonic() < deadline, f"\"shoal\" not back after the restart: {err}")
        time.sleep(0.2)
    rc, out = st.status()
    check(rc == 0, f"stack status after the restart: exit {rc}\n{out}")


@case
def database_tier_is_left_alone_by_scale(ctx):
    """`stack scale 2` and back to 3 restarts no database process."""
    st = shared(ctx)
    before = {n: st.pids(n) for n in ("postgres", "pg-replica", "pgbouncer")}
    st.scale_to(2)
    st.scale_to(3)
    after = {n: st.pids(n) for n in ("postgres", "pg-replica", "pgbouncer")}
    check_eq(after, before, "database tier pids across scale")
    check(all(procs.alive(p) for v in after.values() for p in v), f"not all alive: {after}")


@case
def database_tier_stack_down_leaves_no_postgres_or_pgbouncer_alive(ctx):
    """`stack down` stops PgBouncer, the replica and the primary by their
    pids: none of them, nor any postgres child process, is left; status
    says not running."""
    st = shared(ctx)
    pids = tier_pids(st)
    check(len(pids) >= 5, f"expected the postmasters, their children and PgBouncer: {pids}")
    rc, text = st.script("down", timeout=90)
    check(rc == 0, f"stack down exited {rc}:\n{text}")
    for name in ("pgbouncer", "pg-replica", "postgres"):
        check(f"{name} stopped" in text, f"stack down did not say '{name} stopped':\n{text}")
    left = [p for p in pids if procs.alive(p)]
    check(not left, f"alive after stack down: {left}")
    for port in (st.pg_port, st.pg_port + 1, st.pg_port + 2):
        check(not listeners(port), f"port {port} still listens after stack down")
    rc, out = st.status()
    check(rc == 3 and "postgres    127.0.0.1" in out and "not running" in out,
          f"status after down: exit {rc}\n{out}")
    st.started = False
    close()
    return f"{len(pids)} processes stopped"


# ---------------------------------------------------------------- the harness
def tier(ctx):
    return PgTier(scale=ctx.scale, keep=("DEPLOY_KEEP_RUN_DIR",), name="deploy-pg")


def gone(db, pids):
    """After the tier's `with` block: every pid dead, the folder removed."""
    left = [p for p in pids if procs.alive(p)]
    check(not left, f"alive after PgTier.stop: {left}")
    check(not os.path.exists(db.dir), f"{db.dir} left behind")


def app_sql(db, sql, target="primary"):
    """SQL as shoal_app through PgBouncer."""
    return psql_tcp(db.bouncer_port, "shoal_app", db.password_of("shoal_app"),
                    {"primary": "shoal", "replica": "shoal_replica"}[target], sql)


@case
def pg_harness_primary_stopped_and_started_again(ctx):
    """PgTier: with the primary stopped PgBouncer cannot serve "shoal" but
    the replica still answers; started again, the primary has its rows and
    the replica streams again."""
    with tier(ctx) as db:
        db.psql("CREATE TABLE t (v int); INSERT INTO t VALUES (1)", db="postgres")
        pid = db.stop_primary()
        check(pid and not procs.alive(pid), f"primary pid {pid} still alive")
        t0 = time.monotonic()
        rc, out, err = app_sql(db, "SELECT 1")
        refused = time.monotonic() - t0
        check(rc != 0, f"a query through PgBouncer with the primary down answered {out!r}")
        rc, out, err = app_sql(db, "SELECT 1", target="replica")
        check(rc == 0 and out == "1", f"the replica through PgBouncer: exit {rc}, {err}")
        new = db.start_primary()
        check(new != pid and procs.alive(new), "the primary did not start again")
        check_eq(db.psql("SELECT v FROM t", db="postgres").strip(), "1", "row after restart")
        db.psql("INSERT INTO t VALUES (2)", db="postgres")
        db.wait_replayed()
        check_eq(db.psql("SELECT count(*) FROM t", target="replica", db="postgres").strip(), "2",
                 "rows on the replica after the restart")
        rc, out, err = app_sql(db, "SELECT 1")
        check(rc == 0 and out == "1", f"PgBouncer to the restarted primary: exit {rc}, {err}")
        pids = db.pids()
    gone(db, pids)
    return f"a query with the primary down failed after {refused:.1f} s"


@case
def pg_harness_replay_paused_and_resumed(ctx):
    """PgTier: with replay paused a row written on the primary is not on
    the replica and replay_lsn stays behind; resumed, it arrives."""
    with tier(ctx) as db:
        db.psql("CREATE TABLE t (v int)", db="postgres")
        db.wait_replayed()
        db.pause_replay()
        at = db.replay_lsn()
        db.psql("INSERT INTO t VALUES (1)", db="postgres")
        lsn = db.primary_lsn()
        time.sleep(0.5)
        check(not db.replayed_past(lsn), f"the replica replayed {lsn} while paused")
        check_eq(db.replay_lsn(), at, "replay_lsn while paused")
        check_eq(db.psql("SELECT count(*) FROM t", target="replica", db="postgres").strip(), "0",
                 "rows on the paused replica")
        db.resume_replay()
        db.wait_replayed(lsn)
        check_eq(db.psql("SELECT count(*) FROM t", target="replica", db="postgres").strip(), "1",
                 "rows on the replica after resume")
        pids = db.pids()
    gone(db, pids)
    return f"paused at {at}, primary at {lsn}"


@case
def pg_harness_replica_promoted_and_pgbouncer_repointed(ctx):
    """PgTier: the primary stopped, the replica promoted takes writes; after
    bouncer_reload(primary_port=replica) "shoal" through PgBouncer writes to
    it, as shoal_app."""
    with tier(ctx) as db:
        db.psql("CREATE TABLE t (v int); GRANT SELECT, INSERT ON t TO shoal_app")
        db.wait_replayed()
        db.stop_primary()
        db.promote_replica()
        db.bouncer_reload(primary_port=db.replica_port)
        deadline = time.monotonic() + 15 * ctx.scale
        while True:
            rc, out, err = app_sql(db, "INSERT INTO t VALUES (7); SELECT pg_is_in_recovery()")
            if rc == 0:
                break
            check(time.monotonic() < deadline, f"no write through PgBouncer after promotion: {err}")
            time.sleep(0.1)
        check_eq(out, "f", "pg_is_in_recovery() behind \"shoal\" after the reload")
        check_eq(db.psql("SELECT v FROM t", target="replica").strip(), "7", "the row on the promoted replica")
        pids = db.pids()
    gone(db, pids)


@case
def pg_harness_stops_everything_when_the_block_fails(ctx):
    """PgTier as a context manager: a block that raises still stops every
    process by pid, and the folder is kept (named) for its logs."""
    db = tier(ctx)
    pids = []
    try:
        with db:
            pids = db.pids()
            raise RuntimeError("the block failed")
    except RuntimeError:
        pass
    left = [p for p in pids if procs.alive(p)]
    check(len(pids) >= 5 and not left, f"pids {pids}, alive after the failed block: {left}")
    check(os.path.exists(os.path.join(db.pg_dir, "primary.log")), "the logs were not kept")
    subprocess.run(["rm", "-rf", "--", db.dir], check=True)
