"""Builds the wheels the simulator's package index serves (package-index.ts), its stand-in for PyPI:
a few small pure-Python packages, written here with the standard library's zipfile (no download).

    python3 index-packages.py OUT_DIR

writes OUT_DIR/<wheel files> and OUT_DIR/index.json ([{name, version, file, sha256,
requires_python}]). The wheels are byte-for-byte reproducible (fixed timestamps, sorted entries).

  kgpu-demo-utils 1.0.0, 1.1.0   kgpu_demo_utils: moving_average(); 1.1.0 adds format_eta()
  tinyplot 0.1                   tinyplot.sparkline(), depends on kgpu-demo-utils>=1.0
  kgpu-broken 0.1                a wheel without its .dist-info folder: pip refuses to install it
"""
import base64
import hashlib
import json
import os
import re
import sys
import zipfile

UTILS_1_0 = '''"""Small helpers for the kgpu sample project (served by the kgpu simulator's package index)."""
__version__ = "{version}"


def moving_average(values, window=10):
    """The mean of the last `window` values at each position of `values`."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out
'''

UTILS_1_1 = UTILS_1_0 + '''

def format_eta(seconds):
    """`seconds` as m:ss (or h:mm:ss), as progress bars show it."""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "%d:%02d:%02d" % (h, m, s) if h else "%d:%02d" % (m, s)
'''

TINYPLOT = '''"""tinyplot: one-line plots of a series in the terminal (the kgpu simulator's package index)."""
from kgpu_demo_utils import moving_average

__version__ = "0.1"
BARS = "\\u2581\\u2582\\u2583\\u2584\\u2585\\u2586\\u2587\\u2588"


def sparkline(values, smooth=1):
    """A string of block characters, one per value (smoothed over `smooth` values)."""
    values = moving_average(list(values), smooth) if smooth > 1 else list(values)
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(BARS[int((v - lo) / span * (len(BARS) - 1))] for v in values)
'''

PACKAGES = [
    {"name": "kgpu-demo-utils", "version": "1.0.0", "summary": "Small helpers for the kgpu sample project",
     "files": {"kgpu_demo_utils/__init__.py": UTILS_1_0.format(version="1.0.0")}},
    {"name": "kgpu-demo-utils", "version": "1.1.0", "summary": "Small helpers for the kgpu sample project",
     "files": {"kgpu_demo_utils/__init__.py": UTILS_1_1.format(version="1.1.0")}},
    {"name": "tinyplot", "version": "0.1", "summary": "One-line plots in the terminal",
     "requires": ["kgpu-demo-utils>=1.0"], "files": {"tinyplot/__init__.py": TINYPLOT}},
    {"name": "kgpu-broken", "version": "0.1", "summary": "A wheel that cannot be installed (no .dist-info)",
     "files": {"kgpu_broken/__init__.py": "raise ImportError('never installed')\n"}, "broken": True},
]

EPOCH = (1980, 1, 1, 0, 0, 0)


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build(pkg, out_dir):
    dist = re.sub(r"[-_.]+", "_", pkg["name"]).lower()
    info = "%s-%s.dist-info" % (dist, pkg["version"])
    metadata = ["Metadata-Version: 2.1", "Name: " + pkg["name"], "Version: " + pkg["version"],
                "Summary: " + pkg["summary"], "Requires-Python: >=3.8"]
    metadata += ["Requires-Dist: " + r for r in pkg.get("requires", [])]
    entries = {path: text.encode() for path, text in pkg["files"].items()}
    if not pkg.get("broken"):
        entries[info + "/METADATA"] = ("\n".join(metadata) + "\n").encode()
        entries[info + "/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: kgpu-simulator\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        record = "".join("%s,%s,%d\n" % (p, record_hash(d), len(d)) for p, d in sorted(entries.items()))
        entries[info + "/RECORD"] = (record + info + "/RECORD,,\n").encode()
    name = "%s-%s-py3-none-any.whl" % (dist, pkg["version"])
    path = os.path.join(out_dir, name)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(entries, key=lambda p: (p.startswith(info), p)):  # .dist-info last, as wheels do
            zi = zipfile.ZipInfo(p, EPOCH)
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, entries[p])
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    return {"name": pkg["name"], "version": pkg["version"], "file": name, "sha256": sha, "requires_python": ">=3.8"}


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    index = [build(p, out_dir) for p in PACKAGES]
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump(index, f, indent=1)


if __name__ == "__main__":
    main()
