"""Bad input gets one line naming what is wrong (the flag, the env, the file) and exit code 2, never a traceback.

The table runs in-process (get_config, test.py's main) through run_main, as the scripts do; one subprocess
checks the exit code and the single stderr line of a real command.
"""
import importlib.util
from pathlib import Path

import pytest
import torch

import train
from plumbing import REPO, run_main

PART_DIR = Path(__file__).resolve().parents[1]
SHIPPED = str(REPO / "models" / "part3_reinforce" / "CartPole-v1__reinforce_value.pth")


def load_test_script():
    """part3_reinforce/test.py as a module (`import test` would find Python's own test package)."""
    spec = importlib.util.spec_from_file_location("part3_test_script", PART_DIR / "test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def error_line(call, capsys):
    """The one stderr line of `call()` run through run_main, which must exit with code 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        run_main(call)
    lines = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0].removeprefix("error: ")


@pytest.mark.parametrize("argv, says", [
    (["--learning-rate", "-0.001"], "--learning-rate must be > 0, got -0.001"),
    (["--learning-rate", "0"], "--learning-rate must be > 0, got 0.0"),
    (["--value-learning-rate", "0"], "--value-learning-rate must be > 0, got 0.0"),
    (["--gamma", "1.5"], "--gamma must be in [0, 1], got 1.5"),
    (["--entropy-coef", "-0.01"], "--entropy-coef must be 0 or more, got -0.01"),
    (["--max-grad-norm", "0"], "--max-grad-norm must be > 0, got 0.0"),
    (["--torch-threads", "0"], "--torch-threads must be at least 1, got 0"),
    (["--total-steps", "0"], "--total-steps must be at least 1, got 0"),
    (["--eval-every", "0"], "--eval-every must be at least 1, got 0"),
    (["--eval-episodes", "0"], "--eval-episodes must be at least 1, got 0"),
    (["--episodes-per-batch", "0"], "--episodes-per-batch must be at least 1, got 0"),  # the number of sub-envs
    (["--value-steps", "0"], "--value-steps must be at least 1, got 0"),
    (["--hidden", "64", "0"], "--hidden must be at least 1, got [64, 0]"),
    (["--max-episode-steps", "-1"], "--max-episode-steps must be 0 or more, got -1"),
    (["--preset", "ppo"], "--preset must be vpg or bpg or epg or cpg or value, got 'ppo'"),
    (["--baseline", "median"], "--baseline must be none or batch or value, got 'median'"),
    (["--device", "tpu"], "--device must be auto or cpu or cuda, got 'tpu'"),
    (["--env-id", "NoSuchEnv-v0"], "unknown environment 'NoSuchEnv-v0' ("),
    (["--env-id", "ALE/Pong-v5"], "'ALE/Pong-v5' is an Atari game with image observations: this part learns from "
                                  "flat vectors"),
    # envs this REINFORCE cannot handle, and why
    (["--env-id", "FrozenLake-v1"], "'FrozenLake-v1' has observations Discrete(16); this policy needs a flat Box (a vector)"),
    (["--env-id", "Blackjack-v1"], "'Blackjack-v1' has observations Tuple(Discrete(32), Discrete(11), Discrete(2)); "
                                   "this policy needs a flat Box (a vector)"),
    (["--env-id", "CartPole-v1", "--scale-obs"], "--scale-obs needs finite observation bounds; 'CartPole-v1' has Box("),
])
def test_train_py(argv, says, capsys):
    assert error_line(lambda: train.get_config(argv), capsys).startswith(says)


def test_an_env_without_time_limit_is_refused(capsys):
    """REINFORCE learns from whole episodes: an env that never truncates needs --max-episode-steps."""
    import gymnasium as gym

    if "Part3NoTimeLimit-v0" not in gym.registry:
        gym.register("Part3NoTimeLimit-v0", entry_point="gymnasium.envs.classic_control:CartPoleEnv")
    says = "'Part3NoTimeLimit-v0' has no time limit; pass --max-episode-steps (REINFORCE needs whole episodes)"
    assert error_line(lambda: train.get_config(["--env-id", "Part3NoTimeLimit-v0"]), capsys) == says
    assert train.get_config(["--env-id", "Part3NoTimeLimit-v0", "--max-episode-steps", "50"]).max_episode_steps == 50


@pytest.fixture
def model_files(tmp_path):
    """tmp_path with the files the test.py cases name: another part's model, garbage, a CartPole policy whose
    config says LunarLander, and a plain file where a folder should be."""
    torch.save({"part": "part2_dqn", "algo": "dqn", "state_dict": {}, "config": {}}, tmp_path / "dqn.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    checkpoint = torch.load(SHIPPED, weights_only=True)
    checkpoint["config"].update(env_id="LunarLander-v3", max_episode_steps=1000)
    torch.save(checkpoint, tmp_path / "other_env.pth")
    (tmp_path / "a_file").write_text("")
    return tmp_path


@pytest.mark.parametrize("argv, says", [  # {tmp} is the folder of model_files, {shipped} a shipped model
    (["{tmp}/missing.pth"], "no model file at '{tmp}/missing.pth'"),
    (["{tmp}"], "'{tmp}' is a folder; give a model file (.pth)"),
    (["{tmp}/dqn.pth"], "'{tmp}/dqn.pth' is not a part3_reinforce checkpoint (it comes from part2_dqn)"),
    (["{tmp}/garbage.pth"], "'{tmp}/garbage.pth' is not a readable checkpoint ("),
    (["{tmp}/other_env.pth"], "'{tmp}/other_env.pth': its weights do not fit a policy of sizes [64, 64] for LunarLander-v3"),
    (["{shipped}", "--gif", "{tmp}"], "--gif takes a file name ending in .gif, got '{tmp}'"),
    (["{shipped}", "--gif", "{tmp}/run.mp4"], "--gif takes a file name ending in .gif, got '{tmp}/run.mp4'"),
    (["{shipped}", "--gif", "{tmp}/a_file/run.gif"], "cannot write the GIF folder '{tmp}/a_file'"),
    (["{shipped}", "--episodes", "0"], "--episodes must be at least 1, got 0"),
    (["{shipped}", "--gif-episodes", "0"], "--gif-episodes must be at least 1, got 0"),
])
def test_test_py(argv, says, model_files, capsys):
    play = load_test_script().main
    fill = lambda text: text.format(tmp=model_files, shipped=SHIPPED)
    assert error_line(lambda: play([fill(a) for a in argv]), capsys).startswith(fill(says))


def test_unwritable_folders(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    argv = ["--total-steps", "10", "--log-dir", str(tmp_path / "logs"), "--save-dir", str(tmp_path / "a_file" / "models")]
    assert error_line(lambda: train.main(argv), capsys).startswith(
        f"cannot write the model folder '{tmp_path / 'a_file' / 'models'}'")
    argv = ["--total-steps", "10", "--log-dir", str(tmp_path / "a_file" / "logs"), "--save-dir", str(tmp_path / "models")]
    assert error_line(lambda: train.main(argv), capsys).startswith(
        f"cannot write the log folder '{tmp_path / 'a_file' / 'logs'}'")


def test_a_real_command_exits_2_with_one_stderr_line(run_script):
    done = run_script("train.py", "--learning-rate", "-0.001")
    assert done.returncode == 2 and done.stderr == "error: --learning-rate must be > 0, got -0.001\n", done.stderr
    assert done.stdout == ""
