"""Word documents (``.docx``) through python-docx: body paragraphs and tables, in order.

Title and heading styles (``Title``, ``Heading 1`` …, also ``标题 1``) come out as ``#`` lines, one
``#`` per level; a manual line break inside a paragraph starts a new line; a table row is one
line, its cells separated by a space. Page headers and footers are not part of the body and
are not read. Old binary ``.doc`` files and password-protected documents are refused with a
message that says how to convert them.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from retriever.errors import SeedError
from retriever.readers.base import read_bytes
from retriever.repair import fold_radicals

suffixes: tuple[str, ...] = (".docx",)

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container of .doc files and of encrypted .docx
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.IGNORECASE)
_TITLE_STYLE = re.compile(r"^(?:title|subtitle|标题|副标题)$", re.IGNORECASE)


def heading_level(style_name: str | None) -> int:
    """The heading level a paragraph style stands for: Title 1, Heading 2 → 2, body 0."""
    name = (style_name or "").strip()
    if _TITLE_STYLE.match(name):
        return 1
    if m := _HEADING_STYLE.match(name):
        return max(1, int(m.group(1)))
    return 0


def _paragraph_lines(paragraph: Any) -> list[str]:
    level = heading_level(paragraph.style.name if paragraph.style is not None else None)
    lines = [part.strip() for part in paragraph.text.replace("\t", " ").split("\n")]
    lines = [line for line in lines if line]
    if level and lines:
        return ["#" * level + " " + " ".join(lines)]
    return lines


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
        lines: list[str] = []
        for block in document.iter_inner_content():
            lines.extend(_table_lines(block) if isinstance(block, Table) else _paragraph_lines(block))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise SeedError(f"{path} is not a valid .docx ({type(exc).__name__}: {exc}).",
                        "Open it in Word or LibreOffice and save it again as .docx, or export it as .txt.") from exc
    except XMLSyntaxError as exc:
        raise SeedError(f"{path} is a damaged .docx: its document.xml is not well-formed ({exc}).",
                        "Open it in Word or LibreOffice (which can repair it) and save it again.") from exc
    return fold_radicals("\n".join(lines) + ("\n" if lines else ""))
