"""Compare DQN's extensions on equal terms: each option alone on top of plain DQN, and all together.

    python part2_dqn/compare.py --env-id CartPole-v1 --seeds 1 2 3                 # the env's preset budget
    python part2_dqn/compare.py --env-id LunarLander-v3 --seeds 1 2 3 --out part2_dqn/plots/compare_lunar
    python part2_dqn/compare.py --env-id CartPole-v1 --variants DQN PER --total-steps 10000 --out /tmp/quick   # a quick look
    python part2_dqn/compare.py --per-cost      # PER's sampling cost against the gradient step it feeds
    python part2_dqn/compare.py --per-speed --env-id LunarLander-v3   # --rainbow's steps/s with and without PER

Every variant starts from the env's preset (train.py's PRESETS) with Double DQN off and 1-step returns
(plain DQN), then turns on one option; "Rainbow" is the --rainbow preset (Double + Dueling + Noisy +
3-step + PER). Same budget, same seeds, same evaluation schedule for all, one torch thread, runs one
after another in this process (train.build, agent.train: exactly what train.py runs).

Writes, under --out: runs/{variant}__seed{seed}.json per finished run (its evaluations, the best model's
final mean, steps/s), evaluations.csv (variant, seed, step, train_seconds, mean), a figure of the greedy
evaluation curves (IQM over seeds, 95% bootstrap band) and table.md: the greedy mean of each seed's best
model over --final-episodes fresh episodes (IQM over seeds, min-max), how many seeds' best models reach the
threshold (success), the first evaluation at or over it (median over the seeds that got there, and how many
did), training time and steps/s (evaluation excluded).

A run whose file exists is not run again, so a long comparison can be done in pieces: stopped and
started again, or split over processes (`--seeds 1` in one, `--seeds 2` in another, same --out). The figure
and table always draw every finished run under --out, of every variant, whichever command ran it (the
benchmark's comparison runs plain DQN and Rainbow on ten seeds, the other options on five); `--report-only`
runs nothing and draws them. So an --out folder holds one comparison: give tuning seeds, or another budget,
their own (runs evaluated at other steps are refused, by name). Delete a run's file to run it again.
"""
import argparse
import copy
import csv
import json
import os
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

import train
from plumbing import UserError, run_main

PLAIN = ["--no-double", "--n-steps", "1"]
VARIANTS = {
    "DQN": PLAIN,
    "Double": ["--double", "--n-steps", "1"],
    "Dueling": PLAIN + ["--dueling"],
    "Noisy": PLAIN + ["--noisy"],
    "3-step": ["--no-double", "--n-steps", "3"],
    "PER": PLAIN + ["--per"],
    "Rainbow": ["--rainbow"],
}
THRESHOLDS = {"CartPole-v1": 475.0, "LunarLander-v3": 200.0, "Pendulum-v1": -200.0}


def run(variant, env_id, seed, extra, final_episodes):
    """One training run; returns (evaluations [(step, train_seconds, mean)], best model's final mean, steps/s)."""
    config = train.get_config(["--env-id", env_id, "--seed", str(seed), *VARIANTS[variant], *extra])
    env, eval_env, agent = train.build(config)
    evaluations, best = [], dict(mean=-np.inf, state=None)

    def on_eval(step, train_seconds):
        mean, _ = agent.evaluate(eval_env, config.eval_episodes)
        evaluations.append((step, train_seconds, mean))
        if mean > best["mean"]:
            best.update(mean=mean, state=copy.deepcopy(agent.q_network.state_dict()))

    train_seconds = agent.train(env, on_eval=on_eval)
    agent.q_network.load_state_dict(best["state"])
    final, _ = agent.evaluate(eval_env, final_episodes, seed=seed + 20_000)  # fresh episodes for the best model
    return evaluations, final, config.total_steps / train_seconds


def iqm(values, axis=0):
    """The interquartile mean along `axis`: the mean of the middle half of the values (a quarter of them cut off
    at each end, as scipy's trim_mean(values, 0.25) does), robust to one seed that diverged or got lucky."""
    n = values.shape[axis]
    cut = int(0.25 * n)
    return np.take(np.sort(values, axis=axis), range(cut, n - cut), axis=axis).mean(axis=axis)


def iqm_band(curves, reps=2000, seed=0):
    """A 95% bootstrap interval of the IQM over seeds at every step: curves (seeds, steps) -> (2, steps)."""
    picks = np.random.default_rng(seed).integers(0, len(curves), (reps, len(curves)))  # seeds drawn with replacement
    return np.percentile(iqm(curves[picks], axis=1), [2.5, 97.5], axis=0)


