"""Results files say which code they came from and hold no absolute path; older files still read."""
import dataclasses
import json
import subprocess
import sys

import commands
import jobs
import paths
import pool as ray_pool
import provenance
from results import first_hit, normalise
from suites import Job


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_git_state_names_the_commit_and_any_uncommitted_change(tmp_path, monkeypatch):
    git(tmp_path, "init", "-q")
    (tmp_path / "part2_dqn").mkdir()
    (tmp_path / "part2_dqn" / "a.py").write_text("x = 1\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    monkeypatch.setattr(paths, "REPO", tmp_path)
    assert provenance.git_state("part2_dqn") == dict(commit=head, dirty=False, part_dirty=False)
    # what the runner itself writes during a suite (results of earlier jobs, run folders, shipped models)
    # is not a change to the code: once it counted, and every job after the first was marked part_dirty
    for output in ("benchmarks/results/full/a__seed101.json", "benchmarks/results-next/full/a__seed101.json",
                   "benchmarks/runs/x/log.txt",
                   "benchmarks/sweeps/s/table.md", "models/part2_dqn/CartPole-v1__dqn.pth",
                   "part2_dqn/README.md", "README.md", "part2_dqn/plots/cartpole.png", "benchmarks/plots/c.png",
                   "part2_dqn/NOTES.md"):
        (tmp_path / output).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / output).write_text("{}")
    assert provenance.git_state("part2_dqn") == dict(commit=head, dirty=False, part_dirty=False)
    (tmp_path / "elsewhere.txt").write_text("another engineer's work\n")
    assert provenance.git_state("part2_dqn") == dict(commit=head, dirty=True, part_dirty=False)
    (tmp_path / "part2_dqn" / "a.py").write_text("x = 2\n")
    assert provenance.git_state("part2_dqn") == dict(commit=head, dirty=True, part_dirty=True)


def fake_commands(calls):
    """commands.run without subprocesses: the training command leaves the files a part's train.py leaves."""
    def fake(command):
        calls.append(command)
        if command[1].endswith("train.py"):
            log_dir = paths.REPO / command[command.index("--log-dir") + 1] / "CartPole-v1__dqn__101__0"
            log_dir.mkdir(parents=True)
            (log_dir / "evaluations.csv").write_text("step,train_seconds,mean,std\n2500,1.5,480.0,3.0\n5000,3.0,500.0,0.0\n")
            save_dir = command[command.index("--save-dir") + 1]
            (log_dir / "summary.json").write_text(json.dumps(dict(
                steps=5000, train_seconds=3.2, steps_per_second=1562.5, best_eval=500.0, best_step=5000,
                model=str(paths.REPO / save_dir / "CartPole-v1__dqn__101.pth"))))  # a part may print it absolute
            return "", 4.0
        return json.dumps(dict(mean=500.0, std=0.0, episodes=20)) + "\n", 1.0
    return fake


def test_a_result_records_its_commit_threads_and_only_repo_relative_paths(monkeypatch):
    calls = []
    monkeypatch.setattr(commands, "run", fake_commands(calls))
    monkeypatch.setattr(provenance, "machine", lambda: dict(cpu="cpu", cores=2))  # spares the test importing torch
    monkeypatch.setattr(paths, "RUNS", paths.RUNS / "pytest")  # the fake writes under benchmarks/runs/pytest
    cartpole = Job("cartpole", "part2_dqn", "train.py", ["--env-id", "CartPole-v1"], [101], "CartPole-v1",
                   threshold=475, final_episodes=20)
    try:
        r = jobs.run_job("quick", cartpole, 101, provenance.git_state("part2_dqn"))
    finally:
        import shutil
        shutil.rmtree(paths.REPO / paths.RUNS, ignore_errors=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=paths.REPO, capture_output=True, text=True).stdout.strip()
    assert r["commit"] == head and isinstance(r["dirty"], bool) and isinstance(r["part_dirty"], bool)
    assert r["format"] == 2
    text = json.dumps(r)
    assert str(paths.REPO) not in text and sys.executable not in text
    assert r["model"] == "benchmarks/runs/pytest/quick/cartpole__seed101/models/CartPole-v1__dqn__101.pth"
    assert r["command"][0] == "part2_dqn/train.py"
    assert r["command"][r["command"].index("--torch-threads") + 1] == "1" and r["torch_threads"] == 1
    assert calls[1][2] == r["model"]  # test.py plays the model by its relative path (commands run in the repo)
    # the final test as a reader reproduces it: the episodes are seeded from 100000 + the run's seed
    assert r["test_command"] == ["part2_dqn/test.py", r["model"], "--episodes", "20", "--seed", "100101"]
    assert calls[1][1:] == [*r["test_command"], "--json"]
    assert r["curve"] == [[2500, 480.0, 1.5], [5000, 500.0, 3.0]]
    assert (r["steps_to_threshold"], r["seconds_to_threshold"]) == (2500, 1.5)
    assert len(r["load_average"]) == 2 and all(x >= 0 for x in r["load_average"])  # start and end of the job


