"""
cases_manifests.py - the manifests that cannot run on this machine (no
systemd as PID 1, no Docker engine, no Kubernetes) checked by the tools of
their ecosystems that do run here (systemd-analyze, nginx -t, apt-cache,
the YAML parser), and against the code: every setting, probe path, port,
image and package they name must exist.
"""

import ipaddress
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from urllib.parse import urlsplit

from harness.core import REPO, TestFailure, check, check_eq
from harness.ports import Ports
from harness.runner import Tests

try:
    import yaml
except ImportError:             # python3-yaml (tools/deps installs it)
    yaml = None

TESTS = Tests()
case = TESTS.case


def path(*parts):
    return os.path.join(REPO, *parts)


def read(*parts):
    with open(path(*parts)) as f:
        return f.read()


def need_yaml():
    check(yaml is not None, "python3-yaml is not installed (apt-get install python3-yaml)")


# ---------------------------------------------------------------- the code
def worker_settings():
    """Every SHOAL_* name in the worker's settings table (config.c)."""
    src = read("app", "tier", "config.c")
    table = src[src.index("entries[] = {"):]
    table = table[:table.index("\n};")]
    names = set(re.findall(r'\{\s*"(SHOAL_[A-Z0-9_]+)"', table))
    check(len(names) > 10, f"found only {sorted(names)} in config.c's table")
    return names


def shoal_redis_settings():
    """The environment names deploy/redis/shoal-redis reads."""
    src = read("deploy", "redis", "shoal-redis")
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)[:}]", src)) | \
        set(re.findall(r"secret ([A-Z][A-Z0-9_]+)", src))


def shoal_serve_settings():
    """The environment names deploy/docker/shoal-serve reads."""
    return set(re.findall(r"\$\{(FCGI_[A-Z0-9_]+)[:}]", read("deploy", "docker", "shoal-serve")))


def shop_routes():
    """app/example/routes.c with the tier's route macros (shoal.h's
    SHOAL_AUTH_ROUTES) written out where it uses them."""
    routes = read("app", "example", "routes.c")
    m = re.search(r"#define SHOAL_AUTH_ROUTES((?:.*\\\n)*.*)", read("app", "tier", "shoal.h"))
    check(m, "shoal.h defines no SHOAL_AUTH_ROUTES")
    return routes.replace("SHOAL_AUTH_ROUTES", m.group(1).replace("\\\n", "\n"))


def served_paths():
    """Paths the worker answers: its built-in ones and the app's routes."""
    router = read("app", "tier", "router.c")
    routes = shop_routes()
    return set(re.findall(r'strcmp\(r->in\.path, "(/[^"]*)"\)', router)) | \
        set(re.findall(r'"(/[^"]*)"', routes))


def dockerfile_stages():
    return re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", read("deploy", "docker", "Dockerfile"),
                      re.M | re.I)


def deps_packages():
    src = read("tools", "deps")
    m = re.search(r'PACKAGES="([^"]*)"', src)
    check(m, "tools/deps has no PACKAGES list")
    return set(m.group(1).split())


def check_settings(names, where, extra=()):
    known = worker_settings() | set(extra)
    unknown = sorted(n for n in names if n not in known)
    check(not unknown, f"{where} names settings nothing reads: {unknown}")


def probe_path_ok(p, where):
    check(p in served_paths(), f"{where}: probe path {p} is not served by the worker "
          f"(known: {sorted(served_paths())})")


# ---------------------------------------------------------------- systemd
SYSTEMD = path("deploy", "systemd")


INSTALLED = {   # where docs/deploy.md installs what the units run
    "/usr/local/lib/shoal-redis/shoal-redis": path("deploy", "redis", "shoal-redis"),
    "/usr/local/lib/shoal-autoscale/autoscale": path("deploy", "local", "autoscale"),
    "/usr/local/lib/shoal-autoscale/shoal-scale": path("deploy", "systemd", "shoal-scale"),
}
SHOAL_INSTALLED = "/usr/local/bin/shoal"       # the worker (ctx.bin here)


def unit_dir(bin_path=None):
    """The units in a directory of their own, the files they run from where
    docs/deploy.md installs them pointed at the repository's copies (the
    worker at bin_path)."""
    d = tempfile.mkdtemp(prefix="shoal-deploy-units-")
    for f in os.listdir(SYSTEMD):
        if f.endswith(".service"):
            text = open(os.path.join(SYSTEMD, f)).read()
            for a, b in INSTALLED.items():
                text = text.replace(a, b)
            if bin_path:
                text = text.replace(SHOAL_INSTALLED, os.path.abspath(bin_path))
            with open(os.path.join(d, f), "w") as out:
                out.write(text)
    os.symlink("shoal@.service", os.path.join(d, "shoal@9001.service"))
    return d


def units_to_check():
    return ["shoal@9001.service"] + sorted(f for f in os.listdir(SYSTEMD)
                                           if f.endswith(".service") and "@" not in f)


def parse_unit(text):
    out, section = {}, None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            check(line.endswith("]"), f"line {n}: bad section header {line!r}")
            section = line[1:-1]
            continue
        check(section and "=" in line, f"line {n}: not KEY=VALUE in a section: {line!r}")
        k, _, v = line.partition("=")
        out.setdefault((section, k.strip()), []).append(v.strip())
    return out


@case
def systemd_units_pass_systemd_analyze(ctx):
    """systemd-analyze verify accepts every unit (the template as
    shoal@9001.service) with no warning, and systemd-analyze security rates
    each one's exposure 2.0 or better. Without systemd-analyze, a parser
    check (sections, KEY=VALUE, the directives that matter)."""
    d = unit_dir(ctx.bin)
    try:
        units = units_to_check()
        notes = []
        for u in units:
            text = open(os.path.join(d, u)).read()
            keys = parse_unit(text)
            for want in (("Service", "ExecStart"), ("Service", "Restart"),
                         ("Service", "NoNewPrivileges"), ("Service", "ProtectSystem"),
                         ("Service", "PrivateTmp"), ("Install", "WantedBy")):
                check(want in keys, f"{u}: no {want[0]}.{want[1]}=")
            check_eq(keys[("Service", "ProtectSystem")], ["strict"], f"{u} ProtectSystem")
        if shutil.which("systemd-analyze") is None:
            return "systemd-analyze not installed: parser check only"
        p = subprocess.run(["systemd-analyze", "verify", "--man=no"] +
                           [f"./{u}" for u in units], cwd=d, capture_output=True,
                           text=True, timeout=60)
        out = (p.stdout + p.stderr).strip()
        check(p.returncode == 0 and not out,
              f"systemd-analyze verify (exit {p.returncode}):\n{out}")
        for u in units:
            p = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                                "--threshold=20", f"./{u}"], cwd=d,
                               capture_output=True, text=True, timeout=60)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout)
            check(p.returncode == 0 and m,
                  f"systemd-analyze security {u}: exit {p.returncode}\n{p.stdout[-600:]}")
            notes.append(f"{u.replace('@9001', '@')} {m.group(1)}")
        return "verify clean; exposure " + ", ".join(notes)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@case
def systemd_units_name_only_what_exists(ctx):
    """The worker unit's environment file sets only worker settings; the
    unit sets SHOAL_KEYRING and the password file from its credentials;
    the stop timeout covers SHOAL_DRAIN_SECONDS; the commands the units run
    are the Debian packages' paths (spawn-fcgi, redis-server)."""
    unit = parse_unit(read("deploy", "systemd", "shoal@.service"))
    env = {}
    for line in read("deploy", "systemd", "shoal.env").splitlines():
        if line.strip() and not line.startswith("#"):
            k, _, v = line.partition("=")
            env[k] = v
    check_settings(env, "deploy/systemd/shoal.env")
    check("SHOAL_KEYRING" not in env, "shoal.env sets SHOAL_KEYRING (the unit's credential)")
    set_by_unit = dict(v.split("=", 1) for v in unit[("Service", "Environment")])
    check_settings(set_by_unit, "shoal@.service Environment=")
    check_eq(set_by_unit.get("SHOAL_KEYRING"), "%d/keyring", "SHOAL_KEYRING in the unit")
    drain = int(env.get("SHOAL_DRAIN_SECONDS", "20"))
    stop = int(unit[("Service", "TimeoutStopSec")][0])
    check(stop > drain, f"TimeoutStopSec={stop} does not cover SHOAL_DRAIN_SECONDS={drain}")
    execs = [unit[("Service", "ExecStart")][0].split()[0]]
    redis_names = shoal_redis_settings()
    for u, envf in (("shoal-redis.service", "redis.env"), ("shoal-sentinel.service", "sentinel.env")):
        ru = parse_unit(read("deploy", "systemd", u))
        execs.append(ru[("Service", "ExecStart")][0].split()[0])
        check_eq(ru[("Service", "EnvironmentFile")], [f"/etc/shoal/{envf}"], f"{u} EnvironmentFile")
        names = [l.split("=", 1)[0] for l in read("deploy", "systemd", envf).splitlines()
                 if l.strip() and not l.startswith("#")]
        names += [v.split("=", 1)[0] for v in ru.get(("Service", "Environment"), [])]
        unknown = sorted(n for n in names if n not in redis_names)
        check(not unknown, f"{u} and {envf} set what shoal-redis does not read: {unknown}")
    for e in execs:
        e = INSTALLED.get(e, e)
        check(os.access(e, os.X_OK), f"a unit runs {e}, which is not on this Debian")
    return f"{len(env)} settings in shoal.env, all known; stop timeout {stop} s > drain {drain} s"


# ---------------------------------------------------------------- docker
def dockerfile_runs():
    """(stage, [apt packages]) for each apt-get install in the Dockerfile."""
    text = read("deploy", "docker", "Dockerfile").replace("\\\n", " ")
    out, stage = [], None
    for line in text.splitlines():
        m = re.match(r"^FROM\s+\S+\s+AS\s+(\S+)", line, re.I)
        if m:
            stage = m.group(1)
        for m in re.finditer(r"apt-get install ([^&]*)", line):
            pkgs = [w for w in m.group(1).split() if not w.startswith("-")]
            out.append((stage, pkgs))
    return out


@case
def dockerfile_builds_from_debian_with_what_exists(ctx):
    """Every package the Dockerfile installs exists in this Debian's
    package lists; the build stage installs what tools/deps installs for
    the build; the worker stage's libraries are those build/shoal links;
    every file it copies from the repository exists and gets past
    .dockerignore; the stages Compose and Kubernetes use exist."""
    runs = dockerfile_runs()
    check(runs, "no apt-get install in the Dockerfile")
    all_pkgs = sorted({p for _, ps in runs for p in ps})
    p = subprocess.run(["apt-cache", "show", "--no-all-versions"] + all_pkgs,
                       capture_output=True, text=True, timeout=60)
    found = set(re.findall(r"^Package: (\S+)", p.stdout, re.M))
    missing = [x for x in all_pkgs if x not in found]
    check(not missing, f"packages the Dockerfile installs that Debian does not have: {missing}")
    build = next(ps for st, ps in runs if st == "build")
    not_in_deps = sorted(set(build) - deps_packages())
    check(not not_in_deps, f"the build stage installs what tools/deps does not: {not_in_deps}")

    worker = set(next(ps for st, ps in runs if st == "worker"))
    # The libraries the binary names itself (DT_NEEDED): apt-get brings
    # what those need in turn.
    dyn = subprocess.run(["readelf", "-d", ctx.bin], capture_output=True, text=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn))
    check(needed, f"readelf names no shared library of {ctx.bin}")
    libs = subprocess.run(["ldd", ctx.bin], capture_output=True, text=True).stdout
    need = set()
    for m in re.finditer(r"^\s*(\S+) => (/\S+)", libs, re.M):
        if m.group(1) not in needed:
            continue
        real = os.path.realpath(m.group(2))
        for cand in (real, "/usr" + real if not real.startswith("/usr") else real[4:]):
            q = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True)
            if q.returncode == 0:
                need.add(q.stdout.split(":")[0])
                break
    need -= {"libc6"}           # in every Debian image
    if "/san/" in ctx.bin:      # the sanitizers' runtimes: not in the image's build
        need = {n for n in need if not re.match(r"^(libasan|libubsan|libgcc-s|libstdc\+\+)", n)}
    check(need, f"found no package for the libraries of {ctx.bin}")
    check(need <= worker, f"the worker stage lacks the packages of libraries "
          f"shoal links: {sorted(need - worker)}")

    text = read("deploy", "docker", "Dockerfile").replace("\\\n", " ")
    ignore = [l.strip() for l in read(".dockerignore").splitlines()
              if l.strip() and not l.startswith("#")]
    check(ignore[:1] == ["*"], ".dockerignore should start with * and allow files back")
    allowed = [l[1:].rstrip("/") for l in ignore if l.startswith("!")]
    for m in re.finditer(r"^COPY\s+(?!--from)(.*)$", text, re.M):
        srcs = m.group(1).split()[:-1]
        for s in srcs:
            check(os.path.exists(path(s.rstrip("/"))), f"Dockerfile copies {s}, which does not exist")
            check(any(s.rstrip("/") == a or s.startswith(a + "/") for a in allowed),
                  f"Dockerfile copies {s}, which .dockerignore leaves out")
    stages = dockerfile_stages()
    for want in ("build", "worker", "redis", "nginx", "postgres", "pgbouncer"):
        check(want in stages, f"no stage {want} in the Dockerfile: {stages}")
    # The database's stages: Debian's packages, run as a user of their own.
    for stage, pkg in (("postgres", "postgresql-15"), ("pgbouncer", "pgbouncer")):
        check(any(st == stage and pkg in ps for st, ps in runs),
              f"the Dockerfile's {stage} stage does not install Debian's {pkg}")
        body = re.split(r"^FROM\s+\S+\s+AS\s+", text, flags=re.M | re.I)
        body = next(b for b in body if b.split()[0] == stage)
        user = re.findall(r"^USER\s+(\S+)", body, re.M)
        check(user and not user[-1].split(":")[0] in ("0", "root"),
              f"the Dockerfile's {stage} stage runs as {user or 'root'}")
    return f"{len(all_pkgs)} packages, all in Debian; worker libraries {sorted(need)}"


