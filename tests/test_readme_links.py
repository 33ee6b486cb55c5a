"""README.md's links lead somewhere: every in-page link (``[text](#anchor)``) names a heading of the README as
GitHub renders its anchor (github-slugger's rules), and every relative link names a file of the repository.

No database: this reads a file."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# Anchors of sections written on other branches at the same time; the entry goes once the section is merged.
PENDING_ANCHORS: set[str] = set()

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HTML_ANCHOR = re.compile(r"<a\s+[^>]*(?:id|name)=\"([^\"]+)\"")
HTML_HREF = re.compile(r"href=\"(#[^\"]+)\"")


def _inline_text(markdown: str) -> str:
    """The text GitHub renders for a heading's inline markdown (code spans kept, markup dropped)."""
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", markdown)  # images: their alt text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.replace("`", "")
    text = re.sub(r"(\*\*|__|\*)", "", text)  # emphasis markers (a lone underscore inside a word stays)
    return text.strip()


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case; letters, digits, marks, ``_``, ``-`` and spaces kept, every other
    character dropped; each space becomes ``-`` (github-slugger)."""
    kept = []
    for ch in _inline_text(heading).lower():
        if ch in " -_" or unicodedata.category(ch)[0] in "LNM":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def _lines_outside_code(text: str):
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def anchors(text: str) -> set[str]:
    """Every anchor the rendered document has: headings (a repeated one gets ``-1``, ``-2``…) and HTML anchors."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for _, line in _lines_outside_code(text):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            out.add(base if count == 0 else f"{base}-{count}")
        out.update(HTML_ANCHOR.findall(line))
    return out


def _without_code_spans(line: str) -> str:
    return re.sub(r"`[^`]*`", "", line)


def links(text: str) -> list[tuple[int, str]]:
    """``(line, target)`` of every markdown link and HTML href outside code blocks and code spans."""
    out = []
    for number, line in _lines_outside_code(text):
        line = _without_code_spans(line)
        out += [(number, target) for target in LINK.findall(line)]
        out += [(number, target) for target in HTML_HREF.findall(line)]
    return out


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Pages: conventions", "pages-conventions"),
    ("The control room (`/autonomy/`)", "the-control-room-autonomy"),
    ("Kill conditions, circuits and the playbook", "kill-conditions-circuits-and-the-playbook"),
    ("Readiness scorecard (Phase D)", "readiness-scorecard-phase-d"),
    ("A kill-switch trip (budget breach → HALTED)", "a-kill-switch-trip-budget-breach--halted"),
    ("`execution.reconcile_executions` and [a link](https://example.org)", "executionreconcile_executions-and-a-link"),
])
def test_slug_follows_github(heading, anchor):
    assert slug(heading) == anchor


def test_repeated_headings_are_numbered():
    assert anchors("# Notes\n## Notes\n```sh\n# Notes\n```\n### Notes\n") == {"notes", "notes-1", "notes-2"}


def test_every_in_page_link_of_the_readme_resolves():
    text = README.read_text(encoding="utf-8")
    known = anchors(text)
    broken = [f"line {n}: {target}" for n, target in links(text)
              if target.startswith("#") and target[1:] not in known and target[1:] not in PENDING_ANCHORS]
    assert broken == []


def test_every_relative_link_of_the_readme_names_a_file():
    text = README.read_text(encoding="utf-8")
    relative = [(n, t) for n, t in links(text) if not re.match(r"^(#|[a-z][a-z0-9+.-]*:)", t)]
    missing = [f"line {n}: {t}" for n, t in relative if not (ROOT / t.split("#")[0]).exists()]
    assert missing == []


def test_the_readme_keeps_its_first_steps_first():
    """A newcomer meets the quick start, then the guide sections, in this order, before the reference."""
    order = [slug(m.group(2)) for _, line in _lines_outside_code(README.read_text(encoding="utf-8"))
             if (m := HEADING.match(line)) and len(m.group(1)) == 2]
    guide = ["contents", "architecture", "concepts", "operations", "runbooks", "layout"]
    assert [h for h in order if h in guide] == guide
