"""Each part's results table, written into its README between `<!-- results:<suite> -->` markers, the best
seed's model shipped to models/<part>/, and the summary in words a reader's run ends with.

Per job, over its seeds: the IQM of the best models' final greedy tests with its 95% confidence interval; the
success fraction at the job's threshold with its interval; how many seeds' evaluations reached the threshold
and the median env steps and seconds to it; the claims, judged once every listed seed has run; and the command
that reproduces a final test. Then every run's own row, the side-by-side speed sentences, and the comparison
with Stable-Baselines3 on the same seeds.
"""
import math
import sys
from dataclasses import dataclass

import commands
import jobs
import paths
import figures
import provenance
import stats
from results import final_score, final_words, first_hit, load_results, number, score_digits, short_error
from suites import SUITES, CommandJob, Job, PeerJob, SideBySideJob

fmt = number
MARK = {True: "✅", False: "❌", None: ""}


# ---------- one seed ----------

def passes(job, r, success=True):
    """True/False against every claim a single seed can be judged on, None when the job makes none: the older
    per-seed claims (target, last_target, max_steps, max_minutes, speed_target), the collection speed, and (with `success`)
    the seed's own success when the job claims a success fraction."""
    success_target = getattr(job, "success_target", None) if success else None
    claims = (job.target, job.last_target, job.max_steps, getattr(job, "max_minutes", None), job.speed_target,
              getattr(job, "collect_target", None), success_target)
    if all(claim is None for claim in claims):
        return None
    ok = job.target is None or r["final"][job.metric] >= job.target
    ok &= job.last_target is None or (bool(r["curve"]) and r["curve"][-1][1] >= job.last_target)
    ok &= job.max_steps is None or (r["steps_to_threshold"] is not None and r["steps_to_threshold"] <= job.max_steps)
    max_minutes = getattr(job, "max_minutes", None)
    ok &= max_minutes is None or (r["seconds_to_threshold"] is not None and r["seconds_to_threshold"] <= 60 * max_minutes)
    compared = r.get("compared_steps_per_second", r["steps_per_second"])
    ok &= job.speed_target is None or compared >= job.speed_target * r["raw_steps_per_second"]
    collect = getattr(job, "collect_target", None)
    ok &= collect is None or (bool(r.get("collect")) and
                              r["collect"]["collect_steps_per_second"] >= collect * r["collect"]["raw_steps_per_second"])
    ok &= success_target is None or final_score(job, r) >= job.threshold
    return bool(ok)


def failed_row(label, r):
    return f"| {label} | {r['seed']} | failed | — | — | — | — | failed: {short_error(r['error'])} ❌ |"


def speed_cell(r):
    """steps/s of the whole run; where measured, the raw env rate and (side by side) collection against it."""
    speed = fmt(r["steps_per_second"])
    if r.get("raw_steps_per_second"):
        compared = r.get("compared_steps_per_second", r["steps_per_second"])
        if r.get("speed_key", "steps_per_second") != "steps_per_second":
            speed += f"; collection {fmt(compared)}"
        speed += f" / raw {fmt(r['raw_steps_per_second'])} ({compared / r['raw_steps_per_second']:.0%})"
    if r.get("collect"):
        c = r["collect"]
        speed += (f"; collection {fmt(c['collect_steps_per_second'])} / raw {fmt(c['raw_steps_per_second'])} "
                  f"({c['collect_steps_per_second'] / c['raw_steps_per_second']:.0%}, side by side)")
    return speed


