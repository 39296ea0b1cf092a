"""Run a benchmark suite, then regenerate every part's results table and learning-curve plots.

    python benchmarks/run.py quick                      # a few minutes: is everything still learning?
    python benchmarks/run.py full                       # what the READMEs' tables come from
    python benchmarks/run.py full --part part2_dqn      # only one part's jobs (and its table)
    python benchmarks/run.py full --job cartpole        # only jobs with this name
    python benchmarks/run.py full --report-only         # redraw tables and plots from saved results

Jobs run one after another (never side by side: the machine has two cores). Each (job, seed) writes
`benchmarks/results/<suite>/<job>__seed<N>.json` with env steps and training seconds to the threshold
(first greedy evaluation at or above it), steps/s, the final greedy test of the best model (mean ± std),
and the machine it ran on. The report step turns those files into each part's README table (between the
`<!-- results:<suite> -->` markers) and `plots/<job>.png` (full suite only: mean over seeds with a min-max band).
"""
import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from suites import SUITES, CommandJob, Job, PeerJob, SideBySideJob

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
RUNS = REPO / "benchmarks" / "runs"
SB3_PYTHON = os.environ.get("SB3_PYTHON", str(REPO.parent / "sb3-env" / "bin" / "python"))
SB3_ANCHOR = os.environ.get("SB3_ANCHOR", str(REPO.parent / "shared" / "peers" / "sb3_anchor.py"))


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

    return dict(cpu=cpu, cores=os.cpu_count(), torch_threads=torch.get_num_threads(), python=platform.python_version(),
                torch=torch.__version__, os=platform.platform(terse=True))


def run(command, cwd=REPO):
    """Run a command, echo its last output line, stop the suite on failure (a broken job is news)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmark command failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    return done.stdout, time.perf_counter() - started


def read_curve(run_dir):
    with open(run_dir / "evaluations.csv") as f:
        return [dict(step=int(r["step"]), train_seconds=float(r["train_seconds"]), mean=float(r["mean"]),
                     std=float(r["std"])) for r in csv.DictReader(f)]


def run_job(suite, job, seed, info):
    work = RUNS / suite / f"{job.name}__seed{seed}"
    shutil.rmtree(work, ignore_errors=True)
    part = REPO / job.part
    command = [sys.executable, str(part / job.script), *job.args, "--seed", str(seed),
               "--log-dir", str(work / "logs"), "--save-dir", str(work / "models")]
    _, wall = run(command)
    run_dir = next((work / "logs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    curve = read_curve(run_dir)
    hit = next((row for row in curve if row["mean"] >= job.threshold), None)
    stdout, _ = run([sys.executable, str(part / "test.py"), summary["model"], "--episodes", str(job.final_episodes),
                     "--seed", str(100_000 + seed), "--json"])
    final = json.loads(stdout.strip().splitlines()[-1])
    result = dict(suite=suite, job=job.name, part=job.part, label=job.label, seed=seed, command=command[1:],
                  last_eval=curve[-1]["mean"],
                  steps=summary["steps"], train_seconds=summary["train_seconds"], wall_seconds=round(wall, 1),
                  steps_per_second=summary["steps_per_second"], speed_key=job.speed_key,
                  compared_steps_per_second=summary[job.speed_key], threshold=job.threshold,
                  steps_to_threshold=hit["step"] if hit else None,
                  seconds_to_threshold=hit["train_seconds"] if hit else None,
                  best_eval=summary["best_eval"], best_step=summary["best_step"], final=final,
                  curve=[(row["step"], row["mean"]) for row in curve], model=summary["model"], machine=info)
    if job.raw_speed:
        stdout, _ = run([sys.executable, str(REPO / "benchmarks" / "raw_speed.py"), job.part, job.script, *job.args,
                         "--seed", str(seed)])
        result["raw_steps_per_second"] = json.loads(stdout)["raw_steps_per_second"]
    return result


def run_peer(suite, job, seed, info):
    if not Path(SB3_PYTHON).exists():
        print(f"  skipped: no Stable-Baselines3 python at {SB3_PYTHON} (see ../shared/peers/README.md)")
        return None
    stdout, wall = run([SB3_PYTHON, SB3_ANCHOR, job.algo, job.env_id, str(seed), str(job.threshold),
                        str(job.eval_every)])
    peer = json.loads(stdout.strip().splitlines()[-1])
    return dict(suite=suite, job=job.name, part=job.part, label=job.label, seed=seed, peer=True,
                steps=peer["steps"], train_seconds=peer["train_s"], wall_seconds=round(wall, 1),
                steps_per_second=peer["steps_per_s"], threshold=job.threshold,
                steps_to_threshold=peer["hit"][0] if peer["hit"] else None,
                seconds_to_threshold=peer["hit"][1] if peer["hit"] else None,
                final=dict(mean=peer["final_mean"], std=peer["final_std"], episodes=20),
                last_eval=peer["curve"][-1][1] if peer["curve"] else None,
                curve=peer["curve"], machine=info)


def run_side_by_side(suite, job, seed, info):
    """benchmarks/side_by_side.py for one seed, with the peer's Python (it imports both trainings)."""
    if not Path(SB3_PYTHON).exists():
        print(f"  skipped: no Stable-Baselines3 python at {SB3_PYTHON} (see ../shared/peers/README.md)")
        return None
    stdout, wall = run([SB3_PYTHON, str(REPO / "benchmarks" / "side_by_side.py"), "--seeds", str(seed), "--json"])
    both = json.loads(stdout.strip().splitlines()[-1])
    return dict(suite=suite, job=job.name, part=job.part, label=job.label, seed=seed, side_by_side=True,
                ours=both["ours"], peer=both["sb3"], wall_seconds=round(wall, 1), machine=info)


