"""Running a benchmark command, and stopping one: Ctrl-C and SIGTERM reach the command once, from here, and
the runner ends with one line saying what it was doing."""
import os
import signal
import subprocess
import time

import paths


class CommandFailed(Exception):
    """A benchmark command exited non-zero, or left no model: the sequential runner stops on it, a Ray run
    records it as the (job, seed)'s failed result."""


class UserError(Exception):
    """Bad input: one line `error: ...`, exit code 2."""


class Stopped(KeyboardInterrupt):
    """The runner got SIGTERM (`kill`, `timeout`, a scheduler): it stops as on Ctrl-C."""


def stop_on_sigterm(signum, frame):
    raise Stopped()


STOP_GRACE = 180  # seconds a stopped command gets to save its best model and exit before it is killed
IN_PROGRESS = "stopped before any run started"  # main's line if a stop comes now; each phase says its own


def doing(line):
    """Set the line main prints if a stop (Ctrl-C, SIGTERM) comes during the phase that starts now."""
    global IN_PROGRESS
    IN_PROGRESS = line


def run(command):
    """Run a command in the repo's root with OMP_NUM_THREADS=1 (for scripts without a torch-threads flag).
    Returns (stdout, wall seconds); raises CommandFailed with the tail of stderr on a non-zero exit.

    The command runs in its own session, so a stop reaches it once, from here: on Ctrl-C (SIGINT, from a
    terminal or `kill -INT`) or SIGTERM the runner passes the same signal on, waits for the command to stop
    as every part's scripts do (keeping their best model; at most STOP_GRACE seconds, or until a second
    Ctrl-C), then re-raises. subprocess.run would kill it a quarter second in.
    """
    started = time.perf_counter()
    child = None
    try:
        child = subprocess.Popen(command, cwd=paths.REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=os.environ | {"OMP_NUM_THREADS": "1"}, start_new_session=True)
        stdout, stderr = child.communicate()
    except KeyboardInterrupt as stop:
        if child is None:  # stopped before the command started
            raise
        child.send_signal(signal.SIGTERM if isinstance(stop, Stopped) else signal.SIGINT)
        try:
            child.communicate(timeout=STOP_GRACE)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            child.kill()
            child.communicate()
        raise
    if child.returncode != 0:
        raise CommandFailed(f"benchmark command failed ({child.returncode}): {' '.join(command)}\n{stderr[-3000:]}")
    return stdout, time.perf_counter() - started
