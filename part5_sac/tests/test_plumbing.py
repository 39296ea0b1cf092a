"""plumbing.py: one file every part carries byte for byte, and what it promises every training script.

This test file is itself the same in every part.
"""
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import plumbing
from plumbing import AT_LEAST_ONE, FRACTION, POSITIVE, Run, UserError, arg, one_of, parse_config

PART_DIR = Path(plumbing.__file__).resolve().parent
SHARED = ["plumbing.py", "tests/conftest.py", "tests/test_plumbing.py", "tests/test_excerpts.py"]


@pytest.mark.parametrize("name", SHARED)
def test_every_part_carries_the_same_copy(name):
    parts = sorted(PART_DIR.parent.glob("part[0-9]_*"))
    assert len(parts) == 5
    mine = (PART_DIR / name).read_bytes()
    differ = [part.name for part in parts if (part / name).read_bytes() != mine]
    assert not differ, f"{name} differs in {differ}: make the fix once and copy it (cp {PART_DIR.name}/{name} ...)"


@dataclass
class Toy:
    env_id: str = arg("CartPole-v1", "env")
    algo: str = arg("a", "a or b", one_of("a", "b"))
    seed: int = arg(1, "seed")
    total_steps: int = arg(100, "steps", AT_LEAST_ONE)
    learning_rate: float = arg(1e-3, "rate", POSITIVE)
    gamma: float = arg(0.99, "discount", FRACTION)
    hidden: list = arg([4, 4], "sizes", AT_LEAST_ONE)
    log_dir: str = arg("logs", "logs")
    save_dir: str = arg("models", "models")
    resume: str = arg("", "resume")


@pytest.mark.parametrize("argv, says", [
    (["--learning-rate", "-0.001"], "--learning-rate must be > 0, got -0.001"),
    (["--learning-rate", "0"], "--learning-rate must be > 0, got 0.0"),
    (["--total-steps", "0"], "--total-steps must be at least 1, got 0"),
    (["--gamma", "1.5"], "--gamma must be in [0, 1], got 1.5"),
    (["--hidden", "4", "0"], "--hidden must be at least 1, got [4, 0]"),
    (["--algo", "c"], "--algo must be a or b, got 'c'"),
])
def test_a_bad_value_is_one_error_naming_its_flag(argv, says):
    with pytest.raises(UserError) as error:
        parse_config(Toy, argv)
    assert str(error.value) == says


def test_a_preset_sets_defaults_and_a_flag_still_wins():
    presets = lambda env_id, algo: {"learning_rate": 0.5} if (env_id, algo) == ("X-v0", "b") else {}
    assert parse_config(Toy, ["--env-id", "X-v0", "--algo", "b"], presets=presets).learning_rate == 0.5
    assert parse_config(Toy, ["--env-id", "X-v0", "--algo", "a"], presets=presets).learning_rate == 1e-3
    assert parse_config(Toy, ["--env-id", "X-v0", "--algo", "b", "--learning-rate", "0.1"],
                        presets=presets).learning_rate == 0.1


def test_an_atari_id_is_refused_by_a_part_without_pixels_in_one_line():
    with pytest.raises(UserError, match="image observations"):
        plumbing.env_spec("ALE/Pong-v5")
    with pytest.raises(UserError, match="unknown environment"):
        plumbing.env_spec("NoSuchEnv-v0")


def toy_run(tmp_path, **changes):
    config = dataclasses.replace(Toy(), log_dir=str(tmp_path / "logs"), save_dir=str(tmp_path / "models"), **changes)
    return Run(config, "toy")


def evaluate(run, step, mean):
    run.evaluated(step, 1.0, mean, 0.0, checkpoint=lambda: {"algo": "toy", "weights": torch.full((2,), float(step))})


def test_a_second_run_never_replaces_the_first_runs_model(tmp_path):
    first = toy_run(tmp_path)
    evaluate(first, 10, 100.0)
    second = toy_run(tmp_path)          # same env, algo and seed, started in the same second
    evaluate(second, 10, -50.0)         # worse: it must not touch the first run's file
    assert first.model != second.model and first.dir != second.dir
    assert torch.load(first.model, weights_only=True)["eval_return"] == 100.0
    assert torch.load(second.model, weights_only=True)["eval_return"] == -50.0
    assert first.model.name == first.dir.name + ".pth"   # the model is named like its TensorBoard run
    for run in (first, second):
        run.writer.close()
        run.bar.close()


def test_a_run_keeps_its_best_model_not_its_last(tmp_path):
    run = toy_run(tmp_path)
    evaluate(run, 10, 5.0)
    evaluate(run, 20, 9.0)
    evaluate(run, 30, 1.0)
    saved = torch.load(run.model, weights_only=True)
    assert (saved["step"], saved["eval_return"], saved["part"]) == (20, 9.0, plumbing.PART)
    assert saved["weights"].tolist() == [20.0, 20.0]
    summary = run.finish(steps=30, train_seconds=2.0)
    assert summary["model"] == str(run.model) and summary["best_eval"] == 9.0
    assert json.loads((run.dir / "summary.json").read_text())["best_step"] == 20
    rows = (run.dir / "evaluations.csv").read_text().splitlines()
    assert rows[0] == "step,train_seconds,mean,std" and len(rows) == 4


