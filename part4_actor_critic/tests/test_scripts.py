"""Smoke tests of train.py, test.py and compare.py through a subprocess, and the bad-input contract."""
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

from plumbing import run_main

PART_DIR = Path(__file__).resolve().parents[1]
TINY = ["--total-steps", "1200", "--eval-every", "600", "--eval-episodes", "2", "--num-envs", "4",
        "--max-episode-steps", "100"]


def the_model(folder):
    """The one model file a run saved in `folder`: named like its run folder."""
    (model,) = Path(folder).glob("*.pth")
    return model


@pytest.mark.parametrize("env_id,flags,algo", [
    ("CartPole-v1", [], "a2c"),
    ("CartPole-v1", ["--algo", "ppo", "--shared", "--n-steps", "64"], "ppo_shared"),
    ("Pendulum-v1", ["--algo", "ppo", "--n-steps", "64", "--clip-range-vf", "0.2", "--normalize-reward"], "ppo"),  # normalised obs and rewards
])
def test_train_then_test(run_script, tmp_path, env_id, flags, algo):
    done = run_script("train.py", "--env-id", env_id, *flags, *TINY, "--log-dir", "logs", "--save-dir", "models")
    assert done.returncode == 0, done.stderr
    (run_dir,) = list((tmp_path / "logs").iterdir())
    assert run_dir.name.startswith(f"{env_id}__{algo}__1__")
    assert f"model saved to models/{run_dir.name}.pth" in done.stdout  # the model is named like its run
    model = tmp_path / "models" / f"{run_dir.name}.pth"
    events = EventAccumulator(str(run_dir))
    events.Reload()
    expected = {"charts/episodic_return", "losses/policy_loss", "losses/value_loss", "losses/entropy", "eval/mean_return"}
    if algo.startswith("ppo"):
        expected |= {"losses/approx_kl", "losses/clip_fraction"}
    assert expected <= set(events.Tags()["scalars"])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] >= 1200 and summary["steps_per_second"] > 0 and summary["model"] == f"models/{model.name}"
    assert (run_dir / "evaluations.csv").read_text().startswith("step,train_seconds,mean,std\n")

    checkpoint = torch.load(model, weights_only=True)
    assert checkpoint["part"] == "part4_actor_critic" and checkpoint["config"]["env_id"] == env_id
    assert (checkpoint["obs_normalizer"] is not None) == (env_id == "Pendulum-v1")
    played = run_script("test.py", model, "--episodes", "2", "--json", "--gif", "run.gif")
    assert played.returncode == 0, played.stderr
    assert "XDG_RUNTIME_DIR" not in played.stderr
    result = json.loads(played.stdout.strip().splitlines()[-1])
    assert result["episodes"] == 2 and result["env_id"] == env_id
    assert (tmp_path / "run.gif").read_bytes()[:3] == b"GIF"


def test_a_run_shorter_than_eval_every_leaves_a_loadable_model(run_script, tmp_path, capsys):
    import train

    done = run_in_process(train.main, ["--total-steps", "200", "--eval-every", "10000", "--eval-episodes", "1",
                                       "--log-dir", tmp_path / "logs", "--save-dir", tmp_path / "models"], capsys)
    assert done.returncode == 0, done.stderr
    model = the_model(tmp_path / "models")
    assert f"model saved to {model}" in done.stdout
    assert torch.load(model, weights_only=True)["step"] == 200
    assert run_script("test.py", model, "--episodes", "1").returncode == 0


def test_help_shows_the_preset(capsys):
    import train

    done = run_in_process(train.main, ["--env-id", "LunarLander-v3", "--algo", "ppo", "--help"], capsys)
    assert done.returncode == 0
    assert "(default: 1024)" in " ".join(done.stdout.split())  # the preset's n_steps, not the A2C default 5


def test_compare_draws_the_figure(run_script, tmp_path):
    done = run_script("compare.py", "--seeds", "1", "--total-steps", "800", "--out", "cmp.png", "--log-dir", "logs")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cmp.png").stat().st_size > 10_000
    assert len(list((tmp_path / "logs").iterdir())) == 4  # separate, shared, A2C, PPO: one run each


def assert_clean_error(done, *words):
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_bad_input_end_to_end(run_script):
    assert_clean_error(run_script("train.py", "--env-id", "NoSuchEnv-v0"), "unknown environment")


def run_in_process(main, argv, capsys):
    """The script's main through run_main, as `python script.py argv` runs it, without a new interpreter
    (saves an interpreter start, a few seconds of the part's test budget). A return is exit code 0."""
    capsys.readouterr()
    try:
        run_main(lambda: main(list(map(str, argv))))
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code or 0
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out, err)


