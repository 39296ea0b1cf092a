"""--checkpoint-every and --resume: a long run (Pong: hours) saves its whole training state and continues
from it after an interruption. The state must hold everything learning depends on (networks, optimizer
moments, replay memory and its random stream, counters, exploration), and the resumed run's files must
read as one run: evaluations up to the saved step, the best model of that past, the state file gone
once the run completes."""
import csv
import dataclasses
import json

import numpy as np
import pytest
import torch

import plumbing
import train
from agent import Agent
from fast import FastAgent
from memory import make_memory
from plumbing import UserError
from resume import agent_state, load_agent_state, load_memory_state, memory_state


def cartpole_config(**changes):
    config = train.get_config(["--env-id", "CartPole-v1"])
    return dataclasses.replace(config, **{"learning_starts": 100, **changes})


def fill(memory, n, seed, obs_dim=4):
    rng = np.random.default_rng(seed)
    for t in range(n):
        memory.push(rng.normal(size=obs_dim), int(rng.integers(2)), float(rng.normal()), rng.normal(size=obs_dim),
                    float(t % 7 == 6), 0.99, episode_over=t % 7 == 6)


@pytest.mark.parametrize("per", [False, True])
def test_a_memory_saved_and_loaded_samples_and_stores_as_the_original(tmp_path, per):
    config = cartpole_config(per=per, buffer_size=300)
    original, restored = make_memory(config, (4,)), make_memory(config, (4,))
    fill(original, 450, seed=0)  # wrapped around: position != size
    if per:
        original.update_priorities(np.arange(10), torch.arange(10.0))
    torch.save(memory_state(original), tmp_path / "m.pth")
    load_memory_state(restored, torch.load(tmp_path / "m.pth", weights_only=True))
    fill(original, 50, seed=1)
    fill(restored, 50, seed=1)
    for _ in range(3):  # the same random stream, the same priorities: the same minibatches
        indices = original.sample_indices(32)
        assert np.array_equal(indices, restored.sample_indices(32))
        for a, b in zip(original.gather(indices), restored.gather(indices)):
            assert torch.equal(a, b)
    if per:
        assert np.array_equal(original.tree.nodes, restored.tree.nodes)
        assert original.max_priority == restored.max_priority


def test_a_memory_state_of_another_shape_is_refused():
    small, large = make_memory(cartpole_config(buffer_size=100), (4,)), make_memory(cartpole_config(buffer_size=200), (4,))
    with pytest.raises(ValueError, match="shape"):
        load_memory_state(large, memory_state(small))


def run_to_episode_end(agent, env, steps):
    agent.collect_rollouts(env, steps)
    while agent.episode_length:
        agent.collect_rollouts(env, 1)