def test_the_closing_line_names_the_model_file(tmp_path, capsys):
    run = toy_run(tmp_path)
    evaluate(run, 10, 3.0)
    run.finish(steps=10, train_seconds=1.0)
    out = capsys.readouterr().out
    assert f"model saved to {run.model}" in out
    assert f"test.py {run.model} --episodes 100" in out and "; test it on fresh episodes: python " in out


def test_interrupted_says_what_this_run_saved_and_exits_130(tmp_path, capsys):
    run = toy_run(tmp_path)
    with pytest.raises(SystemExit) as stop:
        run.interrupted(5)
    assert stop.value.code == 130
    assert "before the first evaluation: no model saved" in capsys.readouterr().err
    run = toy_run(tmp_path)
    evaluate(run, 10, 3.0)
    with pytest.raises(SystemExit):
        run.interrupted(12)
    err = capsys.readouterr().err
    assert f"is intact at {run.model}" in err and "(3.00 at step 10)" in err


def test_a_resumed_run_continues_in_its_own_folder_and_model(tmp_path):
    run = toy_run(tmp_path)
    evaluate(run, 10, 7.0)
    run.save_state(10, {"agent": {"steps": 10}})
    evaluate(run, 20, 8.0)              # after the state: lost with the interruption
    run.writer.close()
    run.bar.close()
    config, state = plumbing.load_training_state(run.dir, Toy)
    assert config.resume == str(run.dir) and state["agent"] == {"steps": 10}
    resumed = Run(config, "toy", resume=state)
    assert resumed.dir == run.dir and resumed.model == run.model
    assert torch.load(run.model, weights_only=True)["eval_return"] == 7.0   # the best of the saved past
    assert (run.dir / "evaluations.csv").read_text().splitlines()[1:] == ["10,1.000,7.0000,0.0000"]
    summary = resumed.finish(steps=30, train_seconds=3.0)
    assert summary["resumed_at"] == [10] and not (run.dir / plumbing.STATE_FILE).exists()


def test_nothing_to_resume_is_one_error(tmp_path):
    with pytest.raises(UserError, match="nothing to resume"):
        plumbing.load_training_state(tmp_path, Toy)


def test_a_gif_path_must_be_a_gif_file(tmp_path):
    with pytest.raises(UserError, match="--gif takes a file name ending in .gif"):
        plumbing.gif_path(tmp_path)
    assert plumbing.gif_path(tmp_path / "a.gif") == tmp_path / "a.gif"


def test_a_nan_evaluation_never_blocks_a_better_model(tmp_path):
    run = toy_run(tmp_path)
    evaluate(run, 10, float("nan"))     # a diverged first evaluation is saved (a run always leaves a model) ...
    evaluate(run, 20, -5.0)             # ... and the first real score replaces it
    assert torch.load(run.model, weights_only=True)["step"] == 20


def test_an_interrupted_save_leaves_no_temporary_file(tmp_path, monkeypatch):
    def interrupted(obj, path):
        Path(path).write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(plumbing.torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        plumbing.save_checkpoint(tmp_path / "m.pth", {})
    assert list(tmp_path.iterdir()) == []


def test_help_shows_the_env_id_given_with_its_preset(capsys):
    presets = lambda env_id, algo: {"learning_rate": 0.5} if env_id == "X-v0" else {}
    with pytest.raises(SystemExit):
        parse_config(Toy, ["--env-id", "X-v0", "--help"], presets=presets)
    shown = " ".join(capsys.readouterr().out.split())
    assert "(default: X-v0)" in shown and "(default: 0.5)" in shown


def test_two_runs_in_the_same_second_with_different_log_folders_get_different_models(tmp_path):
    first = toy_run(tmp_path)
    second = Run(dataclasses.replace(first.config, log_dir=str(tmp_path / "other_logs")), "toy")
    assert first.model != second.model
    for run in (first, second):
        run.finish(steps=1, train_seconds=1.0)
    assert not list((tmp_path / "models").glob(".*.reserved"))   # the reservations are given back


@pytest.mark.parametrize("argv, says", [
    (["--seed", "-1"], "error: --seed must be in [0, 4294967295], got -1"),
    (["--total-steps", "abc"], "error: argument --total-steps: invalid int value: 'abc'"),
])
def test_a_seed_out_of_range_or_an_unreadable_value_is_one_line(argv, says, capsys):
    with pytest.raises((UserError, SystemExit)) as error:
        parse_config(Toy, argv)
    if error.type is UserError:
        assert f"error: {error.value}" == says
    else:
        assert error.value.code == 2 and capsys.readouterr().err.strip() == says


@pytest.mark.parametrize("value, text", [(0.72, "0.72"), (-0.05, "-0.05"), (9.996, "10.0"), (9.994, "9.99"), (10.0, "10.0"),
                                         (-147.13, "-147.1"), (float("nan"), "-"), (float("-inf"), "-")])
def test_a_progress_number_keeps_two_decimals_below_ten_one_above(value, text):
    assert plumbing.shown(value) == text