def job_rows(job, results):
    """One Markdown row per seed, passes and failures alike (a run that failed says so, with its error)."""
    rows = []
    for r in results:
        if r.get("failed"):
            rows.append(failed_row(r["label"], r))
            continue
        final = r["final"]
        digits = score_digits(final["mean"])
        final_text = f"{final['mean']:.{digits}f} ± {final['std']:.{digits}f} ({final['episodes']} ep)"
        if job.metric == "success_rate":
            final_text = f"success {final['success_rate']:.3f} ({final['episodes']} ep)"
        verdict = {True: " ✅", False: " ❌", None: ""}[passes(job, r)]
        rows.append(f"| {r['label']} | {r['seed']} | {fmt(r['steps'])} | {fmt(r['steps_to_threshold'])} | "
                    f"{fmt(r['seconds_to_threshold'], 1)} | {speed_cell(r)} | "
                    f"{fmt(r['curve'][-1][1] if r['curve'] else None, digits)} | {final_text}{verdict} |")
    return rows


def side_by_side_rows(job, results):
    """Two rows per seed, ours and SB3's, from the same side-by-side run."""
    rows = []
    for r in results:
        if r.get("failed"):
            rows.append(failed_row(f"{job.label}, side by side", r))
            continue
        for name, side in (("ours", r["ours"]), ("SB3", r["peer"])):
            hit = first_hit(side["curve"], job.threshold)
            last = side["curve"][-1][1] if side["curve"] else None
            final = side.get("final")
            final_text = "—" if final is None else (f"{final['mean']:.1f} ± {final['std']:.1f} "
                                                    f"({final['episodes']} ep, final policy)")
            rows.append(f"| {job.label}, side by side: {name} | {r['seed']} | {fmt(side['steps'])} | "
                        f"{fmt(hit[0] if hit else None)} | {fmt(hit[1] if hit else None, 1)} | "
                        f"{fmt(side['steps_per_second'])} | {fmt(last, 1)} | {final_text} |")
    return rows


def side_by_side_note(job, results):
    """The sentence of a SideBySideJob: each side's steps/s and seconds to the threshold, seed by seed, the
    ratios, and the verdict on its claims (>= peer_speed_target x the peer's steps/s and less time to the
    threshold, every seed; the peer never reaching it counts as more time)."""
    def seconds(side):
        hit = first_hit(side["curve"], job.threshold)
        return None if hit is None else hit[1]

    results = [r for r in results if not r.get("failed")]  # failed seeds have their own rows
    if not results:
        return []
    ratios = [r["ours"]["steps_per_second"] / r["peer"]["steps_per_second"] for r in results]
    per_seed = "; ".join(
        f"seed {r['seed']}: {fmt(r['ours']['steps_per_second'])} vs {fmt(r['peer']['steps_per_second'])} steps/s "
        f"({x:.2f}x), {fmt(seconds(r['ours']), 1)} s vs {fmt(seconds(r['peer']), 1)} s to {job.threshold:g}"
        for r, x in zip(results, ratios))
    budget = "" if job.total_steps is None else f" --total-steps {job.total_steps}"
    text = (f"**{job.label} against Stable-Baselines3, side by side** (`benchmarks/side_by_side.py "
            f"{job.pair}{budget}`: both trainings in one process, one torch thread each, taking turns at every "
            f"evaluation, so both meet the same machine; each clock counts its own training only), ours vs "
            f"SB3: {per_seed}.")
    if job.peer_speed_target is not None:
        faster = all(x >= job.peer_speed_target for x in ratios)
        sooner = all(seconds(r["ours"]) is not None and (seconds(r["peer"]) is None or
                     seconds(r["ours"]) < seconds(r["peer"])) for r in results)
        text += (f" Claims, every seed: >= {job.peer_speed_target:g}x SB3's steps per second "
                 f"{'✅' if faster else '❌'}; less training time to {job.threshold:g} {'✅' if sooner else '❌'}.")
    return ["", text]


# ---------- one job, over its seeds ----------

@dataclass
class JobStats:
    """A job's figures over the seeds that ran: the protocol's statistics."""
    job: object
    done: list          # results of the seeds that ran to the end
    failed: list        # seeds whose run failed
    missing: list       # listed seeds without a results file
    scores: list        # each done seed's final test score (the job's metric)
    success: stats.Success
    reach: stats.Reach  # from the evaluation curves, at the job's threshold

    @property
    def iqm(self):
        """(IQM, low, high) of the scores with its bootstrap interval (rliable), None without any."""
        return stats.iqm_ci(self.scores) if self.scores else None

    @property
    def complete(self):
        """Every listed seed has a results file (failed ones included): the claims can be judged."""
        return not self.missing


