"""The series' closing comparison: generated from whatever full-suite results exist, nothing else."""
import json

import pytest

import run
from suites import SUITES

README = "# RL\n\n<!-- results:closing -->\nnothing yet\n<!-- /results:closing -->\n\n## Layout\n"


def full_job(name):
    (job,) = [j for j in SUITES["full"] if j.name == name]
    return job


def write(results, name, seed, curve, final, steps=50_000, **kw):
    r = dict(format=2, job=name, seed=seed, steps=steps, curve=curve, final=dict(mean=final, std=1.0, episodes=20),
             commit="0123456789abcdef", dirty=True, part_dirty=False) | kw
    (results / f"{name}__seed{seed}.json").write_text(json.dumps(r))


@pytest.fixture
def repo(tmp_path, monkeypatch):
    (tmp_path / "README.md").write_text(README)
    (tmp_path / "results" / "full").mkdir(parents=True)
    monkeypatch.setattr(run, "REPO", tmp_path)
    monkeypatch.setattr(run, "RESULTS", tmp_path / "results")
    return tmp_path


def test_the_closing_section_shows_every_part_with_results_and_only_those(repo):
    results = repo / "results" / "full"
    dqn, reinforce = full_job("cartpole"), full_job("cartpole_value")
    for seed in dqn.seeds:
        write(results, "cartpole", seed, [[2500, 480.0, 1.0], [5000, 500.0, 2.0 + seed - 101]], 500.0)
    write(results, "cartpole_value", 101, [[10000, 300.0, 0.5], [20000, 500.0, 1.5]], 500.0, steps=150_000)
    write(results, "cartpole_value", 102, [[10000, 300.0, 0.5], [20000, 499.0, 1.5]], 480.0, steps=150_000)
    write(results, "cartpole_value", 7, [[10000, 500.0, 0.5]], 500.0)  # a seed the suite does not list
    write(results, "lunarlander", 101, [[50000, 150.0, 30.0]], 120.0, steps=2_000_000)
    run.closing_report()
    text = (repo / "README.md").read_text()
    head, section = text.split("<!-- results:closing -->\n")
    section, tail = section.split("<!-- /results:closing -->")
    assert head == "# RL\n\n" and tail == "\n\n## Layout\n" and "nothing yet" not in section
    assert "**CartPole-v1** (solved at 500)" in section and "**LunarLander-v3** (solved at 200)" in section
    assert "Pendulum-v1" not in section and "LunarLanderContinuous-v3" not in section  # no results, no row
    assert (f"| Part 2 | {dqn.algo} | 101, 102, 103 | 500.0 | 5,000 | 2.0-4.0 s | 50,000 |") in section
    assert (f"| Part 3 | {reinforce.algo} | 101, 102 | 480.0-500.0 | 20,000 (1 of 2 seeds did not reach it) | "
            f"1.5 s (1 of 2 seeds did not reach it) | 150,000 |") in section
    assert "| Part 3 | REINFORCE, baseline + entropy | 101 | 120.0 | not reached (1 of 1 seeds) |" in section
    assert "commit `0123456789` (uncommitted changes elsewhere in the tree)" in section
    for env in ("CartPole-v1", "LunarLander-v3"):
        assert (repo / "benchmarks" / "plots" / f"closing_{env}.png").stat().st_size > 0
        assert f"![{env}: every part's greedy evaluations](benchmarks/plots/closing_{env}.png)" in section


def test_without_results_the_readme_is_left_alone(repo):
    run.closing_report()
    assert (repo / "README.md").read_text() == README


def test_old_curves_without_seconds_still_render(repo):
    write(repo / "results" / "full", "pendulum_mlp", 101, [[2500, -300.0], [5000, -180.0]], -170.0)
    run.closing_report()
    assert "| Part 2 | DQN (11 torques, MLP) | 101 | -170.0 | 5,000 | — (not recorded) | 50,000 |" in \
        (repo / "README.md").read_text()


def test_the_top_readme_has_the_markers_the_report_writes_between():
    text = (run.Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert text.count("<!-- results:closing -->") == 1 and text.count("<!-- /results:closing -->") == 1
    assert text.index("<!-- results:closing -->") < text.index("<!-- /results:closing -->")
