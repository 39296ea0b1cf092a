"""The report's figures: each job's sample-efficiency curve (the IQM over seeds of the greedy evaluations
against env steps, with a 95% bootstrap band), and ours against Stable-Baselines3's on the same axes."""
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import stats  # noqa: E402
from provenance import seeds_text  # noqa: E402

BAND = "95% bootstrap band over seeds"


def save_figure(fig, path):
    """fig as a PNG at `path`, through a temporary file and a rename (see paths.write_atomically)."""
    temporary = Path(path).with_name(f".{Path(path).name}.partial")
    try:
        fig.savefig(temporary, dpi=90, format="png")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def curves_on_grid(curves):
    """(steps, values): evaluation curves [(step, value, ...), ...] on the union of their steps, shape
    (curves, steps), each NaN outside its own first and last evaluation (see stats.on_grid)."""
    return stats.on_grid(curves, 0)


def curve_label(results):
    """The legend of a job's curve: one seed is named, several are an IQM (with its band)."""
    if len(results) == 1:
        return f"seed {results[0]['seed']}"
    return f"IQM of {len(results)} seeds ({seeds_text(r['seed'] for r in results)})"


def draw_iqm(ax, results, x=0, scale=1.0, label=None, color=None, band_label=None):
    """A job's IQM curve on `ax` against env steps (x=0) or training seconds (x=2, divided by `scale`), with its
    bootstrap band when there are several seeds. Returns the line (None when a curve has no such column)."""
    if x == 2 and not all(r["curve"] and len(r["curve"][0]) > 2 for r in results):
        return None
    xs, middle, low, high = stats.iqm_curve([r["curve"] for r in results], x)
    line, = ax.plot(xs / scale, middle, label=label, color=color)
    if len(results) > 1:
        ax.fill_between(xs / scale, low, high, color=line.get_color(), alpha=0.2, lw=0, label=band_label)
    return line


def plot_job(job, results, path):
    """A job's sample-efficiency curve against env steps; with `job.plot_minutes`, a second panel against
    training minutes (evaluation excluded)."""
    fig, axes = plt.subplots(1, 2 if job.plot_minutes else 1, figsize=(11 if job.plot_minutes else 6, 3.6),
                             squeeze=False)
    ax = axes[0, 0]
    draw_iqm(ax, results, label=curve_label(results), band_label=BAND)
    ax.set_xlabel("environment steps")
    ax.set_title(job.label)
    if job.plot_minutes:
        minutes = axes[0, 1]
        draw_iqm(minutes, results, x=2, scale=60, label=curve_label(results))
        minutes.set_xlabel("training minutes (evaluation excluded)")
        minutes.set_title(f"{job.label}: against time on this machine", fontsize=9)
    for a in axes[0]:
        a.axhline(job.threshold, color="grey", ls="--", lw=1, label=f"threshold {job.threshold:g}")
        a.set_ylabel("greedy success rate" if job.metric == "success_rate" else "greedy evaluation return")
        a.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_peer(job, ours, theirs, path):
    """Ours against SB3's on the same seeds: both IQM curves against env steps, with their bootstrap bands."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    draw_iqm(ax, ours, label=f"ours: {curve_label(ours)}", color="C0")
    draw_iqm(ax, theirs, label=f"SB3 (rl-zoo settings): {curve_label(theirs)}", color="C1")
    ax.axhline(job.threshold, color="grey", ls="--", lw=1, label=f"threshold {job.threshold:g}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("greedy evaluation return")
    ax.set_title(f"{job.env_id}: ours and Stable-Baselines3's {job.algo.upper()}, IQM over seeds with its {BAND}",
                 fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
