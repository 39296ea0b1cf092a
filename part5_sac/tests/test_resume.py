"""--checkpoint-every and --resume: a long run (LunarLanderContinuous: two hours) saves its whole training
state and continues from it after an interruption. The state holds everything learning depends on
(networks, temperature, optimizer moments, replay memory, counters, every random stream, the envs'
included), so a resumed run replays the uninterrupted one exactly, and its files read as one run:
evaluations up to the saved step, the best model of that past, the state file gone once it completes."""
import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import resume
import train
from agent import Agent
from memory import ReplayMemory
from plumbing import STATE_FILE, UserError, parse_config


def fill(memory, n, seed):
    rng = np.random.default_rng(seed)
    for t in range(n):
        memory.push(rng.normal(size=3), rng.uniform(-1, 1, 2), rng.normal(), rng.normal(size=3), float(t % 7 == 6))


def test_a_memory_saved_and_loaded_samples_and_stores_as_the_original(tmp_path):
    original, restored = ReplayMemory(300, 3, 2, seed=0), ReplayMemory(300, 3, 2, seed=5)
    fill(original, 450, seed=0)  # wrapped around: position != size
    original.sample(8)  # the sampling stream has moved
    torch.save(resume.memory_state(original), tmp_path / "m.pth")
    resume.load_memory_state(restored, torch.load(tmp_path / "m.pth", weights_only=True))
    assert (restored.position, restored.size) == (150, 300)
    fill(original, 50, seed=1)
    fill(restored, 50, seed=1)
    for _ in range(3):  # the same rows, the same random stream: the same minibatches
        for a, b in zip(original.sample(32), restored.sample(32)):
            assert torch.equal(a, b)


def test_a_partly_filled_memory_saves_only_its_filled_rows():
    memory = ReplayMemory(1000, 3, 2)
    fill(memory, 10, seed=0)
    state = resume.memory_state(memory)
    assert state["obs"].shape == (10, 3) and state["actions"].shape == (10, 2)


def test_a_memory_state_of_another_shape_is_refused():
    small, other_obs = ReplayMemory(100, 3, 2), ReplayMemory(200, 4, 2)
    fill(small, 100, seed=0)
    with pytest.raises(ValueError, match="does not fit"):
        resume.load_memory_state(ReplayMemory(50, 3, 2), resume.memory_state(small))  # more than it holds
    with pytest.raises(ValueError, match="does not fit"):
        resume.load_memory_state(other_obs, resume.memory_state(small))


def pendulum_config(**changes):
    config = train.get_config(["--learning-starts", "100", "--hidden", "16", "16", "--batch-size", "32"])
    return dataclasses.replace(config, **changes)


def run_to_episode_end(agent, env, steps):
    agent.collect_rollouts(env, steps)
    while agent.obs is not None:
        agent.collect_rollouts(env, 1)


NETWORKS = ("actor", "critic1", "critic2", "critic1_target", "critic2_target")


@pytest.mark.parametrize("autotune", [True, False])
def test_an_agent_loaded_from_its_training_state_learns_exactly_as_the_original(tmp_path, autotune):
    config = pendulum_config(autotune=autotune, alpha=0.3)
    env = train.make_env(config)
    original = Agent(config, 3, 1)
    run_to_episode_end(original, env, 150)
    original.learn(5)
    original.train_seconds = 12.5
    torch.save(resume.agent_state(original), tmp_path / "state.pth")

    torch.manual_seed(123)  # another initialisation and other streams: the state must overwrite all of it
    restored = Agent(dataclasses.replace(config, seed=7), 3, 1)
    resume.load_agent_state(restored, torch.load(tmp_path / "state.pth", weights_only=True))
    for name in ("steps", "gradient_steps", "train_seconds", "finished_episodes"):
        assert getattr(restored, name) == getattr(original, name), name
    assert restored.obs is None and restored.episode_length == 0
    assert torch.equal(restored.log_alpha, original.log_alpha)
    assert restored.rng.bit_generator.state == original.rng.bit_generator.state  # the random actions' stream
    # torch's stream (the policy's noise, acting and in learn) is the process's one: restored, then shared by both
    saved = torch.load(tmp_path / "state.pth", weights_only=True)["torch_rng"]
    assert torch.equal(torch.get_rng_state(), saved)
    obs = np.array([0.5, -0.5, 1.0], dtype=np.float32)
    action = original.get_action(obs)
    torch.set_rng_state(saved)
    assert np.array_equal(restored.get_action(obs), action)  # the same policy, the same noise
    torch.set_rng_state(saved)
    original.learn(4)
    torch.set_rng_state(saved)
    restored.learn(4)  # the same minibatches, the same policy noise, the same optimizer moments
    for network in NETWORKS:
        for a, b in zip(getattr(original, network).parameters(), getattr(restored, network).parameters()):
            assert torch.equal(a, b), network
    assert torch.equal(restored.log_alpha, original.log_alpha)


def test_the_training_state_is_taken_between_episodes_only():
    agent = Agent(pendulum_config(), 3, 1)
    agent.collect_rollouts(train.make_env(agent.config), 3)  # a Pendulum episode lasts 200 steps
    with pytest.raises(RuntimeError, match="between episodes"):
        resume.agent_state(agent)


