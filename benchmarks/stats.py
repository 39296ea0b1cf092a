"""The statistics every table reports, over the seeds of a job (Agarwal et al. 2021, "Deep RL at the edge of
the statistical precipice", through its library rliable):

- the IQM (interquartile mean: the mean of the middle half of the seeds' scores) with a 95% stratified-bootstrap
  confidence interval;
- the success fraction (seeds whose best model's final test is at or above the threshold) with a 95% Wilson
  interval (a bootstrap of 10 successes out of 10 would say [1, 1]);
- the median env steps and training seconds to a first greedy evaluation at the threshold, over the seeds that
  reached it, and how many did;
- the IQM of the greedy evaluations against env steps with a pointwise bootstrap band (the sample-efficiency
  curve); the probability of improvement of one algorithm over another; performance profiles.

IQM, success and the medians are plain numpy (and tested against hand-worked values). The intervals, the
probability of improvement and the profiles come from rliable, imported only when one is asked for
(`pip install -r benchmarks/requirements.txt`). Every bootstrap draws from one fixed seed, so the same results
files give the same tables, figure for figure.
"""
import contextlib
import functools
import math
from dataclasses import dataclass

import numpy as np

from results import first_hit

REPS = 10_000         # bootstrap resamples of a job's final scores
CURVE_REPS = 2_000    # of each point of a curve, of a probability of improvement, of a profile (rliable's own)
BOOTSTRAP_SEED = 0
Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def rliable():
    """rliable's `library` and `metrics`, or a clear error."""
    try:
        from rliable import library, metrics
    except ImportError as exc:
        raise ImportError("the report's confidence intervals need rliable: "
                          "pip install -r benchmarks/requirements.txt") from exc
    return library, metrics


@contextlib.contextmanager
def seeded():
    """rliable's bootstrap draws from numpy's global random state: seed it, and put it back afterwards."""
    state = np.random.get_state()
    np.random.seed(BOOTSTRAP_SEED)
    try:
        yield
    finally:
        np.random.set_state(state)


def iqm_columns(values):
    """The IQM of each column of `values` (runs, ...), over its numbers (NaN is left out): the mean of the
    values left when int(n / 4) are cut from each end of the n sorted ones (scipy's trim_mean(0.25), rliable's
    aggregate_iqm). NaN where a column has no number."""
    values = np.sort(np.asarray(values, dtype=float), axis=0)  # NaN sort last
    n = (~np.isnan(values)).sum(0)
    cut = (n * 0.25).astype(int)
    rank = np.arange(values.shape[0]).reshape(-1, *[1] * (values.ndim - 1))
    keep = (rank >= cut) & (rank < n - cut)
    kept = keep.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(kept > 0, np.where(keep, values, 0.0).sum(0) / np.maximum(kept, 1), np.nan)


def iqm(values):
    """The interquartile mean of a list of scores (for 3 seeds, cutting int(3/4) = 0 from each end: the mean)."""
    return float(iqm_columns(np.asarray(values, dtype=float)))


@functools.lru_cache(maxsize=None)
def _iqm_ci(values, reps):
    library, metrics = rliable()
    scores = np.array(values, dtype=float)[:, None]  # (runs, tasks=1)
    with seeded():
        point, interval = library.get_interval_estimates(
            {"x": scores}, lambda s: np.array([metrics.aggregate_iqm(s)]), reps=reps)
    return float(point["x"][0]), float(interval["x"][0, 0]), float(interval["x"][1, 0])


def iqm_ci(values, reps=None):
    """(IQM, low, high): the IQM of the scores and its 95% stratified-bootstrap (percentile) interval, by rliable."""
    return _iqm_ci(tuple(float(v) for v in values), reps or REPS)


def wilson(k, n, z=Z95):
    """The 95% Wilson score interval (low, high) of a proportion k/n: for 10 of 10, 10 / (10 + z^2) = 0.722 to 1."""
    if n == 0:
        return None
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Success:
    """How many seeds' best models passed their final test at the threshold, with the interval of the fraction."""
    succeeded: int
    seeds: int
    low: float
    high: float

    @property
    def fraction(self):
        return self.succeeded / self.seeds


def success(scores, threshold):
    """Success: the seeds whose final test score is at or above `threshold` (one definition, everywhere)."""
    k = sum(score >= threshold for score in scores)
    low, high = wilson(k, len(scores)) or (None, None)
    return Success(k, len(scores), low, high)


