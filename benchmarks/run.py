"""Run a benchmark suite; with --update-docs (or --report-only), write every part's results table and figures.

    python benchmarks/run.py quick                      # a few minutes: is everything still learning? (a summary in words)
    python benchmarks/run.py full --part part2_dqn      # one part's jobs; --job NAME: jobs with this name
    python benchmarks/run.py full --report-only         # the tables, figures and closing comparison, from the tracked results
    python benchmarks/run.py full --update-docs --ray --missing-only   # the maintainers' run (benchmarks/README.md)

A run writes its results files to benchmarks/runs/results/<suite>/ (which git ignores) and ends with a summary
in plain words: what each run reached and which claims hold. Nothing git tracks changes. With --update-docs
the results files go to benchmarks/results/<suite>/ (tracked), and the report rewrites each part's README table
(between its `<!-- results:<suite> -->` markers), draws `<part>/plots/<job>.png` and ships the best seed's model
to models/<part>/ (full suite), and writes the series' closing comparison in the top-level README (full suite).
--report-only does that report alone, from the results files as they are.

Jobs run one after another (never side by side: the machine has two cores), each with one torch thread.
With --ray, each (job, seed) of a Job or PeerJob runs as a Ray task instead (same commands, files returned to
this repo; side-by-side and command jobs run afterwards, alone). The code, by concern:

    suites.py      the jobs                          jobs.py        what one (job, seed) runs and records
    commands.py    running a command, stopping       pool.py        the Ray pool
    results.py     results files                     stats.py       IQM, intervals, success, rliable
    tables.py      the parts' tables, shipping       figures.py     the figures
    closing.py     the closing comparison            provenance.py  machine, git state, the header line
"""
import argparse
import dataclasses
import signal
import sys
from pathlib import Path

import commands
import jobs
import paths
import provenance
from closing import closing_report
from commands import CommandFailed, UserError, doing
from pool import run_with_ray
from results import describe, folder, is_missing, load_results, results_path, save_result
from suites import SUITES, CommandJob, Job
from tables import report, ship, summary


def run_sequentially(suite, suite_jobs, missing_only, results=None, update_docs=True):
    """Every (job, seed) one after another, in the suite's order; the first failure stops the suite."""
    for job in suite_jobs:
        if isinstance(job, CommandJob):
            if job.writes_tracked and not update_docs:
                print(f"{suite}/{job.name} skipped: it redraws a README's figure (runs with --update-docs)")
            else:
                jobs.run_command_job(suite, job)
            continue
        for seed in job.seeds:
            path = results_path(suite, job, seed, results)
            if missing_only and not is_missing(path):
                continue
            print(f"{suite}/{job.name} seed {seed} ...", flush=True)
            result = jobs.run_one(suite, job, seed, provenance.git_state(job.part))  # the code before the run
            if result is not None:
                save_result(path, result)
                print(describe(job, result), flush=True)
            doing("stopped between runs; `--missing-only` runs the rest")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--part", action="append", help="only this part's jobs (repeatable)")
    parser.add_argument("--job", action="append", help="only jobs with this name (repeatable)")
    parser.add_argument("--update-docs", action="store_true",
                        help="write the tracked results files (benchmarks/results/), then the READMEs' tables, the "
                             "figures, the shipped models and the closing comparison")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: write the tables, figures and closing comparison from the results files")
    parser.add_argument("--no-report", action="store_true", help="run the jobs and write their results files only")
    parser.add_argument("--seed", type=int, action="append",
                        help="only this seed of each job (repeatable; jobs without seeds, such as comparison "
                             "scripts, are left out): two runners with different seeds use both cores")
    parser.add_argument("--missing-only", action="store_true",
                        help="run only the (job, seed) pairs without a results file or whose run failed")
    parser.add_argument("--ray", action="store_true",
                        help="run the jobs as Ray tasks (a local Ray unless --ray-address); needs "
                             "benchmarks/requirements-ray.txt")
    parser.add_argument("--ray-address", help="join this Ray cluster (implies --ray), e.g. ray://head:10001 or auto")
    parser.add_argument("--results-dir", type=Path, default=None,
                        help="read and write the results files here instead (default: benchmarks/runs/results, or "
                             "benchmarks/results with --update-docs or --report-only)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, commands.stop_on_sigterm)
    try:
        run_suite(args)
    except KeyboardInterrupt:
        print(commands.IN_PROGRESS, file=sys.stderr)  # what the phase it stopped in left (finished runs keep their files)
        sys.exit(130)


def select(args):
    """(jobs, parts, runs): the suite's jobs --part and --job select, their parts, and what runs (--seed)."""
    for flag, asked, known in (("--part", args.part, {j.part for j in SUITES[args.suite]}),
                               ("--job", args.job, {j.name for j in SUITES[args.suite]})):
        unknown = sorted(set(asked or []) - known)
        if unknown:
            print(f"error: {flag} {', '.join(unknown)}: not in the {args.suite} suite (it has: "
                  f"{', '.join(sorted(known))})", file=sys.stderr)
            sys.exit(2)
    selected = [j for j in SUITES[args.suite]
                if (not args.part or j.part in args.part) and (not args.job or j.name in args.job)]
    parts = args.part or sorted({j.part for j in SUITES[args.suite]})
    if args.seed:
        unknown = sorted(set(args.seed) - {s for j in selected for s in j.seeds})
        if unknown:
            print(f"error: --seed {', '.join(map(str, unknown))}: no selected job runs it", file=sys.stderr)
            sys.exit(2)
    runs = selected if not args.seed else [dataclasses.replace(j, seeds=[s for s in j.seeds if s in args.seed])
                                           for j in selected if not isinstance(j, CommandJob)]
    return selected, parts, runs


def run_suite(args):
    selected, parts, runs = select(args)
    update = args.update_docs or args.report_only  # the only ways to write what git tracks
    if args.results_dir is not None:
        root = args.results_dir.resolve()
    else:
        root = paths.RESULTS if update else paths.REPO / paths.SCRATCH
    results = folder(args.suite, root / args.suite)
    failed = 0
    if not args.report_only:
        results.mkdir(parents=True, exist_ok=True)
        try:
            if args.ray or args.ray_address:
                failed = run_with_ray(args.suite, runs, args.missing_only, args.ray_address, results, update)
            else:
                run_sequentially(args.suite, runs, args.missing_only, results, update)
            if update and args.suite == "full":
                for job in selected:
                    if isinstance(job, Job) and job.ship and load_results(args.suite, job, results=results):
                        ship(args.suite, job, results=results)
        except CommandFailed as exc:  # sequential: a broken job is news, the suite stops
            sys.exit(str(exc))
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
    if not args.no_report:
        if update:
            doing("stopped while writing the report: each README and plot is whole, old or new; `--report-only` "
                  "writes them again")
            try:
                report(args.suite, parts, results=results)
                if args.suite == "full":
                    closing_report(results=results)
            except ImportError as exc:  # rliable, for the intervals (the runs' results files are written)
                print(f"error: {exc}", file=sys.stderr)
                sys.exit(2)
        if not args.report_only:
            where = paths.rel(results)
            print(f"\nSummary of this run (results files in {where}/"
                  + ("" if update else ", which git ignores; nothing git tracks was changed: --update-docs writes the "
                                       "READMEs' tables") + "):")
            print("\n".join(summary(args.suite, runs, results)))
    if failed:
        sys.exit(f"{failed} run(s) failed: the tables show them as failed; `--missing-only` runs only them again")


if __name__ == "__main__":
    main()
