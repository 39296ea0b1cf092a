"""Make this part's modules importable by their plain names (`import agent`), as the scripts do.

Every part has an `agent.py`, a `train.py`, ... and one pytest run collects all parts. So right before
pytest imports each test module of this part, we forget the modules another part loaded under the same
names and put this part's folder first on the path. Test modules keep references to what they imported,
so the parts never see each other's code.
"""
import subprocess
import sys
from pathlib import Path

import pytest

PART_DIR = Path(__file__).resolve().parents[1]
REPO = PART_DIR.parent


def use_this_part():
    for name, module in list(sys.modules.items()):
        folder = Path(getattr(module, "__file__", None) or "/").parent
        if folder.parent == REPO and folder.name.startswith("part") and folder != PART_DIR:
            del sys.modules[name]
    if sys.path[0] != str(PART_DIR):
        sys.path.insert(0, str(PART_DIR))


def pytest_collectstart(collector):
    """Called (for this folder only) before a test module of this part is imported."""
    if isinstance(collector, pytest.Module):
        use_this_part()


@pytest.fixture
def run_script(tmp_path):
    """Run one of this part's scripts in a subprocess; returns the CompletedProcess (text output)."""

    def run(script, *args, timeout=300, env=None):
        return subprocess.run([sys.executable, str(PART_DIR / script), *map(str, args)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=timeout, env=env)

    return run
