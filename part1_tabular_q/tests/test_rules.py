"""The rules the chapter states, checked at the call sites: through `QLearningAgent.train`, train.py's `train()`
and the scripts' `main()`, not through the helpers with hand-picked arguments. Each test fails when its rule is
broken."""
import csv
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import linear_q
import test as test_script
import train
from agent import QLearningAgent
from linear_q import LinearQAgent
from plumbing import run_main, save_checkpoint
from wrappers import make_env


class TinyEnv(gym.Env):
    """Three states. reset() -> state 0; each step moves 0 -> 1 -> 2 -> ... (capped at 2) with reward 1, and
    the episode ends after `length` steps, by `end` ("terminated" or "truncated"). With `one_hot` the
    observations are one-hot vectors (for linear Q). Records every action it is given."""

    def __init__(self, end="truncated", length=1, one_hot=False):
        self.end, self.length, self.one_hot = end, length, one_hot
        self.observation_space = gym.spaces.Box(0, 1, (3,)) if one_hot else gym.spaces.Discrete(3)
        self.action_space = gym.spaces.Discrete(2)
        self.actions = []

    def obs(self):
        return np.eye(3)[self.state] if self.one_hot else self.state

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.state, self.t = 0, 0
        return self.obs(), {}

    def step(self, action):
        self.actions.append(int(action))
        self.state, self.t = min(self.state + 1, 2), self.t + 1
        over = self.t == self.length
        return self.obs(), 1.0, over and self.end == "terminated", over and self.end == "truncated", {}


# ---------- only `terminated` stops the bootstrap, and the next state is the true final one ----------

@pytest.mark.parametrize("agent_class", [QLearningAgent, LinearQAgent])
@pytest.mark.parametrize("end,expected", [
    ("truncated", 1.0 + 0.5 * 10.0),   # a time limit: bootstrap from the final state s' = 1 (not the reset state 0)
    ("terminated", 1.0),               # a real end: no future
])
def test_the_training_loop_bootstraps_through_truncation_only(agent_class, end, expected):
    env = TinyEnv(end=end, one_hot=agent_class is LinearQAgent)
    agent = agent_class(3, 2, alpha=1.0, gamma=0.5, epsilon=0.0, epsilon_min=0.0, epsilon_decay=1.0, seed=0)
    # Q(0, .) = 2 and Q(1, .) = 10: bootstrapping from the state after reset (0) instead of the final
    # state (1) gives 1 + 0.5 * 2 = 2, distinct from both right answers. (For linear Q with one-hot
    # features the weight rows are these Q rows.)
    agent.q_table[:] = [[2.0, 2.0], [10.0, 10.0], [0.0, 0.0]]
    agent.train(env, total_steps=1, seed=0)
    action = env.actions[0]
    assert agent.q_table[0, action] == pytest.approx(expected)
    assert agent.q_table[0, 1 - action] == 2.0 and agent.q_table[1:].tolist() == [[10.0, 10.0], [0.0, 0.0]]


@pytest.mark.parametrize("env_id,limit,linear", [("Pendulum-v1", 200, False), ("FrozenLake-v1", 100, False),
                                                  ("MountainCar-v0", 200, True)])
def test_the_wrappers_keep_the_time_limit_a_truncation(env_id, limit, linear):
    """The discretizing wrappers and the feature map pass the time limit through as `truncated`."""
    if linear:
        env = linear_q.make_env(linear_q.get_config(["--env-id", env_id]))
    else:
        env = make_env(env_id, slippery=False)
    env.reset(seed=0)
    # FrozenLake: LEFT from the start tile bumps into the wall forever, so only the time limit ends the episode
    action = 0 if env_id.startswith("FrozenLake") else 1
    for t in range(1, limit + 1):
        _, _, terminated, truncated, _ = env.step(action)
        assert not terminated and truncated == (t == limit)


# ---------- epsilon-greedy exploration and its schedule ----------

