"""fast.py against the textbook: FastAgent must reach the weights agent.py's Agent reaches, by other code."""
import numpy as np
import pytest
import torch

import train
from agent import Agent
from fast import FastAgent, FusedAdam, twin_q
from networks import TwinQNetwork


def agent_pair(*flags):
    """(textbook Agent, FastAgent) from the same seed, each with the same 300 Pendulum steps in memory."""
    config = train.get_config(["--hidden", "32", "32", "--batch-size", "16", "--total-steps", "1000",
                               "--learning-starts", "50", "--seed", "3", *flags])
    agents = []
    for agent_class in (Agent, FastAgent):
        env = train.make_env(config)
        torch.manual_seed(0)
        agent = agent_class(config, env.observation_space.shape[0], env.action_space.shape[0])
        agent.collect_rollouts(env, 300)
        agents.append(agent)
    return agents


def weights(agent):
    return [*agent.actor.parameters(), *agent.critic.parameters(), *agent.critic_target.parameters(), agent.log_alpha]


@pytest.mark.parametrize("flags", [[], ["--no-autotune", "--alpha", "0.2"], ["--target-entropy", "3", "--tau", "0.5"]],
                         ids=["autotune", "fixed-alpha", "rising-alpha"])
def test_fast_agent_reaches_the_textbook_weights(flags):
    textbook, fast = agent_pair(*flags)
    for name in ("obs", "actions", "rewards", "next_obs", "terminated"):
        np.testing.assert_array_equal(getattr(textbook.memory, name), getattr(fast.memory, name))
    start = [p.detach().clone() for p in weights(textbook)]
    stats = []
    for agent in (textbook, fast):
        torch.manual_seed(1)  # the same noise for the sampled actions
        agent.learn(25)
        stats.append({k: v.item() for k, v in agent.stats.items()})
    assert textbook.gradient_steps == fast.gradient_steps == 25
    assert stats[0].keys() == stats[1].keys()
    for key in stats[0]:
        assert stats[1][key] == pytest.approx(stats[0][key], rel=1e-4, abs=1e-5), key
    for a, b in zip(weights(textbook), weights(fast)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    moved = [not torch.allclose(p, q) for p, q in zip(weights(textbook), start)]
    assert all(moved[:-1]) and moved[-1] == ("--no-autotune" not in flags)  # they learned (alpha only if tuned)


def test_twin_q_equals_the_critics_forward():
    torch.manual_seed(0)
    critic = TwinQNetwork(3, 2, (16, 16))
    obs, actions = torch.randn(32, 3), torch.rand(32, 2) * 2 - 1
    torch.testing.assert_close(twin_q(critic, obs, actions), critic(obs, actions))


def test_fused_adam_matches_torch_optim_adam():
    torch.manual_seed(0)
    ours = [torch.randn(4, 3), torch.randn(())]
    theirs = [p.clone().requires_grad_(True) for p in ours]
    optimizer, reference = FusedAdam(ours, lr=0.1), torch.optim.Adam(theirs, lr=0.1)
    for _ in range(5):
        grads = [torch.randn(4, 3), torch.randn(())]
        optimizer.step(grads)
        for p, g in zip(theirs, grads):
            p.grad = g.clone()
        reference.step()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b.detach())


def test_train_runs_the_fast_agent_by_default():
    assert isinstance(train.build(train.get_config(["--total-steps", "10"]))[2], FastAgent)
    assert type(train.build(train.get_config(["--total-steps", "10", "--no-fast"]))[2]) is Agent
