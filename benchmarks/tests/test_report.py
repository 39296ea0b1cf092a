"""The benchmark's verdicts, tables and plots: a claim marked ✅ must really hold, every seed is shown."""
import json

import numpy as np
import pytest

import run
from run import curve_label, curves_on_grid, job_rows, passes, side_by_side_note, side_by_side_rows
from suites import SUITES, CommandJob, Job, SideBySideJob


def result(**kw):
    base = dict(label="X", seed=101, steps=50_000, steps_to_threshold=15_000, seconds_to_threshold=7.0,
                steps_per_second=2000.0, final=dict(mean=500.0, std=0.0, episodes=20, success_rate=0.0),
                curve=[[2500, 100.0, 1.0], [50_000, 500.0, 20.0]], commit="abc1234def", dirty=False,
                part_dirty=False, machine=dict(cpu="cpu", cores=2, torch="t", python="p"))
    return base | kw


def job(**kw):
    return Job("j", "part2_dqn", "train.py", [], [101], "X", threshold=475, final_episodes=20, **kw)


def test_every_claim_is_checked():
    assert passes(job(), result()) is None  # no claim, no mark
    assert passes(job(max_steps=20_000, last_target=500), result()) is True
    assert passes(job(max_steps=10_000), result()) is False
    assert passes(job(max_steps=20_000), result(steps_to_threshold=None)) is False   # never reached
    assert passes(job(last_target=500), result(curve=[[50_000, 499.0, 9.0]])) is False
    assert passes(job(target=-170), result(final=dict(mean=-171.0, std=1, episodes=100))) is False
    speed = job(speed_target=0.7)
    assert passes(speed, result(raw_steps_per_second=2800.0)) is True
    assert passes(speed, result(raw_steps_per_second=3000.0)) is False
    collect = job(speed_target=0.5, speed_key="collect_steps_per_second")
    assert passes(collect, result(compared_steps_per_second=900.0, raw_steps_per_second=2000.0)) is False


def test_rows_show_the_verdict_for_every_seed():
    rows = job_rows(job(target=400), [result(), result(seed=102, final=dict(mean=300.0, std=1.0, episodes=20))])
    assert len(rows) == 2
    assert rows[0].endswith("✅ |") and "15,000" in rows[0] and "500.0" in rows[0]
    assert rows[1].endswith("❌ |") and "| 102 |" in rows[1]  # a failing seed is shown, not dropped


def sbs_result(seed, ours_speed, peer_speed, ours_curve, peer_curve):
    return dict(seed=seed, ours=dict(steps=50_000, steps_per_second=ours_speed, curve=ours_curve,
                                     final=dict(mean=500.0, std=0.0, episodes=20)),
                peer=dict(steps=50_000, steps_per_second=peer_speed, curve=peer_curve))


def test_side_by_side_claims_hold_on_every_seed_or_fail():
    sbs = SideBySideJob("s", "part2_dqn", "dqn_cartpole", [1, 2], "X", threshold=475, peer_speed_target=2.0)
    results = [sbs_result(1, 3300.0, 1500.0, [[5000, 300.0, 1.0], [7500, 480.0, 2.0]], [[40000, 490.0, 25.0]]),
               sbs_result(2, 3000.0, 1500.0, [[10000, 500.0, 2.5]], [[50000, 400.0, 30.0]])]  # SB3 never: slower
    text = side_by_side_note(sbs, results)[-1]
    assert "seed 1: 3,300 vs 1,500 steps/s (2.20x), 2.0 s vs 25.0 s to 475" in text
    assert "steps per second ✅" in text and "time to 475 ✅" in text
    results[1]["peer"]["steps_per_second"] = 1501.0                                    # 1.999x on seed 2
    assert "steps per second ❌" in side_by_side_note(sbs, results)[-1]
    results[0]["ours"]["curve"] = [[7500, 474.9, 2.0]]                                 # ours never reached
    assert "time to 475 ❌" in side_by_side_note(sbs, results)[-1]
    no_claim = SideBySideJob("s", "part4_actor_critic", "a2c_cartpole", [1], "X", threshold=500)
    assert "Claims" not in side_by_side_note(no_claim, results)[-1]


def test_side_by_side_rows_show_both_sides_of_each_seed():
    sbs = SideBySideJob("s", "part2_dqn", "dqn_cartpole", [1], "CartPole-v1", threshold=475)
    rows = side_by_side_rows(sbs, [sbs_result(1, 3300.0, 1500.0, [[7500, 480.0, 2.0]], [[40000, 490.0, 25.0]])])
    assert len(rows) == 2
    assert rows[0].startswith("| CartPole-v1, side by side: ours | 1 | 50,000 | 7,500 | 2.0 | 3,300 | 480.0 | 500.0")
    assert rows[1].startswith("| CartPole-v1, side by side: SB3 | 1 | 50,000 | 40,000 | 25.0 | 1,500 | 490.0 | — |")


