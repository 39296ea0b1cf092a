"""Stopping the runner (Ctrl-C or SIGTERM) lets the command it runs stop as the parts' scripts do, keeping
their best model, and ends with one line and exit code 130, not a traceback."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1]

# Stands in for a part's train.py: it says it started, and on SIGINT or SIGTERM takes a moment to "save its
# best model" (writes a file), then exits 130 as they do.
CHILD = r'''
import signal, sys, time
from pathlib import Path
out = Path(sys.argv[1])
def stop(signum, frame):
    time.sleep(1.0)
    (out / "saved").write_text(signal.Signals(signum).name)
    sys.exit(130)
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
(out / "started").write_text("")
time.sleep(120)
'''

# The runner's main() on a suite whose only work is that command.
RUNNER = r'''
import sys
sys.path.insert(0, sys.argv[1])
import run
out = sys.argv[2]
run.run_sequentially = lambda *args: run.run([sys.executable, "-c", sys.argv[3], out])
run.main(["quick", "--no-report", "--results-dir", out])
'''


@pytest.mark.parametrize("sig, group", [(signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["SIGTERM to the runner alone", "Ctrl-C to the terminal's process group"])
def test_a_stopped_runner_waits_for_its_command_to_save_then_exits_130_in_one_line(tmp_path, sig, group):
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, str(BENCHMARKS), str(tmp_path), CHILD],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert runner.poll() is None, runner.communicate()
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.05)
        if group:  # a terminal's Ctrl-C reaches the runner and its command at once
            os.killpg(runner.pid, sig)
        else:
            runner.send_signal(sig)
        out, err = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == 130, err
    assert (tmp_path / "saved").read_text() == sig.name  # the command got the signal and had time to save
    assert "Traceback" not in err
    assert err.strip().startswith("stopped:") and len(err.strip().splitlines()) == 1, err
