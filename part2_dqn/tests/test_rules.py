"""The chapter's rules, checked where they are applied: the real collection loop, `Agent.learn`,
`Agent.evaluate` and train.py's main. Each test here fails when the code breaks the rule it names.

    only `terminated` stops the bootstrap; the stored next observation is the true final one
    n-step discounts compound as gamma^k, and a window never crosses an episode's end
    the TD target is valued by the lagging target network (Double DQN: picked by the online one)
    the target network lags: Polyak (tau) every target_update_interval steps, a hard copy with tau = 1
    evaluation is greedy, on its own env, and leaves training untouched
    epsilon decays linearly over exploration_fraction of the budget, then stays
    Agent.train: no update before learning_starts, gradient_steps per round, the learning rate annealed
    train.py keeps the best model (not the last), never claims a save it did not make, and reports the
    evaluation on the env's own reward scale (raw_reward), not the scaled training reward
"""
import dataclasses
import json

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import plumbing
import train
from agent import Agent
from fast import FastAgent

AGENTS = [Agent, FastAgent]  # both agents train.build can start from (agent.py, fast.py)


class Corridor(gym.Env):
    """A tiny env: observation [t, episode]; the step into t pays reward t; after `length` steps the
    episode ends, by `end` ("terminated" or "truncated"). The true final observation [length, episode]
    differs from the next reset's [0, episode + 1], so the memory shows which one was stored."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, length, end):
        self.length, self.end, self.episode, self.t = length, end, -1, 0
        self.actions, self.observations = [], []

    def obs(self):
        return np.array([self.t, self.episode], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return self.obs(), {}

    def step(self, action):
        self.observations.append(self.obs())
        self.actions.append(int(action))
        self.t += 1
        over = self.t == self.length
        return self.obs(), float(self.t), over and self.end == "terminated", over and self.end == "truncated", {}


def make_agent(agent_class=Agent, obs_shape=(2,), n_actions=2, **changes):
    settings = dict(hidden=[8], buffer_size=64, batch_size=1, seed=0)
    config = dataclasses.replace(train.get_config([]), **{**settings, **changes})
    torch.manual_seed(0)
    return agent_class(config, obs_shape, n_actions)


def stored(agent):
    """The memory's transitions as plain lists: obs, actions, rewards, next_obs, terminated, discounts."""
    m, n = agent.memory, len(agent.memory)
    return (m.obs[:n].tolist(), m.actions[:n].tolist(), m.rewards[:n].tolist(), m.next_obs[:n].tolist(),
            m.terminated[:n].tolist(), m.discounts[:n].tolist())


# ---------- collection: what the memory holds ----------

@pytest.mark.parametrize("agent_class", AGENTS)
def test_truncation_is_stored_as_not_done_with_the_true_final_observation(agent_class):
    agent = make_agent(agent_class, gamma=0.5)
    agent.collect_rollouts(Corridor(3, "truncated"), 3)
    obs, _, rewards, next_obs, terminated, discounts = stored(agent)
    assert obs == [[0, 0], [1, 0], [2, 0]] and rewards == [1, 2, 3]
    assert next_obs == [[1, 0], [2, 0], [3, 0]]   # [3, 0], the final observation, not the reset's [0, 1]
    assert terminated == [0, 0, 0]                # the time limit does not stop the bootstrap
    assert discounts == [0.5, 0.5, 0.5]
    assert agent.obs.tolist() == [0, 1]           # the next episode goes on from the reset


@pytest.mark.parametrize("agent_class", AGENTS)
def test_termination_is_stored_as_done(agent_class):
    agent = make_agent(agent_class)
    agent.collect_rollouts(Corridor(3, "terminated"), 5)
    obs, _, _, next_obs, terminated, _ = stored(agent)
    assert terminated == [0, 0, 1, 0, 0]
    assert next_obs[2] == [3, 0] and obs[3] == [0, 1]