def job_stats(job, results, score=None):
    """JobStats of a job from load_results(..., failed=True); `score` sets another threshold (the closing
    comparison judges every part at the env's own score)."""
    threshold = job.threshold if score is None else score
    done = [r for r in results if not r.get("failed")]
    failed = [r["seed"] for r in results if r.get("failed")]
    ran = {r["seed"] for r in results}
    scores = [final_score(job, r) for r in done]
    # a run that failed has no model: it counts as a seed that did not succeed, nor reach the threshold
    return JobStats(job=job, done=done, failed=failed, missing=[s for s in job.seeds if s not in ran], scores=scores,
                    success=stats.success(scores + [-math.inf] * len(failed), threshold),
                    reach=stats.reach([r["curve"] for r in done] + [[]] * len(failed), threshold))


def seeds_cell(js):
    """How many seeds ran, of the listed ones, and which failed or have not run."""
    listed = len(js.job.seeds)
    text = f"{len(js.done)}" if len(js.done) == listed else f"{len(js.done)} of {listed}"
    notes = ([f"{provenance.seeds_text(js.failed)} failed"] if js.failed else []) + \
            ([f"{provenance.seeds_text(js.missing)} not run yet"] if js.missing else [])
    return text + (f" ({'; '.join(notes)})" if notes else "")


def iqm_cell(js, digits=None):
    if js.iqm is None:
        return "—"
    value, low, high = js.iqm
    d = score_digits(value) if digits is None else digits
    return f"{value:.{d}f} [{low:.{d}f}, {high:.{d}f}]"


def success_cell(js, threshold):
    s = js.success
    if s.seeds == 0:
        return "—"
    return f"{s.succeeded}/{s.seeds} at {threshold:g} [{s.low:.2f}, {s.high:.2f}]"


def reach_cell(reach):
    """"3 of 3: 12,500 steps, 10.2 s" (medians over the seeds that reached it)."""
    if reach.seeds == 0:
        return "—"
    text = f"{reach.reached} of {reach.seeds}"
    if reach.reached:
        seconds = "seconds not recorded" if reach.seconds is None else f"{fmt(reach.seconds, 1)} s"
        text += f": {fmt(reach.steps)} steps, {seconds}"
    return text


def claims(job, js, peer=None):
    """[(words, verdict)]: the job's claims over all its listed seeds. Verdict None until every listed seed has
    a results file; a failed run fails the claim. `peer`: (PeerJob, its JobStats, P(ours > SB3) or None)."""
    judged = js.complete
    out = []
    if job.success_target is not None:
        need = math.ceil(job.success_target * len(job.seeds) - 1e-9)
        out.append((f"success {js.success.succeeded}/{js.success.seeds}, needs {need}/{len(job.seeds)} at "
                    f"{job.threshold:g}", js.success.succeeded >= need if judged else None))
    if job.iqm_target is not None and js.scores:
        value = stats.iqm(js.scores)  # the point alone: the summary in words needs no bootstrap
        out.append((f"IQM {value:.{score_digits(value)}f} {'>=' if value >= job.iqm_target else '<'} "
                    f"{job.iqm_target:g}", (value >= job.iqm_target and not js.failed) if judged else None))
    per_seed = [job.target, job.last_target, job.max_steps, job.max_minutes, job.speed_target, job.collect_target]
    if any(claim is not None for claim in per_seed):
        ok = [passes(job, r, success=False) for r in js.done]
        out.append((f"every seed's own claims: {sum(ok)} of {len(js.done) + len(js.failed)} hold",
                    (all(ok) and not js.failed) if judged else None))
    if peer is not None and peer[0].improvement_target is not None:
        peer_job, peer_stats, p = peer
        if p is None:
            out.append((f"P(ours > SB3) > {peer_job.improvement_target:g}, SB3's runs not run yet", None))
        else:
            out.append((f"P(ours > SB3) {p:.2f} {'>' if p > peer_job.improvement_target else '<='} "
                        f"{peer_job.improvement_target:g}",
                        (p > peer_job.improvement_target) if judged and peer_stats.complete else None))
    return out


