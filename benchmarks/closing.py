"""The series' closing comparison, the top-level README's last section.

For every env several parts solve (CLOSING), one row per job of the full suite on it, in the suite's order
(Part 1 to Part 5), whether it has results or not, all judged at the env's own score: the IQM of the best models'
final greedy tests with its interval, the success fraction at the score, how many seeds' evaluations reached
it and the median env steps and training seconds to it. Per env two figures: every part's sample-efficiency
curve (IQM with a bootstrap band) against env steps and against training seconds, and the performance profiles
(the fraction of each part's runs whose final test scores above each value). Then a sentence per env, generated
from the same rows, on which algorithm to pick. Everything comes from the results files; a job without them
says "not run yet".
"""
from dataclasses import dataclass

import numpy as np

import paths
import provenance
import stats
from figures import curve_label, draw_iqm, plt, save_figure
from results import load_results, number
from suites import SUITES, Job, PeerJob
from tables import (final_policies, iqm_cell, job_stats, peer_figures, peer_scores, reach_cell, replace_between,
                    success_cell)

fmt = number

# The envs several parts solve, and the score that counts as solving each one.
CLOSING = {"CartPole-v1": 500.0, "Pendulum-v1": -200.0, "LunarLander-v3": 200.0, "LunarLanderContinuous-v3": 200.0}

# What holds whatever the numbers say: which algorithms can act on which kind of action at all.
CLOSING_ACTIONS = ("Discrete actions (CartPole, LunarLander) suit DQN, REINFORCE, A2C and PPO as they are; "
                   "continuous ones (Pendulum's torque, LunarLanderContinuous's two throttles) need a Gaussian "
                   "policy (REINFORCE, PPO), SAC's squashed Gaussian, or a few fixed actions for tabular Q-learning "
                   "and DQN. A replay memory (DQN, SAC) lets an algorithm learn from each env step many times; "
                   "REINFORCE, A2C and PPO learn from a batch of steps once (PPO: for a few epochs) and discard it. "
                   "So where env steps are expensive (a robot, a slow simulator) compare the env steps; where "
                   "they are cheap, as in these simulators, the seconds.")


def closing_jobs(suite="full"):
    """{env_id: [job, ...]}: every Job of the suite on a CLOSING env, in the suite's order."""
    return {env: [j for j in SUITES[suite] if isinstance(j, Job) and j.env_id == env] for env in CLOSING}


@dataclass
class ClosingRow:
    """One job of the closing comparison: its statistics at the env's score."""
    job: Job
    js: object          # tables.JobStats at the env's score

    @property
    def part(self):
        return self.job.part.split("_", 1)[0].replace("part", "Part ")

    @property
    def name(self):
        return f"{self.part}'s {self.job.algo or self.job.label}"

    @property
    def done(self):
        return self.js.done

    @property
    def complete(self):
        """Every seed the suite lists ran to the end: a row the advice may compare."""
        return bool(self.js.done) and not self.js.failed and not self.js.missing


def closing_row(env, job, results):
    """The ClosingRow of a job from load_results(..., failed=True)."""
    return ClosingRow(job=job, js=job_stats(job, results, score=CLOSING[env]))


def seeds_cell(row):
    """The seeds that ran, and which failed or have not run yet."""
    js = row.js
    notes = ([f"{provenance.seeds_text(js.failed)} failed (the part's table has the error)"] if js.failed else []) + \
            ([f"{provenance.seeds_text(js.missing)} not run yet"] if js.missing else [])
    if not js.done:
        return "; ".join(notes)
    text = provenance.seeds_text(r["seed"] for r in js.done)
    return text + (f" ({'; '.join(notes)})" if notes else "")


def budget_cell(row):
    steps = sorted(r["steps"] for r in row.done)
    return fmt(steps[0]) if steps[0] == steps[-1] else f"{fmt(steps[0])}-{fmt(steps[-1])}"


def closing_table_row(env, row):
    """The Markdown row: part, algorithm, seeds, IQM, success at the env's score, evaluations at it, budget."""
    if not row.done:
        return f"| {row.part} | {row.job.algo or row.job.label} | {seeds_cell(row)} | — | — | — | — |"
    return (f"| {row.part} | {row.job.algo or row.job.label} | {seeds_cell(row)} | {iqm_cell(row.js, 1)} | "
            f"{success_cell(row.js, CLOSING[env])} | {reach_cell(row.js.reach)} | {budget_cell(row)} |")


