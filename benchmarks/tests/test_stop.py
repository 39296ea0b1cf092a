"""Stopping the runner (Ctrl-C or SIGTERM) lets the command it runs stop as the parts' scripts do, keeping
their best model, and ends with one line that says what was in progress, and exit code 130, not a traceback."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import commands
import pool as ray_pool
import run
from results import save_result

BENCHMARKS = Path(__file__).resolve().parents[1]

# Stands in for a part's train.py: it says it started, and on SIGINT or SIGTERM takes a moment to "save its
# best model" (writes a file naming the signals it got), then exits 130 as they do. With "stubborn" it ignores
# both (a command that never stops by itself).
CHILD = r'''
import signal, sys, time
def stop(signum, frame):
    with open("signals", "a") as f:
        f.write(signal.Signals(signum).name + "\n")
    time.sleep(1.0)
    open("saved", "w").close()
    sys.exit(130)
handler = signal.SIG_IGN if "stubborn" in sys.argv else stop
signal.signal(signal.SIGINT, handler)
signal.signal(signal.SIGTERM, handler)
import os
open("pid", "w").write(str(os.getpid()))
open("started", "w").close()
time.sleep(120)
'''

# The runner's main() on a suite of one Job whose script is CHILD, in a scratch repo (the real run_job runs it).
RUNNER = r'''
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import commands, paths, provenance, run
from suites import Job
repo, grace, stubborn = Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
(repo / "part0").mkdir()
(repo / "part0" / "train.py").write_text(sys.argv[5])
paths.REPO, commands.STOP_GRACE = repo, grace
provenance.git_state = lambda part: dict(commit="0", dirty=False, part_dirty=False)
run.SUITES["quick"] = [Job("stub", "part0", "train.py", ["stubborn"] if stubborn else [], [7], "stub", 0.0, 1,
                           torch_threads=None)]
run.main(["quick", "--no-report", "--results-dir", str(repo / "results")])
'''


def start(tmp_path, grace=60.0, stubborn=False):
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, str(BENCHMARKS), str(tmp_path), str(grace),
                               "1" if stubborn else "0", CHILD],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        if runner.poll() is not None or time.monotonic() > deadline:
            runner.kill()
            pytest.fail(f"the command never started: {runner.communicate()}")
        time.sleep(0.05)
    return runner


def child_alive(tmp_path):
    """Whether the CHILD process still runs (in its own session, it would outlive the runner unnoticed)."""
    pid = int((tmp_path / "pid").read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    os.kill(pid, signal.SIGKILL)  # do not leave it running whatever the verdict
    return True


@pytest.mark.parametrize("sig, group", [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGINT, True)],
                         ids=["SIGTERM to the runner", "SIGINT to the runner (kill -INT)",
                              "Ctrl-C to the terminal's process group"])
def test_a_stopped_runner_passes_the_signal_on_once_waits_for_the_save_then_exits_130(tmp_path, sig, group):
    runner = start(tmp_path)
    try:
        if group:  # a terminal's Ctrl-C reaches the runner's process group; the command has its own session
            os.killpg(runner.pid, sig)
        else:
            runner.send_signal(sig)
        _, err = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == 130, err
    assert (tmp_path / "signals").read_text() == f"{sig.name}\n"  # the command got the signal once
    assert (tmp_path / "saved").exists()  # and had the time to save
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    # the line says what was in progress, and where its files are
    assert err.startswith("stopped: the run in progress (stub, seed 7) has no results file"), err
    assert "benchmarks/runs/quick/stub__seed7" in err and "--missing-only" in err


@pytest.mark.parametrize("grace, signals", [(2.0, [signal.SIGTERM]), (60.0, [signal.SIGINT, signal.SIGINT])],
                         ids=["after the grace period", "at a second Ctrl-C"])
def test_a_command_that_does_not_stop_is_killed(tmp_path, grace, signals):
    runner = start(tmp_path, grace=grace, stubborn=True)  # it would run for two minutes
    try:
        for sig in signals:
            runner.send_signal(sig)
            time.sleep(1.0)
        _, err = runner.communicate(timeout=20)  # far less than the 60 s grace of the second case
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert runner.returncode == 130 and "Traceback" not in err, err
    time.sleep(0.5)
    assert not child_alive(tmp_path), "the command outlived the runner"


def test_the_stop_line_names_the_phase_it_stopped(monkeypatch, capsys, tmp_path):
    """A stop during the report, or with --ray while the pool runs, does not claim a run in progress."""
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "report", stop)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # leave the test process's own handlers alone
    with pytest.raises(SystemExit) as exit_:
        run.main(["quick", "--report-only"])
    assert exit_.value.code == 130
    assert capsys.readouterr().err.startswith("stopped while writing the report")

    class Pool:
        def submit(self, *args):
            pass

        def __len__(self):
            return 1

        def next_done(self):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ray_pool.run_on_pool("quick", [(run.SUITES["quick"][0], 1)], Pool(), results=tmp_path)
    assert commands.IN_PROGRESS.startswith("stopped: the Ray tasks in progress keep nothing")


def test_results_files_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "a__seed1.json"
    save_result(path, dict(old=True))

    write_text = Path.write_text

    def cut(self, data, *args, **kwargs):  # a stop in the middle of the write: half the text is on disk
        write_text(self, data[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", cut)
    with pytest.raises(KeyboardInterrupt):
        save_result(path, dict(new=True))
    monkeypatch.undo()
    assert json.loads(path.read_text()) == dict(old=True)
    assert [f.name for f in tmp_path.iterdir()] == [path.name]  # and nothing half-written is left beside it
