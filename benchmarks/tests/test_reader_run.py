"""A reader's `python benchmarks/run.py quick` changes nothing git tracks: its results files go to a folder git
ignores, and it ends with a summary in plain words. Only --update-docs writes the tracked results and tables.

The whole quick suite runs through run.main in a scratch git repo, with the training, test and measurement
commands faked (they write what the parts' scripts write)."""
import importlib.util
import json
import shutil
import subprocess
import sys

import pytest

import commands
import jobs
import paths
import provenance
import run
from suites import SUITES, Job, SideBySideJob

PARTS = sorted({j.part for j in SUITES["quick"]})


def git(repo, *args):
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True)
    return done.stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A committed scratch repo: the parts' READMEs with their table markers, the top README, the tracked quick
    results files and a shipped model, and the project's .gitignore."""
    repo = tmp_path / "repo"
    for part in PARTS:
        (repo / part / "plots").mkdir(parents=True)
        (repo / part / "README.md").write_text(f"# {part}\n<!-- results:quick -->\nOLD\n<!-- /results:quick -->\n")
        (repo / part / "plots" / "figure.png").write_bytes(b"png")
    (repo / "README.md").write_text("# RL\n<!-- results:closing -->\nOLD\n<!-- /results:closing -->\n")
    (repo / "models" / "part2_dqn").mkdir(parents=True)
    (repo / "models" / "part2_dqn" / "CartPole-v1__dqn_mlp.pth").write_bytes(b"shipped weights")
    shutil.copytree(paths.RESULTS / "quick", repo / "benchmarks" / "results" / "quick")
    shutil.copy(paths.REPO / ".gitignore", repo / ".gitignore")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "tracked")
    monkeypatch.setattr(paths, "REPO", repo)
    monkeypatch.setattr(paths, "RESULTS", repo / "benchmarks" / "results")
    monkeypatch.setattr(provenance, "machine", lambda: dict(cpu="cpu", cores=2, torch="t", python="p"))
    monkeypatch.setattr(jobs, "SB3_PYTHON", sys.executable)  # "exists": the side-by-side job runs (faked)
    monkeypatch.setattr(commands, "run", fake)
    return repo


def fake(command):
    """What each script of the quick suite would print and leave: Pendulum SAC's best model tests below its
    threshold (-300 against -200), every other run above it."""
    script = command[1]
    if "--log-dir" in command:  # a part's train.py or linear_q.py
        seed = command[command.index("--seed") + 1]
        logs = paths.REPO / command[command.index("--log-dir") + 1] / f"env__algo__{seed}__0"
        logs.mkdir(parents=True)
        (logs / "evaluations.csv").write_text("step,train_seconds,mean,std\n1000,1.0,-600.0,0\n2000,2.0,600.0,0\n")
        model = f"{command[command.index('--save-dir') + 1]}/env__algo__{seed}__0.pth"
        (logs / "summary.json").write_text(json.dumps(dict(steps=2000, train_seconds=2.0, steps_per_second=1000.0,
                                                           best_eval=600.0, best_step=2000, model=model)))
        return "", 3.0
    if script.endswith("test.py"):
        mean = -300.0 if script.startswith("part5") else 600.0
        return json.dumps(dict(mean=mean, std=1.0, episodes=20, success_rate=0.75)) + "\n", 1.0
    if script.endswith("raw_speed.py"):
        return json.dumps(dict(raw_steps_per_second=5000.0)) + "\n", 5.0
    if script.endswith("collect_speed.py"):
        return json.dumps(dict(collect_steps_per_second=2000.0, raw_steps_per_second=8000.0, ratio=0.25, rounds=20,
                               seconds=10.0)) + "\n", 10.0
    if script.endswith("side_by_side.py"):
        side = dict(steps=10000, train_seconds=2.0, steps_per_second=5000.0, curve=[[10000, 100.0, 2.0]],
                    final=dict(mean=100.0, std=1.0, episodes=20))
        return json.dumps(dict(pair="dqn_cartpole", seed=1, torch_threads=1, eval_every=2500, ours=side,
                               sb3=dict(side, steps_per_second=2000.0))) + "\n", 30.0
    raise AssertionError(f"unexpected command {command}")