def test_suites_are_well_formed():
    import side_by_side

    for name, jobs in SUITES.items():
        names = [j.name for j in jobs]
        assert len(names) == len(set(names)), name
        for j in jobs:
            assert isinstance(j, (Job, CommandJob, SideBySideJob))
            assert (run.REPO / j.part).is_dir() or j.part in ("part4_actor_critic", "part5_sac")
            if isinstance(j, SideBySideJob):
                assert side_by_side.PAIRS[j.pair].part == j.part
                assert side_by_side.PAIRS[j.pair].threshold == j.threshold, j.name
            if isinstance(j, Job):
                assert j.torch_threads in (1, None)
                assert "--torch-threads" not in j.args  # run.py adds it from torch_threads


def test_the_full_suite_runs_both_sac_pendulum_pairs_and_claims_2x_on_the_preset_only():
    """Part 5's claim is our preset against SB3's zoo settings; the 256-256 pair is reported beside it, no claim."""
    import side_by_side

    jobs = {j.pair: j for j in SUITES["full"] if isinstance(j, SideBySideJob) and j.part == "part5_sac"}
    assert set(jobs) == {"sac_pendulum", "sac_pendulum_256"}
    assert jobs["sac_pendulum"].peer_speed_target == 2.0 and jobs["sac_pendulum_256"].peer_speed_target is None
    assert "hidden" not in side_by_side.PAIRS["sac_pendulum"].matched  # our preset's own networks
    assert side_by_side.PAIRS["sac_pendulum_256"].matched["hidden"] == [256, 256]
    settings, n_envs = side_by_side.PAIRS["sac_pendulum"].sb3_settings(None, {("sac", "Pendulum-v1"): dict(
        n=20_000, kw=dict(learning_rate=1e-3))})
    assert settings == dict(learning_rate=1e-3) and n_envs == 1  # SB3's own defaults, its 256-256 included


def test_the_full_suite_claims_on_seeds_tuning_never_used():
    for j in SUITES["full"]:
        if not isinstance(j, CommandJob):
            assert j.seeds and set(j.seeds) <= {101, 102, 103}, j.name
            assert not set(j.seeds) & set(range(1, 7)), j.name


def test_curves_of_seeds_evaluated_at_different_steps_share_one_grid():
    steps, values = curves_on_grid([[(10, 0.0), (30, 20.0)], [(20, 10.0, 1.0), (40, 30.0, 2.0)]])
    assert steps.tolist() == [10, 20, 30, 40]
    np.testing.assert_array_equal(values, [[0, 10, 20, np.nan], [np.nan, 10, 20, 30]])


@pytest.fixture
def figures(monkeypatch):
    """The figures run.py draws, kept open for inspection."""
    drawn, close = [], run.plt.close
    monkeypatch.setattr(run.plt, "close", drawn.append)
    yield drawn
    for fig in drawn:
        close(fig)


def test_a_single_seed_plot_names_its_seed_and_draws_no_band(tmp_path, figures):
    run.plot_job(job(), [result(seed=101)], tmp_path / "one.png")
    ax = figures[-1].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "seed 101" and not any("mean" in label or "min-max" in label for label in labels)
    assert not ax.collections  # no fill_between band
    run.plot_job(job(), [result(seed=101), result(seed=102)], tmp_path / "two.png")
    ax = figures[-1].axes[0]
    assert ax.collections and "mean of 2 seeds" in ax.get_legend().get_texts()[0].get_text()
    assert curve_label([result(seed=7)]) == "seed 7"


def test_plot_minutes_adds_a_panel_against_training_minutes(tmp_path, figures):
    run.plot_job(job(plot_minutes=True), [result(seed=101)], tmp_path / "m.png")
    steps_ax, minutes_ax = figures[-1].axes
    assert steps_ax.get_xlabel() == "environment steps" and minutes_ax.get_xlabel().startswith("training minutes")
    x, y = minutes_ax.get_lines()[0].get_data()
    assert list(x) == [1.0 / 60, 20.0 / 60] and list(y) == [100.0, 500.0]   # curve rows [step, mean, seconds]
    run.plot_job(job(), [result(seed=101)], tmp_path / "s.png")
    assert len(figures[-1].axes) == 1
    (pong,) = [j for j in SUITES["full"] if j.name == "pong"]
    assert pong.plot_minutes


def test_frozenlake_is_plotted_as_a_success_rate(tmp_path, figures):
    (frozenlake,) = [j for j in SUITES["full"] if j.name == "frozenlake"]
    run.plot_job(frozenlake, [result()], tmp_path / "f.png")
    assert figures[-1].axes[0].get_ylabel() == "greedy success rate"
    run.plot_job(job(), [result()], tmp_path / "c.png")
    assert "return" in figures[-1].axes[0].get_ylabel()


