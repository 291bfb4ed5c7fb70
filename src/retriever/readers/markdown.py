"""Markdown (``.md``), as the corpus is written: structure kept, inline syntax dropped.

Kept as they are, because the parser reads them: ``#`` headings and the ``<!-- INFO END -->``
line that closes a corpus file's header. Dropped: a YAML front matter block, other whole-line
comments (the corpus's ``<!-- TABLE -->``, ``<!-- FORCE BREAK -->``), table separator rows and
horizontal rules, emphasis, link and image syntax (their text stays), inline code ticks, block
quote and list markers, and backslash escapes. A table row becomes one line, its cells
separated by a space.
"""

from __future__ import annotations

import re
from pathlib import Path

from retriever.readers.base import decode_text, read_bytes

suffixes: tuple[str, ...] = (".md", ".markdown")

#: The corpus marks the end of a document's header with this line; the parser uses it.
INFO_END = "<!-- INFO END -->"

_COMMENT = re.compile(r"^\s*<!--.*-->\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_TABLE_ROW = re.compile(r"^\s*\|(.*)\|\s*$")
_QUOTE = re.compile(r"^\s*(>\s?)+")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(?=\S)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![*\\])\*(?=[^\s*])([^*]+?)(?<=[^\s*\\])\*(?!\*)")
_CODE = re.compile(r"`([^`]+)`")
_INLINE_TAG = re.compile(r"</?(?:br|p|div|span|sup|sub|b|i|u|em|strong|font|center)\b[^>]*>", re.IGNORECASE)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>])")


def _without_front_matter(lines: list[str]) -> list[str]:
    """Drop a leading YAML front matter block (``---`` … ``---``), site metadata, not text."""
    if lines and lines[0].strip() == "---":
        for index, line in enumerate(lines[1:], start=1):
            if line.strip() in ("---", "..."):
                return lines[index + 1:]
    return lines


def strip_markdown(text: str) -> str:
    """Markdown text → the same lines without inline syntax (see the module docstring)."""
    out: list[str] = []
    for raw in _without_front_matter(text.splitlines()):
        line = raw.rstrip()
        if line.strip() == INFO_END:
            out.append(INFO_END)
            continue
        if _COMMENT.match(line) or _TABLE_RULE.match(line):
            continue
        if row := _TABLE_ROW.match(line):
            line = " ".join(cell.strip() for cell in row.group(1).split("|") if cell.strip())
        line = _QUOTE.sub("", line)
        line = _BULLET.sub(r"\1", line)
        line = _IMAGE.sub(r"\1", line)
        line = _LINK.sub(r"\1", line)
        line = _STRONG.sub(r"\2", line)
        line = _EMPHASIS.sub(r"\1", line)
        line = _CODE.sub(r"\1", line)
        line = _INLINE_TAG.sub("", line)
        line = _ESCAPE.sub(r"\1", line)
        out.append(line)
    return "\n".join(out) + ("\n" if out else "")


def read(path: Path) -> str:
    """The file's text with inline Markdown syntax stripped.

    Raises:
        SeedError: unreadable, binary, or not UTF-8.
    """
    return strip_markdown(decode_text(path, read_bytes(path)))