def nginx_t(conf_text, subs, name):
    """nginx -t on conf_text after the substitutions (container paths and
    names made local)."""
    d = tempfile.mkdtemp(prefix="shoal-deploy-nginx-")
    try:
        for a, b in subs:
            conf_text = conf_text.replace(a, b.replace("@TMP@", d))
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(conf_text)
        p = subprocess.run(["nginx", "-t", "-q", "-c", conf, "-p", d + "/", "-e", os.path.join(d, "err.log")],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, f"nginx -t rejects {name}:\n{p.stderr}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def fastcgi_settings(text):
    """The fastcgi_param lines and the limits of a front config, so that
    every front passes the worker the same request."""
    params = set(re.findall(r"^\s*(fastcgi_param\s+\S+\s+.*?);", text, re.M))
    # (client_max_body_size is the worker's SHOAL_MAX_BODY in each target:
    # nginx_configs_limit_password_pages_and_time_out_slow_clients.)
    limits = set(re.findall(r"^\s*((?:large_client_header_buffers|limit_req|limit_conn|"
                            r"fastcgi_read_timeout|fastcgi_keep_conn)\s+[^;]*);", text, re.M))
    return params, limits


def same_fastcgi(text, where):
    """The FastCGI parameters and limits of a front config are those of the
    local stack's front (deploy/nginx/local.conf.in)."""
    want = fastcgi_settings(read("deploy", "nginx", "local.conf.in"))
    got = fastcgi_settings(text)
    for w, g, what in ((want[0], got[0], "fastcgi_param lines"), (want[1], got[1], "limits")):
        check(w == g, f"{where}: {what} differ from deploy/nginx/local.conf.in: "
              f"missing {sorted(w - g)}, extra {sorted(g - w)}")


def container_subs(d_static):
    return [("include /tmp/nginx/upstream.conf;", "server 127.0.0.1:9000;"),
            ("/tmp/nginx/", "@TMP@/tmp/"), ("/srv/static", d_static),
            ("listen 8080;", "listen 127.0.0.1:8080;"),
            ("listen 8081;", "listen 127.0.0.1:8081;"),
            ("listen 8082;", "listen 127.0.0.1:8082;")]


@case
def compose_file_parses_and_names_only_what_exists(ctx):
    """compose.yaml parses; each service builds a stage of the Dockerfile
    or uses its image; every SHOAL_* variable is a worker setting and every
    other variable one shoal-redis reads; probe paths are served by the
    worker; the Sentinels, replica and worker addresses name services on
    the ports they listen on; the front and CDN configs pass nginx -t and
    pass the worker what the local stack's front passes."""
    need_yaml()
    doc = yaml.safe_load(read("deploy", "docker", "compose.yaml"))
    services = doc.get("services") or {}
    for want in ("redis-1", "redis-2", "sentinel-1", "sentinel-2", "sentinel-3",
                 "worker", "front", "cdn"):
        check(want in services, f"compose.yaml has no service {want}")
    stages = dockerfile_stages()
    images = {}
    for name, s in services.items():
        b = s.get("build") or {}
        check(b.get("dockerfile") == "deploy/docker/Dockerfile" and b.get("target") in stages,
              f"service {name} does not build a stage of deploy/docker/Dockerfile: {b}")
        check(os.path.normpath(os.path.join(path("deploy", "docker"), b.get("context", ""))) == REPO,
              f"service {name}: build context {b.get('context')} is not the repository root")
        images.setdefault(s.get("image"), set()).add(b.get("target"))
    for img, targets in images.items():
        check(len(targets) == 1, f"image {img} is built from several stages {targets}")
    redis_names = shoal_redis_settings()
    for name, s in services.items():
        env = s.get("environment") or {}
        if s["build"]["target"] == "worker":
            check_settings(env, f"service {name}", shoal_serve_settings())
        elif s["build"]["target"] == "redis":
            unknown = sorted(k for k in env if k not in redis_names)
            check(not unknown, f"service {name} sets what shoal-redis does not read: {unknown}")
        for sec in compose_secret_names(s, f"service {name}"):
            check(sec in (doc.get("secrets") or {}), f"service {name} uses undefined secret {sec}")
        for vol in compose_named_volumes(s).values():
            check(vol in (doc.get("volumes") or {}), f"service {name} uses undefined volume {vol}")
        for v in compose_anon_volumes(s):
            check(isinstance(v, str) and v.startswith("/"), f"service {name}: anonymous volume {v!r}")
        # Swarm rejects depends_on's map form (conditions): a plain list.
        deps = s.get("depends_on") or []
        check(isinstance(deps, list), f"service {name}: depends_on is not a plain list "
              f"(Swarm refuses conditions): {deps}")
        for dep in deps:
            check(dep in services, f"service {name} depends on unknown {dep}")
        # The same file under Swarm: no fixed address, no Compose-only
        # mem_limit or tmpfs; the engine does not balance (the front does).
        for k in ("mem_limit", "tmpfs", "container_name"):
            check(k not in s, f"service {name}: {k} (not what Swarm reads)")
        nets_of = s.get("networks") or []
        check(isinstance(nets_of, list) or not any(
            isinstance(v, dict) and v.get("ipv4_address") for v in nets_of.values()),
            f"service {name}: a fixed ipv4_address (Swarm gives addresses when a task starts)")
        dep_cfg = s.get("deploy") or {}
        check(dep_cfg.get("endpoint_mode") == "dnsrr", f"service {name}: deploy.endpoint_mode "
              f"{dep_cfg.get('endpoint_mode')!r}, not dnsrr")
        check(((dep_cfg.get("resources") or {}).get("limits") or {}).get("memory"),
              f"service {name}: no deploy.resources.limits.memory")
        hc = " ".join(str(x) for x in (s.get("healthcheck") or {}).get("test", []))
        for p in re.findall(r"shoal-probe\S*\s+(/\S+)", hc):
            probe_path_ok(p, f"service {name} healthcheck")
    w = services["worker"]["environment"]
    sentinel_ports = {}
    for name, s in services.items():
        if s.get("command") == ["sentinel"]:
            sentinel_ports[name] = s["environment"].get("SENTINEL_PORT", "26379")
    for addr in w["SHOAL_SENTINELS"].split(","):
        host, port = addr.rsplit(":", 1)
        check(sentinel_ports.get(host) == port, f"SHOAL_SENTINELS names {addr}, "
              f"not a Sentinel service on that port ({sentinel_ports})")
    # Each node and Sentinel announces its own address in the subnet of
    # the one network it is on (REDIS_SUBNET, shoal-addr finds it), never
    # a fixed one; the first primary is a Redis node's host name, which
    # that node resolves to itself.
    redis_hostnames = {}
    for name, sv in services.items():
        if sv.get("command") in (["redis"], ["sentinel"]):
            e = compose_env(sv)
            nets_of = sv.get("networks") or ["default"]
            nets_of = nets_of if isinstance(nets_of, list) else list(nets_of)
            check(len(nets_of) == 1, f"{name} is on several networks {nets_of}")
            sub = compose_subnet(doc, nets_of[0])
            check(sub and e.get("REDIS_SUBNET") == sub, f"{name}: REDIS_SUBNET "
                  f"{e.get('REDIS_SUBNET')!r} is not the subnet {sub} of its network {nets_of[0]}")
            for k in ("REDIS_BIND", "REDIS_ANNOUNCE_HOST"):
                check(k not in e, f"{name} sets {k} with REDIS_SUBNET (shoal-redis refuses both)")
            if sv["command"] == ["redis"]:
                check(sv.get("hostname"), f"{name} has no hostname (REDIS_PRIMARY_HOST names one)")
                redis_hostnames[sv.get("hostname")] = name
    for name in ("redis-1", "redis-2"):
        e = compose_env(services[name])
        ph = e["REDIS_PRIMARY_HOST"]
        check(ph in redis_hostnames and ph in services and redis_hostnames[ph] == ph,
              f"{name}: REDIS_PRIMARY_HOST {ph} is no Redis service whose hostname is {ph} "
              f"(hostnames {redis_hostnames})")
    worker_cmd = docker_worker_cmd()
    check("9000" in worker_cmd or (worker_cmd[-1].endswith("shoal-serve")
                                   and "FCGI_PORT:-9000" in read("deploy", "docker", "shoal-serve")
                                   and w.get("FCGI_PORT", "9000") == "9000"),
          f"the worker image does not listen on 9000: {worker_cmd}")

    front = read("deploy", "docker", "front.conf")
    # shoal-front writes one server line per address of "worker" (port
    # 9000) into the file the upstream includes.
    sf = read("deploy", "docker", "shoal-front")
    check(re.search(r"upstream shoal_workers \{\s*include /tmp/nginx/upstream.conf;", front),
          "front.conf's upstream does not include /tmp/nginx/upstream.conf")
    check("FRONT_WORKERS:-worker}" in sf and "FRONT_WORKER_PORT:-9000}" in sf
          and "FRONT_UPSTREAM:-/tmp/nginx/upstream.conf}" in sf,
          "shoal-front does not list worker:9000 in /tmp/nginx/upstream.conf by default")
    check(services["front"]["command"] == ["/usr/local/bin/shoal-front"],
          f"the front does not run shoal-front: {services['front'].get('command')}")
    def published(s):
        return [(str(p.get("published")), str(p.get("target")), p.get("mode"))
                if isinstance(p, dict) else tuple(str(p).rsplit(":", 1)) for p in s.get("ports") or []]
    check(published(services["front"]) == [("8080", "8080", "host")] and "listen 8080;" in front,
          f"front: published port and listen port differ, or not mode host: {services['front'].get('ports')}")
    cdn = read("deploy", "docker", "cdn.conf")
    check(published(services["cdn"]) == [("8081", "8081", "host")] and "listen 8081;" in cdn,
          f"cdn: published port and the edge's listen port differ, or not mode host: {services['cdn'].get('ports')}")
    check(w["SHOAL_STATIC_BASE"].endswith(":8081"), "SHOAL_STATIC_BASE is not the CDN edge")
    static = ctx.static_dir or path("build", "static")
    nginx_t(front, container_subs(static), "deploy/docker/front.conf")
    nginx_t(cdn, container_subs(static), "deploy/docker/cdn.conf")
    same_fastcgi(front, "deploy/docker/front.conf")
    return (f"{len(services)} services; images {sorted(i for i in images)}; "
            f"front.conf and cdn.conf pass nginx -t")


@case
def docker_secrets_script_makes_files_the_worker_accepts(ctx):
    """deploy/docker/make-secrets writes a keyring the worker loads (it
    refuses malformed or world-readable ones), passwords shoal-redis
    accepts and the database's three, each readable by group 10000 and
    nobody else, every secret compose.yaml names."""
    d = tempfile.mkdtemp(prefix="shoal-deploy-secrets-")
    try:
        shutil.copy(path("deploy", "docker", "make-secrets"), d)
        p = subprocess.run([os.path.join(d, "make-secrets")], capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 0, f"make-secrets: {p.stderr}")
        sec = os.path.join(d, "secrets")
        for f in ("keyring", "redis-password", "redis-internal-password", "sentinel-password",
                  "db-password", "db-admin-password", "db-replication-password"):
            st = os.stat(os.path.join(sec, f))
            check_eq((st.st_gid, oct(st.st_mode & 0o777)), (10000, "0o640"), f"owner group, mode of {f}")
        env = {"PATH": os.environ.get("PATH", ""), "SHOAL_KEYRING": os.path.join(sec, "keyring"),
               "SHOAL_REDIS": "127.0.0.1:1"}
        # The worker checks its keyring at start: a bad one stops it with
        # exit status 2 at once; a good one has it serve on fd 0 (here a
        # socket it is given by spawn-fcgi -n, killed after a moment).
        port = Ports().one()
        w = subprocess.Popen(["spawn-fcgi", "-n", "-a", "127.0.0.1", "-p", str(port), "--", ctx.bin],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            rc = w.wait(timeout=1.5)
            raise TestFailure(f"the worker refused make-secrets' keyring (exit {rc}): "
                              f"{w.stdout.read().decode()[-300:]}")
        except subprocess.TimeoutExpired:
            pass
        finally:
            if w.poll() is None:
                w.terminate()
                w.wait(timeout=30)
        p = subprocess.run([path("deploy", "redis", "shoal-redis"), "redis", "--render"],
                           env={"PATH": env["PATH"], "REDIS_STATE_DIR": os.path.join(d, "r"),
                                "REDIS_PRIMARY_HOST": "redis-1", "REDIS_ANNOUNCE_HOST": "redis-1",
                                "REDIS_BIND": "127.0.0.1",
                                "SHOAL_REDIS_PASSWORD_FILE": os.path.join(sec, "redis-password"),
                                "SHOAL_REDIS_INTERNAL_PASSWORD_FILE": os.path.join(sec, "redis-internal-password")},
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, f"shoal-redis refuses make-secrets' passwords: {p.stderr}")
        p = subprocess.run([path("deploy", "redis", "shoal-redis"), "sentinel", "--render"],
                           env={"PATH": env["PATH"], "REDIS_STATE_DIR": os.path.join(d, "s"),
                                "REDIS_PRIMARY_HOST": "redis-1", "REDIS_ANNOUNCE_HOST": "sentinel-1",
                                "REDIS_BIND": "127.0.0.1",
                                "SHOAL_SENTINEL_PASSWORD_FILE": os.path.join(sec, "sentinel-password"),
                                "SHOAL_REDIS_INTERNAL_PASSWORD_FILE": os.path.join(sec, "redis-internal-password")},
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, f"shoal-redis sentinel refuses make-secrets' passwords: {p.stderr}")
        for name, sdef in (compose_doc().get("secrets") or {}).items():
            check(os.path.exists(os.path.join(sec, os.path.basename(sdef["file"]))),
                  f"make-secrets does not make {name}, which compose.yaml mounts")
        return "keyring loaded by the worker; passwords accepted by shoal-redis"
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- k8s
K8S_API = {
    "Namespace": "v1", "Secret": "v1", "ConfigMap": "v1", "Service": "v1",
    "Deployment": "apps/v1", "StatefulSet": "apps/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2", "PodDisruptionBudget": "policy/v1",
    "Ingress": "networking.k8s.io/v1", "NetworkPolicy": "networking.k8s.io/v1",
    "Job": "batch/v1",
    # CloudNativePG's (database.yaml; docs/deploy.md names the version)
    "Cluster": "postgresql.cnpg.io/v1", "Pooler": "postgresql.cnpg.io/v1",
}


def k8s_docs():
    need_yaml()
    d = path("deploy", "k8s")
    kust = yaml.safe_load(read("deploy", "k8s", "kustomization.yaml"))
    files = sorted(f for f in os.listdir(d) if f.endswith(".yaml") and f != "kustomization.yaml")
    check_eq(sorted(kust.get("resources") or []), files,
             "kustomization.yaml resources versus the YAML files in deploy/k8s")
    docs = []
    for f in files:
        for doc in yaml.safe_load_all(read("deploy", "k8s", f)):
            if doc:
                docs.append((f, doc))
    return kust, docs


def pod_spec(doc):
    return ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}


def labels_match(selector, labels):
    return selector and all(labels.get(k) == v for k, v in selector.items())


@case
def kubernetes_manifests_parse_and_hang_together(ctx):
    """Every document has the apiVersion of its kind and a name; selectors
    match their pods' labels; Services, HPA, PDBs and the Ingress point at
    workloads, ports and Services that exist; probes ask the worker paths it
    serves on ports the containers declare; every SHOAL_* variable is a
    worker setting and every other one a setting of shoal-redis; volumes,
    Secrets and ConfigMaps referenced exist with the keys used; images are
    Dockerfile stages; the grace period covers the preStop sleep and the
    drain; the sidecar's nginx.conf passes nginx -t and passes the worker
    what the local stack's front passes."""
    kust, docs = k8s_docs()
    by_kind = {}
    for f, doc in docs:
        kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name")
        check(kind in K8S_API, f"{f}: unknown kind {kind}")
        check_eq(doc.get("apiVersion"), K8S_API[kind], f"{f}: apiVersion of {kind} {name}")
        check(name and re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", name), f"{f}: bad name {name!r}")
        check(name not in by_kind.setdefault(kind, {}), f"two {kind} named {name}")
        by_kind[kind][name] = doc
    workloads = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}
    check({"shoal-worker", "redis", "sentinel"} <= set(workloads), f"workloads: {sorted(workloads)}")
    stages = dockerfile_stages()
    image_names = {i["name"] for i in kust.get("images") or []}
    redis_names = shoal_redis_settings() | {"POD_NAME", "POD_IP"}
    secrets = by_kind.get("Secret", {})
    configmaps = by_kind.get("ConfigMap", {})
    probes = 0
    for name, w in workloads.items():
        sel = w["spec"]["selector"]["matchLabels"]
        labels = w["spec"]["template"]["metadata"]["labels"]
        check(labels_match(sel, labels), f"{name}: selector {sel} does not match labels {labels}")
        spec = pod_spec(w)
        vols = {v["name"]: v for v in spec.get("volumes") or []}
        claims = {c["metadata"]["name"] for c in w["spec"].get("volumeClaimTemplates") or []}
        for c in spec["containers"]:
            img = c["image"]
            check(img in image_names, f"{name}/{c['name']}: image {img} not in kustomization images")
            check(img.split("/")[-1] in stages, f"{name}/{c['name']}: image {img} is no Dockerfile stage")
            ports = {p["name"]: p["containerPort"] for p in c.get("ports") or []}
            env = {e["name"]: e.get("value") for e in c.get("env") or []}
            if img.endswith("worker"):
                check_settings(env, f"{name}/{c['name']}")
            elif img.endswith("redis"):
                unknown = sorted(k for k in env if k not in redis_names)
                check(not unknown, f"{name}/{c['name']} sets what shoal-redis does not read: {unknown}")
            for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                pr = c.get(kind)
                if not pr:
                    continue
                probes += 1
                if "httpGet" in pr:
                    port = pr["httpGet"]["port"]
                    check(port in ports or port in ports.values(), f"{name}/{c['name']} {kind}: port {port} undeclared")
                    if img.endswith("nginx") and name == "shoal-cdn":
                        static = ctx.static_dir or path("build", "static")
                        check(os.path.exists(os.path.join(static, pr["httpGet"]["path"].lstrip("/"))),
                              f"{name} {kind}: {pr['httpGet']['path']} is not an asset")
                    else:
                        probe_path_ok(pr["httpGet"]["path"], f"{name}/{c['name']} {kind}")
                elif "tcpSocket" in pr:
                    port = pr["tcpSocket"]["port"]
                    check(port in ports or port in ports.values(), f"{name}/{c['name']} {kind}: port {port} undeclared")
                elif "exec" in pr:
                    cmd = " ".join(pr["exec"]["command"])
                    for p in re.findall(r"shoal-probe\s+(/\S+)\s+127\.0\.0\.1:(\d+)", cmd):
                        probe_path_ok(p[0], f"{name}/{c['name']} {kind}")
                        check(int(p[1]) in ports.values(), f"{name}/{c['name']} {kind}: probes port {p[1]} undeclared")
            for m in c.get("volumeMounts") or []:
                check(m["name"] in vols or m["name"] in claims,
                      f"{name}/{c['name']}: mounts undefined volume {m['name']}")
            if name == "shoal-worker" and c["name"] == "worker":
                cmd = c["command"]
                check("9000" in cmd and ports.get("fastcgi") == 9000, "the worker does not listen on its declared port")
                stop = c["lifecycle"]["preStop"]["exec"]["command"]
                sleep = int(stop[-1]) if stop[0].endswith("sleep") else 0
                drain = int(env.get("SHOAL_DRAIN_SECONDS", "20"))
                grace = spec["terminationGracePeriodSeconds"]
                check(grace > sleep + drain, f"terminationGracePeriodSeconds {grace} <= preStop "
                      f"{sleep} + SHOAL_DRAIN_SECONDS {drain}")
                for addr in env["SHOAL_SENTINELS"].split(","):
                    host, port = addr.rsplit(":", 1)
                    pod, svc = host.split(".", 1)
                    ss = workloads.get(pod.rsplit("-", 1)[0])
                    check(ss and ss["kind"] == "StatefulSet" and ss["spec"]["serviceName"] == svc
                          and int(pod.rsplit("-", 1)[1]) < ss["spec"]["replicas"],
                          f"SHOAL_SENTINELS names {host}, not a pod of a StatefulSet")
                    sports = [p["containerPort"] for cc in pod_spec(ss)["containers"] for p in cc.get("ports", [])]
                    check(int(port) in sports, f"SHOAL_SENTINELS port {port} is not the Sentinel's")
                for res in ("cpu", "memory"):
                    check(res in (c.get("resources") or {}).get("requests", {}),
                          f"worker without a {res} request (the HPA needs cpu)")
        for vname, v in vols.items():
            if "secret" in v:
                s = secrets.get(v["secret"]["secretName"])
                check(s, f"{name}: volume {vname} uses undefined Secret {v['secret']['secretName']}")
                keys = set((s.get("stringData") or {}) | (s.get("data") or {}))
                for it in v["secret"].get("items") or []:
                    check(it["key"] in keys, f"{name}: Secret {s['metadata']['name']} has no key {it['key']}")
                mode = v["secret"].get("defaultMode", 0o644)
                check(mode & 0o007 == 0, f"{name}: volume {vname} is readable by others ({oct(mode)})")
            if "configMap" in v:
                check(v["configMap"]["name"] in configmaps,
                      f"{name}: volume {vname} uses undefined ConfigMap {v['configMap']['name']}")
    for name, s in by_kind.get("Service", {}).items():
        sel = s["spec"]["selector"]
        targets = [w for w in workloads.values()
                   if labels_match(sel, w["spec"]["template"]["metadata"]["labels"])]
        check(targets, f"Service {name} selects no workload")
        for p in s["spec"]["ports"]:
            tp = p.get("targetPort", p["port"])
            for w in targets:
                ports = [q for c in pod_spec(w)["containers"] for q in c.get("ports") or []]
                check(any(tp in (q["name"], q["containerPort"]) for q in ports),
                      f"Service {name}: targetPort {tp} is not a port of {w['metadata']['name']}")
    for name, h in by_kind.get("HorizontalPodAutoscaler", {}).items():
        ref = h["spec"]["scaleTargetRef"]
        check(ref["name"] in by_kind.get(ref["kind"], {}), f"HPA {name} scales unknown {ref}")
        check(h["spec"]["minReplicas"] <= h["spec"]["maxReplicas"], f"HPA {name}: min > max")
    for name, p in by_kind.get("PodDisruptionBudget", {}).items():
        sel = p["spec"]["selector"]["matchLabels"]
        hit = [w for w in workloads.values() if labels_match(sel, w["spec"]["template"]["metadata"]["labels"])]
        check(len(hit) == 1, f"PDB {name} selects {len(hit)} workloads")
        if "minAvailable" in p["spec"]:
            check(p["spec"]["minAvailable"] < hit[0]["spec"]["replicas"],
                  f"PDB {name}: minAvailable leaves no pod to disrupt")
    for name, ing in by_kind.get("Ingress", {}).items():
        for rule in ing["spec"]["rules"]:
            for pth in rule["http"]["paths"]:
                svc = pth["backend"]["service"]
                s = by_kind["Service"].get(svc["name"])
                check(s, f"Ingress {name}: unknown Service {svc['name']}")
                want = svc["port"].get("name", svc["port"].get("number"))
                check(any(want in (p.get("name"), p["port"]) for p in s["spec"]["ports"]),
                      f"Ingress {name}: Service {svc['name']} has no port {want}")
    if shutil.which("kubectl"):
        p = subprocess.run(["kubectl", "kustomize", path("deploy", "k8s")], capture_output=True,
                           text=True, timeout=60)
        check(p.returncode == 0, f"kubectl kustomize deploy/k8s: {p.stderr[-600:]}")
        built = [d for d in yaml.safe_load_all(p.stdout) if d]
        check_eq(len(built), len(docs), "documents kubectl kustomize builds")
        stray = [f"{d['kind']}/{d['metadata']['name']}" for d in built
                 if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "shoal"]
        check(not stray, f"kustomize leaves these outside namespace shoal: {stray}")
    side = configmaps["shoal-sidecar-nginx"]["data"]["nginx.conf"]
    nginx_t(side, [("/tmp/nginx/", "@TMP@/tmp/"), ("listen 8080;", "listen 127.0.0.1:8080;")],
            "the sidecar's nginx.conf")
    same_fastcgi(side, "the sidecar's nginx.conf (deploy/k8s/worker.yaml)")
    return (f"{len(docs)} documents ({', '.join(sorted(by_kind))}); {probes} probes; "
            f"sidecar nginx.conf passes nginx -t")


# ================================================================ the security review
# Each finding of the review of deploy/ has a test here (static: the
# manifests as written, and what deploy/redis/shoal-redis renders from them)
# and, where it can run here, one in cases_stack.py against the local stack.

def env_lines(*parts):
    """NAME=value lines of an environment file, as a dict."""
    out = {}
    for line in read(*parts).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v
    return out


def k8s_by_kind():
    _, docs = k8s_docs()
    out = {}
    for _, doc in docs:
        out.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    return out


def k8s_container(by_kind, workload, container):
    w = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}[workload]
    return next(c for c in pod_spec(w)["containers"] if c["name"] == container)


def k8s_env(c):
    return {e["name"]: e.get("value") for e in c.get("env") or []}


def compose_doc():
    need_yaml()
    return yaml.safe_load(read("deploy", "docker", "compose.yaml"))


def compose_env(s):
    env = s.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def compose_secret_names(s, where=None):
    """The secrets service s mounts: the short syntax (a name) or the long
    one ({source, gid, mode}); with where, each long one must give group
    10000 (shoal-secrets) read access and nobody else any (Swarm mounts it
    with that gid and mode; YAML reads 0440 as octal)."""
    out = []
    for sec in s.get("secrets") or []:
        if isinstance(sec, dict):
            check(isinstance(sec.get("source"), str), f"{where or 'compose'}: secret without source: {sec}")
            if where:
                check(str(sec.get("gid")) == "10000", f"{where}: secret {sec['source']} gid "
                      f"{sec.get('gid')!r}, not \"10000\" (shoal-secrets)")
                mode = sec.get("mode")
                check(mode == 0o440, f"{where}: secret {sec['source']} mode "
                      f"{oct(mode) if isinstance(mode, int) else repr(mode)}, not 0440")
                check(not sec.get("target") or sec["target"] == sec["source"],
                      f"{where}: secret {sec['source']} mounted as {sec.get('target')}")
            out.append(sec["source"])
        else:
            check(isinstance(sec, str), f"{where or 'compose'}: secret {sec!r}")
            out.append(sec)
    return out


def compose_subnet(doc, net):
    """The one subnet of Compose network net (None if it has none)."""
    cfg = (((doc.get("networks") or {}).get(net) or {}).get("ipam") or {}).get("config") or []
    subs = [c.get("subnet") for c in cfg if c.get("subnet")]
    return subs[0] if len(subs) == 1 else None


def compose_anon_volumes(s):
    """The container paths of service s's anonymous volumes (short syntax
    "/path", long syntax type volume without source)."""
    out = []
    for v in s.get("volumes") or []:
        if isinstance(v, str):
            if ":" not in v:
                out.append(v)
        elif v.get("type", "volume") == "volume" and not v.get("source"):
            out.append(v.get("target"))
    return out


def compose_named_volumes(s):
    """{container path: volume name} of service s's named volumes."""
    out = {}
    for v in s.get("volumes") or []:
        if isinstance(v, str):
            if ":" in v:
                out[v.split(":")[1]] = v.split(":")[0]
        elif v.get("source"):
            out[v.get("target")] = v["source"]
    return out


def dockerfile_stage(stage):
    """The text of one stage of the Dockerfile (line continuations joined)."""
    text = read("deploy", "docker", "Dockerfile").replace("\\\n", " ")
    parts = re.split(r"^FROM\s+\S+\s+AS\s+", text, flags=re.M | re.I)
    body = [b for b in parts[1:] if b.split()[0] == stage]
    check(len(body) == 1, f"no stage {stage} in the Dockerfile")
    return body[0]


def stage_makes_folder_for_its_user(stage, folder):
    """The Dockerfile's stage creates folder (mkdir) and gives it to the
    user the stage runs as (USER, by name or id), no other: the engine
    copies that owner to an anonymous volume mounted there. Returns the
    owner."""
    body = dockerfile_stage(stage)
    users = re.findall(r"^USER\s+(\S+)", body, re.M)
    check(users, f"the Dockerfile's {stage} stage has no USER")
    user = users[-1].split(":")[0]
    # The ids useradd gives: "--uid N ... NAME".
    ids = {m.group(2): m.group(1) for m in re.finditer(r"useradd\b[^&;]*?--uid\s+(\d+)[^&;]*?\s(\S+)\s*(?:&&|$)",
                                                          body, re.M)}
    names = {user, ids.get(user)} | {n for n, i in ids.items() if i == user}
    names.discard(None)
    if user == "www-data" or "www-data" in names:
        names.add("33")
    f = re.escape(folder)
    check(re.search(rf"mkdir\s+(?:-p\s+)?(?:[^\s&;|]+\s+)*{f}(?:\s|$)", body),
          f"the Dockerfile's {stage} stage does not create {folder}")
    owners = [m.group(1) for m in re.finditer(rf"chown\s+([^\s:]+)(?::\S+)?\s+(?:[^\s&;|]+\s+)*?{f}(?=\s|$)", body)]
    check(owners and all(o in names for o in owners),
          f"the Dockerfile's {stage} stage does not give {folder} to its user {user} "
          f"(chown {owners or 'none'})")
    return user


