"""The code a part's pages show is the code that runs (the same file in every part).

Every ```python block of every *.md of this part (the chapter, its posts, NOTES.md) must be the code:
- typed out, it appears verbatim in one of this part's *.py files: its lines are consecutive lines of the
  file, only the indentation of the whole block may differ, and a line `...` may separate runs of lines
  that each appear, in the file's order, in the same file, at the same indentation (what is left out
  between them). Snippets section markers (`# --8<-- [start:name]`) in the file are not code and are
  skipped. A paraphrase, a renamed variable, a comment of the page's own or a reordered line fails.
- a pymdownx.snippets include line (`--8<-- "part4_actor_critic/agent.py:act"`, or `...py:10:20`), which
  MkDocs replaces by the code, is resolved instead of compared: the file (from the repo root, as mkdocs.yml's
  base_path) must exist, and so must the named section (its start and end markers) or the line range.
"""
import re
import textwrap
from pathlib import Path

import pytest

PART_DIR = Path(__file__).resolve().parents[1]
REPO = PART_DIR.parent  # where mkdocs.yml is: snippets paths start here
OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
INCLUDE = re.compile(r"""^-+8<-+[ \t]+(["'])(?P<target>.+?)\1$""")
BLOCK_INCLUDE = re.compile(r"^-+8<-+$")  # a line of its own opens and closes a list of files, one a line
MARKER = re.compile(r"(?i)(?<!;)-+8<-+[ \t]+\[[ \t]*(?P<type>start|end)[ \t]*:[ \t]*(?P<name>[a-z][-_0-9a-z]*)[ \t]*\]")
RANGES = re.compile(r"^(?P<path>.+?)(?P<ranges>(?::-?\d*){1,2}(?:,-?\d*(?::-?\d*)?)*)$")
SECTION = re.compile(r"(?i)^(?P<path>.+?):(?P<name>[a-z][-_0-9a-z]*)$")


def python_blocks(text):
    """[(line number of the fence, contents)] of the ```python (or ```py) fences of a markdown text; fences of
    other languages are skipped whole, so a python fence shown inside another fence is not taken for one."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opening = OPEN.match(lines[i])
        i += 1
        if not opening:
            continue
        fence, words, start = opening["fence"], opening["info"].split(), i
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body = []
        while i < len(lines) and not closing.match(lines[i]):
            body.append(lines[i])
            i += 1
        i += 1
        if words and words[0].lstrip(".{").lower() in ("python", "py"):
            blocks.append((start, "\n".join(body) + "\n"))
    return blocks


def without_markers(lines):
    """A source file's lines, right-stripped, without the snippets section markers (MkDocs drops them too)."""
    return [line.rstrip() for line in lines if not MARKER.search(line)]


def pieces(block):
    """(runs, includes) of a block: the typed runs of lines (dedented as a whole, cut at the lines `...` and at
    include lines, blank lines trimmed at each end) and the include targets."""
    runs, includes, run, listing = [], [], [], False
    for line in textwrap.dedent(block).splitlines() + ["..."]:
        text = line.strip()
        if BLOCK_INCLUDE.match(text):
            listing = not listing
            text = "..."
        elif listing:
            if text:
                includes.append(text)
            continue
        elif INCLUDE.match(text):
            includes.append(INCLUDE.match(text)["target"])
            text = "..."
        if text == "...":
            while run and not run[-1].strip():
                run.pop()
            while run and not run[0].strip():
                run.pop(0)
            if run:
                runs.append(run)
            run = []
        else:
            run.append(line.rstrip())
    return runs, includes


def run_at(run, lines, i, shift):
    """True if `run` is lines[i:i + len(run)], each line indented `shift` more (blank lines match blank ones)."""
    window = lines[i:i + len(run)]
    return len(window) == len(run) and all(
        (not want and not text.strip()) or (not text[:shift].strip() and text[shift:] == want)
        for text, want in zip(window, run))


def appears_in(runs, lines):
    """True if the runs appear in `lines` in order, each as consecutive lines, all shifted by the same indentation."""
    first = runs[0]
    for i, line in enumerate(lines):
        shift = len(line) - len(first[0])
        if shift < 0 or line.lstrip() != first[0].lstrip() or not run_at(first, lines, i, shift):
            continue
        position = i + len(first)
        for run in runs[1:]:
            position = next((j + len(run) for j in range(position, len(lines)) if run_at(run, lines, j, shift)), None)
            if position is None:
                break
        else:
            return True
    return False


def resolve(target, root=REPO):
    """Why the include `target` (`path`, `path:section` or `path:start:end[,start:end...]`, as snippets reads
    it) cannot be resolved from `root`, or None when it can."""
    if (root / target).is_file():
        return None  # the whole file
    ranges, section = RANGES.match(target), SECTION.match(target)
    if ranges and (root / ranges["path"]).is_file():
        lines = (root / ranges["path"]).read_text().split("\n")
        total = len(lines)
        for span in ranges["ranges"][1:].split(","):
            start, _, end = span.partition(":")
            first, last = int(start) if start else 1, int(end) if end else total
            first, last = total + 1 + first if first < 0 else first, total + 1 + last if last < 0 else last
            if not 1 <= first <= last <= total:
                return f"lines {span} are not a range of {ranges['path']}'s {total} lines"
        return None
    if section and (root / section["path"]).is_file():
        name = section["name"]
        marks = [(m["type"].lower(), m["name"]) for line in (root / section["path"]).read_text().splitlines()
                 for m in [MARKER.search(line)] if m]
        if ("start", name) not in marks or ("end", name) not in marks[marks.index(("start", name)):]:
            return (f"{section['path']} marks no section {name!r} (a line `# --8<-- [start:{name}]`, later one "
                    f"`# --8<-- [end:{name}]`)")
        return None
    path = ranges["path"] if ranges else section["path"] if section else target
    return f"no file {path} (snippets paths start at the repo root)"


