"""fast.py changes how a gradient step is carried out, never what it computes: FastAgent and the textbook
Agent, started from one seed, collect the same rollouts and reach the same weights."""
import dataclasses

import pytest
import torch

import train
from agent import Agent
from fast import FastAgent, FastAdam, FastRMSprop, clip_grad_norm


def run_updates(agent_class, config, updates):
    torch.manual_seed(config.seed)
    envs = train.make_envs(config)
    agent = agent_class(config, envs.single_observation_space, envs.single_action_space)
    agent.start(envs, seed=config.seed)
    for _ in range(updates):
        agent.collect_rollouts(envs)
        agent.learn()
    return agent


# RMSprop's five foreach calls are the textbook optimizer's own, bit for bit; Adam's fused kernel rounds
# differently from the foreach loop (about 1e-7 per step, test below), and PPO's 20 minibatch steps per
# update compound it: its cases compare after 4 updates (80 Adam steps), before rounding grows past 1e-6.
@pytest.mark.parametrize("argv, updates", [
    (["--algo", "a2c"], 12),                                                    # CartPole: RMSprop, two networks
    (["--algo", "a2c", "--shared", "--max-grad-norm", "0.05"], 12),             # one trunk; every step clipped
    (["--algo", "a2c", "--max-grad-norm", "0.05"], 12),                         # two networks, each clipped alone
    (["--algo", "ppo", "--n-steps", "32", "--minibatch-size", "64", "--n-epochs", "2"], 4),  # Adam, minibatches
    (["--env-id", "Pendulum-v1", "--algo", "ppo", "--n-steps", "16", "--num-envs", "2", "--minibatch-size", "16",
      "--normalize-obs", "--normalize-reward"], 4),                            # Box actions: the log-std too
    (["--algo", "a2c", "--optimizer", "adam", "--anneal-lr"], 12),              # Adam, the decaying learning rate
])
def test_fast_agent_reaches_the_textbook_agents_weights(argv, updates):
    config = train.get_config(argv)
    textbook = run_updates(Agent, dataclasses.replace(config, fast=False), updates)
    fast = run_updates(FastAgent, config, updates)
    assert textbook.steps == fast.steps
    for (name, a), b in zip(textbook.network.named_parameters(), fast.network.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)
    if config.anneal_lr:
        assert fast.optimizers[0].param_groups[0]["lr"] == textbook.optimizers[0].param_groups[0]["lr"] < config.learning_rate


def test_fast_rmsprop_and_adam_step_as_torchs_optimizers():
    """Five steps by hand-made gradients: the same parameters as torch.optim.RMSprop / Adam with A2C's settings."""
    for fast_class, torch_class, options in ((FastRMSprop, torch.optim.RMSprop, dict(alpha=0.99, eps=1e-5)),
                                             (FastAdam, torch.optim.Adam, dict(eps=1e-5))):
        generator = torch.Generator().manual_seed(0)
        start = [torch.randn(3, 2, generator=generator), torch.randn(4, generator=generator)]
        ours = [p.clone() for p in start]
        theirs = [p.clone().requires_grad_() for p in start]
        fast, reference = fast_class(ours, lr=0.01), torch_class(theirs, lr=0.01, **options)
        for _ in range(5):
            grads = [torch.randn(p.shape, generator=generator) for p in start]
            fast.step(grads)
            for p, g in zip(theirs, grads):
                p.grad = g.clone()
            reference.step()
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b.detach(), rtol=1e-6, atol=1e-7)


def test_clip_grad_norm_rescales_only_above_the_limit():
    grads = [torch.tensor([3.0, 0.0]), torch.tensor([4.0])]  # joint norm 5
    clip_grad_norm(grads, 10.0)
    assert grads[0].tolist() == [3.0, 0.0] and grads[1].tolist() == [4.0]
    clip_grad_norm(grads, 1.0)
    torch.testing.assert_close(torch.cat(grads), torch.tensor([0.6, 0.0, 0.8]), rtol=1e-5, atol=1e-6)


def test_train_py_runs_the_fast_agent_by_default_and_the_textbook_one_with_no_fast():
    assert type(train.build(train.get_config([]))[2]) is FastAgent
    assert type(train.build(train.get_config(["--no-fast"]))[2]) is Agent


def test_speed_py_measures_both_agents_taking_turns():
    import speed
    speeds = speed.measure(["--algo", "a2c"], rounds=2, updates=3)
    assert set(speeds) == {"textbook", "fast"}
    assert all(len(values) == 2 and min(values) > 0 for values in speeds.values())
