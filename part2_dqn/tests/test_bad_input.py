"""Bad input is one line that names what is wrong, and exit code 2: tables of command lines and their messages.

train.py's values are all checked in get_config, before anything is built, so its table calls get_config; test.py's
table runs its main() through run_main in this process; one real process checks the exit code and that stderr
is that one line.
"""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import train
from plumbing import UserError

PART_DIR = Path(__file__).resolve().parents[1]
SHIPPED = PART_DIR.parent / "models" / "part2_dqn" / "Pendulum-v1__dqn_mlp.pth"

TRAIN = [
    (["--learning-rate", "-0.001"], "--learning-rate must be > 0, got -0.001"),
    (["--learning-rate", "0"], "--learning-rate must be > 0, got 0.0"),
    (["--torch-threads", "0"], "--torch-threads must be at least 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--buffer-size", "100", "--batch-size", "128"], "--buffer-size must be at least --batch-size (128), got 100"),
    (["--gamma", "1.5"], "--gamma must be in [0, 1], got 1.5"),
    (["--n-steps", "0"], "--n-steps must be at least 1, got 0"),
    (["--total-steps", "0"], "--total-steps must be at least 1, got 0"),
    (["--tau", "0"], "--tau must be in (0, 1], got 0.0"),
    (["--epsilon-end", "-0.1"], "--epsilon-end must be in [0, 1], got -0.1"),
    (["--hidden", "64", "0"], "--hidden must be at least 1, got [64, 0]"),
    (["--network", "transformer"], "--network must be mlp or lstm or cnn, got 'transformer'"),
    (["--discrete-actions", "10"], "--discrete-actions must be 0 or an odd number of at least 3, got 10"),
    (["--env-id", "NoSuchEnv-v0"], "unknown environment 'NoSuchEnv-v0' (Environment `NoSuchEnv` doesn't exist.)"),
    # a one-dimensional Box action: the flag the message suggests makes it trainable (test below)
    (["--env-id", "MountainCarContinuous-v0"], "'MountainCarContinuous-v0' has continuous actions Box(-1.0, 1.0, (1,), "
     "float32); DQN needs a discrete set: pass --discrete-actions N (odd) to discretize them"),
    (["--discrete-actions", "0"], "'Pendulum-v1' has continuous actions Box(-2.0, 2.0, (1,), float32); DQN needs a "
     "discrete set: pass --discrete-actions N (odd) to discretize them"),
    # two continuous actions: --discrete-actions cannot help, so the message suggests what can (test below)
    (["--env-id", "LunarLanderContinuous-v3"], "'LunarLanderContinuous-v3' has 2 continuous actions Box(-1.0, 1.0, "
     "(2,), float32); DQN needs a discrete set, and --discrete-actions discretizes one action only (a torque like "
     "Pendulum's): train 'LunarLander-v3', its discrete version, or learn the continuous actions with Part 5's "
     "SAC (python part5_sac/train.py --env-id LunarLanderContinuous-v3)"),
    (["--env-id", "LunarLanderContinuous-v3", "--discrete-actions", "5"], "'LunarLanderContinuous-v3' has 2 "
     "continuous actions Box(-1.0, 1.0, (2,), float32); DQN needs a discrete set, and --discrete-actions "
     "discretizes one action only (a torque like Pendulum's): train 'LunarLander-v3', its discrete version, or "
     "learn the continuous actions with Part 5's SAC (python part5_sac/train.py --env-id LunarLanderContinuous-v3)"),
    (["--env-id", "Blackjack-v1"], "'Blackjack-v1' has observations Tuple(Discrete(32), Discrete(11), Discrete(2)); "
     "this DQN needs a flat Box (a vector of numbers) or an Atari game's frames, not other images or dictionaries"),
    (["--env-id", "CartPole-v1", "--network", "cnn"], "--network cnn is for Atari games' frames and they need it; "
     "'CartPole-v1' with --network cnn does not fit"),
    (["--actor-learner", "--checkpoint-every", "1000"], "--checkpoint-every saves the single-process agent's "
     "training state; an --actor-learner run cannot be resumed: drop one of the two"),
    (["--max-minutes", "0"], "--max-minutes must be > 0, got 0.0"),
    (["--resume", "dqn_logs/a_run", "--seed", "3"], "--resume continues a run with the settings it started with: "
     "give no other flag"),
]


