"""Call-site tests: the chapter's rules checked through the real code (collect_episodes, Agent.learn,
Agent.evaluate, train.main), so that breaking a rule where it is applied turns a test red.

The batches come from tiny registered envs whose rewards and observations are known: every step gives
rewards 1, 0, 2 in turn and the observation (t, 1), so the returns can be worked out by hand.
"""
import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import agent as agent_module
import train
from agent import Agent
from networks import ValueNetwork
from train import get_config, make_env, make_envs

REWARDS = [1.0, 0.0, 2.0, 0.0, 0.0]


class CountingEnv(gym.Env):
    """Observation (t, 1); reward REWARDS[t]. `ends`: "never" (only the time limit of 3 steps cuts the
    episode: truncated), "at2" (terminates after 2 steps), "random" (terminates after 2 steps or is cut
    at 3, drawn at each reset). Continuous actions with `box=True`. Records the actions it is given."""

    metadata = {"render_modes": []}

    def __init__(self, ends="never", box=False, render_mode=None):
        self.ends, self.t, self.actions, self.render_mode = ends, 0, [], render_mode
        self.observation_space = gym.spaces.Box(-10.0, 10.0, (2,), np.float32)
        self.action_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32) if box else gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.length = {"never": 99, "at2": 2, "random": int(self.np_random.choice([2, 99]))}[self.ends]
        return np.array([0.0, 1.0], np.float32), {}

    def step(self, action):
        self.actions.append(action)
        reward = REWARDS[self.t]
        self.t += 1
        return np.array([self.t, 1.0], np.float32), reward, self.t >= self.length, False, {}


for name, kwargs in [("Never", {}), ("At2", {"ends": "at2"}), ("Random", {"ends": "random"}),
                     ("Box", {"box": True})]:
    if f"Part3Counting{name}-v0" not in gym.registry:
        gym.register(f"Part3Counting{name}-v0", entry_point=CountingEnv, kwargs=kwargs, max_episode_steps=3)


def make_agent(env_id, *flags):
    """An agent on a tiny env: gamma 0.5, no normalization, no clipping, one value step, unless flags say otherwise."""
    torch.manual_seed(0)
    config = get_config(["--env-id", env_id, "--episodes-per-batch", "2", "--gamma", "0.5", "--no-normalize",
                         "--max-grad-norm", "1e9", "--value-steps", "1", "--hidden", "8", "--seed", "0", *flags])
    envs = make_envs(config)
    return Agent(config, envs.single_observation_space, envs.single_action_space), envs


def linear_value(agent, weight, bias):
    """Replace the agent's value network by V(s) = weight . s + bias, so its values are known by hand."""
    agent.value = ValueNetwork(2, hidden=[])
    with torch.no_grad():
        agent.value.body[0].weight.copy_(torch.tensor([weight]))
        agent.value.body[0].bias.fill_(bias)
    agent.value_optimizer = torch.optim.Adam(agent.value.parameters(), lr=1e-3)


def learn_gradients(agent, batch):
    """Run Agent.learn on `batch`; return the policy and value net as they were before, and the gradients
    learn left on their parameters (with --max-grad-norm 1e9 the clipping leaves them as computed)."""
    policy_before, value_before = copy.deepcopy(agent.policy), copy.deepcopy(agent.value)
    agent.learn(batch)
    grads = [p.grad.clone() for p in agent.policy.parameters()]
    value_grads = None if agent.value is None else [p.grad.clone() for p in agent.value.parameters()]
    return policy_before, value_before, grads, value_grads


def flat(batch, key):
    return torch.as_tensor(batch[key][batch["mask"].astype(bool)])


def expected_policy_gradients(policy, batch, weights, entropy_coef=0.0, max_entropy=math.log(2)):
    """The chapter's loss, written out: -mean(log pi(a|s) * weight) - beta * mean(H) / H_max."""
    log_probs, entropy = policy.log_prob_entropy(flat(batch, "obs"), flat(batch, "actions"))
    weights = torch.as_tensor(np.asarray(weights, dtype=np.float32))
    loss = -(log_probs * weights).mean() - entropy_coef * entropy.mean() / max_entropy
    return torch.autograd.grad(loss, list(policy.parameters()))


