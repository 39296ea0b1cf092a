"""Run plumbing: everything a training script needs that is not reinforcement learning.

A first reading can skip this file. It turns an algorithm into a tool you can trust: `--help` generated from
the config dataclass, every flag checked with one line naming it, one TensorBoard folder per run, the best
model written atomically under the run's own name (so no run ever replaces another's), Ctrl-C that keeps what
was saved, and bad input reported in one line instead of a traceback.

Every part carries this file byte for byte (tests/test_plumbing.py checks the copies match), so a part still
reads alone and a fix is made once and copied: `cp part4_actor_critic/plumbing.py part*/`.
"""
import argparse
import atexit
import csv
import dataclasses
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

PART_DIR = Path(__file__).resolve().parent
PART = PART_DIR.name                   # "part4_actor_critic": checkpoints say which part made them
REPO = PART_DIR.parent
STATE_FILE = "training_state.pth"      # in a run folder: what --resume continues from


class UserError(Exception):
    """Bad input from the user: reported as one line and exit code 2, never as a traceback."""


# ---------- the config and its command line ----------

@dataclasses.dataclass(frozen=True)
class Check:
    """A rule for one config field's value, and the words that say it: `--learning-rate must be > 0`."""
    test: object
    says: str


POSITIVE = Check(lambda v: v > 0, "must be > 0")
SEED = Check(lambda v: 0 <= v < 2**32, "must be in [0, 4294967295]")  # what numpy and gymnasium accept
AT_LEAST_ONE = Check(lambda v: v >= 1, "must be at least 1")
NOT_NEGATIVE = Check(lambda v: v >= 0, "must be 0 or more")
FRACTION = Check(lambda v: 0 <= v <= 1, "must be in [0, 1]")


def between(low, high):
    """A check for a value in [low, high]."""
    return Check(lambda v: low <= v <= high, f"must be in [{low:g}, {high:g}]")


def one_of(*choices):
    """A check for one of a few words."""
    return Check(lambda v: v in choices, "must be " + " or ".join(choices))


def arg(default, help, check=None):
    """A config field with a one-line doc (its `--help` text) and an optional Check of its value (of each
    value, for a list)."""
    metadata = {"help": help, "check": check}
    if isinstance(default, (list, tuple)):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def flag(name):
    return "--" + name.replace("_", "-")


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a value it cannot read (`--total-steps abc`) reported in one line, as every bad input is."""

    def error(self, message):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def seed_value(text):
    """An argparse `type` for a seed given on the command line (test.py's --seed): an int numpy accepts."""
    value = int(text)
    if not SEED.test(value):
        raise argparse.ArgumentTypeError(f"{SEED.says}, got {value}")
    return value


def parse_config(config_class, argv=None, description=None, presets=None):
    """Build an argparse CLI from a config dataclass (`env_id` -> `--env-id`), parse `argv`, check every value.

    `presets(env_id, algo)` returns tuned defaults (algo is None for a config without one): `--env-id X` alone
    gives X's settings, `--env-id X --help` shows them, and a flag on the command line still wins.
    """
    parser = ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    fields = dataclasses.fields(config_class)
    for f in fields:
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if isinstance(default, bool):
            parser.add_argument(flag(f.name), action=argparse.BooleanOptionalAction, default=default,
                                help=f.metadata["help"])
        elif isinstance(default, list):
            parser.add_argument(flag(f.name), nargs="+", type=type(default[0]), default=default,
                                help=f.metadata["help"])
        else:
            parser.add_argument(flag(f.name), type=type(default) if default is not None else str, default=default,
                                help=f.metadata["help"])
    if presets:
        # a first look at --env-id and --algo by a parser without -h, so that `--help` shows the preset
        peek = argparse.ArgumentParser(add_help=False)
        names = [f.name for f in fields if f.name in ("env_id", "algo")]
        for name in names:
            peek.add_argument(flag(name), default=parser.get_default(name))
        known = vars(peek.parse_known_args(argv)[0])
        parser.set_defaults(**{**known, **presets(known["env_id"], known.get("algo"))})  # `--help` shows them
    config = config_class(**vars(parser.parse_args(argv)))
    check_config(config)
    return config


def check_config(config):
    """Every field's Check, in field order: the first bad value raises a UserError naming its flag."""
    for f in dataclasses.fields(config):
        check, value = f.metadata.get("check"), getattr(config, f.name)
        if f.name == "seed" and check is None:  # every script's seed goes to numpy and gymnasium
            check = SEED
        if check is not None and not all(check.test(v) for v in (value if isinstance(value, list) else [value])):
            raise UserError(f"{flag(f.name)} {check.says}, got {value!r}")


def config_markdown(config):
    """The config as a two-column markdown table, for TensorBoard's text tab."""
    rows = "\n".join(f"|{k}|{v}|" for k, v in dataclasses.asdict(config).items())
    return f"|param|value|\n|-|-|\n{rows}"


def env_spec(env_id, images=False):
    """gymnasium's spec of `env_id`, or a UserError. The Atari games register themselves when ale-py is
    imported, so an `ALE/...` id is looked up after that import; a part that learns from flat vectors
    (`images=False`) refuses them before making one."""
    if env_id.startswith("ALE/"):
        try:
            import ale_py
            gym.register_envs(ale_py)
        except ImportError:
            raise UserError(f"{env_id!r} is an Atari game: pip install ale-py") from None
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as e:
        raise UserError(f"unknown environment {env_id!r} ({e})") from None
    if not images and str(spec.entry_point).startswith("ale_py"):
        raise UserError(f"{env_id!r} is an Atari game with image observations: this part learns from flat "
                        "vectors (Part 2 learns Pong from pixels)")
    return spec


# ---------- seeding, device, folders, checkpoints ----------

def seed_everything(seed):
    """Seed python, numpy and torch once; the envs and their action spaces are seeded at their first reset."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name="auto"):
    """CUDA when there is a GPU (or when asked for), the CPU otherwise."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but torch sees no CUDA GPU")
    return torch.device(name)