def worker_places():
    """Where workers are configured, as (where, environment, settings the
    place passes as files: name -> how it reaches the worker)."""
    unit = parse_unit(read("deploy", "systemd", "shoal@.service"))
    env = env_lines("deploy", "systemd", "shoal.env")
    env.update(dict(v.split("=", 1) for v in unit[("Service", "Environment")]))
    out = [("deploy/systemd (shoal.env, shoal@.service)", env)]
    out.append(("deploy/docker/compose.yaml worker",
                compose_env(compose_doc()["services"]["worker"])))
    out.append(("deploy/k8s/worker.yaml worker",
                k8s_env(k8s_container(k8s_by_kind(), "shoal-worker", "worker"))))
    return out


SENTINEL_TEMPLATES = (("deploy", "redis", "sentinel.conf.in"),
                      ("deploy", "redis", "local-sentinel.conf.in"))
SENTINEL_WORKER_USER = "shoal"     # the Sentinels' user for workers
WILDCARD_BINDS = {"*", "-*", "0.0.0.0", "::", "-::*", "::*", "-::"}


def acl_users(text):
    """{user: [rules]} of the `user` lines of a Redis or Sentinel config."""
    out = {}
    for m in re.finditer(r"^user\s+(\S+)\s+(.*)$", text, re.M):
        out[m.group(1)] = m.group(2).split()
    return out


def shoal_redis(role, env, *extra):
    """deploy/redis/shoal-redis ROLE --render in env (PATH added); returns
    the CompletedProcess."""
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    full.update(env)
    return subprocess.run([path("deploy", "redis", "shoal-redis"), role, "--render", *extra],
                          env=full, capture_output=True, text=True, timeout=30)


def password_files(d):
    """Three password files in d, as shoal-redis and the workers take them."""
    import secrets
    out = {}
    for name, var in (("redis-password", "SHOAL_REDIS_PASSWORD_FILE"),
                      ("redis-internal-password", "SHOAL_REDIS_INTERNAL_PASSWORD_FILE"),
                      ("sentinel-password", "SHOAL_SENTINEL_PASSWORD_FILE")):
        p = os.path.join(d, name)
        with open(p, "w") as f:
            f.write(secrets.token_urlsafe(24) + "\n")
        os.chmod(p, 0o600)
        out[var] = p
    return out


def sha256_hex(s):
    import hashlib
    return hashlib.sha256(s.encode()).hexdigest()


# ---------------------------------------------------------------- 1: Sentinels
@case
def sentinels_require_a_password_and_listen_on_a_named_address(ctx):
    """Finding 1. Both Sentinel templates: no `protected-mode no`; the
    default user off; every user with a password (no nopass); the workers'
    user may only PING and ask for the primary's address; the Sentinels log
    in to each other (sentinel-user, sentinel-pass). shoal-redis refuses to
    start without REDIS_BIND, or with an all-interfaces address, with exit
    status 2 and one line; rendered with an address, the Sentinel config
    binds only that, requires a password and carries the hash of the
    workers' Sentinel password."""
    worker_user = None
    for parts in SENTINEL_TEMPLATES:
        where = "/".join(parts)
        text = read(*parts)
        check(not re.search(r"^\s*protected-mode\s+no\b", text, re.M),
              f"{where}: protected-mode no")
        users = acl_users(text)
        check(users.get("default", [None])[0] == "off",
              f"{where}: the default user is not off (anyone may reconfigure the Sentinel): "
              f"users {sorted(users)}")
        for u, rules in users.items():
            if u == "default":
                continue
            check("on" in rules and any(r.startswith("#@") or r.startswith("#") for r in rules)
                  and "nopass" not in rules, f"{where}: user {u} without a password hash: {rules}")
        limited = [u for u, rules in users.items()
                   if "+sentinel|get-master-addr-by-name" in rules and "+@all" not in rules]
        check(len(limited) == 1, f"{where}: no (or several) user limited to asking for the "
              f"primary, for the workers: {users}")
        cmds = sorted(r for r in users[limited[0]] if r.startswith("+"))
        check_eq(cmds, ["+ping", "+sentinel|get-master-addr-by-name"],
                 f"{where}: what the workers' Sentinel user {limited[0]} may run")
        check_eq(limited[0], SENTINEL_WORKER_USER, f"{where}: the workers' Sentinel user")
        worker_user = limited[0]
        m = re.search(r"^sentinel\s+sentinel-user\s+(\S+)", text, re.M)
        check(m and m.group(1) in users and "+@all" in users[m.group(1)],
              f"{where}: no `sentinel sentinel-user` naming a user of its own with +@all "
              f"(the Sentinels could not talk to each other)")
        check(re.search(r"^sentinel\s+sentinel-pass\s+\S+", text, re.M),
              f"{where}: no `sentinel sentinel-pass`")
        b = re.search(r"^bind\s+(.*)$", text, re.M)
        check(b and not set(b.group(1).split()) & WILDCARD_BINDS,
              f"{where}: bind {b.group(1) if b else '(none)'}")

    d = tempfile.mkdtemp(prefix="shoal-deploy-sentinel-")
    try:
        env = dict(password_files(d), REDIS_STATE_DIR=os.path.join(d, "s"),
                   REDIS_PRIMARY_HOST="127.0.0.1", REDIS_ANNOUNCE_HOST="127.0.0.1")
        for bind in (None, "", "*", "0.0.0.0", "* -::*"):
            e = dict(env)
            if bind is not None:
                e["REDIS_BIND"] = bind
            for role in ("sentinel", "redis"):
                p = shoal_redis(role, e)
                lines = p.stderr.strip().splitlines()
                check(p.returncode == 2 and len(lines) == 1 and "REDIS_BIND" in lines[0],
                      f"shoal-redis {role} with REDIS_BIND={bind!r}: exit {p.returncode}, "
                      f"stderr {p.stderr!r} (expected exit 2 and one line naming REDIS_BIND)")
        p = shoal_redis("sentinel", dict(env, REDIS_BIND="127.0.0.1"))
        check(p.returncode == 0, f"shoal-redis sentinel --render: {p.stderr}")
        conf = open(os.path.join(d, "s", "sentinel.conf")).read()
        check(re.search(r"^bind 127\.0\.0\.1$", conf, re.M), "rendered sentinel.conf: bind")
        check(re.search(r"^protected-mode yes$", conf, re.M),
              "rendered sentinel.conf: protected-mode is not yes (Sentinel's own default is no)")
        users = acl_users(conf)
        with open(env["SHOAL_SENTINEL_PASSWORD_FILE"]) as f:
            want = "#" + sha256_hex(f.read().strip())
        check(want in users.get(worker_user, []),
              f"rendered sentinel.conf: user {worker_user} does not carry the hash of "
              f"SHOAL_SENTINEL_PASSWORD_FILE's password")
        with open(env["SHOAL_REDIS_INTERNAL_PASSWORD_FILE"]) as f:
            internal = f.read().strip()
        check(re.search(r"^sentinel sentinel-pass %s$" % re.escape(internal), conf, re.M),
              "rendered sentinel.conf: sentinel-pass is not the internal password")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return (f"default user off, workers' user {worker_user} limited to PING and "
            f"get-master-addr-by-name; no REDIS_BIND or an all-interfaces one: exit 2")


def announced_redis_hosts():
    """Per target, the addresses (or names) the Redis nodes announce, which
    is what the Sentinels name as the primary."""
    out = {}
    out["deploy/systemd (shoal.env, shoal@.service)"] = [env_lines("deploy", "systemd", "redis.env")
                                                          ["REDIS_ANNOUNCE_HOST"]]
    svcs = compose_doc()["services"]
    # Compose: each node announces its address in REDIS_SUBNET (shoal-redis
    # with shoal-addr), so the subnet stands for every address it may get.
    out["deploy/docker/compose.yaml worker"] = [
        compose_env(s).get("REDIS_SUBNET") or compose_env(s)["REDIS_ANNOUNCE_HOST"]
        for s in svcs.values() if s.get("command") == ["redis"]]
    c = k8s_container(k8s_by_kind(), "redis", "redis")
    out["deploy/k8s/worker.yaml worker"] = [k8s_env(c)["REDIS_ANNOUNCE_HOST"]]
    return out


def in_allowed(addr, allowed):
    """addr (an address, or a subnet: every address in it) is in the list
    of addresses and subnets allowed."""
    import ipaddress
    try:
        a = ipaddress.ip_network(addr, strict=True)
    except ValueError:
        return False
    for item in allowed.split(","):
        item = item.strip()
        if item:
            n = ipaddress.ip_network(item, strict=False)
            if a.version == n.version and a.subnet_of(n):
                return True
    return False


@case
def workers_log_in_to_the_sentinels_wherever_they_are_configured(ctx):
    """Finding 1. systemd, Compose and Kubernetes give the workers
    SHOAL_SENTINEL_USER (the Sentinels' user for workers),
    SHOAL_SENTINEL_PASSWORD_FILE and SHOAL_REDIS_ALLOWED, and no
    SHOAL_REDIS_REPLICA (gone from the worker). A non-empty
    SHOAL_REDIS_ALLOWED lists every address a Redis node announces (else the
    workers would never believe the real primary); where the nodes announce
    host names, which the list cannot hold, it is empty and the workers go
    by what most Sentinels say. The Sentinels get the same password file
    and an explicit REDIS_BIND in every target."""
    user = SENTINEL_WORKER_USER
    hosts = announced_redis_hosts()
    notes = []
    for where, env in worker_places():
        check("SHOAL_REDIS_REPLICA" not in env, f"{where}: still sets SHOAL_REDIS_REPLICA")
        check_eq(env.get("SHOAL_SENTINEL_USER"), user, f"{where}: SHOAL_SENTINEL_USER")
        check(env.get("SHOAL_SENTINEL_PASSWORD_FILE"), f"{where}: no SHOAL_SENTINEL_PASSWORD_FILE")
        check("SHOAL_SENTINEL_PASSWORD" not in env,
              f"{where}: SHOAL_SENTINEL_PASSWORD in the environment (use the file)")
        check("SHOAL_REDIS_ALLOWED" in env, f"{where}: SHOAL_REDIS_ALLOWED is not set")
        allowed = env["SHOAL_REDIS_ALLOWED"]
        for h in hosts[where]:
            if allowed:
                check(in_allowed(h, allowed), f"{where}: a Redis node announces {h}, which "
                      f"SHOAL_REDIS_ALLOWED={allowed} does not list: the workers would "
                      f"refuse it as the primary")
        notes.append(f"{where.split()[0]}: {allowed or 'majority'}")
    # systemd: the worker's password file is a credential of the unit.
    unit = parse_unit(read("deploy", "systemd", "shoal@.service"))
    creds = {v.split(":", 1)[0]: v.split(":", 1)[1] for v in unit[("Service", "LoadCredential")]}
    envs = dict(v.split("=", 1) for v in unit[("Service", "Environment")])
    m = re.fullmatch(r"%d/(\S+)", envs.get("SHOAL_SENTINEL_PASSWORD_FILE", ""))
    check(m and m.group(1) in creds, "shoal@.service: SHOAL_SENTINEL_PASSWORD_FILE is not "
          "one of its credentials")
    sent_unit = parse_unit(read("deploy", "systemd", "shoal-sentinel.service"))
    sent_creds = {v.split(":", 1)[0]: v.split(":", 1)[1]
                  for v in sent_unit[("Service", "LoadCredential")]}
    check(sent_creds.get(m.group(1)) == creds[m.group(1)],
          "shoal-sentinel.service does not load the workers' Sentinel password file")
    for envf in ("redis.env", "sentinel.env"):
        b = env_lines("deploy", "systemd", envf).get("REDIS_BIND", "")
        check(b and not set(b.split()) & WILDCARD_BINDS, f"deploy/systemd/{envf}: REDIS_BIND {b!r}")
    # Compose: a secret the worker and the Sentinels mount.
    doc = compose_doc()
    svcs = doc["services"]
    wenv = compose_env(svcs["worker"])
    sec = wenv["SHOAL_SENTINEL_PASSWORD_FILE"]
    check(sec.startswith("/run/secrets/") and sec.rsplit("/", 1)[1] in (doc.get("secrets") or {})
          and sec.rsplit("/", 1)[1] in compose_secret_names(svcs["worker"]),
          f"compose worker: SHOAL_SENTINEL_PASSWORD_FILE {sec} is not a secret it mounts")
    # Compose's nodes and Sentinels bind their address in REDIS_SUBNET
    # (and loopback), the subnet of network "state" that SHOAL_REDIS_ALLOWED
    # is; the Sentinels name nodes by that address, not by host name
    # (which the list could not hold).
    state_sub = compose_subnet(doc, "state")
    check(state_sub and wenv.get("SHOAL_REDIS_ALLOWED") == state_sub,
          f"compose worker: SHOAL_REDIS_ALLOWED {wenv.get('SHOAL_REDIS_ALLOWED')!r} is not "
          f"network state's subnet {state_sub}")
    for name, s in svcs.items():
        if s.get("command") in (["sentinel"], ["redis"]):
            e = compose_env(s)
            if e.get("REDIS_SUBNET"):
                check_eq(e["REDIS_SUBNET"], state_sub, f"compose {name}: REDIS_SUBNET")
                check("REDIS_BIND" not in e, f"compose {name}: REDIS_BIND with REDIS_SUBNET")
            else:
                b = e.get("REDIS_BIND", "")
                check(b and not set(b.split()) & WILDCARD_BINDS, f"compose {name}: REDIS_BIND {b!r}")
        if s.get("command") == ["sentinel"]:
            check(compose_env(s).get("SHOAL_SENTINEL_PASSWORD_FILE") == sec
                  and sec.rsplit("/", 1)[1] in compose_secret_names(s),
                  f"compose {name}: not given the workers' Sentinel password ({sec})")
            check_eq(compose_env(s).get("SENTINEL_ANNOUNCE_HOSTNAMES"), "no",
                     f"compose {name}: SENTINEL_ANNOUNCE_HOSTNAMES (the workers check addresses)")
    # Kubernetes: a key of a Secret, mounted in the worker and the Sentinels.
    by_kind = k8s_by_kind()
    for wl, cn in (("shoal-worker", "worker"), ("sentinel", "sentinel"), ("redis", "redis")):
        c = k8s_container(by_kind, wl, cn)
        e = k8s_env(c)
        if wl != "redis":
            f = e.get("SHOAL_SENTINEL_PASSWORD_FILE") or ""
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
            mp = next((p for p in mounts if f.startswith(p.rstrip("/") + "/")), None)
            check(mp, f"k8s {wl}: SHOAL_SENTINEL_PASSWORD_FILE {f!r} is not in a mounted volume")
            vols = {v["name"]: v for v in pod_spec({**by_kind["Deployment"], **by_kind["StatefulSet"]}[wl])["volumes"]}
            items = [i["path"] for i in vols[mounts[mp]]["secret"].get("items") or []]
            check(f[len(mp.rstrip("/")) + 1:] in items, f"k8s {wl}: the volume at {mp} has no "
                  f"item {f[len(mp.rstrip('/')) + 1:]} (items {items})")
        else:
            check("SHOAL_SENTINEL_PASSWORD_FILE" not in e, "k8s redis: needs no Sentinel password")
        b = e.get("REDIS_BIND", "") if wl != "shoal-worker" else "-"
        check(b and not set(b.split()) & WILDCARD_BINDS, f"k8s {wl}: REDIS_BIND {b!r}")
    return "; ".join(notes)


# Kubernetes NetworkPolicy, evaluated here: which pod may open which port
# of which other pod. The pods are those of the manifests plus a few from
# outside (the ingress controller, a pod of another namespace, a pod of this
# namespace that is none of ours).
NS = "shoal"
OUTSIDERS = {
    "ingress-nginx controller": ({"app.kubernetes.io/name": "ingress-nginx"},
                                 {"kubernetes.io/metadata.name": "ingress-nginx"}),
    "a pod of another namespace": ({"app": "other"}, {"kubernetes.io/metadata.name": "other"}),
    "a stray pod in namespace shoal": ({"app": "debug"}, {"kubernetes.io/metadata.name": NS}),
    "kube-dns": ({"k8s-app": "kube-dns"}, {"kubernetes.io/metadata.name": "kube-system"}),
    "prometheus": ({"app.kubernetes.io/name": "prometheus"},
                   {"kubernetes.io/metadata.name": "monitoring"}),
}


def selector_matches(sel, labels):
    if sel is None:
        return False
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and labels.get(k) in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def peer_matches(peer, policy_ns, labels, ns_labels):
    if "ipBlock" in peer:
        return True                     # an address range: counted as anyone
    ps, nss = peer.get("podSelector"), peer.get("namespaceSelector")
    if nss is None:
        in_ns = ns_labels.get("kubernetes.io/metadata.name") == policy_ns
    else:
        in_ns = selector_matches(nss, ns_labels)
    return in_ns and (ps is None or selector_matches(ps, labels))


def port_matches(ports, port, proto, named):
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != proto:
            continue
        want = p.get("port")
        if want is None or want == port or named.get(want) == port:
            return True
    return False


def netpol_allows(policies, src, dst, port, proto="TCP"):
    """src and dst: (labels, namespace labels, {port name: number}). True
    when both the egress of src and the ingress of dst allow it."""
    def side(kind, me, other, other_is):
        labels, ns_labels, _ = me
        mine = [p for p in policies
                if ns_labels.get("kubernetes.io/metadata.name") == NS
                and selector_matches(p["spec"].get("podSelector", {}), labels)
                and kind in (p["spec"].get("policyTypes") or ["Ingress"])]
        if not mine:
            return True
        key, peers_key = ("ingress", "from") if kind == "Ingress" else ("egress", "to")
        for p in mine:
            for rule in p["spec"].get(key) or []:
                peers = rule.get(peers_key)
                if peers is not None and not any(
                        peer_matches(q, NS, other[0], other[1]) for q in peers):
                    continue
                if port_matches(rule.get("ports"), port, proto, dst[2]):
                    return True
        return False
    src_ns = src[1].get("kubernetes.io/metadata.name")
    dst_ns = dst[1].get("kubernetes.io/metadata.name")
    return (src_ns != NS or side("Egress", src, dst, "dst")) and \
        (dst_ns != NS or side("Ingress", dst, src, "src"))


