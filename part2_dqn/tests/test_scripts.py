"""Smoke tests of train.py and test.py through a subprocess, and the bad-input contract."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

PART_DIR = Path(__file__).resolve().parents[1]
TINY = ["--total-steps", "1200", "--eval-every", "600", "--eval-episodes", "2", "--learning-starts", "200",
        "--batch-size", "32", "--max-episode-steps", "100"]


def single_run(log_dir):
    runs = list(Path(log_dir).iterdir())
    assert len(runs) == 1
    return runs[0]


@pytest.mark.parametrize("network", ["mlp", "lstm"])
def test_train_then_test(run_script, tmp_path, network):
    done = run_script("train.py", "--network", network, *TINY, "--log-dir", "logs", "--save-dir", "models")
    assert done.returncode == 0, done.stderr
    run_dir = single_run(tmp_path / "logs")
    assert run_dir.name.startswith(f"Pendulum-v1__dqn_{network}__1__")
    events = EventAccumulator(str(run_dir))
    events.Reload()
    assert {"charts/episodic_return", "charts/epsilon", "losses/td_loss", "losses/q_values",
            "eval/mean_return", "charts/steps_per_second"} <= set(events.Tags()["scalars"])
    assert len((run_dir / "evaluations.csv").read_text().splitlines()) == 3
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 1200

    model = tmp_path / "models" / f"Pendulum-v1__dqn_{network}__1.pth"
    checkpoint = torch.load(model, weights_only=True)
    assert checkpoint["config"]["network"] == network and checkpoint["n_actions"] == 11
    played = run_script("test.py", model, "--episodes", "2", "--json", "--plot", "angle.png", "--gif", "run.gif")
    assert played.returncode == 0, played.stderr
    result = json.loads(played.stdout.strip().splitlines()[-1])
    assert result["network"] == network and result["episodes"] == 2
    assert -16.28 * 100 <= result["mean"] <= 0  # the env's own reward scale, 100-step episodes
    assert (tmp_path / "angle.png").stat().st_size > 1000
    assert (tmp_path / "run.gif").read_bytes()[:3] == b"GIF"


def test_cartpole_preset_and_help(run_script):
    shown = run_script("train.py", "--help")
    assert shown.returncode == 0
    for flag in ["--env-id", "--seed", "--total-steps", "--eval-every", "--eval-episodes", "--log-dir", "--save-dir",
                 "--network", "--history", "--tau", "--discrete-actions", "--no-double"]:
        assert flag in shown.stdout
    done = run_script("train.py", "--env-id", "CartPole-v1", "--total-steps", "600", "--eval-every", "600",
                      "--eval-episodes", "1", "--learning-starts", "300", "--log-dir", "logs", "--save-dir", "models")
    assert done.returncode == 0, done.stderr


def assert_clean_error(done, *words):
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("args,words", [
    (["--env-id", "NoSuchEnv-v0"], ["unknown environment", "NoSuchEnv-v0"]),
    (["--env-id", "MountainCarContinuous-v0"], ["continuous actions", "--discrete-actions"]),
    (["--discrete-actions", "0"], ["continuous actions", "--discrete-actions"]),
    (["--env-id", "FrozenLake-v1"], ["flat Box"]),
    (["--network", "transformer"], ["mlp or lstm"]),
    (["--discrete-actions", "10"], ["odd"]),
])
def test_bad_input(run_script, args, words):
    assert_clean_error(run_script("train.py", *args, "--log-dir", "logs"), *words)


def test_bad_model_files(run_script, tmp_path):
    assert_clean_error(run_script("test.py", "missing.pth"), "no model file")
    (tmp_path / "garbage.pth").write_bytes(b"\x00not a checkpoint")
    assert_clean_error(run_script("test.py", "garbage.pth"), "not a readable checkpoint")
    torch.save({"part": "part1_tabular_q", "algo": "q_table", "table": torch.zeros(16, 4), "config": {}}, tmp_path / "p1.pth")
    assert_clean_error(run_script("test.py", "p1.pth"), "not a part2_dqn checkpoint", "part1_tabular_q")

    # a checkpoint whose weights belong to another network than its config says
    assert run_script("train.py", *TINY, "--log-dir", "logs", "--save-dir", "models").returncode == 0
    checkpoint = torch.load(tmp_path / "models" / "Pendulum-v1__dqn_mlp__1.pth", weights_only=True)
    checkpoint["config"]["network"] = "lstm"
    checkpoint["config"]["max_episode_steps"] = 0
    torch.save(checkpoint, tmp_path / "lstm_claims.pth")
    assert_clean_error(run_script("test.py", "lstm_claims.pth"), "trained on observations")
    checkpoint["config"]["network"] = "mlp"
    checkpoint["config"]["hidden"] = [32, 32]
    torch.save(checkpoint, tmp_path / "resized.pth")
    assert_clean_error(run_script("test.py", "resized.pth"), "do not fit")


def test_unwritable_folders(run_script, tmp_path):
    (tmp_path / "a_file").write_text("")
    assert_clean_error(run_script("train.py", *TINY, "--save-dir", "a_file/models"), "cannot write the model folder")
    assert_clean_error(run_script("train.py", *TINY, "--log-dir", "a_file/logs"), "cannot write the log folder")


def test_ctrl_c_keeps_the_best_model(tmp_path):
    process = subprocess.Popen([sys.executable, str(PART_DIR / "train.py"), "--total-steps", "10000000",
                                "--eval-every", "300", "--eval-episodes", "1", "--learning-starts", "100",
                                "--max-episode-steps", "50", "--log-dir", "logs", "--save-dir", "models"],
                               cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    model = tmp_path / "models" / "Pendulum-v1__dqn_mlp__1.pth"
    deadline = time.time() + 60
    while not model.exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr and "intact" in stderr
    assert "state_dict" in torch.load(model, weights_only=True)
    assert not list((tmp_path / "models").glob("*.tmp"))