@pytest.mark.parametrize("end", ["truncated", "terminated"])
@pytest.mark.parametrize("agent_class", AGENTS)
def test_n_step_transitions_through_the_collection_loop(agent_class, end):
    agent = make_agent(agent_class, n_steps=3, gamma=0.5)
    env = Corridor(5, end)
    agent.collect_rollouts(env, 7)  # one 5-step episode, then 2 steps of the next
    obs, _, rewards, next_obs, terminated, discounts = stored(agent)
    # rewards 1..5; by hand, gamma = 0.5: R_0 = 1 + 0.5 * 2 + 0.25 * 3, ...; the last three windows are cut
    # short by the episode's end, so their discounts are gamma^3, gamma^2, gamma^1
    assert obs == [[t, 0] for t in range(5)]
    assert rewards == [2.75, 4.5, 6.25, 6.5, 5.0]
    assert discounts == [0.125, 0.125, 0.125, 0.25, 0.5]
    assert next_obs == [[3, 0], [4, 0], [5, 0], [5, 0], [5, 0]]  # never the next episode's observations
    assert terminated == ([0, 0, 0, 0, 0] if end == "truncated" else [0, 0, 1, 1, 1])
    agent.collect_rollouts(env, 3)  # the second episode ends: its windows start from its own reset
    obs, _, rewards, next_obs, _, discounts = stored(agent)
    assert obs[5:] == [[t, 1] for t in range(5)] and rewards[5:] == rewards[:5]
    assert all(o[1] == n[1] for o, n in zip(obs, next_obs))   # no window crosses an episode's end


# ---------- learning: the target and the target network ----------

def filled_agent(agent_class, n_transitions=4, n_actions=3, **changes):
    """An agent whose memory holds `n_transitions` random transitions, with mixed terminated flags and
    discounts (as n-step windows leave them), and whose target network differs from the online one."""
    settings = dict(batch_size=n_transitions, buffer_size=n_transitions, learning_rate=1e-3)
    agent = make_agent(agent_class, obs_shape=(4,), n_actions=n_actions, **{**settings, **changes})
    rng = np.random.default_rng(0)
    for i in range(n_transitions):
        agent.memory.push(rng.standard_normal(4), i % n_actions, rng.standard_normal(), rng.standard_normal(4),
                          float(i % 3 == 1), [0.5, 0.25, 0.125][i % 3])
    with torch.no_grad():
        for p in agent.target_network.parameters():
            p.add_(torch.randn_like(p))
    return agent


def expected_losses(agent):
    """The Huber loss of the whole memory (one minibatch) against each candidate target, by hand."""
    m = agent.memory
    obs, next_obs = torch.from_numpy(m.obs), torch.from_numpy(m.next_obs)
    actions, rewards = torch.from_numpy(m.actions), torch.from_numpy(m.rewards)
    terminated, discounts = torch.from_numpy(m.terminated), torch.from_numpy(m.discounts)
    with torch.no_grad():
        q = agent.q_network(obs).gather(1, actions[:, None]).squeeze(1)
        online, target = agent.q_network(next_obs), agent.target_network(next_obs)
    pick = lambda q_values, by: q_values.gather(1, by.argmax(1, keepdim=True)).squeeze(1)  # noqa: E731
    values = dict(dqn=target.max(1).values, double=pick(target, online), online=online.max(1).values,
                  swapped=pick(online, target))
    losses = {name: F.smooth_l1_loss(q, rewards + discounts * (1 - terminated) * v).item() for name, v in values.items()}
    losses["bootstrap_terminated"] = F.smooth_l1_loss(q, rewards + discounts * values["dqn"]).item()
    losses["gamma_not_discount"] = F.smooth_l1_loss(q, rewards + agent.config.gamma * (1 - terminated) * values["dqn"]).item()
    return losses, q.mean().item()


