"""README and docs/ say only what the CLI does: every ``empf-hw`` command they show exists, with every flag."""

import re
from pathlib import Path

import pytest

from empf_hw.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _subparsers(parser) -> dict:
    acts = [a for a in parser._actions if hasattr(a, "_name_parser_map")]
    return acts[0].choices if acts else {}


def _invocations() -> list[tuple[str, str]]:
    """(document, text of each code span or code-block line that runs empf-hw)."""
    out = []
    for doc in DOCS:
        text = doc.read_text()
        spans = re.findall(r"`([^`\n]*empf-hw [^`\n]*)`", text)
        blocks = [ln for b in re.findall(r"```.*?\n(.*?)```", text, re.S) for ln in b.splitlines()
                  if re.search(r"(^|&&\s*|\$\s*)empf-hw ", ln.strip())]
        out += [(doc.name, s) for s in spans + blocks]
    return out


def _check(text: str) -> list[str]:
    """Problems with every ``empf-hw …`` command in one line of documentation."""
    problems = []
    for m in re.finditer(r"empf-hw ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)(.*?)(?=empf-hw |[|&;]\s|$)", text):
        words, rest = m.group(1).split(), m.group(2)
        parser = build_parser()
        sub = _subparsers(parser)
        if words[0] not in sub:
            problems.append(f"no command {words[0]!r}")
            continue
        parser = sub[words[0]]
        if len(words) > 1 and words[1] in _subparsers(parser):
            parser = _subparsers(parser)[words[1]]
        flags = {s for a in parser._actions for s in a.option_strings}
        problems += [f"{' '.join(words)}: no flag {f}" for f in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", rest)
                     if f not in flags]
    return problems


def test_documented_invocations_are_found():
    docs = {d for d, _ in _invocations()}
    assert "README.md" in docs and len(_invocations()) >= 20


@pytest.mark.parametrize("doc,text", _invocations())
def test_every_documented_flag_exists(doc, text):
    assert not _check(text), (doc, text)


def test_the_checker_finds_a_made_up_flag():
    assert _check("`empf-hw simulate --no-such-flag`") == ["simulate: no flag --no-such-flag"]
    assert _check("empf-hw sanafe export --model M --out d") == []
    assert _check("empf-hw frobnicate") == ["no command 'frobnicate'"]
