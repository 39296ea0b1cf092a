"""The series' closing comparison (top-level README): every job on the envs several parts solve, from the full
suite's results files only, judged at the env's own score; a job without results says so, never a number.

With three seeds the IQM cuts int(3/4) = 0 seeds from each end: it is the mean. Its 95% percentile-bootstrap
interval is then [min, max]: a resample draws the lowest seed three times with probability 1/27 = 3.7% > 2.5%
(and the highest likewise), so the 2.5th and 97.5th percentiles are the extremes themselves. The Wilson
intervals: k of n = 3/3 -> 3 / (3 + z^2) = 0.44 to 1; 0/3 -> 0 to z^2 / (3 + z^2) = 0.56; 1/1 -> 0.21 to 1;
1/3 -> 0.06 to 0.79; 2/2 -> 0.34 to 1; 1/2 -> 0.09 to 0.91 (z = 1.96)."""
import importlib.util
import json

import numpy as np
import pytest

import closing
import paths
import figures
import stats
from suites import SUITES, Job

needs_rliable = pytest.mark.skipif(importlib.util.find_spec("rliable") is None,
                                   reason="the intervals need rliable (benchmarks/requirements.txt)")

README = "# RL\n\n<!-- results:closing -->\nnothing yet\n<!-- /results:closing -->\n\n## Layout\n"
SEEDS = [101, 102, 103]
MACHINE = dict(cpu="Test CPU", cores=2, torch="2.13.0+cpu", python="3.11.7", os="Linux")


def job(name, part, env, algo, threshold, seeds=SEEDS):
    return Job(name, part, "train.py", [], seeds, name, threshold=threshold, final_episodes=20, env_id=env, algo=algo)


def write(repo, name, seed, curve, final, steps=50_000, episodes=20, **kw):
    r = dict(format=2, job=name, seed=seed, steps=steps, curve=curve,
             final=dict(mean=final, std=1.0, episodes=episodes), commit="0123456789abcdef", dirty=True,
             part_dirty=False, machine=MACHINE, label=name, steps_to_threshold=None, seconds_to_threshold=None,
             steps_per_second=1000.0) | kw
    (repo / "results" / "full" / f"{name}__seed{seed}.json").write_text(json.dumps(r))


def fail(repo, name, seed):
    r = dict(format=2, job=name, label=name, seed=seed, failed=True, error="Traceback\nRuntimeError: boom", commit="0123456789abcdef",
             dirty=False, part_dirty=False)
    (repo / "results" / "full" / f"{name}__seed{seed}.json").write_text(json.dumps(r))


@pytest.fixture
def repo(tmp_path, monkeypatch):
    (tmp_path / "README.md").write_text(README)
    (tmp_path / "results" / "full").mkdir(parents=True)
    monkeypatch.setattr(paths, "REPO", tmp_path)
    monkeypatch.setattr(paths, "RESULTS", tmp_path / "results")
    return tmp_path


@pytest.fixture
def sketch(monkeypatch):
    """plot_closing and plot_profile replaced by stubs that write a token file (drawing takes most of a test's
    second): for the tests of the tables; the figures' own tests draw them."""
    drawn = []

    def stub(env, rows, path):
        drawn.append(env)
        path.write_bytes(b"figure")

    monkeypatch.setattr(closing, "plot_closing", stub)
    monkeypatch.setattr(closing, "plot_profile", lambda env, rows, path: path.write_bytes(b"profile"))
    return drawn


@pytest.fixture
def suite(monkeypatch):
    """A full suite of known jobs: CartPole (Part 2 DQN judged at 475 in its chapter, REINFORCE, A2C, PPO at 500),
    Pendulum (three jobs), and a job on an env that is not in the comparison."""
    jobs = [job("cartpole", "part2_dqn", "CartPole-v1", "DQN", 475),
            job("cartpole_value", "part3_reinforce", "CartPole-v1", "REINFORCE", 500),
            job("cartpole_a2c", "part4_actor_critic", "CartPole-v1", "A2C", 500),
            job("cartpole_ppo", "part4_actor_critic", "CartPole-v1", "PPO", 500),
            job("pendulum_mlp", "part2_dqn", "Pendulum-v1", "DQN", -170),
            job("pendulum_sac", "part5_sac", "Pendulum-v1", "SAC", -200),
            job("pendulum", "part3_reinforce", "Pendulum-v1", "REINFORCE", -600),
            job("frozenlake", "part1_tabular_q", None, None, 0.72)]
    monkeypatch.setitem(SUITES, "full", jobs)
    return jobs


