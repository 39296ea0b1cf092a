"""What the numbers were measured on and which code they came from: the machine, the git state, and the one
line above every generated table that says what ran."""
import os
import platform
import subprocess
from collections import Counter
from pathlib import Path

import paths


def machine():
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return dict(cpu=cpu, cores=os.cpu_count(), python=platform.python_version(), torch=torch.__version__,
                os=platform.platform(terse=True))


def load_average():
    """The 1-minute load average (None where the OS keeps none): how busy the shared machine was. Absolute
    speeds swing 2-5x with it, so every result records it at its job's start and end."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


# What the runner itself writes while a suite runs: not a change to the code that ran.
# The report rewrites the READMEs' tables and redraws the plots after every run, and docs never change what
# runs: Markdown and plots do not count either.
OUTPUTS = [":(exclude)benchmarks/results", ":(exclude)benchmarks/results-next",  # the suite in progress (README)
           ":(exclude)benchmarks/runs", ":(exclude)benchmarks/sweeps",
           ":(exclude)models",  # the best seed's model is copied to models/<part>/
           ":(exclude,glob)**/*.md", ":(exclude,glob)**/plots/**"]


def git_state(part):
    """{"commit", "dirty", "part_dirty"}: HEAD, whether `git status --porcelain` lists anything, and whether
    it lists anything in the job's part or in benchmarks/ (None for all three outside a git checkout). The
    results files, run folders, sweeps, models, README tables and plots the runner writes itself do not count,
    nor does any other Markdown file."""
    def git(*args):
        done = subprocess.run(["git", *args], cwd=paths.REPO, capture_output=True, text=True)
        if done.returncode != 0:
            raise OSError(done.stderr)
        return done.stdout.strip()

    try:
        return dict(commit=git("rev-parse", "HEAD"), dirty=bool(git("status", "--porcelain", "--", ".", *OUTPUTS)),
                    part_dirty=bool(git("status", "--porcelain", "--", part, "benchmarks", *OUTPUTS)))
    except OSError:
        return dict(commit=None, dirty=None, part_dirty=None)


def run_code(r):
    """The code one result came from, in words: its commit and a word on uncommitted changes."""
    if r.get("commit") is None:
        return "no commit recorded (results files from before they recorded one)"
    text = f"commit `{r['commit'][:10]}`"
    if r.get("part_dirty"):
        text += " with uncommitted changes in this part or benchmarks/"
    elif r.get("dirty"):
        text += " (uncommitted changes elsewhere in the tree)"
    return text


def code_text(results):
    """Which code the results come from: every distinct commit (with its word on uncommitted changes)."""
    return "; ".join(dict.fromkeys(run_code(r) for r in results))


def code_line(results):
    """Which code the results come from, short enough for one line: one or two kinds of run are named with how
    many runs each; more (several commits) are summed up as the number of commits, the one most runs came
    from, and how many ran with uncommitted changes (each results file names its own commit)."""
    kinds = Counter(run_code(r) for r in results)
    if len(kinds) == 1:
        return f"code at {next(iter(kinds))}"
    if len(kinds) == 2:
        return "code at " + ", ".join(f"{text} ({n} run{'s' if n > 1 else ''})" for text, n in kinds.items())
    commits = Counter(r["commit"][:10] for r in results if r.get("commit"))
    text = f"code at {len(commits)} commits"
    if commits:
        top, n = commits.most_common(1)[0]
        text += f" (the most runs, {n} of {len(results)}, at `{top}`; each results file names its own)"
    changed = sum(bool(r.get("part_dirty")) for r in results)
    if changed:
        text += f", {changed} of {len(results)} runs with uncommitted changes in this part or benchmarks/"
    unrecorded = sum(r.get("commit") is None for r in results)
    if unrecorded:
        text += f", {unrecorded} from results files that recorded no commit"
    return text


def load_text(results):
    """The range of the 1-minute load averages the results recorded (older files recorded none)."""
    recorded = [r for r in results if any(x is not None for x in (r.get("load_average") or []))]
    loads = [x for r in recorded for x in r["load_average"] if x is not None]
    if not loads:
        return ""
    which = "" if len(recorded) == len(results) else f" (the {len(recorded)} of {len(results)} runs that recorded it)"
    return f"; 1-minute load average at the jobs' starts and ends {min(loads):.1f}-{max(loads):.1f}{which}"


def machine_text(results):
    """The machines of the results in a few words: the CPUs, then cores, torch and Python (each once when the
    runs agree)."""
    machines = [r["machine"] for r in results if r.get("machine")]
    if not machines:
        return "a machine the results files do not record"
    cpus = list(dict.fromkeys(m.get("cpu", "?") for m in machines))

    def each(key, unit=""):
        values = list(dict.fromkeys(str(m[key]) for m in machines if m.get(key) is not None))
        return f"{'/'.join(values)}{unit}" if values else None

    details = [d for d in (each("cores", " cores"), each("torch") and f"torch {each('torch')}",
                           each("python") and f"Python {each('python')}") if d]
    if len(cpus) == 1:
        return ", ".join([cpus[0], *details])
    return f"{', '.join(cpus[:-1])} and {cpus[-1]}" + (f" ({', '.join(details)})" if details else "")


def seeds_text(seeds):
    """[101, 102, 103, 105] -> "101-103, 105": runs of three or more consecutive seeds as a range."""
    seeds, pieces, start = sorted(set(seeds)), [], None
    for i, seed in enumerate(seeds):
        start = seed if start is None else start
        if i + 1 == len(seeds) or seeds[i + 1] != seed + 1:
            pieces.append(str(start) if seed == start else f"{start}, {seed}" if seed == start + 1 else f"{start}-{seed}")
            start = None
    return ", ".join(pieces)


def header(command, results, listed):
    """The one line above a generated table: what ran (`command`), on which seeds (of the `listed` ones), on
    which machine, under what load, from which code."""
    ran = sorted({r["seed"] for r in results if r.get("seed") is not None})
    seeds = f"seed{'s' if len(ran) > 1 else ''} {seeds_text(ran)}" if ran else "no seed yet"
    if set(listed) - set(ran):
        seeds += f" (of the {seeds_text(listed)} the suite lists)"
    return (f"Ran `{command}`: {seeds} on {machine_text(results)}{load_text(results)}; {code_line(results)}.")
