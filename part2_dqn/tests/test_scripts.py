"""Smoke tests of train.py and test.py through a subprocess (bad input: test_bad_input.py)."""
import importlib.util
import json
import os
import re
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
    # output piped, not a terminal: no bar, but plain progress lines ("1,200/1,200 steps (3 s) | ...")
    lines = [line for line in done.stdout.splitlines() if re.match(r"[0-9,]+/1,200 steps \(", line)]
    assert len(lines) >= 2 and "steps/s" in lines[-1] and "best eval" in lines[-1], done.stdout
    steps = [int(line.split("/")[0].replace(",", "")) for line in lines]
    assert steps == sorted(steps) and steps[-1] >= 1_000

    model = tmp_path / "models" / f"{run_dir.name}.pth"  # named like its run
    assert f"model saved to {Path('models') / model.name}" in done.stdout
    checkpoint = torch.load(model, weights_only=True)
    assert checkpoint["config"]["network"] == network and checkpoint["n_actions"] == 11
    headless = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    headless["XDG_RUNTIME_DIR"] = str(tmp_path / "no-such-folder")  # SDL would print "error: XDG_RUNTIME_DIR ..."
    played = run_script("test.py", model, "--episodes", "2", "--json", "--plot", "angle.png", "--gif", "run.gif",
                        env=headless)
    assert played.returncode == 0, played.stderr
    assert "XDG_RUNTIME_DIR" not in played.stderr and "error" not in played.stderr, played.stderr
    result = json.loads(played.stdout.strip().splitlines()[-1])
    assert result["network"] == network and result["episodes"] == 2
    # the env's own reward scale: the same greedy episodes (test.py's default seed) summed from the
    # Pendulum's own rewards, under every wrapper; the scaled training reward is 16.27 times smaller
    spec = importlib.util.spec_from_file_location("part2_test_script_for_scale", PART_DIR / "test.py")
    test_py = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_py)
    agent, env, _ = test_py.rebuild(str(model))
    raw, base_step = [], env.unwrapped.step
    env.unwrapped.step = lambda action: (lambda result: raw.append(result[1]) or result)(base_step(action))
    agent.evaluate(env, 2, seed=12345)
    assert len(raw) == 2 * 100 and result["mean"] == pytest.approx(sum(raw) / 2, rel=1e-4)
    assert (tmp_path / "angle.png").stat().st_size > 1000
    assert (tmp_path / "run.gif").read_bytes()[:3] == b"GIF"
    from PIL import Image
    assert Image.open(tmp_path / "run.gif").n_frames <= 100  # --gif-episodes 1: one 100-step episode, not two


def test_short_run_leaves_a_model_test_py_loads(run_script, tmp_path):
    """A run shorter than --eval-every still ends with a greedy evaluation of its final policy, and a model."""
    done = run_script("train.py", "--total-steps", "300", "--eval-every", "1000", "--eval-episodes", "1",
                      "--learning-starts", "100", "--batch-size", "32", "--max-episode-steps", "50",
                      "--log-dir", "logs", "--save-dir", "out")
    assert done.returncode == 0, done.stderr
    run_dir = single_run(tmp_path / "logs")
    model = tmp_path / "out" / f"{run_dir.name}.pth"
    assert f"model saved to {Path('out') / model.name}" in done.stdout, done.stdout
    assert torch.load(model, weights_only=True)["step"] == 300
    assert (run_dir / "evaluations.csv").read_text().splitlines()[1].startswith("300,")
    assert json.loads((run_dir / "summary.json").read_text())["model"] == str(Path("out") / model.name)
    played = run_script("test.py", model, "--episodes", "1", "--json")
    assert played.returncode == 0, played.stderr
    assert json.loads(played.stdout.strip().splitlines()[-1])["trained_steps"] == 300


def test_stop_at_ends_a_run_at_the_first_evaluation_that_reaches_it(run_script, tmp_path):
    """--stop-at X: the run ends, complete (model, summary, closing line), at the first evaluation with a mean
    of X or more; its summary counts the steps actually taken. Pendulum's returns are below 0, so -1e9
    stops at the first evaluation and inf (the default) never does."""
    common = ["--total-steps", "600", "--eval-every", "200", "--eval-episodes", "1", "--learning-starts", "100",
              "--batch-size", "32", "--max-episode-steps", "50", "--save-dir", "out"]
    done = run_script("train.py", *common, "--stop-at=-1e9", "--log-dir", "stopped")
    assert done.returncode == 0, done.stderr
    assert "stopped at step 200: --stop-at -1e+09 reached" in done.stdout and "model saved to" in done.stdout
    run_dir = single_run(tmp_path / "stopped")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 200 and summary["best_step"] == 200
    assert len((run_dir / "evaluations.csv").read_text().splitlines()) == 1 + 1
    full = run_script("train.py", *common, "--log-dir", "full")
    assert full.returncode == 0 and "stopped at" not in full.stdout
    assert json.loads((single_run(tmp_path / "full") / "summary.json").read_text())["steps"] == 600