@case
def kubernetes_network_policies_admit_only_the_tier_to_redis_and_sentinels(ctx):
    """Finding 1. deploy/k8s has a default-deny NetworkPolicy for the
    namespace (ingress and egress) and explicit allows: evaluated over our
    pods and some from outside, only worker, Redis and Sentinel pods reach
    the Redis and Sentinel ports (both the target's ingress and the
    source's egress rules must allow it); the ingress controller reaches
    the worker pods' HTTP port and the CDN's edge, and nothing else; every
    pod of ours that resolves names reaches kube-dns."""
    by_kind = k8s_by_kind()
    pols = list(by_kind.get("NetworkPolicy", {}).values())
    check(pols, "deploy/k8s has no NetworkPolicy")
    deny = [p for p in pols if p["spec"].get("podSelector") in ({}, None)
            and {"Ingress", "Egress"} <= set(p["spec"].get("policyTypes") or [])
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    check(deny, "no default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rules)")
    ns_labels = {"kubernetes.io/metadata.name": NS}
    pods = {}
    for name, w in {**by_kind["Deployment"], **by_kind["StatefulSet"]}.items():
        named = {p["name"]: p["containerPort"] for c in pod_spec(w)["containers"]
                 for p in c.get("ports") or [] if "name" in p}
        pods[name] = (w["spec"]["template"]["metadata"]["labels"], ns_labels, named)
    for name, (labels, nsl) in OUTSIDERS.items():
        pods[name] = (labels, nsl, {})
    tier = {"shoal-worker", "redis", "sentinel"}
    for dst, port in (("redis", 6379), ("sentinel", 26379)):
        may = {s for s in pods if netpol_allows(pols, pods[s], pods[dst], port)}
        check_eq(sorted(may), sorted(tier), f"who may reach {dst}:{port}")
    for dst, port in (("shoal-worker", 8080), ("shoal-cdn", 8081)):
        may = {s for s in pods if netpol_allows(pols, pods[s], pods[dst], port)}
        check_eq(sorted(may), ["ingress-nginx controller"], f"who may reach {dst}:{port}")
    for dst, port in (("shoal-worker", 9000), ("shoal-cdn", 8082)):
        may = {s for s in pods if netpol_allows(pols, pods[s], pods[dst], port)}
        check_eq(sorted(may), [], f"who may reach {dst}:{port}")
    for src in tier:
        check(netpol_allows(pols, pods[src], pods["kube-dns"], 53, "UDP"),
              f"{src} may not resolve names (kube-dns, UDP 53)")
    return (f"{len(pols)} policies; Redis and Sentinel ports: only {sorted(tier)}; "
            f"ingress controller: worker HTTP and CDN edge only")


def adapter_query_passes_promtool(query, where):
    """prometheus-adapter's metricsQuery, its template fields filled in
    as the adapter fills them for one pod, parsed by promtool (as the
    expression of a recording rule)."""
    q = query.replace("<<.LabelMatchers>>", 'namespace="shoal",pod="shoal-worker-0"')
    q = q.replace("<<.GroupBy>>", "pod")
    check("<<" not in q, f"{where}: a template field the check does not know: {q}")
    check(shutil.which("promtool"), "promtool is missing (make deps installs prometheus)")
    with tempfile.TemporaryDirectory(prefix="shoal-adapter-") as d:
        f = os.path.join(d, "adapter.rules.yml")
        with open(f, "w") as out:
            yaml.safe_dump({"groups": [{"name": "adapter", "rules": [
                {"record": "pod:shoal_busy_ratio:adapter", "expr": q}]}]}, out)
        p = subprocess.run(["promtool", "check", "rules", f], capture_output=True, text=True,
                           timeout=60)
        check(p.returncode == 0, f"{where}: promtool refuses the query {q!r}: "
              f"{(p.stdout + p.stderr).strip()[-400:]}")


@case
def kubernetes_autoscaler_scales_on_the_busy_ratio_with_cpu_as_fallback(ctx):
    """The worker HPA (autoscaling/v2) scales on the per-pod custom metric
    shoal_busy_ratio (an average value below 1) and on CPU; it scales up
    with a shorter stabilisation window than down, down by at most one pod
    at a time; prometheus-adapter's ConfigMap exposes shoal_busy_ratio from
    the worker's own metrics (shoal_thread_busy_seconds_total over
    shoal_threads, per namespace and pod) in a query promtool parses; the
    worker pods carry the prometheus.io annotations for a declared port,
    the worker's SHOAL_METRICS_LISTEN binds it, and only Prometheus may
    reach it (NetworkPolicy, evaluated)."""
    by_kind = k8s_by_kind()
    hpa = by_kind["HorizontalPodAutoscaler"]["shoal-worker"]
    spec = hpa["spec"]
    kinds = {m["type"]: m for m in spec["metrics"]}
    check(set(kinds) == {"Pods", "Resource"}, f"HPA metrics: {sorted(kinds)}")
    pods = kinds["Pods"]["pods"]
    check_eq(pods["metric"]["name"], "shoal_busy_ratio", "the HPA's custom metric")
    check_eq(pods["target"]["type"], "AverageValue", "the busy ratio's target type")
    target = pods["target"]["averageValue"]
    m = re.fullmatch(r"(\d+)m|0?\.(\d+)", str(target))
    check(m, f"busy ratio target {target!r}: not a quantity below 1")
    ratio = int(m.group(1)) / 1000 if m.group(1) else float("0." + m.group(2))
    check(0.3 <= ratio <= 0.9, f"busy ratio target {ratio}: outside 0.3 .. 0.9")
    check_eq(kinds["Resource"]["resource"]["name"], "cpu", "the HPA's fallback resource")
    up, down = spec["behavior"]["scaleUp"], spec["behavior"]["scaleDown"]
    check(up.get("stabilizationWindowSeconds", 0) < down.get("stabilizationWindowSeconds", 300),
          "scaling up must stabilise faster than scaling down")
    check(down.get("stabilizationWindowSeconds", 300) >= 120, "scale-down window under 2 minutes")
    check(all(p["type"] == "Pods" and p["value"] == 1 for p in down["policies"]),
          f"scale-down policies: {down['policies']}")
    check(2 <= spec["minReplicas"] < spec["maxReplicas"], "min and max replicas")

    cm = by_kind["ConfigMap"]["shoal-prometheus-adapter"]
    conf = yaml.safe_load(cm["data"]["config.yaml"])
    rules = [r for r in conf.get("rules") or [] if (r.get("name") or {}).get("as") == "shoal_busy_ratio"]
    check(len(rules) == 1, f"adapter rules exposing shoal_busy_ratio: {len(rules)}")
    r = rules[0]
    check(re.match(r"^shoal_thread_busy_seconds_total\{", r["seriesQuery"]),
          f"adapter seriesQuery: {r['seriesQuery']}")
    over = r["resources"]["overrides"]
    check(over.get("pod", {}).get("resource") == "pod"
          and over.get("namespace", {}).get("resource") == "namespace",
          f"adapter resources: {over}")
    q = r["metricsQuery"]
    for want in ("rate(shoal_thread_busy_seconds_total{<<.LabelMatchers>>}", "shoal_threads{<<.LabelMatchers>>}",
                 "<<.GroupBy>>"):
        check(want in q, f"adapter metricsQuery has no {want}: {q}")
    adapter_query_passes_promtool(q, "the adapter's shoal_busy_ratio")

    w = by_kind["Deployment"]["shoal-worker"]
    ann = w["spec"]["template"]["metadata"].get("annotations") or {}
    check_eq(ann.get("prometheus.io/scrape"), "true", "prometheus.io/scrape")
    worker = next(c for c in pod_spec(w)["containers"] if c["name"] == "worker")
    named = {p["name"]: p["containerPort"] for p in worker.get("ports") or []}
    port = int(ann.get("prometheus.io/port", 0))
    check_eq(named.get("metrics"), port, "the metrics port the annotations name")
    listen = k8s_env(worker).get("SHOAL_METRICS_LISTEN", "")
    check(listen.endswith(f":{port}"), f"SHOAL_METRICS_LISTEN {listen!r} does not bind {port}")
    mdir = k8s_env(worker).get("SHOAL_METRICS_DIR", "")
    mounts = [m for m in worker.get("volumeMounts") or [] if not m.get("readOnly")
              and (mdir == m["mountPath"] or mdir.startswith(m["mountPath"].rstrip("/") + "/"))]
    check(mounts, f"SHOAL_METRICS_DIR {mdir!r} is on no writable volume (the root is read-only)")
    pols = list(by_kind.get("NetworkPolicy", {}).values())
    ns_labels = {"kubernetes.io/metadata.name": NS}
    everyone = {}
    for name, wl in {**by_kind["Deployment"], **by_kind["StatefulSet"]}.items():
        nm = {p["name"]: p["containerPort"] for c in pod_spec(wl)["containers"]
              for p in c.get("ports") or [] if "name" in p}
        everyone[name] = (wl["spec"]["template"]["metadata"]["labels"], ns_labels, nm)
    for name, (labels, nsl) in OUTSIDERS.items():
        everyone[name] = (labels, nsl, {})
    may = {s for s in everyone if netpol_allows(pols, everyone[s], everyone["shoal-worker"], port)}
    check_eq(sorted(may), ["prometheus"], f"who may reach shoal-worker:{port}")
    return (f"HPA {spec['minReplicas']}..{spec['maxReplicas']} on shoal_busy_ratio {ratio} and cpu; "
            f"up window {up.get('stabilizationWindowSeconds', 0)}s, down "
            f"{down.get('stabilizationWindowSeconds')}s; metrics port {port}: Prometheus only")


# ---------------------------------------------------------------- 2: memory
HASH_MIB = 64           # one Argon2id hash (crypto_pwhash, interactive limits)
# A worker process's resident size without a hash running, rounded up with
# room to spare. Measured (docs/operations.md, "Sizing"): 2.7 MiB idle,
# 3.7 MiB after 3,800 page loads and 16 parallel sign-ins, 4 threads; the
# peak during two hashes at once was 131.6 MiB = 2 x 64 MiB + 3.6 MiB.
# cases_stack.py checks a live worker against it.
WORKER_BASE_MIB = 32


def mib(q, where):
    """A memory quantity as MiB: Kubernetes (256Mi, 1Gi, 500M), Compose
    (256m, 1g: binary) and systemd (256M, 1G: binary) spellings."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(q))
    check(m, f"{where}: cannot read the memory quantity {q!r}")
    n, unit = float(m.group(1)), m.group(2)
    factor = {"": 1 / 2**20, "b": 1 / 2**20, "k": 1 / 1024, "K": 1 / 1024, "Ki": 1 / 1024,
              "m": 1, "M": 1, "Mi": 1, "g": 1024, "G": 1024, "Gi": 1024, "T": 2**20, "Ti": 2**20}
    if where.startswith("k8s") and unit in ("k", "M", "G", "T"):
        factor = {"k": 1000 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20, "T": 1e12 / 2**20}
    check(unit in factor, f"{where}: unknown unit in {q!r}")
    return n * factor[unit]


def spawn_processes(argv, where):
    """Worker processes a spawn-fcgi command line starts (-F N, default 1)."""
    argv = list(argv)
    if "-F" in argv:
        return int(argv[argv.index("-F") + 1])
    check(any("spawn-fcgi" in a or "shoal-serve" in a for a in argv),
          f"{where}: not a spawn-fcgi command: {argv}")
    return 1


def worker_memory_places():
    """(where, memory limit text or None, environment, processes)."""
    out = []
    unit = parse_unit(read("deploy", "systemd", "shoal@.service"))
    env = env_lines("deploy", "systemd", "shoal.env")
    limit = (unit.get(("Service", "MemoryMax")) or [None])[-1]
    out.append(("systemd shoal@.service MemoryMax", limit, env,
                spawn_processes(shlex_split(unit[("Service", "ExecStart")][0]), "shoal@.service")))
    doc = compose_doc()
    w = doc["services"]["worker"]
    limit = w.get("mem_limit") or ((((w.get("deploy") or {}).get("resources") or {})
                                    .get("limits") or {}).get("memory"))
    cmd = w.get("command") or docker_worker_cmd()
    out.append(("compose worker mem_limit", limit, compose_env(w),
                spawn_processes(cmd if isinstance(cmd, list) else cmd.split(), "compose worker")))
    c = k8s_container(k8s_by_kind(), "shoal-worker", "worker")
    limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
    out.append(("k8s shoal-worker/worker resources.limits.memory", limit, k8s_env(c),
                spawn_processes(c.get("command") or docker_worker_cmd(), "k8s worker")))
    return out


def shlex_split(s):
    import shlex
    return shlex.split(s)


def docker_worker_cmd():
    import json
    text = read("deploy", "docker", "Dockerfile").split(" AS worker", 1)[1].split("\nFROM ", 1)[0]
    m = re.search(r"^CMD (\[.*\])", text, re.M)
    check(m, "the worker stage has no CMD")
    return json.loads(m.group(1))


@case
def worker_memory_limits_cover_concurrent_password_hashes(ctx):
    """Finding 2. Every place that runs workers sets SHOAL_HASH_CONCURRENCY
    explicitly and a memory limit of at least processes x (base +
    SHOAL_HASH_CONCURRENCY x 64 MiB): each Argon2id hash takes 64 MiB
    whatever the threads, and a process runs at most
    SHOAL_HASH_CONCURRENCY of them at once. Read from the manifests:
    Kubernetes resources.limits.memory, Compose mem_limit or
    deploy.resources.limits.memory, systemd MemoryMax."""
    notes = []
    for where, limit, env, procs in worker_memory_places():
        check("SHOAL_HASH_CONCURRENCY" in env,
              f"{where}: SHOAL_HASH_CONCURRENCY is not set explicitly")
        conc = int(env["SHOAL_HASH_CONCURRENCY"])
        need = procs * (WORKER_BASE_MIB + conc * HASH_MIB)
        check(limit is not None, f"{where}: no memory limit (need at least {need} MiB: "
              f"{procs} x ({WORKER_BASE_MIB} + {conc} x {HASH_MIB}))")
        have = mib(limit, where)
        check(have >= need, f"{where} is {limit} ({have:.0f} MiB), less than {procs} x "
              f"({WORKER_BASE_MIB} + {conc} x {HASH_MIB}) = {need} MiB")
        notes.append(f"{where.split()[0]} {limit} >= {need} MiB")
    return "; ".join(notes)


# ---------------------------------------------------------------- 4: maxmemory
def redis_maxmemory_places():
    """(where, REDIS_MAXMEMORY or None, memory limit of the node or None)."""
    out = [("systemd redis.env", env_lines("deploy", "systemd", "redis.env").get("REDIS_MAXMEMORY"),
            (parse_unit(read("deploy", "systemd", "shoal-redis.service"))
             .get(("Service", "MemoryMax")) or [None])[-1])]
    for name, s in compose_doc()["services"].items():
        if s.get("command") == ["redis"]:
            out.append((f"compose {name}", compose_env(s).get("REDIS_MAXMEMORY"),
                        s.get("mem_limit") or ((((s.get("deploy") or {}).get("resources") or {})
                                                .get("limits") or {}).get("memory"))))
    c = k8s_container(k8s_by_kind(), "redis", "redis")
    out.append(("k8s redis", k8s_env(c).get("REDIS_MAXMEMORY"),
                ((c.get("resources") or {}).get("limits") or {}).get("memory")))
    return out


def redis_size_mib(s, where):
    m = re.fullmatch(r"(\d+)(b|kb|mb|gb)?", s.strip().lower())
    check(m, f"{where}: cannot read the Redis size {s!r}")
    return int(m.group(1)) * {None: 1 / 2**20, "b": 1 / 2**20, "kb": 1 / 1024, "mb": 1,
                              "gb": 1024}[m.group(2)]


@case
def every_redis_config_sets_maxmemory_with_noeviction(ctx):
    """Finding 4. The local Redis config and the production one (as
    shoal-redis renders it, with its default and with each target's
    REDIS_MAXMEMORY) set maxmemory to a stated size, not 0, with
    maxmemory-policy noeviction: a full Redis refuses writes (the workers
    answer 503 and /readyz says "redis is out of memory") rather than
    evicting sessions or running the host out of memory. Each target
    states REDIS_MAXMEMORY and, where the node has a memory limit, leaves
    half as much again for the fork of an AOF rewrite and the buffers;
    shoal-redis refuses a size it cannot read."""
    local = read("deploy", "redis", "local.conf.in")
    m = re.search(r"^maxmemory\s+(\S+)\s*$", local, re.M)
    check(m, "deploy/redis/local.conf.in sets no maxmemory")
    check(redis_size_mib(m.group(1), "local.conf.in") > 0, "local.conf.in: maxmemory 0")
    check(re.search(r"^maxmemory-policy\s+noeviction\s*$", local, re.M),
          "deploy/redis/local.conf.in: maxmemory-policy is not noeviction")
    notes = [f"local {m.group(1)}"]
    d = tempfile.mkdtemp(prefix="shoal-deploy-maxmemory-")
    try:
        env = dict(password_files(d), REDIS_PRIMARY_HOST="127.0.0.1",
                   REDIS_ANNOUNCE_HOST="127.0.0.1", REDIS_BIND="127.0.0.1")
        places = [("shoal-redis default", None, None)] + redis_maxmemory_places()
        for where, size, limit in places:
            check(where == "shoal-redis default" or size,
                  f"{where}: REDIS_MAXMEMORY is not set")
            e = dict(env, REDIS_STATE_DIR=os.path.join(d, re.sub(r"\W", "_", where)))
            if size:
                e["REDIS_MAXMEMORY"] = size
            p = shoal_redis("redis", e)
            check(p.returncode == 0, f"shoal-redis redis --render ({where}): {p.stderr}")
            conf = open(os.path.join(e["REDIS_STATE_DIR"], "redis.conf")).read()
            m = re.search(r"^maxmemory\s+(\S+)\s*$", conf, re.M)
            check(m and redis_size_mib(m.group(1), where) > 0,
                  f"{where}: the rendered redis.conf sets no maxmemory (or 0)")
            check(re.search(r"^maxmemory-policy\s+noeviction\s*$", conf, re.M),
                  f"{where}: the rendered redis.conf: maxmemory-policy is not noeviction")
            if limit is not None:
                have = mib(limit, where)
                need = 1.5 * redis_size_mib(m.group(1), where)
                check(have >= need, f"{where}: memory limit {limit} ({have:.0f} MiB) is less "
                      f"than 1.5 x maxmemory {m.group(1)} ({need:.0f} MiB)")
            notes.append(f"{where.replace('shoal-redis ', '')} {m.group(1)}"
                         + (f" (limit {limit})" if limit else ""))
        for bad in ("0", "lots", "-1mb", "10tb"):
            p = shoal_redis("redis", dict(env, REDIS_MAXMEMORY=bad,
                                          REDIS_STATE_DIR=os.path.join(d, "bad")))
            check(p.returncode == 2 and "REDIS_MAXMEMORY" in p.stderr,
                  f"shoal-redis with REDIS_MAXMEMORY={bad}: exit {p.returncode}, {p.stderr!r}")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return "; ".join(notes)


# ---------------------------------------------------------------- Redis I/O threads
# The CPUs a node may use -> the io-threads shoal-redis gives it
# (deploy/redis/shoal-redis, docs/scaling.md "Redis I/O threads").
IO_THREADS_RULE = ((1, 1), (2, 1), (3, 1), (4, 2), (7, 2), (8, 4), (16, 4), (64, 4))


def io_threads_rule(cpus):
    return 4 if cpus >= 8 else 2 if cpus >= 4 else 1


def io_threads_of(conf, where):
    """(io-threads, io-threads-do-reads) a Redis config sets, each once."""
    n = re.findall(r"^io-threads\s+(\S+)\s*$", conf, re.M)
    r = re.findall(r"^io-threads-do-reads\s+(\S+)\s*$", conf, re.M)
    check(len(n) <= 1 and len(r) <= 1, f"{where}: io-threads {n}, io-threads-do-reads {r}: set twice")
    return (n[0] if n else None), (r[0] if r else None)


def k8s_cpus(q, where):
    """A Kubernetes CPU quantity ("2", "1.5", "250m") as CPUs."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(m?)", str(q).strip())
    check(m, f"{where}: cannot read the CPU quantity {q!r}")
    return float(m.group(1)) / (1000 if m.group(2) else 1)


def io_threads_setting_ok(v):
    return v is None or re.fullmatch(r"[1-9]|1[0-6]", v) is not None