@pytest.mark.parametrize("argv, says", TRAIN, ids=[" ".join(argv) for argv, _ in TRAIN])
def test_train_py_bad_values_are_one_line_naming_the_flag(argv, says):
    with pytest.raises(UserError) as error:
        train.get_config(argv)
    assert str(error.value) == says


def test_what_the_continuous_actions_messages_suggest_trains():
    """Each suggestion is a command that works: the flag for a one-dimensional action, the discrete twin."""
    assert train.get_config(["--env-id", "MountainCarContinuous-v0", "--discrete-actions", "7"]).discrete_actions == 7
    env = train.make_env(train.get_config(["--env-id", "LunarLander-v3"]))
    assert env.action_space.n == 4
    env.close()


def test_a_bad_value_in_a_real_process_is_exit_2_and_one_line_on_stderr(tmp_path):
    done = subprocess.run([sys.executable, str(PART_DIR / "train.py"), "--learning-rate", "-0.001"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr == "error: --learning-rate must be > 0, got -0.001\n"
    assert not list(tmp_path.iterdir())  # refused before any folder was made


@pytest.fixture
def model_files(tmp_path, monkeypatch):
    """In a temporary working folder: a folder, a file that is no checkpoint, a model of Part 1, and two Part 2
    models whose weights do not fit the network their config describes."""
    monkeypatch.chdir(tmp_path)
    Path("a_folder").mkdir()
    Path("garbage.pth").write_bytes(b"\x00not a checkpoint")
    torch.save({"part": "part1_tabular_q", "algo": "q_table", "table": torch.zeros(16, 4), "config": {}}, "p1.pth")
    checkpoint = torch.load(SHIPPED, weights_only=True)
    checkpoint["config"]["network"] = "lstm"  # an MLP's weights under a config that says lstm
    torch.save(checkpoint, "lstm_claims.pth")
    checkpoint["config"].update(network="mlp", hidden=[32, 32])  # 64-64 weights, a config that says 32-32
    torch.save(checkpoint, "resized.pth")


TEST = [
    (["missing.pth"], "no model file at 'missing.pth'"),
    (["a_folder"], "'a_folder' is a folder; give a model file (.pth)"),
    (["garbage.pth"], "'garbage.pth' is not a readable checkpoint (UnpicklingError)"),
    (["p1.pth"], "'p1.pth' is not a part2_dqn checkpoint (it comes from part1_tabular_q)"),
    (["lstm_claims.pth"], "'lstm_claims.pth' was trained on observations (3,) with 11 actions; its env now gives "
     "(4, 14) and 11"),
    (["resized.pth"], "'resized.pth': its weights do not fit a mlp network of sizes [32, 32] (Error(s) in loading "
     "state_dict for QNetwork:)"),
    ([SHIPPED, "--gif", "a_folder"], "--gif takes a file name ending in .gif, got 'a_folder'"),
    ([SHIPPED, "--gif", "run.png"], "--gif takes a file name ending in .gif, got 'run.png'"),
    ([SHIPPED, "--episodes", "0"], "--episodes must be at least 1, got 0"),
    ([SHIPPED, "--gif-frames", "0"], "--gif-frames must be at least 1, got 0"),
]


@pytest.mark.parametrize("argv, says", TEST, ids=[" ".join(map(str, argv)).replace(str(SHIPPED), "MODEL")
                                                  for argv, _ in TEST])
def test_test_py_bad_input_is_one_line(model_files, capsys, argv, says):
    spec = importlib.util.spec_from_file_location("part2_test_script_bad_input", PART_DIR / "test.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with pytest.raises(SystemExit) as stop:
        script.run_main(lambda: script.main([str(a) for a in argv]))
    assert stop.value.code == 2
    assert capsys.readouterr().err == f"error: {says}\n"


def test_unwritable_folders(tmp_path):
    (tmp_path / "a_file").write_text("")
    for flag, what in (("--save-dir", "model"), ("--log-dir", "log")):
        with pytest.raises(UserError, match=f"cannot write the {what} folder"):
            train.main(["--total-steps", "10", flag, str(tmp_path / "a_file" / "inside")])
