"""The code the posts show is the code that runs: every ```python block of every part2_dqn/*.md appears
verbatim in one of this part's source files. A block is one or more runs of lines separated by a line
`...`; each run is a run of consecutive lines of the file, the runs in the file's order, and only the
indentation of the whole block may differ (the same for every run). A block that is one snippets include
(`--8<-- "part2_dqn/agent.py:learn"`) must name a section the file marks."""
import re
import textwrap
from pathlib import Path

import pytest

PART_DIR = Path(__file__).resolve().parents[1]
POSTS = sorted(PART_DIR.glob("*.md"))
BLOCKS = [(post.name, block) for post in POSTS
          for block in re.findall(r"^[ \t]*```python\n(.*?)^[ \t]*```", post.read_text(), re.S | re.M)]
SOURCES = {path.name: path.read_text().splitlines() for path in sorted(PART_DIR.glob("*.py"))}
INCLUDE = re.compile(r'^--8<-- "(?:[^":]*/)?([^"/:]+\.py):([A-Za-z_][\w-]*)"$')


def runs_of(block):
    """The dedented block cut at its `...` lines: a list of runs, each a list of lines."""
    runs = [[]]
    for line in textwrap.dedent(block).splitlines():
        if line.strip() == "...":
            runs.append([])
        else:
            runs[-1].append(line)
    return runs


def run_at(run, lines, i, indent):
    """True if `run` is lines[i:i + len(run)] with `indent` spaces taken off each (blank lines match blank)."""
    window = lines[i:i + len(run)]
    if len(window) < len(run):
        return False
    return all((text[:indent].strip() == "" and text[indent:] == want) or (want == "" and text.strip() == "")
               for text, want in zip(window, run))


def appears_in(runs, lines):
    """True if every run appears in `lines`, in order, one after the other, all with the same indentation."""
    first = runs[0]
    for i, line in enumerate(lines):
        if line.lstrip() != first[0].lstrip():
            continue
        indent = (len(line) - len(line.lstrip())) - (len(first[0]) - len(first[0].lstrip()))  # the block's offset
        if indent < 0 or not run_at(first, lines, i, indent):
            continue
        position, found = i + len(first), True
        for run in runs[1:]:
            starts = [j for j in range(position, len(lines)) if run_at(run, lines, j, indent)]
            if not starts:
                found = False
                break
            position = starts[0] + len(run)
        if found:
            return True
    return False


def where(block):
    """The source file `block` is in, or None."""
    include = INCLUDE.match(block.strip())
    if include:
        name, section = include.groups()
        text = "\n".join(SOURCES.get(name, []))
        return name if f"# --8<-- [start:{section}]" in text and f"# --8<-- [end:{section}]" in text else None
    runs = runs_of(block)
    if not all(runs):  # an empty run: a `...` at an end of the block, or two in a row
        return None
    return next((name for name, lines in SOURCES.items() if appears_in(runs, lines)), None)


def test_the_posts_show_code():
    assert BLOCKS


@pytest.mark.parametrize("post, block", BLOCKS, ids=[f"{post}: {block.strip().splitlines()[0][:40]}" for post, block in BLOCKS])
def test_an_excerpt_is_the_code(post, block):
    assert where(block), f"{post}: not in any {PART_DIR.name}/*.py as it stands:\n{block}"


def test_the_check_tells_code_from_a_paraphrase():
    """The checker itself, on agent.py's own lines: the code passes, a paraphrase or a reordering does not."""
    code = "        if self.gradient_steps % c.target_update_interval == 0:\n            self.update_target()\n"
    assert where(code) == "agent.py"
    assert where("self.optimizer.zero_grad()\n...\nself.optimizer.step()\n") == "agent.py"
    assert where("self.optimizer.step()\n...\nself.optimizer.zero_grad()\n") is None      # the wrong order
    assert where("self.gradient_steps += 1\n...\nself.update_target()\n") is None          # runs indented unlike the code
    assert where("if self.gradient_steps % c.target_update_interval == 0:\nself.update_target()\n") is None  # indentation
    assert where("self.optimizer.step()              # torch.optim.AdamW\n") is None      # a comment of the post's own
    assert where("self.gradient_steps += 1\n...\n") is None                                 # a dangling `...`