@case
def production_redis_sizes_its_io_threads_to_the_cpus(ctx):
    """redis.conf.in sets io-threads (filled in by shoal-redis) and
    io-threads-do-reads yes. shoal-redis renders REDIS_IO_THREADS as given
    (3 -> 3, for a Redis node and a cluster node) and refuses 0, 17, x, 01
    and -1 with exit status 2 and one line naming it; unset, it sizes the
    threads to the CPUs (SHOAL_REDIS_NPROC standing for nproc, an empty
    SHOAL_REDIS_CGROUP for the host's cgroup): under 4 -> 1, 4-7 -> 2, 8 or
    more -> 4, and a cgroup v2 cpu.max quota below nproc decides instead
    (quota / period rounded down, at least 1). Redis (Debian's, 7.0) starts
    from the rendered config with 2 and runs one I/O thread. Every target
    comes out consistent: Kubernetes states REDIS_IO_THREADS with at least
    that many CPUs requested and no CPU limit below it, as does the OT
    operator's cluster in its own config; systemd and Compose leave it to
    the sizing or state a valid one; the Compose cluster's six nodes on one
    host state 1; the local stack's templates keep 1."""
    tpl = read("deploy", "redis", "redis.conf.in")
    check_eq(io_threads_of(tpl, "deploy/redis/redis.conf.in"), ("@IO_THREADS@", "yes"),
             "deploy/redis/redis.conf.in: (io-threads, io-threads-do-reads)")
    notes = []
    d = tempfile.mkdtemp(prefix="shoal-deploy-io-threads-")
    try:
        cg = os.path.join(d, "cgroup")          # a cgroup v2 mount of the test's own
        os.mkdir(cg)
        env = dict(password_files(d), REDIS_PRIMARY_HOST="127.0.0.1",
                   REDIS_ANNOUNCE_HOST="127.0.0.1", REDIS_BIND="127.0.0.1")
        runs = [0]

        def render(role="redis", **extra):
            runs[0] += 1
            e = dict(env, REDIS_STATE_DIR=os.path.join(d, f"s{runs[0]}"), **extra)
            p = shoal_redis(role, e)
            conf = None
            if p.returncode == 0:
                with open(os.path.join(e["REDIS_STATE_DIR"], "redis.conf")) as f:
                    conf = f.read()
            return p, conf, e

        def threads(what, role="redis", **extra):
            p, conf, _ = render(role, **extra)
            check(p.returncode == 0, f"shoal-redis {role} --render ({what}): exit {p.returncode}, {p.stderr!r}")
            n, reads = io_threads_of(conf, f"rendered redis.conf ({what})")
            check_eq(reads, "yes", f"rendered redis.conf ({what}): io-threads-do-reads")
            check(n is not None and n.isdigit(), f"rendered redis.conf ({what}): io-threads {n!r}")
            return int(n)

        # The host's own CPUs: some value of the rule, never more than the
        # affinity mask gives (a cgroup quota may give less).
        host = threads("this host")
        mine = len(os.sched_getaffinity(0))
        check(host in (1, 2, 4) and host <= io_threads_rule(mine),
              f"rendered redis.conf on this host ({mine} CPUs): io-threads {host}")
        notes.append(f"this host ({mine} CPUs) {host}")
        for role in ("redis", "cluster"):
            check_eq(threads(f"{role}, REDIS_IO_THREADS=3", role, REDIS_IO_THREADS="3"), 3,
                     f"shoal-redis {role} with REDIS_IO_THREADS=3: io-threads")
        check_eq(threads("REDIS_IO_THREADS=3, 16 CPUs", REDIS_IO_THREADS="3", SHOAL_REDIS_NPROC="16",
                         SHOAL_REDIS_CGROUP=cg), 3, "REDIS_IO_THREADS=3 on 16 CPUs: io-threads")
        for bad in ("0", "17", "x", "01", "-1"):
            p, _, _ = render(REDIS_IO_THREADS=bad)
            lines = p.stderr.strip().splitlines()
            check(p.returncode == 2 and len(lines) == 1 and "REDIS_IO_THREADS" in lines[0],
                  f"shoal-redis with REDIS_IO_THREADS={bad}: exit {p.returncode}, stderr {p.stderr!r} "
                  f"(expected exit 2 and one line naming REDIS_IO_THREADS)")
        sized = []
        for cpus, want in IO_THREADS_RULE:
            for role in ("redis", "cluster"):
                got = threads(f"{role}, {cpus} CPUs", role, SHOAL_REDIS_NPROC=str(cpus),
                              SHOAL_REDIS_CGROUP=cg)
                check_eq(got, want, f"shoal-redis {role} on {cpus} CPUs: io-threads")
            sized.append(f"{cpus}->{want}")
        notes.append("CPUs " + " ".join(sized))
        quotas = []
        for nproc, cpu_max, want in ((16, "250000 100000", 1), (16, "400000 100000", 2),
                                     (16, "390000 100000", 1), (16, "800000 100000", 4),
                                     (16, "max 100000", 4),
                                     (16, "50000 100000", 1), (2, "800000 100000", 1)):
            with open(os.path.join(cg, "cpu.max"), "w") as f:
                f.write(cpu_max + "\n")
            got = threads(f"{nproc} CPUs, cpu.max {cpu_max}", SHOAL_REDIS_NPROC=str(nproc),
                          SHOAL_REDIS_CGROUP=cg)
            check_eq(got, want, f"shoal-redis on {nproc} CPUs with cpu.max {cpu_max!r}: io-threads")
            quotas.append(f"{cpu_max.split()[0]}->{want}")
        os.unlink(os.path.join(cg, "cpu.max"))
        notes.append("cpu.max (16 CPUs) " + " ".join(quotas))

        # Redis itself takes the rendered config and runs the threads.
        port = Ports().one()
        p, conf, e = render(REDIS_IO_THREADS="2", REDIS_PORT=str(port), REDIS_PRIMARY_PORT=str(port))
        check(p.returncode == 0, f"shoal-redis redis --render (REDIS_IO_THREADS=2): {p.stderr!r}")
        argv = p.stdout.split()
        check(argv[:1] == ["redis-server"], f"shoal-redis --render printed {p.stdout!r}")
        log = open(os.path.join(d, "redis.log"), "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=d)
        log.close()
        try:
            with open(e["SHOAL_REDIS_INTERNAL_PASSWORD_FILE"]) as f:
                internal = f.read().strip()
            end = time.monotonic() + 20 * ctx.scale
            pong = ""
            while time.monotonic() < end and proc.poll() is None:
                pong = subprocess.run(["redis-cli", "--no-auth-warning", "-p", str(port), "--user", "replica",
                                       "ping"], env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                                     "REDISCLI_AUTH": internal},
                                      capture_output=True, text=True, timeout=10).stdout.strip()
                if pong == "PONG":
                    break
                time.sleep(0.2)
            with open(os.path.join(d, "redis.log"), errors="replace") as f:
                tail = f.read()[-600:]
            check(pong == "PONG", f"redis-server with the rendered config (io-threads 2) did not come up "
                  f"(exit {proc.poll()}):\n{tail}")
            names = []
            for t in os.listdir(f"/proc/{proc.pid}/task"):
                try:
                    with open(f"/proc/{proc.pid}/task/{t}/comm") as f:
                        names.append(f.read().strip())
                except OSError:
                    pass
            io = sorted(n for n in names if n.startswith("io_thd_"))
            check_eq(io, ["io_thd_1"], f"redis-server's I/O threads with io-threads 2 (threads {sorted(names)})")
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        notes.append("redis-server with 2: io_thd_1")
    finally:
        shutil.rmtree(d, ignore_errors=True)

    # The targets.
    c = k8s_container(k8s_by_kind(), "redis", "redis")
    v = k8s_env(c).get("REDIS_IO_THREADS")
    check(v is not None and io_threads_setting_ok(v),
          f"deploy/k8s/redis.yaml: REDIS_IO_THREADS {v!r} (state it: the container has no CPU limit to size by)")
    res = c.get("resources") or {}
    req = (res.get("requests") or {}).get("cpu")
    check(req is not None and k8s_cpus(req, "k8s redis") >= int(v),
          f"deploy/k8s/redis.yaml: REDIS_IO_THREADS {v} with a CPU request of {req} (a core per thread)")
    lim = (res.get("limits") or {}).get("cpu")
    check(lim is None or k8s_cpus(lim, "k8s redis") >= int(v),
          f"deploy/k8s/redis.yaml: REDIS_IO_THREADS {v} under a CPU limit of {lim}")
    notes.append(f"k8s {v} (cpu request {req})")
    need_yaml()
    docs = [x for x in yaml.safe_load_all(read(*K8S_CLUSTER, "redis-cluster.yaml")) if x]
    rc = next(x for x in docs if x["kind"] == "RedisCluster")
    cms = {x["metadata"]["name"]: x for x in docs if x["kind"] == "ConfigMap"}
    for role in ("redisLeader", "redisFollower"):
        name = ((rc["spec"].get(role) or {}).get("redisConfig") or {}).get("additionalRedisConfig")
        check(name in cms, f"RedisCluster {role}: additionalRedisConfig {name!r} is no ConfigMap here")
        text = "\n".join(cms[name]["data"].values())
        n, reads = io_threads_of(text, f"ConfigMap {name}")
        check(n is not None and io_threads_setting_ok(n) and reads == "yes",
              f"ConfigMap {name} ({role}): io-threads {n!r}, io-threads-do-reads {reads!r}")
        res = rc["spec"]["kubernetesConfig"].get("resources") or {}
        req = (res.get("requests") or {}).get("cpu")
        check(req is not None and k8s_cpus(req, "k8s redis-cluster") >= int(n),
              f"RedisCluster: io-threads {n} with a CPU request of {req}")
        lim = (res.get("limits") or {}).get("cpu")
        check(lim is None or k8s_cpus(lim, "k8s redis-cluster") >= int(n),
              f"RedisCluster: io-threads {n} under a CPU limit of {lim}")
    notes.append(f"k8s cluster {n} (cpu request {req})")
    v = env_lines("deploy", "systemd", "redis.env").get("REDIS_IO_THREADS")
    check(io_threads_setting_ok(v), f"deploy/systemd/redis.env: REDIS_IO_THREADS={v}")
    notes.append(f"systemd {v or 'sized'}")
    for name, s in compose_doc()["services"].items():
        if s.get("command") == ["redis"]:
            v = compose_env(s).get("REDIS_IO_THREADS")
            check(io_threads_setting_ok(v), f"compose {name}: REDIS_IO_THREADS={v}")
            notes.append(f"compose {name} {v or 'sized'}")
    cdoc = yaml.safe_load(read("deploy", "docker", "compose.cluster.yaml"))
    nodes = [(k, s) for k, s in cdoc["services"].items() if s.get("command") == ["cluster"]]
    check(len(nodes) == 6, f"compose.cluster.yaml: {len(nodes)} cluster nodes, not 6")
    for name, s in nodes:
        check_eq(compose_env(s).get("REDIS_IO_THREADS"), "1",
                 f"compose.cluster.yaml {name}: REDIS_IO_THREADS (six nodes share one host; sized, each "
                 f"would take the whole host's)")
    for f in ("local.conf.in", "local-cluster.conf.in"):
        n, _ = io_threads_of(read("deploy", "redis", f), f"deploy/redis/{f}")
        check(n in (None, "1"), f"deploy/redis/{f}: io-threads {n} (the local stack runs on 2 cores: 1)")
    notes.append("compose cluster 1, local 1")
    return "; ".join(notes)


# ---------------------------------------------------------------- nginx, parsed
def nginx_tree(text):
    """nginx config text -> [(name, [args], children or None)]: enough of
    nginx's syntax for these configs (comments, quotes, blocks)."""
    toks, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{};":
            toks.append(c)
            i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            toks.append(("q", text[i + 1:j]))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in "{};":
                j += 1
            toks.append(("w", text[i:j]))
            i = j

    def block(pos):
        out, words = [], []
        while pos < len(toks):
            t = toks[pos]
            if t == ";":
                out.append((words[0], words[1:], None))
                words = []
            elif t == "{":
                kids, pos = block(pos + 1)
                out.append((words[0], words[1:], kids))
                words = []
            elif t == "}":
                return out, pos
            else:
                words.append(t[1])
            pos += 1
        return out, pos
    return block(0)[0]


def nginx_all(tree, name):
    return [d for d in tree if d[0] == name]


def nginx_one(tree, name):
    found = nginx_all(tree, name)
    return found[-1][1] if found else None


def nginx_pick_location(server, uri):
    """The location block nginx chooses for uri (exact, ^~ prefix, regexes
    in order, longest prefix): its children."""
    best, best_len, regexes = None, -1, []
    for name, args, kids in server:
        if name != "location":
            continue
        if args[0] == "=":
            if args[1] == uri:
                return kids
        elif args[0] in ("~", "~*"):
            regexes.append((args[0], args[1], kids))
        else:
            pfx = args[1] if args[0] == "^~" else args[0]
            if uri.startswith(pfx) and len(pfx) > best_len:
                best, best_len, stop = kids, len(pfx), args[0] == "^~"
    if best is not None and stop:
        return best
    for op, rx, kids in regexes:
        if re.search(rx, uri, re.I if op == "~*" else 0):
            return kids
    return best


def nginx_seconds(v):
    m = re.fullmatch(r"(\d+)(ms|s|m)?", v)
    check(m, f"cannot read nginx time {v!r}")
    n, u = int(m.group(1)), m.group(2) or "s"
    return n / 1000 if u == "ms" else n * 60 if u == "m" else n


def nginx_bytes(v):
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", v)
    check(m, f"cannot read nginx size {v!r}")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 2**20, "g": 2**30}[m.group(2).lower()]


def render_placeholders(text):
    """A local template with its @FIELDS@ filled in with dummies that nginx
    would accept (the stack fills them in for real)."""
    text = text.replace("@UPSTREAM_SERVERS@", "server 127.0.0.1:9;").replace("@USER_LINE@", "")
    text = text.replace("@STATUS_SERVER@", "")
    text = text.replace("@MAX_BODY@", "65536")
    return re.sub(r"@[A-Z0-9_]+@", "1", text)


def sidecar_conf():
    return k8s_by_kind()["ConfigMap"]["shoal-sidecar-nginx"]["data"]["nginx.conf"]


def nginx_configs():
    """(where, role, text) of every nginx config: the fronts (balancers in
    front of the workers) and the CDNs."""
    return [("deploy/nginx/local.conf.in", "front",
             render_placeholders(read("deploy", "nginx", "local.conf.in"))),
            ("deploy/docker/front.conf", "front", read("deploy", "docker", "front.conf")),
            ("deploy/k8s/worker.yaml sidecar", "front", sidecar_conf()),
            ("deploy/nginx/cdn.conf.in", "cdn",
             render_placeholders(read("deploy", "nginx", "cdn.conf.in"))),
            ("deploy/docker/cdn.conf", "cdn", read("deploy", "docker", "cdn.conf"))]


def password_paths():
    """The shop's pages that hash a password: the POST routes of
    app/example/routes.c (the tier's sign-in and sign-up among them, through
    SHOAL_AUTH_ROUTES) whose handler takes a password."""
    routes = shop_routes()
    posts = set(re.findall(r'SHOAL_POST,\s*"(/[^"]*)"', routes))
    want = {"/login", "/signup", "/account/password"}
    check(want <= posts, f"routes.c has no POST route for {sorted(want - posts)}")
    return sorted(want)


FRONT_TIMEOUT_MAX = {"client_header_timeout": 15, "client_body_timeout": 15,
                     "send_timeout": 15, "keepalive_timeout": 75}
INGRESS_UPSTREAM_KEEPALIVE = 60     # ingress-nginx's upstream-keepalive-timeout default


def client_key_ok(tree, key, where):
    """True when a limit zone's key is the client's address: directly, or a
    map of it (e.g. only for POSTs)."""
    if key == "$binary_remote_addr":
        return True
    for name, args, kids in nginx_all(tree, "map"):
        if args[1] == key:
            vals = [k[1][0] for k in kids if k[1]]
            return "$binary_remote_addr" in vals and all(v in ("$binary_remote_addr", "")
                                                         for v in vals)
    return False


@case
def nginx_configs_limit_password_pages_and_time_out_slow_clients(ctx):
    """Finding 7. Every nginx front (the local stack's, Compose's, the
    Kubernetes sidecar) puts limit_req and limit_conn, keyed on the
    client's address and answering 429, on the location that serves the
    password pages (/login, /signup, /account/password of routes.c), and on
    no other page; every nginx config, the CDNs too, sets
    client_header_timeout, client_body_timeout and send_timeout (15 s at
    most) and keepalive_timeout (75 s at most; the sidecar's longer than
    the ingress controller's idle upstream timeout, so the ingress closes
    first); the sidecar's and Compose's client_max_body_size is the
    worker's SHOAL_MAX_BODY."""
    notes = []
    for where, role, text in nginx_configs():
        top = nginx_tree(text)
        http = next(k for n, a, k in top if n == "http")
        servers = [k for n, a, k in http if n == "server"]
        for t, most in FRONT_TIMEOUT_MAX.items():
            for s in servers:
                v = nginx_one(s, t) or nginx_one(http, t)
                check(v, f"{where}: {t} is not set (nginx's default is 60 s or 75 s)")
                secs = nginx_seconds(v[0])
                check(0 < secs <= most, f"{where}: {t} {v[0]} (at most {most} s)")
                if where.endswith("sidecar") and t == "keepalive_timeout":
                    check(secs > INGRESS_UPSTREAM_KEEPALIVE,
                          f"{where}: keepalive_timeout {v[0]} is not longer than the ingress "
                          f"controller's idle upstream timeout ({INGRESS_UPSTREAM_KEEPALIVE} s)")
        if role != "front":
            continue
        zones = {}
        for n, a, k in http:
            if n in ("limit_req_zone", "limit_conn_zone"):
                z = next(x.split("=", 1)[1].split(":")[0] for x in a if x.startswith("zone="))
                zones[(n, z)] = a
        server = next(s for s in servers if any(n == "location" for n, a, k in s))
        for p in password_paths():
            loc = nginx_pick_location(server, p)
            check(loc is not None, f"{where}: no location serves {p}")
            req = nginx_all(loc, "limit_req") or nginx_all(server, "limit_req") or nginx_all(http, "limit_req")
            check(req, f"{where}: no limit_req for {p}")
            for _, args, _ in req:
                z = next(x.split("=", 1)[1] for x in args if x.startswith("zone="))
                zone = zones.get(("limit_req_zone", z))
                check(zone and client_key_ok(http, zone[0], where),
                      f"{where}: limit_req zone {z} for {p} is not keyed on the client address")
                check(any(x.startswith("rate=") for x in zone), f"{where}: zone {z} has no rate")
            conn = nginx_all(loc, "limit_conn") or nginx_all(server, "limit_conn") or nginx_all(http, "limit_conn")
            check(conn, f"{where}: no limit_conn for {p}")
            for _, args, _ in conn:
                zone = zones.get(("limit_conn_zone", args[0]))
                check(zone and client_key_ok(http, zone[0], where),
                      f"{where}: limit_conn zone {args[0]} for {p} is not keyed on the client address")
            for d in ("limit_req_status", "limit_conn_status"):
                v = nginx_one(loc, d) or nginx_one(server, d) or nginx_one(http, d)
                check(v == ["429"], f"{where}: {d} for {p} is {v} (want 429: too many requests)")
        for p in ("/", "/cart", "/healthz"):
            loc = nginx_pick_location(server, p)
            check(not nginx_all(loc or [], "limit_req") and not nginx_all(server, "limit_req")
                  and not nginx_all(http, "limit_req"), f"{where}: {p} is rate limited too")
        rate = [a for (n, z), a in zones.items() if n == "limit_req_zone"][0]
        notes.append(f"{where.split()[0].split('/')[-1]}: "
                     f"{next(x for x in rate if x.startswith('rate='))}")
    for where, text, env in (("deploy/k8s/worker.yaml sidecar", sidecar_conf(),
                              k8s_env(k8s_container(k8s_by_kind(), "shoal-worker", "worker"))),
                             ("deploy/docker/front.conf", read("deploy", "docker", "front.conf"),
                              compose_env(compose_doc()["services"]["worker"]))):
        http = next(k for n, a, k in nginx_tree(text) if n == "http")
        server = next(k for n, a, k in http if n == "server")
        v = nginx_one(server, "client_max_body_size") or nginx_one(http, "client_max_body_size")
        check("SHOAL_MAX_BODY" in env, f"{where}: the worker's SHOAL_MAX_BODY is not set explicitly")
        check(v and nginx_bytes(v[0]) == int(env["SHOAL_MAX_BODY"]),
              f"{where}: client_max_body_size {v} is not the worker's SHOAL_MAX_BODY "
              f"{env['SHOAL_MAX_BODY']}")
    return "; ".join(notes)


# ---------------------------------------------------------------- 7: Compose
def compose_network_members(svcs):
    out = {}
    for name, s in svcs.items():
        nets = s.get("networks") or ["default"]
        for n in (nets if isinstance(nets, list) else list(nets)):
            out.setdefault(n, set()).add(name)
    return out


@case
def compose_services_drop_privileges_and_keep_fastcgi_internal(ctx):
    """Finding 7. Every Compose service runs with cap_drop [ALL],
    read_only: true (an anonymous volume where nginx writes, which the
    image creates owned by its user) and no-new-privileges:true. The workers' FastCGI port never listens on
    0.0.0.0: each worker binds its address on an internal network that
    only the workers and the front are on; Redis and the Sentinels are on
    an internal network of their own with the workers; only the front and
    the CDN publish ports (mode host), Prometheus none. The
    workers' /metrics is on an internal network of its own that only
    Prometheus shares."""
    doc = compose_doc()
    svcs = doc["services"]
    nets = doc.get("networks") or {}
    for name, s in svcs.items():
        check(s.get("cap_drop") == ["ALL"], f"compose {name}: cap_drop is {s.get('cap_drop')}, not [ALL]")
        check(s.get("read_only") is True, f"compose {name}: read_only is not true")
        check("no-new-privileges:true" in (s.get("security_opt") or []),
              f"compose {name}: security_opt lacks no-new-privileges:true")
        if s["build"]["target"] == "nginx":
            # Not a tmpfs: Swarm mounts one owned by root, and
            # docker-compose 1.x cannot give it a mode. An anonymous
            # volume takes the owner of the image's folder.
            check("/tmp/nginx" in compose_anon_volumes(s),
                  f"compose {name}: no anonymous volume at /tmp/nginx, where nginx writes")
            stage_makes_folder_for_its_user("nginx", "/tmp/nginx")
        check(not s.get("ports") or name in ("front", "cdn"),
              f"compose {name} publishes {s.get('ports')}")
        for port in s.get("ports") or []:
            check(isinstance(port, dict) and port.get("mode") == "host",
                  f"compose {name}: port {port} is not published in mode host "
                  f"(Swarm's ingress would balance it, on every node)")
        check(not s.get("network_mode"), f"compose {name}: network_mode {s.get('network_mode')}")
    w = svcs["worker"]
    mdir = compose_env(w).get("FCGI_METRICS_DIR") or "/run/shoal-metrics"
    check(mdir in compose_anon_volumes(w), f"compose worker: no anonymous volume at {mdir} "
          f"(the counter files /metrics sums; the root is read-only)")
    stage_makes_folder_for_its_user("worker", mdir)
    cmd = w.get("command") or docker_worker_cmd()
    cmd = cmd if isinstance(cmd, list) else cmd.split()
    check(not any(a in ("0.0.0.0", "::", "*") for a in cmd), f"compose worker listens on all "
          f"interfaces: {cmd}")
    check(any(a.endswith("shoal-serve") for a in cmd),
          f"compose worker: not started by shoal-serve (which binds one address): {cmd}")
    env = compose_env(w)
    subnet = env.get("FCGI_SUBNET")
    check(subnet, "compose worker: no FCGI_SUBNET (the network whose address it binds)")
    members = compose_network_members(svcs)
    fcgi = [n for n, v in nets.items()
            if any(c.get("subnet") == subnet for c in ((v or {}).get("ipam") or {}).get("config") or [])]
    check(len(fcgi) == 1, f"compose: FCGI_SUBNET {subnet} is the subnet of no network ({fcgi})")
    check((nets[fcgi[0]] or {}).get("internal") is True, f"compose network {fcgi[0]} is not internal")
    check_eq(members.get(fcgi[0]), {"worker", "front"}, f"services on the FastCGI network {fcgi[0]}")
    msub = env.get("FCGI_METRICS_SUBNET")
    mnet = [n for n, v in nets.items()
            if any(c.get("subnet") == msub for c in ((v or {}).get("ipam") or {}).get("config") or [])]
    check(msub and len(mnet) == 1, f"compose: FCGI_METRICS_SUBNET {msub} is the subnet of no network")
    check((nets[mnet[0]] or {}).get("internal") is True, f"compose network {mnet[0]} is not internal")
    check_eq(members.get(mnet[0]), {"worker", "prometheus"}, f"services on the metrics network {mnet[0]}")
    state = set()
    for name, s in svcs.items():
        if s.get("command") in (["redis"], ["sentinel"]):
            state |= set(s.get("networks") or ["default"])
    check(len(state) == 1, f"compose: Redis and the Sentinels are on several networks {state}")
    state = state.pop()
    check((nets.get(state) or {}).get("internal") is True, f"compose network {state} is not internal")
    check_eq(members[state], {n for n, s in svcs.items() if s.get("command") in (["redis"], ["sentinel"])}
             | {"worker"}, f"services on the state network {state}")
    # shoal-serve binds the one address of the container in FCGI_SUBNET.
    serve = path("deploy", "docker", "shoal-serve")
    p = subprocess.run([serve, "--addr"], env={"PATH": os.environ.get("PATH", ""),
                                               "FCGI_SUBNET": "198.18.0.0/15"},
                       capture_output=True, text=True, timeout=10)
    check(p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1,
          f"shoal-serve with no address in FCGI_SUBNET: exit {p.returncode}, {p.stderr!r}")
    for bad in ("0.0.0.0", "::", "*"):
        p = subprocess.run([serve, "--addr"], env={"PATH": os.environ.get("PATH", ""),
                                                   "FCGI_ADDR": bad},
                           capture_output=True, text=True, timeout=10)
        check(p.returncode == 2, f"shoal-serve with FCGI_ADDR={bad}: exit {p.returncode}")
    mine = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    v4 = [a for a in mine if ":" not in a]
    if v4:
        p = subprocess.run([serve, "--addr"], env={"PATH": os.environ.get("PATH", ""),
                                                   "FCGI_SUBNET": v4[0] + "/32"},
                           capture_output=True, text=True, timeout=10)
        check(p.returncode == 0 and p.stdout.strip() == v4[0],
              f"shoal-serve --addr with FCGI_SUBNET={v4[0]}/32: {p.stdout!r} {p.stderr!r}")
    return (f"{len(svcs)} services locked down; FastCGI on internal network {fcgi[0]} "
            f"(worker, front); state network {state}")


