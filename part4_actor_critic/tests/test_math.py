"""The math of Part 4 against values worked out by hand, and the networks against torch.distributions."""
import numpy as np
import pytest
import torch

from agent import clipped_surrogate_loss, normalize_advantages, policy_gradient_loss, value_loss_fn
from memory import gae
from networks import ActorCritic, NumpyPolicy


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


def test_categorical_log_prob_and_entropy_against_torch():
    network = ActorCritic(3, 4, discrete=True, hidden=[8])
    obs, actions = torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 1])
    log_probs, entropy, values = network(obs, actions)
    reference = torch.distributions.Categorical(logits=network.policy_head(network.actor_body(obs)))
    torch.testing.assert_close(log_probs, reference.log_prob(actions))
    torch.testing.assert_close(entropy, reference.entropy())
    torch.testing.assert_close(values, network.value(obs))


def test_gaussian_log_prob_and_entropy_against_torch():
    network = ActorCritic(3, 2, discrete=False, hidden=[8], log_std_init=-0.7)
    with torch.no_grad():
        network.log_std.copy_(torch.tensor([-0.7, 0.3]))  # two different standard deviations
    obs, actions = torch.randn(5, 3), torch.randn(5, 2)
    log_probs, entropy, _ = network(obs, actions)
    reference = torch.distributions.Normal(network.policy_head(network.actor_body(obs)), network.log_std.exp())
    torch.testing.assert_close(log_probs, reference.log_prob(actions).sum(-1))
    torch.testing.assert_close(entropy, reference.entropy().sum(-1))


@pytest.mark.parametrize("shared", [False, True])
def test_orthogonal_initialisation_gains(shared):
    network = ActorCritic(4, 2, discrete=True, hidden=[64, 64], shared=shared)
    # orthogonal rows scaled by the gain: every singular value of the weight equals the gain
    body = network.trunk if shared else network.actor_body
    for layer, gain in [(body[0], 2 ** 0.5), (body[2], 2 ** 0.5), (network.policy_head, 0.01), (network.value_head, 1.0)]:
        torch.testing.assert_close(torch.linalg.svdvals(layer.weight.detach()), torch.full((min(layer.weight.shape),), gain))
        assert not layer.bias.any()


@pytest.mark.parametrize("discrete", [True, False])
@pytest.mark.parametrize("shared", [False, True])
def test_numpy_policy_follows_the_network_through_updates(discrete, shared):
    network = ActorCritic(3, 2, discrete=discrete, hidden=[8, 8], shared=shared, log_std_init=-1.0)
    policy = NumpyPolicy(network, np.random.default_rng(0))
    obs = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    optimizer = torch.optim.Adam(network.parameters(), lr=0.1)
    for _ in range(2):  # before and after an optimizer step: the numpy arrays are views of the weights
        with torch.no_grad():
            head = network.policy_head(network.features(torch.from_numpy(obs))[0]).numpy()
        np.testing.assert_allclose(policy.head(obs), head, rtol=1e-5, atol=1e-6)
        if not discrete:
            np.testing.assert_allclose(np.exp(policy.log_std), network.log_std.detach().exp().numpy(), rtol=1e-6)
        actions = torch.zeros(6, dtype=torch.int64) if discrete else torch.zeros(6, 2)
        optimizer.zero_grad()
        network(torch.from_numpy(obs), actions)[0].sum().backward()
        optimizer.step()


def test_gumbel_max_samples_the_softmax():
    network = ActorCritic(1, 3, discrete=True, hidden=[4])
    with torch.no_grad():
        network.policy_head.weight.zero_()
        network.policy_head.bias.copy_(torch.log(torch.tensor([0.2, 0.3, 0.5])))
    actions = NumpyPolicy(network, np.random.default_rng(0)).sample(np.zeros((20_000, 1), dtype=np.float32))
    np.testing.assert_allclose(np.bincount(actions, minlength=3) / 20_000, [0.2, 0.3, 0.5], atol=0.015)
