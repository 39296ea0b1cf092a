"""benchmarks/sweep.py without starting Ray: the grid, the seeds, and the table's statistics over seeds."""
import importlib.util
import json
import signal
from pathlib import Path

import pytest

import commands
import paths
import pool as ray_pool
import provenance
import sweep
from commands import UserError

_spec = importlib.util.spec_from_file_location("benchmarks_test_ray", Path(__file__).with_name("test_ray.py"))
test_ray = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(test_ray)


def test_seeds_and_grids_parse_into_every_combination():
    assert sweep.parse_seeds("1-3,7") == [1, 2, 3, 7] and sweep.parse_seeds("5") == [5]
    for bad in ("1-x", "1,1", ""):
        with pytest.raises(UserError):
            sweep.parse_seeds(bad)
    settings = sweep.parse_grid(["tau=0.05,0.1", "--n_steps=1,3"])
    assert [sweep.setting_name(s) for s in settings] == [
        "tau=0.05,n-steps=1", "tau=0.05,n-steps=3", "tau=0.1,n-steps=1", "tau=0.1,n-steps=3"]
    assert settings[0] == (("--tau", "0.05"), ("--n-steps", "1"))
    with pytest.raises(UserError):
        sweep.parse_grid(["tau"])


def test_the_threshold_comes_from_the_full_suites_job_for_that_script_and_env():
    assert sweep.default_threshold("part2_dqn", "train.py", ["--env-id", "CartPole-v1"]) == 475
    with pytest.raises(UserError, match="--threshold"):
        sweep.default_threshold("part2_dqn", "train.py", ["--env-id", "Acrobot-v1"])


def fake_sweep(tmp_path, monkeypatch):
    """A scratch driver repo and a worker folder, a fake pool that runs each task at submit, and a fake run()
    that writes what train.py and test.py would: tau=0.05 reaches 475 at 2,500 and 7,500 steps and never on
    seed 2 (finals 500, 200, 450); tau=0.1 gets 480 and 490, and its seed 3 fails. Returns (driver, calls)."""
    driver, worker = tmp_path / "driver", tmp_path / "worker"
    (driver / "part2_dqn").mkdir(parents=True)
    (driver / "part2_dqn" / "train.py").write_text("")
    worker.mkdir()
    monkeypatch.setattr(paths, "REPO", driver)
    monkeypatch.setattr(sweep, "SWEEPS", driver / "benchmarks" / "sweeps")
    monkeypatch.setattr(provenance, "machine", lambda: dict(cpu="cpu", cores=2))
    monkeypatch.setattr(provenance, "git_state", lambda part: test_ray.NO_GIT)
    monkeypatch.setattr(sweep, "check_flags", lambda *a: None)
    monkeypatch.setattr(ray_pool, "RayPool", lambda address: test_ray.FakePool(worker))
    outcome = {("0.05", "1"): (2500, 500.0), ("0.05", "2"): (None, 200.0), ("0.05", "3"): (7500, 450.0),
               ("0.1", "1"): (5000, 480.0), ("0.1", "2"): (5000, 490.0)}
    calls, models = [], {}

    def fake(argv):
        calls.append(argv)
        if argv[1].endswith("test.py"):  # plays the model a training below saved
            return json.dumps(dict(mean=models[argv[2]], std=0.0, episodes=20)) + "\n", 1.0
        tau, seed = argv[argv.index("--tau") + 1], argv[argv.index("--seed") + 1]
        if (tau, seed) not in outcome:
            raise commands.CommandFailed("benchmark command failed (1): train.py\nRuntimeError: boom")
        hit, final = outcome[tau, seed]
        logs = paths.REPO / argv[argv.index("--log-dir") + 1] / "run"
        logs.mkdir(parents=True)
        rows = [(2500 * k, 475.0 if hit and 2500 * k >= hit else 100.0) for k in (1, 2, 3)]
        (logs / "evaluations.csv").write_text("step,train_seconds,mean,std\n" +
                                              "".join(f"{s},{s / 1000},{m},0\n" for s, m in rows))
        model = f"{argv[argv.index('--save-dir') + 1]}/m.pth"
        models[model] = final
        (logs / "summary.json").write_text(json.dumps(dict(
            steps=7500, train_seconds=7.5, steps_per_second=1000.0, best_eval=475.0, best_step=7500, model=model)))
        return "", 1.0

    monkeypatch.setattr(commands, "run", fake)
    return driver, calls