# ---------------------------------------------------------------- 3c: sidecar
WIDE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "0.0.0.0/0", "::/0",
               "fc00::/7", "100.64.0.0/10")


@case
def sidecar_believes_x_forwarded_for_only_from_the_ingress(ctx):
    """Finding 3c. The Kubernetes sidecar takes the client's address from
    X-Forwarded-For only from the ingress controller's address range (a
    value to fill in, documented in docs/deploy.md), never from whole
    private ranges, and the worker behind it trusts no proxy itself (the
    sidecar already resolved the address). Run here with that range made
    127.0.0.2/32: a request from 127.0.0.2 is seen as the address in its
    X-Forwarded-For, one from 127.0.0.1 as 127.0.0.1."""
    import ipaddress
    text = sidecar_conf()
    http = next(k for n, a, k in nginx_tree(text) if n == "http")
    froms = [a[0] for n, a, k in http if n == "set_real_ip_from"]
    check(froms, "the sidecar has no set_real_ip_from")
    for f in froms:
        net = ipaddress.ip_network(f, strict=False)
        check(not any(net.overlaps(ipaddress.ip_network(w)) and net.prefixlen <= ipaddress.ip_network(w).prefixlen
                      for w in WIDE_RANGES if ipaddress.ip_network(w).version == net.version),
              f"the sidecar believes X-Forwarded-For from a whole range: {f}")
        check(net.prefixlen >= (16 if net.version == 4 else 48),
              f"the sidecar's set_real_ip_from {f} is wider than an ingress controller's range")
        check(f in read("docs", "deploy.md"), f"docs/deploy.md does not say what {f} is to be "
              f"replaced with")
    check_eq(nginx_one(http, "real_ip_header"), ["X-Forwarded-For"], "real_ip_header")
    env = k8s_env(k8s_container(k8s_by_kind(), "shoal-worker", "worker"))
    check(not env.get("SHOAL_TRUSTED_PROXIES"), f"the k8s worker trusts proxies itself: "
          f"{env.get('SHOAL_TRUSTED_PROXIES')}")

    # Live: the sidecar's nginx.conf with the range made 127.0.0.2/32, and a
    # location added that answers the address nginx settled on.
    import socket
    port = Ports().one()
    conf = text
    for f in froms:
        conf = conf.replace(f"set_real_ip_from {f};", "set_real_ip_from 127.0.0.2/32;", 1)
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    conf = re.sub(r"(server \{)", r'\1\n location = /__addr { return 200 "$remote_addr"; }', conf, count=1)
    d = tempfile.mkdtemp(prefix="shoal-deploy-sidecar-")
    proc = None
    try:
        conf = conf.replace("/tmp/nginx/", d + "/")
        cf = os.path.join(d, "nginx.conf")
        with open(cf, "w") as f:
            f.write(conf)
        proc = subprocess.Popen(["nginx", "-c", cf, "-p", d + "/", "-e", os.path.join(d, "err.log"),
                                 "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        from harness.ports import wait_port
        check(wait_port(port, 10), f"the sidecar nginx did not listen: {open(os.path.join(d, 'err.log')).read() if os.path.exists(os.path.join(d, 'err.log')) else ''}")

        def seen(src):
            s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(src, 0))
            try:
                s.sendall(b"GET /__addr HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\n"
                          b"Connection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            finally:
                s.close()
            return data.split(b"\r\n\r\n", 1)[1].decode().strip()
        check_eq(seen("127.0.0.2"), "203.0.113.9", "the address seen for a request through the ingress")
        check_eq(seen("127.0.0.1"), "127.0.0.1", "the address seen for a request from elsewhere "
                 "with a forged X-Forwarded-For")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)
    return f"set_real_ip_from {', '.join(froms)} only; believed from the ingress, not from others"


# ================================================================ the database tier
# Issue 13: PostgreSQL, PgBouncer and the migrations in each real target.
# The app's role (shoal_app) reaches the database only through PgBouncer;
# the migrations' (shoal_owner) only straight to the primary; pg_hba lets
# in SCRAM-SHA-256 alone, from named addresses.

DEBIAN_UNITS = "/lib/systemd/system"
DROP_INS = {"postgresql@15-main.service": "postgresql@.service",
            "pgbouncer.service": "pgbouncer.service"}
EXPOSURE_MAX = {"postgresql@15-main.service": 3.0, "pgbouncer.service": 2.0}


def db_uri(uri, where):
    """(user, host, port, database) of a libpq URI with no password."""
    u = urlsplit(uri)
    check(u.scheme in ("postgresql", "postgres"), f"{where}: {uri} is not a postgresql:// URI")
    check(u.password is None, f"{where}: {uri} holds a password")
    return u.username, u.hostname, u.port or 5432, u.path.lstrip("/")


def ini_values(text):
    """key = value lines of an ini file (PgBouncer's), sections ignored."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and line[0] not in ";#[" and "=" in line:
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


@case
def systemd_database_units_order_the_migrations_before_the_workers(ctx):
    """Debian's postgresql@15-main.service and pgbouncer.service with
    shoal's drop-ins pass systemd-analyze verify (with no warning) and rate
    an exposure of 3.0 and 2.0 at most; shoal-db-migrate.service runs `shoal
    db migrate` once as a dynamic user with the admin password as a
    credential, and shoal@.service requires it and starts after it and
    PgBouncer; the workers get the database password as a credential and
    SHOAL_DB / SHOAL_DB_REPLICAS name the host's PgBouncer (its two
    databases) as shoal_app, the migrations the primary of
    pgbouncer.ini as shoal_owner."""
    mig = parse_unit(read("deploy", "systemd", "shoal-db-migrate.service"))
    check_eq(mig[("Service", "Type")], ["oneshot"], "shoal-db-migrate Type")
    check_eq(mig[("Service", "DynamicUser")], ["yes"], "shoal-db-migrate DynamicUser")
    check_eq(mig[("Service", "ExecStart")], [f"{SHOAL_INSTALLED} db migrate"], "shoal-db-migrate ExecStart")
    check("db-admin-password:/etc/shoal/db-admin-password" in mig[("Service", "LoadCredential")],
          "shoal-db-migrate: the admin password is not a credential")
    menv = dict(v.split("=", 1) for v in mig[("Service", "Environment")])
    check_eq(menv.get("SHOAL_DB_ADMIN_PASSWORD_FILE"), "%d/db-admin-password",
             "SHOAL_DB_ADMIN_PASSWORD_FILE in shoal-db-migrate")
    check_eq(mig[("Service", "EnvironmentFile")], ["/etc/shoal/db-migrate.env"], "its EnvironmentFile")
    menv.update(env_lines("deploy", "systemd", "db-migrate.env"))
    check_settings(menv, "shoal-db-migrate.service and db-migrate.env")
    check(not any("PASSWORD" in k and not k.endswith("_FILE") for k in menv),
          "db-migrate.env sets a password")
    unit = parse_unit(read("deploy", "systemd", "shoal@.service"))
    after = " ".join(unit.get(("Unit", "After"), [])).split()
    requires = " ".join(unit.get(("Unit", "Requires"), [])).split()
    for want in ("shoal-db-migrate.service", "pgbouncer.service"):
        check(want in after, f"shoal@.service does not start after {want}: After={after}")
    check("shoal-db-migrate.service" in requires, f"shoal@.service does not require the migrations: {requires}")
    check("db-password:/etc/shoal/db-password" in unit[("Service", "LoadCredential")],
          "shoal@.service: the database password is not a credential")
    wenv = env_lines("deploy", "systemd", "shoal.env")
    check("SHOAL_DB_PASSWORD_FILE" not in wenv, "shoal.env sets SHOAL_DB_PASSWORD_FILE (the unit's credential)")
    wenv.update(dict(v.split("=", 1) for v in unit[("Service", "Environment")]))
    check_eq(wenv.get("SHOAL_DB_PASSWORD_FILE"), "%d/db-password", "SHOAL_DB_PASSWORD_FILE in shoal@.service")
    bouncer = ini_values(read("deploy", "postgres", "hosts", "pgbouncer.ini"))
    dbs = {}
    for line in read("deploy", "postgres", "hosts", "pgbouncer.ini").split("[databases]")[1] \
            .split("[pgbouncer]")[0].splitlines():
        if line.strip() and not line.startswith(";"):
            k, _, v = line.partition("=")
            dbs[k.strip()] = dict(x.split("=", 1) for x in v.split())
    user, host, port, db = db_uri(wenv["SHOAL_DB"], "shoal.env SHOAL_DB")
    check_eq((user, host, str(port), db), ("shoal_app", bouncer["listen_addr"], bouncer["listen_port"], "shoal"),
             "SHOAL_DB versus the host's PgBouncer")
    reps = [db_uri(r, "shoal.env SHOAL_DB_REPLICAS") for r in wenv["SHOAL_DB_REPLICAS"].split(",")]
    for r in reps:
        check(r[3] in dbs and r[3] != "shoal" and r[:3] == (user, host, port),
              f"SHOAL_DB_REPLICAS names {r}, not PgBouncer's replica database")
    auser, ahost, aport, adb = db_uri(menv["SHOAL_DB_ADMIN"], "db-migrate.env SHOAL_DB_ADMIN")
    check_eq((auser, ahost, str(aport), adb), ("shoal_owner", dbs["shoal"]["host"], dbs["shoal"]["port"], "shoal"),
             "SHOAL_DB_ADMIN versus the primary PgBouncer sends writes to")
    check("sslmode=verify-full" in menv["SHOAL_DB_ADMIN"], "the migrations cross the network without verify-full")
    # The hosts' pg_hba: TLS on every TCP line; shoal_app and shoal_owner
    # from the worker hosts (PgBouncer, migrations) and the same ones;
    # replication between the database hosts PgBouncer names; each
    # database host listens on its address.
    hba = hba_lines(read("deploy", "postgres", "hosts", "pg_hba.conf"))
    by_user = {}
    for t, d_, u, a, meth in hba:
        if t != "local":
            check(t == "hostssl", f"deploy/postgres/hosts/pg_hba.conf: {t} {d_} {u} {a} without TLS")
            by_user.setdefault(u, set()).add(a)
    check_eq(sorted(by_user), ["shoal_app", "shoal_owner", "shoal_repl"], "users in the hosts' pg_hba")
    check_eq(by_user["shoal_app"], by_user["shoal_owner"], "the worker hosts for shoal_app and shoal_owner")
    db_hosts = {v["host"] for v in dbs.values()}
    check_eq({a.split("/")[0] for a in by_user["shoal_repl"]}, db_hosts,
             "replication addresses versus the database hosts pgbouncer.ini names")
    check(not (db_hosts & {a.split("/")[0] for a in by_user["shoal_app"]}),
          "the database hosts are let in as shoal_app")
    listen = re.search(r"^listen_addresses = '([^']*)'", read("deploy", "postgres", "hosts", "shoal.conf"), re.M)
    check(listen and dbs["shoal"]["host"] in listen.group(1).split(",") and "*" not in listen.group(1),
          f"shoal.conf listen_addresses {listen and listen.group(1)}: not the primary's address")
    check_eq(bouncer.get("server_tls_sslmode"), "verify-full", "the hosts' PgBouncer server_tls_sslmode")

    if shutil.which("systemd-analyze") is None or not all(
            os.path.exists(os.path.join(DEBIAN_UNITS, u)) for u in DROP_INS.values()):
        return "no systemd-analyze or no Debian units (postgresql-15, pgbouncer): static checks only"
    d = tempfile.mkdtemp(prefix="shoal-deploy-dropins-")
    try:
        notes = []
        for unit_name, debian in DROP_INS.items():
            shutil.copy(os.path.join(DEBIAN_UNITS, debian), d)
            if unit_name != debian:
                os.symlink(debian, os.path.join(d, unit_name))
            shutil.copytree(os.path.join(SYSTEMD, unit_name + ".d"), os.path.join(d, unit_name + ".d"))
        units = [f"./{u}" for u in DROP_INS]
        p = subprocess.run(["systemd-analyze", "verify", "--man=no"] + units, cwd=d,
                           capture_output=True, text=True, timeout=60)
        out = (p.stdout + p.stderr).strip()
        check(p.returncode == 0 and not out, f"systemd-analyze verify the drop-ins (exit {p.returncode}):\n{out}")
        for u in DROP_INS:
            p = subprocess.run(["systemd-analyze", "security", "--offline=yes", f"./{u}"], cwd=d,
                               capture_output=True, text=True, timeout=60)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout)
            check(m, f"systemd-analyze security {u}: {p.stdout[-400:]} {p.stderr[-400:]}")
            # Unknown keys in a drop-in are warnings here, not in verify.
            check(not p.stderr.strip(), f"systemd-analyze security {u}: {p.stderr.strip()}")
            check(float(m.group(1)) <= EXPOSURE_MAX[u], f"{u} with shoal's drop-in: exposure "
                  f"{m.group(1)} > {EXPOSURE_MAX[u]}")
            notes.append(f"{u} {m.group(1)}")
        return "drop-ins verify clean; exposure " + ", ".join(notes)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def shoal_postgres_settings():
    src = read("deploy", "docker", "shoal-postgres")
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)[:}]", src)) | \
        set(re.findall(r"secret ([A-Z][A-Z0-9_]+)", src))


def hba_lines(text):
    """(type, database, user, address or None, method) of pg_hba-style
    lines (PostgreSQL's and PgBouncer's)."""
    out = []
    for line in text.splitlines():
        f = line.split("#", 1)[0].split()
        if not f:
            continue
        if f[0] == "local":
            out.append((f[0], f[1], f[2], None, f[3] if len(f) > 3 else ""))
        else:
            out.append((f[0], f[1], f[2], f[3], f[4] if len(f) > 4 else ""))
    return out


@case
def compose_database_tier_stays_behind_pgbouncer(ctx):
    """The Compose file runs a primary, a replica (slot of its own),
    PgBouncer and a migrate that runs again until it succeeds (Compose's
    restart and Swarm's restart_policy: on-failure) and that the workers
    name in depends_on (a plain list: they refuse an unknown schema and
    are restarted until migrate is done); the "db" network is internal and
    holds PostgreSQL, PgBouncer and migrate, no worker; the "pool" network
    is internal and holds the workers and PgBouncer only; the workers'
    SHOAL_DB and SHOAL_DB_REPLICAS name PgBouncer's two databases as
    shoal_app, migrate's SHOAL_DB_ADMIN the primary as shoal_owner; pg_hba
    lets in shoal_app, shoal_owner and replication from the "db" subnet
    alone (addresses there are given when a task starts); PgBouncer's from
    the pool network; PostgreSQL binds its address in the "db" subnet
    (PG_SUBNET) and PgBouncer its address in the "pool" one
    (PGBOUNCER_SUBNET) and loopback, nothing else; the database images set
    only what shoal-postgres reads, which refuses a missing or
    every-interface address."""
    doc = compose_doc()
    svcs, nets = doc["services"], doc.get("networks") or {}
    for want in ("postgres-1", "postgres-2", "pgbouncer", "migrate"):
        check(want in svcs, f"compose.yaml has no service {want}")
    members = compose_network_members(svcs)
    pg_names = {n for n, s in svcs.items() if s["build"]["target"] == "postgres"}
    check_eq(pg_names, {"postgres-1", "postgres-2"}, "PostgreSQL services")
    check_eq(members.get("db"), pg_names | {"pgbouncer", "migrate"}, "services on network db")
    check_eq(members.get("pool"), {"worker", "pgbouncer"}, "services on network pool")
    for n in ("db", "pool"):
        check((nets.get(n) or {}).get("internal") is True, f"compose network {n} is not internal")
    w = svcs["worker"]
    dep = w.get("depends_on") or []
    check(isinstance(dep, list), f"the workers' depends_on is not a plain list (Swarm): {dep}")
    for want in ("migrate", "pgbouncer"):
        check(want in dep, f"the workers' depends_on does not name {want}: {dep}")
    m = svcs["migrate"]
    check_eq(m["build"]["target"], "worker", "migrate's image stage")
    check_eq(m.get("command"), ["/usr/local/bin/shoal", "db", "migrate"], "migrate's command")
    # Again until it succeeds, then never: Compose reads restart, Swarm
    # deploy.restart_policy (never "any", which would run it forever).
    check_eq(m.get("restart"), "on-failure", "migrate's restart (Compose)")
    check_eq(((m.get("deploy") or {}).get("restart_policy") or {}).get("condition"), "on-failure",
             "migrate's deploy.restart_policy.condition (Swarm)")
    check("postgres-1" in (m.get("depends_on") or []), "migrate does not name postgres-1 in depends_on")
    menv, wenv = compose_env(m), compose_env(w)
    check_settings(menv, "compose migrate")
    bouncer_ini = read("deploy", "docker", "pgbouncer.ini")
    bini = ini_values(bouncer_ini)
    pgb = svcs["pgbouncer"]
    db_sub, pool_sub = compose_subnet(doc, "db"), compose_subnet(doc, "pool")
    # The image's own listen_addr is loopback (its health check); in the
    # container shoal-postgres adds its address in PGBOUNCER_SUBNET.
    check_eq(bini["listen_addr"], "127.0.0.1", "deploy/docker/pgbouncer.ini listen_addr")
    check_eq(compose_env(pgb).get("PGBOUNCER_SUBNET"), pool_sub,
             "compose pgbouncer PGBOUNCER_SUBNET (network pool's subnet)")
    hc = [str(x) for x in (pgb.get("healthcheck") or {}).get("test") or []]
    check("-h" in hc and hc[hc.index("-h") + 1] == "127.0.0.1",
          f"compose pgbouncer's health check does not ask 127.0.0.1: {hc}")
    user, host, port, db = db_uri(wenv["SHOAL_DB"], "compose worker SHOAL_DB")
    check_eq((user, host, str(port), db), ("shoal_app", "pgbouncer", bini["listen_port"], "shoal"),
             "the workers' SHOAL_DB")
    for r in wenv["SHOAL_DB_REPLICAS"].split(","):
        ru, rh, rp, rd = db_uri(r, "compose worker SHOAL_DB_REPLICAS")
        check((ru, rh, rp) == (user, host, port) and re.search(rf"^{rd} = host=postgres-2 ", bouncer_ini, re.M),
              f"SHOAL_DB_REPLICAS {r} is not PgBouncer's database on the replica")
    check(re.search(r"^shoal = host=postgres-1 port=5432 ", bouncer_ini, re.M),
          "PgBouncer's shoal is not postgres-1")
    check("db-password" in compose_secret_names(w) and wenv.get("SHOAL_DB_PASSWORD_FILE") == "/run/secrets/db-password",
          "the workers do not get shoal_app's password as a secret file")
    au, ah, ap, ad = db_uri(menv["SHOAL_DB_ADMIN"], "compose migrate SHOAL_DB_ADMIN")
    check_eq((au, ah, ap, ad), ("shoal_owner", "postgres-1", 5432, "shoal"), "migrate's SHOAL_DB_ADMIN")
    # pg_hba: the "db" subnet and nothing wider, for each client: only
    # PostgreSQL, PgBouncer and migrate are on "db" (checked above), and
    # Swarm gives their addresses when a task starts.
    hba = hba_lines(read("deploy", "docker", "pg_hba.conf"))
    tcp = {(u, a) for t, d, u, a, meth in hba if t.startswith("host")}
    check(db_sub, "compose network db has no subnet")
    want = {("shoal_app", db_sub), ("shoal_owner", db_sub), ("shoal_repl", db_sub)}
    check_eq(tcp, want, "deploy/docker/pg_hba.conf TCP lines (user, address)")
    for n in ("pgbouncer", "migrate"):
        check("db" in (svcs[n].get("networks") or []), f"compose {n} is not on network db")
    bhba = hba_lines(read("deploy", "docker", "pgbouncer_hba.conf"))
    pool_net = nets["pool"]["ipam"]["config"][0]["subnet"]
    check_eq({(u, a) for t, d, u, a, meth in bhba}, {("shoal_app", pool_net)},
             "deploy/docker/pgbouncer_hba.conf (user, address)")
    known = shoal_postgres_settings()
    for n in pg_names | {"pgbouncer"}:
        s = svcs[n]
        unknown = sorted(k for k in compose_env(s) if k not in known)
        check(not unknown, f"compose {n} sets what shoal-postgres does not read: {unknown}")
        check(s.get("healthcheck", {}).get("test"), f"compose {n} has no health check")
        run = "/run/pgbouncer" if n == "pgbouncer" else "/run/postgresql"
        check(run in compose_anon_volumes(s),
              f"compose {n}: no anonymous volume at {run} for its socket or auth_file (read-only root)")
        stage_makes_folder_for_its_user(s["build"]["target"], run)
        if n in pg_names:
            e = compose_env(s)
            check("PG_BIND" not in e, f"compose {n}: a fixed PG_BIND (Swarm gives addresses when a task starts)")
            check_eq(e.get("PG_SUBNET"), db_sub, f"compose {n} PG_SUBNET (network db's subnet)")
            vols = compose_named_volumes(s)
            check(vols.get("/data") in (doc.get("volumes") or {}), f"compose {n}: no volume at /data")
    check(compose_env(svcs["postgres-2"]).get("PG_PRIMARY_HOST") == "postgres-1",
          "postgres-2 does not follow postgres-1")
    sp = path("deploy", "docker", "shoal-postgres")
    for env, what in (({}, "no PG_BIND"), ({"PG_BIND": "0.0.0.0"}, "PG_BIND=0.0.0.0"),
                      ({"PG_SUBNET": "198.18.0.0/15"}, "no address in PG_SUBNET"),
                      ({"PG_SUBNET": "0.0.0.0"}, "PG_SUBNET not a subnet"),
                      ({"PG_SUBNET": "127.0.0.0/8", "PG_BIND": "127.0.0.1"}, "PG_SUBNET with PG_BIND")):
        p = subprocess.run([sp, "primary"], env={"PATH": os.environ.get("PATH", ""), **env},
                           capture_output=True, text=True, timeout=10)
        check(p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1,
              f"shoal-postgres primary with {what}: exit {p.returncode}, {p.stderr!r}")
    return (f"db network: {sorted(members['db'])}; pool network: {sorted(members['pool'])}; "
            f"migrate restarts on failure")


CNPG_MADE_SECRETS = ("-ca", "-server", "-replication", "-app", "-superuser")   # the operator's


def k8s_pods_of_database(by_kind):
    """The pods CloudNativePG makes, as (labels, name) per Cluster instance
    and Pooler: what the operator puts on them plus what the manifests add
    (inheritedMetadata, the Pooler's template)."""
    out = {}
    for name, c in by_kind.get("Cluster", {}).items():
        labels = dict(((c["spec"].get("inheritedMetadata") or {}).get("labels") or {}))
        labels.update({"cnpg.io/cluster": name, "cnpg.io/podRole": "instance"})
        out[f"database {name}"] = labels
    for name, p in by_kind.get("Pooler", {}).items():
        labels = dict((((p["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}))
        labels.update({"cnpg.io/poolerName": name})
        out[f"pooler {name}"] = labels
    return out


@case
def kubernetes_database_tier_hangs_together(ctx):
    """deploy/k8s/database.yaml: a CloudNativePG Cluster of 2 instances,
    SCRAM passwords, no superuser access, database shoal owned by
    shoal_owner (its Secret exists, username shoal_owner) and shoal_app a
    managed role (its Secret exists, username shoal_app) that is no owner,
    superuser, creator or replicator; one rw and one ro Pooler of that
    Cluster in transaction mode; the workers' SHOAL_DB names the rw
    Pooler's Service and SHOAL_DB_REPLICAS the ro one's, as shoal_app with
    the password from shoal_app's Secret; the migrate Job runs `shoal db
    migrate` with the worker image as shoal_owner straight to the Cluster's
    rw Service; every Secret the worker and the Job mount exists (or is
    one the operator makes) with the keys used."""
    by_kind = k8s_by_kind()
    clusters = by_kind.get("Cluster", {})
    check(len(clusters) == 1, f"deploy/k8s has {len(clusters)} CloudNativePG Clusters")
    cname, cl = next(iter(clusters.items()))
    spec = cl["spec"]
    check_eq(spec.get("instances"), 2, "Cluster instances (primary + replica)")
    check_eq(spec.get("enableSuperuserAccess"), False, "Cluster enableSuperuserAccess")
    check_eq(((spec.get("postgresql") or {}).get("parameters") or {}).get("password_encryption"),
             "scram-sha-256", "Cluster password_encryption")
    check((spec.get("storage") or {}).get("size"), "Cluster without storage size")
    init = spec["bootstrap"]["initdb"]
    secrets = by_kind.get("Secret", {})

    def basic_auth(name, user):
        s = secrets.get(name)
        check(s, f"Secret {name} (of {user}) is not in deploy/k8s")
        check_eq(s.get("type"), "kubernetes.io/basic-auth", f"Secret {name} type")
        check_eq((s.get("stringData") or {}).get("username"), user, f"Secret {name} username")
    check_eq((init["database"], init["owner"]), ("shoal", "shoal_owner"), "Cluster database and owner")
    basic_auth(init["secret"]["name"], "shoal_owner")
    roles = {r["name"]: r for r in (spec.get("managed") or {}).get("roles") or []}
    app = roles.get("shoal_app")
    check(app, f"shoal_app is not a managed role: {sorted(roles)}")
    for attr in ("superuser", "createdb", "createrole", "replication", "inherit"):
        check(app.get(attr) is False, f"managed role shoal_app: {attr} is not false")
    check(app.get("login") is True, "managed role shoal_app cannot log in")
    basic_auth(app["passwordSecret"]["name"], "shoal_app")
    sql = " ".join(init.get("postInitApplicationSQL") or [])
    check("OWNER TO shoal_app" not in sql and "GRANT shoal_owner" not in sql,
          "shoal_app is made an owner or a member of shoal_owner")
    check(re.search(r"CREATE ROLE shoal_app [^;]*NOSUPERUSER[^;]*NOINHERIT", sql),
          "postInitApplicationSQL does not make shoal_app as setup.sql does")
    check("REVOKE ALL ON SCHEMA public FROM PUBLIC" in sql, "schema public is not closed to PUBLIC")
    poolers = by_kind.get("Pooler", {})
    types = {}
    for name, p in poolers.items():
        check_eq(p["spec"]["cluster"]["name"], cname, f"Pooler {name}'s cluster")
        check_eq(p["spec"]["pgbouncer"].get("poolMode"), "transaction", f"Pooler {name} poolMode")
        types.setdefault(p["spec"]["type"], []).append(name)
    check(sorted(types) == ["ro", "rw"] and all(len(v) == 1 for v in types.values()),
          f"Poolers by type: {types} (want one rw, one ro)")
    wc = k8s_container(by_kind, "shoal-worker", "worker")
    env = k8s_env(wc)
    u, h, port, db = db_uri(env["SHOAL_DB"], "worker SHOAL_DB")
    check_eq((u, h, port, db), ("shoal_app", types["rw"][0], 5432, "shoal"), "the workers' SHOAL_DB")
    for r in env["SHOAL_DB_REPLICAS"].split(","):
        check_eq(db_uri(r, "worker SHOAL_DB_REPLICAS"), ("shoal_app", types["ro"][0], 5432, "shoal"),
                 "the workers' SHOAL_DB_REPLICAS")
    wspec = pod_spec(by_kind["Deployment"]["shoal-worker"])

    def mounted(spec_, c, file_env):
        """The Secret and key behind the file an environment names."""
        f = k8s_env(c)[file_env]
        m = next((m for m in c.get("volumeMounts") or [] if f.startswith(m["mountPath"].rstrip("/") + "/")), None)
        check(m, f"{c['name']}: {file_env}={f} is on no mounted volume")
        v = next(v for v in spec_["volumes"] if v["name"] == m["name"])
        check("secret" in v, f"{c['name']}: {file_env} is not from a Secret")
        rel = f[len(m["mountPath"].rstrip("/")) + 1:]
        item = next((i for i in v["secret"].get("items") or [] if i["path"] == rel), None)
        check(item, f"{c['name']}: {file_env}: no item {rel} in volume {v['name']}")
        return v["secret"]["secretName"], item["key"]
    check_eq(mounted(wspec, wc, "SHOAL_DB_PASSWORD_FILE"), (app["passwordSecret"]["name"], "password"),
             "where the workers' database password comes from")
    jobs = by_kind.get("Job", {})
    check(len(jobs) == 1, f"deploy/k8s has {len(jobs)} Jobs (want the migrations)")
    jname, job = next(iter(jobs.items()))
    jspec = pod_spec(job)
    jc = jspec["containers"][0]
    check(jc["image"].endswith("/worker"), f"Job {jname}: image {jc['image']} is not the worker's")
    check(jc["command"][-2:] == ["db", "migrate"], f"Job {jname}: command {jc['command']}")
    jenv = k8s_env(jc)
    check_settings(jenv, f"Job {jname}")
    check_eq(db_uri(jenv["SHOAL_DB_ADMIN"], f"Job {jname} SHOAL_DB_ADMIN"),
             ("shoal_owner", f"{cname}-rw", 5432, "shoal"), f"Job {jname}: SHOAL_DB_ADMIN")
    check_eq(mounted(jspec, jc, "SHOAL_DB_ADMIN_PASSWORD_FILE"), (init["secret"]["name"], "password"),
             f"Job {jname}: where the admin password comes from")
    for spec_, who in ((wspec, "shoal-worker"), (jspec, jname)):
        for v in spec_.get("volumes") or []:
            if "secret" not in v:
                continue
            sn = v["secret"]["secretName"]
            if sn in secrets:
                keys = set((secrets[sn].get("stringData") or {}) | (secrets[sn].get("data") or {}))
                for it in v["secret"].get("items") or []:
                    check(it["key"] in keys, f"{who}: Secret {sn} has no key {it['key']}")
            else:
                check(any(sn == cname + suffix for suffix in CNPG_MADE_SECRETS),
                      f"{who}: volume {v['name']} uses Secret {sn}, which neither deploy/k8s nor the "
                      f"operator makes")
                check(all(it["key"] in ("ca.crt", "tls.crt") for it in v["secret"].get("items") or [None]),
                      f"{who}: mounts more than a certificate of the operator's Secret {sn}")
    return (f"Cluster {cname} (2 instances); Poolers rw {types['rw'][0]}, ro {types['ro'][0]}; "
            f"Job {jname}")


@case
def kubernetes_network_policies_keep_the_database_behind_the_poolers(ctx):
    """Evaluated as for Redis, with the pods CloudNativePG makes (labels
    from the Cluster's inheritedMetadata and the Poolers' templates, plus
    the operator's own) and the operator's pod: only the worker pods reach
    the poolers' PgBouncer port; only the poolers, the migrate Job and the
    database pods themselves (replication) reach PostgreSQL's port; no
    worker reaches it directly; only the operator reaches the instance
    manager's status port."""
    by_kind = k8s_by_kind()
    pols = list(by_kind.get("NetworkPolicy", {}).values())
    ns_labels = {"kubernetes.io/metadata.name": NS}
    pods = {}
    for name, w in {**by_kind["Deployment"], **by_kind["StatefulSet"], **by_kind.get("Job", {})}.items():
        named = {p["name"]: p["containerPort"] for c in pod_spec(w)["containers"]
                 for p in c.get("ports") or [] if "name" in p}
        pods[name] = (w["spec"]["template"]["metadata"]["labels"], ns_labels, named)
    db_pods = k8s_pods_of_database(by_kind)
    check(db_pods, "no CloudNativePG Cluster or Pooler")
    for name, labels in db_pods.items():
        pods[name] = (labels, ns_labels, {"postgresql": 5432, "pgbouncer": 5432, "status": 8000})
    for name, (labels, nsl) in OUTSIDERS.items():
        pods[name] = (labels, nsl, {})
    pods["the CloudNativePG operator"] = ({"app.kubernetes.io/name": "cloudnative-pg"},
                                          {"kubernetes.io/metadata.name": "cnpg-system"}, {})
    poolers = sorted(n for n in db_pods if n.startswith("pooler "))
    dbs = sorted(n for n in db_pods if n.startswith("database "))
    jobs = sorted(by_kind.get("Job", {}))
    for dst in poolers:
        may = {s for s in pods if netpol_allows(pols, pods[s], pods[dst], 5432)}
        check_eq(sorted(may), ["shoal-worker"], f"who may reach {dst}:5432")
    for dst in dbs:
        may = {s for s in pods if netpol_allows(pols, pods[s], pods[dst], 5432)}
        check_eq(sorted(may), sorted(poolers + dbs + jobs), f"who may reach {dst}:5432")
        check("shoal-worker" not in may, "the workers reach the database pods directly")
        may = {s for s in pods if netpol_allows(pols, pods[s], pods[dst], 8000)}
        check_eq(sorted(may), ["the CloudNativePG operator"], f"who may reach {dst}:8000")
    for src in poolers + dbs + jobs:
        check(netpol_allows(pols, pods[src], pods["kube-dns"], 53, "UDP"),
              f"{src} may not resolve names (kube-dns, UDP 53)")
    return f"poolers: only shoal-worker; database: only {poolers + jobs} and each other"


def pg_hba_sources():
    """Every pg_hba-style file under deploy/ (PostgreSQL's and PgBouncer's,
    all targets) and the CloudNativePG Cluster's pg_hba lines."""
    out = []
    for root, dirs, files in os.walk(path("deploy")):
        dirs[:] = [d for d in dirs if d != "secrets"]
        for f in files:
            if re.search(r"hba.*\.conf", f):
                with open(os.path.join(root, f)) as fh:
                    out.append((os.path.relpath(os.path.join(root, f), REPO), fh.read()))
    for name, c in k8s_by_kind().get("Cluster", {}).items():
        out.append((f"deploy/k8s Cluster {name} pg_hba",
                    "\n".join(((c["spec"].get("postgresql") or {}).get("pg_hba") or []))))
    return out


PASSWORD_KEY = re.compile(r"(?i)^\s*-?\s*(?:name:\s*)?([A-Za-z0-9_.-]*pass(?:word)?[A-Za-z0-9_.-]*)\s*[:=]\s*(\S.*)$")


@case
def every_pg_hba_admits_only_scram_and_no_password_is_written_down(ctx):
    """Every pg_hba in deploy/ (the local stack's, the hosts', Compose's,
    PgBouncer's, the CloudNativePG Cluster's) has no `trust`; every TCP
    line either rejects or uses scram-sha-256, and admits from no range
    wider than a /16; the unix socket lines use peer. PgBouncer's
    auth_type is hba or scram-sha-256. No manifest under deploy/ holds a
    password: a setting named like a password is a _FILE path, a URI has no
    password, a Secret's values are placeholders."""
    sources = pg_hba_sources()
    check(len(sources) >= 6, f"found only {[s for s, _ in sources]}")
    lines = 0
    for where, text in sources:
        check(not re.search(r"(?<![\w-])trust(?![\w-])", "\n".join(l.split("#", 1)[0] for l in text.splitlines())),
              f"{where}: has trust")
        for t, d, u, a, meth in hba_lines(text):
            lines += 1
            if t == "local":
                check(meth == "peer", f"{where}: local {d} {u} by {meth}, not peer")
                continue
            check(t in ("host", "hostssl"), f"{where}: line type {t}")
            check(meth in ("scram-sha-256", "reject"), f"{where}: {t} {d} {u} {a} by {meth}")
            if meth != "reject":
                net = ipaddress.ip_network(a, strict=False)
                check(net.prefixlen >= (16 if net.version == 4 else 64),
                      f"{where}: {u} admitted from a wide range {a}")
    for f in ("postgres/pgbouncer.ini.in", "postgres/hosts/pgbouncer.ini", "docker/pgbouncer.ini"):
        at = ini_values(read("deploy", *f.split("/"))).get("auth_type")
        check(at in ("hba", "scram-sha-256"), f"deploy/{f}: auth_type {at}")
    leaks = []
    files = 0
    for sub in ("systemd", "docker", "k8s", "postgres"):
        for root, dirs, names in os.walk(path("deploy", sub)):
            dirs[:] = [d for d in dirs if d != "secrets"]
            for f in names:
                text = open(os.path.join(root, f), errors="replace").read()
                files += 1
                rel = os.path.relpath(os.path.join(root, f), REPO)
                for n, line in enumerate(text.splitlines(), 1):
                    body = line.split("#", 1)[0] if not f.endswith(".sql") else line.split("--", 1)[0]
                    for m in re.finditer(r"postgres(?:ql)?://[^/\s@]*:[^/\s@]*@", body):
                        leaks.append(f"{rel}:{n}: a URI with a password")
                    if re.search(r"(?i)\bPASSWORD\s+'[^'%]", body):
                        leaks.append(f"{rel}:{n}: SQL with a password")
                    m = PASSWORD_KEY.match(body)
                    if not m:
                        continue
                    key, val = m.group(1), m.group(2).strip().strip('"')
                    if key.upper().endswith("_FILE") or key.endswith("-password") \
                            or val.startswith(("/", "%d/", "REPLACE-ME", "$")) or "Secret" in val \
                            or key.lower() in ("passwordsecret", "passfile", "password_encryption"):
                        continue
                    leaks.append(f"{rel}:{n}: {key} = {val[:20]}")
    check(not leaks, "passwords written down in deploy/: " + "; ".join(leaks[:5]))
    for name, s in k8s_by_kind().get("Secret", {}).items():
        for k, v in (s.get("stringData") or {}).items():
            check(k == "username" or str(v).startswith("REPLACE-ME"),
                  f"Secret {name} key {k} holds a value, not a placeholder")
    return f"{len(sources)} pg_hba sources, {lines} lines: no trust, TCP by scram; {files} files, no password"


@case
def compose_postgres_launcher_makes_a_primary_and_a_replica_here(ctx):
    """deploy/docker/shoal-postgres run here as it runs in the postgres
    image (as the OS user postgres, the Compose pg_hba.conf with its
    subnet made 127.0.0.1/32): a first start that fails leaves no cluster
    behind; `primary` makes a cluster with the roles of
    setup.sql and their passwords, and listens; shoal_app logs in with
    SCRAM and may not create a table, shoal_owner may; `replica` clones it
    with pg_basebackup through a slot of its own, streams, and keeps no
    password in its postgresql.auto.conf; a wrong password is refused;
    `pgbouncer` (Compose's pgbouncer.ini and pgbouncer_hba.conf, addresses
    made local) lets shoal_app reach the primary as "shoal" and the
    replica as "shoal_replica", and lets neither shoal_owner nor a wrong
    password in."""
    from harness.pg import PG_BIN, reachable_tempdir
    if not os.path.exists(os.path.join(PG_BIN, "initdb")):
        return "PostgreSQL 15 is not installed: skipped"
    pw = pwd.getpwnam("postgres")
    d = reachable_tempdir("shoal-deploy-pgimage-", pw.pw_uid, pw.pw_gid)
    os.chmod(d, 0o755)
    procs = []
    ok = False
    try:
        lib = os.path.join(d, "lib")
        os.mkdir(lib)
        for src in (("deploy", "docker", "shoal-postgres"), ("deploy", "postgres", "postgresql.conf.in"),
                    ("deploy", "postgres", "setup.sql"), ("deploy", "docker", "shoal-addr")):
            shutil.copy(path(*src), lib)
        # The "db" subnet every TCP line admits, made this host's loopback.
        hba, n = re.subn(r"(?m)^(host\S*\s+\S+\s+\S+\s+)172\.30\.3\.0/24\b", r"\g<1>127.0.0.1/32",
                         read("deploy", "docker", "pg_hba.conf"))
        check(n == 3, f"deploy/docker/pg_hba.conf: {n} TCP lines from 172.30.3.0/24, not 3")
        with open(os.path.join(lib, "pg_hba.conf"), "w") as f:
            f.write(hba)
        pws = {}
        for name in ("db-password", "db-admin-password", "db-replication-password"):
            pws[name] = subprocess.run(["sh", "-c", "head -c 24 /dev/urandom | base64 -w 0 | tr '+/' '-_'"],
                                       capture_output=True, text=True).stdout.strip()
            fn = os.path.join(d, name)
            with open(fn, "w") as f:
                f.write(pws[name] + "\n")
            os.chmod(fn, 0o600)
        for root, dirs, files in os.walk(d):
            for x in dirs + files:
                os.chown(os.path.join(root, x), pw.pw_uid, pw.pw_gid)
        os.chown(d, pw.pw_uid, pw.pw_gid)
        p1 = Ports().span(2)
        p2, p3 = p1 + 1, p1 + 2
        base = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "PG_BIND": "127.0.0.1",
                "SHOAL_POSTGRES_LIB": lib,
                "SHOAL_DB_PASSWORD_FILE": os.path.join(d, "db-password"),
                "SHOAL_DB_ADMIN_PASSWORD_FILE": os.path.join(d, "db-admin-password"),
                "SHOAL_DB_REPLICATION_PASSWORD_FILE": os.path.join(d, "db-replication-password")}

        def launch(role, n, port, extra):
            os.makedirs(os.path.join(d, n, "sock"))
            os.chown(os.path.join(d, n), pw.pw_uid, pw.pw_gid)
            os.chown(os.path.join(d, n, "sock"), pw.pw_uid, pw.pw_gid)
            env = dict(base, PG_PORT=str(port), PG_SOCKET_DIR=os.path.join(d, n, "sock"),
                       PGDATA=os.path.join(d, n, "pgdata"), **extra)
            log = open(os.path.join(d, f"{n}.log"), "ab")
            procs.append(subprocess.Popen(
                ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups",
                 os.path.join(lib, "shoal-postgres"), role], env=env, stdout=log, stderr=log,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=d))
            log.close()

        def ready(port, limit=60):
            end = time.monotonic() + limit * ctx.scale
            while time.monotonic() < end:
                if subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
                                  ).returncode == 0:
                    return True
                if any(p.poll() is not None for p in procs):
                    return False
                time.sleep(0.3)
            return False

        def log_of(n):
            return open(os.path.join(d, f"{n}.log"), errors="replace").read()[-800:]

        def q(port, user, password, sql, db="shoal"):
            return subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-At", "-h", "127.0.0.1", "-p", str(port),
                                   "-U", user, "-d", db, "-c", sql],
                                  env={"PATH": "/usr/bin:/bin", "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"},
                                  capture_output=True, text=True, timeout=30)
        # A first start that fails on the way (here: a socket folder the
        # server may not write) must leave no cluster behind, or every
        # later start would take a cluster without roles as made.
        os.makedirs(os.path.join(d, "p0", "sock"))
        os.chown(os.path.join(d, "p0"), pw.pw_uid, pw.pw_gid)
        os.chmod(os.path.join(d, "p0", "sock"), 0o755)          # root's
        r = subprocess.run(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups",
                            os.path.join(lib, "shoal-postgres"), "primary"],
                           env=dict(base, PG_PORT=str(p1), PG_SOCKET_DIR=os.path.join(d, "p0", "sock"),
                                    PGDATA=os.path.join(d, "p0", "pgdata")),
                           capture_output=True, text=True, timeout=120 * ctx.scale, cwd=d)
        check(r.returncode != 0, "shoal-postgres primary with an unwritable socket folder exited 0")
        check(not os.path.exists(os.path.join(d, "p0", "pgdata", "PG_VERSION")),
              "a failed first start left a cluster (PG_VERSION) that the next start would take as made")
        launch("primary", "p1", p1, {})
        check(ready(p1), f"the primary did not come up:\n{log_of('p1')}")
        r = q(p1, "shoal_app", pws["db-password"], "SELECT current_user, rolsuper, rolinherit FROM pg_roles "
              "WHERE rolname = current_user")
        check_eq((r.returncode, r.stdout.strip()), (0, "shoal_app|f|f"), f"shoal_app logs in ({r.stderr.strip()})")
        r = q(p1, "shoal_app", pws["db-password"], "CREATE TABLE t (i int)")
        check(r.returncode != 0 and "permission denied" in r.stderr, f"shoal_app may create a table: {r.stderr}")
        r = q(p1, "shoal_owner", pws["db-admin-password"], "CREATE TABLE t (i int); DROP TABLE t")
        check(r.returncode == 0, f"shoal_owner may not create a table: {r.stderr}")
        r = q(p1, "shoal_app", "wrong-password-0123456789", "SELECT 1")
        check(r.returncode != 0 and "password authentication failed" in r.stderr,
              f"a wrong password: {r.returncode} {r.stderr}")
        launch("replica", "p2", p2, {"PG_PRIMARY_HOST": "127.0.0.1", "PG_PRIMARY_PORT": str(p1),
                                     "PG_SLOT": "postgres_2"})
        check(ready(p2), f"the replica did not come up:\n{log_of('p2')}")
        end = time.monotonic() + 20 * ctx.scale
        state = ""
        while time.monotonic() < end:
            r = subprocess.run(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups",
                                os.path.join(PG_BIN, "psql"), "-X", "-At", "-h", os.path.join(d, "p1", "sock"),
                                "-p", str(p1), "-U", "postgres", "-d", "postgres", "-c",
                                "SELECT state || ' ' || coalesce(slot_name, '') FROM pg_stat_replication "
                                "LEFT JOIN pg_replication_slots ON active_pid = pid"],
                               capture_output=True, text=True, timeout=30)
            state = r.stdout.strip()
            if state == "streaming postgres_2":
                break
            time.sleep(0.3)
        check_eq(state, "streaming postgres_2", f"the replica's state on the primary ({r.stderr.strip()})")
        auto = open(os.path.join(d, "p2", "pgdata", "postgresql.auto.conf")).read()
        check("primary_conninfo" in auto and "password" not in auto and pws["db-replication-password"] not in auto,
              f"the replica's postgresql.auto.conf: {auto}")
        r = q(p2, "shoal_app", pws["db-password"], "SELECT pg_is_in_recovery()")
        check_eq(r.stdout.strip(), "t", f"the replica answers shoal_app as a standby ({r.stderr.strip()})")

        # PgBouncer as the pgbouncer image starts it, Compose's config with
        # its addresses made local, in front of the two.
        ini = read("deploy", "docker", "pgbouncer.ini")
        bhba = os.path.join(lib, "pgbouncer_hba.conf")
        with open(bhba, "w") as f:
            f.write(re.sub(r"\b172\.30\.4\.0/24", "127.0.0.1/32", read("deploy", "docker", "pgbouncer_hba.conf")))
        for a, b in ((r"^listen_addr = .*$", "listen_addr = 127.0.0.1"), (r"^listen_port = .*$", f"listen_port = {p3}"),
                     (r"host=postgres-1 port=5432", f"host=127.0.0.1 port={p1}"),
                     (r"host=postgres-2 port=5432", f"host=127.0.0.1 port={p2}"),
                     (r"^auth_hba_file = .*$", f"auth_hba_file = {bhba}"),
                     (r"^auth_file = /run/pgbouncer/", f"auth_file = {d}/pgb/")):
            ini, n = re.subn(a, b, ini, flags=re.M)
            check(n == 1, f"deploy/docker/pgbouncer.ini: no line {a}")
        conf = os.path.join(lib, "pgbouncer.ini")
        with open(conf, "w") as f:
            f.write(ini)
        os.chown(bhba, pw.pw_uid, pw.pw_gid)
        os.chown(conf, pw.pw_uid, pw.pw_gid)
        log = open(os.path.join(d, "pgb.log"), "ab")
        procs.append(subprocess.Popen(
            ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups",
             os.path.join(lib, "shoal-postgres"), "pgbouncer"],
            env=dict(base, PGBOUNCER_CONF=conf, PGBOUNCER_RUN_DIR=os.path.join(d, "pgb")),
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True, cwd=d))
        log.close()
        check(ready(p3), f"PgBouncer did not come up:\n{log_of('pgb')}")
        r = q(p3, "shoal_app", pws["db-password"], "SELECT current_user || ' ' || pg_is_in_recovery()")
        check_eq(r.stdout.strip(), "shoal_app false", f"shoal_app through PgBouncer's shoal ({r.stderr.strip()})")
        r = q(p3, "shoal_app", pws["db-password"], "SELECT pg_is_in_recovery()", db="shoal_replica")
        check_eq(r.stdout.strip(), "t", f"shoal_app through PgBouncer's shoal_replica ({r.stderr.strip()})")
        r = q(p3, "shoal_owner", pws["db-admin-password"], "SELECT 1")
        check(r.returncode != 0, "PgBouncer lets shoal_owner in")
        r = q(p3, "shoal_app", "wrong-password-0123456789", "SELECT 1")
        check(r.returncode != 0, "PgBouncer lets shoal_app in with a wrong password")
        ok = True
        return (f"primary on {p1}, replica on {p2} streaming through slot postgres_2, PgBouncer on {p3}; "
                f"shoal_app cannot create, shoal_owner not let through PgBouncer")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        # A server the launcher left running (it should not): stopped by
        # its own pid file.
        for n in ("p1", "p2"):
            pidf = os.path.join(d, n, "pgdata", "postmaster.pid")
            if os.path.exists(pidf):
                try:
                    os.kill(int(open(pidf).readline()), signal.SIGINT)
                    ok = False
                except (ValueError, ProcessLookupError):
                    pass
        if ok:
            shutil.rmtree(d, ignore_errors=True)


