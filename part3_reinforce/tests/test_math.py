"""The math of Part 3 against values worked out by hand."""
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from agent import Agent, discounted_returns, entropy_loss, max_entropy, normalize_scale, policy_loss
from networks import NumpySampler, PolicyNetwork, gaussian_entropy, gaussian_log_prob
from train import get_config, make_envs


def test_discounted_reward_to_go_by_hand():
    # rewards 1, 0, 2 with gamma 0.5: G2 = 2, G1 = 0 + 0.5 * 2 = 1, G0 = 1 + 0.5 * 1 = 1.5
    np.testing.assert_allclose(discounted_returns(np.array([1.0, 0.0, 2.0]), 0.5), [1.5, 1.0, 2.0])


def test_returns_of_a_batch_of_episodes_with_different_lengths():
    # two episodes side by side; the second ends after 2 steps, so its third reward is a masked zero
    rewards = np.array([[1.0, 3.0], [1.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    returns = discounted_returns(rewards, 0.9)
    np.testing.assert_allclose(returns[:, 0], [1 + 0.9 + 0.81, 1 + 0.9, 1.0], rtol=1e-6)
    np.testing.assert_allclose(returns[:2, 1], [3 + 0.9, 1.0], rtol=1e-6)
    assert returns.dtype == np.float32


def test_a_truncated_tail_is_bootstrapped_by_hand():
    # rewards 1, 0, 2, cut by a time limit; V(final observation) = 4, gamma 0.5:
    # G2 = 2 + 0.5 * 4 = 4, G1 = 0 + 0.5 * 4 = 2, G0 = 1 + 0.5 * 2 = 2
    np.testing.assert_allclose(discounted_returns(np.array([1.0, 0.0, 2.0]), 0.5, tail=4.0), [2.0, 2.0, 4.0])


def test_tails_of_episodes_of_different_lengths_by_hand():
    # column 0: 3 steps, cut by the time limit, tail 10; column 1: 1 step, then masked, tail 6;
    # column 2: 2 steps, terminated (tail 0). gamma 0.5.
    rewards = np.array([[1.0, 3.0, 1.0], [1.0, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=np.float32)
    mask = np.array([[1, 1, 1], [1, 0, 1], [1, 0, 0]], dtype=np.float32)
    returns = discounted_returns(rewards, 0.5, mask, tail=np.array([10.0, 6.0, 0.0]))
    # G2 = 1 + 5 = 6, G1 = 1 + 3 = 4, G0 = 1 + 2 = 3: the tail is discounted once per step, from the last
    # step of *this* episode, not from the end of the longest one
    np.testing.assert_allclose(returns[:, 0], [3.0, 4.0, 6.0])
    assert returns[0, 1] == pytest.approx(3 + 0.5 * 6)                # 6.0, not 3 + 0.5^3 * 6
    np.testing.assert_allclose(returns[:2, 2], [1.5, 1.0])
    assert returns.dtype == np.float32


# A tiny hand-made batch: 4 steps with known log-probs and returns.
LOG_PROBS = torch.tensor([-0.5, -1.0, -0.2, -2.0])
RETURNS = torch.tensor([4.0, 2.0, 1.0, 1.0])


def test_vanilla_policy_loss_by_hand():
    # -(mean of -0.5*4, -1*2, -0.2*1, -2*1) = -(-2 - 2 - 0.2 - 2) / 4 = 1.55
    assert policy_loss(LOG_PROBS, RETURNS).item() == pytest.approx(1.55)


def test_weights_carry_no_gradient():
    log_probs = LOG_PROBS.clone().requires_grad_()
    values = torch.tensor([3.0, 2.0, 2.0, 0.0], requires_grad=True)
    policy_loss(log_probs, RETURNS - values).backward()
    assert values.grad is None                                     # the baseline is not trained by the policy loss
    torch.testing.assert_close(log_probs.grad, -(RETURNS - values.detach()) / 4)


def test_entropy_loss_and_maximum_entropy():
    assert max_entropy(gym.spaces.Discrete(4)) == pytest.approx(math.log(4))
    assert max_entropy(gym.spaces.Box(-2.0, 2.0, (1,))) == pytest.approx(math.log(4))
    # a uniform policy over 4 actions has entropy ln 4: normalized entropy loss -1
    assert entropy_loss(torch.full((3,), math.log(4)), math.log(4)).item() == pytest.approx(-1.0)
    assert entropy_loss(torch.tensor([0.0, math.log(4)]), math.log(4)).item() == pytest.approx(-0.5)


def test_normalization_scales_but_does_not_shift():
    weights = normalize_scale(RETURNS)
    assert weights.std().item() == pytest.approx(1.0)
    torch.testing.assert_close(weights / weights[0], RETURNS / RETURNS[0])


def test_gaussian_log_prob_and_entropy_against_torch():
    mean, log_std = torch.tensor([[0.5, -1.0], [0.0, 2.0]]), torch.tensor([[-0.3, 0.2], [-0.3, 0.2]])
    actions = torch.tensor([[1.0, -2.0], [0.1, 0.0]])
    reference = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(gaussian_log_prob(mean, log_std, actions), reference.log_prob(actions).sum(-1))
    torch.testing.assert_close(gaussian_entropy(log_std), reference.entropy().sum(-1))


def test_categorical_log_prob_and_entropy_against_torch():
    policy = PolicyNetwork(3, 4, discrete=True, hidden=[8])
    obs, actions = torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 1])
    log_probs, entropy = policy.log_prob_entropy(obs, actions)
    reference = torch.distributions.Categorical(logits=policy.body(obs))
    torch.testing.assert_close(log_probs, reference.log_prob(actions))
    torch.testing.assert_close(entropy, reference.entropy())


def test_a_uniform_policy_has_maximum_entropy():
    policy = PolicyNetwork(3, 4, discrete=True, hidden=[8])
    with torch.no_grad():
        policy.body[-1].weight.zero_()
        policy.body[-1].bias.zero_()
    _, entropy = policy.log_prob_entropy(torch.randn(2, 3), torch.tensor([0, 1]))
    torch.testing.assert_close(entropy, torch.full((2,), math.log(4)))


def test_collect_episodes_masks_finished_episodes():
    config = get_config(["--episodes-per-batch", "3", "--seed", "0"])
    envs = make_envs(config)
    agent = Agent(config, envs.single_observation_space, envs.single_action_space)
    batch = agent.collect_episodes(envs, seed=0)
    lengths, mask, rewards = batch["lengths"], batch["mask"], batch["rewards"]
    assert mask.shape == rewards.shape == (lengths.max(), 3) and batch["obs"].shape == (lengths.max(), 3, 4)
    for i, length in enumerate(lengths):
        assert mask[:length, i].all() and not mask[length:, i].any()  # each column: one whole episode
        assert rewards[:, i].sum() == length                          # CartPole: +1 per step, nothing after
    assert agent.steps == lengths.sum() and agent.episodes == 3


def test_continuous_actions_are_clipped_for_the_env_only():
    config = get_config(["--env-id", "Pendulum-v1", "--log-std-init", "2.0"])
    env = gym.make("Pendulum-v1")
    agent = Agent(config, env.observation_space, env.action_space)
    actions = NumpySampler(agent.policy, np.random.default_rng(0)).sample(np.zeros((1000, 3), dtype=np.float32))
    assert actions.dtype == np.float32 and np.abs(actions).max() > 2  # the Gaussian draws beyond the bounds ...
    assert np.abs(agent.to_env(actions)).max() <= 2                   # ... the env gets them clipped


@pytest.mark.parametrize("discrete", [True, False])
def test_numpy_sampler_matches_the_policy(discrete):
    policy = PolicyNetwork(3, 2, discrete=discrete, hidden=[8, 8], log_std_init=-1.0, action_scale=2.0)
    obs = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    sampler = NumpySampler(policy, np.random.default_rng(0))
    with torch.no_grad():
        np.testing.assert_allclose(sampler.head(obs), policy.head(torch.from_numpy(obs)).numpy(), rtol=1e-5, atol=1e-6)
    if not discrete:
        np.testing.assert_allclose(sampler.std, np.exp(-1.0), rtol=1e-6)


def test_gumbel_max_samples_the_softmax():
    policy = PolicyNetwork(1, 3, discrete=True, hidden=[4])
    with torch.no_grad():
        policy.body[-1].weight.zero_()
        policy.body[-1].bias.copy_(torch.log(torch.tensor([0.2, 0.3, 0.5])))
    actions = NumpySampler(policy, np.random.default_rng(0)).sample(np.zeros((20_000, 1), dtype=np.float32))
    np.testing.assert_allclose(np.bincount(actions, minlength=3) / 20_000, [0.2, 0.3, 0.5], atol=0.015)
