"""The math of Part 5 against values worked out by hand: the tanh-squashed Gaussian, the soft target, the critic."""
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from agent import soft_td_target
from memory import ReplayMemory
from torch.distributions import Normal

from networks import Actor, QNetwork, squashed_log_prob, tanh_log_det_jacobian
from wrappers import RescaleAction


# ---------- the tanh-squashed Gaussian ----------

def test_tanh_log_det_jacobian_by_hand_and_stable():
    u = torch.tensor([0.0, 0.5, -1.0, 3.0])
    naive = torch.log(1 - torch.tanh(u.double()) ** 2).float()  # fine in float64 for small |u|
    torch.testing.assert_close(tanh_log_det_jacobian(u), naive)
    assert tanh_log_det_jacobian(torch.tensor([0.0])).item() == pytest.approx(0.0, abs=1e-7)  # tanh'(0) = 1
    # far in the tail the naive float32 form is log(0) = -inf; 1 - tanh(20)^2 ~ 4 e^-40, its log -40 + log 4
    big = torch.tensor([20.0, -20.0])
    assert torch.isinf(torch.log(1 - torch.tanh(big) ** 2)).all()
    torch.testing.assert_close(tanh_log_det_jacobian(big), torch.full((2,), -40.0 + math.log(4.0)))


def test_squashed_log_prob_at_zero_by_hand():
    # u = 0 with mean 0, std 1: the standard normal density at 0, log(1/sqrt(2 pi)); tanh'(0) = 1 adds nothing
    lp = squashed_log_prob(Normal(torch.zeros(1, 1), torch.ones(1, 1)), torch.zeros(1, 1))
    assert lp.item() == pytest.approx(-0.5 * math.log(2 * math.pi), abs=1e-6)


def test_squashed_log_prob_is_the_change_of_variables_density():
    """log pi(a) of a = tanh(u) equals the log of d/da P(tanh(U) <= a), computed from the Gaussian CDF."""
    mean = torch.tensor([[0.3, -0.2]])
    std = torch.tensor([[0.5, 1.0]])
    u = torch.tensor([[0.1, -1.5]])
    ours = squashed_log_prob(Normal(mean, std), u).item()

    def cdf_of_action(a, m, s):  # P(tanh(U) <= a) = P(U <= atanh(a)) = Phi((atanh(a) - m) / s)
        return 0.5 * (1 + math.erf((math.atanh(a) - m) / (s * math.sqrt(2))))

    by_hand = 0.0
    for a, m, s in zip(torch.tanh(u)[0].tolist(), mean[0].tolist(), std[0].tolist()):
        h = 1e-6
        density = (cdf_of_action(a + h, m, s) - cdf_of_action(a - h, m, s)) / (2 * h)  # independent dimensions
        by_hand += math.log(density)
    assert ours == pytest.approx(by_hand, abs=1e-4)


def test_actor_sample_is_reparameterised_and_in_bounds():
    torch.manual_seed(0)
    actor = Actor(3, 2, (16, 16))
    with torch.no_grad():
        actor.mean.bias.fill_(30.0)  # far beyond tanh's range: actions saturate at the bound, never past it
    actions, log_prob = actor.sample(torch.randn(64, 3))
    assert actions.shape == (64, 2) and log_prob.shape == (64,)
    assert actions.abs().max() <= 1.0 and torch.isfinite(log_prob).all()
    actions.sum().backward()  # the gradient reaches the actor's weights through the sampled action
    assert actor.mean.weight.grad.abs().sum() > 0 or actor.log_std.weight.grad is not None


def test_actor_returns_the_gaussian_over_the_pre_squash_action_with_a_clamped_std():
    torch.manual_seed(0)
    actor = Actor(3, 2, (16, 16))
    with torch.no_grad():
        actor.log_std.bias.fill_(50.0)
    pi = actor(torch.randn(5, 3))
    assert isinstance(pi, Normal) and pi.mean.shape == (5, 2)
    torch.testing.assert_close(pi.stddev, torch.full((5, 2), math.exp(2.0)))  # log_std clamped at 2


# ---------- the soft Bellman target ----------

def test_soft_td_target_by_hand():
    rewards = torch.tensor([1.0, -1.0, 0.5])
    next_q1 = torch.tensor([2.0, 5.0, 1.0])    # Q1_target(s', a')
    next_q2 = torch.tensor([3.0, 4.0, -1.0])   # Q2_target(s', a')   -> min: 2, 4, -1
    next_log_prob = torch.tensor([0.5, -1.0, 2.0])
    # transition 0 ongoing, 1 terminated, 2 truncated by the time limit (stored as not terminated)
    terminated = torch.tensor([0.0, 1.0, 0.0])
    y = soft_td_target(rewards, next_q1, next_q2, next_log_prob, terminated, gamma=0.9, alpha=0.2)
    # 1 + 0.9 * (2 - 0.2 * 0.5) = 2.71;  -1 (no bootstrap);  0.5 + 0.9 * (-1 - 0.2 * 2) = -0.76
    torch.testing.assert_close(y, torch.tensor([2.71, -1.0, -0.76]))


# ---------- the critic ----------

def test_q_network_is_one_mlp_of_the_observation_and_the_action():
    torch.manual_seed(0)
    critic = QNetwork(3, 2, (16, 16))
    obs, actions = torch.randn(32, 3), torch.rand(32, 2) * 2 - 1
    q = critic(obs, actions)
    assert q.shape == (32,)
    linears = [m for m in critic.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(5, 16), (16, 16), (16, 1)]
    x = torch.cat([obs, actions], -1)
    for i, m in enumerate(linears):
        x = m(x) if i == len(linears) - 1 else torch.relu(m(x))
    torch.testing.assert_close(q, x.squeeze(-1))


# ---------- the action wrapper and the memory ----------

def test_rescale_action_maps_the_unit_box_onto_the_env_bounds():
    env = RescaleAction(gym.make("Pendulum-v1"))
    assert env.action_space.low.tolist() == [-1.0] and env.action_space.high.tolist() == [1.0]
    assert env.action(np.array([-1.0])).tolist() == [-2.0]
    assert env.action(np.array([0.5])).tolist() == [1.0]
    assert env.action(np.array([1.0])).tolist() == [2.0]


def test_memory_wraps_around_and_keeps_terminated_apart():
    memory = ReplayMemory(3, obs_dim=2, action_dim=1, seed=0)
    for t in range(5):
        memory.push(np.full(2, t), np.array([t / 10]), float(t), np.full(2, t + 1), terminated=(t == 4))
    assert len(memory) == 3 and memory.position == 2
    assert memory.obs[:, 0].tolist() == [3.0, 4.0, 2.0]           # 3 and 4 overwrote 0 and 1
    assert memory.terminated.tolist() == [0.0, 1.0, 0.0]
    obs, actions, rewards, next_obs, terminated = memory.sample(16)
    assert obs.shape == (16, 2) and actions.shape == (16, 1) and rewards.shape == (16,) and terminated.shape == (16,)
    assert all(x.dtype == torch.float32 for x in (obs, actions, rewards, next_obs, terminated))
    torch.testing.assert_close(next_obs[:, 0], obs[:, 0] + 1)     # rows stay together