def check_writable(folder, what):
    """Fail before training, not after, when a folder cannot be written."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        probe = Path(folder, ".write-test")
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise UserError(f"cannot write the {what} folder {str(folder)!r}: {e.strerror}") from None


def save_checkpoint(path, checkpoint):
    """Write atomically: a temporary file, then a rename, so Ctrl-C never leaves half a file behind."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # after an interrupted write; after the rename there is nothing left


def load_checkpoint(path, algos):
    """Load a model file of this part made by one of `algos`, or raise a UserError saying what is wrong."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{str(path)!r} is a folder; give a model file (.pth)")
    if not path.is_file():
        raise UserError(f"no model file at {str(path)!r}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated file, another format, a pickle we refuse to run
        raise UserError(f"{str(path)!r} is not a readable checkpoint ({type(e).__name__})") from None
    found = checkpoint.get("part", "unknown") if isinstance(checkpoint, dict) else "unknown"
    if found != PART:
        raise UserError(f"{str(path)!r} is not a {PART} checkpoint (it comes from {found})")
    if checkpoint.get("algo") not in algos:
        raise UserError(f"{str(path)!r} holds a {checkpoint.get('algo')!r} model; this script loads {' or '.join(algos)}")
    return checkpoint


def gif_path(path):
    """test.py's --gif: a writable file name ending in .gif, or a UserError."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() != ".gif":
        raise UserError(f"--gif takes a file name ending in .gif, got {str(path)!r}")
    check_writable(path.parent, "GIF")
    return path


