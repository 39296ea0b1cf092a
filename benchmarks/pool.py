"""The Ray pool: the same (job, seed) runs as Ray tasks, side by side, here or on a cluster.

A task runs in the copy of the repo Ray ships to its worker (runtime_env working_dir: no shared folder is
needed, so the same code runs on a cluster), runs `jobs.run_one` there, and returns the result dict and the
bytes of every file the run left in its folder (TensorBoard logs, evaluations.csv, summary.json, the best
model). The driver writes those files into the launching repo, at the same repo-relative paths, then the
results file: the same files a sequential run writes. Ray is imported only here, and only with --ray.
"""
import dataclasses
import os
import shutil
import signal
import sys

import commands
import jobs
import paths
import provenance
from commands import CommandFailed, UserError
from results import describe, failed_result, is_missing, results_path, save_result, short_error
from suites import CommandJob, Job, PeerJob, SideBySideJob

KINDS = {kind.__name__: kind for kind in (Job, SideBySideJob, PeerJob)}


def job_fields(job):
    """A job as plain data for a task (its kind and its fields): nothing but `ray_task` is pickled."""
    return dict(kind=type(job).__name__, **dataclasses.asdict(job))


def ray_task(suite, fields, seed, state):
    """The function Ray runs: import benchmarks/pool.py from the worker's copy of the repo (its working
    directory) and run `task` there. Arguments are plain data, so nothing but this function is pickled."""
    import importlib.util
    import sys
    from pathlib import Path

    here = Path.cwd() / "benchmarks"
    if str(here) not in sys.path:  # for `import suites`, `import jobs`, ... (a worker process runs many tasks)
        sys.path.insert(0, str(here))
    spec = importlib.util.spec_from_file_location("benchmarks_pool", here / "pool.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.task(suite, fields, seed, state)


def by_value(cloudpickle, function):
    """`function`, to be pickled by value: a worker cannot import `pool` (benchmarks/ is not on its path) until
    ray_task has put it there."""
    module = sys.modules[function.__module__]
    if function.__module__ != "__main__":
        cloudpickle.register_pickle_by_value(module)
    return function


def task(suite, fields, seed, state):
    """One (job, seed) inside a worker: {"result": result dict or None, "files": {repo-relative path: bytes}}."""
    fields = dict(fields)
    job = KINDS[fields.pop("kind", "Job")](**fields)
    result = jobs.run_one(suite, job, seed, state)
    work = paths.REPO / jobs.work_dir(suite, job, seed)
    files = {p.relative_to(paths.REPO).as_posix(): p.read_bytes() for p in sorted(work.rglob("*")) if p.is_file()}
    return dict(result=result, files=files)


def deliver(suite, job, seed, outcome, results=None):
    """Driver side: write a task's files into this repo (replacing the folder of an earlier run), then its
    results file. Returns the result (None for a run that was skipped: no file)."""
    work = (paths.REPO / jobs.work_dir(suite, job, seed)).resolve()
    shutil.rmtree(work, ignore_errors=True)
    for name, data in outcome["files"].items():
        target = (paths.REPO / name).resolve()
        if not target.is_relative_to(work):
            raise CommandFailed(f"a task returned a file outside its run folder: {name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        paths.write_atomically(target, data)
    if outcome["result"] is not None:
        save_result(results_path(suite, job, seed, results), outcome["result"])
    return outcome["result"]


def cpus(job):
    """The CPUs a task reserves: its torch thread count (one for a script that takes no thread flag)."""
    return job.torch_threads or 1


def plan(suite, jobs_, missing_only, results=None):
    """(pool, after): the (job, seed) pairs that run as Ray tasks (every Job and PeerJob), and what runs after
    the pool on the driver, alone (side-by-side jobs, which claim a speed ratio, jobs marked `alone`, which use
    both cores, and CommandJobs, which draw their own figures). With `missing_only`, only the pairs without a result (see is_missing)."""
    pool, after = [], []
    for job in jobs_:
        if isinstance(job, CommandJob):
            after.append((job, None))
            continue
        if jobs.unavailable(job):
            print(f"{suite}/{job.name} skipped: {jobs.unavailable(job)}", flush=True)
            continue
        for seed in job.seeds:
            if missing_only and not is_missing(results_path(suite, job, seed, results)):
                continue
            alone = isinstance(job, SideBySideJob) or getattr(job, "alone", False)
            (after if alone else pool).append((job, seed))
    return pool, after


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
        # working_dir: Ray ships the repo (without what .gitignore and `excludes` name) to every worker; the SB3
        # Python and peer script sit outside the repo, so a worker is told where they are on this machine
        runtime_env = dict(working_dir=str(paths.REPO), excludes=[
            ".git/", "benchmarks/results/", "benchmarks/runs/", "benchmarks/sweeps/"],
            env_vars=dict(SB3_PYTHON=os.path.abspath(jobs.SB3_PYTHON), SB3_ANCHOR=os.path.abspath(jobs.SB3_ANCHOR)))
        try:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:  # e.g. no cluster at --ray-address
            raise UserError(f"could not {'join Ray at ' + address if address else 'start a local Ray'}: "
                            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
        # ray.init installs its own SIGTERM handler, which prints a native stack trace and kills the driver: put
        # back the runner's, so a stop is one line, as it is without --ray
        signal.signal(signal.SIGTERM, commands.stop_on_sigterm)
        print(f"Ray: {ray.cluster_resources().get('CPU', 0):g} CPUs", flush=True)
        self.remote = ray.remote(max_retries=0)(by_value(ray.cloudpickle, ray_task))  # a dead worker: failed, no retry
        self.pending = {}

    def submit(self, key, suite, job, seed, state):
        ref = self.remote.options(num_cpus=cpus(job)).remote(suite, job_fields(job), seed, state)
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
        pool.submit((job, seed), suite, job, seed, provenance.git_state(job.part))
    commands.doing("stopped: the Ray tasks in progress keep nothing (a task's files come back when it finishes); "
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
            result = failed_result(suite, job, seed, provenance.git_state(job.part), error)
            save_result(results_path(suite, job, seed, results), result)
        if result is not None:
            print(describe(job, result), flush=True)
    return failed


def run_with_ray(suite, jobs_, missing_only, address, results=None, update_docs=True):
    """The pool's (job, seed) pairs as Ray tasks, then the side-by-side and command jobs on this machine,
    one at a time, after the pool has finished (nothing else runs beside a speed ratio). A failure is
    recorded and the rest goes on. Returns the number of failures."""
    pool_pairs, after = plan(suite, jobs_, missing_only, results)
    failed = 0
    if pool_pairs:
        pool = RayPool(address)
        try:
            print(f"{len(pool_pairs)} runs as Ray tasks", flush=True)
            failed += run_on_pool(suite, pool_pairs, pool, results)
        finally:
            pool.shutdown()
    for job, seed in after:
        try:
            if isinstance(job, CommandJob):
                if job.writes_tracked and not update_docs:
                    print(f"{suite}/{job.name} skipped: it redraws a README's figure (runs with --update-docs)")
                else:
                    jobs.run_command_job(suite, job)
                continue
            print(f"{suite}/{job.name} seed {seed} (after the pool, alone) ...", flush=True)
            state = provenance.git_state(job.part)
            result = jobs.run_one(suite, job, seed, state)
        except CommandFailed as exc:
            failed += 1
            if isinstance(job, CommandJob):
                print(f"  failed: {short_error(str(exc))}", flush=True)
                continue
            result = failed_result(suite, job, seed, state, f"CommandFailed: {exc}")
        if result is not None:
            save_result(results_path(suite, job, seed, results), result)
            print(describe(job, result), flush=True)
    return failed
