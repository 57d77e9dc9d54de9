"""
charts.py - the bench's tables drawn as PNGs next to them (tools/chart,
gnuplot): a tab-separated table NAME.tsv and NAME.png in CHARTS_DIR
(default build/bench). A chart that cannot be drawn is said in one line and
does not fail the bench: the table is what is measured.
"""

import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CHART = os.path.join(REPO, "tools", "chart")


def charts_dir():
    return os.path.abspath(os.environ.get("CHARTS_DIR") or os.path.join(REPO, "build", "bench"))


def bars(name, title, ylabel, head, rows, log_scale=False):
    """head: [group column, series...]; rows: [group, value or None...].
    Returns the PNG's path, or a line saying why there is none."""
    if not rows:
        return "%s: nothing to draw" % name
    out = charts_dir()
    os.makedirs(out, exist_ok=True)
    data, png = os.path.join(out, name + ".tsv"), os.path.join(out, name + ".png")
    with open(data, "w") as f:
        f.write("\t".join(head) + "\n")
        for r in rows:
            f.write("\t".join([str(r[0])] + ["-" if v is None else "%.3f" % v for v in r[1:]]) + "\n")
    argv = [CHART, "bars", data, png, title, ylabel] + (["--log"] if log_scale else [])
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "%s: no chart (%s)" % (name, e)
    return png if p.returncode == 0 else "%s: no chart (%s)" % (name, p.stderr.strip())
