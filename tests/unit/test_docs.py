"""The docs stay honest: links and anchors resolve inside the repository, every code path a
doc names exists, the README stays a five-minute read, no doc is organised by issue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 170

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```.*?```", re.S)
# chalicelib/…, tests/…, bench/…, infra/… and the short forms docs use inside chalicelib/.
SHORT = ("api", "services", "store", "domain", "delivery", "local")
CODE_PATH = re.compile(r"(?<![\w/.])((?:chalicelib|tests|bench|infra)/[\w/]*\w\.py"
                       r"|(?:" + "|".join(SHORT) + r")/\w+\.py)")


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_every_link_in_the_docs_points_to_a_file_and_heading_inside_the_repository(doc):
    broken = []
    for target in LINK.findall(FENCE.sub("", doc.read_text())):
        if re.match(r"[a-z]+://", target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if ROOT not in linked.parents and linked != ROOT:
            broken.append(f"{target} (outside the repository)")
        elif not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{_name(doc)}: " + ", ".join(broken)


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_every_code_path_a_doc_names_exists(doc):
    missing = []
    for n, line in enumerate(doc.read_text().splitlines(), 1):
        for path in CODE_PATH.findall(line):
            where = ROOT / "chalicelib" / path if path.startswith(SHORT) else ROOT / path
            if not where.exists():
                missing.append(f"line {n}: {path}")
    assert not missing, f"{_name(doc)} names files that do not exist: " + ", ".join(missing)


def test_the_readme_is_a_five_minute_read():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/"


def test_the_readme_links_every_doc():
    readme = (ROOT / "README.md").read_text()
    unlinked = [p.name for p in (ROOT / "docs").glob("*.md") if f"(docs/{p.name}" not in readme]
    assert not unlinked, f"README.md does not link {unlinked}"


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_no_doc_is_organised_by_issue_number(doc):
    hits = re.findall(r"\bissues? \d+", doc.read_text(), re.I)
    assert not hits, f"{_name(doc)} mentions {hits}: organise docs by area, not by issue"