def assert_same(grads, expected):
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def assert_differ(grads, expected):
    assert any(not torch.allclose(got, want, rtol=1e-3, atol=1e-6) for got, want in zip(grads, expected))


# ---------- collection: how an episode ended ----------

def test_a_time_limit_is_collected_as_truncation_with_the_true_final_observation():
    agent, envs = make_agent("Part3CountingNever-v0")
    batch = agent.collect_episodes(envs, seed=0)
    np.testing.assert_array_equal(batch["lengths"], [3, 3])
    np.testing.assert_array_equal(batch["terminated"], [0, 0])           # cut by the time limit: not terminal
    np.testing.assert_array_equal(batch["final_obs"], [[3, 1], [3, 1]])  # where the last step led
    np.testing.assert_array_equal(batch["obs"][:, 0], [[0, 1], [1, 1], [2, 1]])
    np.testing.assert_array_equal(batch["rewards"][:, 0], [1, 0, 2])


def test_episodes_ending_at_different_times_keep_their_own_final_observation():
    # a sub-env that ended is stepped again (and reset by the vector env) while the others finish: its
    # final observation and its terminated flag must be the ones of its own last step
    agent, envs = make_agent("Part3CountingRandom-v0", "--episodes-per-batch", "8")
    batch = agent.collect_episodes(envs, seed=3)
    assert set(batch["lengths"]) == {2, 3}, batch["lengths"]  # the seed gives both kinds
    for length, terminated, final in zip(batch["lengths"], batch["terminated"], batch["final_obs"]):
        assert terminated == (length == 2)   # 2 steps: the env terminated; 3: the time limit cut it
        np.testing.assert_array_equal(final, [length, 1])


# ---------- Agent.learn: the weights of the log-probabilities ----------

def test_no_baseline_weights_are_the_discounted_returns():
    agent, envs = make_agent("Part3CountingNever-v0", "--preset", "vpg")
    batch = agent.collect_episodes(envs, seed=0)
    policy, _, grads, _ = learn_gradients(agent, batch)
    # rewards 1, 0, 2 with gamma 0.5, compounded per step: G = 1 + 0.5 * 0 + 0.25 * 2 = 1.5, 0 + 0.5 * 2 = 1, 2.
    # Without a learned critic the time limit's tail is 0: the episode counts as if it ended there.
    returns = [1.5, 1.5, 1.0, 1.0, 2.0, 2.0]  # time-major, two identical episodes
    assert_same(grads, expected_policy_gradients(policy, batch, returns))


def test_normalization_divides_the_weights_by_their_std_only():
    agent, envs = make_agent("Part3CountingNever-v0", "--preset", "vpg", "--normalize")
    batch = agent.collect_episodes(envs, seed=0)
    policy, _, grads, _ = learn_gradients(agent, batch)
    returns = np.array([1.5, 1.5, 1.0, 1.0, 2.0, 2.0])
    assert_same(grads, expected_policy_gradients(policy, batch, returns / (returns.std(ddof=1) + 1e-8)))


def test_batch_mean_baseline_subtracts_the_mean_return():
    agent, envs = make_agent("Part3CountingNever-v0", "--preset", "bpg")
    batch = agent.collect_episodes(envs, seed=0)
    policy, _, grads, _ = learn_gradients(agent, batch)
    advantages = np.array([1.5, 1.5, 1.0, 1.0, 2.0, 2.0]) - 1.5   # the mean return of the batch is 1.5
    assert_same(grads, expected_policy_gradients(policy, batch, advantages))


