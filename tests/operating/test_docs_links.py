"""The README is a front page and docs/ the reference (#29): every relative link in them leads
to a file that exists and, for `#anchor`, to a heading in it; every docs/*.md is linked from the
README; the README stays short.

Anchors follow GitHub's rules for headings: lowercased, markup and punctuation dropped (letters,
digits, `_`, `-` and spaces kept), spaces turned into `-`, and a repeated heading gets `-1`,
`-2`, ... (github/cmark-gfm's anchor filter, as github.com renders Markdown files).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
README_MAX_LINES = 320

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"(`+).*?\1")


def prose(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(INLINE_CODE.sub("", line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading's text."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        heading = re.match(r"#{1,6} +(.*?)\s*#*\s*$", line)
        if fenced or not heading:
            continue
        base = slug(heading[1])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    return [target for line in prose(path.read_text()) for target in LINK.findall(line)]


def relative(target: str) -> bool:
    return not re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading(page: Path) -> None:
    broken = []
    for target in filter(relative, links(page)):
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT)}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / target.partition("#")[0]).resolve()
              for target in filter(relative, links(README))}
    unlinked = [doc.name for doc in DOCS if doc.resolve() not in linked]
    assert not unlinked, f"README.md does not link {unlinked}"


def test_every_docs_page_links_back_to_the_readme() -> None:
    for doc in DOCS:
        assert "../README.md" in links(doc), doc.name


def test_the_readme_is_a_front_page() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move reference to docs/"


def test_the_checks_themselves() -> None:
    """The anchor and link rules on GitHub's own examples, so a broken checker fails here."""
    assert slug("`[[route]]`: who is told about the alert receivers' alerts") == (
        "route-who-is-told-about-the-alert-receivers-alerts")
    assert slug("Running several replicas (PostgreSQL)") == "running-several-replicas-postgresql"
    assert slug("The command line: `python -m heatwatch <command>`") == (
        "the-command-line-python--m-heatwatch-command")
    assert links(README)  # the README has links at all
    assert prose("a `[x](nowhere.md)` b\n```\n[y](gone.md)\n```\n[z](docs/rules.md)") == [
        "a  b", "[z](docs/rules.md)"]
    assert LINK.findall("[z](docs/rules.md#monitoring) ![p](docs/alert-card.png)") == [
        "docs/rules.md#monitoring", "docs/alert-card.png"]
