"""The code the chapter shows is the code that runs: every ```python block of this part's markdown files (the
chapter's posts and its NOTES.md) appears verbatim, as consecutive lines, in one of this part's source files.
Only the indentation of the whole block may differ, and a line `...` may separate runs of lines that each
appear (what is left out between them). A paraphrase, a renamed variable or a reordered line fails."""
import re
import textwrap
from pathlib import Path

import pytest

PART_DIR = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^[ \t]*```python[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)
BLOCKS = [(page.name, block) for page in sorted(PART_DIR.glob("*.md")) for block in FENCE.findall(page.read_text())]
SOURCES = {path.name: [line.rstrip() for line in path.read_text().splitlines()] for path in sorted(PART_DIR.glob("*.py"))}


def runs(block):
    """The block's runs of lines: dedented as a whole, split at the lines `...`, blank lines trimmed at their ends."""
    found, run = [], []
    for line in textwrap.dedent(block).splitlines() + ["..."]:
        if line.strip() == "...":
            while run and not run[-1].strip():
                run.pop()
            while run and not run[0].strip():
                run.pop(0)
            if run:
                found.append(run)
            run = []
        else:
            run.append(line.rstrip())
    return found


def appears_in(run, lines):
    """True if `run` is a run of consecutive `lines`, all indented alike by some extra amount (blank lines blank)."""
    first = run[0].lstrip()
    for i, line in enumerate(lines):
        shift = len(line) - len(run[0])  # the extra indentation of this place in the source
        if line.lstrip() != first or shift < 0:
            continue
        window = lines[i:i + len(run)]
        if len(window) == len(run) and all(
                (not want and not text.strip()) or (text[:shift].strip() == "" and text[shift:] == want)
                for text, want in zip(window, run)):
            return True
    return False


def test_the_chapter_shows_code():
    assert any(name == "README.md" for name, _ in BLOCKS)


@pytest.mark.parametrize("page, block", BLOCKS, ids=[f"{name}:{block.strip().splitlines()[0][:40]}" for name, block in BLOCKS])
def test_an_excerpt_is_the_code(page, block):
    assert runs(block), f"an empty ```python block in {page}"
    for run in runs(block):
        assert any(appears_in(run, lines) for lines in SOURCES.values()), \
            f"{page}: not in any {PART_DIR.name}/*.py, as consecutive lines:\n" + "\n".join(run)