def ship(suite, job):
    """Copy the best seed's model (by the final greedy test) to models/<part>/, and draw its plot."""
    results = load_results(suite, job.name)
    best = max(results, key=lambda r: r["final"][job.metric])
    target = REPO / "models" / job.part / job.ship
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best["model"], target)
    print(f"  shipped seed {best['seed']} ({job.metric} {best['final'][job.metric]}) as {target.relative_to(REPO)}")
    if job.plot:
        plots = REPO / job.part / "plots"
        plots.mkdir(exist_ok=True)
        run([sys.executable, str(REPO / job.part / "test.py"), str(target), "--episodes", "1",
             "--plot", str(plots / f"{job.name}_model.png")])


# ---------- report ----------

def fmt(x, digits=0):
    return "—" if x is None else f"{x:,.{digits}f}"


def passes(job, r):
    """True/False against every claim the job makes, None when it makes none."""
    claims = (job.target, job.last_target, job.max_steps, job.speed_target) if isinstance(job, Job) else (None,)
    if all(claim is None for claim in claims):
        return None
    ok = job.target is None or r["final"][job.metric] >= job.target
    ok &= job.last_target is None or (bool(r["curve"]) and r["curve"][-1][1] >= job.last_target)
    ok &= job.max_steps is None or (r["steps_to_threshold"] is not None and r["steps_to_threshold"] <= job.max_steps)
    compared = r.get("compared_steps_per_second", r["steps_per_second"])
    ok &= job.speed_target is None or compared >= job.speed_target * r["raw_steps_per_second"]
    return bool(ok)


