"""Run a benchmark suite, then regenerate every part's results table and learning-curve plots.

    python benchmarks/run.py quick                      # a few minutes: is everything still learning?
    python benchmarks/run.py full                       # what the READMEs' tables come from
    python benchmarks/run.py full --part part2_dqn      # only one part's jobs (and its table)
    python benchmarks/run.py full --job cartpole        # only jobs with this name
    python benchmarks/run.py full --report-only         # redraw tables, plots and the closing comparison
    python benchmarks/run.py full --ray [--ray-address ADDRESS] [--missing-only]   # as Ray tasks (see below)

Jobs run one after another (never side by side: the machine has two cores), each with one torch thread.
With --ray, each (job, seed) of a Job runs as a Ray task instead (same commands, files returned to this repo;
side-by-side and command jobs run afterwards, alone): see the "On Ray" section of benchmarks/README.md.
Each (job, seed) writes `benchmarks/results/<suite>/<job>__seed<N>.json`: the commit it ran from and whether
the tree had uncommitted changes, the command (paths relative to the repo), env steps and training seconds
to the threshold, steps/s, the evaluation curve, the final greedy test of the best model, the machine. The
report step turns those files into each part's README table (between the `<!-- results:<suite> -->`
markers), `<part>/plots/<job>.png` (full suite only), and the series' closing comparison in the top-level
README (between the `<!-- results:closing -->` markers, full suite only). benchmarks/README.md has the details.
"""
import argparse
import csv
import dataclasses
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from suites import SUITES, CommandJob, Job, SideBySideJob

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
RUNS = Path("benchmarks") / "runs"  # relative to the repo, where every command runs
SB3_PYTHON = os.environ.get("SB3_PYTHON", str(REPO.parent / "sb3-env" / "bin" / "python"))
TRAINING_STATE = "training_state.pth"  # what --checkpoint-every (parts 2 and 5) leaves in an unfinished run's folder
FORMAT = 2  # results files with commit, dirty and repo-relative paths; files without "format" came before

# The series' closing comparison (top-level README): the envs several parts solve, and the score that counts
# as solving each one (steps and seconds to the first greedy evaluation at or above it).
CLOSING = {"CartPole-v1": 500.0, "Pendulum-v1": -200.0, "LunarLander-v3": 200.0, "LunarLanderContinuous-v3": 200.0}


def machine():
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return dict(cpu=cpu, cores=os.cpu_count(), python=platform.python_version(), torch=torch.__version__,
                os=platform.platform(terse=True))


def load_average():
    """The 1-minute load average (None where the OS keeps none): how busy the shared machine was. Absolute
    speeds swing 2-5x with it, so every result records it at its job's start and end."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


# What the runner itself writes while a suite runs: not a change to the code that ran.
# The report rewrites the READMEs' tables and redraws the plots after every run, and docs never change what
# runs: Markdown and plots do not count either.
OUTPUTS = [":(exclude)benchmarks/results", ":(exclude)benchmarks/runs", ":(exclude)benchmarks/sweeps",
           ":(exclude)models",  # the best seed's model is copied to models/<part>/
           ":(exclude,glob)**/*.md", ":(exclude,glob)**/plots/**"]


def git_state(part):
    """{"commit", "dirty", "part_dirty"}: HEAD, whether `git status --porcelain` lists anything, and whether
    it lists anything in the job's part or in benchmarks/ (None for all three outside a git checkout). The
    results files, run folders, sweeps, models, README tables and plots the runner writes itself do not count,
    nor does any other Markdown file."""
    def git(*args):
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            raise OSError(done.stderr)
        return done.stdout.strip()

    try:
        return dict(commit=git("rev-parse", "HEAD"), dirty=bool(git("status", "--porcelain", "--", ".", *OUTPUTS)),
                    part_dirty=bool(git("status", "--porcelain", "--", part, "benchmarks", *OUTPUTS)))
    except OSError:
        return dict(commit=None, dirty=None, part_dirty=None)


def rel(path):
    """`path` relative to the repo when it lies inside it (results files never hold absolute paths)."""
    path = Path(path)
    if path.is_absolute():
        try:
            return str(path.resolve().relative_to(REPO))
        except ValueError:
            return str(path)
    return str(path)


class CommandFailed(Exception):
    """A benchmark command exited non-zero, or left no model: the sequential runner stops on it, a Ray run
    records it as the (job, seed)'s failed result."""


class Stopped(KeyboardInterrupt):
    """The runner got SIGTERM (`kill`, `timeout`, a scheduler): it stops as on Ctrl-C."""


def stop_on_sigterm(signum, frame):
    raise Stopped()


STOP_GRACE = 180  # seconds a stopped command gets to save its best model and exit before it is killed
IN_PROGRESS = "stopped before any run started"  # main's line if a stop comes now; each phase says its own


def doing(line):
    """Set the line main prints if a stop (Ctrl-C, SIGTERM) comes during the phase that starts now."""
    global IN_PROGRESS
    IN_PROGRESS = line


def run(command):
    """Run a command in the repo's root with OMP_NUM_THREADS=1 (for scripts without a torch-threads flag).
    Returns (stdout, wall seconds); raises CommandFailed with the tail of stderr on a non-zero exit.

    The command runs in its own session, so a stop reaches it once, from here: on Ctrl-C (SIGINT, from a
    terminal or `kill -INT`) or SIGTERM the runner passes the same signal on, waits for the command to stop
    as every part's scripts do (keeping their best model; at most STOP_GRACE seconds, or until a second
    Ctrl-C), then re-raises. subprocess.run would kill it a quarter second in.
    """
    started = time.perf_counter()
    child = None
    try:
        child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=os.environ | {"OMP_NUM_THREADS": "1"}, start_new_session=True)
        stdout, stderr = child.communicate()
    except KeyboardInterrupt as stop:
        if child is None:  # stopped before the command started
            raise
        child.send_signal(signal.SIGTERM if isinstance(stop, Stopped) else signal.SIGINT)
        try:
            child.communicate(timeout=STOP_GRACE)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            child.kill()
            child.communicate()
        raise
    if child.returncode != 0:
        raise CommandFailed(f"benchmark command failed ({child.returncode}): {' '.join(command)}\n{stderr[-3000:]}")
    return stdout, time.perf_counter() - started


def read_curve(run_dir):
    """[[step, mean, train_seconds], ...] from a run's evaluations.csv."""
    with open(run_dir / "evaluations.csv") as f:
        return [[int(r["step"]), float(r["mean"]), float(r["train_seconds"])] for r in csv.DictReader(f)]