def section(repo):
    text = (repo / "README.md").read_text()
    head, rest = text.split("<!-- results:closing -->\n")
    body, tail = rest.split("<!-- /results:closing -->")
    assert head == "# RL\n\n" and tail == "\n\n## Layout\n"  # nothing outside the markers changes
    return body


def rows_of(body, env):
    """The table rows under `**env**`."""
    table = body.split(f"**{env}**", 1)[1].split("\n\n", 2)[1]
    return table.splitlines()[2:]


def cartpole_results(repo):
    # DQN: at 500 (the env's score, not its chapter's 475) seed 101 succeeds; 102 (499) and 103 (470) do not;
    # seed 101's evaluations reach 500 at 5,000 steps / 2.0 s, seed 102's at 7,500 / 4.0 s, seed 103's never
    write(repo, "cartpole", 101, [[2500, 480.0, 1.0], [5000, 500.0, 2.0]], 500.0, episodes=100)
    write(repo, "cartpole", 102, [[2500, 400.0, 1.0], [5000, 490.0, 2.0], [7500, 500.0, 4.0]], 499.0, episodes=100)
    write(repo, "cartpole", 103, [[2500, 300.0, 1.0], [5000, 450.0, 3.0]], 470.0, episodes=100)
    # REINFORCE: seed 103 has no file yet
    write(repo, "cartpole_value", 101, [[10000, 500.0, 5.0]], 500.0, steps=150_000)
    write(repo, "cartpole_value", 102, [[10000, 450.0, 5.0], [20000, 500.0, 12.0]], 500.0, steps=150_000)
    write(repo, "cartpole_value", 7, [[1000, 500.0, 0.1]], 500.0)  # a seed the suite does not list: left out
    for seed in SEEDS:  # A2C: every run failed
        fail(repo, "cartpole_a2c", seed)
    # PPO: nothing yet


@needs_rliable
def test_every_job_gets_a_row_with_its_numbers_or_what_is_missing(repo, suite, sketch):
    cartpole_results(repo)
    write(repo, "frozenlake", 101, [[1000, 0.8, 1.0]], 0.8)
    closing.closing_report()
    body = section(repo)
    assert rows_of(body, "CartPole-v1") == [
        # IQM of 500, 499, 470 (their mean) 489.7 in [470, 500]; success at 500: 1 of 3; evaluations at 500:
        # seeds 101 and 102, medians of 5,000 and 7,500 steps, of 2.0 and 4.0 s
        "| Part 2 | DQN | 101-103 | 489.7 [470.0, 500.0] | 1/3 at 500 [0.06, 0.79] | 2 of 3: 6,250 steps, 3.0 s | "
        "50,000 |",
        "| Part 3 | REINFORCE | 101, 102 (103 not run yet) | 500.0 [500.0, 500.0] | 2/2 at 500 [0.34, 1.00] | "
        "2 of 2: 15,000 steps, 8.5 s | 150,000 |",
        "| Part 4 | A2C | 101-103 failed (the part's table has the error) | — | — | — | — |",
        "| Part 4 | PPO | 101-103 not run yet | — | — | — | — |"]
    assert rows_of(body, "Pendulum-v1") == [  # no results on this env: every job listed, no number
        "| Part 2 | DQN | 101-103 not run yet | — | — | — | — |",
        "| Part 5 | SAC | 101-103 not run yet | — | — | — | — |",
        "| Part 3 | REINFORCE | 101-103 not run yet | — | — | — | — |"]
    assert rows_of(body, "LunarLander-v3") == []  # an env no job of the suite trains on: an empty table
    assert "frozenlake" not in body and "0.8" not in body
    # the one line of what ran: the command, the seeds, the machine, the code
    assert body.startswith("Ran `python benchmarks/run.py full --report-only`: seeds 101-103 on Test CPU, 2 cores, "
                           "torch 2.13.0+cpu, Python 3.11.7; code at commit `0123456789` (uncommitted changes "
                           "elsewhere in the tree).\n")
    plots_dir = repo / "benchmarks" / "plots"
    assert sketch == ["CartPole-v1"] and (plots_dir / "closing_CartPole-v1.png").exists()
    assert (plots_dir / "closing_CartPole-v1_profile.png").exists()
    assert ("![CartPole-v1: every part's greedy evaluations](benchmarks/plots/closing_CartPole-v1.png) "
            "![CartPole-v1: performance profiles](benchmarks/plots/closing_CartPole-v1_profile.png)") in body
    assert not (plots_dir / "closing_Pendulum-v1.png").exists() and "closing_Pendulum-v1" not in body
    # only DQN has every seed run: it is all the advice may compare, and not every seed's final test reached 500
    assert ("- **CartPole-v1** (1 of 4 algorithms have all their seeds run; only those are compared): the highest "
            "IQM of the best models' final tests is 489.7, by Part 2's DQN; none had every seed's final test at or "
            "above 500.") in body
    assert "- **Pendulum-v1**: no algorithm has all its seeds run yet." in body


