"""run.py --ray without starting Ray: a fake pool runs each task in a "worker" folder (as a Ray worker runs it in
its own copy of the repo) and hands the outcome back to the driver, which writes the files into its own repo."""
import dataclasses
import importlib.util
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import commands
import jobs
import paths
import pool as ray_pool
import provenance
import run
from results import load_results, short_error
from suites import SUITES, CommandJob, Job, PeerJob, SideBySideJob
from tables import job_rows

# the fake training command of test_results.py (loaded by path: the tests run in pytest's importlib mode)
_spec = importlib.util.spec_from_file_location("benchmarks_test_results", Path(__file__).with_name("test_results.py"))
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
fake_commands = _module.fake_commands

NO_GIT = dict(commit=None, dirty=None, part_dirty=None)


def cartpole(seeds=(101, 102, 103)):
    return Job("cartpole", "part2_dqn", "train.py", ["--env-id", "CartPole-v1"], list(seeds), "CartPole-v1",
               threshold=475, final_episodes=20)


class FakePool:
    """RayPool's interface; each task runs at submit, with paths.REPO pointing at the worker's folder and with
    the arguments Ray would pickle (plain data). `crash` names seeds whose worker 'dies'."""

    def __init__(self, worker, crash=()):
        self.worker, self.crash, self.done, self.submitted = worker, set(crash), [], []

    def submit(self, key, suite, job, seed, state):
        self.submitted.append((key, ray_pool.cpus(job)))
        if seed in self.crash:
            self.done.append((key, None, "WorkerCrashedError: The worker died unexpectedly while executing this task."))
            return
        driver, paths.REPO = paths.REPO, self.worker
        try:
            fields = json.loads(json.dumps(ray_pool.job_fields(job)))  # what crosses to the worker: plain data
            self.done.append((key, ray_pool.task(suite, fields, seed, state), None))
        except Exception as exc:
            self.done.append((key, None, ray_pool.task_error(exc)))
        finally:
            paths.REPO = driver

    def next_done(self):
        return self.done.pop(0)

    def __len__(self):
        return len(self.done)

    def shutdown(self):
        pass


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A launching repo (with part2_dqn's README markers) and a worker's copy, both outside git."""
    driver, worker = tmp_path / "driver", tmp_path / "worker"
    (driver / "part2_dqn").mkdir(parents=True)
    (driver / "part2_dqn" / "README.md").write_text("<!-- results:quick -->\n<!-- /results:quick -->\n")
    worker.mkdir()
    monkeypatch.setattr(paths, "REPO", driver)
    monkeypatch.setattr(paths, "RESULTS", driver / "benchmarks" / "results")
    monkeypatch.setattr(provenance, "machine", lambda: dict(cpu="cpu", cores=2, torch="t", python="p"))
    monkeypatch.setattr(provenance, "git_state", lambda part: NO_GIT)
    monkeypatch.setattr(provenance, "load_average", lambda: 1.5)  # the live load changes between the two runs
    return driver, worker


def training_commands(calls, failing=()):
    """fake_commands that also saves a model (its bytes name the seed), and whose training fails (exit 1)
    for the seeds in `failing`."""
    fake = fake_commands(calls)

    def command(argv):
        if argv[1].endswith("train.py"):
            seed = argv[argv.index("--seed") + 1]
            if int(seed) in failing:
                raise commands.CommandFailed(f"benchmark command failed (1): {' '.join(argv)}\nValueError: boom")
            model = paths.REPO / argv[argv.index("--save-dir") + 1] / "CartPole-v1__dqn__101.pth"
            model.parent.mkdir(parents=True)
            model.write_bytes(f"weights of seed {seed}".encode())
        return fake(argv)
    return command


def files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_run_of_a_job_is_a_task_and_speed_ratios_and_figures_run_after_the_pool(monkeypatch):
    # every module a job requires counts as installed here, so the plan does not depend on this machine's
    # Python (CI has no mujoco); leaving out a job whose module is missing is tested in test_results.py
    monkeypatch.setattr(jobs, "unavailable", lambda job: None)
    pool, after = ray_pool.plan("full", SUITES["full"], missing_only=False)
    # every run of a Job, and of SB3 on the same seeds (a PeerJob claims no speed), is a task
    # (but a job that uses both cores, Pong's actor and learner, runs after the pool, one seed at a time)
    tasks = [j for j in SUITES["full"] if isinstance(j, (Job, PeerJob)) and not getattr(j, "alone", False)]
    assert any(isinstance(j, PeerJob) for j in tasks)
    assert pool == [(j, seed) for j in tasks for seed in j.seeds]
    assert {j.name for j, _ in after} == {j.name for j in SUITES["full"]
                                          if isinstance(j, (SideBySideJob, CommandJob)) or getattr(j, "alone", False)}
    assert all(not isinstance(j, (Job, PeerJob)) or j.alone for j, _ in after)
    frozenlake = next(j for j in tasks if j.torch_threads is None)
    assert ray_pool.cpus(frozenlake) == 1 and ray_pool.cpus(cartpole()) == 1
    assert ray_pool.cpus(dataclasses.replace(cartpole(), torch_threads=4)) == 4  # reserves its thread count


def test_a_task_brings_back_the_same_files_a_sequential_run_writes(tmp_path, repo, monkeypatch):
    driver, worker = repo
    job = cartpole([101])
    monkeypatch.setattr(commands, "run", training_commands([]))
    monkeypatch.setitem(run.SUITES, "quick", [job])
    run.run_sequentially("quick", [job], missing_only=False)
    sequential = files(driver / "benchmarks")
    for path in (driver / "benchmarks").iterdir():
        shutil.rmtree(path)
    pool = FakePool(worker)
    assert ray_pool.run_on_pool("quick", [(job, 101)], pool) == 0
    delivered = files(driver / "benchmarks")
    assert delivered.keys() == sequential.keys()  # results file, logs and model at the same paths
    name = "results/quick/cartpole__seed101.json"
    assert delivered[name] == sequential[name]     # the same results file, byte for byte
    for name in delivered.keys() - {"results/quick/cartpole__seed101.json"}:  # the run's files as the worker wrote them
        assert delivered[name] == (worker / "benchmarks" / name).read_bytes(), name
    result = json.loads((driver / "benchmarks/results/quick/cartpole__seed101.json").read_text())
    assert (driver / result["model"]).read_bytes() == b"weights of seed 101"
    assert pool.submitted == [((job, 101), 1)]


def test_a_failed_task_is_a_failed_result_and_the_others_are_kept(repo, monkeypatch, capsys):
    driver, worker = repo
    job = cartpole()
    monkeypatch.setattr(commands, "run", training_commands([], failing={102}))
    failed = ray_pool.run_on_pool("quick", [(job, s) for s in job.seeds], FakePool(worker, crash={103}))
    assert failed == 2
    results = {r["seed"]: r for r in load_results("quick", job, failed=True)}
    assert not results[101].get("failed") and results[101]["final"]["mean"] == 500.0
    assert results[102]["failed"] and "ValueError: boom" in results[102]["error"]
    assert results[103]["failed"] and "WorkerCrashedError" in results[103]["error"]
    assert [r["seed"] for r in load_results("quick", job)] == [101]  # shipping and plots see only 101
    rows = job_rows(job, [results[s] for s in job.seeds])
    assert rows[1].startswith("| CartPole-v1 | 102 | failed |") and "boom" in rows[1] and rows[1].endswith("❌ |")
    assert "WorkerCrashedError" in rows[2] and not rows[0].startswith("| CartPole-v1 | 101 | failed")


def test_missing_only_runs_again_just_what_has_no_result(repo, monkeypatch):
    driver, worker = repo
    job = cartpole()
    monkeypatch.setattr(commands, "run", training_commands([], failing={102}))
    ray_pool.run_on_pool("quick", [(job, s) for s in (101, 102)], FakePool(worker))  # 103 never ran, 102 failed
    pool, after = ray_pool.plan("quick", [job], missing_only=True)
    assert pool == [(job, 102), (job, 103)] and after == []
    assert ray_pool.plan("quick", [job], missing_only=False)[0] == [(job, s) for s in job.seeds]
    first = (driver / "benchmarks/results/quick/cartpole__seed101.json").read_bytes()
    calls = []
    monkeypatch.setattr(commands, "run", training_commands(calls))
    assert ray_pool.run_on_pool("quick", pool, FakePool(worker)) == 0
    assert [c[c.index("--seed") + 1] for c in calls if c[1].endswith("train.py")] == ["102", "103"]
    assert (driver / "benchmarks/results/quick/cartpole__seed101.json").read_bytes() == first
    assert all(not r.get("failed") for r in load_results("quick", job, failed=True))


def test_main_with_ray_reports_the_failure_in_the_table_and_exits_non_zero(repo, monkeypatch):
    pytest.importorskip("rliable")  # the table's intervals
    driver, worker = repo
    job = cartpole([101, 102])
    monkeypatch.setitem(run.SUITES, "quick", [job])
    monkeypatch.setattr(ray_pool, "RayPool", lambda address: FakePool(worker))
    monkeypatch.setattr(commands, "run", training_commands([], failing={102}))
    with pytest.raises(SystemExit) as stop:
        run.main(["quick", "--ray", "--update-docs"])
    assert "1 run(s) failed" in str(stop.value.code) and "--missing-only" in str(stop.value.code)
    table = (driver / "part2_dqn" / "README.md").read_text()
    assert "| CartPole-v1 | 101 | 5,000 |" in table and "| CartPole-v1 | 102 | failed |" in table
    monkeypatch.setattr(commands, "run", training_commands(calls := []))
    run.main(["quick", "--ray", "--missing-only", "--update-docs"])  # fills in 102 only, and exits normally
    assert [c[c.index("--seed") + 1] for c in calls if c[1].endswith("train.py")] == ["102"]
    assert "failed" not in (driver / "part2_dqn" / "README.md").read_text()


def test_ray_missing_is_one_error_line(repo, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.setitem(run.SUITES, "quick", [cartpole([101])])
    with pytest.raises(SystemExit) as stop:
        run.main(["quick", "--ray", "--no-report"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: ") and "pip install -r benchmarks/requirements-ray.txt" in err


def test_an_unreachable_ray_address_is_one_error_line_not_minutes_of_retries(repo, monkeypatch, capsys):
    import socket

    with socket.socket() as listener:  # a port nobody listens on: bind, then close before Ray tries it
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    monkeypatch.setitem(run.SUITES, "quick", [cartpole([101])])
    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(init=lambda **kw: pytest.fail("ray.init was called")))
    with pytest.raises(SystemExit) as stop:
        run.main(["quick", "--ray-address", f"127.0.0.1:{port}", "--no-report"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: no Ray cluster answers at 127.0.0.1:") and "Traceback" not in err


def test_without_ray_flag_ray_is_never_imported(tmp_path):
    """A sequential run (here with every result present, so nothing trains) never imports ray."""
    results = tmp_path / "quick"
    results.mkdir()
    for job in SUITES["quick"]:
        if job.part == "part1_tabular_q":
            for seed in job.seeds:
                (results / f"{job.name}__seed{seed}.json").write_text(json.dumps(dict(seed=seed)))
    script = ("import sys; sys.path.insert(0, 'benchmarks'); import run; "
              f"run.main(['quick', '--part', 'part1_tabular_q', '--missing-only', '--no-report', '--results-dir', {str(tmp_path)!r}]); "
              "print('ray' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], cwd=paths.REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_a_task_error_is_the_tasks_own_exception_when_it_raised_one():
    class RayTaskError(Exception):
        cause = commands.CommandFailed("benchmark command failed (1): train.py")

    assert ray_pool.task_error(RayTaskError("long traceback")) == "CommandFailed: benchmark command failed (1): train.py"
    assert ray_pool.task_error(RuntimeError("worker died")) == "RuntimeError: worker died"
    assert short_error("CommandFailed: failed (1): python x.py\nTraceback\n  ...\nValueError: a|b") == \
        "CommandFailed: failed (1): python x.py... ValueError: a/b"


def test_the_ray_task_unpickles_where_benchmarks_is_not_on_the_path(tmp_path):
    """run.py and sweep.py import benchmarks/pool.py as `pool`: the function shipped to a worker must not need
    `import pool` there."""
    cloudpickle = pytest.importorskip("ray.cloudpickle")
    data = cloudpickle.dumps(ray_pool.by_value(cloudpickle, ray_pool.ray_task))
    (tmp_path / "task.pkl").write_bytes(data)
    load = "import pickle, sys; f = pickle.loads(open('task.pkl', 'rb').read()); print(f.__name__)"
    done = subprocess.run([sys.executable, "-c", load], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "ray_task"