@dataclass
class Reach:
    """The first greedy evaluation at or above a score, from the evaluation curves (not the final test)."""
    score: float
    reached: int        # seeds with an evaluation at or above it
    seeds: int
    steps: float        # median env steps to it over the seeds that reached it (None: none did)
    seconds: float      # median training seconds to it (None also when a seed that reached it recorded none)

    @property
    def recorded(self):
        return self.reached == 0 or self.seconds is not None


def reach(curves, score):
    """Reach of a score over seeds' curves ([step, mean, seconds] rows; older files and peers have no seconds)."""
    hits = [h for h in (first_hit(curve, score) for curve in curves) if h is not None]
    seconds = [h[1] for h in hits]
    return Reach(score=score, reached=len(hits), seeds=len(curves),
                 steps=float(np.median([h[0] for h in hits])) if hits else None,
                 seconds=float(np.median(seconds)) if hits and None not in seconds else None)


def on_grid(curves, x=0):
    """(xs, values): curves [(x0, value, x2), ...] on the union of their xs (`x`: the column of the row used as
    x), shape (curves, points). Seeds may evaluate at different steps (Part 3 evaluates after whole batches of
    episodes), so each curve is interpolated linearly onto the union, and NaN outside its own first and last
    evaluation."""
    xs = np.array(sorted({row[x] for curve in curves for row in curve}), dtype=float)

    def one(curve):
        cx, cy = np.array([(row[x], row[1]) for row in curve], dtype=float).T
        return np.where((xs < cx[0]) | (xs > cx[-1]), np.nan, np.interp(xs, cx, cy))

    return xs, np.array([one(curve) for curve in curves])


def iqm_curve(curves, x=0, reps=None):
    """(xs, iqm, low, high): the sample-efficiency curve of a job, the IQM over seeds of the greedy evaluations
    at each x (env steps, x=0; training seconds, x=2) with a 95% pointwise stratified-bootstrap band (rliable:
    each point resamples the seeds that evaluated there). Where one seed alone evaluated, the band is its value."""
    xs, values = on_grid(curves, x)
    middle = iqm_columns(values)
    low, high = middle.copy(), middle.copy()
    present = ~np.isnan(values)
    patterns = {}  # the points with the same seeds evaluated there share one bootstrap
    for point in range(len(xs)):
        patterns.setdefault(tuple(present[:, point]), []).append(point)
    for pattern, points in patterns.items():
        seeds = np.array(pattern)
        if seeds.sum() < 2:
            continue
        library, _ = rliable()
        block = values[seeds][:, points]
        with seeded():
            _, interval = library.get_interval_estimates({"x": block[:, None, :]},
                                                         lambda s: iqm_columns(s[:, 0, :]), reps=reps or CURVE_REPS)
        low[points], high[points] = interval["x"][0], interval["x"][1]
    return xs, middle, low, high


def probability_of_improvement(ours, theirs):
    """P(ours > theirs): the fraction of the (our run, their run) pairs ours wins, a tie counting half (the
    Mann-Whitney U statistic over n x m, as rliable computes it)."""
    x, y = np.asarray(ours, dtype=float)[:, None], np.asarray(theirs, dtype=float)[None, :]
    return float(np.mean((x > y) + 0.5 * (x == y)))


def improvement(ours, theirs, reps=None):
    """(P, low, high): rliable's probability of improvement P(ours > theirs), the chance that a run of ours
    scores above a run of theirs (ties count half: the Mann-Whitney U statistic over n x m), with its 95%
    stratified-bootstrap interval (each side's runs resampled independently)."""
    library, metrics = rliable()
    x, y = np.array(ours, dtype=float)[:, None], np.array(theirs, dtype=float)[:, None]
    with seeded():
        point, interval = library.get_interval_estimates(
            {"p": [x, y]}, lambda a, b: np.array([metrics.probability_of_improvement(a, b)]), reps=reps or CURVE_REPS)
    return float(point["p"][0]), float(interval["p"][0, 0]), float(interval["p"][1, 0])


def profiles(scores, taus, reps=None):
    """{name: (fraction, low, high)}: rliable's performance profile of each job's final scores, the fraction of
    its runs scoring above each tau, with a 95% bootstrap band."""
    library, _ = rliable()
    with seeded():
        points, intervals = library.create_performance_profile(
            {name: np.array(values, dtype=float)[:, None] for name, values in scores.items()}, np.asarray(taus),
            reps=reps or CURVE_REPS)
    return {name: (points[name], intervals[name][0], intervals[name][1]) for name in scores}
