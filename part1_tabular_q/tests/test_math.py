"""The math of Part 1 against values worked out by hand."""
import math

import gymnasium as gym
import numpy as np
import pytest

from agent import QLearningAgent
from linear_q import Features, LinearConfig, LinearQAgent
from plumbing import UserError
from wrappers import DiscreteActions, DiscretizeObservation, gaussian_actions, make_env


# ---------- state bins ----------

def test_bin_edges_and_last_bin():
    # Box [0, 10] with 5 bins: width 2, bins [0,2) [2,4) [4,6) [6,8) [8,10]
    env = DiscretizeObservation(gym.make("MountainCar-v0"), 5)
    env.low, env.bin_width = np.array([0.0]), np.array([2.0])
    env.strides = np.array([1])
    assert [env.observation(np.array([x])) for x in (0.0, 1.99, 2.0, 5.9, 6.0, 9.99)] == [0, 0, 1, 2, 3, 4]
    assert env.observation(np.array([10.0])) == 4   # the upper edge lands in the last bin
    assert env.observation(np.array([12.0])) == 4   # above the bound: clipped to the last bin
    assert env.observation(np.array([-1.0])) == 0   # below the bound: the first bin


def test_pendulum_state_index_is_row_major():
    env = make_env("Pendulum-v1", nvec_s=10)
    assert env.observation_space.n == 1000
    discretizer = env.env  # DiscreteActions(DiscretizeObservation(...))
    assert isinstance(discretizer, DiscretizeObservation)
    # cos=-1 -> bin 0, sin=0 -> bin 5 ([0, 0.2) is bin 5 of [-1, 1]), speed=8 -> last bin 9
    assert list(discretizer.bins(np.array([-1.0, 0.0, 8.0]))) == [0, 5, 9]
    assert discretizer.observation(np.array([-1.0, 0.0, 8.0])) == 0 * 100 + 5 * 10 + 9
    assert discretizer.observation(np.array([1.0, 1.0, 8.0])) == 999


def test_reset_accepts_seed_and_options():
    env = make_env("Pendulum-v1")
    first, _ = env.reset(seed=3, options={"x_init": 0.1, "y_init": 0.1})
    again, _ = env.reset(seed=3, options={"x_init": 0.1, "y_init": 0.1})
    assert first == again and 0 <= first < 1000


# ---------- Gaussian-spaced actions ----------

def test_action_set_by_hand():
    # 5 actions sit at the quantiles 0, 1/4, 1/2, 3/4, 1 of the kernel exp(-u^2 / (2 * 0.5^2)) on [-1, 1].
    # Its CDF is F(u) = (erf(u * sqrt 2) + erf(sqrt 2)) / (2 erf(sqrt 2)); F(0.3196) = 0.75 by hand.
    a = gaussian_actions(5, 2.0, 0.5)
    assert a[[0, 2, 4]].tolist() == [-2.0, 0.0, 2.0]
    u = a[3] / 2.0
    cdf = (math.erf(u * math.sqrt(2)) + math.erf(math.sqrt(2))) / (2 * math.erf(math.sqrt(2)))
    assert cdf == pytest.approx(0.75, abs=1e-4)
    assert a[3] == pytest.approx(2 * 0.3196, abs=1e-3) and a[1] == -a[3]


def test_larger_sigma_spreads_the_actions_more_evenly():
    narrow, wide = gaussian_actions(11, 2.0, 0.3), gaussian_actions(11, 2.0, 5.0)
    assert narrow[6] < wide[6]                                       # first step off zero is finer
    np.testing.assert_allclose(wide, np.linspace(-2, 2, 11), atol=0.02)  # nearly uniform


