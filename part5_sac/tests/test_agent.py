"""Call-site tests: the rules the chapter states, checked through the agent's own collection, update and
evaluation, and train.main's. Each rule's test was seen to go red with the rule broken in a scratch copy (its
docstring says how it was broken)."""
import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Normal

import train
from networks import squashed_log_prob
from sac_test_envs import counter_env, tiny_agent


def test_truncation_is_stored_as_not_terminated_with_the_true_final_observation():
    """Red with `terminated or truncated` pushed as the done flag."""
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


def filled_agent(*flags, seed=0):
    """An agent whose memory holds 64 transitions of the counter env, a quarter of them terminated."""
    torch.manual_seed(seed)
    agent = tiny_agent("--seed", seed, *flags)
    rng = np.random.default_rng(seed)
    for i in range(64):
        obs, next_obs = rng.normal(size=3), rng.normal(size=3)
        agent.memory.push(obs, rng.uniform(-1, 1, 2), rng.normal(), next_obs, terminated=(i % 4 == 0))
    return agent


def next_batch(agent, seed):
    """The minibatch learn(1) will draw (the memory's stream, copied), and the policy noise of its two samples
    (next actions for the target, then new actions for the actor step) when torch is seeded with `seed`."""
    indices = copy.deepcopy(agent.memory.rng).integers(0, len(agent.memory), agent.config.batch_size)
    m = agent.memory
    batch = [torch.from_numpy(x[indices]) for x in (m.obs, m.actions, m.rewards, m.next_obs, m.terminated)]
    torch.manual_seed(seed)
    shape = (agent.config.batch_size, agent.action_dim)
    return batch, torch.randn(shape), torch.randn(shape)


def critics(agent):
    return (agent.critic1, agent.critic2), (agent.critic1_target, agent.critic2_target)


def test_learn_regresses_both_critics_on_the_min_of_the_two_target_critics():
    """Red with the max instead of the min, one target critic only, the online critics in the target, the
    entropy term dropped or the bootstrap not stopped at termination."""
    agent = filled_agent("--alpha", "0.5", "--no-autotune", "--gamma", "0.9")
    (obs, actions, rewards, next_obs, terminated), noise, _ = next_batch(agent, seed=123)
    assert 0 < terminated.sum() < len(terminated)
    (critic1, critic2), (target1, target2) = critics(agent)
    with torch.no_grad():
        for p in (*target1.parameters(), *target2.parameters()):  # the targets lag: not copies of the critics
            p.add_(0.1 * torch.randn_like(p))
        pi = agent.actor(next_obs)
        u = pi.mean + pi.stddev * noise
        next_actions, next_log_prob = torch.tanh(u), squashed_log_prob(pi, u)
        # shift target 1 so that it is the smaller of the two on about half of the batch, target 2 on the rest
        target1.net[-1].bias += (target2(next_obs, next_actions) - target1(next_obs, next_actions)).median()
        next_q1, next_q2 = target1(next_obs, next_actions), target2(next_obs, next_actions)
        assert 0 < (next_q1 < next_q2).sum() < len(rewards)
        online = torch.min(critic1(next_obs, next_actions), critic2(next_obs, next_actions))
        soft = lambda v: rewards + 0.9 * (1 - terminated) * (v - 0.5 * next_log_prob)
        q1, q2 = critic1(obs, actions), critic2(obs, actions)
    expected = {"min": soft(torch.min(next_q1, next_q2)), "max": soft(torch.max(next_q1, next_q2)),
                "target 1 only": soft(next_q1), "target 2 only": soft(next_q2), "online critics": soft(online),
                "no entropy term": rewards + 0.9 * (1 - terminated) * torch.min(next_q1, next_q2),
                "bootstrap always": rewards + 0.9 * (torch.min(next_q1, next_q2) - 0.5 * next_log_prob)}
    torch.manual_seed(123)
    agent.learn(1)
    loss1, loss2 = agent.stats["critic1_loss"].item(), agent.stats["critic2_loss"].item()
    for name, y in expected.items():
        right = name == "min"
        # each critic's loss is the mean squared error of ITS prediction against the shared target
        assert (loss1 == pytest.approx(((q1 - y) ** 2).mean().item(), rel=1e-5)) == right, name
        assert (loss2 == pytest.approx(((q2 - y) ** 2).mean().item(), rel=1e-5)) == right, name


