"""
cases_manifests.py - the manifests that cannot run on this machine (no
systemd as PID 1, no Docker engine, no Kubernetes) checked by the tools of
their ecosystems that do run here (systemd-analyze, nginx -t, apt-cache,
the YAML parser), and against the code: every setting, probe path, port,
image and package they name must exist.
"""

import os
import re
import shutil
import subprocess
import tempfile

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


def served_paths():
    """Paths the worker answers: its built-in ones and the app's routes."""
    router = read("app", "tier", "router.c")
    routes = read("app", "example", "routes.c")
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
}


def unit_dir():
    """The units in a directory of their own, the files they run from where
    docs/deploy.md installs them pointed at the repository's copies."""
    d = tempfile.mkdtemp(prefix="shoal-deploy-units-")
    for f in os.listdir(SYSTEMD):
        if f.endswith(".service"):
            text = open(os.path.join(SYSTEMD, f)).read()
            for a, b in INSTALLED.items():
                text = text.replace(a, b)
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
    d = unit_dir()
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
    Dockerfile.dockerignore; the stages Compose and Kubernetes use exist."""
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
    libs = subprocess.run(["ldd", ctx.bin], capture_output=True, text=True).stdout
    need = set()
    for m in re.finditer(r"=> (/\S+)", libs):
        real = os.path.realpath(m.group(1))
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
    ignore = [l.strip() for l in read("deploy", "docker", "Dockerfile.dockerignore").splitlines()
              if l.strip() and not l.startswith("#")]
    check(ignore[:1] == ["*"], "Dockerfile.dockerignore should start with * and allow files back")
    allowed = [l[1:].rstrip("/") for l in ignore if l.startswith("!")]
    for m in re.finditer(r"^COPY\s+(?!--from)(.*)$", text, re.M):
        srcs = m.group(1).split()[:-1]
        for s in srcs:
            check(os.path.exists(path(s.rstrip("/"))), f"Dockerfile copies {s}, which does not exist")
            check(any(s.rstrip("/") == a or s.startswith(a + "/") for a in allowed),
                  f"Dockerfile copies {s}, which Dockerfile.dockerignore leaves out")
    stages = dockerfile_stages()
    for want in ("build", "worker", "redis", "nginx"):
        check(want in stages, f"no stage {want} in the Dockerfile: {stages}")
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
    limits = set(re.findall(r"^\s*((?:client_max_body_size|large_client_header_buffers|"
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
    return [("/tmp/nginx/", "@TMP@/tmp/"), ("/srv/static", d_static),
            ("server worker:9000", "server 127.0.0.1:9000"),
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
            check_settings(env, f"service {name}")
        elif s["build"]["target"] == "redis":
            unknown = sorted(k for k in env if k not in redis_names)
            check(not unknown, f"service {name} sets what shoal-redis does not read: {unknown}")
        for sec in s.get("secrets") or []:
            check(sec in (doc.get("secrets") or {}), f"service {name} uses undefined secret {sec}")
        for v in s.get("volumes") or []:
            vol = v.split(":")[0]
            check(vol in (doc.get("volumes") or {}), f"service {name} uses undefined volume {vol}")
        for dep in (s.get("depends_on") or {}):
            check(dep in services, f"service {name} depends on unknown {dep}")
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
    host, port = w["SHOAL_REDIS_REPLICA"].rsplit(":", 1)
    check(services.get(host, {}).get("command") == ["redis"] and port == "6379",
          f"SHOAL_REDIS_REPLICA {w['SHOAL_REDIS_REPLICA']} is not a Redis service")
    for name in ("redis-1", "redis-2"):
        e = services[name]["environment"]
        check(e["REDIS_ANNOUNCE_HOST"] == name, f"{name} announces {e['REDIS_ANNOUNCE_HOST']}")
        check(e["REDIS_PRIMARY_HOST"] in services, f"{name}: REDIS_PRIMARY_HOST is no service")
    worker_cmd = re.search(r'^CMD \[(.*)\]', read("deploy", "docker", "Dockerfile").split("AS worker")[1], re.M)
    check(worker_cmd and '"9000"' in worker_cmd.group(1), "the worker image does not listen on 9000")

    front = read("deploy", "docker", "front.conf")
    check("server worker:9000" in front, "front.conf does not balance over worker:9000")
    check(services["front"]["ports"] == ["8080:8080"] and "listen 8080;" in front,
          "front: published port and listen port differ")
    cdn = read("deploy", "docker", "cdn.conf")
    check(services["cdn"]["ports"] == ["8081:8081"] and "listen 8081;" in cdn,
          "cdn: published port and the edge's listen port differ")
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
    refuses malformed or world-readable ones) and passwords shoal-redis
    accepts, each readable by group 10000 and nobody else."""
    d = tempfile.mkdtemp(prefix="shoal-deploy-secrets-")
    try:
        shutil.copy(path("deploy", "docker", "make-secrets"), d)
        p = subprocess.run([os.path.join(d, "make-secrets")], capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 0, f"make-secrets: {p.stderr}")
        sec = os.path.join(d, "secrets")
        for f in ("keyring", "redis-password", "redis-internal-password"):
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
                                "SHOAL_REDIS_PASSWORD_FILE": os.path.join(sec, "redis-password"),
                                "SHOAL_REDIS_INTERNAL_PASSWORD_FILE": os.path.join(sec, "redis-internal-password")},
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, f"shoal-redis refuses make-secrets' passwords: {p.stderr}")
        return "keyring loaded by the worker; passwords accepted by shoal-redis"
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- k8s
K8S_API = {
    "Namespace": "v1", "Secret": "v1", "ConfigMap": "v1", "Service": "v1",
    "Deployment": "apps/v1", "StatefulSet": "apps/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2", "PodDisruptionBudget": "policy/v1",
    "Ingress": "networking.k8s.io/v1",
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
    redis_names = shoal_redis_settings() | {"POD_NAME"}
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
    side = configmaps["shoal-sidecar-nginx"]["data"]["nginx.conf"]
    nginx_t(side, [("/tmp/nginx/", "@TMP@/tmp/"), ("listen 8080;", "listen 127.0.0.1:8080;")],
            "the sidecar's nginx.conf")
    same_fastcgi(side, "the sidecar's nginx.conf (deploy/k8s/worker.yaml)")
    return (f"{len(docs)} documents ({', '.join(sorted(by_kind))}); {probes} probes; "
            f"sidecar nginx.conf passes nginx -t")