def test_without_any_results_every_job_is_listed_as_not_run_yet(repo, suite, sketch):
    closing.closing_report()
    body = section(repo)
    assert body.startswith("Ran `python benchmarks/run.py full --report-only`: no job has results yet (seeds "
                           "101-103 listed).\n")
    rows = rows_of(body, "CartPole-v1") + rows_of(body, "Pendulum-v1")
    assert len(rows) == 7 and all("| 101-103 not run yet | — |" in row for row in rows)
    assert sketch == [] and body.count("no algorithm has all its seeds run yet") == 4


@needs_rliable
def test_a_partly_failed_job_shows_the_seeds_that_ran_and_names_the_failed_one(repo, suite, sketch):
    write(repo, "cartpole_ppo", 101, [[5000, 500.0, 3.0]], 500.0)
    fail(repo, "cartpole_ppo", 102)
    closing.closing_report()
    (ppo,) = [row for row in rows_of(section(repo), "CartPole-v1") if "| PPO |" in row]
    # the failed run left no model: a seed that did not succeed, nor reach 500
    assert ppo == ("| Part 4 | PPO | 101 (102 failed (the part's table has the error); 103 not run yet) | "
                   "500.0 [500.0, 500.0] | 1/2 at 500 [0.09, 0.91] | 1 of 2: 5,000 steps, 3.0 s | 50,000 |")


@needs_rliable
def test_the_advice_compares_complete_jobs_at_the_envs_score(repo, suite, sketch):
    # DQN (judged at -170 in its chapter) reaches -200 in fewer steps, SAC in less time; their IQMs tie as shown
    # (-150.0); REINFORCE has every seed run but no seed's final test reaches -200
    for seed in SEEDS:
        write(repo, "pendulum_mlp", seed, [[3000, -300.0, 2.0], [5000, -165.0, 10.0 + seed - 102]], -150.0)
        write(repo, "pendulum_sac", seed, [[2000, -500.0, 1.0], [6000, -180.0, 4.0]], -149.96)
        write(repo, "pendulum", seed, [[100_000, -400.0 if seed == 103 else -199.0, 50.0]], -500.0)
    closing.closing_report()
    body = section(repo)
    assert ("- **Pendulum-v1**: the highest IQM of the best models' final tests is -150.0, by Part 2's DQN and "
            "Part 5's SAC; of the 2 whose every seed's final test was at or above -200, Part 2's DQN got there in "
            "the fewest env steps (a median of 5,000 to a first evaluation at -200) and Part 5's SAC in the least "
            "training time (4.0 s).") in body
    (dqn, sac, reinforce) = rows_of(body, "Pendulum-v1")
    assert dqn == ("| Part 2 | DQN | 101-103 | -150.0 [-150.0, -150.0] | 3/3 at -200 [0.44, 1.00] | "
                   "3 of 3: 5,000 steps, 10.0 s | 50,000 |")  # seconds 9, 10, 11: median 10
    assert sac == ("| Part 5 | SAC | 101-103 | -150.0 [-150.0, -150.0] | 3/3 at -200 [0.44, 1.00] | "
                   "3 of 3: 6,000 steps, 4.0 s | 50,000 |")
    # success is the final test (0 of 3), whatever the evaluations reached (2 of 3)
    assert reinforce == ("| Part 3 | REINFORCE | 101-103 | -500.0 [-500.0, -500.0] | 0/3 at -200 [0.00, 0.56] | "
                         "2 of 3: 100,000 steps, 50.0 s | 50,000 |")


