"""The scripts as a user runs them: smoke runs through a subprocess (from another folder), the Ctrl-C
contract and the CLI. The bad-input contract (one line, exit code 2) is tests/test_bad_input.py."""
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

import linear_q
import test as test_script
import train
from plumbing import REPO

PART_DIR = Path(__file__).resolve().parents[1]

TINY = ["--total-steps", "4000", "--eval-every", "2000", "--eval-episodes", "20"]


def scalar_tags(run_dir):
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return set(events.Tags()["scalars"])


def single_run(log_dir):
    runs = list(Path(log_dir).iterdir())
    assert len(runs) == 1
    return runs[0]


def eval_steps(run_dir):
    return [int(row.split(",")[0]) for row in (Path(run_dir) / "evaluations.csv").read_text().splitlines()[1:]]


# ---------- a completed run always leaves a model, named like its run ----------

@pytest.mark.parametrize("script,algo,json_key", [
    ("train.py", "FrozenLake-v1__q_table", "success_rate"),
    ("linear_q.py", "MountainCar-v0__linear_q", "mean"),
])
def test_a_run_shorter_than_eval_every_leaves_a_model_that_test_py_loads(run_script, tmp_path, script, algo, json_key):
    # 3000 steps, fewer than the default --eval-every: only the closing evaluation of the final policy runs
    done = run_script(script, "--total-steps", "3000", "--eval-episodes", "20", "--log-dir", "logs", "--save-dir", "out")
    assert done.returncode == 0, done.stderr
    run_dir = single_run(tmp_path / "logs")
    assert run_dir.name.startswith(f"{algo}__1__")
    model = f"out/{run_dir.name}.pth"        # the run's own file: a rerun never replaces it, nor a shipped model
    closing = done.stdout.strip().splitlines()[-1]
    assert f"model saved to {model}" in closing and "at step 3,000" in closing
    checkpoint = torch.load(tmp_path / model, map_location="cpu", weights_only=True)
    assert checkpoint["step"] == 3000 and checkpoint["part"] == "part1_tabular_q"
    assert eval_steps(run_dir) == [3000]
    assert {"charts/episodic_return", "charts/epsilon", "eval/mean_return", "eval/success_rate"} <= scalar_tags(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["model"] == model and summary["steps"] == 3000 and summary["steps_per_second"] > 0
    # output is a pipe, not a terminal: plain progress lines instead of tqdm's bar
    assert sum(bool(re.match(r"[\d,]+/3,000 steps", line)) for line in done.stdout.splitlines()) >= 2

    played = run_script("test.py", model, "--episodes", "3", "--json")
    assert played.returncode == 0, played.stderr
    result = json.loads(played.stdout.strip().splitlines()[-1])
    assert result["episodes"] == 3 and json_key in result and result["trained_steps"] == 3000


def test_pendulum_preset_is_what_the_run_used(tmp_path, capsys):
    """The preset's values reach the checkpoint's config; a flag given on the command line still wins."""
    summary = train.main(["--env-id", "Pendulum-v1", *TINY, "--log-dir", str(tmp_path / "logs"),
                          "--save-dir", str(tmp_path / "models")])
    checkpoint = torch.load(summary["model"], weights_only=True)
    config = checkpoint["config"]
    preset = train.PRESETS["Pendulum-v1"]
    for name in ("alpha", "gamma", "epsilon_min", "epsilon_decay"):
        assert config[name] == preset[name], name
    assert config["total_steps"] == 4000 and config["eval_every"] == 2000 and config["eval_episodes"] == 20  # flags win
    assert checkpoint["table"].shape == (1000, 11)
    assert eval_steps(single_run(tmp_path / "logs")) == [2000, 4000]  # the last scheduled evaluation is the final one


def test_fourier_features_round_trip(tmp_path, capsys):
    summary = linear_q.main(["--features", "fourier", "--n-features", "64", *TINY, "--log-dir", str(tmp_path / "logs"),
                             "--save-dir", str(tmp_path / "models")])
    path = summary["model"]
    assert torch.load(path, weights_only=True)["weights"].shape == (64, 3)
    capsys.readouterr()
    test_script.main([path, "--episodes", "2", "--json", "--plot", str(tmp_path / "plot.png")])
    out = capsys.readouterr().out
    assert "no plot for MountainCar-v0" in out and json.loads(out.strip().splitlines()[-1])["episodes"] == 2


def test_table_plot(tmp_path, capsys):
    model = REPO / "models" / "part1_tabular_q" / "FrozenLake-v1__q_table.pth"
    test_script.main([str(model), "--episodes", "2", "--plot", str(tmp_path / "plot.png")])
    assert (tmp_path / "plot.png").stat().st_size > 1000


# ---------- default folders, presets in --help ----------

def test_default_folders_are_the_repos_wherever_the_script_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for get_config in (train.get_config, linear_q.get_config):
        config = get_config([])
        assert Path(config.save_dir) == REPO / "models" / "part1_tabular_q"
        assert Path(config.log_dir) == REPO / "tabular_logs"
        explicit = get_config(["--save-dir", "mine", "--log-dir", "my_logs"])  # explicit flags: as given
        assert (explicit.save_dir, explicit.log_dir) == ("mine", "my_logs")


def help_text(main, argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines; compare with single spaces


def test_help_shows_the_presets_defaults(capsys):
    shown = help_text(train.main, ["--help"], capsys)
    for flag in ["--env-id", "--seed", "--total-steps", "--eval-every", "--eval-episodes", "--log-dir",
                 "--save-dir", "--alpha", "--nvec-s", "--no-slippery"]:
        assert flag in shown
    assert "discount factor (default: 0.99)" in shown and "(default: 200000)" in shown
    shown = help_text(train.main, ["--env-id", "Pendulum-v1", "--help"], capsys)
    assert "(default: 3000000)" in shown and "(default: 0.98)" in shown  # the preset's, not FrozenLake's
    shown = help_text(linear_q.main, ["--help"], capsys)
    assert "(default: MountainCar-v0)" in shown and "(default: 150000)" in shown


# ---------- Ctrl-C ----------

def wait_for(condition, seconds=90):
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline:
        time.sleep(0.1)
    assert condition()


def interrupt(process, stop=signal.SIGINT):
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


def start(tmp_path, *args):
    return subprocess.Popen([sys.executable, *map(str, args)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_ctrl_c_or_sigterm_keeps_the_best_model_and_says_where(tmp_path, stop):
    """`kill` (SIGTERM) stops a run as Ctrl-C does: the same message, exit 130, the best model whole."""
    process = start(tmp_path, PART_DIR / "train.py", "--total-steps", "100000000", "--eval-every", "5000",
                    "--eval-episodes", "10", "--log-dir", "logs", "--save-dir", "models")
    models = lambda: list((tmp_path / "models").glob("*.pth"))
    wait_for(models)
    time.sleep(0.5)
    code, stderr = interrupt(process, stop)
    assert code == 130 and "Traceback" not in stderr
    (model,) = models()
    assert f"this run's best model" in stderr and f"is intact at models/{model.name}" in stderr, stderr
    assert model.name.startswith("FrozenLake-v1__q_table__1__")
    checkpoint = torch.load(model, weights_only=True)  # a whole file, never a half-written one
    assert checkpoint["table"].shape == (16, 4)


def test_ctrl_c_before_the_first_evaluation_says_no_model(tmp_path):
    process = start(tmp_path, PART_DIR / "train.py", "--total-steps", "100000000", "--eval-every", "100000000",
                    "--log-dir", "logs", "--save-dir", "models")
    wait_for(lambda: (tmp_path / "logs").exists() and any((tmp_path / "logs").glob("*/evaluations.csv")))
    time.sleep(0.5)  # inside the training loop now
    code, stderr = interrupt(process)
    assert code == 130 and "Traceback" not in stderr
    assert "before the first evaluation: no model saved" in stderr
    assert not list((tmp_path / "models").glob("*.pth"))


def test_test_py_gif_is_quiet_and_ctrl_c_is_clean(tmp_path):
    """--gif on a headless machine: no SDL chatter on stderr; Ctrl-C while playing: exit 130, no traceback."""
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "SDL_VIDEODRIVER", "DISPLAY")}
    model = REPO / "models" / "part1_tabular_q" / "FrozenLake-v1__q_table.pth"
    process = subprocess.Popen([sys.executable, str(PART_DIR / "test.py"), str(model), "--episodes", "100000000",
                                "--gif", "run.gif"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    # SDL is loaded at the first rendered frame, i.e. once test.py is playing episodes
    wait_for(lambda: "SDL" in Path(f"/proc/{process.pid}/maps").read_text())
    time.sleep(0.5)
    code, stderr = interrupt(process)
    assert code == 130 and "Traceback" not in stderr and "XDG_RUNTIME_DIR" not in stderr, stderr
    assert stderr.strip().splitlines() == ["interrupted"]


def test_gif_records_a_bounded_number_of_episodes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    frames = {}
    monkeypatch.setattr(test_script, "save_gif", lambda images, path, fps: frames.update({path.name: len(images)}))
    model = str(REPO / "models" / "part1_tabular_q" / "Pendulum-v1__q_table.pth")
    test_script.main([model, "--episodes", "2", "--gif", str(tmp_path / "run.gif")])
    assert frames == {"run.gif": 201}  # the first episode (reset + 200 steps) by default, not both episodes


def test_an_interrupt_inside_the_writer_does_not_hang_train_py(tmp_path, monkeypatch):
    """A Ctrl-C (or SIGTERM) raised inside the SummaryWriter can leave its close() waiting forever (seen under
    load: the process hung); train.py's interrupt path must give up on it (Run.interrupted) and exit 130.
    Red, as a hang caught by the join's timeout, if the interrupt path calls writer.close() itself."""
    import functools
    import threading

    import plumbing

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
