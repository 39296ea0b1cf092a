"""MkDocs hook: the site's pages are the repo's own markdown files, not copies of them.

MkDocs reads pages from `docs_dir`, and `docs_dir` cannot be the folder that holds mkdocs.yml. So the
pages are added here instead: every file that matches PUBLISHED becomes a `File` whose source folder is
the repo root. A page's URL then mirrors its path in the repo (part2_dqn/README.md -> part2_dqn/,
part2_dqn/NOTES.md -> part2_dqn/NOTES/), and every relative link or image path in a README works on
the site exactly as it does on GitHub.

The files in docs/ are re-rooted the same way (docs/README.md -> docs/), so that docs/README.md does not
collide with the top README.md as the home page, and docs/hooks.py and other scripts there are not
published.
"""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.repo_pages")

ROOT = Path(__file__).resolve().parent.parent

# What the site publishes, as globs relative to the repo root (`*` stays inside one folder, `**/` is any
# number of folders, a trailing `**` everything below). A new chapter file such as part2_dqn/replay.md
# is picked up by "part*/*.md"; it appears in the menu once mkdocs.yml's nav lists it.
PUBLISHED = (
    "README.md",
    "part*/*.md",  # each part's chapter (README.md, or several posts) and its NOTES.md appendix
    "part*/plots/**",
    "part*/**/*.gif",
    "benchmarks/README.md",
    "benchmarks/plots/**",
    "benchmarks/**/*.gif",
    "benchmarks/sweeps/*/README.md",  # a sweep's table
    "benchmarks/sweeps/*/*.png",  # a sweep's figure
    "docs/*.md",  # site-only pages: how the site is built, the include test page
    "docs/assets/**",  # KaTeX and the script that typesets the equations
)


def _pattern(glob: str) -> re.Pattern:
    """The regex of one PUBLISHED glob: `**/` is any number of folders, `*` and `?` stay in one."""
    parts = re.split(r"(\*\*/|\*\*|\*|\?)", glob)
    wildcards = {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcards.get(p, re.escape(p)) for p in parts))


PATTERNS = [_pattern(glob) for glob in PUBLISHED]


def _candidates() -> list[str]:
    """Repo-relative paths of the files git tracks or would track (run output that git ignores stays
    off the site); every file under the published folders when the repo is not a git checkout."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z",
             "--", "README.md", "part*", "benchmarks", "docs"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout.decode()
        return [path for path in listing.split("\0") if path]
    except (OSError, subprocess.CalledProcessError):
        folders = [ROOT / "README.md", ROOT / "benchmarks", ROOT / "docs", *ROOT.glob("part*")]
        return [p.relative_to(ROOT).as_posix() for folder in folders
                for p in ([folder] if folder.is_file() else folder.rglob("*"))]


def published_paths() -> list[str]:
    """Repo-relative paths of the files the site is made of, sorted."""
    return sorted(
        path for path in set(_candidates())
        if any(pattern.fullmatch(path) for pattern in PATTERNS)
        and "__pycache__" not in path
        and (ROOT / path).is_file()  # deleted in the work tree but still in git's index
    )


def on_files(files: Files, config) -> Files:
    docs_dir = Path(config["docs_dir"]).resolve()
    # Keep the theme's own files; drop docs_dir's, which come back below with the repo root as source.
    kept = [f for f in files if not Path(f.abs_src_path or "/").resolve().is_relative_to(docs_dir)]
    repo_files = [
        File(path, src_dir=str(ROOT), dest_dir=config["site_dir"],
             use_directory_urls=config["use_directory_urls"])
        for path in published_paths()
    ]
    log.debug("publishing %d repo files", len(repo_files))
    return Files(kept + repo_files)


def on_serve(server, config, builder):
    """`mkdocs serve` watches docs_dir alone; also watch the folders the pages come from (not
    recursively, so a training run's logs do not trigger rebuilds) and the plots folders."""
    folders = {(ROOT / path).parent for path in published_paths()}
    for folder in sorted(folders):
        server.watch(str(folder), recursive=False)
    return server