@pytest.mark.parametrize("n,sigma", [(3, 0.5), (11, 0.5), (11, 0.3), (21, 1.0)])
def test_action_set_properties(n, sigma):
    a = gaussian_actions(n, 2.0, sigma)
    assert a.shape == (n,) and a.dtype == np.float32
    np.testing.assert_allclose(a, -a[::-1])                      # symmetric
    assert np.all(np.diff(a) > 0)                                # strictly increasing
    assert a[n // 2] == 0.0                                      # zero included, exactly
    assert a[0] == -2.0 and a[-1] == 2.0                         # maximum torque at both ends
    gaps = np.diff(a[n // 2:])
    assert np.all(np.diff(gaps) > -1e-6)                         # denser near zero: gaps grow outwards


@pytest.mark.parametrize("n", [4, 1, 0])
def test_action_count_must_be_odd(n):
    with pytest.raises(UserError, match="odd"):
        gaussian_actions(n, 2.0)


def test_action_wrapper_applies_the_torque():
    env = DiscreteActions(gym.make("Pendulum-v1"), 11)
    assert env.action_space.n == 11
    assert env.action(0)[0] == -2.0 and env.action(5)[0] == 0.0 and env.action(10)[0] == 2.0


# ---------- the Q-update ----------

def make_agent(**kw):
    agent = QLearningAgent(3, 2, alpha=0.5, gamma=0.9, **kw)
    agent.q_table[:] = [[1.0, 2.0], [4.0, 3.0], [0.0, 0.0]]
    return agent


def test_update_terminated_does_not_bootstrap():
    agent = make_agent()
    td = agent.update(state=0, action=1, reward=1.0, next_state=1, terminated=True)
    # target = 1; td = 1 - 2 = -1; Q = 2 + 0.5 * -1 = 1.5
    assert td == pytest.approx(-1.0) and agent.q_table[0, 1] == pytest.approx(1.5)


def test_update_not_terminated_bootstraps():
    agent = make_agent()
    # the math only; that a truncated episode arrives here as terminated=False is checked through the
    # training loop in test_rules.py
    td = agent.update(state=0, action=1, reward=1.0, next_state=1, terminated=False)
    # target = 1 + 0.9 * max(4, 3) = 4.6; td = 2.6; Q = 2 + 0.5 * 2.6 = 3.3
    assert td == pytest.approx(2.6) and agent.q_table[0, 1] == pytest.approx(3.3)
    assert agent.q_table[1].tolist() == [4.0, 3.0]  # only Q(s, a) moves


def test_decay_epsilon_multiplies_down_to_the_floor():
    agent = make_agent(epsilon=1.0, epsilon_min=0.5, epsilon_decay=0.9)
    agent.decay_epsilon()
    assert agent.epsilon == pytest.approx(0.9)
    for _ in range(20):
        agent.decay_epsilon()
    assert agent.epsilon == 0.5


def test_ties_are_broken_at_random():
    agent = QLearningAgent(1, 4, seed=0)
    agent.q_table[0] = [1.0, 3.0, 3.0, 3.0]
    picks = [agent.greedy_action(0) for _ in range(3000)]
    counts = np.bincount(picks, minlength=4)
    assert counts[0] == 0                                   # never a non-maximal action
    assert all(900 < c < 1100 for c in counts[1:])          # each tied action about a third of the time
    agent.q_table[0] = [1.0, 3.0, 5.0, 3.0]
    assert {agent.greedy_action(0) for _ in range(50)} == {2}  # a unique maximum is always taken


def test_greedy_never_explores():
    agent = QLearningAgent(1, 3, epsilon=1.0, seed=0)
    agent.q_table[0] = [0.0, 1.0, 0.0]
    assert {agent.get_action(0, greedy=True) for _ in range(100)} == {1}
    assert {agent.get_action(0) for _ in range(300)} == {0, 1, 2}


# ---------- linear Q ----------

def test_linear_update_by_hand():
    agent = LinearQAgent(2, 2, alpha=0.5, gamma=0.9)
    agent.q_table[:] = [[1.0, 0.0], [0.0, 2.0]]            # W, shape (features, actions)
    phi, next_phi = np.array([1.0, 1.0]), np.array([0.0, 1.0])
    assert agent.q_values(phi) == [1.0, 2.0]
    td = agent.update(phi, 0, -1.0, next_phi, terminated=False)
    # target = -1 + 0.9 * max(0, 2) = 0.8; Q(s, 0) = 1; td = -0.2; W[:, 0] += 0.5 * -0.2 * [1, 1]
    assert td == pytest.approx(-0.2)
    np.testing.assert_allclose(agent.q_table[:, 0], [0.9, -0.1])
    np.testing.assert_allclose(agent.q_table[:, 1], [0.0, 2.0])


def test_a_table_is_a_linear_model_over_one_hot_features():
    table, linear = QLearningAgent(3, 2, alpha=0.5, gamma=0.9), LinearQAgent(3, 2, alpha=0.5, gamma=0.9)
    one_hot = np.eye(3)
    for s, a, r, s2, done in [(0, 1, 1.0, 1, False), (1, 0, -1.0, 2, False), (2, 1, 5.0, 0, True), (0, 1, 0.0, 2, False)]:
        table.update(s, a, r, s2, done)
        linear.update(one_hot[s], a, r, one_hot[s2], done)
    np.testing.assert_allclose(table.q_table, linear.q_table)


def test_features():
    space = gym.make("MountainCar-v0").observation_space
    rbf = Features(space, LinearConfig(features="rbf", n_centers=5))
    phi = rbf(space.low)
    assert phi.shape == (25,) and phi.sum() == pytest.approx(1.0) and phi.argmax() == 0  # nearest center: the corner
    fourier = Features(space, LinearConfig(features="fourier", n_features=64, seed=3))
    again = Features(space, LinearConfig(features="fourier", n_features=64, seed=3))
    x = np.array([-0.5, 0.01])
    assert fourier(x).shape == (64,) and np.array_equal(fourier(x), again(x))  # rebuilt identically from config
    assert np.all(np.abs(fourier(x)) <= math.sqrt(2 / 64) + 1e-12)
