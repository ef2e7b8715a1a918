"""The fenced code blocks of a Markdown document, section by section, so tests can run
documentation as written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    section: str


def _level(line: str) -> int:
    return len(line) - len(line.lstrip("#")) if line.startswith("#") else 0


def section_blocks(document: Path, heading: str) -> list[Block]:
    """The fenced blocks under ``heading`` (a whole heading line, e.g. ``"## Tokens"``),
    its subsections included, up to the next heading of the same or a higher level.
    Raise ``LookupError`` when the heading is missing or the section has no block."""
    blocks: list[Block] = []
    level = _level(heading)
    inside = False
    fence: list[str] | None = None
    language = ""
    for line in document.read_text(encoding="utf-8").splitlines():
        if fence is None and _level(line) and line.startswith("#" * _level(line) + " "):
            if line == heading:
                inside = True
                continue
            if inside and _level(line) <= level:
                break
        if not inside:
            continue
        if line.startswith("```"):
            if fence is None:
                fence, language = [], line[3:].strip()
            else:
                blocks.append(Block(language, "\n".join(fence) + "\n", heading))
                fence = None
        elif fence is not None:
            fence.append(line)
    if not blocks:
        raise LookupError(f"no code block under {heading!r} in {document}")
    return blocks
