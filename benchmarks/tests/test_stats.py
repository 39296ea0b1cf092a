"""The protocol's statistics against values worked out by hand: the IQM, the success fraction and its Wilson
interval, the first evaluation at a threshold and the medians to it, the probability of improvement, and the one
line above every table."""
import importlib.util

import numpy as np
import pytest

import provenance
import stats
from results import first_hit

needs_rliable = pytest.mark.skipif(importlib.util.find_spec("rliable") is None,
                                   reason="the intervals need rliable (benchmarks/requirements.txt)")
Z2 = 1.959963984540054 ** 2


def test_the_iqm_is_the_mean_of_the_middle_half():
    assert stats.iqm(range(1, 11)) == 5.5                           # 10 seeds: cut 2 each end, mean of 3..8
    assert stats.iqm([0, 0, 1, 2, 3, 4, 5, 6, 100, 100]) == 3.5      # the outliers are cut, whatever they are
    assert stats.iqm([1, 2, 4, 8, 100]) == pytest.approx(14 / 3)    # 5 seeds: cut 1 each end, mean of 2, 4, 8
    assert stats.iqm([1, 2, 6]) == 3.0                              # 3 seeds: int(3/4) = 0 cut, the mean
    assert stats.iqm([-170.5]) == -170.5
    # column by column, over the numbers only (a seed that did not evaluate there is NaN)
    columns = stats.iqm_columns([[1.0, np.nan], [2.0, 5.0], [3.0, np.nan], [4.0, np.nan]])
    assert columns.tolist() == [2.5, 5.0]


@needs_rliable
def test_the_iqm_is_rliables():
    from rliable import metrics

    scores = np.random.default_rng(3).normal(size=10)
    assert stats.iqm(scores) == pytest.approx(metrics.aggregate_iqm(scores[:, None]))
    assert stats.iqm_ci([5.0] * 4) == (5.0, 5.0, 5.0)
    # three seeds: the mean, and the interval is [min, max] (each extreme drawn three times: 1/27 > 2.5%)
    assert stats.iqm_ci([470.0, 499.0, 500.0]) == (pytest.approx(489.6667, abs=1e-4), 470.0, 500.0)
    low, high = stats.iqm_ci(range(1, 11))[1:]
    assert 2.5 < low < 5.5 < high < 8.5  # inside the range of the means of resamples, around the IQM


def test_success_is_the_final_test_at_or_above_the_threshold_with_a_wilson_interval():
    s = stats.success([475.0, 474.9, 500.0], 475)
    assert (s.succeeded, s.seeds) == (2, 3) and s.fraction == pytest.approx(2 / 3)  # at the threshold counts
    assert stats.wilson(10, 10) == (pytest.approx(10 / (10 + Z2)), pytest.approx(1.0))  # 0.722 to 1
    assert stats.wilson(0, 10) == (0.0, pytest.approx(Z2 / (10 + Z2)))                 # 0 to 0.278
    low, high = stats.wilson(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)                          # symmetric around 0.5
    assert stats.wilson(0, 0) is None


def test_steps_to_threshold_is_the_first_evaluation_at_or_above_it_and_its_median_over_the_seeds_that_got_there():
    curve = [[2500, 470.0, 1.0], [5000, 475.0, 2.0], [7500, 480.0, 3.0]]
    assert first_hit(curve, 475) == (5000, 2.0)
    assert first_hit(curve, 481) is None
    assert first_hit([[2500, 400.0], [5000, 480.0]], 475) == (5000, None)  # older files: no seconds
    reach = stats.reach([curve, [[20000, 500.0, 9.0]], [[1000, 475.0, 0.5]], [[1000, 0.0, 0.1]], []], 475)
    # hits at 5,000, 20,000 and 1,000 steps (2.0, 9.0, 0.5 s); the fourth never; the fifth failed (no curve)
    assert (reach.reached, reach.seeds, reach.steps, reach.seconds) == (3, 5, 5000.0, 2.0)
    even = stats.reach([curve, [[20000, 500.0, 9.0]]], 475)
    assert (even.steps, even.seconds) == (12500.0, 5.5)  # two seeds: the mean of the middle two
    old = stats.reach([[[5000, 480.0]], curve], 475)
    assert old.steps == 5000.0 and old.seconds is None and not old.recorded  # one seed recorded no seconds


