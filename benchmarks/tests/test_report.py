"""The benchmark's verdicts and ratios: a claim marked ✅ must really hold."""
import sys

import numpy as np
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from run import comparison, curves_on_grid, job_rows, merge_repeat, passes, schedule, side_by_side_note  # noqa: E402
from suites import SUITES, CommandJob, Job, PeerJob, SideBySideJob  # noqa: E402


def result(**kw):
    base = dict(label="X", seed=1, steps=50_000, steps_to_threshold=15_000, seconds_to_threshold=7.0,
                steps_per_second=2000.0, final=dict(mean=500.0, std=0.0, episodes=20, success_rate=0.0),
                curve=[(2500, 100.0), (50_000, 500.0)])
    return base | kw


def job(**kw):
    return Job("j", "part2_dqn", "train.py", [], [1], "X", threshold=475, final_episodes=20, **kw)


def test_every_claim_is_checked():
    assert passes(job(), result()) is None  # no claim, no mark
    assert passes(job(max_steps=20_000, last_target=500), result()) is True
    assert passes(job(max_steps=10_000), result()) is False
    assert passes(job(max_steps=20_000), result(steps_to_threshold=None)) is False   # never reached
    assert passes(job(last_target=500), result(curve=[(50_000, 499.0)])) is False
    assert passes(job(target=-170), result(final=dict(mean=-171.0, std=1, episodes=100))) is False
    speed = job(speed_target=0.7)
    assert passes(speed, result(raw_steps_per_second=2800.0)) is True
    assert passes(speed, result(raw_steps_per_second=3000.0)) is False
    collect = job(speed_target=0.5, speed_key="collect_steps_per_second")
    assert passes(collect, result(compared_steps_per_second=900.0, raw_steps_per_second=2000.0)) is False


def test_rows_show_the_verdict():
    (row,) = job_rows(job(target=400), [result()])
    assert row.endswith("✅ |") and "15,000" in row and "500.0" in row


def test_peer_comparison_is_per_seed():
    ours = [result(seed=1, steps_per_second=2000.0), result(seed=2, steps_per_second=1800.0)]
    peers = [result(seed=1, steps_per_second=700.0, seconds_to_threshold=20.0),
             result(seed=2, steps_per_second=600.0, seconds_to_threshold=None)]
    text = comparison(job(), ours, peers)[-1]
    assert "2.9x SB3's (per seed: 2.86x, 3.00x)" in text
    assert "seed 2: 7.0 s vs — s" in text
    assert "Claims" not in text  # the job claims nothing against the peer


def test_peer_claims_hold_on_every_seed_or_fail():
    ours = [result(seed=1, steps_per_second=2000.0), result(seed=2, steps_per_second=1800.0)]
    peers = [result(seed=1, steps_per_second=1000.0, seconds_to_threshold=20.0),
             result(seed=2, steps_per_second=900.0, seconds_to_threshold=None)]   # never reached: slower
    text = comparison(job(peer_speed_target=2.0), ours, peers)[-1]
    assert "steps per second ✅" in text and "time to 475 ✅" in text
    peers[1]["steps_per_second"] = 901.0                                          # 1.998x on seed 2
    assert "steps per second ❌" in comparison(job(peer_speed_target=2.0), ours, peers)[-1]
    peers[0]["seconds_to_threshold"] = 7.0                                        # a tie is not less time
    assert "time to 475 ❌" in comparison(job(peer_speed_target=2.0), ours, peers)[-1]


def test_a_job_and_its_peer_alternate_seed_by_seed():
    ours = job(compare_to="p")
    ours.seeds = [1, 2, 3]
    peer = PeerJob("p", "part2_dqn", "dqn", "CartPole-v1", [1, 2, 3, 4], threshold=475, eval_every=2500, label="X")
    other = job()
    order = [(j.name, seed) for j, seed in schedule([other, ours, peer])]
    assert order == [("j", 1), ("j", 1), ("p", 1), ("j", 2), ("p", 2), ("j", 3), ("p", 3), ("p", 4)]


def test_suites_are_well_formed():
    for name, jobs in SUITES.items():
        names = [j.name for j in jobs]
        assert len(names) == len(set(names)), name
        for j in jobs:
            assert isinstance(j, (Job, PeerJob, CommandJob, SideBySideJob))
            assert (Path(__file__).resolve().parents[2] / j.part).is_dir()
            if isinstance(j, Job) and j.compare_to:
                assert j.compare_to in names


def test_repeated_runs_alternate_and_average_their_speed():
    ours = job(compare_to="p", speed_repeats=2)
    peer = PeerJob("p", "part2_dqn", "dqn", "CartPole-v1", [1], threshold=475, eval_every=2500, label="X")
    assert [(j.name, seed) for j, seed in schedule([ours, peer])] == [("j", 1), ("p", 1), ("p", 1), ("j", 1)]
    merged = merge_repeat(result(steps_per_second=3000.0, seconds_to_threshold=3.0),
                          result(steps_per_second=2000.0, seconds_to_threshold=4.0))
    assert merged["steps_per_second"] == 2500.0 and merged["speed_runs"] == [3000.0, 2000.0]
    assert merged["seconds_to_threshold"] == 4.0  # the later run's, whose model is the one kept


def test_side_by_side_claims_hold_on_every_seed_or_fail():
    sbs = SideBySideJob("s", "part2_dqn", [1, 2], "X", threshold=475, peer_speed_target=2.0)
    results = [dict(seed=1, ours=dict(steps_per_second=3300.0, hit=[7500, 2.0]),
                    peer=dict(steps_per_second=1500.0, hit=[40000, 25.0])),
               dict(seed=2, ours=dict(steps_per_second=3000.0, hit=[10000, 2.5]),
                    peer=dict(steps_per_second=1500.0, hit=None))]                      # never reached: slower
    text = side_by_side_note(sbs, results)[-1]
    assert "seed 1: 3,300 vs 1,500 steps/s (2.20x), 2.0 s vs 25.0 s to 475" in text
    assert "steps per second ✅" in text and "time to 475 ✅" in text
    results[1]["peer"]["steps_per_second"] = 1501.0                                    # 1.999x on seed 2
    assert "steps per second ❌" in side_by_side_note(sbs, results)[-1]
    results[0]["ours"]["hit"] = None                                                   # ours never reached
    assert "time to 475 ❌" in side_by_side_note(sbs, results)[-1]
    assert [(j.name, seed) for j, seed in schedule([sbs])] == [("s", 1), ("s", 2)]


def test_curves_of_seeds_evaluated_at_different_steps_share_one_grid():
    steps, values = curves_on_grid([[(10, 0.0), (30, 20.0)], [(20, 10.0), (40, 30.0)]])
    assert steps.tolist() == [10, 20, 30, 40]
    np.testing.assert_array_equal(values, [[0, 10, 20, np.nan], [np.nan, 10, 20, 30]])
