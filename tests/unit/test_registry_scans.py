"""Resource lookup lists provision/resources/ once per process, however often a playbook's
types are looked up (loading and planning java17 looked them up 11 times, each a listing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# In a fresh interpreter (the caches are per process): count the Python-level listings of the
# resources folder (pkgutil lists with os.listdir; os.scandir too, should a scan move to it),
# while java17 is loaded and planned as a run resolves it.
SCRIPT = """
import os, sys
FOLDER = os.path.realpath(sys.argv[1])
listings = []
for name in ("listdir", "scandir"):
    real = getattr(os, name)
    def counted(path=".", _real=real):
        if os.path.realpath(os.fsdecode(path)) == FOLDER:
            listings.append(path)
        return _real(path)
    setattr(os, name, counted)

from provision import engine, playbook
from provision.registry import lookup, registry
pb = playbook.load("java17")
engine.first_round(pb)
for d in pb.resources:
    assert d.cls is lookup(d.type) and d.cls.spec_type
assert lookup("no_such_type") is None
registry()
print(len(listings))
"""


def test_the_resources_folder_is_listed_once_per_process():
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(REPO / "provision/resources")], cwd=REPO,
                       capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1", f"provision/resources/ was listed {r.stdout.strip()} times"
