"""The benchmark's verdicts, tables and plots: a claim marked ✅ must really hold, every seed is shown."""
import json

import numpy as np
import pytest
import torch

import paths
import figures
import run
import tables
from figures import curve_label, curves_on_grid
from suites import SUITES, CommandJob, Job, PeerJob, SideBySideJob
from tables import job_rows, passes, side_by_side_note, side_by_side_rows


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
    assert passes(job(max_minutes=0.2), result(seconds_to_threshold=12.0)) is True    # minutes of training
    assert passes(job(max_minutes=0.2), result(seconds_to_threshold=12.1)) is False
    assert passes(job(max_minutes=60), result(seconds_to_threshold=None)) is False
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
            assert isinstance(j, (Job, CommandJob, SideBySideJob, PeerJob))
            assert (paths.REPO / j.part).is_dir() or j.part in ("part4_actor_critic", "part5_sac")
            if isinstance(j, SideBySideJob):
                assert side_by_side.PAIRS[j.pair].part == j.part
                assert side_by_side.PAIRS[j.pair].threshold == j.threshold, j.name
            if isinstance(j, Job):
                assert j.torch_threads in (1, None)
                assert "--torch-threads" not in j.args  # run.py adds it from torch_threads
            if isinstance(j, PeerJob):  # SB3 on our job's seeds, budget and threshold
                (ours,) = [o for o in jobs if isinstance(o, Job) and o.name == j.versus]
                assert ours.part == j.part and ours.seeds == j.seeds and ours.threshold == j.threshold, j.name


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
    """Held-out seeds 101-110 (tuning uses 1-10): ten for every learning job, five for the two whose runs take
    far longer than 15 minutes here, Pong one (the single-process run) and three (the hour on two cores, the
    three its issue asks for); the side-by-side speed ratios keep three."""
    for j in SUITES["full"]:
        if not isinstance(j, CommandJob):
            assert j.seeds and set(j.seeds) <= set(range(101, 111)), j.name
            assert not set(j.seeds) & set(range(1, 11)), j.name
    seeds = {j.name: j.seeds for j in SUITES["full"] if isinstance(j, (Job, PeerJob))}
    five = {"lunarlander_continuous_sac", "lunarlander"}
    assert all(seeds[name] == list(range(101, 106)) for name in five)
    assert seeds["pong"] == [101] and seeds["pong_hour"] == [101, 102, 103]
    assert all(s == list(range(101, 111)) for name, s in seeds.items() if name not in five | {"pong", "pong_hour"})


def test_peers_run_on_the_listed_envs_and_budgets():
    peers = {(j.algo, j.env_id): j.total_steps for j in SUITES["full"] if isinstance(j, PeerJob)}
    assert peers == {("dqn", "CartPole-v1"): 50_000, ("a2c", "CartPole-v1"): 100_000,
                     ("a2c", "LunarLander-v3"): 1_000_000, ("ppo", "LunarLander-v3"): 500_000,
                     ("sac", "Pendulum-v1"): 10_000}


def test_no_job_passes_fast_flags_to_parts_4_and_5():
    """Parts 4 and 5 have one agent, the textbook one: no --fast or --no-fast reaches them (Part 2 keeps --fast)."""
    import side_by_side

    for jobs in SUITES.values():
        for j in jobs:
            args = getattr(j, "args", None) or getattr(j, "argv", None) or []
            if isinstance(j, SideBySideJob):
                pair = side_by_side.PAIRS[j.pair]
                args = [*pair.our_args, *side_by_side.matched_args(pair)]
                assert "fast" not in pair.matched, j.name
            if j.part in ("part4_actor_critic", "part5_sac"):
                assert not any("fast" in a for a in args), j.name


def test_curves_of_seeds_evaluated_at_different_steps_share_one_grid():
    steps, values = curves_on_grid([[(10, 0.0), (30, 20.0)], [(20, 10.0, 1.0), (40, 30.0, 2.0)]])
    assert steps.tolist() == [10, 20, 30, 40]
    np.testing.assert_array_equal(values, [[0, 10, 20, np.nan], [np.nan, 10, 20, 30]])


@pytest.fixture
def open_figures(monkeypatch):
    """The figures the report draws, kept open for inspection."""
    drawn, close = [], figures.plt.close
    monkeypatch.setattr(figures.plt, "close", drawn.append)
    yield drawn
    for fig in drawn:
        close(fig)


