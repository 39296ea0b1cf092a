"""Make this part's modules importable by their plain names (`import agent`), as the scripts do.

Every part has an `agent.py`, a `train.py`, ... and one pytest run collects all parts. So right before
pytest imports each test module of this part we forget the modules another part loaded under the same
names and put this part's folder first on the path; before each of its tests runs, likewise, and we put
back this part's own modules (the very objects its test modules imported). So the parts never see each
other's code, even from a test that imports inside its body.
"""
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

PART_DIR = Path(__file__).resolve().parents[1]
REPO = PART_DIR.parent

# A shell starts background jobs (`python -m pytest &`) with Ctrl-C ignored, and a child inherits an
# ignored signal, so the scripts the Ctrl-C tests start would never see it. A handler, unlike "ignore",
# is reset to the default when a child starts, so install Python's own here.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# One torch thread, as the scripts use: on 2 shared cores two threads wait on each other, and the tests'
# tiny updates took 15x longer (0.6 s instead of 0.04 s per 10 updates measured with others' runs going).
torch.set_num_threads(1)


OWN = {}  # this part's modules, as its test modules imported them


def remember_this_part():
    OWN.update({name: module for name, module in sys.modules.items()
                if Path(getattr(module, "__file__", None) or "/").parent == PART_DIR})


def use_this_part():
    remember_this_part()
    for name, module in list(sys.modules.items()):
        folder = Path(getattr(module, "__file__", None) or "/").parent
        if folder.parent == REPO and folder.name.startswith("part") and folder != PART_DIR:
            del sys.modules[name]
    sys.modules.update(OWN)  # the same module objects again: a UserError raised is the class a test catches
    if sys.path[0] != str(PART_DIR):
        sys.path.insert(0, str(PART_DIR))
    if str(PART_DIR / "tests") not in sys.path:  # sac_test_envs.py, the small envs the tests share
        sys.path.insert(1, str(PART_DIR / "tests"))


def pytest_collectstart(collector):
    """Called (for this folder only) before a test module of this part is imported."""
    if isinstance(collector, pytest.Module):
        use_this_part()


def pytest_collectreport(report):
    """Called (for this folder only) after a test module of this part was imported: remember its modules."""
    remember_this_part()


def pytest_runtest_setup(item):
    """Called (for this folder only) before each test of this part runs: a test that imports inside its
    body (`from train import get_config`) must get this part's module, not the last part collected."""
    use_this_part()


@pytest.fixture
def run_script(tmp_path):
    """Run one of this part's scripts in a subprocess; returns the CompletedProcess (text output)."""

    def run(script, *args, timeout=300, env=None):
        return subprocess.run([sys.executable, str(PART_DIR / script), *map(str, args)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=timeout, env=env)

    return run
