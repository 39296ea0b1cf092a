"""The math of Part 2 against values worked out by hand."""
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from agent import Agent, td_target
from memory import ReplayMemory
from networks import LSTMQNetwork, QNetwork
from train import get_config
from wrappers import PENDULUM_MIN_REWARD, DiscretePendulum, HistoryWrapper, gaussian_actions, make_env


# ---------- the TD target ----------

def test_td_target_by_hand():
    rewards = torch.tensor([1.0, -0.5, 0.0])
    next_q = torch.tensor([[2.0, 5.0], [1.0, -1.0], [3.0, 4.0]])
    # transition 0 ongoing, 1 terminated, 2 truncated by the time limit (stored as not terminated)
    terminated = torch.tensor([0.0, 1.0, 0.0])
    y = td_target(rewards, next_q, terminated, 0.9)
    # 1 + 0.9 * 5 = 5.5;  -0.5 (no bootstrap);  0 + 0.9 * 4 = 3.6 (truncation bootstraps)
    torch.testing.assert_close(y, torch.tensor([5.5, -0.5, 3.6]))


def test_double_dqn_target_by_hand():
    rewards = torch.tensor([1.0, 1.0])
    next_q_target = torch.tensor([[2.0, 5.0], [1.0, 3.0]])
    next_q_online = torch.tensor([[9.0, 0.0], [0.0, 1.0]])  # online picks action 0, then action 1
    y = td_target(rewards, next_q_target, torch.tensor([0.0, 1.0]), 0.5, next_q_online=next_q_online)
    # 1 + 0.5 * Q_target(s', 0) = 1 + 0.5 * 2 = 2;  terminated: 1
    torch.testing.assert_close(y, torch.tensor([2.0, 1.0]))


def test_n_step_discounts_per_transition():
    # a 3-step target of a transition flushed at the end of an episode after 2 steps: discount gamma^2
    y = td_target(torch.tensor([1.5, 1.5]), torch.tensor([[2.0], [2.0]]), torch.tensor([0.0, 1.0]),
                  torch.tensor([0.25, 0.25]))
    torch.testing.assert_close(y, torch.tensor([1.5 + 0.25 * 2.0, 1.5]))


def n_step_agent(n):
    config = get_config(["--env-id", "CartPole-v1", "--n-steps", str(n), "--gamma", "0.5", "--buffer-size", "64",
                         "--batch-size", "1", "--hidden", "4"])
    return Agent(config, (1,), 2)


def test_n_step_transitions_by_hand():
    agent = n_step_agent(3)
    obs = [np.array([float(i)], dtype=np.float32) for i in range(6)]
    # rewards 1, 2, 4, 8; the episode is truncated after the 4th step
    for t, r in enumerate([1.0, 2.0, 4.0]):
        agent.push(obs[t], t % 2, r, obs[t + 1], terminated=False, episode_over=False)
    m = agent.memory
    assert len(m) == 1                                                 # first 3-step transition complete
    assert m.obs[0, 0] == 0 and m.next_obs[0, 0] == 3
    assert m.rewards[0] == 1 + 0.5 * 2 + 0.25 * 4 and m.discounts[0] == 0.125
    agent.push(obs[3], 1, 8.0, obs[4], terminated=False, episode_over=True)   # truncated: flush the rest
    assert len(m) == 4 and not agent.pending
    # s1: 2 + 0.5*4 + 0.25*8 over 3 steps; s2: 4 + 0.5*8 over 2; s3: 8 over 1; all bootstrap from s4
    assert m.rewards[1:4].tolist() == [6.0, 8.0, 8.0]
    assert m.discounts[1:4].tolist() == [0.125, 0.25, 0.5]
    assert m.next_obs[1:4, 0].tolist() == [4.0, 4.0, 4.0] and m.terminated[:4].tolist() == [0, 0, 0, 0]