def first_hit(curve, threshold):
    """(step, train seconds or None) of the first evaluation at or above `threshold`, or None.

    `curve` rows are [step, mean, train_seconds] ([step, mean] in Job files from before format 2).
    """
    row = next((row for row in curve if row[1] >= threshold), None)
    return None if row is None else (row[0], row[2] if len(row) > 2 else None)


def work_dir(suite, job, seed):
    """Where a (job, seed) run keeps its logs and models, relative to the repo."""
    return RUNS / suite / f"{job.name}__seed{seed}"


def unavailable(job):
    """Why a job cannot run with this Python (a module it needs is not installed), or None."""
    module = getattr(job, "requires", None)
    if module and importlib.util.find_spec(module) is None:
        return f"needs {module}, which is not installed (see {job.part}/README.md)"
    return None


def run_job(suite, job, seed, state):
    """Train one seed of a Job, then test its best model: the result dict. `state` is git_state() of the
    code that runs (taken by whoever launched the run: a Ray worker's copy of the repo has no .git)."""
    if unavailable(job):
        print(f"  skipped: {unavailable(job)}", flush=True)
        return None
    load_at_start = load_average()
    work = work_dir(suite, job, seed)
    doing(f"stopped: the run in progress ({job.name}, seed {seed}) has no results file; its folder {work} keeps "
          f"what its script saved; `--missing-only` runs it and the rest")
    threads = [] if job.torch_threads is None else ["--torch-threads", str(job.torch_threads)]
    command = [sys.executable, f"{job.part}/{job.script}", *job.args, *threads, "--seed", str(seed),
               "--log-dir", str(work / "logs"), "--save-dir", str(work / "models")]
    # An interrupted run that saved its training state (--checkpoint-every: Pong, LunarLanderContinuous SAC) continues from it;
    # anything else left in the run's folder is from an older run and goes.
    saved = sorted((REPO / work / "logs").glob(f"*/{TRAINING_STATE}"))
    if saved:
        print(f"  resuming the interrupted run in {rel(saved[-1].parent)}", flush=True)
        _, wall = run([sys.executable, f"{job.part}/{job.script}", "--resume", rel(saved[-1].parent)])
    else:
        shutil.rmtree(REPO / work, ignore_errors=True)
        _, wall = run(command)
    run_dir = next((REPO / work / "logs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    curve = read_curve(run_dir)
    hit = first_hit(curve, job.threshold)
    if not summary.get("model"):
        raise CommandFailed(f"benchmark run left no model: {' '.join(command)}")
    model = rel(REPO / summary["model"])
    stdout, _ = run([sys.executable, f"{job.part}/test.py", model, "--episodes", str(job.final_episodes),
                     "--seed", str(100_000 + seed), "--json"])
    final = json.loads(stdout.strip().splitlines()[-1])
    result = dict(format=FORMAT, suite=suite, job=job.name, part=job.part, label=job.label, seed=seed, **state,
                  command=command[1:], torch_threads=job.torch_threads, last_eval=curve[-1][1],
                  steps=summary["steps"], train_seconds=summary["train_seconds"], wall_seconds=round(wall, 1),
                  steps_per_second=summary["steps_per_second"], speed_key=job.speed_key,
                  compared_steps_per_second=summary[job.speed_key], threshold=job.threshold,
                  steps_to_threshold=hit[0] if hit else None, seconds_to_threshold=hit[1] if hit else None,
                  best_eval=summary["best_eval"], best_step=summary["best_step"], final=final,
                  curve=curve, model=model, machine=machine())
    if summary.get("resumed_at"):  # the steps at which it continued from a saved state (wall_seconds: the last stretch)
        result["resumed_at"] = summary["resumed_at"]
    if summary.get("raw_steps_per_second") is not None:  # the run measured its env's raw rate itself
        result["raw_steps_per_second"] = summary["raw_steps_per_second"]
    elif job.raw_speed:
        stdout, _ = run([sys.executable, "benchmarks/raw_speed.py", job.part, job.script, *job.args, *threads,
                         "--seed", str(seed)])
        result["raw_steps_per_second"] = json.loads(stdout)["raw_steps_per_second"]
    result["load_average"] = [load_at_start, load_average()]
    return result


def run_side_by_side(suite, job, seed, state):
    """benchmarks/side_by_side.py for one pair and one seed, with the SB3 Python (it imports both trainings)."""
    if not Path(SB3_PYTHON).exists():
        print(f"  skipped: no Stable-Baselines3 python at {SB3_PYTHON} (set SB3_PYTHON; see benchmarks/README.md)")
        return None
    load_at_start = load_average()
    doing(f"stopped: the side-by-side measurement in progress ({job.name}, seed {seed}) has no result; "
          f"`--missing-only` runs it and the rest")
    command = [SB3_PYTHON, "benchmarks/side_by_side.py", job.pair, "--seeds", str(seed), "--json"]
    if job.total_steps is not None:
        command += ["--total-steps", str(job.total_steps)]
    stdout, wall = run(command)
    both = json.loads(stdout.strip().splitlines()[-1])
    return dict(format=FORMAT, suite=suite, job=job.name, part=job.part, label=job.label, seed=seed, **state,
                command=command[1:], side_by_side=True, pair=job.pair, torch_threads=both["torch_threads"],
                eval_every=both["eval_every"], ours=both["ours"], peer=both["sb3"], wall_seconds=round(wall, 1),
                machine=machine(), load_average=[load_at_start, load_average()])


def run_one(suite, job, seed, state):
    """Run one (job, seed) and return its result dict (None when a side-by-side job has no SB3 Python).
    The sequential runner and a Ray task both run a (job, seed) through this function."""
    runner = run_side_by_side if isinstance(job, SideBySideJob) else run_job
    return runner(suite, job, seed, state)


def results_path(suite, job, seed, results=None):
    return (results or RESULTS / suite) / f"{job.name}__seed{seed}.json"


def write_atomically(path, data):
    """Write `data` (str or bytes) to `path` through a temporary file and a rename: a stop in the middle leaves
    the old file or the new one, never half of one (a cut results file would break every later report)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        if isinstance(data, bytes):
            temporary.write_bytes(data)
        else:
            temporary.write_text(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def save_figure(fig, path):
    """fig as a PNG at `path`, atomically (see write_atomically)."""
    temporary = Path(path).with_name(f".{Path(path).name}.partial")
    try:
        fig.savefig(temporary, dpi=90, format="png")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def save_result(path, result):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(result, indent=1))


def failed_result(suite, job, seed, state, error):
    """The results file of a (job, seed) that failed: the table shows it as failed, with its error, and
    `--missing-only` runs it again."""
    return dict(format=FORMAT, suite=suite, job=job.name, part=job.part, label=job.label, seed=seed, **state,
                failed=True, error=error[-3000:])


def is_missing(path):
    """True when a (job, seed) has no result yet: no file, or the file of a failed run."""
    return not path.exists() or bool(json.loads(path.read_text()).get("failed"))


def describe(job, result):
    """The progress line printed after a (job, seed)."""
    if result.get("failed"):
        return f"  FAILED: {short_error(result['error'])}"
    if isinstance(job, SideBySideJob):
        return (f"  ours {result['ours']['steps_per_second']:,.0f} vs SB3 {result['peer']['steps_per_second']:,.0f} "
                f"steps/s, side by side")
    return (f"  {result['steps_per_second']:,.0f} steps/s, threshold at {result['steps_to_threshold']}, "
            f"final {result['final']}")


def short_error(error):
    """A failed run's error in one table cell: its first line (cut short) and its last (the exception)."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()] or ["unknown error"]
    text = lines[0][:200] if len(lines) == 1 else f"{lines[0][:60]}... {lines[-1][:140]}"
    return text.replace("|", "/")


# ---------- on Ray: the same (job, seed) runs as tasks ----------
#
# A task runs in the copy of the repo Ray ships to its worker (runtime_env working_dir: no shared folder is
# needed, so the same code runs on a cluster), runs `run_one` there, and returns the result dict and the bytes
# of every file the run left in its folder (TensorBoard logs, evaluations.csv, summary.json, the best model).
# The driver writes those files into the launching repo, at the same repo-relative paths, then the results
# file: the same files a sequential run writes.

def ray_task(suite, job_fields, seed, state):
    """The function Ray runs: import benchmarks/run.py from the worker's copy of the repo (its working
    directory) and run `task` there. Arguments are plain data, so nothing but this function is pickled."""
    import importlib.util
    import sys
    from pathlib import Path

    here = Path.cwd() / "benchmarks"
    if str(here) not in sys.path:  # for `import suites` (a worker process runs many tasks)
        sys.path.insert(0, str(here))
    spec = importlib.util.spec_from_file_location("benchmarks_run", here / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.task(suite, job_fields, seed, state)


def by_value(cloudpickle, function):
    """`function`, to be pickled by value even when this file was imported as the module `run` (by sweep.py):
    a worker cannot import `run` (benchmarks/ is not on its path) until ray_task has put it there."""
    module = sys.modules[function.__module__]
    if function.__module__ != "__main__":
        cloudpickle.register_pickle_by_value(module)
    return function


def task(suite, job_fields, seed, state):
    """One (job, seed) inside a worker: {"result": result dict, "files": {repo-relative path: bytes}}."""
    job = Job(**job_fields)
    result = run_one(suite, job, seed, state)
    work = REPO / work_dir(suite, job, seed)
    files = {p.relative_to(REPO).as_posix(): p.read_bytes() for p in sorted(work.rglob("*")) if p.is_file()}
    return dict(result=result, files=files)


def deliver(suite, job, seed, outcome, results=None):
    """Driver side: write a task's files into this repo (replacing the folder of an earlier run), then its
    results file. Returns the result."""
    work = (REPO / work_dir(suite, job, seed)).resolve()
    shutil.rmtree(work, ignore_errors=True)
    for name, data in outcome["files"].items():
        target = (REPO / name).resolve()
        if not target.is_relative_to(work):
            raise CommandFailed(f"a task returned a file outside its run folder: {name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, data)
    save_result(results_path(suite, job, seed, results), outcome["result"])
    return outcome["result"]


def cpus(job):
    """The CPUs a task reserves: its torch thread count (one for a script that takes no thread flag)."""
    return job.torch_threads or 1


def plan(suite, jobs, missing_only, results=None):
    """(pool, after): the (job, seed) pairs that run as Ray tasks (every Job), and what runs after the pool
    on the driver, alone (side-by-side jobs, which claim a speed ratio, and CommandJobs, which draw their
    own figures). With `missing_only`, only the pairs without a result (see is_missing)."""
    pool, after = [], []
    for job in jobs:
        if isinstance(job, CommandJob):
            after.append((job, None))
            continue
        if unavailable(job):
            print(f"{suite}/{job.name} skipped: {unavailable(job)}", flush=True)
            continue
        for seed in job.seeds:
            if missing_only and not is_missing(results_path(suite, job, seed, results)):
                continue
            (pool if isinstance(job, Job) else after).append((job, seed))
    return pool, after


class UserError(Exception):
    """Bad input: one line `error: ...`, exit code 2."""


def check_reachable(address, seconds=10):
    """Raise UserError unless a `host:port` (or `ray://host:port`) --ray-address answers within `seconds`:
    ray.init keeps retrying an unreachable address for minutes. Other forms ("auto") go to Ray as given."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=seconds).close()
    except OSError as exc:
        raise UserError(f"no Ray cluster answers at {address} ({exc.strerror or exc})") from None


class RayPool:
    """Ray tasks: `submit` one (job, seed), `next_done` returns the next one finished as (key, outcome, error)."""

    def __init__(self, address=None):
        try:
            import ray
        except ImportError:
            raise UserError("--ray needs Ray, which is not installed: pip install -r benchmarks/requirements-ray.txt")
        self.ray = ray
        if address:
            check_reachable(address)
        # working_dir: Ray ships the repo (without what .gitignore and `excludes` name) to every worker
        try:
            ray.init(address=address, runtime_env=dict(working_dir=str(REPO), excludes=[
                ".git/", "benchmarks/results/", "benchmarks/runs/", "benchmarks/sweeps/"]), log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:  # e.g. no cluster at --ray-address
            raise UserError(f"could not {'join Ray at ' + address if address else 'start a local Ray'}: "
                            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
        print(f"Ray: {ray.cluster_resources().get('CPU', 0):g} CPUs", flush=True)
        self.remote = ray.remote(max_retries=0)(by_value(ray.cloudpickle, ray_task))  # a dead worker: failed, no retry
        self.pending = {}

    def submit(self, key, suite, job, seed, state):
        ref = self.remote.options(num_cpus=cpus(job)).remote(suite, dataclasses.asdict(job), seed, state)
        self.pending[ref] = key

    def next_done(self):
        (ref,), _ = self.ray.wait(list(self.pending), num_returns=1)
        key = self.pending.pop(ref)
        try:
            return key, self.ray.get(ref), None
        except Exception as exc:  # the task raised (CommandFailed, ...) or its worker died
            return key, None, task_error(exc)

    def __len__(self):
        return len(self.pending)

    def shutdown(self):
        self.ray.shutdown()


def task_error(exc):
    """The error of a failed task as text: the task's own exception when it raised one (RayTaskError.cause),
    else what Ray says (a dead worker, for instance)."""
    cause = getattr(exc, "cause", None)
    return f"{type(cause or exc).__name__}: {cause or exc}"


def run_on_pool(suite, pairs, pool, results=None):
    """Submit every (job, seed) to `pool`, write each one's files and results file as it finishes, or its
    failed result. Returns the number that failed; the others' results are kept either way."""
    for job, seed in pairs:
        pool.submit((job, seed), suite, job, seed, git_state(job.part))
    doing("stopped: the Ray tasks in progress keep nothing (a task's files come back when it finishes); "
          "`--missing-only` runs them and the rest")
    failed = 0
    while len(pool):
        (job, seed), outcome, error = pool.next_done()
        print(f"{suite}/{job.name} seed {seed} (Ray task) ...", flush=True)
        try:
            result = None if error else deliver(suite, job, seed, outcome, results)
        except (OSError, CommandFailed) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error:
            failed += 1
            result = failed_result(suite, job, seed, git_state(job.part), error)
            save_result(results_path(suite, job, seed, results), result)
        if result is not None:
            print(describe(job, result), flush=True)
    return failed


def ship(suite, job):
    """Copy the best seed's model (by the final greedy test) to models/<part>/, and draw its plot."""
    results = load_results(suite, job)
    best = max(results, key=lambda r: r["final"][job.metric])
    target = REPO / "models" / job.part / job.ship
    doing(f"stopped while shipping {job.name}'s best model (the file in models/ is whole, old or new) or drawing "
          f"its plot; `--report-only` writes the tables")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, (REPO / best["model"]).read_bytes())
    print(f"  shipped seed {best['seed']} ({job.metric} {best['final'][job.metric]}) as {rel(target)}")
    if job.plot:
        (REPO / job.part / "plots").mkdir(exist_ok=True)
        run([sys.executable, f"{job.part}/test.py", rel(target), "--episodes", "1",
             "--plot", f"{job.part}/plots/{job.name}_model.png"])


# ---------- results files ----------

def normalise(r):
    """A results file as the report reads it, whatever its format.

    Files from before format 2 hold no commit (shown as such), curves of [step, mean] without seconds, and,
    for jobs that ran twice per seed, `speed_runs` with a mean speed beside the later run's other fields:
    the row takes the later run's own speed, so that every number in it comes from one run.
    """
    r = dict(r, commit=r.get("commit"), dirty=r.get("dirty"), part_dirty=r.get("part_dirty"))
    if r.get("speed_runs"):
        r["steps_per_second"] = r["speed_runs"][-1]
    if r.get("side_by_side") and "format" not in r:  # side-by-side curves were [step, train_seconds, mean]
        for side in ("ours", "peer"):
            r[side] = dict(r[side], curve=[[step, mean, seconds] for step, seconds, mean in r[side]["curve"]])
    return r


def load_results(suite, job, failed=False, results=None):
    """The job's results files for the seeds the suite lists now (files of other seeds are left out);
    the files of failed runs only with `failed`."""
    found = []
    for seed in job.seeds:
        path = results_path(suite, job, seed, results)
        if path.exists():
            r = normalise(json.loads(path.read_text()))
            if failed or not r.get("failed"):
                found.append(r)
    return found


# ---------- report ----------

def fmt(x, digits=0):
    return "—" if x is None else f"{x:,.{digits}f}"


def passes(job, r):
    """True/False against every claim the job makes, None when it makes none."""
    claims = (job.target, job.last_target, job.max_steps, job.speed_target)
    if all(claim is None for claim in claims):
        return None
    ok = job.target is None or r["final"][job.metric] >= job.target
    ok &= job.last_target is None or (bool(r["curve"]) and r["curve"][-1][1] >= job.last_target)
    ok &= job.max_steps is None or (r["steps_to_threshold"] is not None and r["steps_to_threshold"] <= job.max_steps)
    compared = r.get("compared_steps_per_second", r["steps_per_second"])
    ok &= job.speed_target is None or compared >= job.speed_target * r["raw_steps_per_second"]
    return bool(ok)


def failed_row(label, r):
    return f"| {label} | {r['seed']} | failed | — | — | — | — | failed: {short_error(r['error'])} ❌ |"


def job_rows(job, results):
    """One Markdown row per seed, passes and failures alike (a run that failed says so, with its error)."""
    rows = []
    for r in results:
        if r.get("failed"):
            rows.append(failed_row(r["label"], r))
            continue
        final = r["final"]
        digits = 3 if abs(final["mean"]) < 10 else 1
        final_text = f"{final['mean']:.{digits}f} ± {final['std']:.{digits}f} ({final['episodes']} ep)"
        if job.metric == "success_rate":
            final_text = f"success {final['success_rate']:.3f} ({final['episodes']} ep)"
        speed = fmt(r["steps_per_second"])
        if r.get("raw_steps_per_second"):
            compared = r.get("compared_steps_per_second", r["steps_per_second"])
            if r.get("speed_key", "steps_per_second") != "steps_per_second":
                speed += f"; collection {fmt(compared)}"
            speed += f" / raw {fmt(r['raw_steps_per_second'])} ({compared / r['raw_steps_per_second']:.0%})"
        verdict = {True: " ✅", False: " ❌", None: ""}[passes(job, r)]
        rows.append(f"| {r['label']} | {r['seed']} | {fmt(r['steps'])} | {fmt(r['steps_to_threshold'])} | "
                    f"{fmt(r['seconds_to_threshold'], 1)} | {speed} | "
                    f"{fmt(r['curve'][-1][1] if r['curve'] else None, digits)} | {final_text}{verdict} |")
    return rows


def side_by_side_rows(job, results):
    """Two rows per seed, ours and SB3's, from the same side-by-side run."""
    rows = []
    for r in results:
        if r.get("failed"):
            rows.append(failed_row(f"{job.label}, side by side", r))
            continue
        for name, side in (("ours", r["ours"]), ("SB3", r["peer"])):
            hit = first_hit(side["curve"], job.threshold)
            last = side["curve"][-1][1] if side["curve"] else None
            final = side.get("final")
            final_text = "—" if final is None else (f"{final['mean']:.1f} ± {final['std']:.1f} "
                                                    f"({final['episodes']} ep, final policy)")
            rows.append(f"| {job.label}, side by side: {name} | {r['seed']} | {fmt(side['steps'])} | "
                        f"{fmt(hit[0] if hit else None)} | {fmt(hit[1] if hit else None, 1)} | "
                        f"{fmt(side['steps_per_second'])} | {fmt(last, 1)} | {final_text} |")
    return rows


def side_by_side_note(job, results):
    """The sentence of a SideBySideJob: each side's steps/s and seconds to the threshold, seed by seed, the
    ratios, and the verdict on its claims (>= peer_speed_target x the peer's steps/s and less time to the
    threshold, every seed; the peer never reaching it counts as more time)."""
    def seconds(side):
        hit = first_hit(side["curve"], job.threshold)
        return None if hit is None else hit[1]

    results = [r for r in results if not r.get("failed")]  # failed seeds have their own rows
    if not results:
        return []
    ratios = [r["ours"]["steps_per_second"] / r["peer"]["steps_per_second"] for r in results]
    per_seed = "; ".join(
        f"seed {r['seed']}: {fmt(r['ours']['steps_per_second'])} vs {fmt(r['peer']['steps_per_second'])} steps/s "
        f"({x:.2f}x), {fmt(seconds(r['ours']), 1)} s vs {fmt(seconds(r['peer']), 1)} s to {job.threshold:g}"
        for r, x in zip(results, ratios))
    budget = "" if job.total_steps is None else f" --total-steps {job.total_steps}"
    text = (f"**{job.label} against Stable-Baselines3, side by side** (`benchmarks/side_by_side.py "
            f"{job.pair}{budget}`: both trainings in one process, one torch thread each, taking turns at every "
            f"evaluation, so both meet the same machine; each clock counts its own training only), ours vs "
            f"SB3: {per_seed}.")
    if job.peer_speed_target is not None:
        faster = all(x >= job.peer_speed_target for x in ratios)
        sooner = all(seconds(r["ours"]) is not None and (seconds(r["peer"]) is None or
                     seconds(r["ours"]) < seconds(r["peer"])) for r in results)
        text += (f" Claims, every seed: >= {job.peer_speed_target:g}x SB3's steps per second "
                 f"{'✅' if faster else '❌'}; less training time to {job.threshold:g} {'✅' if sooner else '❌'}.")
    return ["", text]


def provenance(results):
    """Which code the rows come from: commits, with a word on uncommitted changes; older files say so."""
    described = []
    for r in results:
        if r["commit"] is None:
            text = "no commit recorded (results files from before they recorded one)"
        else:
            text = f"commit `{r['commit'][:10]}`"
            if r["part_dirty"]:
                text += " with uncommitted changes in this part or benchmarks/"
            elif r["dirty"]:
                text += " (uncommitted changes elsewhere in the tree)"
        if text not in described:
            described.append(text)
    return "; ".join(described)


def load_text(results):
    """The range of the 1-minute load averages the results recorded (older files recorded none)."""
    recorded = [r for r in results if any(x is not None for x in (r.get("load_average") or []))]
    loads = [x for r in recorded for x in r["load_average"] if x is not None]
    if not loads:
        return ""
    which = "" if len(recorded) == len(results) else f" (the {len(recorded)} of {len(results)} runs that recorded it)"
    return f"; 1-minute load average at the jobs' starts and ends {min(loads):.1f}-{max(loads):.1f}{which}"


def curves_on_grid(curves):
    """(steps, values): evaluation curves [(step, value, ...), ...] on the union of their steps, shape
    (curves, steps).

    Seeds may evaluate at different steps (Part 3 evaluates after whole batches of episodes), so each curve is
    interpolated linearly onto the union, and left NaN outside its own first and last evaluation.
    """
    steps = np.array(sorted({row[0] for curve in curves for row in curve}), dtype=float)

    def on_grid(curve):
        xs, ys = np.array([row[:2] for row in curve], dtype=float).T
        return np.where((steps < xs[0]) | (steps > xs[-1]), np.nan, np.interp(steps, xs, ys))

    return steps, np.array([on_grid(curve) for curve in curves])


def curve_label(results):
    """The legend of a job's curve: one seed is named, several are a mean (with a min-max band)."""
    if len(results) == 1:
        return f"seed {results[0]['seed']}"
    return f"mean of {len(results)} seeds ({', '.join(str(r['seed']) for r in results)})"


def plot_job(job, results, path):
    """A job's greedy-evaluation curve against env steps; with `job.plot_minutes`, a second panel against
    training minutes (evaluation excluded), each seed its own line."""
    fig, axes = plt.subplots(1, 2 if job.plot_minutes else 1, figsize=(11 if job.plot_minutes else 6, 3.6),
                             squeeze=False)
    ax = axes[0, 0]
    steps, values = curves_on_grid([r["curve"] for r in results])
    ax.plot(steps, np.nanmean(values, 0), label=curve_label(results))
    if len(results) > 1:
        ax.fill_between(steps, np.nanmin(values, 0), np.nanmax(values, 0), alpha=0.25, label="min-max over seeds")
    ax.set_xlabel("environment steps")
    ax.set_title(job.label)
    if job.plot_minutes:
        minutes = axes[0, 1]
        for r in results:
            rows = [row for row in r["curve"] if len(row) > 2]
            minutes.plot([row[2] / 60 for row in rows], [row[1] for row in rows], label=f"seed {r['seed']}")
        minutes.set_xlabel("training minutes (evaluation excluded)")
        minutes.set_title(f"{job.label}: against time on this machine", fontsize=9)
    for a in axes[0]:
        a.axhline(job.threshold, color="grey", ls="--", lw=1, label=f"threshold {job.threshold:g}")
        a.set_ylabel("greedy success rate" if job.metric == "success_rate" else "greedy evaluation return")
        a.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def replace_between(path, name, body):
    """Put `body` between the `<!-- results:name -->` markers of `path`; False if it has none."""
    text = path.read_text()
    start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    write_atomically(path, f"{head}{start}\n{body}\n{end}{rest.split(end, 1)[1]}")
    return True


def report(suite, parts):
    jobs = [j for j in SUITES[suite] if j.part in parts and not isinstance(j, CommandJob)]
    for part in parts:
        lines, notes, everything, machines = [], [], [], set()
        for job in (j for j in jobs if j.part == part):
            results = load_results(suite, job, failed=True)
            if not results:
                continue
            everything += results
            machines |= {f"{r['machine']['cpu']}, {r['machine']['cores']} cores, torch {r['machine']['torch']}, "
                         f"Python {r['machine']['python']}" for r in results if r.get("machine")}
            if isinstance(job, SideBySideJob):
                lines += side_by_side_rows(job, results)
                notes += side_by_side_note(job, results)
                continue
            lines += job_rows(job, results)
            results = [r for r in results if not r.get("failed")]
            if suite == "full" and results:  # the READMEs show the full suite's curves, never quick's
                (REPO / part / "plots").mkdir(exist_ok=True)
                plot_job(job, results, REPO / part / "plots" / f"{job.name}.png")
        if not lines:
            continue
        seeds = sorted({r["seed"] for r in everything})
        table = "\n".join([
            f"Produced by `python benchmarks/run.py {suite} --part {part}` on {'; '.join(sorted(machines))}"
            f"{load_text(everything)}; "
            f"code: {provenance(everything)}. Seeds {', '.join(map(str, seeds))}, every one shown, passes and "
            f"failures alike. \"Threshold\": first greedy evaluation at or above the job's threshold; seconds "
            f"count training only (evaluation excluded). Final: the best saved model played greedily on fresh "
            f"episodes.", "",
            "| run | seed | env steps | steps to threshold | seconds to threshold | steps/s | last eval | final greedy test |",
            "|---|---|---|---|---|---|---|---|", *lines, *notes])
        readme = REPO / part / "README.md"
        if readme.exists() and replace_between(readme, suite, table):
            print(f"  wrote the {suite} table of {rel(readme)}")
        else:
            print(f"  {rel(readme)} has no <!-- results:{suite} --> marker; table not written")


# ---------- the series' closing comparison ----------
#
# The top-level README's last section: for every env several parts solve (CLOSING), one row per job of the
# full suite on it, in the suite's order (Part 1 to Part 5), whether it has results or not; one figure per
# env with every part's greedy-evaluation curves; and a few sentences, generated from the same rows, on
# which algorithm to pick. Everything comes from the results files; a job without them says "not run yet".

# What holds whatever the numbers say: which algorithms can act on which kind of action at all.
CLOSING_ACTIONS = ("Discrete actions (CartPole, LunarLander) suit DQN, REINFORCE, A2C and PPO as they are; "
                   "continuous ones (Pendulum's torque, LunarLanderContinuous's two throttles) need a Gaussian "
                   "policy (REINFORCE, PPO), SAC's squashed Gaussian, or a few fixed actions for tabular Q-learning "
                   "and DQN. A replay memory (DQN, SAC) lets an algorithm learn from each env step many times; "
                   "REINFORCE, A2C and PPO learn from a batch of steps once (PPO: for a few epochs) and discard it. "
                   "So where env steps are expensive (a robot, a slow simulator) compare the steps columns; where "
                   "they are cheap, as in these simulators, the seconds columns.")


def closing_jobs(suite="full"):
    """{env_id: [job, ...]}: every Job of the suite on a CLOSING env, in the suite's order."""
    return {env: [j for j in SUITES[suite] if isinstance(j, Job) and j.env_id == env] for env in CLOSING}


def stats(values):
    """(mean, min, max) of the values that are not None, or None when there are none."""
    values = [v for v in values if v is not None]
    return (float(np.mean(values)), min(values), max(values)) if values else None


def stat_text(stat, digits=0):
    """`mean (min to max)` over seeds; only the value when they are all equal (or there is one seed)."""
    if stat is None:
        return "—"
    mean, low, high = stat
    return fmt(mean, digits) if low == high else f"{fmt(mean, digits)} ({fmt(low, digits)} to {fmt(high, digits)})"


@dataclasses.dataclass
class Reach:
    """When the seeds of a job first reached a score: (mean, min, max) over the seeds that reached it."""
    score: float
    reached: int        # seeds whose greedy evaluations reached `score`
    seeds: int          # seeds that ran
    steps: tuple        # env steps to the first greedy evaluation >= score; None if no seed reached it
    seconds: tuple      # training seconds to it; None also when a seed that reached it recorded no seconds
    recorded: bool      # every seed that reached it recorded its training seconds (format 2 files)


def reach(results, score):
    hits = [h for h in (first_hit(r["curve"], score) for r in results) if h is not None]
    recorded = all(h[1] is not None for h in hits)
    return Reach(score=score, reached=len(hits), seeds=len(results), steps=stats([h[0] for h in hits]),
                 seconds=stats([h[1] for h in hits]) if recorded else None, recorded=recorded)


@dataclasses.dataclass
class ClosingRow:
    """One job of the closing comparison, from its results files (failed ones included)."""
    job: Job
    done: list          # results of the seeds that ran to the end
    failed: list        # seeds whose run failed
    missing: list       # seeds without a results file
    score: tuple        # (mean, min, max) over `done` of the best model's greedy test mean; None without results
    episodes: list      # the final test's episode counts (one per job, unless the suite changed)
    own: Reach          # to the job's own threshold (what its chapter judges it at)
    solved: Reach       # to the env's score (CLOSING): the same yardstick for every part
    budget: tuple       # (mean, min, max) env steps trained

    @property
    def part(self):
        return self.job.part.split("_", 1)[0].replace("part", "Part ")

    @property
    def name(self):
        return f"{self.part}'s {self.job.algo or self.job.label}"

    @property
    def complete(self):
        """Every seed the suite lists ran to the end: a row the advice may compare."""
        return bool(self.done) and not self.failed and not self.missing


def closing_row(env, job, results):
    """The ClosingRow of a job from load_results(..., failed=True)."""
    done = [r for r in results if not r.get("failed")]
    ran = {r["seed"] for r in results}
    return ClosingRow(job=job, done=done, failed=[r["seed"] for r in results if r.get("failed")],
                      missing=[s for s in job.seeds if s not in ran],
                      score=stats([r["final"]["mean"] for r in done]),
                      episodes=sorted({r["final"]["episodes"] for r in done}),
                      own=reach(done, job.threshold), solved=reach(done, CLOSING[env]),
                      budget=stats([r["steps"] for r in done]))


def closing_table_row(row):
    """The Markdown row: part, algorithm, seeds, score, threshold, seeds reaching it, steps and seconds to it,
    budget. A job judged at a threshold other than the env's score also gets its figures at the env's score."""
    job = row.job
    seeds = ", ".join(str(r["seed"]) for r in row.done)
    notes = [f"{', '.join(map(str, row.failed))} failed (the part's table has the error)"] if row.failed else []
    notes += [f"{', '.join(map(str, row.missing))} not run yet"] if row.missing else []
    if not row.done:
        return f"| {row.part} | {job.algo or job.label} | {'; '.join(notes)} | — | {job.threshold:g} | — | — | — | — |"
    if notes:
        seeds += f" ({'; '.join(notes)})"

    def cells(at):
        return (f"{at.reached} of {at.seeds}", stat_text(at.steps),
                stat_text(at.seconds, 1) if at.recorded else "not recorded")

    own, solved = cells(row.own), cells(row.solved)
    if row.solved.score != row.own.score:
        own = [f"{a}; to {row.solved.score:g}: {b}" for a, b in zip(own, solved)]
    score = f"{stat_text(row.score, 1)}, {'/'.join(map(str, row.episodes))} ep"
    return (f"| {row.part} | {job.algo or job.label} | {seeds} | {score} | {job.threshold:g} | {' | '.join(own)} | "
            f"{stat_text(row.budget)} |")


def names(rows):
    return " and ".join(r.name for r in rows)


def closing_advice(env, rows):
    """The sentence on `env` a reader can pick an algorithm by: the highest greedy score, and the fewest env
    steps and least training time to the env's score (CLOSING) among the algorithms that reached it on every
    seed. Only complete rows (every listed seed ran, none failed) are compared, and the sentence says how
    many of the env's algorithms that is; a job that runs one seed is named and left out ("on every seed" and
    "on average" say nothing of one run)."""
    solved = CLOSING[env]
    complete = [r for r in rows if r.complete]
    if not complete:
        return f"**{env}**: no algorithm has all its seeds run yet."
    text = f"**{env}**"
    if len(complete) < len(rows):
        text += f" ({len(complete)} of {len(rows)} algorithms have all their seeds run; only those are compared)"
    single = [r for r in complete if r.solved.seeds < 2]
    if single:
        text += f" ({names(single)} ran one seed, too few to compare)"
        complete = [r for r in complete if r not in single]
        if not complete:
            return text + ": no other algorithm has all its seeds run yet."
    top = max(round(r.score[0], 1) for r in complete)  # compare as shown: 500.0 ties with 499.97
    best = [r for r in complete if round(r.score[0], 1) == top]
    text += (f": the highest greedy score is {fmt(top, 1)} on average over the seeds, by {names(best)}")
    every = [r for r in complete if r.solved.reached == r.solved.seeds]
    if not every:
        return text + f"; none reached {solved:g} on every seed."
    fewest = min(every, key=lambda r: r.solved.steps[0])
    if len(every) == 1:
        return text + (f"; the only one that reached {solved:g} on every seed, {fewest.name}, needed "
                       f"{fmt(fewest.solved.steps[0])} env steps on average"
                       + ("." if fewest.solved.seconds is None else
                          f" and {fmt(fewest.solved.seconds[0], 1)} s of training."))
    text += (f"; of the {len(every)} that reached {solved:g} on every seed, {fewest.name} needed the fewest env "
             f"steps ({fmt(fewest.solved.steps[0])} on average)")
    timed = [r for r in every if r.solved.seconds is not None]
    if timed:
        fastest = min(timed, key=lambda r: r.solved.seconds[0])
        who = "also" if fastest is fewest else fastest.name
        text += f" and {who} the least training time ({fmt(fastest.solved.seconds[0], 1)} s on average)"
    return text + "."


def closing_curve(results, x):
    """(xs, mean, min, max) over seeds of the greedy evaluations against env steps (x=0) or training seconds
    (x=2); None against seconds when a seed's curve has none (results files from before format 2)."""
    if x == 2 and not all(r["curve"] and len(r["curve"][0]) > 2 for r in results):
        return None
    xs, values = curves_on_grid([[(row[x], row[1]) for row in r["curve"]] for r in results])
    return xs, np.nanmean(values, 0), np.nanmin(values, 0), np.nanmax(values, 0)


def plot_closing(env, rows, path):
    """Every part's greedy-evaluation curve on one axis, against env steps (left) and training seconds (right):
    the mean over seeds, with a min-max band where there are several."""
    fig, (by_steps, by_seconds) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    drawn = [r for r in rows if r.done]
    for i, row in enumerate(drawn):
        color = f"C{i}"
        for ax, x in ((by_steps, 0), (by_seconds, 2)):
            curve = closing_curve(row.done, x)
            if curve is None:
                continue
            xs, mean, low, high = curve
            ax.plot(xs, mean, color=color, label=f"{row.name}, {curve_label(row.done)}" if x == 0 else None)
            if len(row.done) > 1:
                ax.fill_between(xs, low, high, color=color, alpha=0.15, lw=0)
    for ax, xlabel in ((by_steps, "environment steps"), (by_seconds, "training seconds (evaluation excluded)")):
        ax.axhline(CLOSING[env], color="grey", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
    by_steps.set_ylabel("greedy evaluation return")
    fig.suptitle(f"{env}: every part's greedy evaluations (mean over seeds, min-max band); dashed: {CLOSING[env]:g}")
    fig.legend(loc="lower center", ncol=2, fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.06 * (1 + (len(drawn) - 1) // 2), 1, 1))
    save_figure(fig, path)
    plt.close(fig)


def closing_report(suite="full"):
    """The top-level README's closing comparison, from the full suite's results files only: every job on the
    CLOSING envs, with results or "not run yet"."""
    rows_by_env = {env: [closing_row(env, job, load_results(suite, job, failed=True)) for job in jobs]
                   for env, jobs in closing_jobs(suite).items()}
    everything = [r for rows in rows_by_env.values() for row in rows for r in row.done]
    machines = sorted({f"{r['machine']['cpu']}, {r['machine']['cores']} cores, torch {r['machine']['torch']}"
                       for r in everything if r.get("machine")})
    seeds = sorted({s for rows in rows_by_env.values() for row in rows for s in row.job.seeds})
    measured = (f"measured on {'; '.join(machines)}, a machine shared with other work, where absolute times "
                f"swing 2-5x (the chapters' side-by-side ratios are the speed claims){load_text(everything)}; "
                f"code: {provenance(everything)}"
                if everything else "no job has results yet")
    lines = [f"Generated by `python benchmarks/run.py full --report-only` from the full suite's results files: "
             f"seeds {', '.join(map(str, seeds))} (settings were tuned on other seeds), every seed shown; {measured}.",
             "",
             "Score: the best saved model played greedily on fresh episodes, mean over seeds (min to max). "
             "Threshold: the score the job's chapter judges it at; env steps and seconds are to the first greedy "
             "evaluation at or above it, averaged over the seeds that reached it (min to max), seconds counting "
             "training only. A job judged at another score than the env's (beside the env's name) also gets its "
             "figures at the env's score (\"to 500: ...\"), the yardstick the sentences at the end compare. "
             "Budget: the env steps each run trained."]
    plots = REPO / "benchmarks" / "plots"
    for env, rows in rows_by_env.items():
        lines += ["", f"**{env}** (solved at {CLOSING[env]:g})", "",
                  "| part | algorithm | seeds | greedy score | threshold | seeds reaching it | env steps to it | "
                  "training seconds to it | budget (env steps) |",
                  "|---|---|---|---|---|---|---|---|---|", *map(closing_table_row, rows)]
        if any(row.done for row in rows):
            plots.mkdir(parents=True, exist_ok=True)
            picture = plots / f"closing_{env}.png"
            plot_closing(env, rows, picture)
            lines += ["", f"![{env}: every part's greedy evaluations]({rel(picture)})"]
    lines += ["", "**Which to pick.** " + CLOSING_ACTIONS, "",
              *(f"- {closing_advice(env, rows)}" for env, rows in rows_by_env.items())]
    if replace_between(REPO / "README.md", "closing", "\n".join(lines)):
        print("  wrote the closing comparison of README.md")
    else:
        print("  README.md has no <!-- results:closing --> marker; closing comparison not written")


def run_sequentially(suite, jobs, missing_only):
    """Every (job, seed) one after another, in the suite's order; the first failure stops the suite."""
    for job in jobs:
        if isinstance(job, CommandJob):
            run_command_job(suite, job)
            continue
        for seed in job.seeds:
            path = results_path(suite, job, seed)
            if missing_only and not is_missing(path):
                continue
            print(f"{suite}/{job.name} seed {seed} ...", flush=True)
            result = run_one(suite, job, seed, git_state(job.part))  # the state before the run: its code
            if result is not None:
                save_result(path, result)
                print(describe(job, result), flush=True)
            doing(f"stopped between runs; `--missing-only` runs the rest")


def run_command_job(suite, job):
    print(f"{suite}/{job.name} ...", flush=True)
    doing(f"stopped during {job.name} (a command job: it runs again from the start)")
    stdout, wall = run([sys.executable, f"{job.part}/{job.argv[0]}", *job.argv[1:]])
    print(f"  {stdout.strip().splitlines()[-1] if stdout.strip() else 'done'} ({wall:.0f} s)")


def run_with_ray(suite, jobs, missing_only, address):
    """The pool's (job, seed) pairs as Ray tasks, then the side-by-side and command jobs on this machine,
    one at a time, after the pool has finished (nothing else runs beside a speed ratio). A failure is
    recorded and the rest goes on. Returns the number of failures."""
    pool_pairs, after = plan(suite, jobs, missing_only)
    failed = 0
    if pool_pairs:
        pool = RayPool(address)
        try:
            print(f"{len(pool_pairs)} runs as Ray tasks", flush=True)
            failed += run_on_pool(suite, pool_pairs, pool)
        finally:
            pool.shutdown()
    for job, seed in after:
        try:
            if isinstance(job, CommandJob):
                run_command_job(suite, job)
                continue
            print(f"{suite}/{job.name} seed {seed} (after the pool, alone) ...", flush=True)
            state = git_state(job.part)
            result = run_one(suite, job, seed, state)
        except CommandFailed as exc:
            failed += 1
            if isinstance(job, CommandJob):
                print(f"  FAILED: {short_error(str(exc))}", flush=True)
                continue
            result = failed_result(suite, job, seed, state, f"CommandFailed: {exc}")
        if result is not None:
            save_result(results_path(suite, job, seed), result)
            print(describe(job, result), flush=True)
    return failed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--part", action="append", help="only this part's jobs (repeatable)")
    parser.add_argument("--job", action="append", help="only jobs with this name (repeatable)")
    parser.add_argument("--report-only", action="store_true", help="only regenerate tables and plots")
    parser.add_argument("--no-report", action="store_true", help="run the jobs and write their results files only")
    parser.add_argument("--seed", type=int, action="append",
                        help="only this seed of each job (repeatable; jobs without seeds, such as comparison "
                             "scripts, are left out): two runners with different seeds use both cores")
    parser.add_argument("--missing-only", action="store_true",
                        help="run only the (job, seed) pairs without a results file or whose run failed")
    parser.add_argument("--ray", action="store_true",
                        help="run the jobs as Ray tasks (a local Ray unless --ray-address); needs "
                             "benchmarks/requirements-ray.txt")
    parser.add_argument("--ray-address", help="join this Ray cluster (implies --ray), e.g. ray://head:10001 or auto")
    parser.add_argument("--results-dir", type=Path, default=None,
                        help="read and write the results files here instead of benchmarks/results (a scratch run)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        run_suite(args)
    except KeyboardInterrupt:
        print(IN_PROGRESS, file=sys.stderr)  # what the phase it stopped in left (runs that finished keep their files)
        sys.exit(130)


def run_suite(args):
    global RESULTS
    if args.results_dir is not None:
        RESULTS = args.results_dir.resolve()
    for flag, asked, known in (("--part", args.part, {j.part for j in SUITES[args.suite]}),
                               ("--job", args.job, {j.name for j in SUITES[args.suite]})):
        unknown = sorted(set(asked or []) - known)
        if unknown:
            print(f"error: {flag} {', '.join(unknown)}: not in the {args.suite} suite (it has: "
                  f"{', '.join(sorted(known))})", file=sys.stderr)
            sys.exit(2)
    jobs = [j for j in SUITES[args.suite] if (not args.part or j.part in args.part) and (not args.job or j.name in args.job)]
    parts = args.part or sorted({j.part for j in SUITES[args.suite]})
    if args.seed:
        unknown = sorted(set(args.seed) - {s for j in jobs for s in j.seeds})
        if unknown:
            print(f"error: --seed {', '.join(map(str, unknown))}: no selected job runs it", file=sys.stderr)
            sys.exit(2)
    runs = jobs if not args.seed else [dataclasses.replace(j, seeds=[s for s in j.seeds if s in args.seed])
                                       for j in jobs if not isinstance(j, CommandJob)]
    failed = 0
    if not args.report_only:
        (RESULTS / args.suite).mkdir(parents=True, exist_ok=True)
        try:
            if args.ray or args.ray_address:
                failed = run_with_ray(args.suite, runs, args.missing_only, args.ray_address)
            else:
                run_sequentially(args.suite, runs, args.missing_only)
            for job in jobs:
                if isinstance(job, Job) and job.ship and args.suite == "full" and load_results(args.suite, job):
                    ship(args.suite, job)
        except CommandFailed as exc:  # sequential: a broken job is news, the suite stops
            sys.exit(str(exc))
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
    if not args.no_report:
        doing("stopped while writing the report: each README and plot is whole, old or new; `--report-only` "
              "writes them again")
        report(args.suite, parts)
        if args.suite == "full":
            closing_report()
    if failed:
        sys.exit(f"{failed} run(s) failed: the tables show them as failed; `--missing-only` runs only them again")


if __name__ == "__main__":
    main()
