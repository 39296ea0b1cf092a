"""The math of Part 4 against values worked out by hand, and the networks against torch.distributions."""
import numpy as np
import pytest
import torch

from agent import clipped_surrogate_loss, normalize_advantages, policy_gradient_loss, value_loss_fn
from memory import gae
from networks import ActorCritic


def column(*values):
    """A (T, 1) float32 array: one env."""
    return np.array(values, dtype=np.float32)[:, None]


def test_gae_by_hand_with_a_termination_and_a_truncation():
    # gamma = lambda = 0.5; the first episode terminates at t = 1 (nothing follows: no bootstrap, the 9 is
    # ignored); the second is truncated at t = 3, so it bootstraps from V(its real final observation) = 6;
    # a third starts at t = 4 and runs past the rollout's end, bootstrapped from 2.
    rewards = column(1, 2, 3, 4, 5)
    values = column(0.5, 1.0, 2.0, 1.5, 1.0)
    next_values = column(1.0, 9.0, 1.5, 6.0, 2.0)
    terminated, truncated = column(0, 1, 0, 0, 0), column(0, 0, 0, 1, 0)
    # deltas: 1 + .5*1 - .5 = 1;  2 - 1 = 1;  3 + .5*1.5 - 2 = 1.75;  4 + .5*6 - 1.5 = 5.5;  5 + .5*2 - 1 = 5
    # A4 = 5; A3 = 5.5 (its episode ended: nothing of A4 in it); A2 = 1.75 + .25*5.5 = 3.125;
    # A1 = 1 (ended too); A0 = 1 + .25*1 = 1.25
    advantages = gae(rewards, values, next_values, terminated, truncated, gamma=0.5, lam=0.5)
    np.testing.assert_allclose(advantages[:, 0], [1.25, 1.0, 3.125, 5.5, 5.0])
    assert advantages.dtype == np.float32


def consistent_rollout(T=6, n=3, seed=0):
    """Random rewards and values of a rollout without episode ends: next_values[t] = values[t + 1]."""
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(T, n)).astype(np.float32)
    all_values = rng.normal(size=(T + 1, n)).astype(np.float32)
    zeros = np.zeros((T, n), dtype=np.float32)
    return rewards, all_values[:-1], all_values[1:], zeros, zeros


def test_gae_lambda_1_is_the_discounted_n_step_return():
    rewards, values, next_values, terminated, truncated = consistent_rollout()
    gamma, T = 0.9, len(rewards)
    advantages = gae(rewards, values, next_values, terminated, truncated, gamma, lam=1.0)
    for t in range(T):  # sum of discounted rewards to the rollout's end, then V of the state after it
        n_step_return = sum(gamma ** (k - t) * rewards[k] for k in range(t, T)) + gamma ** (T - t) * next_values[-1]
        np.testing.assert_allclose(advantages[t], n_step_return - values[t], rtol=1e-5, atol=1e-5)


def test_gae_lambda_0_is_the_one_step_td_error():
    rewards, values, next_values, terminated, truncated = consistent_rollout()
    advantages = gae(rewards, values, next_values, terminated, truncated, 0.9, lam=0.0)
    np.testing.assert_allclose(advantages, rewards + 0.9 * next_values - values, rtol=1e-6, atol=1e-6)


def test_ppo_clipped_loss_by_hand():
    # clip range 0.2: ratios 0.5 and 1.5 are outside [0.8, 1.2], 1.0 and 1.1 inside
    ratio = torch.tensor([0.5, 1.0, 1.5, 1.1, 0.5], requires_grad=True)
    advantages = torch.tensor([1.0, -1.0, 2.0, -2.0, -1.0])
    # ratio*A: .5, -1, 3, -2.2, -.5;  clip(ratio)*A: .8, -1, 2.4, -2.2, -.8;  min: .5, -1, 2.4, -2.2, -.8
    loss = clipped_surrogate_loss(ratio, advantages, 0.2)
    assert loss.item() == pytest.approx(-(0.5 - 1 + 2.4 - 2.2 - 0.8) / 5)
    loss.backward()
    # no gradient where the clipped term won (moving further would gain nothing): elements 3 and 5; a
    # ratio outside the range still gets one when moving back would make the objective worse (element 1)
    torch.testing.assert_close(ratio.grad, torch.tensor([-1.0, 1.0, 0.0, 2.0, 0.0]) / 5)


def test_ppo_loss_at_ratio_1_has_the_a2c_gradient():
    log_probs = torch.tensor([-0.5, -1.2, -0.1], requires_grad=True)
    advantages = torch.tensor([2.0, -1.0, 0.5])
    (ppo_grad,) = torch.autograd.grad(clipped_surrogate_loss((log_probs - log_probs.detach()).exp(), advantages, 0.2), log_probs)
    (a2c_grad,) = torch.autograd.grad(policy_gradient_loss(log_probs, advantages), log_probs)
    torch.testing.assert_close(ppo_grad, a2c_grad)
    torch.testing.assert_close(a2c_grad, -advantages / 3)


