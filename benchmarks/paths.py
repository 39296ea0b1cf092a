"""Where the benchmark's files live, and how they are written whole.

Every module reads these through the module (`paths.REPO`, not `from paths import REPO`), so that the tests can
point the whole runner at a scratch repo with one assignment.
"""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The results files the READMEs' tables are made from: tracked in git, written only with --update-docs.
RESULTS = REPO / "benchmarks" / "results"
# Where a reader's run (no --update-docs) writes its results files: inside benchmarks/runs/, which git ignores.
SCRATCH = Path("benchmarks") / "runs" / "results"
# The runs' TensorBoard logs and models, relative to the repo (every command runs in the repo's root).
RUNS = Path("benchmarks") / "runs"


def rel(path):
    """`path` relative to the repo when it lies inside it (results files never hold absolute paths)."""
    path = Path(path)
    if path.is_absolute():
        try:
            return str(path.resolve().relative_to(REPO))
        except ValueError:
            return str(path)
    return str(path)


def write_atomically(path, data):
    """Write `data` (str or bytes) to `path` through a temporary file and a rename: a stop in the middle leaves
    the old file or the new one, never half of one (a cut results file would break every later report)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        if isinstance(data, bytes):
            temporary.write_bytes(data)
        else:
            temporary.write_text(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
