"""Run plumbing shared by this part's scripts: config -> CLI, seeding, run folders, checkpoints, errors.

Nothing here is about reinforcement learning; it is what turns an algorithm into a tool you can trust:
`--help` generated from the config, one TensorBoard folder per run, the best model written atomically,
and bad input reported in one line instead of a traceback.
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

PART = "part1_tabular_q"
REPO = Path(__file__).resolve().parents[1]
# Default output folders belong to the repo, wherever the script is started from; explicit flags are used as given.
DEFAULT_LOG_DIR = str(REPO / "tabular_logs")
DEFAULT_SAVE_DIR = str(REPO / "models" / PART)


class UserError(Exception):
    """Bad input from the user: reported as one line and a non-zero exit, never as a traceback."""


def arg(default, help):
    """A config field with a one-line doc; the doc becomes its `--help` text."""
    if isinstance(default, (list, tuple)):
        return dataclasses.field(default_factory=lambda: list(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def parse_config(config_class, argv=None, description=None, presets=None, defaults=None):
    """Build an argparse CLI from a config dataclass (`env_id` -> `--env-id`) and parse `argv` into it.

    `defaults` replaces the dataclass defaults for this script; `presets` maps an env id to tuned defaults:
    `--env-id Pendulum-v1` alone gives the Pendulum settings, and any flag given on the command line still
    wins over them. `--env-id X --help` shows X's preset as the defaults, i.e. what that run would use.
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
    parser.set_defaults(**(defaults or {}))
    if presets:
        # Read --env-id alone first, with a parser that has no --help: the full parser would print the help
        # (with the wrong defaults) and exit before the preset is applied.
        peek = argparse.ArgumentParser(add_help=False)
        peek.add_argument("--env-id", default=parser.get_default("env_id"))
        env_id = peek.parse_known_args(argv)[0].env_id
        parser.set_defaults(env_id=env_id, **presets.get(env_id, {}))
    return config_class(**vars(parser.parse_args(argv)))


def shown(value, digits=1):
    """A number for a progress line, or "-" while there is none yet (no episode has ended, no evaluation run)."""
    return f"{value:.{digits}f}" if np.isfinite(value) else "-"


def seed_everything(seed):
    """Seed python and numpy once; the env and its action space are seeded at their first reset."""
    random.seed(seed)
    np.random.seed(seed)


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
        raise UserError(f"cannot write the log folder {log_dir!r}: {e.strerror}") from None
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
    import torch  # torch is only the file format here; the table itself is numpy

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)
    finally:  # interrupted between the two: the old model stays, the partial file goes
        tmp.unlink(missing_ok=True)


def load_checkpoint(path, algos):
    """Load a checkpoint of this part made by one of `algos`, or raise UserError saying what is wrong."""
    import torch

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

    def __init__(self, run_dir):
        self.path = Path(run_dir) / "evaluations.csv"
        with open(self.path, "w", newline="") as f:
            csv.writer(f).writerow(["step", "train_seconds", "mean", "std"])

    def add(self, step, train_seconds, mean, std):
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([step, f"{train_seconds:.3f}", f"{mean:.4f}", f"{std:.4f}"])

    def finish(self, **summary):
        with open(self.path.with_name("summary.json"), "w") as f:
            json.dump(summary, f, indent=2)


class Progress:
    """A plain progress line for logs: when output is not a terminal tqdm's bar is off, and a piped run must not
    stay silent for minutes. Prints every 10% of the budget or every 30 s, whichever comes first."""

    def __init__(self, total_steps, enabled, every_seconds=30.0):
        self.total_steps, self.enabled, self.every_seconds = total_steps, enabled, every_seconds
        self.next_step = max(1, total_steps // 10)
        self.started = self.last = time.perf_counter()

    def update(self, step, recent_return, best_eval):
        now = time.perf_counter()
        if not self.enabled or (step < self.next_step and now - self.last < self.every_seconds):
            return
        while self.next_step <= step:
            self.next_step += max(1, self.total_steps // 10)
        self.last = now
        best = f"{best_eval:.3f}" if np.isfinite(best_eval) else "none yet"
        print(f"step {step:,}/{self.total_steps:,} | {step / (now - self.started):,.0f} steps/s | "
              f"recent return {shown(recent_return, 3)} | best eval {best}", flush=True)


def quiet_sdl(render_mode):
    """Keep pygame/SDL quiet on headless renders: no window system, and no "XDG_RUNTIME_DIR is invalid" line.

    Must run before pygame is first imported (gymnasium imports it at the first render).
    """
    # SDL turns SIGTERM into a quit event that nothing here reads, so `kill` (or a CI timeout) would not stop a
    # --gif run: leave the signals to Python.
    os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")
    if render_mode != "human":
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if sys.platform.startswith("linux") and (not runtime or not os.path.isdir(runtime) or not os.access(runtime, os.W_OK)):
        import tempfile

        private = Path(tempfile.gettempdir()) / f"xdg-runtime-{os.getuid()}"  # one per user, reused
        private.mkdir(mode=0o700, exist_ok=True)
        if private.stat().st_uid != os.getuid():  # someone else's folder: take a fresh one instead
            private = Path(tempfile.mkdtemp(prefix="xdg-runtime-"))
        os.environ["XDG_RUNTIME_DIR"] = str(private)


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


def run_main(main, argv=None, interrupted="interrupted"):
    """Call `main(argv)`; turn UserError into one line on stderr and exit code 2, and Ctrl-C into the line
    `interrupted` and exit code 130 (train.py's run() reports the model it saved itself)."""
    signal.signal(signal.SIGTERM, stop_like_ctrl_c)
    try:
        main(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"\n{interrupted}", file=sys.stderr)
        sys.exit(130)
