"""Call-site tests: the real collection loop, Agent.learn, Agent.evaluate and Agent.train break when a rule breaks."""
import gymnasium as gym
import numpy as np
import pytest
import torch

from agent import Agent
from train import build, get_config
from wrappers import make_vector_env


class TinyEnv(gym.Env):
    """Observation [t] (the step count), reward 1 per step; never ends by itself, or terminates after 3 steps.

    Registered with a time limit of 3: the one episode end is a truncation (or, with terminate=True, a
    termination at the same step). The final observation is [3]; the next episode's first one is [0].
    """

    def __init__(self, terminate=False, render_mode=None):
        self.observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.terminate, self.t = terminate, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], dtype=np.float32), 1.0, self.terminate and self.t == 3, False, {}


gym.register("TinyTruncating-v0", entry_point=TinyEnv, max_episode_steps=3)
gym.register("TinyTerminating-v0", entry_point=TinyEnv, max_episode_steps=100, kwargs=dict(terminate=True))


def tiny_agent(env_id, monkeypatch, **flags):
    """An agent on 2 tiny envs, 8 steps per rollout, gamma 0.5, lambda 1, and a critic V(s) = 100 + 10 * s."""
    argv = ["--env-id", env_id, "--num-envs", "2", "--n-steps", "8", "--gamma", "0.5", "--gae-lambda", "1.0"]
    for key, value in flags.items():  # booleans are switches: --normalize-obs
        argv += [f"--{key.replace('_', '-')}"] + ([] if value is True else [str(value)])
    config = get_config(argv)
    envs = make_vector_env(env_id, 2)
    agent = Agent(config, envs.single_observation_space, envs.single_action_space)
    monkeypatch.setattr(agent.network, "value", lambda obs: 100 + 10 * obs[:, 0])
    return agent, envs


def learned_batch(agent, envs, monkeypatch):
    """Collect one rollout through the real loop, run Agent.learn, and return the batch its gradient step got."""
    seen = []
    monkeypatch.setattr(agent, "gradient_step", lambda batch: seen.append(batch) or {})
    agent.start(envs, seed=0)
    agent.collect_rollouts(envs)
    agent.learn()
    (batch,) = seen
    return batch


def test_truncation_bootstraps_from_the_real_final_observation(monkeypatch):
    agent, envs = tiny_agent("TinyTruncating-v0", monkeypatch)
    batch = learned_batch(agent, envs, monkeypatch)
    obs, returns = batch["obs"][:, 0].numpy(), batch["returns"].numpy()
    # 8 slots per env: two episodes of 3 transitions, each followed by a reset-only slot (final obs [3])
    assert sorted(obs) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]  # no reset-only step reached the loss
    # the truncated step (from [2]) bootstraps from V([3]) = 130: 1 + 0.5 * 130 = 66, never from the next
    # episode's first observation (1 + 0.5 * V([0]) = 51) and never as if terminal (1)
    np.testing.assert_allclose(returns[obs == 2], 66.0)
    np.testing.assert_allclose(returns[obs == 1], 1 + 0.5 * 66)  # lambda = 1: Monte Carlo to the end, then V
    np.testing.assert_allclose(returns[obs == 0], 1 + 0.5 * 34)
    np.testing.assert_allclose(batch["values"].numpy(), 100 + 10 * obs)
    assert agent.finished_episodes == [(3.0, 3)] * 4 and agent.steps == 16


def test_termination_does_not_bootstrap(monkeypatch):
    agent, envs = tiny_agent("TinyTerminating-v0", monkeypatch)
    batch = learned_batch(agent, envs, monkeypatch)
    obs, returns = batch["obs"][:, 0].numpy(), batch["returns"].numpy()
    assert sorted(obs) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    np.testing.assert_allclose(returns[obs == 2], 1.0)  # nothing follows a real end
    np.testing.assert_allclose(returns[obs == 1], 1.5)
    np.testing.assert_allclose(returns[obs == 0], 1.75)


