"""The README stays short and links every page in docs/; no relative link in them is broken."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINKED = [README, ROOT / "bench" / "README.md", *PAGES]

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE = re.compile(r"`[^`\n]*`")
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


def prose(text: str) -> str:
    """Markdown without fenced blocks, code spans or comments: where links and headings live."""
    return CODE.sub("", FENCE.sub("", COMMENT.sub("", text)))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation out, spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", COMMENT.sub("", page.read_text()))):
        base, n = slug(heading), 0
        while (name := base if n == 0 else f"{base}-{n}") in found:
            n += 1
        found.add(name)
    return found


def relative_links(page: Path) -> list[str]:
    targets = LINK.findall(prose(page.read_text()))
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t, re.IGNORECASE)]


def test_the_readme_fits_on_a_few_screens():
    assert len(README.read_bytes()) < 15_000, "README.md is 15 KB or more: move a section to docs/"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / t.split("#")[0]).resolve() for t in relative_links(README)}
    assert PAGES, "docs/ has no pages"
    for page in PAGES:
        assert page.resolve() in linked, f"README.md does not link {page.relative_to(ROOT)}"


@pytest.mark.parametrize("page", LINKED, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_reach_a_file_and_a_heading(page: Path):
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{page.relative_to(ROOT)} links {target}: no such file"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{page.relative_to(ROOT)} links {target}: no heading"


def test_slugs_are_githubs():
    assert slug("Docker Compose: from one instance to two replicas") == (
        "docker-compose-from-one-instance-to-two-replicas"
    )
    assert slug("`bench.fanout`: what a user waits for, against the floor") == (
        "benchfanout-what-a-user-waits-for-against-the-floor"
    )
    assert slug("Differences, agreement, probabilities and cost") == (
        "differences-agreement-probabilities-and-cost"
    )


def test_where_things_live_names_every_package_and_only_those():
    section = README.read_text().split("## Where things live", 1)[1]
    named = set(re.findall(r"^\| `(app/[a-z_]+/)`", section, re.MULTILINE))
    packages = {f"app/{p.parent.name}/" for p in (ROOT / "app").glob("*/__init__.py")}
    assert named == packages