@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("agent_class", AGENTS)
def test_learn_uses_the_bellman_target_of_the_chapter(agent_class, double):
    """DQN: r + discount * (1 - terminated) * max Q_target(s', .); Double DQN: the online network picks
    a' and the target network values it. The loss `learn` reports is the loss of exactly that target."""
    agent = filled_agent(agent_class, double=double)
    losses, mean_q = expected_losses(agent)
    right = losses.pop("double" if double else "dqn")
    for name, wrong in losses.items():  # the test can tell the right target from each mistake
        assert abs(wrong - right) > 1e-3, name
    loss, q = agent.learn(1)
    assert loss == pytest.approx(right, rel=1e-5) and q == pytest.approx(mean_q, rel=1e-5)


@pytest.mark.parametrize("agent_class", AGENTS)
def test_target_network_lags_by_the_tau_rule(agent_class):
    agent = filled_agent(agent_class, n_transitions=16, batch_size=4, tau=0.25, target_update_interval=2,
                         learning_rate=0.01)
    with torch.no_grad():
        for p, t in zip(agent.q_network.parameters(), agent.target_network.parameters()):
            t.copy_(p)
    before = [t.clone() for t in agent.target_network.parameters()]
    agent.learn(1)
    for t, b, p in zip(agent.target_network.parameters(), before, agent.q_network.parameters()):
        assert torch.equal(t, b) and not torch.equal(p, b)  # one step: the online net moved, the target did not
    agent.learn(1)
    for t, b, p in zip(agent.target_network.parameters(), before, agent.q_network.parameters()):
        torch.testing.assert_close(t, b + 0.25 * (p - b))  # after the 2nd step: target <- 0.25 online + 0.75 target
    agent.learn(3)  # steps 3, 4 (an update), 5, in one round
    for t, p in zip(agent.target_network.parameters(), agent.q_network.parameters()):
        assert not torch.allclose(t, p)


@pytest.mark.parametrize("agent_class", AGENTS)
def test_hard_target_copy_at_the_interval(agent_class):
    agent = filled_agent(agent_class, n_transitions=16, batch_size=4, tau=1.0, target_update_interval=3,
                         learning_rate=0.01)
    before = [t.clone() for t in agent.target_network.parameters()]
    agent.learn(2)
    for t, b in zip(agent.target_network.parameters(), before):
        assert torch.equal(t, b)
    agent.learn(1)
    for t, p in zip(agent.target_network.parameters(), agent.q_network.parameters()):
        assert torch.equal(t, p)
    agent.learn(2)
    for t, p in zip(agent.target_network.parameters(), agent.q_network.parameters()):
        assert not torch.equal(t, p)


# ---------- evaluation and exploration ----------

@pytest.mark.parametrize("agent_class", AGENTS)
def test_evaluation_is_greedy_and_leaves_training_untouched(agent_class):
    agent = make_agent(agent_class, hidden=[16])
    train_env, eval_env = Corridor(50, "truncated"), Corridor(20, "truncated")
    agent.collect_rollouts(train_env, 7)
    state = (agent.steps, agent.obs.tolist(), len(agent.memory), train_env.t, len(train_env.actions))
    agent.epsilon = 1.0  # fully random while training: evaluation must not care
    mean, std = agent.evaluate(eval_env, 2)
    assert mean == 210.0 and std == 0.0  # 1 + 2 + ... + 20, on each of the 2 episodes
    with torch.no_grad():
        greedy = agent.q_network(torch.from_numpy(np.array(eval_env.observations))).argmax(1).tolist()
    assert eval_env.actions == greedy and len(greedy) == 40 and len(set(greedy)) == 2
    assert (agent.steps, agent.obs.tolist(), len(agent.memory), train_env.t, len(train_env.actions)) == state


class CountingEnv(gym.Wrapper):
    def __init__(self, env):
        super().__init__(env)
        self.steps = 0

    def step(self, action):
        self.steps += 1
        return self.env.step(action)


