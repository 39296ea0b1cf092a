"""Smoke tests of train.py, test.py and compare.py through a subprocess, and the bad-input contract."""
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
TINY = ["--total-steps", "1500", "--eval-every", "700", "--eval-episodes", "2", "--episodes-per-batch", "4"]


@pytest.mark.parametrize("env_id,preset", [("CartPole-v1", "value"), ("CartPole-v1", "cpg"), ("Pendulum-v1", "value")])
def test_train_then_test(run_script, tmp_path, env_id, preset):
    done = run_script("train.py", "--env-id", env_id, "--preset", preset, *TINY, "--max-episode-steps", "100",
                      "--log-dir", "logs", "--save-dir", "models")
    assert done.returncode == 0, done.stderr
    (run_dir,) = list((tmp_path / "logs").iterdir())
    assert run_dir.name.startswith(f"{env_id}__reinforce_{preset}__1__")
    events = EventAccumulator(str(run_dir))
    events.Reload()
    expected = {"charts/episodic_return", "losses/policy_loss", "losses/entropy_loss", "charts/baseline", "eval/mean_return"}
    if preset == "value":
        expected.add("losses/value_loss")
    assert expected <= set(events.Tags()["scalars"])
    assert json.loads((run_dir / "summary.json").read_text())["steps"] >= 1500

    model = tmp_path / "models" / f"{env_id}__reinforce_{preset}__1.pth"
    assert torch.load(model, weights_only=True)["config"]["preset"] == preset
    played = run_script("test.py", model, "--episodes", "2", "--json", "--gif", "run.gif")
    assert played.returncode == 0, played.stderr
    result = json.loads(played.stdout.strip().splitlines()[-1])
    assert result["episodes"] == 2 and result["env_id"] == env_id
    assert (tmp_path / "run.gif").read_bytes()[:3] == b"GIF"


def test_compare_draws_the_figure(run_script, tmp_path):
    done = run_script("compare.py", "--seeds", "1", "--total-steps", "800", "--out", "cmp.png", "--log-dir", "logs")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cmp.png").stat().st_size > 10_000
    assert len(list((tmp_path / "logs").iterdir())) == 4  # one run per preset


def assert_clean_error(done, *words):
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("args,words", [
    (["--env-id", "NoSuchEnv-v0"], ["unknown environment"]),
    (["--env-id", "FrozenLake-v1"], ["flat Box"]),
    (["--preset", "ppo"], ["--preset must be one of"]),
    (["--baseline", "median"], ["none, batch or value"]),
])
def test_bad_input(run_script, args, words):
    assert_clean_error(run_script("train.py", *args, "--log-dir", "logs"), *words)


def test_bad_model_files(run_script, tmp_path):
    assert_clean_error(run_script("test.py", "missing.pth"), "no model file")
    torch.save({"part": "part2_dqn", "algo": "dqn", "state_dict": {}, "config": {}}, tmp_path / "dqn.pth")
    assert_clean_error(run_script("test.py", "dqn.pth"), "not a part3_reinforce checkpoint", "part2_dqn")
    assert run_script("train.py", *TINY, "--log-dir", "logs", "--save-dir", "models").returncode == 0
    checkpoint = torch.load(tmp_path / "models" / "CartPole-v1__reinforce_value__1.pth", weights_only=True)
    checkpoint["config"]["env_id"] = "LunarLander-v3"
    checkpoint["config"]["max_episode_steps"] = 1000
    torch.save(checkpoint, tmp_path / "other_env.pth")
    assert_clean_error(run_script("test.py", "other_env.pth"), "do not fit")


def test_unwritable_folders(run_script, tmp_path):
    (tmp_path / "a_file").write_text("")
    assert_clean_error(run_script("train.py", *TINY, "--save-dir", "a_file/models"), "cannot write the model folder")
    assert_clean_error(run_script("train.py", *TINY, "--log-dir", "a_file/logs"), "cannot write the log folder")


def test_ctrl_c_keeps_the_best_model(tmp_path):
    process = subprocess.Popen([sys.executable, str(PART_DIR / "train.py"), "--total-steps", "100000000",
                                "--eval-every", "500", "--eval-episodes", "1", "--log-dir", "logs", "--save-dir", "models"],
                               cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    model = tmp_path / "models" / "CartPole-v1__reinforce_value__1.pth"
    deadline = time.time() + 60
    while not model.exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr and "intact" in stderr
    assert "state_dict" in torch.load(model, weights_only=True)
