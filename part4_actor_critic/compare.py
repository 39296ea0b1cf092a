"""Shared versus separate actor-critic networks, and A2C versus PPO, on one figure.

    python part4_actor_critic/compare.py                                  # CartPole-v1, seeds 1 2 3, 100k steps
    python part4_actor_critic/compare.py --seeds 1 --total-steps 30000 --out /tmp/compare.png

Trains the four combinations (a2c, a2c --shared, ppo, ppo --shared) with train.py's presets for the env,
each for every seed, and plots the greedy evaluation return (mean over seeds, and the range) against
environment steps (left) and training seconds (right). The figure goes to --out; the default sits in the
git-ignored log folder, so a run never overwrites the README's plot (pass its path explicitly to redraw it).
"""
import argparse
import csv
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import train
from plumbing import REPO, run_main

VARIANTS = [("a2c", False), ("a2c", True), ("ppo", False), ("ppo", True)]


def read_curve(run_dir):
    """(steps, train seconds, mean return) arrays from a run's evaluations.csv."""
    with open(Path(run_dir) / "evaluations.csv") as f:
        rows = list(csv.DictReader(f))
    return tuple(np.array([float(row[key]) for row in rows]) for key in ("step", "train_seconds", "mean"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-id", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--total-steps", type=int, default=100_000)
    parser.add_argument("--out", default=str(REPO / "actor_critic_logs" / "compare.png"))
    parser.add_argument("--log-dir", default=str(REPO / "actor_critic_logs"))
    args = parser.parse_args(argv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)

    fig, (by_steps, by_seconds) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    with tempfile.TemporaryDirectory() as models:  # the comparison keeps its curves, not its models
        for algo, shared in VARIANTS:
            curves = []
            for seed in args.seeds:
                summary = train.main(["--env-id", args.env_id, "--algo", algo, "--seed", str(seed),
                                      "--total-steps", str(args.total_steps),
                                      "--log-dir", args.log_dir, "--save-dir", models]
                                     + (["--shared"] if shared else []))
                curves.append(read_curve(summary["run_dir"]))
            n = min(len(c[0]) for c in curves)  # the same evaluations for every seed
            steps = curves[0][0][:n]
            seconds = np.mean([c[1][:n] for c in curves], axis=0)
            returns = np.array([c[2][:n] for c in curves])
            label = f"{algo.upper()}, {'shared trunk' if shared else 'two networks'}"
            style = dict(ls="--" if shared else "-", lw=1.3)
            for ax, x in ((by_steps, steps), (by_seconds, seconds)):
                line, = ax.plot(x, returns.mean(0), label=label, **style)
                ax.fill_between(x, returns.min(0), returns.max(0), color=line.get_color(), alpha=0.12)
    by_steps.set_xlabel("environment steps (all envs)")
    by_seconds.set_xlabel("training seconds (mean over seeds)")
    by_steps.set_ylabel("greedy evaluation return")
    by_steps.legend()
    fig.suptitle(f"{args.env_id}: shared vs separate networks, A2C vs PPO "
                 f"(mean and range over seeds {', '.join(map(str, args.seeds))})")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_main(main)