def test_the_probability_of_improvement_is_the_share_of_pairs_ours_wins():
    assert stats.probability_of_improvement([3.0, 5.0, 6.0], [2.0, 4.0]) == pytest.approx(5 / 6)
    assert stats.probability_of_improvement([1.0, 3.0], [2.0, 2.0]) == 0.5
    assert stats.probability_of_improvement([2.0], [2.0]) == 0.5  # a tie counts half
    assert stats.probability_of_improvement([1.0], [2.0, 3.0]) == 0.0


@needs_rliable
def test_the_probability_of_improvement_counts_the_pairs_ours_wins():
    from rliable import metrics

    ours, theirs = np.array([174.3, 113.0, 153.8, 120.0]), np.array([69.9, 120.0, 160.0])
    assert stats.probability_of_improvement(ours, theirs) == pytest.approx(
        metrics.probability_of_improvement(ours[:, None], theirs[:, None]))  # ties (120 = 120) as rliable counts
    assert stats.improvement([3.0, 4.0, 5.0], [0.0, 1.0, 2.0]) == (1.0, 1.0, 1.0)  # every pair
    p, low, high = stats.improvement([3.0, 5.0, 6.0], [2.0, 4.0])
    assert p == pytest.approx(5 / 6)  # 3 > 2; 5 > 2, 4; 6 > 2, 4: five pairs of six
    assert 0.0 <= low <= p <= high <= 1.0
    assert stats.improvement([1.0, 2.0], [1.0, 2.0])[0] == 0.5  # the same scores: even odds
    assert stats.improvement([1.0, 3.0], [2.0, 2.0])[0] == 0.5  # ties across pairs: two wins of four


@needs_rliable
def test_a_performance_profile_is_the_fraction_of_runs_above_each_score():
    (fraction, low, high), = stats.profiles({"a": [470.0, 499.0, 500.0]}, [0.0, 480.0, 499.5, 500.0]).values()
    assert fraction.tolist() == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])
    assert (low <= fraction).all() and (fraction <= high).all()


def test_seed_lists_read_as_ranges():
    assert provenance.seeds_text([101, 102, 103, 105]) == "101-103, 105"
    assert provenance.seeds_text([103, 101, 102]) == "101-103"
    assert provenance.seeds_text([101, 102]) == "101, 102" and provenance.seeds_text([7]) == "7"
    assert provenance.seeds_text(range(101, 111)) == "101-110"


def result(seed, commit, part_dirty=False, cpu="AMD EPYC"):
    return dict(seed=seed, commit=commit, dirty=part_dirty, part_dirty=part_dirty,
                machine=dict(cpu=cpu, cores=2, torch="2.13.0+cpu", python="3.11.7"))


def test_the_header_says_in_one_line_what_ran_not_every_hash():
    one = [result(101, "a" * 40), result(102, "a" * 40), result(103, "a" * 40)]
    assert provenance.header("python benchmarks/run.py full --part part9 --update-docs", one, range(101, 111)) == (
        "Ran `python benchmarks/run.py full --part part9 --update-docs`: seeds 101-103 (of the 101-110 the suite "
        "lists) on AMD EPYC, 2 cores, torch 2.13.0+cpu, Python 3.11.7; code at commit `aaaaaaaaaa`.")
    eight = [result(100 + k, f"{k}" * 40, part_dirty=k == 3, cpu="AMD EPYC" if k < 6 else "Intel Xeon")
             for k in range(1, 9)] + [result(109, "1" * 40)]
    line = provenance.header("python benchmarks/run.py full --update-docs", eight, range(101, 111))
    assert "\n" not in line and line.count("`") == 4  # the command and one commit, not eight
    assert ("code at 8 commits (the most runs, 2 of 9, at `1111111111`; each results file names its own), 1 of 9 "
            "runs with uncommitted changes in this part or benchmarks/.") in line
    assert "seeds 101-109 (of the 101-110 the suite lists) on AMD EPYC and Intel Xeon (2 cores" in line
    assert len(line) < 400