def test_default_folders_are_the_repos_wherever_run_from(run_script):
    from train import get_config
    config = get_config([])
    assert Path(config.save_dir) == PART_DIR.parent / "models" / "part2_dqn"
    assert Path(config.log_dir) == PART_DIR.parent / "dqn_logs"
    assert get_config(["--save-dir", "here"]).save_dir == "here"   # an explicit flag is used as given
    shown = run_script("train.py", "--help")                      # run from a temporary folder
    assert str(PART_DIR.parent / "models" / "part2_dqn") in " ".join(shown.stdout.split())


def help_defaults(text):
    """{'--flag': 'default'} from argparse's `--help` text (ArgumentDefaultsHelpFormatter)."""
    text = " ".join(text.split())
    return dict(re.findall(r"(--[a-z-]+)(?:, --no-[a-z-]+)?(?: [A-Z_]+)* .*?\(default: (.*?)\)", text))


def test_preset_applies_and_help_shows_it(run_script):
    from train import PRESETS, get_config
    cartpole = get_config(["--env-id", "CartPole-v1"])
    for name, value in PRESETS["CartPole-v1"].items():
        assert getattr(cartpole, name) == value, name
    assert get_config(["--env-id", "CartPole-v1", "--n-steps", "1"]).n_steps == 1   # a flag beats the preset
    assert get_config([]).hidden == [64, 64] and get_config([]).discrete_actions == 11
    assert "torch_threads" not in PRESETS["CartPole-v1"] and cartpole.torch_threads == 1

    shown = run_script("train.py", "--env-id", "CartPole-v1", "--help")
    assert shown.returncode == 0
    defaults = help_defaults(shown.stdout)
    assert defaults["--total-steps"] == "50000" and defaults["--n-steps"] == "3", defaults
    assert defaults["--hidden"] == "[256, 256]" and defaults["--batch-size"] == "64"
    assert defaults["--double"] == "False" and defaults["--torch-threads"] == "1"
    assert defaults["--env-id"] == "CartPole-v1"
    pendulum = help_defaults(run_script("train.py", "--help").stdout)
    assert pendulum["--total-steps"] == "60000" and pendulum["--discrete-actions"] == "11"


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_ctrl_c_or_sigterm_exits_130_and_leaves_the_saved_model_intact(tmp_path, stop):
    """Ctrl-C (or `kill`, SIGTERM, handled the same way) after a save: exit 130, no traceback, a loadable
    model, no temporary file left. (That the model is the best evaluation, not the last,
    test_rules.py::test_the_best_model_is_kept_not_the_last checks.)"""
    process = subprocess.Popen([sys.executable, str(PART_DIR / "train.py"), "--total-steps", "10000000",
                                "--eval-every", "300", "--eval-episodes", "1", "--learning-starts", "100",
                                "--max-episode-steps", "50", "--log-dir", "logs", "--save-dir", "models"],
                               cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    models = tmp_path / "models"
    deadline = time.time() + 120  # a loaded 2-core machine (the suite's other worker, other jobs) is slow to start
    while not (models.is_dir() and list(models.glob("*.pth"))) and time.time() < deadline:
        time.sleep(0.2)
    saved = list(models.glob("*.pth")) if models.is_dir() else []
    assert saved, "no model saved within 120 s: the signal would arrive before there is one"
    (model,) = saved
    time.sleep(1.0)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr and "intact" in stderr
    assert "state_dict" in torch.load(model, weights_only=True)
    assert not list((tmp_path / "models").glob("*.tmp"))


def interrupt(command, cwd, ready):
    """Start `command`, wait until `ready(process)` (or 60 s), send Ctrl-C; returns (exit code, stderr)."""
    process = subprocess.Popen([sys.executable, *map(str, command)], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not ready(process) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


def test_ctrl_c_before_the_first_evaluation_says_no_model(tmp_path):
    code, stderr = interrupt([PART_DIR / "train.py", "--total-steps", "10000000", "--eval-every", "5000000",
                              "--log-dir", "logs", "--save-dir", "models"], tmp_path,
                             ready=lambda _: (tmp_path / "logs").exists() and any((tmp_path / "logs").iterdir()))
    assert code == 130 and "Traceback" not in stderr and "no model saved" in stderr, stderr
    assert not list((tmp_path / "models").glob("*.pth"))


def test_ctrl_c_in_test_py_exits_130_without_traceback(tmp_path):
    model = PART_DIR.parent / "models" / "part2_dqn" / "Pendulum-v1__dqn_mlp.pth"
    code, stderr = interrupt([PART_DIR / "test.py", model, "--episodes", "100000"], tmp_path,
                             ready=lambda process: "playing" in process.stdout.readline())  # past the imports
    assert code == 130 and "Traceback" not in stderr and "interrupted" in stderr, stderr


def test_an_interrupt_inside_the_writer_does_not_hang_train_py(tmp_path, monkeypatch):
    """A Ctrl-C (or SIGTERM) raised inside the SummaryWriter can leave its close() waiting forever (seen under
    load: the process hung); train.py's interrupt path (plumbing's Run.interrupted) must give up on it
    (close_after_interrupt) and exit 130.
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