def and_list(words):
    """"A", "A and B", "A, B and C"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def names(rows):
    """The rows' algorithms in English, grouped by part: "Part 3's REINFORCE with a learned baseline, and Part 4's
    A2C and PPO"."""
    by_part = {}
    for r in rows:
        by_part.setdefault(r.part, []).append(r.job.algo or r.job.label)
    phrases = [f"{part}'s {and_list(algos)}" for part, algos in by_part.items()]
    if len(phrases) > 1 and any(" and " in p for p in phrases):  # a comma keeps "and" inside a part apart
        return ", ".join(phrases[:-1]) + ", and " + phrases[-1]
    return and_list(phrases)


def closing_advice(env, rows):
    """The sentence on `env` a reader can pick an algorithm by: the highest IQM of the final tests, and, of the
    algorithms whose every seed's final test reached the env's score, the fewest env steps and the least
    training time to a first evaluation at it (medians over seeds). Only complete rows (every listed seed ran,
    none failed) are compared, and the sentence says how many of the env's algorithms that is; a job that runs
    one seed is named and left out (an IQM of one run says nothing of the next)."""
    score = CLOSING[env]
    complete = [r for r in rows if r.complete]
    if not complete:
        return f"**{env}**: no algorithm has all its seeds run yet."
    text = f"**{env}**"
    if len(complete) < len(rows):
        text += f" ({len(complete)} of {len(rows)} algorithms have all their seeds run; only those are compared)"
    single = [r for r in complete if r.js.success.seeds < 2]
    if single:
        text += f" ({names(single)} ran one seed, too few to compare)"
        complete = [r for r in complete if r not in single]
        if not complete:
            return text + ": no other algorithm has all its seeds run yet."
    top = max(round(r.js.iqm[0], 1) for r in complete)  # compare as shown: 500.0 ties with 499.97
    best = [r for r in complete if round(r.js.iqm[0], 1) == top]
    text += f": the highest IQM of the best models' final tests is {fmt(top, 1)}, by {names(best)}"
    low = min(r.js.iqm[1] for r in best)
    close = [r for r in complete if r not in best and r.js.iqm[2] >= low]  # intervals that overlap the top's
    if close:
        whose = "its" if len(close) == 1 else "each one's"
        text += (f", though the seeds do not clearly separate {'it' if len(best) == 1 else 'them'} from {names(close)} "
                 f"({whose} 95% interval overlaps the top's)")
    every = [r for r in complete if r.js.success.succeeded == r.js.success.seeds and r.js.reach.reached]
    if not every:
        return text + f"; none had every seed's final test at or above {score:g}."
    fewest = min(every, key=lambda r: r.js.reach.steps)
    if len(every) == 1:
        return text + (f"; only {fewest.name} had every seed's final test at or above {score:g}, its evaluations "
                       f"first reaching it after {fmt(fewest.js.reach.steps)} env steps"
                       + ("" if fewest.js.reach.seconds is None else
                          f" and {fmt(fewest.js.reach.seconds, 1)} s of training") + " (medians over the seeds).")
    text += (f"; of the {len(every)} whose every seed's final test was at or above {score:g}, {fewest.name} got "
             f"there in the fewest env steps (a median of {fmt(fewest.js.reach.steps)} to a first evaluation at "
             f"{score:g})")
    timed = [r for r in every if r.js.reach.seconds is not None]
    if timed:
        fastest = min(timed, key=lambda r: r.js.reach.seconds)
        who = "also" if fastest is fewest else fastest.name
        text += f" and {who} in the least training time ({fmt(fastest.js.reach.seconds, 1)} s)"
    return text + "."


