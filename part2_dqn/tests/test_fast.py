"""fast.py against the textbook: FastAgent must reach the weights agent.py's Agent reaches, by other code."""
import dataclasses

import numpy as np
import pytest
import torch

import train
from agent import Agent
from fast import FastAgent, FusedAdamW, NumpyQNetwork, clip_grad_norm, sample_round
from memory import ReplayMemory
from networks import QNetwork


def agent_pair(**changes):
    """(textbook Agent, FastAgent) from the same seed, each with the same 300 CartPole steps in memory."""
    settings = dict(env_id="CartPole-v1", discrete_actions=0, hidden=[32, 32], batch_size=16, buffer_size=1000,
                    learning_rate=3e-3, weight_decay=0.01, total_steps=1000, exploration_fraction=0.5, seed=3)
    config = dataclasses.replace(train.get_config([]), **{**settings, **changes})
    agents = []
    for agent_class in (Agent, FastAgent):
        env = train.make_env(config)
        torch.manual_seed(0)
        agent = agent_class(config, env.observation_space.shape, int(env.action_space.n))
        agent.collect_rollouts(env, 300)
        agents.append(agent)
    return agents


def count_calls(module):
    calls = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


@pytest.mark.parametrize("changes", [
    dict(double=False, n_steps=1, tau=0.5, target_update_interval=4),
    dict(double=True, n_steps=3, tau=0.5, target_update_interval=4),
    dict(double=False, n_steps=3, tau=1.0, target_update_interval=3, max_grad_norm=0.1),  # clipping at work
    dict(double=True, n_steps=1, tau=0.01, target_update_interval=1),
], ids=["dqn", "double-3step", "hardcopy-3step-clipped", "double-polyak-every-step"])
def test_fast_agent_reaches_the_textbook_weights(changes):
    textbook, fast = agent_pair(**changes)
    for name in ("obs", "actions", "rewards", "next_obs", "terminated", "discounts"):  # numpy acting: same actions
        np.testing.assert_array_equal(getattr(textbook.memory, name), getattr(fast.memory, name))
    start = [p.clone() for p in textbook.q_network.parameters()]
    target_calls = [count_calls(textbook.target_network), count_calls(fast.target_network)]
    results = []
    for agent in (textbook, fast):
        losses = []
        for steps, learning_rate in [(7, 3e-3), (5, 2e-3), (12, 1e-3)]:  # rounds that end mid-way between updates
            agent.set_learning_rate(learning_rate)
            losses.append(agent.learn(steps))
        results.append(losses)
    assert textbook.gradient_steps == fast.gradient_steps == 24
    np.testing.assert_allclose(results[0], results[1], rtol=1e-4, atol=1e-6)
    for a, b in zip([*textbook.q_network.parameters(), *textbook.target_network.parameters()],
                    [*fast.q_network.parameters(), *fast.target_network.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert all(not torch.allclose(p, q) for p, q in zip(textbook.q_network.parameters(), start))  # they learned
    # the two sides ran different code: the textbook valued next states minibatch by minibatch, the fast
    # path once per frozen target network
    assert len(target_calls[0]) == 24
    assert len(target_calls[1]) < 24 if changes["target_update_interval"] > 1 else len(target_calls[1]) == 24


def test_sample_round_draws_what_successive_samples_draw():
    memories = []
    for _ in range(2):
        memory = ReplayMemory(50, (3,), seed=7)
        for i in range(40):
            memory.push(np.full(3, i), i % 2, float(i), np.full(3, i + 1), i % 5 == 0, 0.9)
        memories.append(memory)
    round_ = sample_round(memories[0], 8, 3)
    assert round_[0].shape == (3, 8, 3) and round_[1].shape == (3, 8)
    for k in range(3):
        for bulk, one in zip(round_, memories[1].sample(8)):
            assert torch.equal(bulk[k], one)


def test_numpy_q_network_follows_the_live_weights():
    torch.manual_seed(0)
    net = QNetwork(4, 3, (16, 8))
    numpy_net = NumpyQNetwork(net)
    obs = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)

    def same():
        with torch.no_grad():
            np.testing.assert_allclose(numpy_net(obs), net(torch.from_numpy(obs)).numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(numpy_net(obs[0]), net(torch.from_numpy(obs[0])).numpy(), rtol=1e-5, atol=1e-6)

    same()
    optimizer = FusedAdamW(net.parameters(), lr=0.1, weight_decay=0.0)
    optimizer.step(torch.autograd.grad(net(torch.from_numpy(obs)).sum(), list(net.parameters())))
    # ^ in place: the numpy views see the new weights
    same()
    net.load_state_dict(QNetwork(4, 3, (16, 8)).state_dict())   # copied in place as well
    same()


def test_clip_grad_norm_by_hand():
    grads = (torch.tensor([3.0, 0.0]), torch.tensor([[4.0]]))      # joint norm sqrt(9 + 16) = 5
    assert clip_grad_norm(grads, 10.0).item() == pytest.approx(5.0)
    assert grads[0].tolist() == [3.0, 0.0] and grads[1].tolist() == [[4.0]]   # under the limit: untouched
    assert clip_grad_norm(grads, 1.0).item() == pytest.approx(5.0)            # returns the norm before
    assert grads[0].tolist() == pytest.approx([0.6, 0.0]) and grads[1].item() == pytest.approx(0.8)


def test_fused_adamw_first_step_by_hand():
    # Step 1: m_hat = g and v_hat = g^2, so the Adam step is lr * g / |g| = lr * sign(g); the decoupled
    # decay first shrinks p by lr * weight_decay: 1 * (1 - 0.1 * 0.1) - 0.1 * sign(0.5) = 0.89.
    p = torch.tensor([1.0, 1.0])
    FusedAdamW([p], lr=0.1, weight_decay=0.1).step([torch.tensor([0.5, -2.0])])
    assert p.tolist() == pytest.approx([0.89, 1.09])


def test_fused_adamw_matches_torch_optim_adamw():
    torch.manual_seed(0)
    ours, theirs = QNetwork(4, 2, (8,)), QNetwork(4, 2, (8,))
    theirs.load_state_dict(ours.state_dict())
    optimizer = FusedAdamW(ours.parameters(), lr=0.01, weight_decay=0.05, betas=(0.8, 0.9))
    reference = torch.optim.AdamW(theirs.parameters(), lr=0.01, weight_decay=0.05, betas=(0.8, 0.9))
    for _ in range(5):
        obs = torch.randn(16, 4)
        optimizer.step(torch.autograd.grad(ours(obs).square().mean(), list(ours.parameters())))
        reference.zero_grad()
        theirs(obs).square().mean().backward()
        reference.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("changes", [
    dict(dueling=True, double=False, n_steps=3, tau=0.5, target_update_interval=4),
    dict(per=True, double=False, n_steps=3, tau=0.5, target_update_interval=4, per_alpha=0.6, per_beta=0.4),
    dict(noisy=True, double=True, n_steps=1, tau=0.5, target_update_interval=4),
    dict(double=True, dueling=True, noisy=True, per=True, n_steps=3, tau=0.5, target_update_interval=4),
], ids=["dueling", "per-3step", "noisy-double", "rainbow"])
def test_fast_agent_reaches_the_textbook_weights_with_each_option(changes):
    """The options: the same weights, priorities and noise as the textbook (fast.py says which
    tricks each option keeps)."""
    textbook, fast = agent_pair(**changes)
    for name in ("obs", "actions", "rewards", "next_obs", "terminated", "discounts"):
        np.testing.assert_array_equal(getattr(textbook.memory, name), getattr(fast.memory, name))
    start = [p.clone() for p in textbook.q_network.parameters()]
    results = []
    for agent in (textbook, fast):
        results.append([agent.learn(steps) for steps in (7, 5, 12)])
    assert textbook.gradient_steps == fast.gradient_steps == 24
    np.testing.assert_allclose(results[0], results[1], rtol=1e-4, atol=1e-6)
    for a, b in zip([*textbook.q_network.parameters(), *textbook.target_network.parameters()],
                    [*fast.q_network.parameters(), *fast.target_network.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert all(not torch.allclose(p, q) for p, q in zip(textbook.q_network.parameters(), start))
    if changes.get("per"):
        np.testing.assert_allclose(textbook.memory.tree.nodes, fast.memory.tree.nodes, rtol=1e-4)
        assert textbook.memory.max_priority == pytest.approx(fast.memory.max_priority, rel=1e-4)