def claim_cell(job, js, peer=None):
    judged = claims(job, js, peer)
    ran = len(js.done) + len(js.failed)
    if not ran:  # listed, so a reader of the chapter's claims finds its row, but not run yet
        return f"not run yet: claims {job.target_text}" if job.target_text else "not run yet"
    if not judged:
        return "reported, not claimed"
    if any(verdict is None for _, verdict in judged):
        why = f"{ran} of {len(job.seeds)} seeds run" if ran < len(job.seeds) else "SB3's seeds to come"
        return f"not judged yet ({why}): " + "; ".join(words for words, _ in judged)
    return "; ".join(f"{MARK[verdict]} {words}" for words, verdict in judged)


def summary_row(job, js, peer=None):
    return (f"| {job.label} | {seeds_cell(js)} | {iqm_cell(js)} | {success_cell(js, job.threshold)} | "
            f"{reach_cell(js.reach)} | {claim_cell(job, js, peer)} |")


def best_result(job, results):
    """The seed whose best model tested best (the one shipped)."""
    return max(results, key=lambda r: final_score(job, r))


def is_shipped(path, r):
    """Whether the checkpoint at `path` is run `r`'s best model: trained with its seed, saved at its best
    evaluation's step with that evaluation's score. The table says "shipped" only of the model in models/."""
    import pickle
    import torch
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        seed, step, score = checkpoint["config"]["seed"], checkpoint["step"], checkpoint["eval_return"]
    except (OSError, RuntimeError, pickle.UnpicklingError, KeyError, TypeError):  # no file, no checkpoint, no seed
        return False
    return (seed == r["seed"] and step == r.get("best_step") and r.get("best_eval") is not None
            and math.isclose(score, r["best_eval"], rel_tol=1e-9, abs_tol=1e-9))


def test_line(job, results):
    """How a reader reproduces a final test of the table: the part's test.py, the seed 100000 + N."""
    done = [r for r in results if not r.get("failed")]
    if not done:
        return None
    best = best_result(job, done)
    shipped = f"models/{job.part}/{job.ship}" if job.ship else None
    if shipped and is_shipped(paths.REPO / shipped, best):
        model, where = shipped, f"seed {best['seed']}'s best model, shipped"
    elif best.get("model"):
        model, where = best["model"], f"seed {best['seed']}'s best model, in its run folder on the machine that ran it"
    else:
        model, where = "MODEL", f"MODEL: seed {best['seed']}'s best model (its results file names none)"
    command = " ".join(["python", *jobs.test_command(job, model, best["seed"])])
    return f"- {job.label}: `{command}` ({where})"


# ---------- ours against Stable-Baselines3, same seeds ----------

def peer_figures(peer_job, suite, results):
    """(our JobStats, SB3's JobStats) for a PeerJob."""
    ours_job = next((j for j in SUITES[suite] if isinstance(j, Job) and j.name == peer_job.versus
                     and j.part == peer_job.part), None)
    if ours_job is None:
        raise ValueError(f"{peer_job.name} compares SB3 with {peer_job.versus!r}, which the {suite} suite has no "
                         f"job of that name in {peer_job.part}")
    ours = job_stats(ours_job, load_results(suite, ours_job, failed=True, results=results))
    theirs = job_stats(peer_job, load_results(suite, peer_job, failed=True, results=results))
    return ours, theirs


