"""
metrics.py - the Prometheus text format (0.0.4) as the suites read it: a
scrape parsed into {(name, frozenset of (label, value)): value}, and
helpers to sum a metric over label sets.
"""

import re
import urllib.request

from .core import check

_LINE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def _unescape(v):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def _labels(text):
    out, pos = [], 0
    while pos < len(text):
        m = _LABEL.match(text, pos)
        check(m, f"bad label set {{{text}}}")
        out.append((m.group(1), _unescape(m.group(2))))
        pos = m.end()
    return frozenset(out)


def parse(text):
    """{(name, frozenset({(label, value), ...})): float} of a scrape; every
    sample line must parse (a TestFailure names the first that does not)."""
    samples = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _LINE.match(line)
        check(m, f"not a sample line: {line!r}")
        key = (m.group(1), _labels(m.group(3) or ""))
        check(key not in samples, f"sample given twice: {line!r}")
        samples[key] = float(m.group(4))
    return samples


def scrape(url, timeout=5):
    """(status, content type, parsed samples) of GET url."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body = r.read().decode()
        return r.status, r.headers.get("Content-Type", ""), parse(body)


def total(samples, name, **labels):
    """The sum of name's samples whose labels include labels."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def value(samples, name, **labels):
    """The one sample of name with exactly these labels (None: absent)."""
    return samples.get((name, frozenset(labels.items())))