def tracked_changes(repo):
    return [line for line in git(repo, "status", "--porcelain", "--untracked-files=all").splitlines()]


def test_a_readers_quick_run_leaves_every_tracked_file_alone_and_ends_in_words(repo, capsys):
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    run.main(["quick"])
    assert tracked_changes(repo) == []  # nothing tracked changed, and nothing new outside what git ignores
    assert all(p.read_bytes() == data for p, data in before.items())
    written = sorted(p.name for p in (repo / "benchmarks" / "runs" / "results" / "quick").glob("*.json"))
    runs = [(j, s) for j in SUITES["quick"] if isinstance(j, (Job, SideBySideJob)) for s in j.seeds]
    assert written == sorted(f"{j.name}__seed{s}.json" for j, s in runs)
    out = capsys.readouterr().out
    summary = out.split("Summary of this run", 1)[1]
    assert summary.startswith(" (results files in benchmarks/runs/results/quick/, which git ignores; nothing git "
                              "tracks was changed: --update-docs writes the READMEs' tables):\n")
    assert ("  Pendulum-v1, SAC, seed 1: BELOW: its best model's final test is -300.0 ± 1.0 over 20 greedy "
            "episodes, below the threshold -200; its evaluations first reached -200 at 2,000 env steps.") in summary
    assert ("  CartPole-v1, seed 1: PASS: its best model's final test is 600.0 ± 1.0 over 20 greedy episodes, at or "
            "above the threshold 475; its evaluations first reached 475 at 2,000 env steps.") in summary
    assert ("  FrozenLake-v1 4x4 slippery, seed 1: PASS: its best model's final test is success rate 0.750 over 20 "
            "greedy episodes, at or above the threshold 0.72;") in summary
    assert "  CartPole-v1, seed 1: side by side with SB3, ours 5,000 against 2,000 steps per second (2.50 times)." \
        in summary
    assert summary.rstrip().endswith(f"In all: {len(runs)} runs, {len(runs)} finished and 0 failed; "
                                     f"{len(runs) - 2} reached their threshold in the final test.")
    # plain words, every line of the run: no Python dict, no None
    for bad in ("{", "None", "threshold at"):
        assert bad not in out, bad


@pytest.mark.skipif(importlib.util.find_spec("rliable") is None, reason="the tables' intervals need rliable")
def test_update_docs_writes_the_tracked_results_and_tables_and_nothing_else(repo, capsys):
    run.main(["quick", "--update-docs"])
    modified = {line[3:] for line in tracked_changes(repo) if line.startswith(" M")}
    added = {line[3:] for line in tracked_changes(repo) if line.startswith("??")}
    results = {f"benchmarks/results/quick/{j.name}__seed{s}.json" for j in SUITES["quick"] for s in j.seeds}
    assert modified == {f"{part}/README.md" for part in PARTS} | (results & set(git(repo, "ls-files").split()))
    assert added == results - modified  # results files of jobs the tracked folder had none of yet, nothing else
    table = (repo / "part2_dqn" / "README.md").read_text()
    assert "OLD" not in table and "Ran `python benchmarks/run.py quick --part part2_dqn --update-docs`: seed 1" in table
    assert "`python part2_dqn/test.py benchmarks/runs/quick/cartpole__seed1/models/env__algo__1__0.pth --episodes 20 " \
           "--seed 100001`" in table
    assert (repo / "README.md").read_text() == "# RL\n<!-- results:closing -->\nOLD\n<!-- /results:closing -->\n"


def test_without_rliable_a_run_still_ends_in_words_and_the_report_is_one_error_line(repo, monkeypatch, capsys):
    """rliable is the report's (benchmarks/requirements.txt), not the chapters': a reader without it still gets
    the run and its summary; the report says what to install, in one line."""
    import stats

    def missing():
        raise ImportError("the report's confidence intervals need rliable: pip install -r benchmarks/requirements.txt")

    monkeypatch.setattr(stats, "rliable", missing)
    run.main(["quick", "--part", "part2_dqn"])
    assert "In all: 3 runs, 3 finished and 0 failed; 2 reached their threshold" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        run.main(["quick", "--report-only"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: ") and "pip install -r benchmarks/requirements.txt" in err