# ================================================================ Kubernetes: the Redis Cluster overlay
# deploy/k8s/cluster: the base without its Sentinel tier, with a RedisCluster
# of the OT-Container-Kit redis-operator (docs/deploy.md, "Redis Cluster").
K8S_CLUSTER = ("deploy", "k8s", "cluster")
CLUSTER_COMPONENT = "redis-cluster"     # the label of the cluster's pods
CLUSTER_COMMANDS = ("+cluster|slots", "+cluster|shards", "+asking", "+readonly")
OT_OPERATOR = ({"name": "redis-operator"}, {"kubernetes.io/metadata.name": "ot-operators"})


def k8s_cluster_kustomization():
    need_yaml()
    return yaml.safe_load(read(*K8S_CLUSTER, "kustomization.yaml"))


def k8s_cluster_build():
    """The overlay as kubectl kustomize builds it: [documents]."""
    check(shutil.which("kubectl"), "kubectl is not installed (the overlay's patches need kustomize)")
    p = subprocess.run(["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone",
                        path(*K8S_CLUSTER)], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"kubectl kustomize deploy/k8s/cluster: {p.stderr[-600:]}")
    return [d for d in yaml.safe_load_all(p.stdout) if d]


def k8s_cluster_by_kind():
    out = {}
    for d in k8s_cluster_build():
        out.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    return out


