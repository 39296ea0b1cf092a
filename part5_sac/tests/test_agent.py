"""Call-site tests: the rules the chapter states, checked through the agent's own collection, update and evaluation."""
import copy

import numpy as np
import pytest
import torch

from agent import Agent
from fast import FastAgent
from networks import squashed_log_prob
from sac_test_envs import CounterEnv, counter_env, tiny_agent


def test_truncation_is_stored_as_not_terminated_with_the_true_final_observation():
    env, inner = counter_env(time_limit=3)
    agent = tiny_agent()
    agent.collect_rollouts(env, 4)  # one episode truncated after 3 steps, then one step of the next
    m = agent.memory
    assert m.terminated[:4].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert m.next_obs[2].tolist() == [3.0, 3.0, 3.0]   # the env's last observation, not the next reset's
    assert m.obs[3].tolist() == [0.0, 0.0, 0.0]        # the new episode starts from the reset observation
    assert agent.finished_episodes == [(3.0, 3)]


def test_termination_is_stored_as_terminated():
    env, inner = counter_env(time_limit=10, terminate_at=2)
    agent = tiny_agent()
    agent.collect_rollouts(env, 2)
    assert agent.memory.terminated[:2].tolist() == [0.0, 1.0]
    assert agent.memory.next_obs[1].tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("mean_bias", [0.0, 30.0, -30.0])
def test_actions_reach_the_env_within_its_bounds(mean_bias):
    env, inner = counter_env(time_limit=5)
    agent = tiny_agent("--learning-starts", "10")  # 10 uniform random steps, then the actor's samples
    with torch.no_grad():
        agent.actor.mean.bias.fill_(mean_bias)      # +-30: tanh saturates, the wrapper maps to the bounds
    agent.collect_rollouts(env, 40)
    received = np.array(inner.received)
    assert received.shape == (40, 2)
    assert (received >= [0.0, -3.0]).all() and (received <= [1.0, 5.0]).all()
    assert (agent.memory.actions[:40] >= -1).all() and (agent.memory.actions[:40] <= 1).all()  # stored unscaled
    if mean_bias > 0:
        np.testing.assert_allclose(received[10:], np.tile([1.0, 5.0], (30, 1)))


def filled_agent(*flags, seed=0, agent_class=Agent):
    """An agent whose memory holds 64 transitions of the counter env, a quarter of them terminated."""
    torch.manual_seed(seed)
    agent = tiny_agent("--seed", seed, *flags, agent_class=agent_class)
    rng = np.random.default_rng(seed)
    for i in range(64):
        obs, next_obs = rng.normal(size=3), rng.normal(size=3)
        agent.memory.push(obs, rng.uniform(-1, 1, 2), rng.normal(), next_obs, terminated=(i % 4 == 0))
    return agent


# both agents: FastAgent (fast.py, what train.py runs) computes the target by its own code
@pytest.mark.parametrize("agent_class", [Agent, FastAgent], ids=["Agent", "FastAgent"])
def test_learn_regresses_both_critics_on_the_min_of_the_twin_targets(agent_class):
    agent = filled_agent("--alpha", "0.5", "--no-autotune", "--gamma", "0.9", agent_class=agent_class)
    # what learn will draw: the same minibatch indices, and the same noise for the next actions
    indices = copy.deepcopy(agent.memory.rng).integers(0, len(agent.memory), agent.config.batch_size)
    torch.manual_seed(123)
    noise = torch.randn(agent.config.batch_size, agent.action_dim)
    m = agent.memory
    obs, actions, rewards, next_obs, terminated = (torch.from_numpy(x[indices]) for x in
                                                   (m.obs, m.actions, m.rewards, m.next_obs, m.terminated))
    assert 0 < terminated.sum() < len(terminated)
    with torch.no_grad():
        mean, log_std = agent.actor(next_obs)
        u = mean + log_std.exp() * noise
        next_q = agent.critic_target(next_obs, torch.tanh(u))
        # shift Q1_target so that it is the smaller of the two on about half of the batch, Q2_target on the rest
        agent.critic_target.biases[-1][0] += (next_q[1] - next_q[0]).median()
        next_q = agent.critic_target(next_obs, torch.tanh(u))
        assert 0 < (next_q[0] < next_q[1]).sum() < len(rewards)
        soft = lambda v: rewards + 0.9 * (1 - terminated) * (v - 0.5 * squashed_log_prob(u, mean, log_std))
        q = agent.critic(obs, actions)
    expected = {"min": soft(next_q.min(0).values), "max": soft(next_q.max(0).values), "q1": soft(next_q[0]),
                "q2": soft(next_q[1]), "bootstrap always": rewards + 0.9 * (next_q.min(0).values -
                                                                            0.5 * squashed_log_prob(u, mean, log_std))}
    torch.manual_seed(123)
    agent.learn(1)
    loss1, loss2 = agent.stats["critic1_loss"].item(), agent.stats["critic2_loss"].item()
    for name, y in expected.items():
        right = name == "min"
        # each critic's loss is the mean squared error of ITS prediction against the shared target
        assert (loss1 == pytest.approx(((q[0] - y) ** 2).mean().item(), rel=1e-5)) == right, name
        assert (loss2 == pytest.approx(((q[1] - y) ** 2).mean().item(), rel=1e-5)) == right, name


def test_target_critics_lag_by_polyak_averaging():
    agent = filled_agent("--tau", "0.1")
    before = [p.detach().clone() for p in agent.critic_target.parameters()]
    agent.learn(1)
    for old, target, online in zip(before, agent.critic_target.parameters(), agent.critic.parameters()):
        torch.testing.assert_close(target, 0.9 * old + 0.1 * online)
        assert not torch.allclose(target, online)  # the target lags: it is not a copy