def test_n_step_terminated_episode_is_not_bootstrapped():
    agent = n_step_agent(3)
    agent.push(np.zeros(1), 0, 1.0, np.ones(1), terminated=False, episode_over=False)
    agent.push(np.ones(1), 1, 2.0, np.full(1, 2.0), terminated=True, episode_over=True)
    m = agent.memory
    assert m.rewards[:2].tolist() == [2.0, 2.0] and m.terminated[:2].tolist() == [1.0, 1.0]


def test_one_step_is_classic_dqn():
    agent = n_step_agent(1)
    agent.push(np.zeros(1), 1, 3.0, np.ones(1), terminated=False, episode_over=False)
    assert len(agent.memory) == 1 and agent.memory.rewards[0] == 3.0 and agent.memory.discounts[0] == 0.5


def test_learn_moves_q_towards_the_target():
    config = get_config(["--env-id", "CartPole-v1", "--batch-size", "4", "--buffer-size", "4", "--hidden", "8",
                         "--learning-rate", "0.01", "--no-double", "--target-update-interval", "1000"])
    agent = Agent(config, (4,), 2)
    obs = np.ones(4, dtype=np.float32)
    for _ in range(4):
        agent.memory.push(obs, 0, 1.0, obs, True, 0.99)  # terminated: target is exactly the reward, 1
    for _ in range(300):
        agent.learn(1)
    with torch.no_grad():
        assert agent.q_network(torch.from_numpy(obs)[None])[0, 0].item() == pytest.approx(1.0, abs=0.05)


# ---------- the target network ----------

def test_polyak_and_hard_target_updates():
    config = get_config(["--env-id", "CartPole-v1", "--hidden", "4", "--tau", "0.25", "--buffer-size", "128"])
    agent = Agent(config, (4,), 2)
    online, target = agent.q_network.net[0].weight, agent.target_network.net[0].weight
    with torch.no_grad():
        online.fill_(1.0)
        target.fill_(0.0)
    agent.update_target()
    torch.testing.assert_close(target, torch.full_like(target, 0.25))   # 0.25 * 1 + 0.75 * 0
    agent.config.tau = 1.0
    agent.update_target()
    torch.testing.assert_close(target, online)                          # hard copy


# ---------- replay memory ----------

def test_memory_wraps_around_and_keeps_terminated_apart():
    memory = ReplayMemory(3, (2,), seed=0)
    for i in range(5):
        memory.push(np.full(2, i), i, float(i), np.full(2, i + 1), terminated=(i == 3), discount=0.9)
    assert len(memory) == 3 and memory.position == 2
    assert memory.actions.tolist() == [3, 4, 2]           # 3 and 4 overwrote the two oldest
    assert memory.terminated.tolist() == [1.0, 0.0, 0.0]
    assert memory.next_obs[1].tolist() == [5.0, 5.0]


def test_memory_sample_shapes_dtypes_and_no_replacement():
    memory = ReplayMemory(100, (4, 3), seed=0)
    for i in range(10):
        memory.push(np.full((4, 3), i), i % 2, -1.0, np.full((4, 3), i + 1), False, 0.9)
    obs, actions, rewards, next_obs, terminated, discounts = memory.sample(10)
    assert obs.shape == (10, 4, 3) and next_obs.shape == (10, 4, 3)
    assert actions.shape == rewards.shape == terminated.shape == discounts.shape == (10,)
    assert obs.dtype == rewards.dtype == terminated.dtype == discounts.dtype == torch.float32
    assert actions.dtype == torch.int64
    assert sorted(obs[:, 0, 0].tolist()) == list(range(10))   # all 10 distinct: without replacement
    torch.testing.assert_close(next_obs[:, 0, 0], obs[:, 0, 0] + 1)
    with pytest.raises(ValueError):
        memory.sample(11)


# ---------- the wrapper ----------