def test_the_actor_step_scores_the_pre_squash_sample_with_the_tanh_correction_against_the_online_critics():
    """log pi(a|s) is the Gaussian's log-density of u (before the squash) minus log(1 - tanh(u)^2), and the
    actor loss is alpha * log pi - min(Q1, Q2) of the critics being trained. Red with the correction dropped or
    its sign flipped, the log-density taken of tanh(u), the target critics or one critic in the actor loss."""
    agent = filled_agent("--alpha", "0.5", "--no-autotune")
    (obs, *_), _, noise = next_batch(agent, seed=7)
    with torch.no_grad():
        for p in (*agent.critic1_target.parameters(), *agent.critic2_target.parameters()):
            p.add_(0.1 * torch.randn_like(p))  # the targets lag: not copies of the critics
    actor = copy.deepcopy(agent.actor)  # the actor as the actor step sees it (the critic step leaves it alone)
    targets = copy.deepcopy(critics(agent)[1])
    torch.manual_seed(7)
    agent.learn(1)
    with torch.no_grad():
        pi = actor(obs)
        u = (pi.mean + pi.stddev * noise).double()
        mean, std = pi.mean.double(), pi.stddev.double()
        gaussian = (-0.5 * ((u - mean) / std) ** 2 - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
        correction = torch.log(1 - torch.tanh(u) ** 2).sum(-1)  # float64: fine for these small |u|
        squashed_gaussian = Normal(mean, std).log_prob(torch.tanh(u)).sum(-1)
        log_probs = {"right": gaussian - correction, "no correction": gaussian, "correction added": gaussian + correction,
                     "log-prob of tanh(u)": squashed_gaussian - correction, "tanh(u), no correction": squashed_gaussian}
        for name, log_prob in log_probs.items():
            entropy = -log_prob.mean().item()
            assert (agent.stats["entropy"].item() == pytest.approx(entropy, rel=1e-4)) == (name == "right"), name
        a = torch.tanh(u).float()
        log_prob = log_probs["right"].float()
        (critic1, critic2), (target1, target2) = critics(agent)[0], targets
        qs = {"min": torch.min(critic1(obs, a), critic2(obs, a)), "max": torch.max(critic1(obs, a), critic2(obs, a)),
              "critic 1 only": critic1(obs, a), "target critics": torch.min(target1(obs, a), target2(obs, a))}
        for name, q in qs.items():
            actor_loss = (0.5 * log_prob - q).mean().item()
            assert (agent.stats["actor_loss"].item() == pytest.approx(actor_loss, rel=1e-4)) == (name == "min"), name


def test_the_critic_loss_reaches_the_critics_only():
    """The target is a fixed label: when the critics step, no gradient has reached the actor, the temperature or
    the target critics. Red with the target computed outside torch.no_grad()."""
    agent = filled_agent()
    step, seen = agent.critic_optimizer.step, {}

    def spying_step(*args, **kwargs):
        (critic1, critic2), (target1, target2) = critics(agent)
        seen.update(critics=[p.grad for p in (*critic1.parameters(), *critic2.parameters())],
                    others=[p.grad for p in (*agent.actor.parameters(), agent.log_alpha, *target1.parameters(),
                                             *target2.parameters())])
        return step(*args, **kwargs)

    agent.critic_optimizer.step = spying_step
    agent.learn(1)  # the first update: nothing has a gradient yet but what the critic loss gave
    assert all(grad is not None and grad.abs().sum() > 0 for grad in seen["critics"])
    assert all(grad is None for grad in seen["others"])


def test_target_critics_lag_by_polyak_averaging():
    """Red with the update's direction reversed (the critics pulled towards their targets) or tau and 1 - tau swapped."""
    agent = filled_agent("--tau", "0.1")
    (critic1, critic2), (target1, target2) = critics(agent)
    before = [p.detach().clone() for p in (*target1.parameters(), *target2.parameters())]
    agent.learn(1)
    for old, target, online in zip(before, (*target1.parameters(), *target2.parameters()),
                                   (*critic1.parameters(), *critic2.parameters())):
        torch.testing.assert_close(target, 0.9 * old + 0.1 * online)
        assert not torch.allclose(target, online)  # the target lags: it is not a copy


def test_the_two_critics_start_as_two_different_guesses_and_their_targets_as_copies():
    agent = tiny_agent()
    (critic1, critic2), (target1, target2) = critics(agent)
    for critic, target in ((critic1, target1), (critic2, target2)):
        assert all(torch.equal(p, q) for p, q in zip(critic.parameters(), target.parameters()))
        assert not any(p.requires_grad for p in target.parameters())  # the targets only ever move by Polyak
    assert not torch.equal(critic1.net[0].weight, critic2.net[0].weight)


def test_actor_climbs_the_critics_q_through_the_reparameterised_action():
    # a negligible temperature, critics held still (learning rate 0): the actor's only signal is dQ/da,
    # which reaches its weights only through a = tanh(mean + std * noise)
    agent = filled_agent("--no-autotune", "--alpha", "1e-6", "--learning-rate", "1e-2")
    agent.critic_optimizer.param_groups[0]["lr"] = 0.0
    with torch.no_grad():
        for critic in critics(agent)[0]:
            critic.net[0].weight[:, 3:] *= 10.0  # make Q depend clearly on the action
    obs = torch.from_numpy(agent.memory.obs[:64])

    def q_of_mean_action():
        with torch.no_grad():
            action = torch.tanh(agent.actor(obs).mean)
            return torch.min(agent.critic1(obs, action), agent.critic2(obs, action)).mean().item()

    before = q_of_mean_action()
    agent.learn(50)
    assert q_of_mean_action() > before + 0.05


@pytest.mark.parametrize("target_entropy,direction", [("-2", -1), ("5", +1)])
def test_temperature_moves_towards_the_target_entropy(target_entropy, direction):
    """Red with the temperature loss's sign flipped."""
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
    """Red with evaluate sampling its actions instead of taking the mean."""
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
            mean = agent.actor(torch.full((1, 3), float(t))).mean
            expected = eval_env.action(torch.tanh(mean)[0].numpy())
            np.testing.assert_allclose(received, expected, rtol=1e-5, atol=1e-6)


class Recorded(gym.Wrapper):
    """Counts the steps an env takes and remembers the seed of its first seeded reset."""

    def __init__(self, env):
        super().__init__(env)
        self.steps, self.first_seed = 0, None

    def reset(self, *, seed=None, options=None):
        if seed is not None and self.first_seed is None:
            self.first_seed = seed
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        self.steps += 1
        return self.env.step(action)


def test_train_main_evaluates_on_the_separate_eval_env_never_the_training_env(tmp_path, monkeypatch):
    """Red with main's on_eval evaluating on the training env: it then takes the evaluations' steps too (and
    the next training step continues from wherever the evaluation left it)."""
    made, make_env = [], train.make_env
    monkeypatch.setattr(train, "make_env", lambda *args, **kwargs: made.append(Recorded(make_env(*args, **kwargs)))
                        or made[-1])
    train.main(["--total-steps", "300", "--eval-every", "200", "--eval-episodes", "1", "--max-episode-steps", "50",
                "--hidden", "16", "16", "--batch-size", "16", "--log-dir", str(tmp_path / "logs"),
                "--save-dir", str(tmp_path / "models")])
    by_seed = {env.first_seed: env.steps for env in made if env.first_seed is not None}
    # the training env (first reset seeded with --seed) takes every training step and nothing else; the
    # evaluation env (seeded with seed + 10,000 in build) takes 2 evaluations x 1 episode x 50 steps
    assert by_seed == {1: 300, 10_001: 2 * 50}


def test_a_run_shorter_than_eval_every_still_evaluates_its_final_policy():
    env, _ = counter_env(time_limit=4)
    agent = tiny_agent("--total-steps", "7", "--eval-every", "1000")
    steps = []
    agent.train(env, on_eval=lambda step, s: steps.append(step))
    assert steps == [7] and agent.steps == 7


def test_anneal_lr_decays_every_optimizers_rate_linearly_to_zero():
    env, _ = counter_env(time_limit=5)
    agent = tiny_agent("--total-steps", "40", "--eval-every", "1000", "--anneal-lr", "--learning-rate", "0.01")
    rates, learn = [], agent.learn

    def recording_learn(gradient_steps):
        rates.append((agent.steps, *(o.param_groups[0]["lr"] for o in
                                     (agent.actor_optimizer, agent.critic_optimizer, agent.alpha_optimizer))))
        learn(gradient_steps)

    agent.learn = recording_learn
    agent.train(env)
    assert [r[0] for r in rates] == list(range(1, 41))  # learning_starts 0, train_freq 1
    for step, *lrs in rates:
        assert lrs == pytest.approx([0.01 * (1 - step / 40)] * 3)
    # the rate reaches the update: at the last step (rate 0) nothing moves
    weights = lambda: [*agent.actor.parameters(), *agent.critic1.parameters(), *agent.critic2.parameters(),
                       agent.log_alpha]
    before = [p.detach().clone() for p in weights()]
    agent.learn(3)
    assert all(torch.equal(a, b) for a, b in zip(before, weights()))
    agent.set_learning_rate(0.01)
    agent.learn(1)
    assert not torch.equal(before[0], next(agent.actor.parameters()))


def test_without_anneal_lr_the_rate_stays():
    env, _ = counter_env(time_limit=5)
    agent = tiny_agent("--total-steps", "20", "--eval-every", "1000", "--learning-rate", "0.01")
    agent.train(env)
    assert [o.param_groups[0]["lr"] for o in (agent.actor_optimizer, agent.critic_optimizer, agent.alpha_optimizer)] \
        == [0.01] * 3


def test_the_learned_temperature_is_the_one_the_losses_use(monkeypatch):
    import agent as agent_module

    agent = filled_agent("--alpha", "1.0")
    with torch.no_grad():
        agent.log_alpha.fill_(math.log(0.3))  # learned away from --alpha: the losses must use 0.3, not 1.0
    seen = []
    target = agent_module.soft_td_target
    monkeypatch.setattr(agent_module, "soft_td_target", lambda *args: seen.append(args[-1]) or target(*args))
    agent.learn(1)
    assert float(seen[0]) == pytest.approx(0.3)


def test_each_gradient_step_starts_from_zero_gradients(monkeypatch):
    """Two updates on one minibatch with the same noise, the weights held still: each step's gradients must be
    that step's own, not the sum of both (a forgotten zero_grad doubles them)."""
    agent = filled_agent()
    obs, actions, rewards, next_obs, terminated = next_batch(agent, 0)[0]
    grads = []
    for optimizer in (agent.critic_optimizer, agent.actor_optimizer, agent.alpha_optimizer):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        monkeypatch.setattr(optimizer, "step", lambda params=params: grads.append([p.grad.clone() for p in params]))
    monkeypatch.setattr(agent, "update_targets", lambda: None)
    for _ in range(2):
        torch.manual_seed(1)
        agent.update(obs, actions, rewards, next_obs, terminated)
    first, second = grads[:3], grads[3:]
    for a, b in zip(first, second):
        for ga, gb in zip(a, b):
            torch.testing.assert_close(gb, ga)
    assert any(g.abs().sum() > 0 for step in first for g in step)
