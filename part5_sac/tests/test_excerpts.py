"""The chapter's code excerpts are the code: every line of a ```python block in README.md (but the `...` that
mark what is left out) appears, as written, in one of this part's source files."""
import re
from pathlib import Path

PART_DIR = Path(__file__).resolve().parents[1]


def test_every_readme_excerpt_line_is_in_the_source():
    source = "\n".join(path.read_text() for path in sorted(PART_DIR.glob("*.py")))
    lines = {line.strip() for line in source.splitlines()}
    blocks = re.findall(r"```python\n(.*?)```", (PART_DIR / "README.md").read_text(), flags=re.S)
    assert blocks
    missing = [line for block in blocks for line in block.splitlines()
               if line.strip() not in ("", "...") and line.strip() not in lines]
    assert not missing, missing