@needs_rliable
def test_the_advice_names_the_only_job_that_solved_it(repo, suite, sketch):
    # SAC's IQM -150.0 (of -230, -110, -110) is the highest, its interval [-230, -110] holds DQN's -160: not separated
    for seed in SEEDS:
        write(repo, "pendulum_mlp", seed, [[5000, -190.0, 8.0]], -160.0)
        write(repo, "pendulum_sac", seed, [[5000, -190.0, 8.0]], -230.0 if seed == 102 else -110.0)
    closing.closing_report()
    assert ("- **Pendulum-v1** (2 of 3 algorithms have all their seeds run; only those are compared): the highest "
            "IQM of the best models' final tests is -150.0, by Part 5's SAC, though the seeds do not clearly separate "
            "it from Part 2's DQN (its 95% interval overlaps the top's); only Part 2's DQN had every seed's "
            "final test at or above -200, its evaluations first reaching it after 5,000 env steps and 8.0 s of "
            "training (medians over the seeds).") in section(repo)


@needs_rliable
def test_a_job_of_one_seed_is_named_and_left_out_of_the_comparison(repo, suite, sketch):
    """An IQM of one run says nothing of the next: DQN (one seed, the fewest steps and the highest score) is
    named and not compared; SAC (three seeds) is."""
    suite[4] = job("pendulum_mlp", "part2_dqn", "Pendulum-v1", "DQN", -170, seeds=[101])
    write(repo, "pendulum_mlp", 101, [[1000, -150.0, 1.0]], -120.0)
    for seed in SEEDS:
        write(repo, "pendulum_sac", seed, [[5000, -190.0, 8.0]], -140.0)
        write(repo, "pendulum", seed, [[100_000, -500.0, 50.0]], -500.0)
    closing.closing_report()
    assert ("- **Pendulum-v1** (Part 2's DQN ran one seed, too few to compare): the highest IQM of the best models' "
            "final tests is -140.0, by Part 5's SAC; only Part 5's SAC had every seed's final test at or above -200, "
            "its evaluations first reaching it after 5,000 env steps and 8.0 s of training (medians over the "
            "seeds).") in section(repo)


@needs_rliable
def test_old_curves_without_seconds_say_so(repo, suite, sketch):
    write(repo, "pendulum_mlp", 101, [[2500, -300.0], [5000, -180.0]], -170.0)
    closing.closing_report()
    (dqn, _, _) = rows_of(section(repo), "Pendulum-v1")
    assert dqn == ("| Part 2 | DQN | 101 (102, 103 not run yet) | -170.0 [-170.0, -170.0] | 1/1 at -200 [0.21, 1.00] | "
                   "1 of 1: 5,000 steps, seconds not recorded | 50,000 |")


@pytest.fixture
def open_figures(monkeypatch):
    """The figures the report draws, kept open for inspection."""
    drawn, close = [], figures.plt.close
    monkeypatch.setattr(figures.plt, "close", drawn.append)
    yield drawn
    for fig in drawn:
        close(fig)