def job_rows(job, results):
    """One Markdown row per seed."""
    rows = []
    for r in results:
        final = r["final"]
        digits = 3 if abs(final["mean"]) < 10 else 1
        final_text = f"{final['mean']:.{digits}f} ± {final['std']:.{digits}f} ({final['episodes']} ep)"
        if isinstance(job, Job) and job.metric == "success_rate":
            final_text = f"success {final['success_rate']:.3f} ({final['episodes']} ep)"
        speed = fmt(r["steps_per_second"])
        if r.get("speed_runs"):
            speed += f" (mean of {' and '.join(fmt(x) for x in r['speed_runs'])})"
        if r.get("raw_steps_per_second"):
            compared = r.get("compared_steps_per_second", r["steps_per_second"])
            what = "collection " if r.get("speed_key", "steps_per_second") != "steps_per_second" else ""
            if what:
                speed += f"; {what}{fmt(compared)}"
            speed += f" / raw {fmt(r['raw_steps_per_second'])} ({compared / r['raw_steps_per_second']:.0%})"
        verdict = {True: " ✅", False: " ❌", None: ""}[passes(job, r)]
        rows.append(f"| {r['label']}{' (SB3)' if r.get('peer') else ''} | {r['seed']} | {fmt(r['steps'])} | "
                    f"{fmt(r['steps_to_threshold'])} | {fmt(r['seconds_to_threshold'], 1)} | {speed} | "
                    f"{fmt(r['curve'][-1][1] if r['curve'] else None, digits)} | {final_text}{verdict} |")
    return rows


def comparison(job, ours, peers):
    """A sentence of ratios between our runs and the peer's, seed by seed (same session), with the verdict on
    the job's claims against the peer: speed ratio >= peer_speed_target, and less training time to the
    threshold (the peer never reaching it counts as more time), on every seed."""
    by_seed = {p["seed"]: p for p in peers}
    pairs = [(o, by_seed[o["seed"]]) for o in ours if o["seed"] in by_seed]
    if not pairs:
        return []
    speed = [o["steps_per_second"] / p["steps_per_second"] for o, p in pairs]
    times = [f"seed {o['seed']}: {fmt(o['seconds_to_threshold'], 1)} s vs {fmt(p['seconds_to_threshold'], 1)} s"
             for o, p in pairs]
    repeats = (", each side twice per seed in the order ours, SB3, SB3, ours, speeds averaged"
               if any("speed_runs" in r for r in ours) else "")
    text = (f"**{job.label} against Stable-Baselines3** (same settings for network, batch, train frequency and "
            f"gradient steps; ours and SB3's alternate seed by seed in the same session{repeats}): our env steps per second "
            f"are {np.mean(speed):.1f}x SB3's (per seed: {', '.join(f'{x:.2f}x' for x in speed)}). Training seconds "
            f"to the first greedy evaluation >= {job.threshold:g}, ours vs SB3: {'; '.join(times)}.")
    if job.peer_speed_target is not None:
        faster = all(x >= job.peer_speed_target for x in speed)
        sooner = all(o["seconds_to_threshold"] is not None and (p["seconds_to_threshold"] is None or
                     o["seconds_to_threshold"] < p["seconds_to_threshold"]) for o, p in pairs)
        text += (f" Claims, every seed: >= {job.peer_speed_target:g}x SB3's steps per second "
                 f"{'✅' if faster else '❌'}; less training time to {job.threshold:g} {'✅' if sooner else '❌'}.")
    return ["", text]


def side_by_side_note(job, results):
    """The sentence of a SideBySideJob: each side's steps/s and seconds to the threshold, seed by seed, the
    ratios, and the verdict on its claims (>= peer_speed_target x the peer's steps/s and less time to the
    threshold, every seed; the peer never reaching it counts as more time)."""
    def seconds(side):
        return None if side["hit"] is None else side["hit"][1]

    ratios = [r["ours"]["steps_per_second"] / r["peer"]["steps_per_second"] for r in results]
    per_seed = "; ".join(
        f"seed {r['seed']}: {fmt(r['ours']['steps_per_second'])} vs {fmt(r['peer']['steps_per_second'])} steps/s "
        f"({x:.2f}x), {fmt(seconds(r['ours']), 1)} s vs {fmt(seconds(r['peer']), 1)} s to {job.threshold:g}"
        for r, x in zip(results, ratios))
    faster = all(x >= job.peer_speed_target for x in ratios)
    sooner = all(seconds(r["ours"]) is not None and (seconds(r["peer"]) is None or
                 seconds(r["ours"]) < seconds(r["peer"])) for r in results)
    return ["", f"**{job.label} against Stable-Baselines3, side by side** (`benchmarks/side_by_side.py`: both "
                f"trainings in one process, taking turns at every evaluation, so both meet the same machine; each "
                f"clock counts its own training only), ours vs SB3: {per_seed}. Claims, every seed: >= "
                f"{job.peer_speed_target:g}x SB3's steps per second {'✅' if faster else '❌'}; less training time "
                f"to {job.threshold:g} {'✅' if sooner else '❌'}."]