def test_an_interrupted_run_with_a_saved_training_state_is_resumed_not_restarted(monkeypatch):
    """Pong trains for hours: a job whose run folder holds Part 2's training state (--checkpoint-every)
    continues from it (--resume); the result keeps the job's own command and says where it resumed."""
    calls = []
    train = fake_commands(calls)

    def fake(command):
        if "--resume" in command:  # train.py --resume finishes the run in its own folder
            calls.append(command)
            log_dir = paths.REPO / command[command.index("--resume") + 1]
            (log_dir / jobs.TRAINING_STATE).unlink()
            (log_dir / "evaluations.csv").write_text("step,train_seconds,mean,std\n2500,1.5,480.0,3.0\n5000,3.0,500.0,0.0\n")
            (log_dir / "summary.json").write_text(json.dumps(dict(
                steps=5000, train_seconds=3.2, steps_per_second=1562.5, best_eval=500.0, best_step=5000,
                resumed_at=[2600], model=str(log_dir.parent.parent / "models" / "CartPole-v1__dqn__101.pth"))))
            return "", 2.0
        return train(command)

    monkeypatch.setattr(commands, "run", fake)
    monkeypatch.setattr(provenance, "machine", lambda: dict(cpu="cpu", cores=2))
    monkeypatch.setattr(paths, "RUNS", paths.RUNS / "pytest-resume")
    cartpole = Job("cartpole", "part2_dqn", "train.py", ["--env-id", "CartPole-v1"], [101], "CartPole-v1",
                   threshold=475, final_episodes=20)
    work = paths.REPO / jobs.work_dir("quick", cartpole, 101)
    try:
        interrupted = work / "logs" / "CartPole-v1__dqn__101__0"
        interrupted.mkdir(parents=True)
        (interrupted / "evaluations.csv").write_text("step,train_seconds,mean,std\n2500,1.5,480.0,3.0\n")
        (interrupted / jobs.TRAINING_STATE).write_bytes(b"state")
        r = jobs.run_job("quick", cartpole, 101, provenance.git_state("part2_dqn"))
        assert calls[0][1:] == ["part2_dqn/train.py", "--resume", paths.rel(interrupted)]
        assert r["resumed_at"] == [2600] and r["command"][:3] == ["part2_dqn/train.py", "--env-id", "CartPole-v1"]
        assert r["curve"] == [[2500, 480.0, 1.5], [5000, 500.0, 3.0]]
        # the next run of the job finds no state (the run completed): it starts afresh, the old folder gone
        (interrupted / "old.txt").write_text("from the run before")
        calls.clear()
        r = jobs.run_job("quick", cartpole, 101, provenance.git_state("part2_dqn"))
        assert "--resume" not in calls[0] and "resumed_at" not in r
        assert not (interrupted / "old.txt").exists()
    finally:
        import shutil
        shutil.rmtree(paths.REPO / paths.RUNS, ignore_errors=True)


def test_the_table_states_the_load_the_results_were_measured_under():
    results = [dict(load_average=[0.5, 3.25]), dict(load_average=[7.0, None]), dict()]  # the last: an old file
    assert provenance.load_text(results) == ("; 1-minute load average at the jobs' starts and ends 0.5-7.0 "
                                      "(the 2 of 3 runs that recorded it)")
    assert provenance.load_text(results[:1]) == "; 1-minute load average at the jobs' starts and ends 0.5-3.2"
    assert provenance.load_text([dict()]) == ""


