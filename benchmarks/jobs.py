"""What one (job, seed) does: train with the part's script, test the best model, measure what the job asks
for; or train SB3 beside ours (a side-by-side pair), or SB3 alone (a peer). Each returns the result dict that
becomes the results file. The sequential runner and a Ray task both run a (job, seed) through `run_one`."""
import csv
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import commands
import paths
import provenance
from commands import CommandFailed
from results import FORMAT, first_hit
from suites import PeerJob, SideBySideJob

TRAINING_STATE = "training_state.pth"  # what --checkpoint-every (parts 2 and 5) leaves in an unfinished run's folder
# Stable-Baselines3 lives in its own virtual env (benchmarks/README.md); a Ray worker gets these two as
# environment variables from the driver (pool.py), since its copy of the repo has no ../sb3-env beside it.
SB3_PYTHON = os.environ.get("SB3_PYTHON", str(paths.REPO.parent / "sb3-env" / "bin" / "python"))
SB3_ANCHOR = os.environ.get("SB3_ANCHOR", str(paths.REPO.parent / "shared" / "peers" / "sb3_anchor.py"))
ANCHOR_SHOWN = "../shared/peers/sb3_anchor.py"  # where a results file says it is: beside the repo, wherever it ran
TEST_SEED = 100_000  # the final test of seed N's best model plays episodes seeded from 100000 + N


def work_dir(suite, job, seed):
    """Where a (job, seed) run keeps its logs and models, relative to the repo."""
    return paths.RUNS / suite / f"{job.name}__seed{seed}"


def unavailable(job):
    """Why a job cannot run with this Python (a module it needs is not installed, or SB3's Python and peer script
    are not there for a peer), or None."""
    module = getattr(job, "requires", None)
    if module and importlib.util.find_spec(module) is None:
        return f"needs {module}, which is not installed (see {job.part}/README.md)"
    if isinstance(job, PeerJob):
        for what, path, variable in (("Stable-Baselines3 python", SB3_PYTHON, "SB3_PYTHON"),
                                     ("SB3 peer script", SB3_ANCHOR, "SB3_ANCHOR")):
            if not Path(path).exists():
                return f"no {what} at {path} (set {variable}; see benchmarks/README.md)"
    return None


def read_curve(run_dir):
    """[[step, mean, train_seconds], ...] from a run's evaluations.csv."""
    with open(run_dir / "evaluations.csv") as f:
        return [[int(r["step"]), float(r["mean"]), float(r["train_seconds"])] for r in csv.DictReader(f)]


def test_command(job, model, seed):
    """The final test of seed `seed`'s best model, as a reader types it (paths relative to the repo)."""
    return [f"{job.part}/test.py", model, "--episodes", str(job.final_episodes), "--seed", str(TEST_SEED + seed)]


