"""benchmarks/ on the path for the tests (run.py, suites.py and side_by_side.py are plain scripts)."""
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1]
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