def peer_scores(js):
    """A side's scores for P(ours > SB3): a failed run has no policy, so it loses to every run of the other side
    (-inf; two failures tie)."""
    return js.scores + [-math.inf] * len(js.failed)


def final_policies(ours):
    """Our JobStats judged as SB3's runs are: each seed's final policy (the last greedy evaluation of training,
    at the full budget) in place of its best saved model's final test."""
    job = ours.job
    as_final = [r | {"final": {**r["final"], getattr(job, "metric", "mean"): r["curve"][-1][1]}} for r in ours.done
                if r["curve"]]
    return job_stats(job, as_final + [{"seed": s, "failed": True} for s in ours.failed])


def against(job, suite, results=None):
    """(the PeerJob of `job`, SB3's JobStats, P(ours > SB3) or None) when the suite compares the job with SB3: the
    final policies of both, since SB3's runs keep no best model."""
    peer = next((p for p in SUITES[suite] if isinstance(p, PeerJob) and p.versus == job.name and p.part == job.part),
                None)
    if peer is None:
        return None
    ours, theirs = peer_figures(peer, suite, results)
    ours = final_policies(ours)
    p = (stats.probability_of_improvement(peer_scores(ours), peer_scores(theirs)) if ours.scores and theirs.scores
         else None)
    return peer, theirs, p


def peer_block(peer_job, suite, results, draw):
    """The comparison with SB3 on the same seeds: both sides' statistics, the probability of improvement, and
    (full suite) a figure of both sample-efficiency curves."""
    ours, theirs = peer_figures(peer_job, suite, results)
    last = final_policies(ours)
    p = stats.improvement(peer_scores(last), peer_scores(theirs)) if last.scores and theirs.scores else None
    p_best = stats.improvement(peer_scores(ours), peer_scores(theirs)) if ours.scores and theirs.scores else None
    command = f"../shared/peers/sb3_anchor.py {' '.join(jobs.peer_command(peer_job, 'N'))}"
    head = (f"**{ours.job.label} against Stable-Baselines3's {peer_job.algo.upper()}** with rl-baselines3-zoo's "
            f"settings, on the same seeds and budget (`{command}` in the SB3 Python, for seed N)")
    if not theirs.done and not theirs.failed:
        return ["", f"{head}: SB3's runs have not run yet ({len(peer_job.seeds)} seeds listed)."]
    lines = ["", f"{head}:", "",
             f"| | seeds | final greedy test: IQM [95% CI] | success at {peer_job.threshold:g} [95% CI] | "
             f"evaluations at {peer_job.threshold:g}: seeds, median env steps, seconds |", "|---|---|---|---|---|"]
    for name, js in (("ours, final policy (the last evaluation of training)", last),
                     ("SB3, final policy (20 episodes)", theirs),
                     (f"ours, best saved model ({ours.job.final_episodes} episodes)", ours)):
        lines.append(f"| {name} | {seeds_cell(js)} | {iqm_cell(js)} | {success_cell(js, peer_job.threshold)} | "
                     f"{reach_cell(js.reach)} |")
    if p is not None:
        text = (f"Probability of improvement, final policies, P(ours > SB3): {p[0]:.2f} [{p[1]:.2f}, {p[2]:.2f}] "
                f"(rliable: the chance that one of our seeds' final policies beats one of SB3's, with its 95% "
                f"stratified-bootstrap interval)")
        if peer_job.improvement_target is not None:
            verdict = (p[0] > peer_job.improvement_target) if ours.complete and theirs.complete else None
            text += (f"; claim: above {peer_job.improvement_target:g} " +
                     (MARK[verdict] if verdict is not None else "(not judged until every seed of both has run)"))
        lines += ["", text + "."]
    if p_best is not None:
        lines += ["", f"Our best saved models against SB3's final policies: P(ours > SB3) {p_best[0]:.2f} "
                      f"[{p_best[1]:.2f}, {p_best[2]:.2f}]. That is what each tool hands its user as sb3_anchor.py "
                      f"runs SB3 (no best model kept), not a like-for-like comparison of the algorithms"
                      + ("; the claim is judged on the final policies." if peer_job.improvement_target is not None
                         else ".")]
    if draw and ours.done and theirs.done:
        (paths.REPO / peer_job.part / "plots").mkdir(exist_ok=True)
        figures.plot_peer(peer_job, ours.done, theirs.done, paths.REPO / peer_job.part / "plots" / f"{peer_job.name}.png")
        lines += ["", f"![{ours.job.label}, ours and SB3's](plots/{peer_job.name}.png)"]
    return lines


