"""PDF with a text layer (``.pdf``) through pdfplumber; no OCR.

pdfplumber gives each character's font size and position, which the repair step needs:
a line that reaches the right edge of the text block was wrapped, an indented line opens
a paragraph, and a line set larger than the body is a heading. This module turns the
geometry into :class:`retriever.repair.Line` hints; :mod:`retriever.repair` does the rest
(page numbers and running heads, radicals, joining).
"""

from __future__ import annotations

import itertools
import logging
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retriever.errors import SeedError
from retriever.readers.base import read_bytes
from retriever.repair import Line, repair_pages

suffixes: tuple[str, ...] = (".pdf",)

#: A line at least this much larger than the body (points, sizes rounded to 0.5) is a heading.
HEADING_STEP = 0.5
#: A body line ending within this many characters of the right edge is full (wrapped). CJK
#: line breaking can leave a wrapped line a character or two short, but then it does not end
#: a sentence, and repair joins it anyway; a wider slack would join a paragraph whose last
#: line is merely long to the next one.
FULL_SLACK = 1.0
#: A heading line is full when at most this many of its characters short of the block width
#: (a centred heading's second line is shorter than that).
HEADING_SLACK = 1.0
#: A line starting this many characters right of the left edge is indented.
INDENT_MIN = 0.5
#: Vertical space this many characters beyond the usual line spacing separates paragraphs.
GAP_MIN = 0.4
#: A gap between two characters this many characters wider than the line's spacing is a space.
WORD_GAP = 0.15


@dataclass(frozen=True)
class _RawLine:
    text: str
    x0: float
    x1: float
    size: float
    top: float = 0.0
    bottom: float = 0.0


