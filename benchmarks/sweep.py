"""Sweep seeds and settings of one training script on a Ray pool: one table and one figure.

    python benchmarks/sweep.py part2_dqn/train.py --env-id CartPole-v1 --seeds 1-10 --grid tau=0.05,0.07,0.1
    python benchmarks/sweep.py part2_dqn/train.py --env-id CartPole-v1 --seeds 1-10 --grid tau=0.05,0.1 --grid n_steps=1,3
    python benchmarks/sweep.py ... --missing-only     # run only the (setting, seed) pairs without a result
    python benchmarks/sweep.py ... --report-only      # redraw the table and the figure from the results files

Every flag sweep.py does not know is passed to the script as it is (`--env-id CartPole-v1`, `--total-steps
20000`). Each `--grid name=v1,v2,...` is one of the script's flags (`tau` or `--tau`) and its values; several
grids are crossed. Each (setting, seed) runs as one Ray task through benchmarks/pool.py (the
same commands as a benchmark job: train.py, then test.py on the best model; one torch thread and one CPU per
task), on a local Ray by default or on `--ray-address`. Everything lands in `benchmarks/sweeps/<name>/`:
`results/<setting>__seed<N>.json` (run.py's results format), `README.md` (the table) and `sweep.png` (the
figure); the runs' logs and models in `benchmarks/runs/sweeps/<name>/` (git-ignored).
"""
import argparse
import itertools
import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

import commands
import paths
import pool as ray_pool
import provenance
from commands import UserError
from figures import curves_on_grid, plt, save_figure
from results import load_results, number as fmt
from suites import SUITES, Job

SWEEPS = paths.REPO / "benchmarks" / "sweeps"


def parse_seeds(text):
    """"1-10" or "1,2,5" or "1-3,7" -> [1, ..., 10]."""
    seeds = []
    try:
        for piece in text.split(","):
            low, _, high = piece.partition("-")
            seeds += range(int(low), int(high or low) + 1)
    except ValueError:
        raise UserError(f"--seeds {text}: expected numbers and ranges such as 1-10 or 1,2,5")
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds {text}: expected distinct seeds")
    return seeds


def parse_grid(grids):
    """["tau=0.05,0.1", "n_steps=1,3"] -> [(("--tau", "0.05"), ("--n-steps", "1")), ...] (every combination)."""
    axes = []
    for grid in grids:
        name, _, values = grid.partition("=")
        flag = "--" + name.strip().removeprefix("--").replace("_", "-")
        values = [v.strip() for v in values.split(",") if v.strip()]
        if flag == "--" or not values:
            raise UserError(f"--grid {grid}: expected name=value1,value2,... (for example tau=0.05,0.07,0.1)")
        axes.append([(flag, v) for v in values])
    return list(itertools.product(*axes))


def setting_name(setting):
    return ",".join(f"{flag[2:]}={value}" for flag, value in setting)


