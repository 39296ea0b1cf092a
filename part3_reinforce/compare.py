"""The four loss variants side by side: vpg, bpg, epg, cpg on the same env and seeds, one 2x2 figure.

    python part3_reinforce/compare.py                               # CartPole-v1, seeds 1 2 3, 60k steps each
    python part3_reinforce/compare.py --seeds 1 --total-steps 20000 --out compare.png

Panels, each against the number of training episodes (mean over seeds): the policy loss, the baseline,
the entropy loss, and the mean episode return of the training batches.
"""
import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import train
from utils import run_main

PRESETS = ["vpg", "bpg", "epg", "cpg"]
PANELS = [("losses/policy_loss", "policy loss"), ("charts/baseline", "baseline (batch mean return)"),
          ("losses/entropy_loss", "entropy loss (-H / H_max)"), ("mean_return", "mean episode return")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-id", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--total-steps", type=int, default=60_000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "plots" / "compare_presets.png"))
    parser.add_argument("--log-dir", default="reinforce_logs")
    args = parser.parse_args(argv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    with tempfile.TemporaryDirectory() as models:  # the comparison keeps its curves, not its models
        for preset in PRESETS:
            runs = []
            for seed in args.seeds:
                summary = train.main(["--env-id", args.env_id, "--preset", preset, "--seed", str(seed),
                                      "--total-steps", str(args.total_steps), "--eval-every", str(args.total_steps),
                                      "--eval-episodes", "5", "--log-dir", args.log_dir, "--save-dir", models])
                runs.append(summary["history"])
            n = min(len(h) for h in runs)  # the same number of updates for every seed
            episodes = np.array([row["episodes"] for row in runs[0][:n]])
            for ax, (key, title) in zip(axes.flat, PANELS):
                values = np.array([[row[key] for row in h[:n]] for h in runs]).mean(0)
                ax.plot(episodes, values, label=preset, lw=1)
                ax.set_title(title)
    for ax in axes[1]:
        ax.set_xlabel("training episodes")
    axes[0, 0].legend()
    fig.suptitle(f"REINFORCE loss variants on {args.env_id} (mean of seeds {', '.join(map(str, args.seeds))})")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_main(main)