@pytest.mark.parametrize("args,words", [
    (["--env-id", "FrozenLake-v1"], ["flat Box"]),              # Discrete observations
    (["--env-id", "Blackjack-v1"], ["flat Box"]),               # Tuple observations
    (["--env-id", "ALE/Pong-v5"], ["image observations"]),      # ale-py is installed: the reason is the pixels
    (["--algo", "dqn"], ["--algo must be a2c or ppo, got 'dqn'"]),
    (["--optimizer", "sgd"], ["--optimizer must be rmsprop or adam"]),
    (["--gae-lambda", "1.5"], ["--gae-lambda must be in [0, 1], got 1.5"]),
    (["--gamma", "-0.1"], ["--gamma must be in [0, 1]"]),
    (["--learning-rate", "-0.001"], ["--learning-rate must be > 0, got -0.001"]),
    (["--learning-rate", "0"], ["--learning-rate must be > 0"]),
    (["--torch-threads", "0"], ["--torch-threads must be at least 1, got 0"]),
    (["--clip-range", "-0.2"], ["--clip-range must be > 0, got -0.2"]),
    (["--num-envs", "0"], ["--num-envs must be at least 1, got 0"]),
    (["--n-steps", "0"], ["--n-steps must be at least 1"]),
    (["--hidden", "64", "0"], ["--hidden must be at least 1"]),
    (["--ent-coef", "-0.01"], ["--ent-coef must be 0 or more"]),
    (["--max-grad-norm", "0"], ["--max-grad-norm must be > 0"]),
    (["--device", "tpu"], ["--device must be auto or cpu or cuda"]),
])
def test_bad_input(capsys, tmp_path, args, words):
    import train

    done = run_in_process(train.main, [*args, "--log-dir", tmp_path / "logs", "--save-dir", tmp_path / "models"], capsys)
    assert_clean_error(done, *words)


def test_unsupported_action_space_is_a_clean_error():
    import gymnasium as gym

    from plumbing import UserError
    from wrappers import check_spaces

    with pytest.raises(UserError, match="Discrete or Box actions"):
        check_spaces("X", gym.spaces.Box(-1, 1, (3,)), gym.spaces.MultiDiscrete([2, 3]))


def test_test_py_bad_flags(capsys, tmp_path):
    import test as play

    model = PART_DIR.parent / "models" / "part4_actor_critic" / "CartPole-v1__a2c.pth"
    assert_clean_error(run_in_process(play.main, [model, "--gif", tmp_path], capsys), "--gif takes a file name ending in .gif")
    assert_clean_error(run_in_process(play.main, [model, "--episodes", "0"], capsys), "--episodes must be at least 1")
    assert_clean_error(run_in_process(play.main, [tmp_path], capsys), "is a folder")


def test_bad_model_files(capsys, tmp_path):
    import test as play
    import train

    assert_clean_error(run_in_process(play.main, [tmp_path / "missing.pth"], capsys), "no model file")
    torch.save({"part": "part2_dqn", "algo": "dqn", "state_dict": {}, "config": {}}, tmp_path / "dqn.pth")
    assert_clean_error(run_in_process(play.main, [tmp_path / "dqn.pth"], capsys),
                       "not a part4_actor_critic checkpoint", "part2_dqn")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    assert_clean_error(run_in_process(play.main, [tmp_path / "junk.pth"], capsys), "not a readable checkpoint")
    train.main(["--total-steps", "100", "--eval-episodes", "1", "--num-envs", "2",
                "--log-dir", str(tmp_path / "logs"), "--save-dir", str(tmp_path / "models")])
    checkpoint = torch.load(the_model(tmp_path / "models"), weights_only=True)
    checkpoint["config"]["env_id"] = "Pendulum-v1"  # Discrete-action weights for a Box-action env
    torch.save(checkpoint, tmp_path / "other_env.pth")
    assert_clean_error(run_in_process(play.main, [tmp_path / "other_env.pth"], capsys), "do not fit")


def test_unwritable_folders(capsys, tmp_path):
    import train

    (tmp_path / "a_file").write_text("")
    assert_clean_error(run_in_process(train.main, [*TINY, "--save-dir", tmp_path / "a_file/models"], capsys),
                       "cannot write the model folder")
    assert_clean_error(run_in_process(train.main, [*TINY, "--log-dir", tmp_path / "a_file/logs",
                                                   "--save-dir", tmp_path / "models"], capsys),
                       "cannot write the log folder")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_ctrl_c_or_sigterm_keeps_the_best_model(tmp_path, stop):
    """`kill` (SIGTERM) stops a run as Ctrl-C does: exit 130, no traceback, the best model whole."""
    process = subprocess.Popen([sys.executable, str(PART_DIR / "train.py"), "--total-steps", "100000000",
                                "--eval-every", "400", "--eval-episodes", "1",
                                "--log-dir", "logs", "--save-dir", "models"],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120  # a loaded 2-core machine (the suite's other worker, other jobs) is slow to start
    while not list((tmp_path / "models").glob("*.pth")) and time.time() < deadline:
        time.sleep(0.2)
    assert list((tmp_path / "models").glob("*.pth")), "no model saved within 120 s: the signal would arrive before there is one"
    model = the_model(tmp_path / "models")
    time.sleep(0.5)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr and f"intact at models/{model.name}" in stderr
    assert "state_dict" in torch.load(model, weights_only=True)


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
    load: the process hung); train.py's interrupt path must give up on it (close_after_interrupt) and exit 130.
    Red, as a hang caught by the join's timeout, if the interrupt path calls writer.close() itself."""
    import functools
    import threading

    import plumbing
    import train

    class BrokenWriter(plumbing.SummaryWriter):
        def add_scalar(self, *args, **kwargs):
            raise KeyboardInterrupt  # the interrupt lands inside the writer ...

        def close(self):
            threading.Event().wait()  # ... and leaves its close() waiting forever

    monkeypatch.setattr(plumbing, "SummaryWriter", BrokenWriter)
    monkeypatch.setattr(plumbing, "close_after_interrupt", functools.partial(plumbing.close_after_interrupt, seconds=0.2))
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
