"""bench/basebuild.py - the worker of an older revision, for the benches
that run it beside the current one (bench/run's shoal-base, bench/hashing)."""
import os
import shutil
import subprocess
import tempfile


def build_at(repo, rev_name, out, logf):
    """Builds build/shoal as it was at git revision rev_name into the file
    out: the tree from `git archive` in a temp dir (the repository is only
    read), with this tree's config.mk if there is one (the same flags),
    `make build/shoal` there as `make` builds the current one; the tree is
    removed. Returns the full commit id; raises RuntimeError with a reason
    (make's output goes to logf)."""
    r = subprocess.run(["git", "-C", repo, "rev-parse", "--verify", "--quiet", rev_name + "^{commit}"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("BASE_REV %r: no such commit in %s" % (rev_name, repo))
    rev = r.stdout.strip()
    tree = tempfile.mkdtemp(prefix="shoal-base-src.")
    try:
        arch = subprocess.Popen(["git", "-C", repo, "archive", "--format=tar", rev],
                                stdout=subprocess.PIPE, stderr=logf)
        untar = subprocess.run(["tar", "-x", "-C", tree], stdin=arch.stdout, stdout=logf,
                               stderr=subprocess.STDOUT)
        arch.stdout.close()
        if arch.wait() != 0 or untar.returncode != 0:
            raise RuntimeError("git archive %s | tar -x failed" % rev[:12])
        if os.path.exists(os.path.join(repo, "config.mk")):
            shutil.copy(os.path.join(repo, "config.mk"), tree)
        r = subprocess.run(["make", "-C", tree, "-j%d" % (os.cpu_count() or 1), "BUILD=build",
                            "build/shoal"], stdout=logf, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise RuntimeError("building BASE_REV %s failed" % rev_name)
        shutil.copy2(os.path.join(tree, "build", "shoal"), out)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    return rev
