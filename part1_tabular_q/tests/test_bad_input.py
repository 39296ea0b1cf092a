"""Bad input gets one line naming what is wrong (the flag, the env, the file) and exit code 2, never a traceback.

The table runs in-process (get_config, test.py's main) through run_main, as the scripts do; one subprocess
checks the exit code and the single stderr line of a real command.
"""
import pytest
import torch

import linear_q
import test as test_script
import train
from plumbing import REPO, run_main

SHIPPED = str(REPO / "models" / "part1_tabular_q" / "FrozenLake-v1__q_table.pth")


def error_line(call, capsys):
    """The one stderr line of `call()` run through run_main, which must exit with code 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        run_main(call)
    lines = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0].removeprefix("error: ")


@pytest.mark.parametrize("argv, says", [
    (["--alpha", "0"], "--alpha must be in (0, 1], got 0.0"),
    (["--alpha", "1.5"], "--alpha must be in (0, 1], got 1.5"),
    (["--gamma", "1.5"], "--gamma must be in [0, 1], got 1.5"),
    (["--epsilon-start", "-0.1"], "--epsilon-start must be in [0, 1], got -0.1"),
    (["--epsilon-min", "2"], "--epsilon-min must be in [0, 1], got 2.0"),
    (["--epsilon-decay", "0"], "--epsilon-decay must be in (0, 1], got 0.0"),
    (["--epsilon-decay", "1.001"], "--epsilon-decay must be in (0, 1], got 1.001"),
    (["--total-steps", "0"], "--total-steps must be at least 1, got 0"),
    (["--eval-every", "0"], "--eval-every must be at least 1, got 0"),
    (["--eval-episodes", "0"], "--eval-episodes must be at least 1, got 0"),
    (["--map-name", "5x5"], "--map-name must be 4x4 or 8x8, got '5x5'"),
    (["--nvec-s", "0"], "--nvec-s must be at least 1, got 0"),
    (["--nvec-u", "10"], "--nvec-u must be odd and at least 3 (so that zero torque is one of them), got 10"),
    (["--sigma", "0"], "--sigma must be > 0, got 0.0"),
    (["--env-id", "NoSuchEnv-v0"], "unknown environment 'NoSuchEnv-v0' ("),
    (["--env-id", "ALE/Pong-v5"], "'ALE/Pong-v5' is an Atari game with image observations"),
    # envs a table cannot hold, and why
    (["--env-id", "CartPole-v1"], "cannot cut Box([-4.8 -inf -0.41887903 -inf], [4.8 inf 0.41887903 inf], (4,), "
                                  "float32) into the bins of a table: its bounds are infinite"),
    (["--env-id", "Pendulum-v1", "--nvec-s", "1000"], "1000 bins on 3 dimensions is not a table size that fits"),
    (["--env-id", "Blackjack-v1"], "'Blackjack-v1' has observations Tuple(Discrete(32), Discrete(11), Discrete(2)) "
                                   "and actions Discrete(2); a Q-table needs both to be Discrete or a flat bounded Box"),
])
def test_train_py(argv, says, capsys):
    assert error_line(lambda: train.get_config(argv), capsys).startswith(says)


@pytest.mark.parametrize("argv, says", [
    (["--alpha", "-0.001"], "--alpha must be in (0, 1], got -0.001"),
    (["--features", "wavelets"], "--features must be rbf or fourier, got 'wavelets'"),
    (["--bandwidth", "0"], "--bandwidth must be > 0, got 0.0"),
    (["--n-features", "0"], "--n-features must be at least 1, got 0"),
    (["--total-steps", "0"], "--total-steps must be at least 1, got 0"),
    (["--env-id", "ALE/Pong-v5"], "'ALE/Pong-v5' is an Atari game with image observations"),
    # envs linear Q cannot handle, and why
    (["--env-id", "Pendulum-v1"], "'Pendulum-v1' has actions Box(-2.0, 2.0, (1,), float32); linear_q needs Discrete actions"),
    (["--env-id", "FrozenLake-v1"], "'FrozenLake-v1' has observations Discrete(16); linear_q needs a flat Box with finite bounds"),
    (["--env-id", "LunarLander-v3"], "--n-centers 12 on LunarLander-v3's 8 observation dimensions is 429,981,696 RBF "
                                     "features; use fewer or --features fourier"),
])
def test_linear_q_py(argv, says, capsys):
    assert error_line(lambda: linear_q.get_config(argv), capsys).startswith(says)


@pytest.fixture
def model_files(tmp_path):
    """tmp_path with the files the test.py cases name: another part's model, garbage, a table of the wrong
    shape, and a plain file where a folder should be."""
    torch.save(dict(part="part2_dqn", algo="dqn", state_dict={}, config={}), tmp_path / "dqn.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint at all")
    config = {"env_id": "FrozenLake-v1", "map_name": "4x4", "slippery": True, "seed": 1}
    torch.save(dict(part="part1_tabular_q", algo="q_table", table=torch.zeros(64, 4), config=config, eval_return=0.0,
                    step=1), tmp_path / "wrong_shape.pth")
    (tmp_path / "a_file").write_text("")
    return tmp_path


@pytest.mark.parametrize("argv, says", [  # {tmp} is the folder of model_files, {shipped} a shipped model
    (["{tmp}/missing.pth"], "no model file at '{tmp}/missing.pth'"),
    (["{tmp}/dqn.pth"], "'{tmp}/dqn.pth' is not a part1_tabular_q checkpoint (it comes from part2_dqn)"),
    (["{tmp}/garbage.pth"], "'{tmp}/garbage.pth' is not a readable checkpoint ("),
    (["{tmp}/wrong_shape.pth"], "'{tmp}/wrong_shape.pth': a model of shape (64, 4) does not fit FrozenLake-v1, which has "
                                "16 states/features and 4 actions"),
    (["{shipped}", "--gif", "{tmp}"], "--gif takes a file name ending in .gif, got '{tmp}'"),
    (["{shipped}", "--gif", "{tmp}/run.png"], "--gif takes a file name ending in .gif, got '{tmp}/run.png'"),
    (["{shipped}", "--gif", "{tmp}/a_file/run.gif"], "cannot write the GIF folder '{tmp}/a_file'"),
    (["{shipped}", "--episodes", "0"], "--episodes must be at least 1, got 0"),
    (["{shipped}", "--gif-episodes", "0"], "--gif-episodes must be at least 1, got 0"),
])
def test_test_py(argv, says, model_files, capsys):
    fill = lambda text: text.format(tmp=model_files, shipped=SHIPPED)
    assert error_line(lambda: test_script.main([fill(a) for a in argv]), capsys).startswith(fill(says))


def test_unwritable_folders(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    argv = ["--total-steps", "10", "--save-dir", str(tmp_path / "a_file" / "models"), "--log-dir", str(tmp_path / "l")]
    assert error_line(lambda: train.main(argv), capsys).startswith(f"cannot write the model folder '{tmp_path / 'a_file' / 'models'}'")
    argv = ["--total-steps", "10", "--save-dir", str(tmp_path / "m"), "--log-dir", str(tmp_path / "a_file" / "logs")]
    assert error_line(lambda: train.main(argv), capsys).startswith(f"cannot write the log folder '{tmp_path / 'a_file' / 'logs'}'")


def test_a_real_command_exits_2_with_one_stderr_line(run_script):
    done = run_script("train.py", "--gamma", "1.5")
    assert done.returncode == 2 and done.stderr == "error: --gamma must be in [0, 1], got 1.5\n", done.stderr
    assert done.stdout == ""