def test_a_sweep_runs_every_setting_and_seed_and_its_table_is_mean_min_max_over_seeds(tmp_path, monkeypatch):
    """Through main() with a fake pool: tau=0.05 reaches the threshold at 2,500 and 7,500 steps and never on
    seed 2 (finals 500, 200, 450); tau=0.1's seed 3 fails."""
    driver, calls = fake_sweep(tmp_path, monkeypatch)
    with pytest.raises(SystemExit, match="1 run"):
        sweep.main(["part2_dqn/train.py", "--env-id", "CartPole-v1", "--seeds", "1-3", "--grid", "tau=0.05,0.1",
                    "--name", "t"])
    train = [c for c in calls if c[1].endswith("train.py")]
    assert len(train) == 6 and all(c[c.index("--env-id") + 1] == "CartPole-v1" for c in train)
    order = [(c[c.index("--tau") + 1], c[c.index("--seed") + 1]) for c in train]
    assert order == [("0.05", "1"), ("0.1", "1"), ("0.05", "2"), ("0.1", "2"), ("0.05", "3"), ("0.1", "3")]  # seed-major
    readme = (driver / "benchmarks/sweeps/t/README.md").read_text()
    assert "| tau=0.05 | 3 | 2 of 3 | 5,000 / 2,500 / 7,500 | 383.3 / 200.0 / 500.0 |" in readme
    assert "| tau=0.1 | 2 (1 failed) | 2 of 2 | 5,000 / 5,000 / 5,000 | 485.0 / 480.0 / 490.0 |" in readme
    assert (driver / "benchmarks/sweeps/t/sweep.png").stat().st_size > 0
    assert len(list((driver / "benchmarks/sweeps/t/results").glob("*.json"))) == 6


def test_a_stopped_sweep_keeps_what_finished_shuts_ray_down_and_exits_130_in_one_line(tmp_path, monkeypatch, capsys):
    """Ctrl-C (or SIGTERM, which the sweep turns into the same) while waiting on Ray, after one run finished:
    its results file stays, the pool is shut down, and the sweep ends with one line and code 130."""
    driver, _ = fake_sweep(tmp_path, monkeypatch)
    monkeypatch.setattr(signal, "signal", lambda sig, handler: handlers.update({sig: handler}))
    handlers, shut = {}, []

    class StoppedPool(test_ray.FakePool):
        def next_done(self):
            if len(self.done) == 4:  # the fifth of six: stop
                raise KeyboardInterrupt
            return super().next_done()

        def shutdown(self):
            shut.append(True)

    monkeypatch.setattr(ray_pool, "RayPool", lambda address: StoppedPool(tmp_path / "worker"))
    with pytest.raises(SystemExit) as stop:
        sweep.main(["part2_dqn/train.py", "--env-id", "CartPole-v1", "--seeds", "1-3", "--grid", "tau=0.05,0.1",
                    "--name", "t"])
    assert stop.value.code == 130 and shut == [True]
    assert handlers[signal.SIGTERM] is commands.stop_on_sigterm  # SIGTERM stops it as Ctrl-C does
    assert len(list((driver / "benchmarks/sweeps/t/results").glob("*.json"))) == 2  # what finished stays
    err = capsys.readouterr().err.strip()
    assert err.startswith("stopped: the Ray tasks in progress keep nothing") and len(err.splitlines()) == 1
    assert "--missing-only" in err and "Traceback" not in err


def test_a_sweep_stopped_while_drawing_says_so_and_leaves_no_half_file(tmp_path, monkeypatch, capsys):
    driver, _ = fake_sweep(tmp_path, monkeypatch)
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    argv = ["part2_dqn/train.py", "--env-id", "CartPole-v1", "--seeds", "1-2", "--grid", "tau=0.05", "--name", "t"]
    sweep.main(argv)  # a complete sweep: its README exists
    readme = driver / "benchmarks/sweeps/t/README.md"
    before = readme.read_text()

    def stop(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "figure", stop)
    with pytest.raises(SystemExit) as stopped:
        sweep.main([*argv, "--report-only"])
    assert stopped.value.code == 130 and readme.read_text() == before
    assert capsys.readouterr().err.startswith("stopped while writing the sweep's table and figure")