def test_epsilon_decays_once_per_step_in_the_training_loop():
    agent = QLearningAgent(3, 2, epsilon=1.0, epsilon_min=0.01, epsilon_decay=0.8, seed=0)
    agent.train(TinyEnv(length=3), total_steps=10, seed=0)   # 10 steps, 3 episodes and a bit
    assert agent.epsilon == pytest.approx(0.8 ** 10)
    agent.train(TinyEnv(length=3), total_steps=20, seed=0)
    assert agent.epsilon == 0.01                               # down to the floor, never below


@pytest.mark.parametrize("epsilon,non_greedy", [(0.0, 0.0), (0.25, 0.125), (1.0, 0.5)])
def test_the_training_loop_explores_with_probability_epsilon(epsilon, non_greedy):
    """A random action is the greedy one half of the time (2 actions): non-greedy share = epsilon / 2."""
    env = TinyEnv(length=5)
    agent = QLearningAgent(3, 2, alpha=1e-6, epsilon=epsilon, epsilon_min=epsilon, epsilon_decay=1.0, seed=0)
    agent.q_table[:, 1] = 100.0   # action 1 is greedy everywhere, and tiny updates keep it so
    agent.train(env, total_steps=4000, seed=0)
    share = env.actions.count(0) / len(env.actions)
    assert share == pytest.approx(non_greedy, abs=0.025)


# ---------- evaluation is greedy, on its own env ----------

FROZEN_PATH = {0: 1, 4: 1, 8: 2, 9: 1, 13: 2, 14: 2}  # non-slippery 4x4: down, down, right, down, right, right


def solved_table():
    table = np.zeros((16, 4))
    for state, action in FROZEN_PATH.items():
        table[state, action] = 1.0
    return table


def test_agent_evaluate_is_greedy():
    # epsilon = 1: an exploring evaluation would walk at random (success about 1 in 70 on this map)
    agent = QLearningAgent(16, 4, epsilon=1.0, epsilon_min=1.0, seed=0)
    agent.q_table[:] = solved_table()
    mean, std, success = agent.evaluate(make_env("FrozenLake-v1", slippery=False), episodes=20, seed=0)
    assert (mean, std, success) == (1.0, 0.0, 1.0)


def test_test_py_plays_greedily(tmp_path, capsys):
    config = dict(train.get_config(["--no-slippery"]).__dict__)
    torch.save(dict(part="part1_tabular_q", algo="q_table", table=torch.from_numpy(solved_table()), config=config,
                    eval_return=1.0, step=1), tmp_path / "solved.pth")
    run_main(lambda: test_script.main([str(tmp_path / "solved.pth"), "--episodes", "20", "--json"]))
    result = capsys.readouterr().out.strip().splitlines()[-1]
    assert '"success_rate": 1.0' in result and '"mean": 1.0' in result


def test_train_py_evaluates_greedily(tmp_path, monkeypatch):
    """Through train.main: every action of an evaluation is the argmax of the table at that moment, although the
    agent explores with epsilon = 1 while it trains (a random action is the argmax 1 time in 4 here)."""
    agents, made = [], []

    class RandomTable(QLearningAgent):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.q_table[:] = np.random.default_rng(0).random(self.q_table.shape)  # a unique argmax in every row
            agents.append(self)

    class GreedyCheck(gym.Wrapper):
        def __init__(self, env):
            super().__init__(env)
            self.greedy = []  # per step: was the action the argmax of the agent's table?

        def reset(self, **kwargs):
            self.state, info = self.env.reset(**kwargs)
            return self.state, info

        def step(self, action):
            self.greedy.append(action == int(np.argmax(agents[0].q_table[self.state])))
            self.state, *rest = self.env.step(action)
            return (self.state, *rest)

    original = train.make_env
    monkeypatch.setattr(train, "QLearningAgent", RandomTable)
    monkeypatch.setattr(train, "make_env", lambda config, render_mode=None: made.append(GreedyCheck(original(config)))
                        or made[-1])
    train.main(["--no-slippery", "--alpha", "1e-6", "--epsilon-start", "1", "--epsilon-min", "1", "--total-steps", "300",
                "--eval-every", "100", "--eval-episodes", "3", "--log-dir", str(tmp_path / "logs"),
                "--save-dir", str(tmp_path / "models")])
    check, training, evaluation = made
    assert len(evaluation.greedy) >= 9 and all(evaluation.greedy)
    assert not all(training.greedy)  # training explores: the check can see a non-greedy action


