"""Word documents (``.docx``) through python-docx: body paragraphs and tables, in order.

Title and heading styles (``Title``, ``Heading 1`` …, also ``标题 1``) come out as ``#`` lines,
one ``#`` per level; in a document with no heading style, paragraphs set in a larger font than
the body do. A manual line break inside a paragraph starts a new line; a table row is one
line, its cells separated by a space. Page headers and footers are not part of the body and
are not read. Old binary ``.doc`` files and password-protected documents are refused with a
message that says how to convert them.
"""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retriever.errors import SeedError
from retriever.readers.base import read_bytes

suffixes: tuple[str, ...] = (".docx",)

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container of .doc files and of encrypted .docx
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.IGNORECASE)
_TITLE_STYLE = re.compile(r"^(?:title|subtitle|标题|副标题)$", re.IGNORECASE)
#: Without heading styles, a paragraph this much larger than the body (points) is a heading.
SIZE_STEP = 1.0


def heading_level(style_name: str | None) -> int:
    """The heading level a paragraph style stands for: Title 1, Heading 2 → 2, body 0."""
    name = (style_name or "").strip()
    if _TITLE_STYLE.match(name):
        return 1
    if m := _HEADING_STYLE.match(name):
        return max(1, int(m.group(1)))
    return 0


@dataclass(frozen=True)
class _Block:
    """A body paragraph or table row group, before headings set by font size are known."""

    lines: tuple[str, ...]
    level: int = 0  # from the paragraph style; 0 for body text and tables
    size: float | None = None  # the largest font size its runs set (points), if any
    paragraph: bool = True


def _font_size(paragraph: Any) -> float | None:
    sizes = [run.font.size.pt for run in paragraph.runs if run.font.size is not None and run.text.strip()]
    if sizes:
        return float(max(sizes))
    style = paragraph.style
    while style is not None:
        if style.font.size is not None:
            return float(style.font.size.pt)
        style = style.base_style
    return None


def _paragraph_block(paragraph: Any) -> _Block:
    level = heading_level(paragraph.style.name if paragraph.style is not None else None)
    lines = (part.strip() for part in paragraph.text.replace("\t", " ").split("\n"))
    return _Block(lines=tuple(line for line in lines if line), level=level, size=_font_size(paragraph))


def size_levels(blocks: list[_Block]) -> dict[float, int]:
    """Heading levels for font sizes larger than the body's, when no paragraph uses a heading style.

    Many government .docx files set the title in a larger font (二号 22 pt over a 三号 16 pt body)
    by direct formatting rather than with a style: such a paragraph is a heading too.
    """
    if any(block.level for block in blocks):
        return {}
    weights: Counter[float] = Counter()
    for block in blocks:
        if block.paragraph and block.size is not None:
            weights[block.size] += sum(len(line) for line in block.lines)
    if not weights:
        return {}
    body = weights.most_common(1)[0][0]
    larger = sorted({size for size in weights if size >= body + SIZE_STEP}, reverse=True)
    return {size: rank for rank, size in enumerate(larger, start=1)}


def _lines(blocks: list[_Block]) -> list[str]:
    levels = size_levels(blocks)
    out: list[str] = []
    for block in blocks:
        level = block.level or (levels.get(block.size, 0) if block.size is not None else 0)
        if level and block.lines:
            out.append("#" * level + " " + " ".join(block.lines))
        else:
            out.extend(block.lines)
    return out


def _table_lines(table: Any) -> list[str]:
    lines = []
    for row in table.rows:
        seen: set[int] = set()
        cells = []
        for cell in row.cells:  # a merged cell repeats: keep its first appearance
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            text = " ".join(part.strip() for part in cell.text.split("\n") if part.strip())
            if text:
                cells.append(text)
        if cells:
            lines.append(" ".join(cells))
    return lines


def read(path: Path) -> str:
    """The body text of a .docx, one paragraph per line.

    Raises:
        SeedError: the file is a .doc, password-protected, or not a valid .docx.
    """
    import docx  # python-docx; imported here so that reading .txt never needs it
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from lxml.etree import XMLSyntaxError  # python-docx parses with lxml

    data = read_bytes(path)
    if data.startswith(_OLE):
        raise SeedError(f"{path} is a Word 97–2003 .doc or a password-protected .docx, which cannot be read.",
                        "Open it in Word or LibreOffice and save it as an unprotected .docx "
                        "(e.g. `soffice --headless --convert-to docx FILE`).")
    try:
        document = docx.Document(str(path))
        blocks = [_Block(tuple(_table_lines(block)), paragraph=False) if isinstance(block, Table)
                  else _paragraph_block(block) for block in document.iter_inner_content()]
        lines = _lines(blocks)
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise SeedError(f"{path} is not a valid .docx ({type(exc).__name__}: {exc}).",
                        "Open it in Word or LibreOffice and save it again as .docx, or export it as .txt.") from exc
    except XMLSyntaxError as exc:
        raise SeedError(f"{path} is a damaged .docx: its document.xml is not well-formed ({exc}).",
                        "Open it in Word or LibreOffice (which can repair it) and save it again.") from exc
    return "\n".join(lines) + ("\n" if lines else "")