def run_job(suite, job, seed, state):
    """Train one seed of a Job, then test its best model: the result dict. `state` is git_state() of the
    code that runs (taken by whoever launched the run: a Ray worker's copy of the repo has no .git)."""
    if unavailable(job):
        print(f"  skipped: {unavailable(job)}", flush=True)
        return None
    load_at_start = provenance.load_average()
    work = work_dir(suite, job, seed)
    commands.doing(f"stopped: the run in progress ({job.name}, seed {seed}) has no results file; its folder {work} "
                   f"keeps what its script saved; `--missing-only` runs it and the rest")
    threads = [] if job.torch_threads is None else ["--torch-threads", str(job.torch_threads)]
    command = [sys.executable, f"{job.part}/{job.script}", *job.args, *threads, "--seed", str(seed),
               "--log-dir", str(work / "logs"), "--save-dir", str(work / "models")]
    # An interrupted run that saved its training state (--checkpoint-every: Pong, LunarLanderContinuous SAC)
    # continues from it; anything else left in the run's folder is from an older run and goes.
    saved = sorted((paths.REPO / work / "logs").glob(f"*/{TRAINING_STATE}"))
    if saved:
        print(f"  resuming the interrupted run in {paths.rel(saved[-1].parent)}", flush=True)
        _, wall = commands.run([sys.executable, f"{job.part}/{job.script}", "--resume", paths.rel(saved[-1].parent)])
    else:
        shutil.rmtree(paths.REPO / work, ignore_errors=True)
        _, wall = commands.run(command)
    run_dir = next((paths.REPO / work / "logs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    curve = read_curve(run_dir)
    hit = first_hit(curve, job.threshold)
    if not summary.get("model"):
        raise CommandFailed(f"benchmark run left no model: {' '.join(command)}")
    model = paths.rel(paths.REPO / summary["model"])  # {env}__{algo}__{seed}__{time}.pth, named after the run
    test = test_command(job, model, seed)
    stdout, _ = commands.run([sys.executable, *test, "--json"])
    final = json.loads(stdout.strip().splitlines()[-1])
    result = dict(format=FORMAT, suite=suite, job=job.name, part=job.part, label=job.label, seed=seed, **state,
                  command=command[1:], test_command=test, torch_threads=job.torch_threads, last_eval=curve[-1][1],
                  steps=summary["steps"], train_seconds=summary["train_seconds"], wall_seconds=round(wall, 1),
                  steps_per_second=summary["steps_per_second"], speed_key=job.speed_key,
                  compared_steps_per_second=summary.get(job.speed_key, summary["steps_per_second"]),
                  threshold=job.threshold, steps_to_threshold=hit[0] if hit else None,
                  seconds_to_threshold=hit[1] if hit else None, best_eval=summary["best_eval"],
                  best_step=summary["best_step"], final=final, curve=curve, model=model,
                  machine=provenance.machine())
    if summary.get("gradient_steps") is not None:  # Part 2's DQN: updates, beside the agent steps
        result["gradient_steps"] = summary["gradient_steps"]
    if summary.get("resumed_at"):  # the steps at which it continued from a saved state (wall_seconds: the last stretch)
        result["resumed_at"] = summary["resumed_at"]
    if summary.get("raw_steps_per_second") is not None:  # a run that measured its env's raw rate itself (older parts)
        result["raw_steps_per_second"] = summary["raw_steps_per_second"]
    elif job.raw_speed:
        stdout, _ = commands.run([sys.executable, "benchmarks/raw_speed.py", job.part, job.script, *job.args,
                                  *threads, "--seed", str(seed)])
        result["raw_steps_per_second"] = json.loads(stdout)["raw_steps_per_second"]
    if job.collect_speed:  # collection against raw stepping of an identical vector env, taking turns in one process
        stdout, _ = commands.run([sys.executable, "benchmarks/collect_speed.py", job.part, job.script, *job.args,
                                  *threads, "--seed", str(seed)])
        result["collect"] = json.loads(stdout.strip().splitlines()[-1])
    result["load_average"] = [load_at_start, provenance.load_average()]
    return result


def run_side_by_side(suite, job, seed, state):
    """benchmarks/side_by_side.py for one pair and one seed, with the SB3 Python (it imports both trainings)."""
    if not Path(SB3_PYTHON).exists():
        print(f"  skipped: no Stable-Baselines3 python at {SB3_PYTHON} (set SB3_PYTHON; see benchmarks/README.md)")
        return None
    load_at_start = provenance.load_average()
    commands.doing(f"stopped: the side-by-side measurement in progress ({job.name}, seed {seed}) has no result; "
                   f"`--missing-only` runs it and the rest")
    command = [SB3_PYTHON, "benchmarks/side_by_side.py", job.pair, "--seeds", str(seed), "--json"]
    if job.total_steps is not None:
        command += ["--total-steps", str(job.total_steps)]
    stdout, wall = commands.run(command)
    both = json.loads(stdout.strip().splitlines()[-1])
    return dict(format=FORMAT, suite=suite, job=job.name, part=job.part, label=job.label, seed=seed, **state,
                command=command[1:], side_by_side=True, pair=job.pair, torch_threads=both["torch_threads"],
                eval_every=both["eval_every"], ours=both["ours"], peer=both["sb3"], wall_seconds=round(wall, 1),
                machine=provenance.machine(), load_average=[load_at_start, provenance.load_average()])


def peer_command(job, seed):
    """sb3_anchor.py's arguments for one seed of a PeerJob: ALGO ENV SEED THRESHOLD EVAL_EVERY STEPS."""
    return [job.algo, job.env_id, str(seed), f"{job.threshold:g}", str(job.eval_every), str(job.total_steps)]


def run_peer(suite, job, seed, state):
    """One seed of Stable-Baselines3 with rl-zoo's settings (sb3_anchor.py, in the SB3 Python) on our job's seed
    and budget: the result dict. SB3's score is its final policy's (sb3_anchor.py keeps no best model)."""
    if unavailable(job):
        print(f"  skipped: {unavailable(job)}", flush=True)
        return None
    load_at_start = provenance.load_average()
    commands.doing(f"stopped: the SB3 run in progress ({job.name}, seed {seed}) has no results file; "
                   f"`--missing-only` runs it and the rest")
    stdout, wall = commands.run([SB3_PYTHON, SB3_ANCHOR, *peer_command(job, seed)])
    line = json.loads(stdout.strip().splitlines()[-1])
    curve = [[int(step), float(mean)] for step, mean in line["curve"]]
    hit = line.get("hit")
    return dict(format=FORMAT, suite=suite, job=job.name, part=job.part, label=job.label, seed=seed, **state,
                command=[ANCHOR_SHOWN, *peer_command(job, seed)], peer=True,
                versus=job.versus, algo=job.algo, env_id=job.env_id, torch_threads=line.get("torch_threads"),
                steps=line["steps"], train_seconds=line["train_s"], steps_per_second=line["steps_per_s"],
                threshold=job.threshold, steps_to_threshold=hit[0] if hit else None,
                seconds_to_threshold=hit[1] if hit else None, eval_episodes=10,
                final=dict(mean=line["final_mean"], std=line["final_std"], episodes=20, policy="final"),
                curve=curve, wall_seconds=round(wall, 1), machine=provenance.machine(),
                load_average=[load_at_start, provenance.load_average()])


def run_one(suite, job, seed, state):
    """Run one (job, seed) and return its result dict (None when it is skipped: a module or SB3 missing)."""
    runner = (run_side_by_side if isinstance(job, SideBySideJob) else run_peer if isinstance(job, PeerJob)
              else run_job)
    return runner(suite, job, seed, state)


def run_command_job(suite, job):
    """A part's experiment script, once: it draws its own figure."""
    print(f"{suite}/{job.name} ...", flush=True)
    commands.doing(f"stopped during {job.name} (a command job: it runs again from the start)")
    stdout, wall = commands.run([sys.executable, f"{job.part}/{job.argv[0]}", *job.argv[1:]])
    print(f"  {stdout.strip().splitlines()[-1] if stdout.strip() else 'done'} ({wall:.0f} s)")