class StepCounter(gym.Wrapper):
    def __init__(self, env):
        super().__init__(env)
        self.steps = 0

    def step(self, action):
        self.steps += 1
        return self.env.step(action)


@pytest.mark.parametrize("script", [train, linear_q])
def test_evaluation_never_steps_the_training_env(script, tmp_path, monkeypatch, capsys):
    made = []
    original = script.make_env

    def counting_make_env(config, render_mode=None):
        made.append(StepCounter(original(config, render_mode)))
        return made[-1]

    monkeypatch.setattr(script, "make_env", counting_make_env)
    script.main(["--total-steps", "500", "--eval-every", "200", "--eval-episodes", "3",
                 "--log-dir", str(tmp_path / "logs"), "--save-dir", str(tmp_path / "models")])
    check, training, evaluation = made  # get_config checks the env id on one; seeded_envs builds training first
    assert training.steps == 500  # exactly the training steps: no evaluation episode ran on it
    assert evaluation.steps > 0   # the evaluations (at 200, 400 and the final 500) ran here


# ---------- the run: best model kept, final policy evaluated, honest closing line ----------

def scripted_run(tmp_path, monkeypatch, means, *flags):
    """train.py's main() on FrozenLake with the agent's greedy evaluation replaced by `means`, one per evaluation."""
    scores = iter(means)
    monkeypatch.setattr(QLearningAgent, "evaluate", lambda self, env, episodes: (next(scores), 0.0, 0.0))
    summary = train.main([*flags, "--eval-episodes", "1", "--log-dir", str(tmp_path / "logs"),
                          "--save-dir", str(tmp_path / "models")])
    run_dir = Path(summary["run_dir"])
    with open(run_dir / "evaluations.csv") as f:
        steps = [int(row["step"]) for row in csv.DictReader(f)]
    return summary, steps, tmp_path / "models" / f"{run_dir.name}.pth"   # the model is named like its run


def test_the_best_model_is_kept_not_the_last(tmp_path, monkeypatch, capsys):
    summary, steps, path = scripted_run(tmp_path, monkeypatch, [0.5, 0.9, 0.3], "--total-steps", "300",
                                        "--eval-every", "100")
    assert steps == [100, 200, 300]   # the last scheduled evaluation is at the final step: no extra one
    checkpoint = torch.load(path, weights_only=True)
    assert (checkpoint["step"], checkpoint["eval_return"]) == (200, 0.9)
    assert (summary["best_step"], summary["best_eval"]) == (200, 0.9)


def test_the_final_policy_is_evaluated_when_the_schedule_misses_the_last_step(tmp_path, monkeypatch, capsys):
    summary, steps, path = scripted_run(tmp_path, monkeypatch, [0.1, 0.2, 0.7], "--total-steps", "250",
                                        "--eval-every", "100")
    assert steps == [100, 200, 250]
    assert torch.load(path, weights_only=True)["step"] == 250
    assert f"model saved to {path}" in capsys.readouterr().out.strip().splitlines()[-1]


def test_an_interrupted_save_leaves_the_previous_model_whole(tmp_path, monkeypatch):
    """Ctrl-C in the middle of writing a better model: the previous one stays loadable, no partial file stays."""
    path = tmp_path / "model.pth"
    save_checkpoint(path, {"step": 1})

    def interrupted_save(checkpoint, file):
        Path(file).write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"step": 1}