def check_flags(script, args, setting_flags):
    """Every swept flag is one the script takes (read from its --help, with the sweep's own arguments)."""
    done = subprocess.run([sys.executable, script, *args, "--help"], cwd=paths.REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise UserError(f"{script} {' '.join(args)} --help failed: "
                        f"{(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    for flag in setting_flags:
        if flag not in done.stdout.replace("[", " ").replace("]", " ").split():
            raise UserError(f"--grid: {script} has no flag {flag}")
    for flag in ("--seed", "--log-dir", "--save-dir", "--torch-threads"):
        if flag in args:
            raise UserError(f"{flag} is set by the sweep (use --seeds for seeds)")


def default_threshold(part, script, args):
    """The threshold of the full suite's job for the same script and env (CartPole DQN: 475), if there is one."""
    env = args[args.index("--env-id") + 1] if "--env-id" in args[:-1] else None
    for job in SUITES["full"]:
        if isinstance(job, Job) and job.part == part and job.script == script:
            job_env = job.args[job.args.index("--env-id") + 1] if "--env-id" in job.args else None
            if job_env == env:
                return job.threshold
    raise UserError("no benchmark job for this script and env to take a threshold from: give --threshold")


def stats(values, digits):
    """mean / min / max of the values that exist, and how many there are."""
    there = [v for v in values if v is not None]
    if not there:
        return "—", "—", "—", 0
    return fmt(float(np.mean(there)), digits), fmt(min(there), digits), fmt(max(there), digits), len(there)


def table(jobs, results_dir, suite):
    """One Markdown row per setting: over its seeds, steps to the threshold and the final greedy score."""
    rows = ["| setting | seeds (failed) | reached threshold | steps to threshold: mean / min / max | "
            "final greedy score: mean / min / max |", "|---|---|---|---|---|"]
    for job in jobs:
        everything = load_results(suite, job, failed=True, results=results_dir)
        ok = [r for r in everything if not r.get("failed")]
        steps = [r["steps_to_threshold"] for r in ok]
        finals = [r["final"]["mean"] for r in ok]
        s_mean, s_min, s_max, reached = stats(steps, 0)
        f_mean, f_min, f_max, _ = stats(finals, 1)
        failed = len(everything) - len(ok)
        rows.append(f"| {job.label} | {len(ok)}{f' ({failed} failed)' if failed else ''} | {reached} of {len(ok)} | "
                    f"{s_mean} / {s_min} / {s_max} | {f_mean} / {f_min} / {f_max} |")
    return "\n".join(rows)


def figure(jobs, results_dir, suite, threshold, path):
    """Left: each setting's greedy evaluations (mean over seeds, min-max band). Right: every seed's steps to
    the threshold by setting (a cross at the budget: never reached)."""
    fig, (curves, hits) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw=dict(width_ratios=(3, 2)))
    for k, job in enumerate(jobs):
        ok = load_results(suite, job, results=results_dir)
        if not ok:
            continue
        steps, values = curves_on_grid([r["curve"] for r in ok])
        line, = curves.plot(steps, np.nanmean(values, 0), label=f"{job.label} ({len(ok)} seeds)")
        curves.fill_between(steps, np.nanmin(values, 0), np.nanmax(values, 0), alpha=0.15, color=line.get_color())
        jitter = np.linspace(-0.2, 0.2, len(ok)) if len(ok) > 1 else np.zeros(1)
        reached = [r["steps_to_threshold"] is not None for r in ok]
        y = [r["steps_to_threshold"] if r["steps_to_threshold"] is not None else r["steps"] for r in ok]
        for x, v, hit in zip(k + jitter, y, reached):
            hits.scatter(x, v, color=line.get_color(), s=22, marker="o" if hit else "x")
    curves.axhline(threshold, color="grey", ls="--", lw=1, label=f"threshold {threshold:g}")
    curves.set_xlabel("environment steps")
    curves.set_ylabel("greedy evaluation return")
    curves.legend(loc="lower right", fontsize=8)
    hits.set_xticks(range(len(jobs)), [job.label for job in jobs], fontsize=8)
    hits.set_xlim(-0.5, len(jobs) - 0.5)
    hits.set_ylim(bottom=0)
    hits.set_ylabel(f"env steps to the first greedy eval >= {threshold:g}")
    hits.set_title("one dot per seed (x: never reached)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog="Other flags go to the script.",
                                     allow_abbrev=False)  # --seed must reach the script (and be refused), not be --seeds
    parser.add_argument("script", help="a part's training script, e.g. part2_dqn/train.py")
    parser.add_argument("--seeds", default="1-10",
                        help="seeds: 1-10, 1,2,5 or 1-3,7 (default 1-10; never the full suite's 101-110)")
    parser.add_argument("--grid", action="append", required=True, help="flag=v1,v2,... (repeatable; crossed)")
    parser.add_argument("--name", help="folder under benchmarks/sweeps/ (default: part_env_flags)")
    parser.add_argument("--threshold", type=float, help="steps to threshold = first greedy evaluation at or above "
                        "this (default: the full suite's threshold for the same script and env)")
    parser.add_argument("--final-episodes", type=int, default=20, help="greedy test episodes of each best model")
    parser.add_argument("--ray-address", help="join this Ray cluster instead of starting a local Ray")
    parser.add_argument("--missing-only", action="store_true", help="run only what has no result (or failed)")
    parser.add_argument("--report-only", action="store_true", help="only redraw the table and the figure")
    args, script_args = parser.parse_known_args(argv)
    signal.signal(signal.SIGTERM, commands.stop_on_sigterm)  # kill, timeout, a scheduler: stop as on Ctrl-C
    commands.doing("stopped before any run started")
    try:
        failed = sweep_and_report(args, script_args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(commands.IN_PROGRESS, file=sys.stderr)  # what the phase it stopped in left
        sys.exit(130)
    if failed:
        sys.exit(f"{failed} run(s) failed: the table counts them; `--missing-only` runs only them again")


def sweep_and_report(args, script_args):
    """The runs the sweep still needs as Ray tasks (none with --report-only), then its table and figure.
    Returns the number of runs that failed."""
    script = Path(args.script)
    if len(script.parts) != 2 or not (paths.REPO / script).is_file():
        raise UserError(f"{args.script}: expected a part's script, such as part2_dqn/train.py")
    part, name = script.parts
    seeds = parse_seeds(args.seeds)
    settings = parse_grid(args.grid)
    threshold = args.threshold if args.threshold is not None else default_threshold(part, name, script_args)
    env = script_args[script_args.index("--env-id") + 1] if "--env-id" in script_args[:-1] else "default env"
    sweep = args.name or f"{part}_{env}_{'_'.join(sorted({flag[2:] for flag, _ in settings[0]}))}"
    if not args.report_only:
        check_flags(str(script), script_args, [flag for flag, _ in settings[0]])
    jobs = [Job(setting_name(s), part, name, [*script_args, *(x for pair in s for x in pair)], seeds,
                setting_name(s), threshold=threshold, final_episodes=args.final_episodes) for s in settings]
    folder = SWEEPS / sweep
    results_dir, suite = folder / "results", f"sweeps/{sweep}"
    failed = 0
    if not args.report_only:
        pairs, _ = ray_pool.plan(suite, jobs, args.missing_only, results_dir)
        # seed by seed, every setting for each seed: a sweep stopped early has as many seeds of each setting
        pairs.sort(key=lambda pair: (seeds.index(pair[1]), jobs.index(pair[0])))
        if pairs:
            pool = ray_pool.RayPool(args.ray_address)
            try:
                print(f"{len(pairs)} runs as Ray tasks", flush=True)
                failed = ray_pool.run_on_pool(suite, pairs, pool, results_dir)
            finally:
                pool.shutdown()
    commands.doing("stopped while writing the sweep's table and figure (each file whole, old or new); `--report-only` "
              "writes them again")
    text = table(jobs, results_dir, suite)
    folder.mkdir(parents=True, exist_ok=True)
    figure(jobs, results_dir, suite, threshold, folder / "sweep.png")
    command = " ".join(["python benchmarks/sweep.py", args.script, *script_args, "--seeds", args.seeds,
                        *(f"--grid {g}" for g in args.grid)])
    everything = [r for job in jobs for r in load_results(suite, job, failed=True, results=results_dir)]
    paths.write_atomically(folder / "README.md", (
        f"# Sweep: {sweep}\n\n`{command}`\n\nCode: {provenance.code_text(everything) if everything else 'no results yet'}. "
        f"Steps to threshold: first greedy evaluation at or above {threshold:g} (mean / min / max over the seeds "
        f"that reached it). Final greedy score: the best saved model, {args.final_episodes} greedy episodes, "
        f"mean / min / max over seeds.\n\n{text}\n\n![the sweep](sweep.png)\n"))
    paths.write_atomically(folder / "sweep.json", json.dumps(dict(
        script=args.script, script_args=script_args, seeds=seeds, grid=args.grid, threshold=threshold), indent=1))
    print(text)
    print(f"wrote {paths.rel(folder / 'README.md')} and {paths.rel(folder / 'sweep.png')}")
    return failed


if __name__ == "__main__":
    main()
