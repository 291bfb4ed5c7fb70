"""Repair text extracted from page layouts (PDF) before the structure parser sees it.

Three repairs, each its own function (and :func:`fold_shared_glyphs`, a smaller fourth):

- :func:`fold_radicals` — PDF fonts often map a glyph to a *radical* code point rather
  than the ideograph (``⼈⺠`` for 人民, ``部⻔`` for 部门): Kangxi radicals (U+2F00–U+2FD5,
  folded as NFKC does) and CJK radical supplements (U+2E80–U+2EF3, which NFKC leaves
  alone, folded by an explicit table). Nothing else is normalised: full-width （） and
  ，：stay as they are.
- :func:`drop_page_furniture` — page numbers (``- 3 -``, ``第 3 页``, ``3 / 12``) and running
  heads or feet repeated at the top or bottom of most pages.
- :func:`join_lines` — lines wrapped mid-paragraph joined back, using what the layout says
  about each line (does it reach the right edge of the text block? is it indented?) and,
  where the layout says nothing, the punctuation.

:func:`repair_pages` runs all three and returns the document text, one paragraph per line,
headings prefixed with ``#`` (one per level) as the parser expects.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

# CJK radical supplements with an equivalent unified ideograph (Unicode's
# EquivalentUnifiedIdeograph.txt); each checked against the character's Unicode name
# (e.g. U+2ED4 CJK RADICAL C-SIMPLIFIED GATE → 门). Radicals without one are left alone.
_RADICAL_SUPPLEMENTS = {
    0x2E81: "厂", 0x2E84: "乙", 0x2E85: "亻", 0x2E86: "冂", 0x2E87: "几", 0x2E88: "刀", 0x2E89: "刂",
    0x2E8A: "卜", 0x2E8C: "小", 0x2E8D: "小", 0x2E8E: "兀", 0x2E8F: "尣", 0x2E90: "尢", 0x2E92: "巳",
    0x2E93: "幺", 0x2E94: "彑", 0x2E96: "忄", 0x2E97: "心", 0x2E98: "扌", 0x2E99: "攵", 0x2E9B: "旡",
    0x2E9D: "月", 0x2E9E: "歺", 0x2E9F: "母", 0x2EA0: "民", 0x2EA1: "氵", 0x2EA2: "氺", 0x2EA3: "灬",
    0x2EA4: "爫", 0x2EA6: "丬", 0x2EA7: "牛", 0x2EA8: "犭", 0x2EA9: "王", 0x2EAB: "罒", 0x2EAC: "示",
    0x2EAD: "礻", 0x2EAE: "竹", 0x2EAF: "糹", 0x2EB0: "纟", 0x2EB1: "罓", 0x2EB2: "罒", 0x2EB3: "网",
    0x2EB6: "羊", 0x2EB7: "羊", 0x2EB9: "耂", 0x2EBA: "肀", 0x2EBB: "聿", 0x2EBC: "肉", 0x2EBD: "臼",
    0x2EBE: "艹", 0x2EBF: "艹", 0x2EC0: "艹", 0x2EC1: "虎", 0x2EC2: "衤", 0x2EC3: "覀", 0x2EC4: "西",
    0x2EC5: "见", 0x2EC6: "角", 0x2EC8: "讠", 0x2EC9: "贝", 0x2ECA: "足", 0x2ECB: "车", 0x2ECC: "辶",
    0x2ECD: "辶", 0x2ECE: "辶", 0x2ECF: "阝", 0x2ED0: "钅", 0x2ED1: "長", 0x2ED2: "镸", 0x2ED3: "长",
    0x2ED4: "门", 0x2ED6: "阝", 0x2ED7: "雨", 0x2ED8: "青", 0x2ED9: "韦", 0x2EDA: "页", 0x2EDB: "风",
    0x2EDC: "飞", 0x2EDD: "食", 0x2EDF: "飠", 0x2EE0: "饣", 0x2EE2: "马", 0x2EE3: "骨", 0x2EE4: "鬼",
    0x2EE5: "鱼", 0x2EE6: "鸟", 0x2EE7: "卤", 0x2EE8: "麦", 0x2EE9: "黄", 0x2EEA: "黾", 0x2EEB: "斉",
    0x2EEC: "齐", 0x2EED: "歯", 0x2EEE: "齿", 0x2EEF: "竜", 0x2EF0: "龙", 0x2EF1: "龜", 0x2EF2: "亀",
    0x2EF3: "龟",
}
_KANGXI = range(0x2F00, 0x2FD6)
_FOLD: dict[int, str] = {cp: unicodedata.normalize("NFKC", chr(cp)) for cp in _KANGXI} | _RADICAL_SUPPLEMENTS
_HAS_RADICAL = re.compile("[\u2e80-\u2ef3\u2f00-\u2fd5]")
# Fonts that draw two code points with one glyph let the PDF writer pick either for the text
# layer (Chromium takes the lower: 戶 U+6236 for 户 U+6237). Folded only in simplified text.
_SHARED_GLYPHS = {ord("戶"): "户"}
# U+2329/U+232A are canonically 〈〉 (U+3008/U+3009), the ones Chinese text uses.
_ANGLE_BRACKETS = {0x2329: "〈", 0x232A: "〉"}
_SIMPLIFIED = set("国会为时发这条规门业产务应机关")
_TRADITIONAL = set("國會為時發這條規門業產務應機關")

# Punctuation that ends a paragraph (optionally followed by a closing quote or bracket).
_FINAL = re.compile(r"[。；：！？;:!?][”’」』）)》]*$")
_NUMERAL = "零〇一二两三四五六七八九十百千0-9０-９"
# Lines that always start a new paragraph in a regulation: articles, items, headings.
_STRUCTURE = re.compile(
    rf"^(第[{_NUMERAL}]+[编章节条](?:之[{_NUMERAL}]+)?(?:\s|$)|第[{_NUMERAL}]+[编章节]|[（(][{_NUMERAL}]+[）)]|[{_NUMERAL}]+、)"
)
_HEADING = re.compile(rf"^(#+\s|第[{_NUMERAL}]+[编章节](\s|$))")
_PAGE_NUMBER = re.compile(
    r"^\s*(?:[-–—－]\s*\d+\s*[-–—－]|第\s*\d+\s*页(?:\s*[/,，]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+|"
    r"共\s*\d+\s*页\s*第\s*\d+\s*页|(?:page|p\.)\s*\d+(?:\s*(?:/|of)\s*\d+)?|\d{1,4})\s*$",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class Line:
    """One line of extracted text and what its page layout says about it.

    Attributes:
        text: the line's characters, in reading order.
        full: it reaches the right edge of the text block, so the paragraph may go on
            (``None``: the layout is unknown).
        indented: it starts right of the text block's left edge, as a paragraph's first
            line does (``None``: unknown).
        gap: more vertical space than the line spacing separates it from the line above,
            as between paragraphs (``None``: unknown).
        heading: 0 for body text; 1, 2, … for headings set larger than the body, largest first.
    """

    text: str
    full: bool | None = None
    indented: bool | None = None
    gap: bool | None = None
    heading: int = 0


def fold_radicals(text: str) -> str:
    """Replace Kangxi radicals and CJK radical supplements by their unified ideographs.

    >>> fold_radicals("中华⼈⺠共和国（⼀）部⻔")
    '中华人民共和国（一）部门'
    """
    return text.translate(_FOLD) if _HAS_RADICAL.search(text) else text


def fold_shared_glyphs(text: str) -> str:
    """Undo a PDF writer's pick between code points one glyph draws, in simplified Chinese text.

    >>> fold_shared_glyphs("用戶〈安全〉")
    '用户〈安全〉'
    """
    text = text.translate(_ANGLE_BRACKETS)
    simplified = sum(ch in _SIMPLIFIED for ch in text)
    traditional = sum(ch in _TRADITIONAL for ch in text)
    return text.translate(_SHARED_GLYPHS) if simplified >= traditional else text


def is_page_number(text: str) -> bool:
    """A line that is only a page number: ``3``, ``- 3 -``, ``第 3 页``, ``第3页 共10页``, ``3 / 10``."""
    return bool(_PAGE_NUMBER.match(text))


def drop_page_furniture(pages: Sequence[Sequence[Line]], depth: int = 2) -> list[list[Line]]:
    """Remove page numbers and running heads/feet from the top and bottom of each page.

    A running head is a line (digits ignored, so ``第3页`` and ``第4页`` count as one) found
    among the first or last ``depth`` lines of at least half the pages, and of at least two.
    Heading lines are never dropped: a title may repeat the running head.

    Returns:
        New page lists; the input is not changed.
    """
    counts: Counter[str] = Counter()
    for page in pages:
        edge = {_DIGITS.sub("#", line.text.strip()) for line in (*page[:depth], *page[-depth:])}
        counts.update(edge)
    threshold = max(2, (len(pages) + 1) // 2)
    repeated = {key for key, count in counts.items() if count >= threshold and key}
    result: list[list[Line]] = []
    for page in pages:
        lines = list(page)
        for index in (*range(min(depth, len(lines))), *range(max(0, len(lines) - depth), len(lines))):
            text = lines[index].text.strip()
            if lines[index].heading:  # a title set large is the document's, even if a running head repeats it
                continue
            if is_page_number(text) or _DIGITS.sub("#", text) in repeated:
                lines[index] = replace(lines[index], text="")
        result.append([line for line in lines if line.text.strip()])
    return result


def _continues(previous: Line, line: Line) -> bool:
    """Whether ``line`` carries on the paragraph that ``previous`` belongs to.

    With layout: a heading goes on only after a full heading line (a centred heading is
    "indented" anyway); an indented line, or one after a paragraph gap, opens a paragraph;
    after a full line the paragraph goes on unless a sentence ended and an article or item
    starts. A short line may still
    be wrapped (CJK line breaking can leave a line a few characters short), so after one,
    and where the layout is unknown, the text decides: the paragraph goes on unless the
    line ends a sentence, is a heading, or the next starts an article, item or heading.
    """
    if previous.heading != line.heading:
        return False
    if previous.heading:
        return bool(previous.full)
    ends = bool(_FINAL.search(previous.text))
    starts = bool(_STRUCTURE.match(line.text))
    if line.indented or line.gap:
        return False
    if previous.full:
        return not (ends and starts)
    return not (ends or starts or _HEADING.match(previous.text))


def _latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def join_lines(lines: Iterable[Line]) -> list[Line]:
    """Join lines wrapped inside a paragraph; each returned line is one paragraph.

    A joined paragraph keeps the first line's ``indented`` and ``heading`` and the last
    line's ``full``. Latin words split over two lines get their space back.
    """
    paragraphs: list[Line] = []
    for line in lines:
        text = line.text.strip()
        if not text:
            continue
        line = replace(line, text=text)
        if paragraphs and _continues(paragraphs[-1], line):
            previous = paragraphs[-1]
            glue = " " if _latin(previous.text[-1:]) and _latin(text[:1]) else ""
            paragraphs[-1] = replace(previous, text=previous.text + glue + text, full=line.full)
        else:
            paragraphs.append(line)
    return paragraphs


def repair_pages(pages: Sequence[Sequence[Line]]) -> str:
    """The text of a laid-out document: furniture dropped, radicals folded, wraps joined.

    Returns:
        One paragraph per line; a heading of level *n* starts with *n* ``#`` and a space.
    """
    # Fold first: a footer may read 第 1 ⻚ (U+2EDA, not 页) and still has to be found.
    folded = [[replace(line, text=fold_radicals(line.text)) for line in page] for page in pages]
    # What lies above a page's first line is a margin or a dropped running head: no gap to read.
    kept = [replace(line, gap=None if index == 0 else line.gap)
            for page in drop_page_furniture(folded) for index, line in enumerate(page)]
    out = []
    for paragraph in join_lines(kept):
        prefix = "#" * paragraph.heading + " " if paragraph.heading and not paragraph.text.startswith("#") else ""
        out.append(prefix + paragraph.text)
    return fold_shared_glyphs("\n".join(out)) + ("\n" if out else "")


def repair_text(text: str) -> str:
    """Repair plain text pasted from a PDF: pages split at form feeds, no layout known."""
    pages = [[Line(raw) for raw in page.splitlines()] for page in text.split("\f")]
    return repair_pages(pages)


__all__ = ["Line", "drop_page_furniture", "fold_radicals", "fold_shared_glyphs", "is_page_number", "join_lines",
           "repair_pages", "repair_text"]