def acl_rules_of(text, user):
    users = acl_users(text)
    check(user in users, f"no ACL user {user} (users {sorted(users)})")
    return users[user]


@case
def kubernetes_cluster_overlay_replaces_the_sentinel_tier(ctx):
    """deploy/k8s/cluster/kustomization.yaml names files that exist: every
    base file but redis.yaml (the Sentinel tier), and its own; built, it has
    no Redis or Sentinel StatefulSet, Service, PDB or NetworkPolicy of the
    base, and one RedisCluster (redis.redis.opstreelabs.in/v1beta2) of 3
    leaders and 3 followers with persistence, requests and limits, non-root
    pods and required anti-affinity between pods of one role."""
    kust = k8s_cluster_kustomization()
    res = kust.get("resources") or []
    d = path(*K8S_CLUSTER)
    for r in res:
        check(os.path.isfile(os.path.normpath(os.path.join(d, r))), f"overlay resource {r} does not exist")
    for p in kust.get("patches") or []:
        if "path" in p:
            check(os.path.isfile(os.path.join(d, p["path"])), f"overlay patch {p['path']} does not exist")
    base = yaml.safe_load(read("deploy", "k8s", "kustomization.yaml"))["resources"]
    from_base = sorted(os.path.basename(r) for r in res if r.startswith("../"))
    check("redis.yaml" not in from_base, "the overlay takes the base's redis.yaml (the Sentinel tier)")
    check_eq(from_base, sorted(f for f in base if f != "redis.yaml"), "base files the overlay takes")
    by_kind = k8s_cluster_by_kind()
    for kind, names in (("StatefulSet", ("redis", "sentinel")), ("Service", ("redis", "sentinel")),
                        ("PodDisruptionBudget", ("redis", "sentinel")),
                        ("NetworkPolicy", ("redis", "sentinel"))):
        left = [n for n in names if n in by_kind.get(kind, {})]
        check(not left, f"the overlay still has {kind} {left} of the Sentinel tier")
    rcs = list(by_kind.get("RedisCluster", {}).values())
    check(len(rcs) == 1, f"{len(rcs)} RedisCluster in the overlay")
    rc = rcs[0]
    check_eq(rc["apiVersion"], "redis.redis.opstreelabs.in/v1beta2", "RedisCluster apiVersion")
    spec = rc["spec"]
    for role in ("redisLeader", "redisFollower"):
        n = (spec.get(role) or {}).get("replicas", spec.get("clusterSize"))
        check_eq(n, 3, f"RedisCluster {role} replicas")
        anti = (((spec[role].get("affinity") or {}).get("podAntiAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        want = "leader" if role == "redisLeader" else "follower"
        check(any(t.get("topologyKey") == "kubernetes.io/hostname"
                  and t["labelSelector"]["matchLabels"].get("role") == want for t in anti),
              f"RedisCluster {role}: no required anti-affinity between {want}s by node")
    check(spec.get("persistenceEnabled") is True and
          spec["storage"]["volumeClaimTemplate"]["spec"]["resources"]["requests"].get("storage"),
          "RedisCluster without persistence (persistenceEnabled and a volumeClaimTemplate)")
    resources = spec["kubernetesConfig"].get("resources") or {}
    check(resources.get("requests", {}).get("memory") and resources.get("limits", {}).get("memory"),
          f"RedisCluster without a memory request and limit: {resources}")
    psc = spec.get("podSecurityContext") or {}
    check(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0,
          f"RedisCluster pods may run as root: {psc}")
    check_eq((rc["metadata"].get("labels") or {}).get("app.kubernetes.io/component"), CLUSTER_COMPONENT,
             "the RedisCluster's label (its pods carry it; the NetworkPolicies select by it)")
    return (f"{len(res)} resources ({len(from_base)} from the base, no redis.yaml); "
            f"RedisCluster 3 leaders + 3 followers, {spec['storage']['volumeClaimTemplate']['spec']['resources']['requests']['storage']} each")


@case
def kubernetes_cluster_workers_get_only_settings_shoal_knows(ctx):
    """The overlay's worker has SHOAL_REDIS_CLUSTER (the operator's leader
    and follower Services) and no SHOAL_SENTINELS nor any other Sentinel
    setting; every setting it is given is one the worker reads (config.c's
    table, which `shoal --help` prints: both are checked);
    SHOAL_REDIS_ALLOWED is a list of ranges, none of them everything; the
    password files it names are items of the Secret volume it mounts."""
    by_kind = k8s_cluster_by_kind()
    c = next(c for c in pod_spec(by_kind["Deployment"]["shoal-worker"])["containers"]
             if c["name"] == "worker")
    env = k8s_env(c)
    check("SHOAL_REDIS_CLUSTER" in env and env["SHOAL_REDIS_CLUSTER"],
          "the overlay's worker has no SHOAL_REDIS_CLUSTER")
    sentinel = sorted(k for k in env if k.startswith("SHOAL_SENTINEL"))
    check(not sentinel, f"the overlay's worker still has {sentinel}")
    check_settings(env, "deploy/k8s/cluster worker")
    helped = set()
    if ctx.bin and os.path.exists(ctx.bin):
        p = subprocess.run([ctx.bin, "--help"], capture_output=True, text=True, timeout=30)
        helped = set(re.findall(r"^\s+(SHOAL_[A-Z0-9_]+)\s", p.stdout + p.stderr, re.M))
        check(helped, f"{ctx.bin} --help lists no settings")
        unknown = sorted(k for k in env if k not in helped)
        check(not unknown, f"deploy/k8s/cluster worker: {ctx.bin} --help does not know {unknown}")
    rc = next(iter(by_kind["RedisCluster"].values()))
    name = rc["metadata"]["name"]
    for seed in env["SHOAL_REDIS_CLUSTER"].split(","):
        host, port = seed.rsplit(":", 1)
        check(host in (f"{name}-leader", f"{name}-follower") and int(port) == rc["spec"].get("port", 6379),
              f"SHOAL_REDIS_CLUSTER seed {seed} is not a Service the operator makes for {name}")
    allowed = env.get("SHOAL_REDIS_ALLOWED") or ""
    nets = [ipaddress.ip_network(a.strip(), strict=False) for a in allowed.split(",") if a.strip()]
    check(nets and all(n.prefixlen >= 8 for n in nets),
          f"SHOAL_REDIS_ALLOWED {allowed!r}: not a list of pod ranges (the nodes announce pod addresses)")
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
    vols = {v["name"]: v for v in pod_spec(by_kind["Deployment"]["shoal-worker"])["volumes"]}
    secrets = by_kind["Secret"]
    f = env.get("SHOAL_REDIS_PASSWORD_FILE", "")
    mp = next((p for p in mounts if f.startswith(p.rstrip("/") + "/")), None)
    check(mp, f"SHOAL_REDIS_PASSWORD_FILE {f!r} is not in a mounted volume")
    sec = vols[mounts[mp]]["secret"]
    items = {i["path"]: i["key"] for i in sec.get("items") or []}
    key = items.get(f[len(mp.rstrip("/")) + 1:])
    check(key and key in (secrets[sec["secretName"]].get("stringData") or {}),
          f"SHOAL_REDIS_PASSWORD_FILE: no such item/key in Secret {sec['secretName']}")
    return (f"{len(env)} settings, all known{' to --help' if helped else ''}; "
            f"SHOAL_REDIS_CLUSTER={env['SHOAL_REDIS_CLUSTER']}; SHOAL_REDIS_ALLOWED={allowed}")


@case
def kubernetes_cluster_acl_gives_workers_only_what_users_acl_in_has(ctx):
    """The RedisCluster's ACL Secret (mounted by the operator as user.acl):
    the workers' user (SHOAL_REDIS_USER) has exactly the rules of
    deploy/redis/users.acl.in's, which include the cluster commands
    (CLUSTER SLOTS, CLUSTER SHARDS, ASKING, READONLY), and no +@all, allkeys,
    ~* or allcommands; no user is nopass, each has a password hash; the
    operator's password Secret is the one the RedisCluster names."""
    by_kind = k8s_cluster_by_kind()
    rc = next(iter(by_kind["RedisCluster"].values()))
    acl_secret = ((rc["spec"].get("acl") or {}).get("secret") or {}).get("secretName")
    check(acl_secret in by_kind["Secret"], f"RedisCluster acl.secret.secretName {acl_secret!r} is no Secret")
    text = (by_kind["Secret"][acl_secret].get("stringData") or {}).get("user.acl")
    check(text, f"Secret {acl_secret} has no user.acl (the file the operator mounts)")
    c = next(c for c in pod_spec(by_kind["Deployment"]["shoal-worker"])["containers"]
             if c["name"] == "worker")
    user = k8s_env(c).get("SHOAL_REDIS_USER")
    check(user and user != "default", f"the workers' Redis user is {user!r}")
    mine = acl_rules_of(text, user)
    want = acl_rules_of(read("deploy", "redis", "users.acl.in"), user)
    strip = lambda rules: sorted(r for r in rules if not r.startswith("#") and not r.startswith(">"))
    want_rules = [r.replace("@KEY_PREFIX@", "shoal:") for r in strip(want)]
    check_eq(strip(mine), sorted(want_rules), f"{acl_secret}: the rules of user {user} versus users.acl.in")
    missing = [r for r in CLUSTER_COMMANDS if r not in mine]
    check(not missing, f"{acl_secret}: user {user} lacks {missing}")
    excess = [r for r in mine if r in ("+@all", "allkeys", "~*", "allcommands", "allchannels", "&*", "nopass")]
    check(not excess, f"{acl_secret}: user {user} has {excess}")
    for u, rules in acl_users(text).items():
        check("nopass" not in rules and "on" in rules and
              any(re.fullmatch(r"#(?:[0-9a-f]{64}|REPLACE-ME[-A-Z0-9]*)", r) for r in rules),
              f"{acl_secret}: user {u} without a password hash: {rules}")
    admin = rc["spec"]["kubernetesConfig"]["redisSecret"]
    check(admin["key"] in (by_kind["Secret"].get(admin["name"], {}).get("stringData") or {}),
          f"RedisCluster redisSecret {admin} is no Secret key")
    return f"user {user}: users.acl.in's rules ({len(mine)}), cluster commands, no +@all/~*; every user hashed"


@case
def kubernetes_cluster_network_policies_fence_the_client_and_bus_ports(ctx):
    """Evaluated as for the Sentinel tier over the overlay's pods, the
    cluster's pods (labels the operator gives them: the RedisCluster's and
    its own), the redis-operator's and some from outside: only the workers,
    the cluster's pods and the operator reach 6379 of the cluster; only the
    cluster's pods reach 16379 (the bus); no policy lets every pod or
    namespace (an empty selector or an address range) to either port."""
    by_kind = k8s_cluster_by_kind()
    pols = list(by_kind.get("NetworkPolicy", {}).values())
    ns_labels = {"kubernetes.io/metadata.name": NS}
    rc = next(iter(by_kind["RedisCluster"].values()))
    pods = {}
    for name, w in {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}.items():
        named = {p["name"]: p["containerPort"] for c in pod_spec(w)["containers"]
                 for p in c.get("ports") or [] if "name" in p}
        pods[name] = (w["spec"]["template"]["metadata"]["labels"], ns_labels, named)
    for role in ("leader", "follower"):
        labels = {"app": f"{rc['metadata']['name']}-{role}", "redis_setup_type": "cluster", "role": role,
                  **(rc["metadata"].get("labels") or {})}
        pods[f"cluster {role}"] = (labels, ns_labels, {})
    for name, (labels, nsl) in OUTSIDERS.items():
        pods[name] = (labels, nsl, {})
    pods["redis-operator"] = (OT_OPERATOR[0], OT_OPERATOR[1], {})
    for p in pols:
        for rule in p["spec"].get("ingress") or []:
            ports = {q.get("port") for q in rule.get("ports") or []}
            if ports & {6379, 16379} or not rule.get("ports"):
                for peer in rule.get("from") or [{}]:
                    check("ipBlock" not in peer and peer != {} and peer.get("podSelector") != {}
                          and not (peer.get("namespaceSelector") == {} and not peer.get("podSelector")),
                          f"NetworkPolicy {p['metadata']['name']} lets {peer or 'everyone'} "
                          f"reach {sorted(ports) or 'every port'}")
    tier = {"cluster leader", "cluster follower"}
    for dst in sorted(tier):
        may = {s for s in pods if netpol_allows(pols, pods[s], pods[dst], 6379)}
        check_eq(sorted(may), sorted(tier | {"shoal-worker", "redis-operator"}), f"who may reach {dst}:6379")
        bus = {s for s in pods if netpol_allows(pols, pods[s], pods[dst], 16379)}
        check_eq(sorted(bus), sorted(tier), f"who may reach {dst}:16379 (the cluster bus)")
    for src in tier | {"shoal-worker"}:
        check(netpol_allows(pols, pods[src], pods["kube-dns"], 53, "UDP"), f"{src} may not resolve names")
    return f"{len(pols)} policies; 6379: workers, the cluster, the operator; 16379: the cluster only"
