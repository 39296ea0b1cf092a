"""train.py, test.py and compare.py as a user meets them: a run always leaves a model test.py loads, named like
its run, and the closing and Ctrl-C lines say where it is. The scripts run in a subprocess where the process
itself is under test (exit codes, piped output, signals), in-process otherwise. Bad input is test_bad_input.py."""
import importlib.util
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

import compare
import train

PART_DIR = Path(__file__).resolve().parents[1]
TINY = ["--total-steps", "1500", "--eval-every", "700", "--eval-episodes", "2", "--episodes-per-batch", "4"]
SHORT = ["--total-steps", "300", "--eval-episodes", "2", "--episodes-per-batch", "2"]  # below --eval-every


def load_test_script():
    """part3_reinforce/test.py as a module (`import test` would find Python's own test package)."""
    spec = importlib.util.spec_from_file_location("part3_test_script", PART_DIR / "test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_short_run_leaves_a_model_that_test_py_loads(run_script, tmp_path):
    # --total-steps 300 is far below --eval-every: the final policy's evaluation is what saves the model
    done = run_script("train.py", *SHORT, "--log-dir", "logs", "--save-dir", "models")
    assert done.returncode == 0, done.stderr
    (run_dir,) = list((tmp_path / "logs").iterdir())
    assert run_dir.name.startswith("CartPole-v1__reinforce_value__1__")
    model = tmp_path / "models" / f"{run_dir.name}.pth"              # named like its run: no rerun replaces it
    last = done.stdout.strip().splitlines()[-1]
    assert f"model saved to models/{model.name}" in last, last       # the closing line names the file it wrote
    assert "steps/s" in done.stdout.splitlines()[0]                  # piped: a plain progress line, not silence
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] >= 300 and summary["model"] == f"models/{model.name}"
    evaluations = (run_dir / "evaluations.csv").read_text().splitlines()
    assert evaluations[0] == "step,train_seconds,mean,std" and evaluations[-1].startswith(f"{summary['steps']},")
    checkpoint = torch.load(model, map_location="cpu", weights_only=True)
    assert checkpoint["part"] == "part3_reinforce" and checkpoint["algo"] == "reinforce"
    assert checkpoint["step"] == summary["steps"]

    # one greedy episode scored, one recorded (the default), SDL quiet on a headless machine
    played = run_script("test.py", model, "--episodes", "1", "--json", "--gif", "run.gif")
    assert played.returncode == 0 and "XDG_RUNTIME_DIR" not in played.stderr, played.stderr
    result = json.loads(played.stdout.strip().splitlines()[-1])
    assert result["env_id"] == "CartPole-v1" and result["preset"] == "value" and result["gif_episodes"] == 1
    assert result["gif_frames"] == result["mean"] + 1    # CartPole: return = steps; frames: the reset and each step
    assert (tmp_path / "run.gif").read_bytes()[:3] == b"GIF"


