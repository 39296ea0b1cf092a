"""Smoke tests of every script through a subprocess, and the bad-input contract: one line, non-zero exit."""
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

TINY = ["--total-steps", "4000", "--eval-every", "2000", "--eval-episodes", "20"]


def tags(run_dir):
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return set(events.Tags()["scalars"]), events.Tags()["tensors"]


def single_run(log_dir):
    runs = list(Path(log_dir).iterdir())
    assert len(runs) == 1
    return runs[0]


@pytest.mark.parametrize("script,args,model,json_key", [
    ("train.py", [], "FrozenLake-v1__q_table__1.pth", "success_rate"),
    ("train.py", ["--env-id", "Pendulum-v1"], "Pendulum-v1__q_table__1.pth", "mean"),
    ("linear_q.py", [], "MountainCar-v0__linear_q__1.pth", "mean"),
    ("linear_q.py", ["--features", "fourier"], "MountainCar-v0__linear_q__1.pth", "mean"),
])
def test_train_then_test(run_script, tmp_path, script, args, model, json_key):
    done = run_script(script, *args, *TINY, "--log-dir", "logs", "--save-dir", "models")
    assert done.returncode == 0, done.stderr
    run_dir = single_run(tmp_path / "logs")
    assert run_dir.name.startswith(model.split("__")[0] + "__" + model.split("__")[1] + "__1__")
    scalars, _ = tags(run_dir)
    assert {"charts/episodic_return", "charts/epsilon", "eval/mean_return", "eval/success_rate"} <= scalars
    rows = (run_dir / "evaluations.csv").read_text().splitlines()
    assert rows[0] == "step,train_seconds,mean,std" and len(rows) == 3
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 4000 and summary["steps_per_second"] > 0

    checkpoint = torch.load(tmp_path / "models" / model, weights_only=True)
    assert set(checkpoint) >= {"part", "algo", "config", "eval_return", "step"}
    assert checkpoint["step"] in (2000, 4000) and isinstance(checkpoint["config"], dict)

    played = run_script("test.py", f"models/{model}", "--episodes", "3", "--json", "--plot", "plot.png")
    assert played.returncode == 0, played.stderr
    result = json.loads(played.stdout.strip().splitlines()[-1])
    assert result["episodes"] == 3 and json_key in result
    if "q_table" in model:
        assert (tmp_path / "plot.png").stat().st_size > 1000


def test_gif(run_script, tmp_path):
    assert run_script("train.py", *TINY, "--log-dir", "logs", "--save-dir", "models").returncode == 0
    played = run_script("test.py", "models/FrozenLake-v1__q_table__1.pth", "--episodes", "1", "--gif", "run.gif")
    assert played.returncode == 0, played.stderr
    assert (tmp_path / "run.gif").read_bytes()[:3] == b"GIF"


def test_help_is_generated_from_the_config(run_script):
    shown = run_script("train.py", "--help")
    assert shown.returncode == 0
    for flag in ["--env-id", "--seed", "--total-steps", "--eval-every", "--eval-episodes", "--log-dir",
                 "--save-dir", "--alpha", "--nvec-s", "--no-slippery"]:
        assert flag in shown.stdout
    assert "discount factor" in shown.stdout


def assert_clean_error(done, *words):
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for word in words:
        assert word in lines[0]


def write_checkpoint(path, **entries):
    torch.save(entries, path)
    return path


@pytest.mark.parametrize("script,args,words", [
    ("train.py", ["--env-id", "NoSuchEnv-v0"], ["unknown environment", "NoSuchEnv-v0"]),
    ("train.py", ["--env-id", "CartPole-v1"], ["infinite"]),            # unbounded velocities: no table
    ("train.py", ["--env-id", "Pendulum-v1", "--nvec-u", "10"], ["odd"]),
    ("train.py", ["--map-name", "5x5"], ["4x4 or 8x8"]),
    ("linear_q.py", ["--env-id", "Pendulum-v1"], ["Discrete actions"]),
    ("linear_q.py", ["--features", "wavelets"], ["rbf or fourier"]),
    ("test.py", ["missing.pth"], ["no model file"]),
])
def test_bad_input(run_script, script, args, words):
    assert_clean_error(run_script(script, *args), *words)


def test_mismatched_checkpoints(run_script, tmp_path):
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint at all")
    assert_clean_error(run_script("test.py", "garbage.pth"), "not a readable checkpoint")
    write_checkpoint(tmp_path / "dqn.pth", part="part2_dqn", algo="dqn", state_dict={}, config={})
    assert_clean_error(run_script("test.py", "dqn.pth"), "not a part1_tabular_q checkpoint", "part2_dqn")
    config = {"env_id": "FrozenLake-v1", "map_name": "4x4", "slippery": True, "seed": 1}
    write_checkpoint(tmp_path / "wrong.pth", part="part1_tabular_q", algo="q_table", table=torch.zeros(64, 4),
                     config=config, eval_return=0.0, step=1)
    assert_clean_error(run_script("test.py", "wrong.pth"), "does not fit")


def test_unwritable_folders(run_script, tmp_path):
    (tmp_path / "a_file").write_text("")
    assert_clean_error(run_script("train.py", *TINY, "--save-dir", "a_file/models"), "cannot write the model folder")
    assert_clean_error(run_script("train.py", *TINY, "--log-dir", "a_file/logs"), "cannot write the log folder")


def test_ctrl_c_keeps_the_best_model(tmp_path):
    process = subprocess.Popen([sys.executable, str(PART_DIR / "train.py"), "--total-steps", "100000000",
                                "--eval-every", "5000", "--eval-episodes", "10", "--log-dir", "logs",
                                "--save-dir", "models"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    model = tmp_path / "models" / "FrozenLake-v1__q_table__1.pth"
    deadline = time.time() + 60
    while not model.exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr and "intact" in stderr
    checkpoint = torch.load(model, weights_only=True)  # a whole file, never a half-written one
    assert checkpoint["table"].shape == (16, 4)
    assert not list((tmp_path / "models").glob("*.tmp"))