def test_a_single_seed_plot_names_its_seed_and_draws_no_band(tmp_path, open_figures):
    pytest.importorskip("rliable")  # the band of two seeds
    figures.plot_job(job(), [result(seed=101)], tmp_path / "one.png")
    ax = open_figures[-1].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "seed 101" and not any("mean" in label or "min-max" in label for label in labels)
    assert not ax.collections  # no fill_between band
    figures.plot_job(job(), [result(seed=101), result(seed=102)], tmp_path / "two.png")
    ax = open_figures[-1].axes[0]
    assert ax.collections and "IQM of 2 seeds" in ax.get_legend().get_texts()[0].get_text()
    assert curve_label([result(seed=7)]) == "seed 7"


def test_plot_minutes_adds_a_panel_against_training_minutes(tmp_path, open_figures):
    figures.plot_job(job(plot_minutes=True), [result(seed=101)], tmp_path / "m.png")
    steps_ax, minutes_ax = open_figures[-1].axes
    assert steps_ax.get_xlabel() == "environment steps" and minutes_ax.get_xlabel().startswith("training minutes")
    x, y = minutes_ax.get_lines()[0].get_data()
    assert list(x) == [1.0 / 60, 20.0 / 60] and list(y) == [100.0, 500.0]   # curve rows [step, mean, seconds]
    figures.plot_job(job(), [result(seed=101)], tmp_path / "s.png")
    assert len(open_figures[-1].axes) == 1
    (pong,) = [j for j in SUITES["full"] if j.name == "pong"]
    assert pong.plot_minutes


def test_frozenlake_is_plotted_as_a_success_rate(tmp_path, open_figures):
    (frozenlake,) = [j for j in SUITES["full"] if j.name == "frozenlake"]
    figures.plot_job(frozenlake, [result()], tmp_path / "f.png")
    assert open_figures[-1].axes[0].get_ylabel() == "greedy success rate"
    figures.plot_job(job(), [result()], tmp_path / "c.png")
    assert "return" in open_figures[-1].axes[0].get_ylabel()


def test_report_writes_every_listed_seed_between_the_markers(tmp_path, monkeypatch):
    """Through report(): the table lands between the markers, names its commit, shows every seed of the
    suite's list and none of the seeds it no longer lists."""
    pytest.importorskip("rliable")  # the table's intervals
    (part := tmp_path / "part2_dqn").mkdir()
    (part / "README.md").write_text("intro\n<!-- results:quick -->\nOLD TABLE\n<!-- /results:quick -->\nend\n")
    (results := tmp_path / "results" / "quick").mkdir(parents=True)
    cartpole = job(target=400)
    cartpole.name, cartpole.seeds = "cartpole", [101, 102]
    for seed in (101, 102, 3):  # seed 3: a leftover of an earlier seed list
        (results / f"cartpole__seed{seed}.json").write_text(json.dumps(dict(
            result(seed=seed, part_dirty=seed == 102), load_average=[seed / 100, 9.0])))
    monkeypatch.setattr(paths, "REPO", tmp_path)
    monkeypatch.setattr(paths, "RESULTS", tmp_path / "results")
    monkeypatch.setitem(run.SUITES, "quick", [cartpole])
    tables.report("quick", ["part2_dqn"])
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
    for path in (paths.REPO / part).glob("*.py"):
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
            if not (paths.REPO / j.part).is_dir():
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
    monkeypatch.setattr(run, "run_sequentially", lambda suite, jobs, missing_only, *rest: ran.extend(jobs))
    monkeypatch.setattr(run, "load_results", lambda *a, **k: ["a result"])  # every job has one: ship it
    monkeypatch.setattr(run, "ship", lambda suite, job, **k: shipped.append(job))
    full = [j for j in SUITES["full"] if j.part == "part2_dqn"]
    seeds_before = [list(j.seeds) for j in full]
    run.main(["full", "--part", "part2_dqn", "--seed", "102", "--no-report", "--update-docs"])
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