def plot_closing(env, rows, path):
    """Every part's sample-efficiency curve on one axis, against env steps (left) and training seconds (right):
    the IQM over seeds, with its 95% bootstrap band where there are several seeds."""
    fig, (by_steps, by_seconds) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    drawn = [r for r in rows if r.done]
    for i, row in enumerate(drawn):
        draw_iqm(by_steps, row.done, label=f"{row.name}, {curve_label(row.done)}", color=f"C{i}")
        draw_iqm(by_seconds, row.done, x=2, color=f"C{i}")
    for ax, xlabel in ((by_steps, "environment steps"), (by_seconds, "training seconds (evaluation excluded)")):
        ax.axhline(CLOSING[env], color="grey", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
    by_steps.set_ylabel("greedy evaluation return")
    fig.suptitle(f"{env}: every part's greedy evaluations, the IQM over seeds with its 95% bootstrap band; "
                 f"dashed: {CLOSING[env]:g}", fontsize=10)
    fig.legend(loc="lower center", ncol=2, fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.06 * (1 + (len(drawn) - 1) // 2), 1, 1))
    save_figure(fig, path)
    plt.close(fig)


def plot_profile(env, rows, path):
    """rliable's performance profiles: for each part, the fraction of its runs whose best model's final test
    scores above each value, with a 95% bootstrap band; the env's score dashed."""
    drawn = [r for r in rows if r.done]
    every = [s for r in drawn for s in r.js.scores]
    low, high = min(every + [CLOSING[env]]), max(every + [CLOSING[env]])
    margin = 0.05 * (high - low or 1.0)
    taus = np.linspace(low - margin, high + margin, 101)
    curves = stats.profiles({r.name: r.js.scores for r in drawn}, taus)
    fig, ax = plt.subplots(figsize=(9, 4.4))
    for i, row in enumerate(drawn):
        fraction, band_low, band_high = curves[row.name]
        ax.plot(taus, fraction, color=f"C{i}", label=f"{row.name} ({len(row.done)} runs)")
        if len(row.done) > 1:
            ax.fill_between(taus, band_low, band_high, color=f"C{i}", alpha=0.15, lw=0)
    ax.axvline(CLOSING[env], color="grey", ls="--", lw=1)
    ax.set_xlabel("final greedy test score (best model)")
    ax.set_ylabel("fraction of runs above it")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{env}: performance profiles with 95% bootstrap bands; dashed: {CLOSING[env]:g}", fontsize=10)
    fig.legend(loc="lower center", ncol=2, fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.07 * (1 + (len(drawn) - 1) // 2), 1, 1))
    save_figure(fig, path)
    plt.close(fig)


def verdict(p, low, high):
    """What P(ours > SB3) and its 95% interval say: a side is better only when the interval lies beyond 0.5."""
    if low > 0.5:
        return "ours better"
    if high < 0.5:
        return "SB3's better"
    return "not settled" + (" (P favours ours)" if p > 0.5 else " (P favours SB3's)" if p < 0.5 else "")


def peer_summary(suite="full", results=None):
    """Lines of the closing section: every pair of ours and Stable-Baselines3 on the same seeds, one row each
    (each chapter has the pair's table and figure). Both sides' final policies, since SB3's runs keep no best
    model, with the verdict on them; beside it, P for our best saved models, what a run of ours hands its user."""
    rows = []
    for peer in (j for j in SUITES[suite] if isinstance(j, PeerJob)):
        best, theirs = peer_figures(peer, suite, results)
        ours = final_policies(best)
        name = f"{peer.env_id}, {ClosingRow(ours.job, ours).part}'s {ours.job.algo or ours.job.label}"
        if not (ours.complete and theirs.complete) or not (ours.scores and theirs.scores):
            waiting = "ours" if not ours.complete or not ours.scores else "SB3's"
            why = "not all run yet" if not (ours.complete and theirs.complete) else "no run finished"
            rows.append(f"| {name} | {fmt(peer.total_steps)} | {waiting}: {why} | — | — | — | — | — |")
            continue
        steps = sorted({r["steps"] for r in ours.done})  # an on-policy run ends on a whole rollout: a little more
        budget = fmt(peer.total_steps) + ("" if steps == [peer.total_steps] else
                                          f" (ours {' to '.join(fmt(x) for x in sorted({steps[0], steps[-1]}))})")
        p, low, high = stats.improvement(peer_scores(ours), peer_scores(theirs))  # a failed run loses to every run
        p_best = stats.improvement(peer_scores(best), peer_scores(theirs))[0]
        at = ", ".join(f"{js.success.succeeded}/{js.success.seeds}" + (f" ({len(js.failed)} failed)" if js.failed else "")
                       for js in (ours, theirs))
        rows.append(f"| {name} | {budget} | {iqm_cell(ours, 1)} | {iqm_cell(theirs, 1)} | {at} | "
                    f"{p:.2f} [{low:.2f}, {high:.2f}] | {verdict(p, low, high)} | {p_best:.2f} |")
    if not rows:
        return []
    return ["", "**Against Stable-Baselines3 on the same seeds and budgets** (rl-baselines3-zoo's settings, seeds "
                f"{provenance.seeds_text(sorted({s for p in SUITES[suite] if isinstance(p, PeerJob) for s in p.seeds}))}; "
                "each chapter's results section has the pair's table and figure). Both sides' *final policies*, the "
                "weights each training ended with, since SB3's runs keep no best model: the IQM over seeds with its "
                "95% interval, and how many seeds reach the chapter's score. P(ours > SB3) is rliable's probability "
                "of improvement, the chance that a run of ours ends above a run of SB3's, with its 95% interval; "
                "the verdict names a better side only when the interval lies beyond 0.5, and otherwise says which "
                "side P favours; a run that failed counts as losing to every run of the other side. The last column "
                "is P for our *best saved models* against SB3's final policies: what a run of ours hands its "
                "user. (The tables above score the best models, so the same runs can show a higher IQM there.)", "",
            "| env, ours | budget (env steps) | ours: IQM [95% CI] | SB3: IQM [95% CI] | at the score: ours, SB3 | "
            "P(ours > SB3) [95% CI] | verdict | our best models: P |", "|---|---|---|---|---|---|---|---|", *rows]


def closing_report(suite="full", results=None):
    """The top-level README's closing comparison, from the full suite's results files only: every job on the
    CLOSING envs, with results or "not run yet"."""
    rows_by_env = {env: [closing_row(env, job, load_results(suite, job, failed=True, results=results))
                         for job in env_jobs] for env, env_jobs in closing_jobs(suite).items()}
    everything = [r for rows in rows_by_env.values() for row in rows for r in row.done]
    listed = sorted({s for rows in rows_by_env.values() for row in rows for s in row.job.seeds})
    header = (provenance.header("python benchmarks/run.py full --report-only", everything, listed)
              if everything else f"Ran `python benchmarks/run.py full --report-only`: no job has results yet (seeds "
                                 f"{provenance.seeds_text(listed)} listed).")
    lines = [header, "",
             "Every part judged at the env's own score (beside its name). Final greedy test: the best saved model "
             "on fresh episodes, the IQM over seeds (the mean of the middle half; of 3 seeds, their mean) with its "
             "95% confidence interval (rliable's stratified bootstrap: the IQMs of the seeds resampled with "
             "replacement, a range other seeds' IQM would likely fall in). Success: the seeds whose final test is "
             "at or above the score, with a 95% Wilson interval (a confidence interval for a fraction that stays "
             "sensible at 0/10 and 10/10). Evaluations: how many seeds' greedy evaluations during training "
             "reached the score, and the median env steps and training seconds to the first that did (settings "
             "were tuned on other seeds; absolute seconds swing 2-5x with this shared machine's load). Budget: "
             "the env steps each run trained."]
    plots_dir = paths.REPO / "benchmarks" / "plots"
    for env, rows in rows_by_env.items():
        score = CLOSING[env]
        lines += ["", f"**{env}** (solved at {score:g})", "",
                  f"| part | algorithm | seeds | final greedy test: IQM [95% CI] | success at {score:g} [95% CI] | "
                  f"evaluations at {score:g}: seeds, median env steps, median seconds | budget (env steps) |",
                  "|---|---|---|---|---|---|---|", *(closing_table_row(env, row) for row in rows)]
        if any(row.done for row in rows):
            plots_dir.mkdir(parents=True, exist_ok=True)
            curves, profile = plots_dir / f"closing_{env}.png", plots_dir / f"closing_{env}_profile.png"
            plot_closing(env, rows, curves)
            plot_profile(env, rows, profile)
            lines += ["", f"![{env}: every part's greedy evaluations]({paths.rel(curves)}) "
                          f"![{env}: performance profiles]({paths.rel(profile)})"]
    lines += peer_summary(suite, results)
    lines += ["", "**Which to pick.** " + CLOSING_ACTIONS, "",
              *(f"- {closing_advice(env, rows)}" for env, rows in rows_by_env.items())]
    if replace_between(paths.REPO / "README.md", "closing", "\n".join(lines)):
        print("  wrote the closing comparison of README.md")
    else:
        print("  README.md has no <!-- results:closing --> marker; closing comparison not written")