def test_action_set_and_scaling():
    env = make_env("Pendulum-v1", discrete_actions=11)
    assert env.action_space.n == 11
    torques = env.torques
    assert torques[0] == -2.0 and torques[5] == 0.0 and torques[10] == 2.0
    np.testing.assert_allclose(torques, -torques[::-1])
    assert np.all(np.diff(torques) > 0) and np.all(np.diff(np.diff(torques[5:])) > 0)  # denser near 0
    np.testing.assert_allclose(gaussian_actions(11, 2.0, 5.0), np.linspace(-2, 2, 11), atol=0.02)

    obs, _ = env.reset(seed=0)
    raw = env.unwrapped.state
    np.testing.assert_allclose(obs, [math.cos(raw[0]), math.sin(raw[0]), raw[1] / 8.0], rtol=1e-5)
    assert env.observation_space.low.min() == -1 and env.observation_space.high.max() == 1
    obs, reward, _, _, info = env.step(0)
    assert PENDULUM_MIN_REWARD == pytest.approx(-16.2736, abs=1e-4)
    assert reward == pytest.approx(info["raw_reward"] / 16.2736044, rel=1e-6) and -1 <= reward <= 0
    # the applied torque is the discrete one: the env's last_u records it
    assert env.unwrapped.last_u == pytest.approx(-2.0)


def test_worst_state_gives_reward_minus_one():
    env = DiscretePendulum(gym.make("Pendulum-v1"), 3, reward_scale=-PENDULUM_MIN_REWARD)
    env.reset(seed=0)
    env.unwrapped.state = np.array([math.pi, 8.0])
    _, reward, _, _, _ = env.step(0)  # torque -2: cost pi^2 + 0.1 * 64 + 0.001 * 4
    assert reward == pytest.approx(-1.0, abs=1e-6)


def test_episode_length_is_configurable():
    env = make_env("Pendulum-v1", discrete_actions=3, max_episode_steps=7)
    env.reset(seed=0)
    for step in range(7):
        _, _, terminated, truncated, _ = env.step(1)
    assert truncated and not terminated


# ---------- the LSTM history ----------

def test_history_after_reset_and_steps():
    env = HistoryWrapper(make_env("CartPole-v1"), history=3)  # rows: 4 obs values + 2 one-hot action values
    obs0, _ = env.reset(seed=0)
    assert obs0.shape == (3, 6) and obs0.dtype == np.float32
    assert np.all(obs0[:2] == 0)                          # nothing before the first observation
    first = env.unwrapped.state.astype(np.float32)
    np.testing.assert_allclose(obs0[2, :4], first)
    assert obs0[2, 4:].tolist() == [0.0, 0.0]             # no previous action yet
    obs1, *_ = env.step(1)
    obs2, *_ = env.step(0)
    np.testing.assert_allclose(obs2[1], obs1[2])          # rows shift up by one
    np.testing.assert_allclose(obs2[0], obs0[2])
    assert obs1[2, 4:].tolist() == [0.0, 1.0] and obs2[2, 4:].tolist() == [1.0, 0.0]
    np.testing.assert_allclose(obs2[2, :4], env.unwrapped.state.astype(np.float32))
    again, _ = env.reset(seed=1)
    assert np.all(again[:2] == 0)                         # a new episode forgets the old one


def test_network_shapes():
    assert QNetwork(3, 11, [64, 64])(torch.zeros(5, 3)).shape == (5, 11)
    assert LSTMQNetwork(14, 11, [32, 16])(torch.zeros(5, 4, 14)).shape == (5, 11)


def test_the_comparison_curves_iqm_by_hand():
    from compare import iqm, iqm_band

    # eight seeds, sorted -50, 1, 2, 3, 4, 5, 6, 100: the middle half is (2 + 3 + 4 + 5) / 4 = 3.5, whatever the
    # outliers
    values = np.array([[100.0], [1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [-50.0]])
    assert iqm(values)[0] == 3.5
    assert iqm(np.array([[1.0], [2.0], [9.0]]))[0] == 4.0   # three seeds: nothing cut, the mean
    low, high = iqm_band(values)
    assert low[0] <= 3.5 <= high[0]