@needs_rliable
def test_the_figures_have_every_part_against_steps_and_seconds_with_bootstrap_bands(repo, suite, open_figures):
    cartpole_results(repo)
    write(repo, "cartpole_ppo", 101, [[1000, 100.0]], 200.0)  # one seed, no seconds recorded
    closing.closing_report()
    fig, profile = open_figures
    by_steps, by_seconds = fig.axes
    assert by_steps.get_xlabel() == "environment steps" and by_seconds.get_xlabel().startswith("training seconds")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["Part 2's DQN, IQM of 3 seeds (101-103)", "Part 3's REINFORCE, IQM of 2 seeds (101, 102)",
                      "Part 4's PPO, seed 101"]  # A2C failed on every seed: no curve
    *curves, threshold = by_steps.lines
    assert len(curves) == 3 and threshold.get_ydata()[0] == 500  # the env's score, dashed
    dqn_steps = curves[0]
    np.testing.assert_allclose(dqn_steps.get_xydata(), [[2500, (480 + 400 + 300) / 3], [5000, (500 + 490 + 450) / 3],
                                                         [7500, 500.0]])  # seeds 101, 103 end at 5,000: 102 alone
    assert len(by_steps.collections) == 2 and len(by_seconds.collections) == 2  # bands for the multi-seed jobs
    # DQN's band against steps: of three seeds, the bootstrap interval is their min and max at each step
    band = by_steps.collections[0].get_paths()[0].vertices
    assert {(2500.0, 300.0), (2500.0, 480.0), (5000.0, 450.0), (5000.0, 500.0)} <= {tuple(v) for v in band}
    assert len(by_seconds.lines) == 3  # DQN, REINFORCE and the threshold: PPO's seed recorded no seconds
    np.testing.assert_allclose(by_seconds.lines[0].get_xdata(), [1.0, 2.0, 3.0, 4.0])  # DQN's training seconds
    # the performance profiles: the fraction of each part's runs whose final test scores above each value
    ax = profile.axes[0]
    dqn, reinforce, ppo = ax.lines[:3]
    taus, fractions = dqn.get_xydata().T
    assert fractions[taus < 470].tolist() == [1.0] * int((taus < 470).sum())      # 500, 499 and 470 all above
    np.testing.assert_allclose(fractions[(taus > 470) & (taus < 499)], 2 / 3)      # 500 and 499
    assert set(fractions[taus >= 500]) == {0.0}                                     # none above 500
    assert ax.lines[3].get_xdata()[0] == 500  # the env's score, dashed


