"""benchmarks/ on the path for the tests (run.py, suites.py and side_by_side.py are plain scripts)."""
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1]
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))


@pytest.fixture(autouse=True)
def fewer_resamples(monkeypatch):
    """2,000 bootstrap resamples of a job's scores instead of the report's 10,000: a fifth of the time, and the
    intervals the tests work out by hand (the extremes of three seeds, each drawn three times with probability
    1/27, about 74 of 2,000 resamples against the 50 the 2.5th percentile needs) hold all the same."""
    import stats

    monkeypatch.setattr(stats, "REPS", 2_000)