def test_a_part_table_reports_each_job_over_its_seeds_and_against_sb3(tmp_path, monkeypatch):
    """Three of ten listed seeds have run (n=3): the IQM of their final tests (three seeds: the mean, in [min,
    max]), success 0 of 3 at 200 with its Wilson interval, no evaluation at 200, the claim not judged yet; SB3 on
    the same seeds beside it, with the probability that our run beats theirs. The claim compares final policies
    (SB3 keeps no best model): our last evaluations 124.3, 63.0 and 103.8 against SB3's 69.9, 120.0 and 160.0
    win 2 + 0 + 1 of the nine pairs, 3 of 9; our best models (174.3, 113.0, 153.8) would win 3 + 1 + 2, 6 of 9."""
    pytest.importorskip("rliable")
    (part := tmp_path / "part4_actor_critic").mkdir()
    (part / "README.md").write_text("<!-- results:full -->\n<!-- /results:full -->\n")
    (results := tmp_path / "results" / "full").mkdir(parents=True)
    ours = Job("lunarlander_a2c", "part4_actor_critic", "train.py", [], list(range(101, 111)), "LunarLander-v3, A2C",
               threshold=200, final_episodes=100, ship="LunarLander-v3__a2c.pth")
    peer = PeerJob("lunarlander_a2c_vs_sb3", "part4_actor_critic", "lunarlander_a2c", "a2c", "LunarLander-v3",
                   list(range(101, 111)), "LunarLander-v3, SB3 A2C", threshold=200, total_steps=1_000_000,
                   eval_every=25_000, improvement_target=0.5)
    for seed, mine, theirs in ((101, 174.3, 69.9), (102, 113.0, 120.0), (103, 153.8, 160.0)):
        (results / f"lunarlander_a2c__seed{seed}.json").write_text(json.dumps(result(
            label=ours.label, seed=seed, steps=1_000_000, steps_to_threshold=None, seconds_to_threshold=None,
            curve=[[25_000, -100.0, 3.0], [1_000_000, mine - 50, 160.0]], final=dict(mean=mine, std=50.0, episodes=100),
            best_step=1_000_000, best_eval=160.0, model=f"benchmarks/runs/full/lunarlander_a2c__seed{seed}/models/m.pth")))
        (results / f"lunarlander_a2c_vs_sb3__seed{seed}.json").write_text(json.dumps(result(
            label=peer.label, seed=seed, steps=1_000_000, peer=True, curve=[[25_000, -150.0], [1_000_000, theirs]],
            final=dict(mean=theirs, std=60.0, episodes=20, policy="final"))))
    monkeypatch.setattr(paths, "REPO", tmp_path)
    monkeypatch.setattr(paths, "RESULTS", tmp_path / "results")
    monkeypatch.setitem(run.SUITES, "full", [ours, peer])
    (tmp_path / "models" / "part4_actor_critic").mkdir(parents=True)
    torch.save({"config": {"seed": 101}, "step": 1_000_000, "eval_return": 160.0},
               tmp_path / "models" / "part4_actor_critic" / "LunarLander-v3__a2c.pth")
    tables.report("full", ["part4_actor_critic"])
    text = (part / "README.md").read_text()
    assert text.count("\nRan `") == 1 and ("Ran `python benchmarks/run.py full --part part4_actor_critic "
                                          "--update-docs`: seeds 101-103 (of the 101-110 the suite lists) on cpu") in text
    assert ("| LunarLander-v3, A2C | 3 of 10 (104-110 not run yet) | 147.0 [113.0, 174.3] | 0/3 at 200 [0.00, 0.56] "
            "| 0 of 3 | not judged yet (3 of 10 seeds run): P(ours > SB3) 0.33 <= 0.5 |") in text
    # the final test a reader reproduces, its seed visible: the shipped model is seed 101's (the best, 174.3)
    assert ("- LunarLander-v3, A2C: `python part4_actor_critic/test.py models/part4_actor_critic/LunarLander-v3__a2c.pth "
            "--episodes 100 --seed 100101` (seed 101's best model, shipped)") in text
    assert "episodes seeded from `--seed 100000+N`" in text
    assert ("| ours, final policy (the last evaluation of training) | 3 of 10 (104-110 not run yet) | "
            "97.0 [63.0, 124.3] | 0/3 at 200 [0.00, 0.56] | 0 of 3 |") in text
    assert ("| SB3, final policy (20 episodes) | 3 of 10 (104-110 not run yet) | 116.6 [69.9, 160.0] | "
            "0/3 at 200 [0.00, 0.56] | 0 of 3 |") in text
    assert ("| ours, best saved model (100 episodes) | 3 of 10 (104-110 not run yet) | 147.0 [113.0, 174.3] | "
            "0/3 at 200 [0.00, 0.56] | 0 of 3 |") in text
    assert "Probability of improvement, final policies, P(ours > SB3): 0.33 [" in text
    assert "Our best saved models against SB3's final policies: P(ours > SB3) 0.67 [" in text
    assert "claim: above 0.5 (not judged until every seed of both has run)." in text
    assert (part / "plots" / "lunarlander_a2c.png").exists() and (part / "plots" / "lunarlander_a2c_vs_sb3.png").exists()
    assert "![LunarLander-v3, A2C, ours and SB3's](plots/lunarlander_a2c_vs_sb3.png)" in text
    # the claim is judged once every seed of both has run: all ten, ours ahead on each
    for seed in range(104, 111):
        for name, score in (("lunarlander_a2c", 150.0), ("lunarlander_a2c_vs_sb3", 100.0)):
            (results / f"{name}__seed{seed}.json").write_text(json.dumps(result(
                label=name, seed=seed, curve=[[25_000, score, 3.0]], final=dict(mean=score, std=1.0, episodes=100),
                model="m.pth")))
    tables.report("full", ["part4_actor_critic"])
    text = (part / "README.md").read_text()
    assert "| LunarLander-v3, A2C | 10 | " in text and "✅ P(ours > SB3) 0." in text and "claim: above 0.5 ✅." in text