@contextmanager
def _quiet_pdfminer() -> Iterator[None]:
    """pdfminer logs a warning per glyph for some embedded fonts; they say nothing to a user."""
    logger = logging.getLogger("pdfminer")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def line_text(chars: list[dict[str, Any]], size: float) -> str:
    """A line's characters with a space wherever a gap is wider than the line's own spacing.

    Letter-spaced or justified Chinese text puts a gap between every two characters; a
    fixed threshold (pdfplumber's is 3 pt) would write ``第 一 条 为 了``. The line's usual gap
    (its lower quartile, so that a few tight punctuation pairs do not set it) is the
    spacing; a space is written where a gap exceeds it by :data:`WORD_GAP` characters.
    """
    visible = sorted((c for c in chars if c["text"].strip()), key=lambda c: float(c["x0"]))
    if not visible:
        return ""
    gaps = [float(b["x0"]) - float(a["x1"]) for a, b in itertools.pairwise(visible)]
    spacing = sorted(gaps)[len(gaps) // 4] if gaps else 0.0
    out = [visible[0]["text"]]
    for gap, before, char in zip(gaps, visible, visible[1:], strict=False):
        if gap > spacing + WORD_GAP * size and not (_wide_punctuation(before["text"]) or
                                                    _wide_punctuation(char["text"])):
            out.append(" ")
        out.append(char["text"])
    return "".join(out)


def _wide_punctuation(text: str) -> bool:
    """CJK and typographic punctuation (，。“”《》…): Chinese text never puts a space beside one,
    but such glyphs are often narrower than their advance, which looks like a gap."""
    return len(text) == 1 and ord(text) >= 0x2000 and unicodedata.category(text).startswith("P")


def _raw_lines(page: Any) -> list[_RawLine]:
    lines = []
    for line in page.extract_text_lines(return_chars=True, keep_blank_chars=False):
        chars = [c for c in line["chars"] if c["text"].strip()]
        if not chars:
            continue
        sizes = Counter(round(float(c["size"]) * 2) / 2 for c in chars)
        size = sizes.most_common(1)[0][0]
        lines.append(_RawLine(text=line_text(chars, size), x0=float(line["x0"]), x1=float(line["x1"]),
                              size=size, top=float(line["top"]), bottom=float(line["bottom"])))
    return lines


def text_block(lines: list[_RawLine]) -> tuple[float, float]:
    """The left and right edges of the text block, robust to a stray line past a margin.

    Left: the smallest start shared by two lines or more. Right: the commonest end among the
    long lines (a wrapped line ends there; a line can overflow it by a punctuation mark).
    """
    starts = Counter(round(line.x0) for line in lines)
    shared = [x for x, count in starts.items() if count >= 2]
    left = float(min(shared)) if shared else min(line.x0 for line in lines)
    widest = max(line.x1 for line in lines)
    ends = Counter(round(line.x1) for line in lines if line.x1 - left >= 0.8 * (widest - left))
    return left, float(ends.most_common(1)[0][0])


def line_spacing(pages: list[list[_RawLine]], body: float) -> float:
    """The usual space between two consecutive body lines (points): the commonest one."""
    gaps: Counter[float] = Counter()
    for page in pages:
        for above, below in itertools.pairwise(page):
            if above.size == body == below.size and below.top > above.top:
                gaps[round(below.top - above.bottom)] += 1
    return float(gaps.most_common(1)[0][0]) if gaps else 0.0


def layout_lines(pages: list[list[_RawLine]]) -> list[list[Line]]:
    """Geometry → layout hints, measured against the body text of the whole document."""
    weights: Counter[float] = Counter()
    for page in pages:
        for line in page:
            weights[line.size] += len(line.text)
    if not weights:
        return [[] for _ in pages]
    body = weights.most_common(1)[0][0]
    body_lines = [line for page in pages for line in page if line.size == body]
    left, right = text_block(body_lines)
    spacing = line_spacing(pages, body)
    levels = sorted({line.size for page in pages for line in page if line.size >= body + HEADING_STEP},
                    reverse=True)
    out = []
    for page in pages:
        hinted = []
        for index, line in enumerate(page):
            heading = levels.index(line.size) + 1 if line.size in levels else 0
            if heading:
                full = line.x1 - line.x0 >= right - left - HEADING_SLACK * line.size
            else:
                full = line.x1 >= right - FULL_SLACK * line.size
            above = page[index - 1] if index else None
            gap = above is not None and line.top - above.bottom > spacing + GAP_MIN * line.size
            hinted.append(Line(text=line.text, full=full, indented=line.x0 > left + INDENT_MIN * line.size,
                               gap=gap, heading=heading))
        out.append(hinted)
    return out


def read(path: Path) -> str:
    """The repaired text of a PDF's text layer, one paragraph per line.

    Raises:
        SeedError: not a PDF, damaged, password-protected, or with no text layer (scanned).
    """
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect

    data = read_bytes(path)
    if b"%PDF-" not in data[:1024]:  # the header may follow some junk, within the first 1 KiB
        raise SeedError(f"{path} is not a PDF (no %PDF- header).",
                        "Check the file; if it is another format, give it the right extension.")
    try:
        with _quiet_pdfminer(), pdfplumber.open(str(path)) as document:
            pages = [_raw_lines(page) for page in document.pages]
    except Exception as exc:  # pdfplumber wraps pdfminer's errors in its own exception types
        cause = exc.__cause__ or exc.__context__ or exc
        if isinstance(exc, PDFPasswordIncorrect) or isinstance(cause, PDFPasswordIncorrect) \
                or "password" in str(exc).lower():
            raise SeedError(f"{path} is password-protected.",
                            "Remove the password (e.g. `qpdf --decrypt --password=PW IN OUT`) and add it again."
                            ) from exc
        raise SeedError(f"{path} is a damaged PDF ({type(exc).__name__}: {exc}).",
                        "Re-export it from the original document, or save its text as .txt.") from exc
    if not pages:
        raise SeedError(f"{path} is a damaged PDF: it has no pages.",
                        "Re-export it from the original document, or save its text as .txt.")
    if not any(pages):
        raise SeedError(f"{path} has no text layer (a scanned or image-only PDF); OCR is not supported.",
                        "Use a PDF with selectable text, or run OCR yourself (e.g. `ocrmypdf -l chi_sim IN OUT`) "
                        "and add the result.")
    return repair_pages(layout_lines(pages))