def test_a_curve_is_the_iqm_with_its_band_over_seeds():
    """Two seeds: the IQM cuts none (the mean), and the bootstrap draws each seed twice with probability 1/4, so
    the band is their min and max."""
    pytest.importorskip("rliable")
    curves = [[[10, 0.0, 1.0], [20, 10.0, 2.0]], [[10, 4.0, 3.0], [20, 20.0, 4.0]]]
    xs, middle, low, high = stats.iqm_curve(curves, 0)
    assert xs.tolist() == [10, 20] and middle.tolist() == [2.0, 15.0]
    assert low.tolist() == [0.0, 10.0] and high.tolist() == [4.0, 20.0]
    xs, middle, _, _ = stats.iqm_curve(curves, 2)
    assert xs.tolist() == [1.0, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(middle, [0.0, 10.0, 4.0, 20.0])  # each seed alone where the other has no evaluation
    _, ax = figures.plt.subplots()
    assert figures.draw_iqm(ax, [dict(curve=[[10, 0.0]])], x=2) is None  # no seconds recorded: no curve
    figures.plt.close(ax.figure)


@needs_rliable
def test_report_only_writes_the_closing_section(repo, suite, sketch, monkeypatch):
    """Through the command line: `run.py full --report-only` rewrites the section (and reruns nothing)."""
    import run

    monkeypatch.setattr(figures, "plot_job", lambda job, results, path: None)  # the parts' own plots: not this test's
    cartpole_results(repo)
    for part in {j.part for j in suite}:
        (repo / part).mkdir()
    run.main(["full", "--report-only"])
    assert "| Part 2 | DQN | 101-103 | 489.7 [470.0, 500.0] |" in section(repo) and sketch
    (repo / "README.md").write_text(README)
    run.main(["quick", "--report-only"])  # the closing comparison is the full suite's only
    assert (repo / "README.md").read_text() == README


def test_every_job_the_real_suite_tags_is_in_the_comparison():
    tagged = [j for j in SUITES["full"] if isinstance(j, Job) and j.env_id]
    assert {j.env_id for j in tagged} <= set(closing.CLOSING)
    assert set(closing.CLOSING) == {j.env_id for j in tagged}  # every env of the comparison has a job
    assert all(j.algo for j in tagged)


def test_the_top_readme_has_the_markers_the_report_writes_between():
    text = (paths.REPO / "README.md").read_text()
    assert text.count("<!-- results:closing -->") == 1 and text.count("<!-- /results:closing -->") == 1
    assert text.index("<!-- results:closing -->") < text.index("<!-- /results:closing -->")


def test_the_advice_names_algorithms_in_english_grouped_by_part():
    """One part's algorithms share its name ("Part 4's A2C and PPO"); a comma parts the parts when one of them
    lists two."""
    def rows(*pairs):
        return [closing.ClosingRow(job=job(algo, part, "CartPole-v1", algo, 500), js=None) for part, algo in pairs]
    assert closing.names(rows(("part2_dqn", "DQN"))) == "Part 2's DQN"
    assert closing.names(rows(("part2_dqn", "DQN"), ("part5_sac", "SAC"))) == "Part 2's DQN and Part 5's SAC"
    assert closing.names(rows(("part3_reinforce", "REINFORCE with a learned baseline"), ("part4_actor_critic", "A2C"),
                              ("part4_actor_critic", "PPO"))) == \
        "Part 3's REINFORCE with a learned baseline, and Part 4's A2C and PPO"
    assert closing.names(rows(("part1_tabular_q", "Q"), ("part2_dqn", "DQN"), ("part5_sac", "SAC"))) == \
        "Part 1's Q, Part 2's DQN and Part 5's SAC"


@needs_rliable
def test_the_sb3_pairs_compare_final_policies_and_the_verdict_reads_the_interval(repo, suite, sketch, monkeypatch):
    """One row per pair: both sides' final policies (ours: the last evaluation, not the best model), P(ours > SB3)
    with its interval, and a verdict that says "better" only when the interval lies on one side of 0.5."""
    from suites import PeerJob

    peers = [PeerJob("cartpole_vs_sb3", "part2_dqn", "cartpole", "dqn", "CartPole-v1", SEEDS, "SB3 DQN", 475, 50_000, 2_500),
             PeerJob("pendulum_sac_vs_sb3", "part5_sac", "pendulum_sac", "sac", "Pendulum-v1", SEEDS, "SB3 SAC", -200,
                     10_000, 1_000),
             PeerJob("cartpole_a2c_vs_sb3", "part4_actor_critic", "cartpole_a2c", "a2c", "CartPole-v1", SEEDS,
                     "SB3 A2C", 500, 100_000, 5_000),
             PeerJob("pendulum_dqn_vs_sb3", "part2_dqn", "pendulum_mlp", "dqn", "Pendulum-v1", SEEDS, "SB3 DQN", -200,
                     50_000, 5_000),
             PeerJob("cartpole_ppo_vs_sb3", "part4_actor_critic", "cartpole_ppo", "ppo", "CartPole-v1", SEEDS,
                     "SB3 PPO", 500, 50_000, 5_000)]
    monkeypatch.setitem(SUITES, "full", suite + peers)
    # DQN: last evaluations 480, 490, 500 (best models 500 each: not what is compared); SB3's final tests 400, 410,
    # 420: every pairing ours, P = 1, and every resample too, so the interval is [1, 1]: ours better
    for seed, last in zip(SEEDS, (480.0, 490.0, 500.0)):
        write(repo, "cartpole", seed, [[2500, 300.0, 1.0], [50_000, last, 9.0]], 500.0, steps=50_000 + seed - 101)
    for seed, final in zip(SEEDS, (400.0, 410.0, 420.0)):
        write(repo, "cartpole_vs_sb3", seed, [[50_000, final, 0.0]], final)
    # SAC: last evaluations -300, -150, -140 against SB3's -160, -145, -130: ours wins (-150 > -160) and (-140 > -160,
    # -145): 3 of 9 pairings, P = 0.33; resamples of three seeds reach both 0 and 1 at the 2.5% tails, so the
    # interval crosses 0.5: no clear winner, SB3's ahead
    for seed, last in zip(SEEDS, (-300.0, -150.0, -140.0)):
        write(repo, "pendulum_sac", seed, [[1000, -900.0, 1.0], [10_000, last, 9.0]], -130.0, steps=10_000)
    for seed, final in zip(SEEDS, (-160.0, -145.0, -130.0)):
        write(repo, "pendulum_sac_vs_sb3", seed, [[10_000, final, 0.0]], final)
    # A2C: ours ran, SB3's has one seed: no number
    for seed in SEEDS:
        write(repo, "cartpole_a2c", seed, [[100_000, 500.0, 9.0]], 500.0)
    write(repo, "cartpole_a2c_vs_sb3", 101, [[100_000, 500.0, 0.0]], 500.0)
    # Pendulum DQN: our seed 103 failed, a run without a policy: it loses to each of SB3's three, seeds 101 and 102
    # (-150) beat SB3's -160s: 6 of 9 pairings, P = 0.67
    for seed in (101, 102):
        write(repo, "pendulum_mlp", seed, [[50_000, -150.0, 9.0]], -150.0)
    fail(repo, "pendulum_mlp", 103)
    for seed in SEEDS:
        write(repo, "pendulum_dqn_vs_sb3", seed, [[50_000, -160.0, 0.0]], -160.0)
    # PPO: every SB3 run failed: nothing to compare with
    for seed in SEEDS:
        write(repo, "cartpole_ppo", seed, [[50_000, 500.0, 9.0]], 500.0)
        fail(repo, "cartpole_ppo_vs_sb3", seed)
    closing.closing_report()
    table = section(repo).split("**Against Stable-Baselines3", 1)[1].split("\n\n", 2)[1].splitlines()
    # the budget: our DQN runs made as if they ended on whole rollouts past 50k, 50,000-50,002 steps, and say so;
    # at the score: DQN's final policies 480, 490, 500 against 475: 3/3, SB3's 0/3; SAC's -300, -150, -140 against
    # -200: 2/3, SB3's 3/3. Our best models: DQN's 500s beat every SB3 run (1.00); SAC's -130s beat -160 and -145
    # and tie -130 (a half): (1 + 1 + 0.5) / 3 = 0.83
    assert table[2:] == [
        "| CartPole-v1, Part 2's DQN | 50,000 (ours 50,000 to 50,002) | 490.0 [480.0, 500.0] | 410.0 [400.0, 420.0] | 3/3, 0/3 | "
        "1.00 [1.00, 1.00] | ours better | 1.00 |",
        "| Pendulum-v1, Part 5's SAC | 10,000 | -196.7 [-300.0, -140.0] | -145.0 [-160.0, -130.0] | 2/3, 3/3 | "
        f"0.33 [{table[3].split('0.33 [')[1].split(']')[0]}] | not settled (P favours SB3's) | 0.83 |",
        "| CartPole-v1, Part 4's A2C | 100,000 | SB3's: not all run yet | — | — | — | — | — |",
        "| Pendulum-v1, Part 2's DQN | 50,000 | -150.0 [-150.0, -150.0] | -160.0 [-160.0, -160.0] | 2/3 (1 failed), 3/3 | "
        f"0.67 [{table[5].split('0.67 [')[1].split(']')[0]}] | not settled (P favours ours) | 0.67 |",
        "| CartPole-v1, Part 4's PPO | 50,000 | SB3's: no run finished | — | — | — | — | — |"]
    low, high = map(float, table[3].split("0.33 [")[1].split("]")[0].split(", "))
    assert low < 0.5 < high


@pytest.mark.parametrize("p, low, high, says", [
    (0.91, 0.75, 1.00, "ours better"), (0.60, 0.51, 0.70, "ours better"), (0.58, 0.50, 0.76, "not settled (P favours ours)"),
    (0.50, 0.30, 0.70, "not settled"), (0.28, 0.06, 0.52, "not settled (P favours SB3's)"),
    (0.40, 0.20, 0.50, "not settled (P favours SB3's)"), (0.30, 0.10, 0.49, "SB3's better")])
def test_the_verdict_names_a_better_side_only_when_the_interval_excludes_a_coin_toss(p, low, high, says):
    assert closing.verdict(p, low, high) == says


def test_a_peer_job_whose_own_job_is_missing_names_both(repo, suite, monkeypatch):
    from suites import PeerJob

    peer = PeerJob("ghost_vs_sb3", "part2_dqn", "ghost", "dqn", "CartPole-v1", SEEDS, "SB3 DQN", 475, 50_000, 2_500)
    monkeypatch.setitem(SUITES, "full", suite + [peer])
    with pytest.raises(ValueError, match="ghost_vs_sb3 compares SB3 with 'ghost', which the full suite has no job"):
        closing.peer_summary()