def test_files_from_before_the_format_still_read(tmp_path):
    old = dict(label="CartPole-v1", seed=1, steps=50_000, steps_per_second=2500.0, speed_runs=[3000.0, 2000.0],
               curve=[[2500, 400.0], [5000, 500.0]])
    r = normalise(old)
    assert r["commit"] is None and r["dirty"] is None
    assert r["steps_per_second"] == 2000.0  # the later run's own speed, not the mean of two runs
    assert provenance.code_text([r]) == "no commit recorded (results files from before they recorded one)"
    assert first_hit(r["curve"], 475) == (5000, None)  # no seconds in old curves
    old_side_by_side = dict(side_by_side=True, ours=dict(curve=[[2500, 0.5, 467.0]]), peer=dict(curve=[[2500, 1.2, 95.4]]))
    r = normalise(old_side_by_side)
    assert r["ours"]["curve"] == [[2500, 467.0, 0.5]] and r["peer"]["curve"] == [[2500, 95.4, 1.2]]


def test_the_committed_results_hold_no_absolute_path():
    for path in sorted(paths.RESULTS.glob("*/*.json")):
        text = path.read_text()
        assert "/work/" not in text and str(paths.REPO) not in text, path
        normalise(json.loads(text))  # and every one of them reads


def test_a_side_by_side_result_records_its_commit_and_no_interpreter_path(monkeypatch, tmp_path):
    from suites import SideBySideJob

    calls = []
    line = dict(pair="dqn_cartpole", seed=1, torch_threads=1, eval_every=2500,
                ours=dict(steps=10000, train_seconds=2.0, steps_per_second=5000.0, curve=[[10000, 500.0, 2.0]]),
                sb3=dict(steps=10240, train_seconds=8.0, steps_per_second=1280.0, curve=[[10240, 120.0, 8.0]]))
    monkeypatch.setattr(commands, "run", lambda command: calls.append(command) or (json.dumps(line) + "\n", 30.0))
    monkeypatch.setattr(provenance, "machine", lambda: dict(cpu="cpu", cores=2))
    monkeypatch.setattr(jobs, "SB3_PYTHON", sys.executable)  # "exists"
    job = SideBySideJob("cartpole_side_by_side", "part2_dqn", "dqn_cartpole", [1], "CartPole-v1", threshold=475,
                        total_steps=10_000)
    r = jobs.run_side_by_side("quick", job, 1, provenance.git_state("part2_dqn"))
    assert calls[0][1:] == ["benchmarks/side_by_side.py", "dqn_cartpole", "--seeds", "1", "--json", "--total-steps", "10000"]
    assert r["command"] == calls[0][1:] and sys.executable not in json.dumps(r)
    assert r["commit"] and isinstance(r["dirty"], bool) and r["format"] == 2
    assert r["ours"] == line["ours"] and r["peer"] == line["sb3"] and r["torch_threads"] == 1
    assert len(r["load_average"]) == 2


def test_a_job_whose_module_is_missing_is_skipped_with_a_line_not_run_or_failed(monkeypatch, capsys):
    """HalfCheetah needs MuJoCo, which requirements.txt leaves out: without it the full suite skips the job
    (one line, no results file, no failure) in the sequential runner and when planning Ray tasks."""
    monkeypatch.setattr(commands, "run", lambda command: (_ for _ in ()).throw(AssertionError(f"ran {command}")))
    cheetah = Job("cheetah", "part5_sac", "train.py", ["--env-id", "HalfCheetah-v5"], [101], "HalfCheetah-v5",
                  threshold=3000, final_episodes=10, requires="no_such_module_here")
    assert jobs.run_job("full", cheetah, 101, {}) is None
    assert "skipped: needs no_such_module_here" in capsys.readouterr().out
    assert ray_pool.plan("full", [cheetah], missing_only=False) == ([], [])
    assert "cheetah skipped" in capsys.readouterr().out
    present = dataclasses.replace(cheetah, requires="json")
    assert jobs.unavailable(present) is None and ray_pool.plan("full", [present], missing_only=False)[0] == [(present, 101)]