def draw(results, env_id, threshold, path):
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for variant, runs in results.items():
        steps = [s for s, _, _ in runs[0]["evaluations"]]
        curves = np.array([[m for _, _, m in r["evaluations"]] for r in runs])
        ax.plot(steps, iqm(curves), label=f"{variant} ({len(runs)} seed{'s' * (len(runs) > 1)})",
                lw=2.2 if variant == "Rainbow" else 1.4)
        ax.fill_between(steps, *iqm_band(curves), alpha=0.15)
    if threshold is not None:
        ax.axhline(threshold, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("greedy evaluation return")
    ax.set_title(f"{env_id}: greedy evaluations, IQM over seeds, 95% bootstrap band")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def table(results, threshold):
    """One row a variant. Success is the best model's greedy mean over the fresh final episodes at or above the
    threshold; the first evaluation at or above it (during training, over the preset's evaluation episodes) is
    reported beside it, in a column of its own: it comes earlier and is noisier."""
    rows = [f"| variant | seeds | best model's greedy mean: IQM (min to max) | success at {threshold:g} | "
            f"first evaluation >= {threshold:g} (median; seeds reaching it) | training s | env steps/s |",
            "|-|-|-|-|-|-|-|"]
    for variant, runs in results.items():
        reached = [next((s for s, _, m in r["evaluations"] if m >= threshold), None) for r in runs]
        reached = [s for s in reached if s is not None]
        to_threshold = f"{statistics.median(reached):,.0f} ({len(reached)}/{len(runs)})" if reached else f"never (0/{len(runs)})"
        finals = np.array([r["final"] for r in runs])
        seconds = statistics.mean(r["evaluations"][-1][1] for r in runs)
        rate = statistics.mean(r["steps_per_second"] for r in runs)
        rows.append(f"| {variant} | {len(runs)} | {iqm(finals):.1f} ({finals.min():.1f} to {finals.max():.1f}) | "
                    f"{(finals >= threshold).sum()}/{len(runs)} | {to_threshold} | {seconds:.0f} | {rate:,.0f} |")
    return "\n".join(rows)


def per_cost(rounds=7):
    """PER's cost per gradient step against the step itself: a full 100k-transition memory, batch 64, the
    CartPole preset's network (FastAgent), one torch thread; the four timings take turns, `rounds` times,
    so each sees the same machine load. Prints the median and range of each, in microseconds."""
    import time

    from fast import FastAgent
    config = train.get_config(["--env-id", "CartPole-v1", "--per", "--buffer-size", "100000"])
    agent = FastAgent(config, (4,), 2)
    per = agent.memory
    rng = np.random.default_rng(0)
    states = rng.standard_normal((config.buffer_size, 4)).astype(np.float32)
    for i in range(config.buffer_size):
        per.push(states[i], i % 2, 1.0, states[(i + 1) % config.buffer_size], False, 0.98)
    per.update_priorities(np.arange(per.size), rng.exponential(1.0, per.size))
    uniform = train.make_agent(train.get_config(["--env-id", "CartPole-v1"]), (4,), 2).memory
    for name in ("obs", "actions", "rewards", "next_obs", "terminated", "discounts", "size"):
        setattr(uniform, name, getattr(per, name))  # the same transitions, sampled uniformly
    indices = per.sample_indices(64)

    def per_sample():
        per.gather(per.sample_indices(64)), per.importance_weights(indices, 0.7)

    def gradient_step():
        obs, actions, rewards, next_obs, terminated, discounts = uniform.sample(64)
        with torch.no_grad():
            target = rewards + discounts * (1 - terminated) * agent.target_network(next_obs).max(1).values
        agent.gradient_step(obs, actions.unsqueeze(1), target)

    jobs = {"uniform sample + gather": lambda: uniform.sample(64),
            "PER sample + gather + importance weights": per_sample,
            "PER priority update": lambda: per.update_priorities(indices, torch.rand(64)),
            "gradient step (targets + update, FastAgent)": gradient_step}
    times = {name: [] for name in jobs}
    for _ in range(rounds):
        for name, job in jobs.items():
            start = time.perf_counter()
            for _ in range(200):
                job()
            times[name].append((time.perf_counter() - start) / 200 * 1e6)
    print(f"| per gradient step (batch 64, 100k memory) | median us | range over {rounds} rounds |\n|-|-|-|")
    for name, t in times.items():
        print(f"| {name} | {statistics.median(t):,.0f} | {min(t):,.0f}-{max(t):,.0f} |")


def per_speed(env_id, rounds=4, turn=1_500):
    """Whole-loop env steps/s of --rainbow with and without PER: two agents (train.build, FastAgent) take
    turns in one process, `turn` env steps each (Agent.train's loop: collect train_freq steps, then
    gradient_steps updates), `rounds` times after both filled learning_starts steps, so both meet the same
    machine load. Prints each side's steps/s per round and the ratio (median, range)."""
    import time

    sides = {}
    for name, flags in (("with PER", []), ("without PER", ["--no-per"])):
        config = train.get_config(["--env-id", env_id, "--rainbow", *flags])
        env, _, agent = train.build(config)
        agent.collect_rollouts(env, config.learning_starts)
        sides[name] = (config, env, agent)
    rates = {name: [] for name in sides}
    for _ in range(rounds):
        for name, (c, env, agent) in sides.items():
            start = time.perf_counter()
            for _ in range(turn // c.train_freq):
                agent.collect_rollouts(env, c.train_freq)
                agent.learn(c.gradient_steps)
            rates[name].append(turn // c.train_freq * c.train_freq / (time.perf_counter() - start))
    ratios = [a / b for a, b in zip(rates["with PER"], rates["without PER"])]
    print(f"| {env_id} --rainbow, {rounds} rounds of {turn:,} env steps | env steps/s, median (range) |\n|-|-|")
    for name, r in rates.items():
        print(f"| {name} | {statistics.median(r):,.0f} ({min(r):,.0f}-{max(r):,.0f}) |")
    print(f"| with / without PER | {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-id", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="tuning seeds by default; "
                        "the benchmark's claims use 101 102 103")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--total-steps", type=int, help="the budget (default: the env preset's)")
    parser.add_argument("--eval-every", type=int, help="evaluation interval (default: the env preset's)")
    parser.add_argument("--threshold", type=float, help="the return that counts as solved (CartPole 475, LunarLander 200)")
    parser.add_argument("--final-episodes", type=int, default=100, help="episodes to evaluate each best model on")
    parser.add_argument("--out", help="output folder (default part2_dqn/plots/compare_{env})")
    parser.add_argument("--report-only", action="store_true", help="run nothing: draw the figure and table from "
                        "the finished runs under --out")
    parser.add_argument("--per-cost", action="store_true", help="only measure PER's sampling cost (see per_cost)")
    parser.add_argument("--per-speed", action="store_true", help="only measure --rainbow's whole-loop steps/s with "
                        "and without PER, taking turns in one process (see per_speed); uses --env-id")
    args = parser.parse_args(argv)
    if args.per_cost:
        torch.set_num_threads(1)
        return per_cost()
    if args.per_speed:
        torch.set_num_threads(1)
        return per_speed(args.env_id)
    threshold = args.threshold if args.threshold is not None else THRESHOLDS.get(args.env_id)
    if threshold is None:
        raise UserError(f"no threshold known for {args.env_id!r}: pass --threshold")
    extra = [*(["--total-steps", str(args.total_steps)] if args.total_steps else []),
             *(["--eval-every", str(args.eval_every)] if args.eval_every else [])]
    out = Path(args.out or Path(__file__).resolve().parent / "plots" / f"compare_{args.env_id}")
    try:
        (out / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot write to {out}: {e.strerror}")
    torch.set_num_threads(1)
    missing = []
    for variant in args.variants:
        for seed in args.seeds:
            path = out / "runs" / f"{variant}__seed{seed}.json"
            if path.exists():
                print(f"{variant} seed {seed}: kept from {path} (delete it to run again)", flush=True)
            elif args.report_only:
                missing.append(f"{variant} seed {seed}")
            else:
                evaluations, final, rate = run(variant, args.env_id, seed, extra, args.final_episodes)
                result = dict(variant=variant, seed=seed, evaluations=evaluations, final=final, steps_per_second=rate)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(result))
                os.replace(tmp, path)  # a stopped comparison never leaves half a file
                print(f"{variant} seed {seed}: best eval {max(m for _, _, m in evaluations):.1f}, best model "
                      f"{final:.1f} over {args.final_episodes} episodes, {rate:,.0f} steps/s", flush=True)
    if missing:
        print(f"not run yet, left out: {', '.join(missing)}")
    # the figure and the table: every finished run under --out, whichever command ran it (so plain DQN and
    # Rainbow can have ten seeds beside the other options' five), each variant's runs evaluated at the same steps
    results = {}
    for variant in VARIANTS:
        paths = sorted((out / "runs").glob(f"{variant}__seed*.json"))
        runs = [json.loads(p.read_text()) for p in paths]
        if not runs:
            continue
        steps = [[s for s, _, _ in r["evaluations"]] for r in runs]
        other = [p.name for p, s in zip(paths, steps) if s != steps[0]]
        if other:
            raise UserError(f"{', '.join(other)} under {out / 'runs'} were evaluated at other steps than "
                            f"{paths[0].name}: a folder holds one comparison (same budget and schedule); move them")
        results[variant] = sorted(runs, key=lambda r: r["seed"])
    if not results:
        raise UserError(f"no finished runs under {out / 'runs'}")
    with open(out / "evaluations.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["variant", "seed", "step", "train_seconds", "mean"])
        for variant, runs in results.items():
            for r in runs:
                writer.writerows([variant, r["seed"], s, f"{t:.3f}", f"{m:.4f}"] for s, t, m in r["evaluations"])
    draw(results, args.env_id, threshold, out / "compare.png")
    text = table(results, threshold)
    (out / "table.md").write_text(text + "\n")
    print(text)

if __name__ == "__main__":
    run_main(main)