@pytest.mark.parametrize("agent_class", [Agent, FastAgent])
@pytest.mark.parametrize("options", [{}, {"per": True, "noisy": True, "n_steps": 3}])
def test_an_agent_loaded_from_its_training_state_learns_exactly_as_the_original(tmp_path, agent_class, options):
    import gymnasium as gym
    config = cartpole_config(**options)
    original = agent_class(config, (4,), 2)
    env = gym.make("CartPole-v1")
    run_to_episode_end(original, env, 300)
    original.learn(5)
    original.train_seconds = 12.5
    torch.save(agent_state(original), tmp_path / "state.pth")

    torch.manual_seed(123)  # another initialisation: the state must overwrite all of it
    restored = agent_class(dataclasses.replace(config, seed=7), (4,), 2)
    load_agent_state(restored, torch.load(tmp_path / "state.pth", weights_only=True))
    for name in ("steps", "gradient_steps", "epsilon", "train_seconds", "finished_episodes"):
        assert getattr(restored, name) == getattr(original, name), name
    assert restored.obs is None and not restored.pending and restored.episode_length == 0
    assert original.rng.random() == restored.rng.random()
    original.learn(4)
    restored.learn(4)
    for a, b in zip(original.q_network.parameters(), restored.q_network.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(original.target_network.parameters(), restored.target_network.parameters()):
        assert torch.equal(a, b)


def test_the_training_state_is_taken_between_episodes_only():
    import gymnasium as gym
    agent = Agent(cartpole_config(), (4,), 2)
    env = gym.make("CartPole-v1")
    agent.collect_rollouts(env, 3)  # the first CartPole episode lasts longer than 3 steps
    assert agent.episode_length == 3
    with pytest.raises(RuntimeError, match="between episodes"):
        agent_state(agent)


def read_rows(run_dir):
    with open(run_dir / "evaluations.csv") as f:
        return list(csv.DictReader(f))


def test_an_interrupted_run_resumes_from_its_state_and_reads_as_one_run(tmp_path, monkeypatch, capsys):
    args = ["--env-id", "CartPole-v1", "--total-steps", "3000", "--eval-every", "1000", "--eval-episodes", "2",
            "--checkpoint-every", "1000", "--learning-starts", "200", "--log-dir", tmp_path / "logs",
            "--save-dir", tmp_path / "models"]
    learn = FastAgent.learn

    def interrupted(self, gradient_steps):
        if self.steps >= 2_600:
            raise KeyboardInterrupt
        return learn(self, gradient_steps)

    monkeypatch.setattr(FastAgent, "learn", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        train.main(list(map(str, args)))
    assert exit_info.value.code == 130
    run_dir = next((tmp_path / "logs").iterdir())
    message = capsys.readouterr().err
    assert f"--resume {run_dir}" in message
    state = torch.load(run_dir / plumbing.STATE_FILE, weights_only=True)
    saved_step = state["agent"]["steps"]
    assert 2_000 <= saved_step < 2_600 and f"state of step {saved_step:,} is saved" in message
    assert [row["step"] for row in read_rows(run_dir)] == ["1000", "2000"]

    # A later best model would belong to the lost stretch: the resumed run puts back the saved past's best.
    model = tmp_path / "models" / f"{run_dir.name}.pth"  # the run's own model, named like its run
    assert model.is_file() and state["model"] == str(model.resolve())
    model.write_bytes(b"a model from the lost stretch")
    monkeypatch.setattr(FastAgent, "learn", learn)
    monkeypatch.setattr(FastAgent, "evaluate", lambda self, env, episodes, **kw: (-1.0, 0.0))  # no new best
    train.main(["--resume", str(run_dir)])
    checkpoint = torch.load(model, weights_only=True)
    assert checkpoint["step"] == state["best"]["step"] and checkpoint["eval_return"] == state["best"]["eval_return"]
    assert [row["step"] for row in read_rows(run_dir)] == ["1000", "2000", "3000"]
    assert float(read_rows(run_dir)[-1]["train_seconds"]) > state["agent"]["train_seconds"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 3000 and summary["resumed_at"] == [saved_step]
    # the run's speed: all its steps over all its training seconds (which carry over the resume)
    assert summary["steps_per_second"] == pytest.approx(3000 / summary["train_seconds"], rel=1e-3)
    assert not (run_dir / plumbing.STATE_FILE).exists()  # complete: nothing left to resume
    assert len(list((tmp_path / "logs").iterdir())) == 1  # the same run folder, not a second one
    assert list((tmp_path / "models").iterdir()) == [model]  # and the same model file


def test_resume_errors_are_one_line(tmp_path):
    with pytest.raises(UserError, match="nothing to resume"):
        train.main(["--resume", str(tmp_path)])
    with pytest.raises(UserError, match="no other flag"):
        train.main(["--resume", str(tmp_path), "--seed", "3"])
    (tmp_path / plumbing.STATE_FILE).write_bytes(b"not a state")
    with pytest.raises(UserError, match="not a readable part2_dqn training state"):
        train.main(["--resume", str(tmp_path)])


def test_pong_saves_its_training_state_after_every_evaluation():
    config = train.get_config(["--env-id", "ALE/Pong-v5"])
    assert config.checkpoint_every == config.eval_every == 25_000