def load_results(suite, name):
    return [json.loads(p.read_text()) for p in sorted((RESULTS / suite).glob(f"{name}__seed*.json"))]


def curves_on_grid(curves):
    """(steps, values): evaluation curves [(step, value), ...] on the union of their steps, shape (curves, steps).

    Seeds may evaluate at different steps (Part 3 evaluates after whole batches of episodes), so each curve is
    interpolated linearly onto the union, and left NaN outside its own first and last evaluation.
    """
    steps = np.array(sorted({s for curve in curves for s, _ in curve}), dtype=float)

    def on_grid(curve):
        xs, ys = np.array(curve, dtype=float).T
        return np.where((steps < xs[0]) | (steps > xs[-1]), np.nan, np.interp(steps, xs, ys))

    return steps, np.array([on_grid(curve) for curve in curves])


def plot_job(job, results, path):
    fig, ax = plt.subplots(figsize=(6, 3.6))
    steps, values = curves_on_grid([r["curve"] for r in results])
    ax.plot(steps, np.nanmean(values, 0), label=f"mean of {len(results)} seeds")
    ax.fill_between(steps, np.nanmin(values, 0), np.nanmax(values, 0), alpha=0.25, label="min-max over seeds")
    ax.axhline(job.threshold, color="grey", ls="--", lw=1, label=f"threshold {job.threshold:g}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("greedy evaluation")
    ax.set_title(job.label)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def report(suite, parts):
    jobs = [j for j in SUITES[suite] if j.part in parts]
    for part in parts:
        lines, notes, machines = [], [], set()
        for job in (j for j in jobs if j.part == part and not isinstance(j, CommandJob)):
            results = load_results(suite, job.name)
            if not results:
                continue
            if isinstance(job, SideBySideJob):
                notes += side_by_side_note(job, results)
                continue
            lines += job_rows(job, results)
            if isinstance(job, Job) and job.compare_to:
                notes += comparison(job, results, load_results(suite, job.compare_to))
            machines |= {f"{r['machine']['cpu']}, {r['machine']['cores']} cores, torch {r['machine']['torch']}, "
                         f"Python {r['machine']['python']}" for r in results}
            if isinstance(job, Job) and suite == "full":  # the READMEs show the full suite's curves, never quick's
                (REPO / part / "plots").mkdir(exist_ok=True)
                plot_job(job, results, REPO / part / "plots" / f"{job.name}.png")
        if not lines:
            continue
        table = "\n".join([
            f"Produced by `python benchmarks/run.py {suite} --part {part}` on {'; '.join(sorted(machines))}. "
            f"Seeds as listed. \"Threshold\": first greedy evaluation at or above the job's threshold; seconds "
            f"count training only (evaluation excluded). Final: the best saved model played greedily on fresh "
            f"episodes.", "",
            "| run | seed | env steps | steps to threshold | seconds to threshold | steps/s | last eval | final greedy test |",
            "|---|---|---|---|---|---|---|---|", *lines, *notes])
        readme = REPO / part / "README.md"
        text = readme.read_text()
        start, end = f"<!-- results:{suite} -->", f"<!-- /results:{suite} -->"
        if start not in text:
            print(f"  {readme.relative_to(REPO)} has no {start} marker; table not written")
            continue
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1]
        readme.write_text(f"{head}{start}\n{table}\n{end}{tail}")
        print(f"  wrote the {suite} table of {readme.relative_to(REPO)}")