def problem_with(block, sources):
    """The problem with `block` given `sources` ({file name: lines}), or None when it is the code."""
    runs, includes = pieces(block)
    if not runs and not includes:
        return "an empty block"
    for target in includes:
        if resolve(target):
            return resolve(target)
    if runs and not any(appears_in(runs, without_markers(lines)) for lines in sources.values()):
        return f"not in any {PART_DIR.name}/*.py as it stands (consecutive lines, `...` between runs in the file's order)"
    return None


PAGES = sorted(PART_DIR.glob("*.md"))
BLOCKS = [(f"{page.name}:{line}", block) for page in PAGES for line, block in python_blocks(page.read_text())]
SOURCES = {path.name: path.read_text().splitlines() for path in sorted(PART_DIR.glob("*.py"))}


def test_the_chapter_shows_code():
    assert BLOCKS, f"no *.md of {PART_DIR.name} shows a ```python block: is the fence still spelled so?"


@pytest.mark.parametrize("page, block", BLOCKS, ids=[page for page, _ in BLOCKS])
def test_an_excerpt_is_the_code(page, block):
    """`page` is the file and the line of the block's opening fence."""
    problem = problem_with(block, SOURCES)
    assert problem is None, f"{PART_DIR.name}/{page}: {problem}:\n{block}"


# ---------- the checker itself, on a made-up file, so that this test is the same in every part ----------

CODE = """\
class Agent:
    def learn(self, batch):
        # --8<-- [start:learn]
        loss = self.loss(batch)

        self.optimizer.zero_grad()
        loss.backward()  # the gradient
        self.optimizer.step()
        # --8<-- [end:learn]
        return loss.item()
""".splitlines()


@pytest.mark.parametrize("block", [
    "loss = self.loss(batch)\n\nself.optimizer.zero_grad()\n",                 # consecutive lines, markers skipped
    "    def learn(self, batch):\n        loss = self.loss(batch)\n",           # across a marker, indented as a whole
    "def learn(self, batch):\n    ...\n    self.optimizer.step()\n",             # runs in order, the same shift
    "...\nloss.backward()  # the gradient\n...\n",                               # what comes before and after left out
])
def test_the_check_passes_the_code(block):
    assert problem_with(block, {"agent.py": CODE}) is None


@pytest.mark.parametrize("block", [
    "loss = self.compute_loss(batch)\n",                                        # a paraphrase
    "loss.backward()\n",                                                        # a comment left out
    "loss.backward()  # backpropagate\n",                                       # a comment of the page's own
    "self.optimizer.zero_grad()\nself.optimizer.step()\n",                      # a line left out, no `...`
    "self.optimizer.step()\n...\nself.optimizer.zero_grad()\n",                 # the wrong order
    "def learn(self, batch):\n...\nself.optimizer.step()\n",                    # runs indented unlike the code
    "def learn(self, batch):\nloss = self.loss(batch)\n",                       # lines indented unlike the code
    "...\n",                                                                    # nothing shown
])
def test_the_check_fails_a_paraphrase(block):
    assert problem_with(block, {"agent.py": CODE}) is not None


def test_the_check_resolves_includes(tmp_path):
    (tmp_path / "part").mkdir()
    (tmp_path / "part" / "agent.py").write_text("\n".join(CODE) + "\n")
    assert resolve("part/agent.py", tmp_path) is None
    assert resolve("part/agent.py:learn", tmp_path) is None
    assert resolve("part/agent.py:4:8", tmp_path) is None
    assert resolve("part/agent.py:4:8,10:10", tmp_path) is None
    assert resolve("part/agent.py:-3:-1", tmp_path) is None
    assert resolve("part/agent.py:act", tmp_path) is not None                 # no such section
    assert resolve("part/agent.py:4:80", tmp_path) is not None                # past the end of the file
    assert resolve("part/agent.py:8:4", tmp_path) is not None                 # an empty range
    assert resolve("part/missing.py:learn", tmp_path) is not None             # no such file
    assert resolve("agent.py:learn", tmp_path) is not None                    # not from the repo root
    assert python_blocks('```python\n--8<-- "part/agent.py:learn"\n```\n') == [(1, '--8<-- "part/agent.py:learn"\n')]
    assert pieces('--8<-- "part/agent.py:learn"\n') == ([], ["part/agent.py:learn"])
    assert python_blocks("````markdown\n```python\nx = 1\n```\n````\n```py title=\"a.py\"\ny = 2\n```\n") == [(6, "y = 2\n")]