# ---------- a part's section ----------

DEFINITIONS = (
    "Per job, over its seeds: the IQM (interquartile mean, the mean of the middle half of the seeds; with 3 "
    "seeds, their mean) of the best models' final greedy tests, with its 95% stratified-bootstrap confidence "
    "interval (rliable); success, the seeds whose best model's final test is at or above the job's threshold, "
    "with a 95% Wilson interval; and, from the greedy evaluations during training (not the final test), how "
    "many seeds reached the threshold and the median env steps and training seconds (evaluation excluded) to "
    "the first evaluation that did, over those seeds. A claim is judged once every listed seed has run.")


def replace_between(path, name, body):
    """Put `body` between the `<!-- results:name -->` markers of `path`; False if it has none."""
    text = path.read_text()
    start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    paths.write_atomically(path, f"{head}{start}\n{body}\n{end}{rest.split(end, 1)[1]}")
    return True


def part_section(suite, part, results=None, draw=True):
    """The Markdown of a part's results (None when none of its jobs has results)."""
    part_jobs = [j for j in SUITES[suite] if j.part == part and not isinstance(j, CommandJob)]
    summary, tests, rows, notes, peers, everything = [], [], [], [], [], []
    for job in part_jobs:
        found = load_results(suite, job, failed=True, results=results)
        if isinstance(job, PeerJob):
            peers += peer_block(job, suite, results, draw and suite == "full")
            everything += found
            continue
        if not found:
            if not isinstance(job, SideBySideJob) and suite == "full":  # a claim the chapter states, still to run
                summary.append(summary_row(job, job_stats(job, [])))
            continue
        everything += found
        if isinstance(job, SideBySideJob):
            rows += side_by_side_rows(job, found)
            notes += side_by_side_note(job, found)
            continue
        js = job_stats(job, found)
        summary.append(summary_row(job, js, against(job, suite, results)))
        rows += job_rows(job, found)
        tests += [line for line in [test_line(job, found)] if line]
        if draw and suite == "full" and js.done:  # the READMEs show the full suite's curves, never quick's
            (paths.REPO / part / "plots").mkdir(exist_ok=True)
            figures.plot_job(job, js.done, paths.REPO / part / "plots" / f"{job.name}.png")
    if not rows and not peers:
        return None
    listed = sorted({s for j in part_jobs for s in j.seeds})
    lines = [provenance.header(f"python benchmarks/run.py {suite} --part {part} --update-docs", everything, listed),
             "", DEFINITIONS]
    if summary:
        lines += ["", "| job | seeds | final greedy test: IQM [95% CI] | success: final test at the threshold "
                      "[95% CI] | evaluations at the threshold: seeds, median env steps, median seconds | claim |",
                  "|---|---|---|---|---|---|", *summary]
    if tests:
        lines += ["", f"The final tests, reproduced (test.py plays seed N's best model on episodes seeded from "
                      f"`--seed 100000+N`):", "", *tests]
    lines += ["", "Every run (first evaluation at the threshold: from the greedy evaluations during training; final: "
                  "the best saved model on fresh episodes):", "",
              "| run | seed | env steps | first evaluation at the threshold: env steps | training seconds to it | "
              "steps/s | last eval | final greedy test |",
              "|---|---|---|---|---|---|---|---|", *rows, *notes, *peers]
    return "\n".join(lines)