@pytest.mark.parametrize("preset,invariant", [("bpg", True), ("vpg", False)])
def test_a_constant_added_to_every_return_changes_nothing_with_the_batch_mean_baseline(preset, invariant):
    # gamma 0: each return is its reward, so +5 on every reward is +5 on every return. The batch-mean
    # baseline removes it; without a baseline the update changes (which shows the test can see it).
    agent, envs = make_agent("Part3CountingNever-v0", "--preset", preset, "--gamma", "0", "--normalize")
    batch = agent.collect_episodes(envs, seed=0)
    shifted = dict(batch, rewards=batch["rewards"] + 5.0 * batch["mask"])
    state = copy.deepcopy(agent.policy.state_dict()), copy.deepcopy(agent.policy_optimizer.state_dict())
    _, _, grads, _ = learn_gradients(agent, batch)
    agent.policy.load_state_dict(state[0])
    agent.policy_optimizer.load_state_dict(state[1])
    _, _, shifted_grads, _ = learn_gradients(agent, shifted)
    (assert_same if invariant else assert_differ)(shifted_grads, grads)


def test_learned_baseline_subtracts_v_and_bootstraps_the_truncated_tail():
    agent, envs = make_agent("Part3CountingNever-v0", "--preset", "value")
    linear_value(agent, [1.0, 0.0], 0.5)     # V(t, 1) = t + 0.5
    batch = agent.collect_episodes(envs, seed=0)
    policy, value, grads, value_grads = learn_gradients(agent, batch)
    # cut by the time limit at (3, 1): tail V = 3.5. G2 = 2 + 0.5 * 3.5 = 3.75, G1 = 0.5 * 3.75 = 1.875,
    # G0 = 1 + 0.5 * 1.875 = 1.9375. The baseline V(s_t) = 0.5, 1.5, 2.5 (before V's update, no gradient).
    returns = np.repeat([1.9375, 1.875, 3.75], 2)
    advantages = returns - np.repeat([0.5, 1.5, 2.5], 2)
    assert_same(grads, expected_policy_gradients(policy, batch, advantages))
    # the value network has its own loss, MSE towards the returns, and nothing else reaches it
    value_loss = torch.nn.functional.mse_loss(value(flat(batch, "obs")), torch.as_tensor(returns, dtype=torch.float32))
    assert_same(value_grads, torch.autograd.grad(value_loss, list(value.parameters())))


def test_learned_baseline_does_not_bootstrap_a_terminated_episode():
    agent, envs = make_agent("Part3CountingAt2-v0", "--preset", "value")
    linear_value(agent, [1.0, 0.0], 0.5)
    batch = agent.collect_episodes(envs, seed=0)
    np.testing.assert_array_equal(batch["terminated"], [1, 1])
    policy, _, grads, _ = learn_gradients(agent, batch)
    returns = np.repeat([1.0, 0.0], 2)       # terminated after rewards 1, 0: nothing follows
    assert_same(grads, expected_policy_gradients(policy, batch, returns - np.repeat([0.5, 1.5], 2)))


def test_entropy_bonus_adds_its_stated_term():
    agent, envs = make_agent("Part3CountingNever-v0", "--preset", "vpg", "--entropy-coef", "0.3")
    batch = agent.collect_episodes(envs, seed=0)
    policy, _, grads, _ = learn_gradients(agent, batch)
    returns = [1.5, 1.5, 1.0, 1.0, 2.0, 2.0]
    assert_same(grads, expected_policy_gradients(policy, batch, returns, entropy_coef=0.3, max_entropy=math.log(2)))
    assert_differ(grads, expected_policy_gradients(policy, batch, returns))  # the bonus is not negligible here


# ---------- evaluation ----------

def test_evaluation_is_greedy_argmax():
    agent, _ = make_agent("Part3CountingNever-v0")
    with torch.no_grad():                      # pi(1 | s) = 0.62 everywhere: sampling would often pick 0
        agent.policy.body[-1].weight.zero_()
        agent.policy.body[-1].bias.copy_(torch.tensor([0.0, 0.5]))
    env = make_env(agent.config)
    agent.evaluate(env, 5, seed=0)
    assert env.unwrapped.actions == [1] * 15