def test_train_checkpoints_at_the_first_episode_end_after_every_interval():
    config = pendulum_config(total_steps=1000, eval_every=1000, checkpoint_every=300)
    agent = Agent(config, 3, 1)
    seen = []
    agent.train(train.make_env(config), on_checkpoint=lambda step: seen.append((step, agent.obs)))
    # Pendulum's episodes end every 200 steps: the first episode end at or after 300 steps is at 400, then the
    # next interval's (600) is itself one, then 900's would be at 1000, where the run is complete (no state)
    assert seen == [(400, None), (600, None)]


def read_rows(run_dir):
    with open(run_dir / "evaluations.csv") as f:
        return list(csv.DictReader(f))


ARGS = ["--total-steps", "1200", "--eval-every", "400", "--eval-episodes", "2", "--checkpoint-every", "400",
        "--learning-starts", "100", "--hidden", "16", "16", "--batch-size", "32"]


@pytest.mark.parametrize("schedule", [[], ["--anneal-lr"]], ids=["constant-lr", "anneal-lr"])
def test_an_interrupted_run_resumes_from_its_state_replays_the_uninterrupted_one_and_reads_as_one_run(
        tmp_path, monkeypatch, capsys, schedule):
    def folders(name):
        return ARGS + schedule + ["--log-dir", str(tmp_path / name / "logs"),
                                  "--save-dir", str(tmp_path / name / "models")]

    whole = train.main(folders("whole"))  # the uninterrupted run, for the comparison
    whole_dir = Path(whole["run_dir"])
    assert not (whole_dir / STATE_FILE).exists()

    learn = Agent.learn

    def interrupted(self, gradient_steps):
        if self.steps >= 1_000:
            raise KeyboardInterrupt
        return learn(self, gradient_steps)

    monkeypatch.setattr(Agent, "learn", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        train.main(folders("cut"))
    assert exit_info.value.code == 130
    run_dir = next((tmp_path / "cut" / "logs").iterdir())
    message = capsys.readouterr().err
    assert f"--resume {run_dir}" in message and "state of step 800 is saved" in message
    state = torch.load(run_dir / STATE_FILE, weights_only=True)
    assert state["agent"]["steps"] == 800
    assert [row["step"] for row in read_rows(run_dir)] == ["400", "800"]

    # A later best model would belong to the lost stretch: the resumed run puts back the saved past's best.
    model = tmp_path / "cut" / "models" / f"{run_dir.name}.pth"  # the run's own model, named like its folder
    assert model.is_file()
    model.write_bytes(b"a model from the lost stretch")
    monkeypatch.setattr(Agent, "learn", learn)
    summary = train.main(["--resume", str(run_dir)])
    assert summary["model"] == str(model)
    assert "a model from the lost stretch" not in model.read_bytes().decode("latin-1")

    # The same evaluations, step by step, as the run that was never interrupted: an exact replay.
    rows, whole_rows = read_rows(run_dir), read_rows(whole_dir)
    assert [row["step"] for row in rows] == ["400", "800", "1200"]
    assert [row["mean"] for row in rows] == [row["mean"] for row in whole_rows]
    assert float(rows[-1]["train_seconds"]) > state["agent"]["train_seconds"]
    resumed_model = torch.load(model, weights_only=True)
    whole_model = torch.load(whole["model"], weights_only=True)
    assert resumed_model["step"] == whole_model["step"]
    for name, weights in whole_model["state_dict"].items():
        assert torch.equal(resumed_model["state_dict"][name], weights), name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 1200 and summary["resumed_at"] == [800]
    assert not (run_dir / STATE_FILE).exists()  # complete: nothing left to resume
    assert len(list((tmp_path / "cut" / "logs").iterdir())) == 1  # the same run folder, not a second one
    assert len(list((tmp_path / "cut" / "models").iterdir())) == 1  # and the same model file


def test_resume_errors_are_one_line(tmp_path):
    with pytest.raises(UserError, match="nothing to resume"):
        train.main(["--resume", str(tmp_path)])
    with pytest.raises(UserError, match="no other flag"):
        train.main(["--resume", str(tmp_path), "--seed", "3"])
    (tmp_path / STATE_FILE).write_bytes(b"not a state")
    with pytest.raises(UserError, match="not a readable part5_sac training state"):
        train.main(["--resume", str(tmp_path)])
    torch.save({"part": "part2_dqn", "algo": "dqn", "config": {}}, tmp_path / STATE_FILE)
    with pytest.raises(UserError, match="not a readable part5_sac training state"):
        train.main(["--resume", str(tmp_path)])


def test_the_long_presets_save_their_training_state_after_every_evaluation():
    for env_id in ("LunarLanderContinuous-v3", "HalfCheetah-v5"):  # parsed only: MuJoCo may not be installed
        config = parse_config(train.Config, ["--env-id", env_id], presets=train.preset_defaults)
        assert config.checkpoint_every > 0 and config.checkpoint_every % config.eval_every == 0