def report(suite, parts, results=None, draw=True):
    """Every part's table into its README (and, for the full suite, its figures)."""
    for part in parts:
        section = part_section(suite, part, results, draw)
        if section is None:
            continue
        readme = paths.REPO / part / "README.md"
        if readme.exists() and replace_between(readme, suite, section):
            print(f"  wrote the {suite} table of {paths.rel(readme)}")
        else:
            print(f"  {paths.rel(readme)} has no <!-- results:{suite} --> marker; table not written")


def ship(suite, job, results=None):
    """Copy the best seed's model (by the final greedy test) to models/<part>/, and draw its plot."""
    done = load_results(suite, job, results=results)
    best = best_result(job, done)
    target = paths.REPO / "models" / job.part / job.ship
    if not (paths.REPO / best["model"]).exists():  # a run kept from another machine (--missing-only): no file here
        print(f"  not shipped: seed {best['seed']}'s model ({best['model']}) is not on this machine; "
              f"{paths.rel(target)} stays as it is")
        return
    commands.doing(f"stopped while shipping {job.name}'s best model (the file in models/ is whole, old or new) or "
                   f"drawing its plot; `--report-only` writes the tables")
    target.parent.mkdir(parents=True, exist_ok=True)
    paths.write_atomically(target, (paths.REPO / best["model"]).read_bytes())
    print(f"  shipped seed {best['seed']} ({job.metric} {best['final'][job.metric]}) as {paths.rel(target)}")
    if job.plot:
        (paths.REPO / job.part / "plots").mkdir(exist_ok=True)
        commands.run([sys.executable, f"{job.part}/test.py", paths.rel(target), "--episodes", "1",
                      "--plot", f"{job.part}/plots/{job.name}_model.png"])


# ---------- the summary in words a run ends with ----------

def summary(suite, suite_jobs, results=None):
    """Lines in plain words: each run's outcome against its threshold (or its failure), each claim's verdict,
    and the count. Reads the results files of `suite_jobs` (a reader's run: the scratch folder)."""
    lines, finished, failed, passed = [], 0, 0, 0
    for job in suite_jobs:
        if isinstance(job, CommandJob):
            continue
        found = load_results(suite, job, failed=True, results=results)
        for r in found:
            name = f"{job.label}, seed {r['seed']}"
            if r.get("failed"):
                failed += 1
                lines.append(f"  {name}: FAILED ({short_error(r['error'])}).")
                continue
            finished += 1
            if isinstance(job, SideBySideJob):
                ours, peer = r["ours"]["steps_per_second"], r["peer"]["steps_per_second"]
                lines.append(f"  {name}: side by side with SB3, ours {ours:,.0f} against {peer:,.0f} steps per "
                             f"second ({ours / peer:.2f} times).")
                continue
            ok = final_score(job, r) >= job.threshold
            passed += ok
            hit = first_hit(r["curve"], job.threshold)
            model = "final policy" if isinstance(job, PeerJob) else "best model"
            lines.append(f"  {name}: {'PASS' if ok else 'BELOW'}: its {model}'s final test is {final_words(job, r)}, "
                         f"{'at or above' if ok else 'below'} the threshold {job.threshold:g}; its evaluations "
                         + (f"first reached {job.threshold:g} at {hit[0]:,} env steps." if hit else
                            f"never reached {job.threshold:g}."))
        if isinstance(job, Job) and found:
            judged = claims(job, job_stats(job, found), against(job, suite, results))
            for words, verdict in judged:
                state = {True: "holds", False: "does not hold",
                         None: f"not judged yet ({len(found)} of {len(job.seeds)} seeds run)"}[verdict]
                lines.append(f"  Claim of {job.label} ({words}): {state}.")
    runs = finished + failed
    lines.append(f"In all: {runs} run{'s' if runs != 1 else ''}, {finished} finished and {failed} failed; "
                 f"{passed} reached their threshold in the final test.")
    return lines
