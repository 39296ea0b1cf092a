"""train.py and test.py end to end: a subprocess round trip, folders, presets, Ctrl-C and SIGTERM.
(Bad values and bad model files: test_bad_input.py.)"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import plumbing
import test as play
import train
from plumbing import REPO, UserError, parse_config, run_main

PART_DIR = Path(__file__).resolve().parents[1]
TINY = ["--total-steps", "300", "--eval-every", "200", "--eval-episodes", "1", "--learning-starts", "100",
        "--batch-size", "16", "--hidden", "16", "16", "--max-episode-steps", "50"]


def test_train_then_test_round_trip(run_script, tmp_path):
    done = run_script("train.py", *TINY, "--log-dir", "logs", "--save-dir", "models")
    assert done.returncode == 0, done.stderr
    run_dir, = (tmp_path / "logs").iterdir()
    assert run_dir.name.startswith("Pendulum-v1__sac__1__")
    events = EventAccumulator(str(run_dir))
    events.Reload()
    assert {"charts/episodic_return", "losses/critic1_loss", "losses/critic2_loss", "losses/actor_loss",
            "losses/alpha", "losses/alpha_loss", "losses/entropy", "losses/mean_q", "eval/mean_return",
            "charts/steps_per_second"} <= set(events.Tags()["scalars"])
    rows = (run_dir / "evaluations.csv").read_text().splitlines()
    assert rows[0] == "step,train_seconds,mean,std" and [r.split(",")[0] for r in rows[1:]] == ["200", "300"]
    summary = json.loads((run_dir / "summary.json").read_text())
    # the model is the run's own, named like its folder: a second run never replaces it
    assert summary["steps"] == 300 and summary["model"] == f"models/{run_dir.name}.pth"
    assert f"model saved to models/{run_dir.name}.pth" in done.stdout

    model = tmp_path / "models" / f"{run_dir.name}.pth"
    checkpoint = torch.load(model, map_location="cpu", weights_only=True)
    assert checkpoint["part"] == "part5_sac" and checkpoint["algo"] == "sac" and checkpoint["action_dim"] == 1
    played = run_script("test.py", model, "--episodes", "2", "--json", "--plot", "angle.png", "--gif", "run.gif")
    assert played.returncode == 0, played.stderr
    assert "error" not in played.stderr.lower()  # SDL stays quiet on a headless render
    result = json.loads(played.stdout.strip().splitlines()[-1])
    assert result["episodes"] == 2 and -16.28 * 50 <= result["mean"] <= 0  # the env's own reward scale
    assert (tmp_path / "angle.png").stat().st_size > 1000
    assert (tmp_path / "run.gif").read_bytes()[:3] == b"GIF"


def test_a_run_shorter_than_eval_every_leaves_a_loadable_model(tmp_path, capsys):
    summary = train.main([*TINY, "--total-steps", "120", "--eval-every", "1000", "--log-dir", str(tmp_path / "logs"),
                          "--save-dir", str(tmp_path / "models")])
    model = Path(summary["model"])
    assert f"model saved to {model}" in capsys.readouterr().out
    assert torch.load(model, weights_only=True)["step"] == 120
    play.main([str(model), "--episodes", "1"])
    assert "mean return" in capsys.readouterr().out


def test_default_folders_are_the_repos_and_help_shows_the_preset(capsys):
    config = train.get_config([])
    assert Path(config.save_dir) == REPO / "models" / "part5_sac" and Path(config.log_dir) == REPO / "sac_logs"
    assert train.get_config(["--env-id", "LunarLanderContinuous-v3"]).total_steps == 300_000
    assert train.get_config(["--env-id", "LunarLanderContinuous-v3"]).eval_episodes == 20
    # rl-zoo's lin_7.3e-4 (NOTES.md: 3 of 5 seeds pass with it, 1 of 3 with a constant rate)
    assert train.get_config(["--env-id", "LunarLanderContinuous-v3"]).anneal_lr
    assert not train.get_config(["--env-id", "LunarLanderContinuous-v3", "--no-anneal-lr"]).anneal_lr
    assert not train.get_config([]).anneal_lr
    assert train.get_config([]).eval_episodes == 20  # Pendulum: 10 picked a lucky model on seed 103 (README)
    assert train.get_config([]).hidden == [64, 64]  # Pendulum's preset; SB3's 256-256 elsewhere (README, Results)
    assert train.get_config(["--env-id", "MountainCarContinuous-v0"]).hidden == [64, 64]
    # no preset: the default (parsed only: MuJoCo may not be installed)
    assert parse_config(train.Config, ["--env-id", "Humanoid-v5"], presets=train.preset_defaults).hidden == [256, 256]
    assert train.get_config(["--env-id", "LunarLanderContinuous-v3", "--total-steps", "5"]).total_steps == 5
    with pytest.raises(SystemExit):
        train.get_config(["--env-id", "LunarLanderContinuous-v3", "--help"])
    shown = capsys.readouterr().out
    assert "(default: 300000)" in shown and "(default: [400, 300])" in shown


def test_halfcheetah_preset_is_rl_zoos_and_builds_when_mujoco_is_installed():
    config = parse_config(train.Config, ["--env-id", "HalfCheetah-v5"], presets=train.preset_defaults)
    assert (config.total_steps, config.learning_rate, config.learning_starts, config.tau, config.hidden) == \
        (1_000_000, 3e-4, 10_000, 0.005, [256, 256])
    try:
        import mujoco  # noqa: F401  (optional: pip install "gymnasium[mujoco]")
    except ImportError:
        with pytest.raises(UserError, match="needs an extra package"):
            train.get_config(["--env-id", "HalfCheetah-v5"])
        return
    env = train.make_env(config)
    assert env.observation_space.shape == (17,) and env.action_space.shape == (6,)
    env.close()


def error_line(capsys, main, argv):
    with pytest.raises(SystemExit) as exit_info:
        run_main(lambda: main(argv))
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_unwritable_folders(capsys, tmp_path):
    (tmp_path / "a_file").write_text("")
    line = error_line(capsys, train.main, [*TINY, "--save-dir", str(tmp_path / "a_file" / "models")])
    assert "cannot write the model folder" in line
    line = error_line(capsys, train.main, [*TINY, "--save-dir", str(tmp_path / "m"), "--log-dir", str(tmp_path / "a_file" / "l")])
    assert "cannot write the log folder" in line


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_ctrl_c_or_sigterm_keeps_the_best_model(tmp_path, stop):
    """`kill` (SIGTERM) stops a run as Ctrl-C does: exit 130, no traceback, the best model whole."""
    process = subprocess.Popen([sys.executable, str(PART_DIR / "train.py"), *TINY, "--total-steps", "10000000",
                                "--eval-every", "150", "--log-dir", "logs", "--save-dir", "models"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list((tmp_path / "models").glob("*.pth")) and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr and "intact" in stderr
    model, = (tmp_path / "models").glob("*.pth")
    assert "state_dict" in torch.load(model, weights_only=True)
    assert not list((tmp_path / "models").glob("*.tmp"))


def test_sigterm_in_any_script_exits_130_without_a_traceback(capsys):
    """run_main, which every script's entry point goes through (test.py too, which catches nothing itself),
    turns SIGTERM into Ctrl-C and Ctrl-C into "interrupted" and exit code 130."""
    def main():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # the handler interrupts this
        raise AssertionError("SIGTERM did not stop main")

    before = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as stopped:
            run_main(main)
    finally:
        signal.signal(signal.SIGTERM, before)  # the test process keeps its own handler
    assert stopped.value.code == 130 and "interrupted" in capsys.readouterr().err


def test_an_interrupt_inside_the_writer_does_not_hang_train_py(tmp_path, monkeypatch):
    """A Ctrl-C (or SIGTERM) raised inside the SummaryWriter can leave its close() waiting forever (seen under
    load: the process hung); train.py's interrupt path (Run.interrupted) must give up on it
    (close_after_interrupt) and exit 130. Red, as a hang caught by the join's timeout, if it calls writer.close()."""
    import functools
    import threading

    class BrokenWriter(plumbing.SummaryWriter):
        def add_scalar(self, *args, **kwargs):
            raise KeyboardInterrupt  # the interrupt lands inside the writer ...

        def close(self):
            threading.Event().wait()  # ... and leaves its close() waiting forever

    monkeypatch.setattr(plumbing, "SummaryWriter", BrokenWriter)
    monkeypatch.setattr(plumbing, "close_after_interrupt", functools.partial(plumbing.close_after_interrupt,
                                                                             seconds=0.2))
    outcome = {}

    def run():
        try:
            train.main([*TINY, "--log-dir", str(tmp_path / "logs"), "--save-dir", str(tmp_path / "models")])
        except SystemExit as stop:
            outcome["code"] = stop.code

    runner = threading.Thread(target=run, daemon=True)  # a hang stays in this thread, not in the test run
    runner.start()
    runner.join(120)
    assert not runner.is_alive(), "train.py hung on the broken writer after the interrupt"
    assert outcome.get("code") == 130


def test_sigterm_still_stops_a_headless_render():
    """Once SDL has drawn a frame it turns SIGTERM into a quit event nothing reads, so a --gif run ignored
    `kill` (and a CI timeout); quiet_sdl leaves the signals to Python. Red without SDL_NO_SIGNAL_HANDLERS."""
    code = ("import os, signal, sys, time; sys.path.insert(0, sys.argv[1]); import test as script; script.quiet_sdl(None); "
            "import gymnasium as gym; env = gym.make('CartPole-v1', render_mode='rgb_array'); env.reset(seed=0); "
            "env.render(); os.kill(os.getpid(), signal.SIGTERM); time.sleep(10); print('survived SIGTERM')")
    env = {key: value for key, value in os.environ.items() if key != "SDL_NO_SIGNAL_HANDLERS"}
    done = subprocess.run([sys.executable, "-c", code, str(PART_DIR)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -signal.SIGTERM, done.stdout + done.stderr