def test_report_writes_every_listed_seed_between_the_markers(tmp_path, monkeypatch):
    """Through report(): the table lands between the markers, names its commit, shows every seed of the
    suite's list and none of the seeds it no longer lists."""
    (part := tmp_path / "part2_dqn").mkdir()
    (part / "README.md").write_text("intro\n<!-- results:quick -->\nOLD TABLE\n<!-- /results:quick -->\nend\n")
    (results := tmp_path / "results" / "quick").mkdir(parents=True)
    cartpole = job(target=400)
    cartpole.name, cartpole.seeds = "cartpole", [101, 102]
    for seed in (101, 102, 3):  # seed 3: a leftover of an earlier seed list
        (results / f"cartpole__seed{seed}.json").write_text(json.dumps(dict(
            result(seed=seed, part_dirty=seed == 102), load_average=[seed / 100, 9.0])))
    monkeypatch.setattr(run, "REPO", tmp_path)
    monkeypatch.setattr(run, "RESULTS", tmp_path / "results")
    monkeypatch.setitem(run.SUITES, "quick", [cartpole])
    run.report("quick", ["part2_dqn"])
    text = (part / "README.md").read_text()
    assert text.startswith("intro\n<!-- results:quick -->\n") and text.endswith("<!-- /results:quick -->\nend\n")
    assert "OLD TABLE" not in text and "| X | 101 |" in text and "| X | 102 |" in text and "| X | 3 |" not in text
    assert "load average at the jobs' starts and ends 1.0-9.0;" in text  # not 0.0: seed 3 is not in the table
    assert "commit `abc1234def` with uncommitted changes in this part" in text
    assert "commit `abc1234def`;" in text or text.count("commit `abc1234def`") == 2


@pytest.mark.parametrize("argv", [["full", "--job", "cartpole_sb3"], ["quick", "--part", "part9_nothing"]])
def test_an_unknown_job_or_part_is_one_error_line_not_an_empty_run(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        run.main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1


def config_fields(part):
    """The field names of every dataclass in a part's modules, read from the source (no import, no torch)."""
    import ast

    fields = set()
    for path in (run.REPO / part).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any("dataclass" in ast.unparse(d) for d in node.decorator_list):
                fields |= {item.target.id for item in node.body if isinstance(item, ast.AnnAssign)}
    return fields


def test_every_flag_a_job_passes_is_a_field_of_its_part():
    import side_by_side

    def flags(args):
        return {a[2:].split("=")[0].replace("-", "_").removeprefix("no_") for a in args if a.startswith("--")}

    for jobs in SUITES.values():
        for j in jobs:
            if not (run.REPO / j.part).is_dir():
                continue
            if isinstance(j, Job):
                threads = [] if j.torch_threads is None else ["--torch-threads"]
                asked = flags([*j.args, *threads, "--seed", "--log-dir", "--save-dir"])
            elif isinstance(j, SideBySideJob):
                pair = side_by_side.PAIRS[j.pair]
                asked = flags([*pair.our_args, *side_by_side.matched_args(pair), "--seed", "--torch-threads",
                               "--total-steps"]) | set(pair.matched)
            else:
                continue
            assert asked <= config_fields(j.part), (j.name, asked - config_fields(j.part))


def test_seed_runs_only_that_seed_of_each_job_and_leaves_the_comparison_scripts_out(monkeypatch):
    """`--seed 102` (two runners, one seed each, use both cores): every selected job runs seed 102 alone, no
    CommandJob runs, and shipping and the report still see the suite's jobs with all their seeds."""
    ran, shipped = [], []
    monkeypatch.setattr(run, "run_sequentially", lambda suite, jobs, missing_only: ran.extend(jobs))
    monkeypatch.setattr(run, "load_results", lambda *a, **k: ["a result"])  # every job has one: ship it
    monkeypatch.setattr(run, "ship", lambda suite, job: shipped.append(job))
    full = [j for j in SUITES["full"] if j.part == "part2_dqn"]
    seeds_before = [list(j.seeds) for j in full]
    run.main(["full", "--part", "part2_dqn", "--seed", "102", "--no-report"])
    assert any(isinstance(j, CommandJob) for j in full) and not any(isinstance(j, CommandJob) for j in ran)
    runs = [j for j in full if not isinstance(j, CommandJob)]
    assert [j.name for j in ran] == [j.name for j in runs]
    assert [list(j.seeds) for j in ran] == [[102] if 102 in j.seeds else [] for j in runs]
    assert [list(j.seeds) for j in full] == seeds_before      # the suite itself is not changed
    assert [j.name for j in shipped] == [j.name for j in full if isinstance(j, Job) and j.ship]


def test_a_seed_no_selected_job_runs_is_one_error_line(capsys):
    with pytest.raises(SystemExit) as stop:
        run.main(["full", "--job", "lunarlander_continuous_sac", "--seed", "7"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("error: --seed 7") and err.count("\n") == 1
