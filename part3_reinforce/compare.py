"""The four loss variants side by side: vpg, bpg, epg, cpg on the same env and seeds, one 2x2 figure.

    python part3_reinforce/compare.py                               # CartPole-v1, seeds 1 2 3, 60k steps each
    python part3_reinforce/compare.py --seeds 1 --total-steps 20000 --out compare.png
    python part3_reinforce/compare.py --update-readme-figure        # redraw plots/compare_presets.png

Panels, each against the number of training episodes (mean over seeds): the policy loss, the baseline,
the entropy loss, and the mean episode return of the training batches. The figure goes to --out (by
default into the log folder, which git ignores); the README's figure changes only when asked. Each
run's TensorBoard log and best model are kept in the log folder.
"""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import train
from plumbing import REPO, UserError, run_main

README_FIGURE = Path(__file__).resolve().parent / "plots" / "compare_presets.png"
PRESETS = ["vpg", "bpg", "epg", "cpg"]
PANELS = [("losses/policy_loss", "policy loss"), ("charts/baseline", "baseline (batch mean return)"),
          ("losses/entropy_loss", "entropy loss (-H / H_max)"), ("mean_return", "mean episode return")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--env-id", default="CartPole-v1", help="gymnasium env id (train.py's preset for it applies)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="one run per preset and seed; curves are their mean")
    parser.add_argument("--total-steps", type=int, default=60_000, help="environment steps of each run")
    parser.add_argument("--log-dir", default=str(REPO / "reinforce_logs"),
                        help="TensorBoard runs go here, and the runs' best models into its compare_models/ folder")
    parser.add_argument("--out", help="where to write the figure (default: compare_presets.png in --log-dir)")
    parser.add_argument("--update-readme-figure", action="store_true",
                        help="write the figure to the one the README shows, part3_reinforce/plots/compare_presets.png")
    args = parser.parse_args(argv)
    if args.total_steps < 1:
        raise UserError(f"--total-steps must be at least 1, got {args.total_steps}")
    if args.out and args.update_readme_figure:
        raise UserError("give --out or --update-readme-figure, not both")
    out = Path(README_FIGURE if args.update_readme_figure else args.out or Path(args.log_dir) / "compare_presets.png")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot write the figure's folder {str(out.parent)!r}: {e.strerror}") from None

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for preset in PRESETS:
        runs = []
        for seed in args.seeds:
            summary = train.main(["--env-id", args.env_id, "--preset", preset, "--seed", str(seed),
                                  "--total-steps", str(args.total_steps), "--eval-every", str(args.total_steps),
                                  "--eval-episodes", "5", "--log-dir", args.log_dir,
                                  "--save-dir", str(Path(args.log_dir) / "compare_models")])
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
    seeds = f"mean of seeds {', '.join(map(str, args.seeds))}" if len(args.seeds) > 1 else f"seed {args.seeds[0]}"
    fig.suptitle(f"REINFORCE loss variants on {args.env_id} ({seeds})")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    run_main(main, interrupted="interrupted")
