"""
image_cases.py - the Kubernetes manifests (deploy/k8s), which no cluster
here can run, checked against the images the suite built: every shoal image
they name was built and has the tag kustomization.yaml gives it, every
command and exec probe they run exists in that image, every port they
declare the image exposes, and every SHOAL_* setting they give a worker is
one the image's binary knows (its --help).
"""

import glob
import json
import os
import re

import yaml

from harness.core import check


def _containers(root):
    """(file, kind/name, container) for every container of every workload."""
    for path in sorted(glob.glob(os.path.join(root, "deploy", "k8s", "*.yaml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if not doc:
                    continue
                spec = doc.get("spec") or {}
                tpl = spec.get("jobTemplate", {}).get("spec", spec).get("template", {}).get("spec", {})
                for c in (tpl.get("containers") or []) + (tpl.get("initContainers") or []):
                    where = f"{os.path.basename(path)} {doc['kind']}/{doc['metadata']['name']}/{c['name']}"
                    yield where, c


def kubernetes_manifests_match_the_built_images(root, builder):
    version = open(os.path.join(root, "VERSION")).read().strip()
    with open(os.path.join(root, "deploy", "k8s", "kustomization.yaml")) as f:
        kust = yaml.safe_load(f)
    tags = {i["name"]: i.get("newTag") for i in kust.get("images") or []}
    for name, tag in tags.items():
        check(tag == version, f"kustomization.yaml tags {name} {tag!r}, the build {version!r}")

    inspected = {}

    def image(name):
        if name not in inspected:
            p = builder.docker("image", "inspect", f"{name}:{version}", check=False)
            check(p.returncode == 0, f"the manifests name {name}, which the build did not make")
            inspected[name] = json.loads(p.stdout)[0]["Config"]
        return inspected[name]

    def exists(name, path):
        p = builder.docker("run", "--rm", "--network", "none", "--entrypoint", "/usr/bin/test",
                           f"{name}:{version}", "-x", path, check=False, timeout=60)
        return p.returncode == 0

    help_text = builder.docker("run", "--rm", "--network", "none", "--entrypoint",
                               "/usr/local/bin/shoal", f"shoal/worker:{version}", "--help",
                               timeout=60).stdout
    known = set(re.findall(r"^\s+(SHOAL_[A-Z0-9_]+)\s", help_text, re.M))
    check(len(known) > 20, f"shoal --help in the worker image lists {len(known)} settings")

    checked = {"containers": 0, "commands": 0, "ports": 0, "settings": 0}
    for where, c in _containers(root):
        name = (c.get("image") or "").split(":")[0]
        if not name.startswith("shoal/"):
            continue            # the operators' images (CloudNativePG, prometheus-adapter)
        check(name in tags, f"{where}: image {name} has no tag in kustomization.yaml")
        cfg = image(name)
        checked["containers"] += 1
        runs = [c.get("command") or []]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            runs.append(((c.get(probe) or {}).get("exec") or {}).get("command") or [])
        for argv in runs:
            if argv and argv[0].startswith("/"):
                check(exists(name, argv[0]), f"{where}: runs {argv[0]}, which {name} lacks")
                checked["commands"] += 1
        exposed = {int(p.split("/")[0]) for p in (cfg.get("ExposedPorts") or {})}
        for p in c.get("ports") or []:
            check(p["containerPort"] in exposed,
                  f"{where}: port {p['containerPort']}, which {name} does not expose {sorted(exposed)}")
            checked["ports"] += 1
        if name == "shoal/worker":
            for e in c.get("env") or []:
                if e["name"].startswith("SHOAL_"):
                    check(e["name"] in known, f"{where}: {e['name']} is no setting of the image's shoal")
                    checked["settings"] += 1
    check(checked["containers"] >= 4, f"found only {checked['containers']} shoal containers in deploy/k8s")
    return ", ".join(f"{v} {k}" for k, v in checked.items()) + " checked against the built images"