def test_train_py_evaluates_on_its_own_env_only(monkeypatch, tmp_path):
    envs = {}

    def build(config, device="cpu"):
        env, eval_env, agent = original(config, device)
        envs.update(train=CountingEnv(env), eval=CountingEnv(eval_env))
        return envs["train"], envs["eval"], agent

    original = train.build
    monkeypatch.setattr(train, "build", build)
    train.main(["--total-steps", "300", "--eval-every", "150", "--eval-episodes", "1", "--max-episode-steps", "50",
                "--learning-starts", "100", "--batch-size", "16", "--log-dir", str(tmp_path), "--save-dir",
                str(tmp_path)])
    assert envs["train"].steps == 300          # the training env saw training steps only
    assert envs["eval"].steps == 2 * 50        # two evaluations of one 50-step episode, on the other env


@pytest.mark.parametrize("agent_class", AGENTS)
def test_epsilon_decays_linearly_then_stays(agent_class):
    agent = make_agent(agent_class, epsilon_start=1.0, epsilon_end=0.1, exploration_fraction=0.5, total_steps=100)
    env = Corridor(1000, "truncated")
    assert agent.epsilon == 1.0
    for steps, epsilon in [(25, 0.55), (25, 0.1), (30, 0.1)]:
        agent.collect_rollouts(env, steps)
        assert agent.epsilon == pytest.approx(epsilon)


@pytest.mark.parametrize("agent_class", AGENTS)
def test_epsilon_greedy_actions(agent_class):
    agent = make_agent(agent_class, hidden=[16])
    obs = [np.array([i / 10, 1.0], dtype=np.float32) for i in range(-20, 20)]
    with torch.no_grad():
        greedy = agent.q_network(torch.from_numpy(np.array(obs))).argmax(1).tolist()
    agent.epsilon = 0.0
    assert [agent.get_action(o) for o in obs] == greedy
    agent.epsilon = 1.0
    differ = sum(agent.get_action(o) != g for _ in range(10) for o, g in zip(obs, greedy))
    assert 120 < differ < 280   # a uniformly random action: half of 400 differ from the greedy one
    assert [agent.get_action(o, greedy=True) for o in obs] == greedy


# ---------- the loop and train.py's main: what is saved, what is reported, what the schedules do ----------

FLAGS = ["--total-steps", "300", "--eval-every", "100", "--eval-episodes", "1", "--max-episode-steps", "50",
         "--learning-starts", "100", "--batch-size", "16"]


def run_main(tmp_path, fast, *flags):
    """train.main with FLAGS; returns (the run's model file, named like its run folder, and that folder)."""
    train.main([*FLAGS, *flags, "--fast" if fast else "--no-fast", "--log-dir", str(tmp_path / "logs"),
                "--save-dir", str(tmp_path / "models")])
    run_dir = next((tmp_path / "logs").iterdir())
    return tmp_path / "models" / f"{run_dir.name}.pth", run_dir


def scripted_evaluations(monkeypatch, means):
    """Agent.evaluate (FastAgent's too) returns these means in turn."""
    means = iter(means)
    monkeypatch.setattr(Agent, "evaluate", lambda self, env, episodes, **kwargs: (next(means), 0.0))


@pytest.mark.parametrize("fast", [False, True])
def test_the_best_model_is_kept_not_the_last(monkeypatch, tmp_path, capsys, fast):
    scripted_evaluations(monkeypatch, [10.0, 50.0, 20.0])  # at steps 100, 200, 300
    model, _ = run_main(tmp_path, fast)
    checkpoint = torch.load(model, weights_only=True)
    assert (checkpoint["eval_return"], checkpoint["step"]) == (50.0, 200)
    assert "best greedy evaluation 50.0 at step 200" in capsys.readouterr().out