def merge_repeat(earlier, later):
    """The result of a job's second run of a seed: the later run (its model is the one on disk), with the
    steps per second averaged over both runs, which are kept in `speed_runs`."""
    runs = earlier.get("speed_runs", [earlier["steps_per_second"]]) + [later["steps_per_second"]]
    return dict(later, speed_runs=runs, steps_per_second=round(float(np.mean(runs)), 1))


def schedule(jobs):
    """(job, seed) in run order. A job and the peer it is compared with alternate seed by seed (ours, then
    SB3's, same seed), so the drift of a shared machine over a session hits both sides alike; with
    `speed_repeats=2` each seed runs ours, SB3's, SB3's, ours (see `merge_repeat`)."""
    peers = {j.name: j for j in jobs if isinstance(j, PeerJob)}
    paired = {j.compare_to for j in jobs if isinstance(j, Job) and j.compare_to in peers}
    order = []
    for job in jobs:
        if job.name in paired:
            continue
        for seed in job.seeds:
            order.append((job, seed))
            peer = peers.get(job.compare_to) if isinstance(job, Job) else None
            if peer is not None and seed in peer.seeds:
                order.append((peer, seed))
                if job.speed_repeats == 2:  # ours, peer, peer, ours: a steady drift cancels in the mean speeds
                    order += [(peer, seed), (job, seed)]
        if isinstance(job, Job) and job.compare_to in peers:  # the peer's seeds that ours do not have
            order += [(peers[job.compare_to], seed) for seed in peers[job.compare_to].seeds if seed not in job.seeds]
    return order


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--part", action="append", help="only this part's jobs (repeatable)")
    parser.add_argument("--job", action="append", help="only jobs with this name (repeatable)")
    parser.add_argument("--report-only", action="store_true", help="only regenerate tables and plots")
    args = parser.parse_args()
    jobs = [j for j in SUITES[args.suite] if (not args.part or j.part in args.part) and (not args.job or j.name in args.job)]
    parts = args.part or sorted({j.part for j in SUITES[args.suite]})
    if not args.report_only:
        info = machine()
        (RESULTS / args.suite).mkdir(parents=True, exist_ok=True)
        finished = {}  # (job name, seed) -> result of this invocation
        for job, seed in schedule(jobs):
            if isinstance(job, CommandJob):
                print(f"{args.suite}/{job.name} ...", flush=True)
                stdout, wall = run([sys.executable, str(REPO / job.part / job.argv[0]), *job.argv[1:]])
                print(f"  {stdout.strip().splitlines()[-1] if stdout.strip() else 'done'} ({wall:.0f} s)")
                continue
            print(f"{args.suite}/{job.name} seed {seed} ...", flush=True)
            runner = {PeerJob: run_peer, SideBySideJob: run_side_by_side}.get(type(job), run_job)
            result = runner(args.suite, job, seed, info)
            if result is None:
                continue
            if isinstance(job, SideBySideJob):
                (RESULTS / args.suite / f"{job.name}__seed{seed}.json").write_text(json.dumps(result, indent=1))
                print(f"  ours {result['ours']['steps_per_second']:,.0f} vs SB3 {result['peer']['steps_per_second']:,.0f} "
                      f"steps/s, side by side", flush=True)
                continue
            if (job.name, seed) in finished:
                result = merge_repeat(finished[job.name, seed], result)
            finished[job.name, seed] = result
            (RESULTS / args.suite / f"{job.name}__seed{seed}.json").write_text(json.dumps(result, indent=1))
            print(f"  {result['steps_per_second']:,.0f} steps/s, threshold at {result['steps_to_threshold']}, "
                  f"final {result['final']}", flush=True)
        for job in jobs:
            if isinstance(job, Job) and job.ship:
                ship(args.suite, job)
    report(args.suite, parts)


if __name__ == "__main__":
    main()
