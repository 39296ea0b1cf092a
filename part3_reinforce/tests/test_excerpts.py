"""The code the chapter shows is the code that runs: every ```python block of README.md appears verbatim, as
consecutive lines, in one of this part's source files (only the indentation of the whole block may differ)."""
import re
import textwrap
from pathlib import Path

import pytest

PART_DIR = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (PART_DIR / "README.md").read_text(), re.S)
SOURCES = [path.read_text().splitlines() for path in sorted(PART_DIR.glob("*.py"))]


def appears_in(block, lines):
    """True if the dedented `block` is a run of consecutive `lines`, all indented alike."""
    want = textwrap.dedent(block).splitlines()
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        if line[indent:] == want[0]:
            run = lines[i:i + len(want)]
            if [text[indent:] if not text[:indent].strip() else None for text in run] == want:
                return True
    return False


def test_the_chapter_shows_code():
    assert BLOCKS


@pytest.mark.parametrize("block", BLOCKS, ids=[block.splitlines()[0][:40] for block in BLOCKS])
def test_an_excerpt_is_the_code(block):
    assert any(appears_in(block, lines) for lines in SOURCES), f"not in any {PART_DIR.name}/*.py:\n{block}"