def load_training_state(run_dir, config_class):
    """The config and training state an interrupted run saved in its folder, or a UserError saying why not."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        raise UserError(f"nothing to resume in {str(run_dir)!r}: no {STATE_FILE} (a run saves one with "
                        f"--checkpoint-every, and deletes it when it completes)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("part") != PART:
            raise ValueError("another part's state")
        config = config_class(**{**state["config"], "resume": str(run_dir)})
    except Exception as e:  # a truncated file, another format, a state of another part or version
        raise UserError(f"{str(path)!r} is not a readable {PART} training state ({type(e).__name__})") from None
    return config, state


def quiet_sdl(render):
    """Keep SDL (pygame, which draws gymnasium's frames for --gif and --render) quiet on a machine without a
    display: its dummy drivers unless `render` is "human", and a private XDG_RUNTIME_DIR when the session has
    no valid one (otherwise SDL prints "error: XDG_RUNTIME_DIR is invalid", which reads like one of ours)."""
    # SDL turns SIGTERM into a quit event that nothing here reads, so `kill` (or a CI timeout) would not stop a
    # --gif run: leave the signals to Python.
    os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")
    if render != "human":
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    valid = os.path.isdir(runtime_dir) and os.stat(runtime_dir).st_uid == os.getuid() \
        and os.stat(runtime_dir).st_mode & 0o077 == 0
    if not valid:
        private = tempfile.mkdtemp(prefix="xdg-runtime-")  # created with mode 0700, as SDL wants
        atexit.register(shutil.rmtree, private, ignore_errors=True)
        os.environ["XDG_RUNTIME_DIR"] = private


# ---------- a training run: its folder, logs, best model, progress and interrupts ----------

def shown(value):
    """A number for a progress line, or "-" while there is none yet: one decimal, two below 10 (FrozenLake's
    success rate of 0.72 is not 0.7)."""
    if not np.isfinite(value):
        return "-"
    return f"{value:.2f}" if abs(round(value, 2)) < 10 else f"{value:.1f}"


class Run:
    """What one training run writes, and nothing about how it learns.

    A new run gets a folder `{log_dir}/{env}__{algo}__{seed}__{time}` (TensorBoard events, `evaluations.csv`,
    `summary.json`) and its best model `{save_dir}/{the same name}.pth`: a run's model is its own, so a second
    run never replaces the first one's, and the shipped `{env}__{algo}.pth` files are never touched. A run
    given `resume` (the state `load_training_state` returned) continues in its own folder and model file.
    """

    def __init__(self, config, algo, resume=None):
        self.config, self.algo = config, algo
        check_writable(config.save_dir, "model")
        if resume is None:
            self.dir, self.model = self.new_names(config.env_id.replace("/", "-"), algo)
            self.best = dict(eval_return=-np.inf, step=0, saved=False)
            self.resumed_at, self.wall_before, self.first_step = [], 0.0, 0
        else:
            self.dir, self.model = Path(config.resume), Path(resume["model"])
            self.reservation = None
            self.best, self.wall_before = resume["best"], resume["wall_seconds"]
            self.first_step = resume["step"]
            self.resumed_at = resume["resumed_at"] + [self.first_step]
            if resume["best_model"] is not None:  # this run's best of its saved past (a later one was lost)
                save_checkpoint(self.model, resume["best_model"])
        self.writer = SummaryWriter(self.dir, purge_step=self.first_step or None)  # resumed: later events dropped
        if resume is None:
            self.writer.add_text("config", config_markdown(config))
        self.evaluations = self.dir / "evaluations.csv"
        rows = []
        if resume is not None and self.evaluations.exists():  # keep the rows up to the saved state
            with open(self.evaluations, newline="") as f:
                rows = [row for row in list(csv.reader(f))[1:] if int(row[0]) <= self.first_step]
        with open(self.evaluations, "w", newline="") as f:
            csv.writer(f).writerows([["step", "train_seconds", "mean", "std"], *rows])
        self.state_step = None if resume is None else self.first_step
        self.recent_return = float("nan")
        self.bar = tqdm(total=config.total_steps, initial=self.first_step, unit="step", disable=None, smoothing=0.1)
        self.started = self.last_line = time.perf_counter()
        self.next_line_step = self.first_step

    def new_names(self, env_name, algo):
        """A run folder and a model file that no other run has: the folder is created and the model's name
        reserved (a hidden empty file, removed when the run ends) atomically, so two runs started in the same
        second, even with different log folders, get different names."""
        c = self.config
        name = f"{env_name}__{algo}__{c.seed}__{time.strftime('%Y%m%d-%H%M%S')}"
        stem, suffix = name, 1
        while True:
            run_dir, model = Path(c.log_dir) / stem, Path(c.save_dir) / f"{stem}.pth"
            self.reservation = Path(c.save_dir) / f".{stem}.pth.reserved"
            if not model.exists():
                try:
                    run_dir.mkdir(parents=True)
                    os.close(os.open(self.reservation, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                    return run_dir, model
                except FileExistsError:  # another run took this name first
                    if run_dir.is_dir() and not any(run_dir.iterdir()) and not self.reservation.exists():
                        run_dir.rmdir()
                except OSError as e:
                    raise UserError(f"cannot write the log folder {c.log_dir!r}: {e.strerror}") from None
            stem, suffix = f"{name}-{suffix}", suffix + 1

    def log(self, step, scalars):
        """TensorBoard scalars, `{tag: value}`."""
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)

    def episodes(self, step, returns, lengths):
        """The training episodes that ended since the last call: their mean return and length."""
        self.recent_return = float(np.mean(returns))
        self.log(step, {"charts/episodic_return": self.recent_return,
                        "charts/episodic_length": float(np.mean(lengths))})
        self.writer.flush()  # let the writer's thread work now, not in the middle of the next steps
        self.progress(step)

    def evaluated(self, step, train_seconds, mean, std, checkpoint):
        """Record a greedy evaluation; if it is this run's best, save `checkpoint()` (a dict) as its model.
        `train_seconds`: all of the run's training so far (a resumed run's included), evaluations excluded."""
        self.log(step, {"eval/mean_return": mean, "eval/std_return": std,
                        "charts/steps_per_second": step / max(train_seconds, 1e-9)})
        with open(self.evaluations, "a", newline="") as f:
            csv.writer(f).writerow([step, f"{train_seconds:.3f}", f"{mean:.4f}", f"{std:.4f}"])
        self.writer.flush()
        best = self.best["eval_return"]
        if not self.best["saved"] or mean > best or np.isnan(best):  # the best policy, not the last one
            save_checkpoint(self.model, dict(checkpoint(), part=PART, eval_return=mean, eval_std=std, step=step))
            self.best.update(eval_return=mean, step=step, saved=True)  # only once the file is in place
        self.progress(step)

    def save_state(self, step, state):
        """Save what --resume continues from (`state`: the agent's and envs' own) in the run folder, atomically."""
        config = dataclasses.replace(self.config, save_dir=str(Path(self.config.save_dir).resolve()), resume="")
        best_model = torch.load(self.model, map_location="cpu", weights_only=True) if self.best["saved"] else None
        save_checkpoint(self.dir / STATE_FILE, dict(
            part=PART, config=dataclasses.asdict(config), step=step, model=str(self.model.resolve()),
            best=self.best, best_model=best_model, resumed_at=self.resumed_at, **state,
            wall_seconds=self.wall_before + time.perf_counter() - self.started))
        self.state_step = step  # only once the file is in place

    def progress(self, step):
        """The tqdm bar on a terminal; when the output is piped, a plain line every 10% of the budget or 30 s."""
        now, total = time.perf_counter(), self.config.total_steps
        rate = (step - self.first_step) / max(now - self.started, 1e-9)
        text = f"{rate:,.0f} steps/s | return {shown(self.recent_return)} | best eval {shown(self.best['eval_return'])}"
        if not self.bar.disable:
            self.bar.update(min(step, total) - self.bar.n)
            self.bar.set_description(text, refresh=False)
        elif step >= self.next_line_step or now - self.last_line >= 30:
            print(f"{min(step, total):,}/{total:,} steps ({now - self.started:.0f} s) | {text}", flush=True)
            self.last_line, self.next_line_step = now, step + max(total // 10, 1)

    def release(self):
        """Give the model's reserved name back (the model itself, if any, keeps it)."""
        if self.reservation is not None:
            self.reservation.unlink(missing_ok=True)

    def interrupted(self, step):
        """Ctrl-C or SIGTERM during training: say what is saved, close the logs, exit 130."""
        self.bar.close()
        self.release()
        if self.best["saved"]:
            print(f"\ninterrupted at step {step:,}: this run's best model ({shown(self.best['eval_return'])} at step "
                  f"{self.best['step']:,}) is intact at {self.model}", file=sys.stderr)
        else:
            print(f"\ninterrupted at step {step:,}, before the first evaluation: no model saved", file=sys.stderr)
        if self.state_step is not None:
            script = Path(sys.argv[0]).resolve()
            shown_script = script.relative_to(REPO) if script.is_relative_to(REPO) else script
            print(f"the training state of step {self.state_step:,} is saved: continue from there with\n"
                  f"    python {shown_script} --resume {self.dir}", file=sys.stderr)
        close_after_interrupt(self.writer)
        sys.exit(130)

    def finish(self, steps, train_seconds, **extra):
        """The run is complete: write summary.json, close the logs, print one closing line. Returns the summary."""
        self.bar.close()
        self.release()
        (self.dir / STATE_FILE).unlink(missing_ok=True)  # nothing left to resume
        saved = self.best["saved"] and self.model.is_file()
        summary = dict(steps=steps, train_seconds=round(train_seconds, 3),
                       steps_per_second=round(steps / max(train_seconds, 1e-9), 1),
                       wall_seconds=round(self.wall_before + time.perf_counter() - self.started, 3),
                       resumed_at=self.resumed_at, best_eval=self.best["eval_return"], best_step=self.best["step"],
                       model=str(self.model) if saved else None, run_dir=str(self.dir), **extra)
        with open(self.dir / "summary.json", "w") as f:
            json.dump(summary, f, indent=2)
        self.writer.close()
        model = f"model saved to {self.model}" if saved else "no model saved"
        # the best of many evaluations runs high: a test on fresh episodes is the number to quote
        test = (f"; test it on fresh episodes: python {os.path.relpath(PART_DIR / 'test.py')} {self.model} "
                f"--episodes 100") if saved else ""
        episodes = getattr(self.config, "eval_episodes", None)
        print(f"{self.config.env_id} ({self.algo}): best greedy evaluation {shown(self.best['eval_return'])} at step "
              f"{self.best['step']:,}" + (f" ({episodes} episode{'s' * (episodes != 1)})" if episodes else "") +
              f", {summary['steps_per_second']:,.0f} steps/s; {model}; logs in {self.dir}{test}")
        return summary


# ---------- signals and errors ----------

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
    """SIGTERM (`kill`, a scheduler stopping the job) handled as Ctrl-C."""
    raise KeyboardInterrupt


def run_main(main, interrupted="interrupted before training started: no model saved"):
    """Call `main()`; a UserError becomes one line on stderr and exit code 2, Ctrl-C (or SIGTERM) the line
    `interrupted` and exit code 130. (During training, Run.interrupted says what was saved.)"""
    signal.signal(signal.SIGTERM, stop_like_ctrl_c)
    try:
        main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"\n{interrupted}", file=sys.stderr)
        sys.exit(130)
