"""Bad input, each case one line naming what is wrong (exit code 2 through the scripts' entry point, never a
traceback): train.py's flags and envs through get_config, test.py's model files and flags through its main,
in-process (fast), and one subprocess check of the real entry point."""

import pytest
import torch

import test as play
import train
from plumbing import REPO, UserError

SHIPPED = REPO / "models" / "part5_sac" / "Pendulum-v1__sac.pth"
DISCRETE = ("'CartPole-v1' has discrete actions (Discrete(2)): SAC's actor is a Gaussian over real-valued actions "
            "and its critics take the action as an input, so SAC needs a Box action; for discrete actions use DQN "
            "(part2_dqn), REINFORCE (part3_reinforce) or actor-critic (part4_actor_critic)")


def says(error, expected):
    """The message is `expected`, or begins with it when `expected` ends with '...' (the rest is gymnasium's
    or torch's own words)."""
    message = str(error.value)
    assert "\n" not in message
    if expected.endswith("..."):
        assert message.startswith(expected[:-3]), message
    else:
        assert message == expected


@pytest.mark.parametrize("argv, expected", [
    (["--learning-rate", "-0.001"], "--learning-rate must be > 0, got -0.001"),
    (["--learning-rate", "0"], "--learning-rate must be > 0, got 0.0"),
    (["--buffer-size", "100", "--batch-size", "256"], "--buffer-size must be at least --batch-size (256), got 100"),
    (["--torch-threads", "0"], "--torch-threads must be at least 1, got 0"),
    (["--tau", "0"], "--tau must be in (0, 1], got 0.0"),
    (["--tau", "2"], "--tau must be in (0, 1], got 2.0"),
    (["--gamma", "1.5"], "--gamma must be in [0, 1], got 1.5"),
    (["--total-steps", "0"], "--total-steps must be at least 1, got 0"),
    (["--eval-every", "0"], "--eval-every must be at least 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--hidden", "64", "0"], "--hidden must be at least 1, got [64, 0]"),
    (["--learning-starts", "-1"], "--learning-starts must be 0 or more, got -1"),
    (["--alpha", "0", "--no-autotune"], "--alpha must be > 0, got 0.0"),
    (["--target-entropy", "high"], "--target-entropy must be auto or a number, got 'high'"),
    (["--device", "tpu"], "--device must be auto or cpu or cuda, got 'tpu'"),
    (["--checkpoint-every", "-1"], "--checkpoint-every must be 0 or more, got -1"),
    (["--resume", "some_run", "--seed", "3"],
     "--resume continues a run with the settings it started with: give no other flag"),
    (["--env-id", "ALE/Pong-v5"], "'ALE/Pong-v5' is an Atari game..."),  # image observations (or: no ale-py)
    (["--env-id", "CartPole-v1"], DISCRETE),
    (["--env-id", "MountainCar-v0"], "'MountainCar-v0' has discrete actions (Discrete(3)): SAC's actor is..."),
    (["--env-id", "CarRacing-v3"], "'CarRacing-v3' has observations Box(0, 255, (96, 96, 3), uint8); this SAC needs "
                                   "a flat Box observation (a vector of numbers), not images or dictionaries"),
    (["--env-id", "NoSuchEnv-v0"], "unknown environment 'NoSuchEnv-v0' (..."),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_train_refuses_a_bad_value_in_one_line_naming_it(argv, expected):
    with pytest.raises(UserError) as error:
        train.get_config(argv)
    says(error, expected)


def test_an_atari_game_is_refused_for_its_image_observations():
    pytest.importorskip("ale_py")
    with pytest.raises(UserError) as error:
        train.get_config(["--env-id", "ALE/Pong-v5"])
    says(error, "'ALE/Pong-v5' is an Atari game with image observations: this part learns from flat vectors "
                "(Part 2 learns Pong from pixels)")


def model_file(tmp_path, name, **changes):
    """A copy of the shipped Pendulum model with some of its entries changed (config entries by `config_` names)."""
    checkpoint = torch.load(SHIPPED, weights_only=True)
    for key, value in changes.items():
        if key.startswith("config_"):
            checkpoint["config"][key[len("config_"):]] = value
        else:
            checkpoint[key] = value
    torch.save(checkpoint, tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("case, expected", [
    ("gif folder", "--gif takes a file name ending in .gif, got '{tmp}'"),
    ("missing model", "no model file at '{tmp}/missing.pth'"),
    ("a folder as model", "'{tmp}' is a folder; give a model file (.pth)"),
    ("another part's model", "'{tmp}/dqn.pth' is not a part5_sac checkpoint (it comes from part2_dqn)"),
    ("not a checkpoint", "'{tmp}/garbage.pth' is not a readable checkpoint (..."),
    ("episodes 0", "--episodes must be at least 1, got 0"),
    ("gif episodes 0", "--gif-episodes must be at least 1, got 0"),
    ("resized network", "'{tmp}/resized.pth': its weights do not fit an actor of sizes [32, 32] (..."),
    ("another env", "'{tmp}/other_env.pth' was trained on 3 observations and 1 action dimensions; its env "
                    "'LunarLanderContinuous-v3' now gives 8 and 2"),
])
def test_test_py_refuses_a_bad_model_or_flag_in_one_line(tmp_path, case, expected):
    (tmp_path / "garbage.pth").write_bytes(b"\x00not a checkpoint")
    torch.save({"part": "part2_dqn", "algo": "dqn", "state_dict": {}, "config": {}}, tmp_path / "dqn.pth")
    argv = {"gif folder": [SHIPPED, "--gif", tmp_path],
            "missing model": [tmp_path / "missing.pth"],
            "a folder as model": [tmp_path],
            "another part's model": [tmp_path / "dqn.pth"],
            "not a checkpoint": [tmp_path / "garbage.pth"],
            "episodes 0": [SHIPPED, "--episodes", "0"],
            "gif episodes 0": [SHIPPED, "--gif-episodes", "0"],
            "resized network": [model_file(tmp_path, "resized.pth", config_hidden=[32, 32])],
            "another env": [model_file(tmp_path, "other_env.pth", config_env_id="LunarLanderContinuous-v3")]}[case]
    with pytest.raises(UserError) as error:
        play.main([str(a) for a in argv])
    says(error, expected.replace("{tmp}", str(tmp_path)))


def test_the_entry_point_says_it_in_one_line_and_exits_2(run_script):
    done = run_script("train.py", "--learning-rate", "-0.001")
    assert done.returncode == 2
    assert done.stderr == "error: --learning-rate must be > 0, got -0.001\n"
