"""Make this part's modules importable by their plain names (`import agent`), as the scripts do.

Every part has an `agent.py`, a `train.py`, ... so before this part's tests are collected we forget any
module another part's tests loaded under the same name, and put this part's folder first on the path.
"""
import subprocess
import sys
from pathlib import Path

import pytest

PART_DIR = Path(__file__).resolve().parents[1]
REPO = PART_DIR.parent

for name, module in list(sys.modules.items()):
    origin = getattr(module, "__file__", None) or ""
    if origin.startswith(str(REPO)) and Path(origin).parent.parent == REPO and Path(origin).parent != PART_DIR:
        del sys.modules[name]
sys.path.insert(0, str(PART_DIR))


@pytest.fixture
def run_script(tmp_path):
    """Run one of this part's scripts in a subprocess; returns the CompletedProcess (text output)."""

    def run(script, *args, timeout=300):
        return subprocess.run([sys.executable, str(PART_DIR / script), *map(str, args)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=timeout)

    return run
