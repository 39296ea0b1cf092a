"""Run plumbing shared by this part's scripts: config -> CLI, seeding, run folders, checkpoints, errors.

Nothing here is about reinforcement learning; it is what turns an algorithm into a tool you can trust:
`--help` generated from the config, one TensorBoard folder per run, the best model written atomically,
a progress line when nobody watches a terminal, and bad input reported in one line instead of a traceback.
"""
import argparse
import csv
import dataclasses
import json
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

PART = "part5_sac"
REPO = Path(__file__).resolve().parents[1]  # default folders resolve here wherever the script is run from


class UserError(Exception):
    """Bad input from the user: reported as one line and a non-zero exit, never as a traceback."""


def arg(default, help):
    """A config field with a one-line doc; the doc becomes its `--help` text."""
    if isinstance(default, (list, tuple)):
        return dataclasses.field(default_factory=lambda: list(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def parse_config(config_class, argv=None, description=None, presets=None):
    """Build an argparse CLI from a config dataclass (`env_id` -> `--env-id`) and parse `argv` into it.

    `presets` maps an env id to tuned defaults: `--env-id LunarLanderContinuous-v3` alone gives that
    env's settings (and `--env-id X --help` shows them); any flag given on the command line still wins.
    """
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in dataclasses.fields(config_class):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=f.metadata["help"])
        elif isinstance(default, list):
            parser.add_argument(flag, nargs="+", type=type(default[0]), default=default, help=f.metadata["help"])
        else:
            kind = type(default) if default is not None else str
            parser.add_argument(flag, type=kind, default=default, help=f.metadata["help"])
    if presets:
        # parse the env id first (without --help, which would print and exit before the preset applies)
        known = parser.parse_known_args([a for a in (argv if argv is not None else sys.argv[1:])
                                         if a not in ("-h", "--help")])[0]
        parser.set_defaults(**presets.get(known.env_id, {}))
    return config_class(**vars(parser.parse_args(argv)))


def shown(value, digits=1):
    """A number for a progress line, or "-" while there is none yet (no episode has ended, no evaluation run)."""
    return f"{value:.{digits}f}" if np.isfinite(value) else "-"


def seed_everything(seed):
    """Seed python, numpy and torch once; the env and its action space are seeded at their first reset."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name="auto"):
    """CUDA when there is a GPU (or when asked for), the CPU otherwise."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but torch sees no CUDA GPU")
    if name not in ("cpu", "cuda"):
        raise UserError(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def make_run_dir(log_dir, env_id, algo, seed):
    """One folder per run, `{env}__{algo}__{seed}__{timestamp}`, created now so a bad path fails early."""
    name = f"{env_id}__{algo}__{seed}__{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(log_dir) / name
    suffix = 1
    while run_dir.exists():  # two runs started in the same second
        run_dir = Path(log_dir) / f"{name}-{suffix}"
        suffix += 1
    try:
        run_dir.mkdir(parents=True)
        Path(run_dir, ".write-test").touch()
        Path(run_dir, ".write-test").unlink()
    except OSError as e:
        raise UserError(f"cannot write the log folder {str(log_dir)!r}: {e.strerror}") from None
    return run_dir


def check_writable(folder):
    """Fail before training, not after, when the model folder cannot be written."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        probe = Path(folder, ".write-test")
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise UserError(f"cannot write the model folder {str(folder)!r}: {e.strerror}") from None


def config_markdown(config):
    """The config as a two-column markdown table, for TensorBoard's text tab."""
    rows = "\n".join(f"|{k}|{v}|" for k, v in dataclasses.asdict(config).items())
    return f"|param|value|\n|-|-|\n{rows}"


def save_checkpoint(path, checkpoint):
    """Write atomically: a temporary file, then a rename, so Ctrl-C never leaves half a model behind."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, algos):
    """Load a checkpoint of this part made by one of `algos`, or raise UserError saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no model file at {str(path)!r}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated file, another format, a pickle we refuse to run
        raise UserError(f"{str(path)!r} is not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("part") != PART:
        found = checkpoint.get("part", "unknown") if isinstance(checkpoint, dict) else "unknown"
        raise UserError(f"{str(path)!r} is not a {PART} checkpoint (it comes from {found})")
    if checkpoint.get("algo") not in algos:
        raise UserError(f"{str(path)!r} holds a {checkpoint.get('algo')!r} model; this script loads {' or '.join(algos)}")
    return checkpoint


class EvalLog:
    """`evaluations.csv` in the run folder: one row per greedy evaluation, read by the benchmark runner.

    `train_seconds` counts training only (evaluation time excluded), like the peer benchmarks do.
    """

    def __init__(self, run_dir, keep_until=None):
        """A new file; or, resuming a run at step `keep_until`, the run's file with its rows up to that step
        (rows after it belong to the stretch that was lost with the interruption)."""
        self.path = Path(run_dir) / "evaluations.csv"
        rows = []
        if keep_until is not None and self.path.exists():
            with open(self.path, newline="") as f:
                rows = [row for row in list(csv.reader(f))[1:] if int(row[0]) <= keep_until]
        with open(self.path, "w", newline="") as f:
            csv.writer(f).writerows([["step", "train_seconds", "mean", "std"], *rows])

    def add(self, step, train_seconds, mean, std):
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([step, f"{train_seconds:.3f}", f"{mean:.4f}", f"{std:.4f}"])

    def finish(self, **summary):
        with open(self.path.with_name("summary.json"), "w") as f:
            json.dump(summary, f, indent=2)


class Progress:
    """A tqdm bar on a terminal; otherwise a plain line every 10% of the budget or 30 s, whichever is first.

    A run piped to a file is then never silent for minutes.
    """

    def __init__(self, total, stream=sys.stderr, initial=0):
        """`initial`: the step a resumed run starts from."""
        from tqdm import tqdm

        self.total, self.stream, self.started = total, stream, time.perf_counter()
        self.bar = tqdm(total=total, initial=initial, unit="step", disable=None, smoothing=0.1, file=stream)
        self.next_line_step, self.next_line_time = initial + total // 10, self.started + 30.0

    def update(self, step, text):
        if not self.bar.disable:
            self.bar.update(step - self.bar.n)
            self.bar.set_description(text)
            return
        now = time.perf_counter()
        if step >= self.next_line_step or now >= self.next_line_time:
            print(f"step {step:,}/{self.total:,} ({now - self.started:.0f} s) | {text}", file=self.stream, flush=True)
            self.next_line_step, self.next_line_time = step + self.total // 10, now + 30.0

    def close(self):
        self.bar.close()


def close_after_interrupt(writer, seconds=10.0):
    """Close a SummaryWriter after Ctrl-C (or SIGTERM), waiting at most `seconds`. The interrupt is raised
    wherever the main thread is, and inside the writer's queue it can leave the writer's background thread
    waiting forever, and close() with it: the script would hang instead of exiting. The events not yet on
    disk are then lost; the saved models are not (every save is atomic)."""
    def close():
        try:
            writer.close()
        except Exception:  # a broken writer may fail to close too: no traceback from this thread
            pass

    closer = threading.Thread(target=close, daemon=True)
    closer.start()
    closer.join(seconds)


def stop_like_ctrl_c(signum, frame):
    """SIGTERM (`kill`, a scheduler stopping the job) handled as Ctrl-C: the script says what it saved (the
    best model is intact: every save is atomic) and exits with 130, instead of dying without a word."""
    raise KeyboardInterrupt


def run_main(main):
    """Call `main()`; turn UserError into one line on stderr and exit code 2, Ctrl-C into exit code 130.

    (train.py catches Ctrl-C itself, to say what happened to the model.)"""
    signal.signal(signal.SIGTERM, stop_like_ctrl_c)
    try:
        main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