@pytest.mark.parametrize("fast", [False, True])
def test_the_closing_line_never_claims_a_model_it_did_not_save(monkeypatch, tmp_path, capsys, fast):
    """The closing line and summary.json name a model only if its file is there: here no save writes one."""
    scripted_evaluations(monkeypatch, [10.0, 50.0, 20.0])
    monkeypatch.setattr(plumbing, "save_checkpoint", lambda path, checkpoint: None)  # a save that wrote nothing
    model, run_dir = run_main(tmp_path, fast)
    out = capsys.readouterr().out
    assert not model.exists()
    assert "model saved to" not in out and "no model saved" in out, out
    assert json.loads((run_dir / "summary.json").read_text())["model"] is None


@pytest.mark.parametrize("fast", [False, True])
def test_evaluation_reports_the_envs_own_reward_scale(monkeypatch, tmp_path, fast):
    """Pendulum's training reward is scaled by 1/16.27; the logged evaluation must sum the env's own rewards."""
    raw = []

    def build(config, device="cpu"):
        env, eval_env, agent = original(config, device)
        base = eval_env.unwrapped  # the Pendulum itself, under every wrapper: its rewards are the raw ones
        base_step = base.step

        def step(action):
            result = base_step(action)
            raw.append(result[1])
            return result

        base.step = step
        return env, eval_env, agent

    original = train.build
    monkeypatch.setattr(train, "build", build)
    _, run_dir = run_main(tmp_path, fast, "--total-steps", "100", "--eval-episodes", "2")
    assert len(raw) == 2 * 50
    logged = float((run_dir / "evaluations.csv").read_text().splitlines()[1].split(",")[2])
    assert logged == pytest.approx(sum(raw) / 2, rel=1e-4)
    assert logged < -16.28  # 50 raw Pendulum steps; the scaled sum could not get below -50


@pytest.mark.parametrize("agent_class", AGENTS)
def test_train_schedules_learning_starts_gradient_steps_lr_and_epsilon(agent_class):
    """Through Agent.train: no update before learning_starts, gradient_steps updates per train_freq steps,
    the learning rate annealed linearly to 0 and epsilon decayed, as the config says."""
    agent = make_agent(agent_class, total_steps=100, train_freq=10, gradient_steps=3, learning_starts=40,
                       eval_every=1000, anneal_lr=True, learning_rate=1e-2, epsilon_start=1.0, epsilon_end=0.2,
                       exploration_fraction=0.5, target_update_interval=1)
    updates = []  # (env steps, learning rate, epsilon) at every optimizer step
    optimizer_step = agent.optimizer.step

    def step(*args, **kwargs):
        lr = agent.optimizer.lr if agent_class is FastAgent else agent.optimizer.param_groups[0]["lr"]
        updates.append((agent.steps, lr, agent.epsilon))
        return optimizer_step(*args, **kwargs)

    agent.optimizer.step = step
    agent.train(Corridor(1000, "truncated"))
    assert [s for s, _, _ in updates] == [s for s in range(40, 101, 10) for _ in range(3)]
    for steps, lr, epsilon in updates:
        assert lr == pytest.approx(1e-2 * (1 - steps / 100))
        assert epsilon == pytest.approx(1.0 - 0.8 * min(1.0, steps / 50))


@pytest.mark.parametrize("agent_class", AGENTS)
def test_training_returns_are_logged_on_the_envs_own_reward_scale(agent_class):
    """The episode returns on_log reports sum the Pendulum's own rewards, not the scaled ones it learns from."""
    config = dataclasses.replace(train.get_config([]), max_episode_steps=50, hidden=[8], buffer_size=200)
    env = train.make_env(config)
    raw, base_step = [], env.unwrapped.step
    env.unwrapped.step = lambda action: (lambda result: raw.append(result[1]) or result)(base_step(action))
    agent = agent_class(config, env.observation_space.shape, int(env.action_space.n))
    agent.collect_rollouts(env, 100)
    assert [r for r, _ in agent.finished_episodes] == pytest.approx([sum(raw[:50]), sum(raw[50:])], rel=1e-5)
    assert float(agent.memory.rewards[:100].sum()) == pytest.approx(sum(raw) / 16.2736044, rel=1e-4)  # learns scaled