@pytest.mark.parametrize("env_id,preset", [("CartPole-v1", "cpg"), ("Pendulum-v1", "value")])
def test_runs_log_what_the_chapter_lists_and_test_py_plays_them(tmp_path, capsys, env_id, preset):
    summary = train.main(["--env-id", env_id, "--preset", preset, *TINY, "--max-episode-steps", "100",
                          "--log-dir", str(tmp_path / "logs"), "--save-dir", str(tmp_path / "models")])
    run_dir = Path(summary["run_dir"])
    model = tmp_path / "models" / f"{run_dir.name}.pth"
    assert summary["model"] == str(model) and model.is_file()
    assert run_dir.name.startswith(f"{env_id}__reinforce_{preset}__1__")
    events = EventAccumulator(summary["run_dir"])
    events.Reload()
    expected = {"charts/episodic_return", "losses/policy_loss", "losses/entropy_loss", "charts/baseline",
                "eval/mean_return"} | ({"losses/value_loss"} if preset == "value" else set())
    assert expected <= set(events.Tags()["scalars"])
    capsys.readouterr()
    load_test_script().main([str(model), "--episodes", "2", "--json"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["env_id"] == env_id and result["preset"] == preset and result["episodes"] == 2


def test_the_best_model_is_kept_not_the_last(monkeypatch, tmp_path, capsys):
    import agent

    means = iter([10.0, 50.0, 20.0])  # the run's evaluations, in turn (then 0: a worse one)
    monkeypatch.setattr(agent.Agent, "evaluate", lambda self, env, episodes, **kw: (next(means, 0.0), 0.0))
    summary = train.main(["--total-steps", "600", "--eval-every", "200", "--eval-episodes", "1",
                          "--episodes-per-batch", "2", "--log-dir", str(tmp_path / "logs"),
                          "--save-dir", str(tmp_path / "models")])
    rows = [line.split(",") for line in (Path(summary["run_dir"]) / "evaluations.csv").read_text().splitlines()[1:]]
    assert len(rows) >= 3 and float(rows[1][2]) == 50.0
    checkpoint = torch.load(summary["model"], weights_only=True)
    assert (checkpoint["eval_return"], checkpoint["step"]) == (50.0, int(rows[1][0]))
    assert (summary["best_eval"], summary["best_step"]) == (50.0, int(rows[1][0]))
    assert f"best greedy evaluation 50.0 at step {int(rows[1][0]):,}" in capsys.readouterr().out


def test_compare_draws_the_figure_where_told_and_keeps_its_models(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(compare, "README_FIGURE", tmp_path / "readme_figure.png")
    compare.main(["--seeds", "1", "--total-steps", "400", "--log-dir", str(tmp_path / "logs")])
    out = capsys.readouterr().out
    assert (tmp_path / "logs" / "compare_presets.png").stat().st_size > 10_000   # by default: into the log folder
    assert not (tmp_path / "readme_figure.png").exists()                          # never the README's figure
    assert len([p for p in (tmp_path / "logs").iterdir() if "__reinforce_" in p.name]) == 4  # one run per preset
    named = [line.split("model saved to ")[1].split(";")[0] for line in out.splitlines() if "model saved to " in line]
    assert len(named) == 4 and all(Path(path).is_file() for path in named)        # every model a line names exists
    compare.main(["--seeds", "1", "--total-steps", "300", "--log-dir", str(tmp_path / "logs"), "--update-readme-figure"])
    assert (tmp_path / "readme_figure.png").stat().st_size > 10_000


def test_compare_help_describes_every_option(capsys):
    with pytest.raises(SystemExit):
        compare.main(["--help"])
    text = capsys.readouterr().out.split("options:")[1]
    options = [line.split()[0].rstrip(",") for line in text.splitlines() if line.strip().startswith("--")]
    assert {"--env-id", "--seeds", "--total-steps", "--out", "--update-readme-figure", "--log-dir"} <= set(options)
    for option, following in zip(options, options[1:] + [None]):  # words beyond the metavar and the default
        block = text.split(option, 1)[1].split(following)[0] if following else text.split(option, 1)[1]
        assert len(block.replace("(default:", "").split()) > 3, (option, block)


# ---------- Ctrl-C ----------

def interrupt_train(tmp_path, *args, wait_for_model, stop=signal.SIGINT):
    """Start train.py, press Ctrl-C once the model exists (or once training started), return (code, stderr)."""
    process = subprocess.Popen([sys.executable, str(PART_DIR / "train.py"), "--total-steps", "100000000",
                                "--eval-episodes", "1", *args, "--log-dir", "logs", "--save-dir", "models"],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ready = (lambda: list((tmp_path / "models").glob("*.pth"))) if wait_for_model else (tmp_path / "logs").exists
    deadline = time.time() + 120
    while not ready() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_ctrl_c_or_sigterm_exits_130_and_says_where_the_saved_model_is(tmp_path, stop):
    """Ctrl-C (or `kill`, SIGTERM, handled the same way) after a save: exit 130, no traceback, the file named
    and loadable. (That it is the best evaluation, not the last, test_the_best_model_is_kept_not_the_last checks.)"""
    code, stderr = interrupt_train(tmp_path, "--eval-every", "500", wait_for_model=True, stop=stop)
    assert code == 130 and "Traceback" not in stderr, stderr
    (model,) = list((tmp_path / "models").glob("*.pth"))
    assert f"is intact at models/{model.name}" in stderr and model.name.startswith("CartPole-v1__reinforce_value__1__")
    assert "state_dict" in torch.load(model, weights_only=True)


def test_ctrl_c_before_the_first_evaluation_says_there_is_no_model(tmp_path):
    code, stderr = interrupt_train(tmp_path, "--eval-every", "100000000", wait_for_model=False)
    assert code == 130 and "Traceback" not in stderr, stderr
    assert "before the first evaluation: no model saved" in stderr and not list((tmp_path / "models").glob("*.pth"))


def test_ctrl_c_in_test_py_exits_130_without_a_traceback(tmp_path):
    model = PART_DIR.parent / "models" / "part3_reinforce" / "CartPole-v1__reinforce_value.pth"
    process = subprocess.Popen([sys.executable, str(PART_DIR / "test.py"), str(model), "--episodes", "1000000"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().startswith("playing")  # it is playing now
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr


def option_help(text, option, next_option):
    """The help text of one option (from the options list, not the usage line), whitespace collapsed."""
    text = text.split("options:")[1]
    return " ".join(text.split(option + " ", 1)[1].split(next_option + " ", 1)[0].split())


def test_help_shows_the_defaults_of_the_presets_given(capsys):
    with pytest.raises(SystemExit) as exit:
        train.get_config(["--env-id", "LunarLander-v3", "--help"])
    text = capsys.readouterr().out
    assert exit.value.code == 0
    assert "(default: 2000000)" in option_help(text, "--total-steps", "--eval-every")
    assert "(default: cpg)" in option_help(text, "--preset", "--baseline")
    assert "(default: batch)" in option_help(text, "--baseline", "--entropy-coef")
    assert "(default: 0.01)" in option_help(text, "--entropy-coef", "--normalize")
    with pytest.raises(SystemExit):
        train.get_config(["--preset", "vpg", "--help"])
    text = capsys.readouterr().out
    assert "(default: none)" in option_help(text, "--baseline", "--entropy-coef")
    assert "(default: 150000)" in option_help(text, "--total-steps", "--eval-every")


@pytest.mark.parametrize("preset,baseline,entropy", [("vpg", "none", 0.0), ("bpg", "batch", 0.0), ("epg", "none", 0.01),
                                                     ("cpg", "batch", 0.01), ("value", "value", 0.0)])
def test_loss_presets_set_what_the_chapter_says_and_flags_win(preset, baseline, entropy):
    config = train.get_config(["--preset", preset])
    assert (config.baseline, config.entropy_coef) == (baseline, entropy)
    config = train.get_config(["--preset", preset, "--baseline", "value", "--entropy-coef", "0.5"])
    assert (config.baseline, config.entropy_coef) == ("value", 0.5)


def test_default_folders_are_the_repos_wherever_the_script_runs(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config = train.get_config([])
    repo = PART_DIR.parent
    assert Path(config.save_dir) == repo / "models" / "part3_reinforce"
    assert Path(config.log_dir) == repo / "reinforce_logs"
    assert config.torch_threads == 1
    assert train.get_config(["--save-dir", "here"]).save_dir == "here"  # explicit flags are used as given


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