def test_reward_scaling_and_obs_normalisation_keep_the_rules(monkeypatch):
    agent, envs = tiny_agent("TinyTruncating-v0", monkeypatch, normalize_obs=True, normalize_reward=True)
    batch = learned_batch(agent, envs, monkeypatch)
    assert len(batch["obs"]) == 12 and agent.obs_normalizer.stats.count > 16  # statistics updated while training
    assert agent.finished_episodes == [(3.0, 3)] * 4  # logged returns are in the env's own reward scale


def test_collection_refuses_another_autoreset_mode():
    config = get_config(["--num-envs", "2"])
    envs = gym.make_vec("CartPole-v1", 2, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    agent = Agent(config, envs.single_observation_space, envs.single_action_space)
    with pytest.raises(ValueError, match="autoreset"):
        agent.start(envs)


def count_steps(env):
    calls = []
    step = env.step
    env.step = lambda action: calls.append(action) or step(action)
    return calls


def test_evaluation_is_greedy_frozen_and_never_steps_the_training_env():
    config = get_config(["--total-steps", "400", "--eval-every", "200", "--num-envs", "4", "--normalize-obs"])
    envs, eval_env, agent = build(config)
    train_calls, eval_calls = count_steps(envs), []
    real_step = eval_env.step

    def eval_step(action):  # record what the evaluation saw and did, and check it is the greedy action
        with torch.no_grad():
            logits = agent.network.distribution(torch.as_tensor(agent.observe(eval_env_obs[0][None]))).logits[0]
        eval_calls.append((int(action), int(logits.argmax())))
        obs, *rest = real_step(action)
        eval_env_obs[0] = obs
        return (obs, *rest)

    real_reset, eval_env_obs = eval_env.reset, [None]

    def eval_reset(**kwargs):
        obs, info = real_reset(**kwargs)
        eval_env_obs[0] = obs
        return obs, info

    eval_env.step, eval_env.reset = eval_step, eval_reset
    statistics = []

    def on_eval(step, seconds):
        before = agent.obs_normalizer.stats.count
        agent.evaluate(eval_env, 2)
        statistics.append(agent.obs_normalizer.stats.count == before)

    agent.train(envs, on_eval=on_eval)
    assert len(train_calls) * 4 == agent.steps == 400   # only collection stepped the training env
    assert eval_calls and all(action == greedy for action, greedy in eval_calls)
    assert statistics == [True, True]                    # evaluation left the running statistics alone


def test_a_run_shorter_than_eval_every_still_ends_with_an_evaluation():
    config = get_config(["--total-steps", "100", "--eval-every", "1000", "--num-envs", "4", "--n-steps", "5"])
    envs, _, agent = build(config)
    evaluations = []
    agent.train(envs, on_eval=lambda step, seconds: evaluations.append(step))
    assert evaluations == [agent.steps] and agent.steps >= 100


def test_no_second_evaluation_when_the_last_scheduled_one_was_final():
    config = get_config(["--total-steps", "80", "--eval-every", "40", "--num-envs", "4", "--n-steps", "5"])
    envs, _, agent = build(config)
    evaluations = []
    agent.train(envs, on_eval=lambda step, seconds: evaluations.append(step))
    assert evaluations == [40, 80]


def gradient_steps_of(algo, monkeypatch, *flags):
    config = get_config(["--algo", algo, "--num-envs", "4", "--n-steps", "16", *flags])
    envs, _, agent = build(config)
    calls = []
    real = agent.gradient_step
    monkeypatch.setattr(agent, "gradient_step", lambda batch: calls.append(len(batch["obs"])) or real(batch))
    agent.start(envs, seed=0)
    agent.collect_rollouts(envs)
    agent.learn()
    return calls, int(agent.buffer.valid.sum())


def test_a2c_takes_one_gradient_step_on_the_whole_rollout(monkeypatch):
    calls, valid = gradient_steps_of("a2c", monkeypatch)
    assert calls == [valid]


def test_ppo_takes_epochs_of_minibatches(monkeypatch):
    calls, valid = gradient_steps_of("ppo", monkeypatch, "--n-epochs", "3", "--minibatch-size", "20")
    per_epoch = [20] * (valid // 20) + ([valid % 20] if valid % 20 else [])
    assert calls == per_epoch * 3


def test_ppo_survives_a_last_minibatch_of_one_row():
    # 65 valid rows in minibatches of 64: the last of every epoch holds one row (a NaN std made every weight NaN)
    config = get_config(["--algo", "ppo", "--num-envs", "1", "--n-steps", "65", "--minibatch-size", "64",
                         "--n-epochs", "2", "--max-episode-steps", "500"])
    envs, _, agent = build(config)
    agent.start(envs, seed=0)
    agent.collect_rollouts(envs)
    agent.buffer.valid[:] = True  # whatever episodes ended in the rollout: 65 rows enter the loss
    stats = agent.learn()
    assert all(np.isfinite(value) for value in stats.values()), stats
    assert all(torch.isfinite(p).all() for p in agent.network.parameters())


def one_update(shared, returns_offset, vf_coef=0.5):
    """Weights after one A2C gradient step on a fixed batch whose critic targets are shifted by returns_offset."""
    torch.manual_seed(0)
    flags = ["--num-envs", "2", "--n-steps", "4", "--vf-coef", str(vf_coef)] + (["--shared"] if shared else [])
    config = get_config(flags)
    envs, _, agent = build(config)
    agent.start(envs, seed=0)
    agent.collect_rollouts(envs)
    batch = agent.prepare_batch()
    batch["returns"] = batch["returns"] + returns_offset
    agent.gradient_step(batch)
    return agent


def test_separate_networks_keep_the_critic_loss_out_of_the_actor():
    a, b = one_update(False, 0.0), one_update(False, 100.0)
    assert len(a.optimizers) == 2  # two networks, each with its own gradient clipping
    for pa, pb in zip(a.network.actor_parameters(), b.network.actor_parameters()):
        torch.testing.assert_close(pa, pb)  # the actor does not care what the critic was told
    assert not torch.allclose(a.network.value_head.weight, b.network.value_head.weight)


def test_a_shared_trunk_learns_from_both_losses_weighted_by_vf_coef():
    a, b = one_update(True, 0.0), one_update(True, 100.0)
    assert len(a.optimizers) == 1
    assert not torch.allclose(a.network.trunk[0].weight, b.network.trunk[0].weight)
    c, d = one_update(True, 0.0, vf_coef=0.0), one_update(True, 100.0, vf_coef=0.0)
    torch.testing.assert_close(c.network.trunk[0].weight, d.network.trunk[0].weight)  # weight 0: no effect


def test_the_checkpoint_carries_the_observation_statistics():
    config = get_config(["--env-id", "Pendulum-v1", "--algo", "ppo", "--num-envs", "2", "--n-steps", "64"])
    envs, eval_env, agent = build(config)
    agent.start(envs, seed=0)
    agent.collect_rollouts(envs)
    state = agent.state()
    other = Agent(config, eval_env.observation_space, eval_env.action_space)
    other.load(state)
    obs = np.array([0.5, -0.2, 3.0], dtype=np.float32)
    np.testing.assert_array_equal(other.greedy_action(obs), agent.greedy_action(obs))
    np.testing.assert_allclose(other.observe(obs[None]), agent.observe(obs[None]))
    assert not np.allclose(agent.observe(obs[None]), obs)  # the statistics are not the identity


# ---------- classic mistakes, each caught at its call site ----------

def test_the_rollout_end_bootstraps_from_the_value_of_the_next_observation(monkeypatch):
    # two steps of an episode that goes on: the last one's target is r + gamma V(last_obs) = 1 + 0.5 * V([2])
    agent, envs = tiny_agent("TinyTruncating-v0", monkeypatch)
    agent.config.n_steps = 2
    agent.buffer = type(agent.buffer)(2, 2, 1, (), True)
    batch = learned_batch(agent, envs, monkeypatch)
    obs, returns = batch["obs"][:, 0].numpy(), batch["returns"].numpy()
    np.testing.assert_allclose(returns[obs == 1], 1 + 0.5 * 120)
    np.testing.assert_allclose(returns[obs == 0], 1 + 0.5 * 61)


def test_collection_records_the_log_probability_of_the_sampled_action():
    config = get_config(["--env-id", "Pendulum-v1", "--algo", "ppo", "--num-envs", "2", "--n-steps", "50",
                         "--log-std-init", "1.5"])
    envs, _, agent = build(config)
    sent = []
    step = envs.step
    envs.step = lambda actions: sent.append(np.array(actions)) or step(actions)
    agent.start(envs, seed=0)
    agent.collect_rollouts(envs)
    b = agent.buffer
    assert np.abs(b.actions).max() > 2.0                     # std e^1.5: many samples fall outside [-2, 2] ...
    assert np.abs(np.array(sent)).max() <= 2.0               # ... the env gets them clipped ...
    with torch.no_grad():                                    # ... and the log-probability is the sample's own
        recorded = agent.network.distribution(torch.from_numpy(b.obs.reshape(100, 3))).log_prob(
            torch.from_numpy(b.actions.reshape(100, 1)))
    np.testing.assert_allclose(b.log_probs.reshape(100), recorded.numpy(), rtol=1e-5, atol=1e-5)
    batch = agent.prepare_batch()                            # PPO's old log-probabilities are the recorded ones
    valid = b.valid.reshape(-1) > 0
    np.testing.assert_array_equal(batch["log_probs"].numpy(), b.log_probs.reshape(-1)[valid])


def ratio_seen(monkeypatch, shift):
    """The ratio PPO's loss gets when the batch's recorded log-probabilities are `shift` below the current ones."""
    import agent as agent_module

    config = get_config(["--algo", "ppo", "--num-envs", "2", "--n-steps", "8"])
    envs, _, agent = build(config)
    agent.start(envs, seed=0)
    agent.collect_rollouts(envs)
    batch = agent.prepare_batch()
    batch["log_probs"] = batch["log_probs"] - shift
    seen = []
    loss = agent_module.clipped_surrogate_loss
    monkeypatch.setattr(agent_module, "clipped_surrogate_loss", lambda ratio, *rest: seen.append(ratio.detach()) or loss(ratio, *rest))
    stats = agent.gradient_step(batch)
    return seen[0], stats


def test_ppo_ratio_is_new_over_old(monkeypatch):
    ratio, stats = ratio_seen(monkeypatch, 0.0)
    torch.testing.assert_close(ratio, torch.ones_like(ratio))  # before any step: the policy that collected
    assert float(stats["losses/approx_kl"]) == pytest.approx(0.0, abs=1e-6)
    ratio, _ = ratio_seen(monkeypatch, 0.1)                    # pi_old smaller: the ratio is e^0.1, not e^-0.1
    torch.testing.assert_close(ratio, torch.full_like(ratio, float(np.exp(0.1))))


def test_the_entropy_bonus_raises_the_entropy(monkeypatch):
    # no advantage, no value error: the only thing left to learn is the entropy bonus, so a step must raise it
    # (a small step: RMSprop's first steps move every weight by about 10 x the learning rate, whatever its gradient)
    config = get_config(["--num-envs", "2", "--n-steps", "8", "--ent-coef", "1.0", "--learning-rate", "1e-4"])
    envs, _, agent = build(config)
    agent.start(envs, seed=0)
    agent.collect_rollouts(envs)
    batch = agent.prepare_batch()
    batch["advantages"] = torch.zeros_like(batch["advantages"])
    with torch.no_grad():
        agent.network.policy_head.bias.copy_(torch.tensor([2.0, -2.0]))  # far from uniform: room to rise
        before = agent.network.distribution(batch["obs"]).entropy().mean()
    agent.gradient_step(batch)
    with torch.no_grad():
        after = agent.network.distribution(batch["obs"]).entropy().mean()
    assert after > before


def test_the_reward_scaler_restarts_the_return_at_every_episode_end(monkeypatch):
    agent, envs = tiny_agent("TinyTruncating-v0", monkeypatch, normalize_reward=True)
    after = []
    scaler = agent.reward_scaler

    class Recording:
        def __call__(self, rewards, done):
            scaled = type(scaler).__call__(scaler, rewards, done)
            after.append((scaler.returns.copy(), done.copy()))
            return scaled

    agent.reward_scaler = Recording()
    agent.start(envs, seed=0)
    agent.collect_rollouts(envs)
    ends = [returns[done] for returns, done in after if done.any()]
    assert ends and all((r == 0).all() for r in ends)          # an ended episode's discounted return is dropped
    running = [returns[~done] for returns, done in after]
    assert max(r.max() for r in running if len(r)) > 1.0       # ... and it accumulates within an episode


def test_train_seconds_leave_evaluation_out(monkeypatch):
    import agent as agent_module

    clock = type("Clock", (), {"now": 0.0, "perf_counter": lambda self: self.now})()
    monkeypatch.setattr(agent_module, "time", clock)
    config = get_config(["--total-steps", "80", "--eval-every", "40", "--num-envs", "4", "--n-steps", "5"])
    envs, _, agent = build(config)
    learn = agent.learn
    monkeypatch.setattr(agent, "learn", lambda: setattr(clock, "now", clock.now + 1.0) or learn())
    seen = []
    train_seconds = agent.train(envs, on_eval=lambda step, seconds: seen.append(seconds) or setattr(clock, "now", clock.now + 100))
    assert seen == [2.0, 4.0] and train_seconds == 4.0


def gradients_of_two_steps(monkeypatch, algo):
    """The gradients each optimizer was given in two gradient steps on one batch, the weights held still (the
    optimizers' steps recorded, not taken), without entropy bonus or clipping. Returns (agent, batch, grads)."""
    config = get_config(["--algo", algo, "--num-envs", "2", "--n-steps", "8", "--ent-coef", "0",
                         "--max-grad-norm", "1e9"])
    envs, _, agent = build(config)
    agent.start(envs, seed=0)
    agent.collect_rollouts(envs)
    batch = agent.prepare_batch()
    grads = []
    for optimizer in agent.optimizers:
        params = optimizer.param_groups[0]["params"]
        monkeypatch.setattr(optimizer, "step", lambda params=params: grads.append([p.grad.clone() for p in params]))
    for _ in range(2):
        agent.gradient_step(batch)
    return agent, batch, grads


@pytest.mark.parametrize("algo", ["a2c", "ppo"])
def test_each_gradient_step_starts_from_zero_gradients(monkeypatch, algo):
    _, _, grads = gradients_of_two_steps(monkeypatch, algo)
    first, second = grads[:2], grads[2:]   # two networks, two optimizers, two steps
    for a, b in zip(first, second):
        for ga, gb in zip(a, b):
            torch.testing.assert_close(gb, ga)  # a forgotten zero_grad would give twice the first


@pytest.mark.parametrize("algo", ["a2c", "ppo"])
def test_the_policy_gradient_reaches_the_actor(monkeypatch, algo):
    """The actor's gradient is -mean(A * grad log pi(a|s)), from log pi of the CURRENT weights (PPO's at ratio 1
    equals A2C's): a log-probability taken without gradient, or from the recorded old one, gives none."""
    agent, batch, grads = gradients_of_two_steps(monkeypatch, algo)
    from agent import normalize_advantages, policy_gradient_loss

    advantages = batch["advantages"]
    if agent.config.normalize_advantages:
        advantages = normalize_advantages(advantages)
    actor = agent.optimizers[0].param_groups[0]["params"]
    log_probs = agent.network.distribution(batch["obs"]).log_prob(batch["actions"])
    expected = torch.autograd.grad(policy_gradient_loss(log_probs, advantages), actor, allow_unused=True)
    for got, want in zip(grads[0], expected):
        torch.testing.assert_close(got, torch.zeros_like(got) if want is None else want, rtol=1e-4, atol=1e-6)
    assert any(g.abs().sum() > 0 for g in grads[0])