def test_evaluation_is_greedy_mean_action():
    agent, _ = make_agent("Part3CountingBox-v0", "--log-std-init", "1.0")
    with torch.no_grad():
        agent.policy.body[-1].weight.zero_()
        agent.policy.body[-1].bias.fill_(0.3)
    env = make_env(agent.config)
    agent.evaluate(env, 2, seed=0)
    mean = 2.0 * math.tanh(0.3)                 # the Gaussian's mean, squashed into the bounds [-2, 2]
    np.testing.assert_allclose(np.array(env.unwrapped.actions).ravel(), [mean] * 6, rtol=1e-6)


def test_train_evaluates_on_its_own_env_and_never_steps_the_training_env(monkeypatch, tmp_path):
    training_steps = [0]

    class Counting(gym.Wrapper):
        def step(self, action):
            training_steps[0] += 1
            return super().step(action)

    def counted_envs(config):
        envs = make_envs(config)
        envs.envs = [Counting(env) for env in envs.envs]
        return envs

    seen = []
    evaluate = Agent.evaluate

    def spy(self, env, episodes, **kwargs):
        before = training_steps[0]
        result = evaluate(self, env, episodes, **kwargs)
        seen.append((env, training_steps[0] - before))
        return result

    monkeypatch.setattr(train, "make_envs", counted_envs)
    monkeypatch.setattr(agent_module.Agent, "evaluate", spy)
    train.main(["--total-steps", "600", "--eval-every", "250", "--eval-episodes", "2", "--episodes-per-batch", "2",
                "--log-dir", str(tmp_path / "logs"), "--save-dir", str(tmp_path / "models")])
    assert len(seen) >= 3 and training_steps[0] > 0
    assert all(stepped == 0 for _, stepped in seen)                  # evaluation never touched the training env
    assert all(isinstance(env.unwrapped, gym.envs.classic_control.CartPoleEnv) for env, _ in seen)


# ---------- the value regression and the clip, through Agent.learn ----------

def test_learn_takes_value_steps_adam_steps_on_the_value_network():
    agent, envs = make_agent("Part3CountingNever-v0", "--value-steps", "3")
    batch = agent.collect_episodes(envs, seed=0)
    value = copy.deepcopy(agent.value)
    optimizer = torch.optim.Adam(value.parameters(), lr=agent.config.value_learning_rate)
    with torch.no_grad():  # the truncated tail, bootstrapped from V(final observation) before any step
        tail = value(torch.as_tensor(batch["final_obs"])).numpy() * (1.0 - batch["terminated"])
    returns = torch.as_tensor(agent_module.discounted_returns(batch["rewards"], 0.5, batch["mask"], tail)[
        batch["mask"].astype(bool)])
    for _ in range(3):  # the chapter's regression, written out: 3 steps of mse(V(s), G) on the whole batch
        loss = torch.nn.functional.mse_loss(value(flat(batch, "obs")), returns)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    steps = []
    value_step = agent.value_optimizer.step
    agent.value_optimizer.step = lambda *args, **kwargs: steps.append(1) or value_step(*args, **kwargs)
    agent.learn(batch)
    assert len(steps) == 3
    for got, want in zip(agent.value.parameters(), value.parameters()):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_learn_clips_the_policy_gradient_norm():
    clipped, envs = make_agent("Part3CountingNever-v0", "--max-grad-norm", "0.01")
    free, _ = make_agent("Part3CountingNever-v0")  # the same seed: the same networks, no clipping (1e9)
    batch = clipped.collect_episodes(envs, seed=0)
    *_, grads, _ = learn_gradients(clipped, batch)
    *_, free_grads, _ = learn_gradients(free, batch)
    free_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in free_grads]))
    assert free_norm > 0.1  # so the clip has something to do
    assert_same(grads, [g * 0.01 / free_norm for g in free_grads])  # the same direction, norm 0.01
