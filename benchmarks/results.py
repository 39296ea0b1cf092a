"""Results files: one JSON file per (job, seed), where they live, how they are written, read and described.

`results/<suite>/<job>__seed<N>.json` holds what a run measured (benchmarks/README.md lists the fields). Files
from before format 2 are read as they are (see normalise).
"""
import json
from pathlib import Path

import paths

FORMAT = 2  # results files with commit, dirty and repo-relative paths; files without "format" came before


def folder(suite, results=None):
    """The folder of a suite's results files: `results` when given, else the tracked benchmarks/results/<suite>."""
    return Path(results) if results is not None else paths.RESULTS / suite


def results_path(suite, job, seed, results=None):
    return folder(suite, results) / f"{job.name}__seed{seed}.json"


def save_result(path, result):
    path.parent.mkdir(parents=True, exist_ok=True)
    paths.write_atomically(path, json.dumps(result, indent=1))


def failed_result(suite, job, seed, state, error):
    """The results file of a (job, seed) that failed: the table shows it as failed, with its error, and
    `--missing-only` runs it again."""
    return dict(format=FORMAT, suite=suite, job=job.name, part=job.part, label=job.label, seed=seed, **state,
                failed=True, error=error[-3000:])


def is_missing(path):
    """True when a (job, seed) has no result yet: no file, or the file of a failed run."""
    return not path.exists() or bool(json.loads(path.read_text()).get("failed"))


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


def first_hit(curve, threshold):
    """(step, train seconds or None) of the first evaluation at or above `threshold`, or None.

    `curve` rows are [step, mean, train_seconds] ([step, mean] in Job files from before format 2, and in a
    peer's files: sb3_anchor.py records no seconds per evaluation).
    """
    row = next((row for row in curve if row[1] >= threshold), None)
    return None if row is None else (row[0], row[2] if len(row) > 2 else None)


def short_error(error):
    """A failed run's error in one table cell: its first line (cut short) and its last (the exception)."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()] or ["unknown error"]
    text = lines[0][:200] if len(lines) == 1 else f"{lines[0][:60]}... {lines[-1][:140]}"
    return text.replace("|", "/")


def number(x, digits=0):
    """A figure as the tables print it: thousands separated, `digits` decimals; a dash for None."""
    return "—" if x is None else f"{x:,.{digits}f}"


def score_digits(value):
    """Decimals a score is shown with: three for small scores (success rates, FrozenLake), else one."""
    return 3 if abs(value) < 10 else 1


def final_score(job, r):
    """The number a run's final greedy test is judged on: its mean return, or its success rate (FrozenLake)."""
    return r["final"][getattr(job, "metric", "mean")]


def final_words(job, r):
    """The final greedy test in words: "500.0 ± 0.0 over 20 greedy episodes" or "success rate 0.742 over ..."."""
    final = r["final"]
    if getattr(job, "metric", "mean") == "success_rate":
        return f"success rate {final['success_rate']:.3f} over {final['episodes']} greedy episodes"
    digits = score_digits(final["mean"])
    return f"{final['mean']:.{digits}f} ± {final['std']:.{digits}f} over {final['episodes']} greedy episodes"


def describe(job, result):
    """The progress line printed after a (job, seed), in words."""
    if result.get("failed"):
        return f"  failed: {short_error(result['error'])}"
    if result.get("side_by_side"):
        ours, peer = result["ours"]["steps_per_second"], result["peer"]["steps_per_second"]
        return f"  ours {ours:,.0f} vs SB3 {peer:,.0f} steps/s, side by side ({ours / peer:.2f}x)"
    hit = first_hit(result["curve"], job.threshold)
    reached = (f"its evaluations first reached {job.threshold:g} at {hit[0]:,} env steps" if hit else
               f"its evaluations never reached {job.threshold:g}")
    model = "final policy" if result.get("peer") else "best model"
    return (f"  {model}'s final test: {final_words(job, result)}; {reached}; "
            f"{result['steps_per_second']:,.0f} steps/s")
