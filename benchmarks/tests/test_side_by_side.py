"""side_by_side.py: the pairs, the turn-taking, and its bad-input contract (without SB3 or any training)."""
import importlib.util
import signal
import subprocess
import sys
import time

import pytest

import side_by_side
from side_by_side import PAIRS, Pair, first_hit, matched_args

SCRIPT = str(side_by_side.REPO / "benchmarks" / "side_by_side.py")


def test_registering_the_pairs_imports_no_part():
    code = "import sys; sys.path.insert(0, 'benchmarks'); import side_by_side; print(sorted(side_by_side.PAIRS)); " \
           "print('train' in sys.modules, 'torch' in sys.modules, 'stable_baselines3' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=side_by_side.REPO, capture_output=True, text=True)
    assert done.stdout.splitlines() == ["['a2c_cartpole', 'dqn_cartpole', 'sac_pendulum', 'sac_pendulum_256']", "False False False"]


def test_the_pairs_compare_like_with_like():
    assert {name: (p.part, p.env_id, p.threshold, p.sb3_algo) for name, p in PAIRS.items()} == {
        "dqn_cartpole": ("part2_dqn", "CartPole-v1", 475.0, "dqn"),
        "a2c_cartpole": ("part4_actor_critic", "CartPole-v1", 500.0, "a2c"),
        "sac_pendulum": ("part5_sac", "Pendulum-v1", -200.0, "sac"),
        "sac_pendulum_256": ("part5_sac", "Pendulum-v1", -200.0, "sac")}
    assert matched_args(PAIRS["sac_pendulum"]) == ["--batch-size", "256"]
    assert matched_args(PAIRS["sac_pendulum_256"]) == ["--hidden", "256", "256", "--batch-size", "256"]


def test_a2c_gets_our_envs_rollout_and_network():
    class Config:
        num_envs, n_steps, hidden = 8, 5, [64, 64]

    zoo = {("a2c", "CartPole-v1"): dict(n=500_000, n_envs=8, kw=dict(ent_coef=0.0))}
    settings, n_envs = PAIRS["a2c_cartpole"].sb3_settings(Config(), zoo)
    assert n_envs == 8 and settings == dict(ent_coef=0.0, n_steps=5, policy_kwargs=dict(net_arch=dict(pi=[64, 64], vf=[64, 64])))
    Config.num_envs, Config.n_steps, Config.hidden = 4, 16, [32]
    settings, n_envs = PAIRS["a2c_cartpole"].sb3_settings(Config(), zoo)
    assert n_envs == 4 and settings["n_steps"] == 16 and settings["policy_kwargs"]["net_arch"]["vf"] == [32]


def test_the_two_sides_take_turns_at_every_evaluation():
    """Through side_by_side(): neither side runs two segments in a row, and each clock is its own."""
    events = []

    def player(name, other, segments):
        def play(pair, seed, baton, out, _):
            curve = []
            baton.wait(name)
            for k in range(1, segments + 1):
                events.append((name, k))  # a segment of training
                curve.append([k * 100, float(k), 0.5 * k])
                if k < segments:
                    baton.pass_to(other)
                    baton.wait(name)
            out.update(steps=segments * 100, train_seconds=0.5 * segments, curve=curve,
                       final_test=lambda: (float(segments), 0.0))
        return play

    pair = Pair("part2_dqn", "CartPole-v1", 2.0, "dqn", [])
    result = side_by_side.side_by_side(pair, 1, players=(player("ours", "sb3", 3), player("sb3", "ours", 3)))
    assert events == [("ours", 1), ("sb3", 1), ("ours", 2), ("sb3", 2), ("ours", 3), ("sb3", 3)]
    assert result["ours"]["steps_per_second"] == 200.0 and result["ours"]["hit"] == (200, 1.0)
    assert result["sb3"]["final"] == dict(mean=3.0, std=0.0, episodes=side_by_side.FINAL_EPISODES)


def test_a_side_that_fails_frees_the_other_and_the_error_comes_out():
    def ours(pair, seed, baton, out, _):
        baton.wait("ours")
        raise RuntimeError("ours broke")

    def sb3(pair, seed, baton, out, _):
        baton.wait("sb3")  # returns once ours gave up the game
        out.update(steps=1, train_seconds=1.0, curve=[], final_test=lambda: (0.0, 0.0))

    try:
        side_by_side.side_by_side(PAIRS["dqn_cartpole"], 1, players=(ours, sb3))
    except RuntimeError as exc:
        assert str(exc) == "ours broke"
    else:
        raise AssertionError("the failure of one side was swallowed")


def test_first_hit_reads_step_mean_seconds_rows():
    assert first_hit([[100, 1.0, 0.5], [200, 3.0, 1.5]], 2.0) == (200, 1.5)
    assert first_hit([[100, 1.0, 0.5]], 2.0) is None


def test_a_pair_whose_part_is_missing_is_an_error():
    with pytest.raises(side_by_side.PairError, match="part9_missing/train.py does not exist"):
        side_by_side.our_config(Pair("part9_missing", "CartPole-v1", 500.0, "a2c", []), 1)


@pytest.mark.skipif(importlib.util.find_spec("stable_baselines3") is not None, reason="this Python has SB3")
def test_bad_input_is_one_error_line():
    # the tests' Python has no SB3: one line, exit 2, before any part is imported
    done = subprocess.run([sys.executable, SCRIPT, "sac_pendulum", "--seeds", "1"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, SCRIPT, "no_such_pair"], capture_output=True, text=True)
    assert done.returncode == 2 and "invalid choice" in done.stderr


# side_by_side.py's command line with two players that never finish: the stand-ins for two long trainings.
FOREVER = r'''
import sys, time
sys.path.insert(0, sys.argv[1])
import side_by_side as s
def forever(pair, seed, baton, out, config_and_train):
    open(sys.argv[2], "a").close()
    while True:
        time.sleep(0.05)
real = s.side_by_side
s.side_by_side = lambda pair, seed, total_steps: real(pair, seed, total_steps, players=(forever, forever))
s.cli(["dqn_cartpole", "--seeds", "1"])
'''


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_a_stopped_measurement_exits_130_in_one_line_without_waiting_for_the_trainings(tmp_path, sig):
    started = tmp_path / "started"
    proc = subprocess.Popen([sys.executable, "-c", FOREVER, str(side_by_side.REPO / "benchmarks"), str(started)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the players never started"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.startswith("stopped:") and err.count("\n") == 1 and "Traceback" not in err