def test_the_table_calls_a_model_shipped_only_when_models_holds_that_runs_best_model(tmp_path, monkeypatch):
    """The reproduce line says "shipped" only if the checkpoint in models/ is the best seed's best model (its seed,
    the step and score of that run's best evaluation); a model from another run there (a tuning seed, the same
    seed in an older suite) sends the reader to the best seed's run folder, and so does a file that is not a
    checkpoint."""
    (tmp_path / "models" / "part2_dqn").mkdir(parents=True)
    shipped = tmp_path / "models" / "part2_dqn" / "CartPole-v1__dqn_mlp.pth"
    cartpole = job(ship="CartPole-v1__dqn_mlp.pth")
    runs = [result(seed=seed, final=dict(mean=score, std=1.0, episodes=100), best_step=20_000, best_eval=score,
                   model=f"benchmarks/runs/full/j__seed{seed}/models/m.pth") for seed, score in ((101, 480.0), (102, 500.0))]
    monkeypatch.setattr(paths, "REPO", tmp_path)
    here = ("models/part2_dqn/CartPole-v1__dqn_mlp.pth --episodes 20 --seed 100102` (seed 102's best model, shipped)")
    there = ("benchmarks/runs/full/j__seed102/models/m.pth --episodes 20 --seed 100102` (seed 102's best model, in "
             "its run folder on the machine that ran it)")
    for seed, step, score, said in ((102, 20_000, 500.0, here), (3, 20_000, 500.0, there),
                                    (102, 15_000, 500.0, there), (102, 20_000, 499.5, there)):
        torch.save({"config": {"seed": seed}, "step": step, "eval_return": score}, shipped)
        assert said in tables.test_line(cartpole, runs), (seed, step, score)
    shipped.write_bytes(b"not a checkpoint")
    assert there in tables.test_line(cartpole, runs)


def test_a_best_model_that_is_not_on_this_machine_is_not_shipped_and_stops_nothing(tmp_path, monkeypatch, capsys):
    """A results file kept from a run elsewhere (--missing-only) names a model this machine does not have: the
    shipped model stays as it is, with one line, and the suite goes on to its report."""
    (results := tmp_path / "results" / "full").mkdir(parents=True)
    (tmp_path / "models" / "part2_dqn").mkdir(parents=True)
    (shipped := tmp_path / "models" / "part2_dqn" / "CartPole-v1__dqn_mlp.pth").write_bytes(b"old weights")
    cartpole = job(ship="CartPole-v1__dqn_mlp.pth")
    (results / "j__seed101.json").write_text(json.dumps(result(model="benchmarks/runs/full/j__seed101/models/m.pth")))
    monkeypatch.setattr(paths, "REPO", tmp_path)
    monkeypatch.setattr(paths, "RESULTS", tmp_path / "results")
    tables.ship("full", cartpole)
    assert shipped.read_bytes() == b"old weights"
    assert "not shipped: seed 101's model (benchmarks/runs/full/j__seed101/models/m.pth) is not on this machine" \
        in capsys.readouterr().out


def test_a_claimed_job_that_has_not_run_yet_has_its_row_saying_so(tmp_path, monkeypatch):
    """The chapter states every claim of its jobs, so a listed job without a results file still gets a summary
    row: none of its seeds run, and the claim it will be judged on; a job that has run keeps its own row."""
    pytest.importorskip("rliable")
    (results := tmp_path / "results" / "full").mkdir(parents=True)
    ran = job()
    waiting = Job("hour", "part2_dqn", "train.py", [], [101, 102, 103], "Pong, an hour", threshold=18,
                  final_episodes=10, target=18, max_minutes=60, target_text="a greedy 18 within 60 minutes, every seed")
    (results / "j__seed101.json").write_text(json.dumps(result()))
    monkeypatch.setattr(paths, "RESULTS", tmp_path / "results")
    monkeypatch.setitem(tables.SUITES, "full", [ran, waiting])
    section = tables.part_section("full", "part2_dqn", draw=False)
    assert ("| Pong, an hour | 0 of 3 (101-103 not run yet) | — | — | — | not run yet: claims a greedy 18 within 60 "
            "minutes, every seed |") in section
    assert "| X | 1 |" in section