def test_value_loss_and_its_clipped_variant_by_hand():
    values, returns, old = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 0.0]), torch.tensor([0.0, 2.5])
    assert value_loss_fn(values, returns).item() == pytest.approx(0.5 * (1 + 9) / 2)
    # clip 0.5: clipped values 0.5 (1 moved too far from 0) and 3.0; errors max(1, 2.25) = 2.25 and max(9, 9) = 9
    assert value_loss_fn(values, returns, old, 0.5).item() == pytest.approx(0.5 * (2.25 + 9) / 2)


def test_advantage_normalisation():
    advantages = normalize_advantages(torch.tensor([1.0, 2.0, 3.0, 6.0]))
    assert advantages.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert advantages.std().item() == pytest.approx(1.0, abs=1e-6)
    assert normalize_advantages(torch.tensor([5.0])).tolist() == [0.0]  # one row: no std, no NaN


def test_the_categorical_policy_by_hand():
    network = ActorCritic(1, 3, discrete=True, hidden=[4])
    with torch.no_grad():  # logits log(0.2), log(0.3), log(0.5) whatever the observation
        network.policy_head.weight.zero_()
        network.policy_head.bias.copy_(torch.log(torch.tensor([0.2, 0.3, 0.5])))
    distribution, _ = network(torch.zeros(2, 1))
    torch.testing.assert_close(distribution.log_prob(torch.tensor([0, 2])), torch.log(torch.tensor([0.2, 0.5])))
    entropy = -(0.2 * np.log(0.2) + 0.3 * np.log(0.3) + 0.5 * np.log(0.5))  # -sum p log p = 1.0297
    torch.testing.assert_close(distribution.entropy(), torch.full((2,), entropy, dtype=torch.float32))
    torch.testing.assert_close(distribution.mode, torch.tensor([2, 2]))  # the greedy action: the likeliest
    torch.manual_seed(0)
    counts = torch.bincount(network.distribution(torch.zeros(20_000, 1)).sample(), minlength=3) / 20_000
    torch.testing.assert_close(counts, torch.tensor([0.2, 0.3, 0.5]), atol=0.015, rtol=0)


def test_the_gaussian_policy_by_hand():
    # mean 0 (head zeroed), log-stds log 0.5 and log 2: the dimensions are independent, so the log-density
    # and the entropy are sums over them
    network = ActorCritic(3, 2, discrete=False, hidden=[8])
    with torch.no_grad():
        network.policy_head.weight.zero_()
        network.log_std.copy_(torch.log(torch.tensor([0.5, 2.0])))
    distribution, _ = network(torch.zeros(1, 3))
    # log N(1; 0, 0.5) = -0.5 * 2^2 - log 0.5 - log sqrt(2 pi);  log N(-1; 0, 2) = -0.5 * 0.5^2 - log 2 - log sqrt(2 pi)
    expected = (-2 - np.log(0.5)) + (-0.125 - np.log(2.0)) - np.log(2 * np.pi)
    torch.testing.assert_close(distribution.log_prob(torch.tensor([[1.0, -1.0]])),
                               torch.tensor([expected], dtype=torch.float32))
    # entropy of N(., sigma) = 1/2 + log(sqrt(2 pi) sigma); the log 0.5 and log 2 cancel
    torch.testing.assert_close(distribution.entropy(), torch.tensor([1 + np.log(2 * np.pi)], dtype=torch.float32))
    torch.testing.assert_close(distribution.mode, torch.zeros(1, 2))


@pytest.mark.parametrize("shared", [False, True])
def test_forward_gives_the_actor_and_the_critic_of_one_pass(shared):
    network = ActorCritic(3, 4, discrete=True, hidden=[8], shared=shared)
    obs = torch.randn(5, 3)
    distribution, values = network(obs)
    torch.testing.assert_close(distribution.logits, network.distribution(obs).logits)
    torch.testing.assert_close(values, network.value(obs))


@pytest.mark.parametrize("shared", [False, True])
def test_orthogonal_initialisation_gains(shared):
    network = ActorCritic(4, 2, discrete=True, hidden=[64, 64], shared=shared)
    # orthogonal rows scaled by the gain: every singular value of the weight equals the gain
    body = network.trunk if shared else network.actor_body
    for layer, gain in [(body[0], 2 ** 0.5), (body[2], 2 ** 0.5), (network.policy_head, 0.01), (network.value_head, 1.0)]:
        torch.testing.assert_close(torch.linalg.svdvals(layer.weight.detach()), torch.full((min(layer.weight.shape),), gain))
        assert not layer.bias.any()