def test_actor_climbs_the_critics_q_through_the_reparameterised_action():
    # a negligible temperature, critics held still (learning rate 0): the actor's only signal is dQ/da,
    # which reaches its weights only through a = tanh(mean + std * noise)
    agent = filled_agent("--no-autotune", "--alpha", "1e-6", "--learning-rate", "1e-2")
    agent.critic_optimizer.param_groups[0]["lr"] = 0.0
    with torch.no_grad():
        agent.critic.weights[0][:, 3:] *= 10.0  # make Q depend clearly on the action
    obs = torch.from_numpy(agent.memory.obs[:64])

    def q_of_mean_action():
        with torch.no_grad():
            return agent.critic(obs, torch.tanh(agent.actor(obs)[0])).min(0).values.mean().item()

    before = q_of_mean_action()
    agent.learn(50)
    assert q_of_mean_action() > before + 0.05


@pytest.mark.parametrize("target_entropy,direction", [("-2", -1), ("5", +1)])
def test_temperature_moves_towards_the_target_entropy(target_entropy, direction):
    # a freshly initialised squashed Gaussian has entropy well above -2 (alpha must fall) and below 5,
    # which no distribution on [-1, 1]^2 reaches (alpha must rise)
    agent = filled_agent("--target-entropy", target_entropy, "--alpha", "0.5")
    before = agent.log_alpha.item()
    agent.learn(3)
    assert np.sign(agent.log_alpha.item() - before) == direction
    assert agent.stats["alpha"].item() == pytest.approx(np.exp(agent.log_alpha.item()), rel=1e-2)


def test_fixed_temperature_stays_fixed():
    agent = filled_agent("--no-autotune", "--alpha", "0.2")
    agent.learn(3)
    assert agent.alpha.item() == pytest.approx(0.2) and "alpha_loss" not in agent.stats


def test_default_target_entropy_is_minus_the_action_dimensions():
    assert tiny_agent().target_entropy == -2.0
    assert tiny_agent("--target-entropy", "-0.5").target_entropy == -0.5


def test_evaluation_takes_the_mean_action_on_its_own_env():
    train_env, train_inner = counter_env(time_limit=4)
    eval_env, eval_inner = counter_env(time_limit=4)
    agent = tiny_agent("--total-steps", "20", "--eval-every", "10", "--learning-starts", "5")
    evaluated = []
    seconds = agent.train(train_env, on_eval=lambda step, s: evaluated.append((step, agent.evaluate(eval_env, 2))))
    assert [step for step, _ in evaluated] == [10, 20] and seconds > 0
    assert train_inner.steps_taken == 20            # evaluation never stepped the training env
    assert eval_inner.steps_taken == 2 * 2 * 4
    # every evaluation action is tanh(mean) of the actor for that observation, rescaled to the env's bounds
    with torch.no_grad():
        for t, received in enumerate(eval_inner.received[-4:]):
            mean, _ = agent.actor(torch.full((1, 3), float(t)))
            expected = eval_env.action(torch.tanh(mean)[0].numpy())
            np.testing.assert_allclose(received, expected, rtol=1e-5, atol=1e-6)


def test_a_run_shorter_than_eval_every_still_evaluates_its_final_policy():
    env, _ = counter_env(time_limit=4)
    agent = tiny_agent("--total-steps", "7", "--eval-every", "1000")
    steps = []
    agent.train(env, on_eval=lambda step, s: steps.append(step))
    assert steps == [7] and agent.steps == 7


@pytest.mark.parametrize("fast", [False, True], ids=["Agent", "FastAgent"])
def test_anneal_lr_decays_every_optimizers_rate_linearly_to_zero(fast):
    from fast import FastAgent
    env, _ = counter_env(time_limit=5)
    config = tiny_agent("--total-steps", "40", "--eval-every", "1000", "--anneal-lr", "--learning-rate", "0.01").config
    agent = (FastAgent if fast else Agent)(config, 3, 2)
    rates, learn = [], agent.learn

    def recording_learn(gradient_steps):
        if fast:
            # FastAgent's temperature (log-alpha) is one of actor_adam's parameters: two rates cover all three
            rates.append((agent.steps, agent.actor_adam.lr, agent.critic_adam.lr, agent.actor_adam.lr))
        else:
            rates.append((agent.steps, *(o.param_groups[0]["lr"] for o in
                                         (agent.actor_optimizer, agent.critic_optimizer, agent.alpha_optimizer))))
        learn(gradient_steps)

    agent.learn = recording_learn
    agent.train(env)
    assert [r[0] for r in rates] == list(range(1, 41))  # learning_starts 0, train_freq 1
    for step, *lrs in rates:
        assert lrs == pytest.approx([0.01 * (1 - step / 40)] * 3)
    # the rate reaches the update: at the last step (rate 0) nothing moves
    before = [p.detach().clone() for p in (*agent.actor.parameters(), *agent.critic.parameters(), agent.log_alpha)]
    agent.learn(3)
    after = [*agent.actor.parameters(), *agent.critic.parameters(), agent.log_alpha]
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    agent.set_learning_rate(0.01)
    agent.learn(1)
    assert not torch.equal(before[0], next(agent.actor.parameters()))


def test_without_anneal_lr_the_rate_stays():
    env, _ = counter_env(time_limit=5)
    agent = tiny_agent("--total-steps", "20", "--eval-every", "1000", "--learning-rate", "0.01")
    agent.train(env)
    assert [o.param_groups[0]["lr"] for o in (agent.actor_optimizer, agent.critic_optimizer, agent.alpha_optimizer)] \
        == [0.01] * 3
