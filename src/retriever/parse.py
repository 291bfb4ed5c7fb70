"""Regulation text → clauses: title, header, 编/章/节, 条, 款, 项, department headings.

One parser for every format's text (the readers in :mod:`retriever.readers` hand it one
paragraph per line). It understands:

- a title (``# 中华人民共和国安全生产法``, or a first short line without ``#``) and a
  subtitle (a second ``#`` line before the body, or a ``（…）`` line under the title);
- header lines (adoption, amendment and effective dates) up to ``<!-- INFO END -->``, or,
  without that marker, the dated lines before the first heading or article;
- 编/章/节 headings with or without ``#`` (and other ``#`` headings such as ``## 附件``);
- ``第X条`` articles; each following non-item line until the next article is a new
  paragraph (款);
- items ``（一）``/``(一)``, ``一、``, ``1.``/``1、``/``1．``, ``（1）`` and ``①``; a marker of
  another style inside an item is a sub-item and stays in that item's text (on its own line);
- the seed's department headings (``第十八条 自治区公安厅职责：``, ``第七条 …共同职责：``),
  which name the department of the article's items and are not clauses themselves;
- text outside any article (a preamble, or a whole document without articles), kept as
  article 0 (citation ``序言``, or ``正文`` when the document has no articles).

Clause ids (``<doc-id>#`` is prefixed when a library has more than one document):

=====================  ============================================  =======================
id                     what                                          citation
=====================  ============================================  =======================
``59``                 an article with one paragraph                 第五十九条
``18.7``               item 7 of an article's (first) item list      第十八条第（七）项
``10-2``               paragraph 2 of a multi-paragraph article      第十条第二款
                       (every paragraph gets one, ``10-1`` included)
``25.3``               item 3 in paragraph 1 of a multi-paragraph    第二十五条第一款第（三）项
                       article (the first item-bearing paragraph)
``49-2.1``             item 1 of a later item-bearing paragraph      第四十九条第二款第（一）项
``120a``               an inserted article 第X条之一 (之二: ``120b``)  第一百二十条之一
=====================  ============================================  =======================

The lead-in of an item list (``……负有下列职责：``) is the paragraph it belongs to: a clause of
its own (``21`` or ``21-1``), and every item of the list records it in
:attr:`~retriever.records.Clause.lead_in`.

Repairs for what real files contain: lines wrapped mid-sentence are joined back; items or
articles run together on one line are split at the marker; ``笫X条`` and ``第X 条`` typos and
Arabic ``第N条`` start articles only where the numbering expects them; a list continues across
its last item's own paragraphs and nested lists (``五、`` after ``四、``); plain lines that
fill a numbering gap exactly are items whose marker was lost; a repeated or backward
``第X条`` (a quotation) stays a paragraph of the current article. ``第X条之一`` right after
第X条 is an inserted article of its own (id ``120a``, citation 第一百二十条之一); elsewhere it
is a quotation and stays text.

**Nothing is lost**: every character of the body ends up in exactly one clause, in the
header, or in the heading structure (:attr:`ParsedRegulation.headings`); only markup
(``#`` markers, ``<!-- … -->`` comments) is dropped. Out-of-order, duplicate or unmarked
numbers are reported in :attr:`ParsedRegulation.problems` with file and line.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

from retriever.errors import SeedError
from retriever.records import SHARED_DEPARTMENT, Clause

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUMERAL = "零〇一二两三四五六七八九十百千"
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"

_HASH = re.compile(r"^#+\s*(.*)$")
_DIVISION = re.compile(rf"^第[{_NUMERAL}\d]+(?:分编|编|章|节)(?:\s|$)")
# A heading without ``#``: short and without sentence punctuation.
_BARE_DIVISION = re.compile(rf"^第[{_NUMERAL}\d]+(?:分编|编|章|节)[^，。；：,;:]{{0,30}}$")
_SECTION = re.compile(rf"^第[{_NUMERAL}\d]+节")
_ARTICLE = re.compile(rf"^第([{_NUMERAL}\d]+)条(之[{_NUMERAL}]+)?(\s*)(.*)$")
# Typos the corpus has: 笫 for 第, a space before 条. Accepted only where the numbering expects them.
_ARTICLE_TYPO = re.compile(rf"^[第笫]([{_NUMERAL}]+)\s?条()(\s*)(.*)$")
_ITEM_STYLES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("paren", re.compile(rf"^[（(]([{_NUMERAL}]+)[）)]\s*(.*)$")),
    ("paren_arabic", re.compile(r"^[（(](\d{1,2})[）)]\s*(.*)$")),
    ("dun", re.compile(rf"^([{_NUMERAL}]+)、\s*(.*)$")),
    ("arabic", re.compile(r"^(\d{1,2})(?:[.．、)）](?!\d))\s*(.*)$")),
    ("circled", re.compile(rf"^([{_CIRCLED}])\s*(.*)$")),
)
_HEADING = re.compile(r"^([^，。；、,;（）()]{1,40}?)(?:主要)?职责\s*[:：]\s*$")
# A lead-in such as ``……负有下列职责：`` names no department: it is a paragraph.
_NOT_DEPARTMENT = re.compile(r"下列|以下|的|对|负有|履行|行使|应当|承担")
_SHARED = re.compile(r"共同职责\s*[:：]\s*$")
_COMMENT = re.compile(r"^<!--.*-->$")
_INFO_END = "<!-- INFO END -->"
_SUBTITLE = re.compile(r"^[（(].*[）)]$")
_DATE = re.compile(r"\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?")
# A new （X） item after a clause-ending mark and a space, inside one line.
_RUN_ON = re.compile(rf"(?<=[；;：:。])\s+(?=[（(][{_NUMERAL}]+[）)])|(?<=[。])\s+(?=第[{_NUMERAL}]+条)")
# How a complete paragraph or item ends; anything else was wrapped mid-sentence.
_ENDED = re.compile(r"[。；;：:！!？?”\"’」』）)…]$")
_ITEM_END = re.compile(r"[；;。]$")
_SENTENCE = re.compile(r"[。；，：,;:]")
# Whitespace the seed really contains: ASCII spaces, full-width spaces, NBSP, tabs.
_SPACES = re.compile(r"[\s\u3000\u00a0\ufeff]+")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060]")

#: Article number of text outside any article (a preamble, or a body without articles).
PREAMBLE = 0


def chinese_to_int(text: str) -> int:
    """Convert a Chinese (or Arabic) numeral to an int: 十八 → 18, 一百零二 → 102.

    Raises:
        ValueError: if ``text`` is not a numeral.
    """
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _DIGITS and ch not in _UNITS for ch in text):
        raise ValueError(f"not a Chinese numeral: {text!r}")
    total, digit = 0, 0
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        else:
            total += (digit or 1) * _UNITS[ch]
            digit = 0
    return total + digit


def int_to_chinese(number: int) -> str:
    """Write 1–9999 as the numeral used in citations: 18 → 十八, 102 → 一百零二, 1164 → 一千一百六十四."""
    digits = "零一二三四五六七八九"
    if not 0 < number < 10000:
        raise ValueError(f"cannot write {number} as a citation numeral")
    parts: list[str] = []
    started = pending_zero = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = number // value % 10
        if not digit:
            pending_zero = started
            continue
        if pending_zero:
            parts.append("零")
            pending_zero = False
        if not (unit == "十" and digit == 1 and not started):  # 十八, but 一百一十
            parts.append(digits[digit])
        parts.append(unit)
        started = True
    return "".join(parts)


def _numeral(number: int) -> str:
    """Like :func:`int_to_chinese`, falling back to Arabic digits from 10000 on."""
    return int_to_chinese(number) if 0 < number < 10000 else str(number)


def make_citation(article: int, item: int | None, paragraph: int | None = None,
                  preamble: str = "序言", *, suffix: int = 0) -> str:
    """The local citation of a clause.

    ``第五十九条``, ``第十八条第（七）项``, ``第十条第二款``, ``第二十五条第二款第（一）项``,
    ``第一百二十条之一`` (``suffix`` 1); for text outside any article (article 0), ``序言`` (or
    ``preamble``) plus ``第二段`` / ``第（一）项``.
    """
    if article == PREAMBLE:
        citation = preamble + (f"第{_numeral(paragraph)}段" if paragraph else "")
    else:
        inserted = f"之{_numeral(suffix)}" if suffix else ""
        citation = f"第{_numeral(article)}条{inserted}" + (f"第{_numeral(paragraph)}款" if paragraph else "")
    return citation if item is None else f"{citation}第（{_numeral(item)}）项"


def make_clause_id(article: int, item: int | None, document: str | None = None,
                   paragraph: int | None = None, *, first_list: bool = True, suffix: int = 0) -> str:
    """The stable clause id: ``59``, ``18.7``, ``10-2``, ``49-2.1``, ``120a`` or ``<document>#18.7``.

    Args:
        article: the article number (0 for text outside any article).
        item: the item number, or None for a paragraph.
        document: prefixed as ``<document>#`` when given.
        paragraph: the paragraph (款) in a multi-paragraph article, else None.
        first_list: False for items of a later item-bearing paragraph, whose id names
            the paragraph (``49-2.1``); the first list's items are ``<article>.<item>``.
        suffix: N of an inserted article 第X条之N, written as a letter after the number
            (第一百二十条之一 → ``120a``, 之二 → ``120b``), as the official English texts number them.
    """
    number = f"{article}{_suffix_letter(suffix)}"
    if item is None:
        local = number if paragraph is None else f"{number}-{paragraph}"
    elif paragraph is None or first_list:
        local = f"{number}.{item}"
    else:
        local = f"{number}-{paragraph}.{item}"
    return f"{document}#{local}" if document else local


def _suffix_letter(suffix: int) -> str:
    """``a`` for 之一, ``b`` for 之二 …; ``""`` for an ordinary article."""
    if not suffix:
        return ""
    if not 0 < suffix <= 26:
        raise ValueError(f"cannot number 之{suffix} with a letter")
    return chr(ord("a") + suffix - 1)


def cite(short_name: str, citation: str) -> str:
    """The library citation: ``《安全生产法》第十条第二款``."""
    return f"《{short_name}》{citation}" if short_name else citation


@dataclass(frozen=True)
class ParsedRegulation:
    """The result of parsing one regulation file.

    Attributes:
        document: the document id (the file stem).
        title: the title line (``中华人民共和国安全生产法``), or the document id without one.
        clauses: the clauses in text order.
        problems: numbering problems, as ``"FILE:LINE: message"``.
        subtitle: the subtitle line, or "".
        header: the lines before the body (subtitle included): adoption, amendment and
            effective dates.
        headings: the heading structure: 编/章/节 and other headings, and the department
            headings of duty lists (``自治区公安厅职责：``), in text order.
    """

    document: str
    title: str
    clauses: tuple[Clause, ...]
    problems: tuple[str, ...]
    subtitle: str = ""
    header: tuple[str, ...] = ()
    headings: tuple[str, ...] = ()


def clean_line(line: str) -> str:
    """Normalise width (NFKC would also rewrite （）, so only spaces), drop zero-width characters, trim."""
    return _SPACES.sub(" ", _ZERO_WIDTH.sub("", line)).strip()


@dataclass
class _Paragraph:
    chapter: str
    text: str = ""
    section: str = ""
    heading: bool = False
    style: str = ""
    items: list[tuple[int, str]] = field(default_factory=list)
    sub_style: str = ""
    sub_last: int = 0
    department: str | None = None
    markers: list[str] = field(default_factory=list)
    line: int = 0

    def lines(self) -> list[str]:
        """The paragraph as written: its text, then each item with its marker."""
        head = [self.text] if self.text else []
        return head + [f"{marker}{body}" for marker, (_, body) in zip(self.markers, self.items, strict=True)]


@dataclass
class _Article:
    number: int
    line: int
    chapter: str
    department: str | None = None
    paragraphs: list[_Paragraph] = field(default_factory=list)
    suffix: int = 0  # N of 第X条之N


def _match_item(line: str) -> tuple[str, int, str, str] | None:
    """(style, number, marker, text) of an item line, or None."""
    for style, pattern in _ITEM_STYLES:
        if m := pattern.match(line):
            marker = m.group(1)
            number = _CIRCLED.index(marker) + 1 if style == "circled" else chinese_to_int(marker)
            return style, number, line[:m.start(2)].strip(), m.group(2).strip()
    return None


def _department_of(text: str) -> str | None:
    """The department a duty-list heading names (``自治区公安厅职责：``), or None."""
    if _SHARED.search(text):
        return SHARED_DEPARTMENT
    if (m := _HEADING.match(text)) and not _NOT_DEPARTMENT.search(m.group(1)):
        return m.group(1).strip()
    return None


def _marker(style: str, number: int) -> str:
    """How an item number is written in a list of this style: （二）, 二、, 2., ②."""
    if style == "dun":
        return f"{_numeral(number)}、"
    if style == "arabic":
        return f"{number}."
    if style == "paren_arabic":
        return f"（{number}）"
    if style == "circled" and 0 < number <= len(_CIRCLED):
        return _CIRCLED[number - 1]
    return f"（{_numeral(number)}）"


def _is_structure(line: str) -> bool:
    """An article, item or bare 编/章/节 heading: the body has begun."""
    return bool(_ARTICLE.match(line) or _match_item(line) or _BARE_DIVISION.match(line))


def _looks_like_title(line: str) -> bool:
    return len(line) <= 60 and not _SENTENCE.search(line) and not _DATE.search(line)


def _looks_like_header(line: str) -> bool:
    return bool(_SUBTITLE.match(line) or _DATE.search(line)) and len(line) <= 300


class _Parser:
    """The line-by-line state of :func:`parse_text`."""

    def __init__(self, document: str, source: str) -> None:
        self.document = document
        self.source = source
        self.title = ""
        self.subtitle = ""
        self.header: list[str] = []
        self.headings: list[str] = []
        self.problems: list[str] = []
        self.chapter = ""
        self.section = ""
        self.clauses: list[Clause] = []
        self.article: _Article | None = None
        self.preamble: _Article | None = None
        self.fresh = False
        self.last_number = 0
        self.has_articles = False

    def problem(self, number: int, message: str) -> None:
        self.problems.append(f"{self.source}:{number}: {message}")

    # Title, subtitle and header --------------------------------------------------
    def front(self, numbered: list[tuple[int, str]]) -> int:
        """Read the front matter, title, subtitle and header; return where the body starts."""
        position = 0
        # Front matter (``---`` … ``---``), as some Markdown exports carry: header.
        if numbered and numbered[0][1] == "---":
            end = next((i for i in range(1, len(numbered)) if numbered[i][1] == "---"), None)
            if end is not None:
                self.header.extend(line for _, line in numbered[1:end])
                position = end + 1
        if position < len(numbered):
            line = numbered[position][1]
            if m := _HASH.match(line):
                if not _DIVISION.match(m.group(1)):
                    self.title = m.group(1).strip()
                    position += 1
            elif not _is_structure(line) and _looks_like_title(line):
                self.title = line
                position += 1
        if self.title and position < len(numbered):
            line = numbered[position][1]
            m = _HASH.match(line)
            if m and not _DIVISION.match(m.group(1)):
                self.subtitle = m.group(1).strip()
            elif _SUBTITLE.match(line) and not _match_item(line):
                self.subtitle = line
            if self.subtitle:
                self.header.append(self.subtitle)
                position += 1
        # The header runs up to the INFO END marker, or, without one, over the dated
        # lines before the body.
        marker = next((i for i, (_, line) in enumerate(numbered) if line == _INFO_END), None)
        if marker is not None and marker >= position:
            self.header.extend(line for _, line in numbered[position:marker] if not _COMMENT.match(line))
            return marker + 1
        while position < len(numbered) and _looks_like_header(numbered[position][1]) \
                and not _is_structure(numbered[position][1]):
            self.header.append(numbered[position][1])
            position += 1
        return position

    # Body lines -----------------------------------------------------------------
    def body_line(self, number: int, line: str) -> None:
        """Place one body line: markup, heading, article, item or paragraph text."""
        if _COMMENT.match(line):
            return
        if m := _HASH.match(line):
            if m.group(1):
                self.heading(clean_line(m.group(1)), number)
            return
        if _BARE_DIVISION.match(line):
            self.heading(line, number)
            return
        m = _ARTICLE.match(line)
        typo = m is None and (m := _ARTICLE_TYPO.match(line)) is not None
        if m:
            article_number = chinese_to_int(m.group(1))
            suffix, space, body = m.group(2) or "", m.group(3), m.group(4).strip()
            # Without a space, with a typo or in Arabic digits, 第X条 starts an article only
            # where the numbering expects one: 第九条规定的…, mid-article, is a reference, and
            # 第344条 in a table of the criminal law's articles is a row.
            regular = not typo and not m.group(1).isdigit()
            if (regular and (space or not body)) or article_number == self.last_number + 1:
                self.start_article(article_number, number, suffix, body, line, space)
                return
            self.text(line, number, join=False)
            return
        if found := _match_item(line):
            style, item_number, item_marker, body = found
            self.item(style, item_number, item_marker, body, line, number)
            return
        self.text(line, number)

    def heading(self, text: str, number: int) -> None:
        self.flush()
        self.headings.append(text)
        self.fresh = True  # text under a new heading never continues the paragraph before it
        if _SECTION.match(text) and self.chapter and not _SECTION.match(self.chapter):
            self.section = text  # a 节 under a 章: clauses keep the chapter and record the section
            return
        self.chapter = text
        self.section = ""

    def start_article(self, number: int, line_no: int, suffix: str, body: str, raw: str,
                      space: str = " ") -> None:
        current = self.article.number if self.article else 0
        inserted = chinese_to_int(suffix[1:]) if suffix else 0
        current_suffix = self.article.suffix if self.article else 0
        # 第X条之N right after 第X条 (or 之N-1), with a space or a line of its own, is an article
        # inserted by an amendment; elsewhere it is a reference and stays text.
        if suffix and number == current and self.has_articles and inserted == current_suffix + 1 \
                and (space or not body):
            self.flush()
            self.fresh = False
            self.article = _Article(number, line_no, self.chapter, suffix=inserted)
            if body:
                self.article.paragraphs.append(_Paragraph(self.chapter, body, section=self.section))
            return
        if suffix or (self.has_articles and number <= self.last_number):
            # A quoted 第X条之N, a repeated or backward number: keep the line as a paragraph.
            if not suffix:
                kind = "duplicate article" if number == self.last_number else "out-of-order article"
                self.problem(line_no, f"{kind} {raw.split()[0][:12]}: kept as a paragraph of "
                                      f"{make_citation(current, None, suffix=current_suffix)}")
            self.text(raw, line_no, join=False)
            return
        self.flush()
        self.fresh = False
        if self.has_articles and number != self.last_number + 1:
            self.problem(line_no, f"article 第{_numeral(number)}条 follows 第{_numeral(self.last_number)}条")
        self.has_articles = True
        self.last_number = number
        self.article = _Article(number, line_no, self.chapter)
        if not body:
            return
        if department := _department_of(body):
            self.article.department = department
            self.article.paragraphs.append(_Paragraph(self.chapter, body, heading=True, department=department,
                                                      section=self.section))
            self.headings.append(body)
        else:
            self.article.paragraphs.append(_Paragraph(self.chapter, body, section=self.section))

    def _current(self) -> _Article:
        """The open article, or the one article 0 that gathers all text outside articles."""
        if self.article is not None:
            return self.article
        if self.preamble is None:
            self.preamble = _Article(PREAMBLE, 0, self.chapter)
        return self.preamble

    def _last(self, article: _Article) -> _Paragraph | None:
        """The paragraph a line may continue: none right after a heading."""
        if self.fresh:
            self.fresh = False
            return None
        return article.paragraphs[-1] if article.paragraphs else None

    def text(self, line: str, line_no: int, join: bool = True) -> None:
        """A plain line: a new paragraph, or (``join``) the rest of a line wrapped mid-sentence."""
        article = self._current()
        last = self._last(article)
        if article.department and (department := _department_of(line)):
            # A second department heading inside a duty-list article (区…部门主要职责：).
            article.paragraphs.append(_Paragraph(self.chapter, line, heading=True, department=department,
                                                 section=self.section))
            self.headings.append(line)
        elif last is not None and not last.text and not last.items:
            last.text = line  # an article line without text: this line is its text
        elif join and last is not None and last.items and not _ENDED.search(last.items[-1][1]):
            # A line wrapped inside an item (the item stops mid-sentence): join it back.
            number, body = last.items[-1]
            last.items[-1] = (number, body + line)
        elif join and last is not None and not last.items and last.text and not last.heading \
                and not _ENDED.search(last.text):
            last.text += line  # a paragraph wrapped mid-sentence
        else:
            article.paragraphs.append(_Paragraph(self.chapter, line, line=line_no, section=self.section))

    def _continue_list(self, article: _Article, style: str, number: int, line_no: int,
                       across_heading: bool = False) -> _Paragraph | None:
        """The earlier list this item continues, or None.

        ``五、`` after ``四、`` continues that list across what came between: plain
        paragraphs and lists of another style are the rest of item 四 (an item with several
        paragraphs, or a quoted amendment). Plain paragraphs ending in ``；`` that fill a gap
        in the numbering exactly are items whose marker the source lost (reported).
        """
        paragraphs = article.paragraphs
        plain = 0  # trailing plain paragraphs walked over, each ending like an item
        for index in range(len(paragraphs) - 1, -1, -1):
            paragraph = paragraphs[index]
            if paragraph.heading:
                return None
            if not paragraph.items:
                if _ITEM_END.search(paragraph.text) and plain == len(paragraphs) - index - 1:
                    plain += 1
                    before = paragraphs[index - 1] if index > 0 else None
                    if plain == number - 1 and before is not None and not before.items and not before.heading \
                            and before.text.endswith(("：", ":")):
                        return self._unmarked(article, index - 1, index, style, line_no)
                continue
            if paragraph.style != style and paragraph.sub_style != style:
                continue  # a nested list of another style inside the item being continued
            last = paragraph.items[-1][0] if paragraph.style == style else paragraph.sub_last
            if last == number - 1 and (index < len(paragraphs) - 1 or across_heading):
                rest = [line for p in paragraphs[index + 1:] for line in p.lines()]
                number_before, body = paragraph.items[-1]
                paragraph.items[-1] = (number_before, "\n".join([body, *rest]))
                del paragraphs[index + 1:]
                return paragraph
            if paragraph.style == style and plain and last + plain == number - 1 \
                    and plain == len(paragraphs) - index - 1:
                return self._unmarked(article, index, index + 1, style, line_no)
            return None
        return None

    def _unmarked(self, article: _Article, list_index: int, first: int, style: str, line_no: int) -> _Paragraph:
        """Make the plain paragraphs from ``first`` on items of the list in ``list_index``."""
        paragraph = article.paragraphs[list_index]
        if not paragraph.items:
            paragraph.style = style
        for plain in article.paragraphs[first:]:
            number = len(paragraph.items) + 1
            self.problem(plain.line or line_no, f"item {_marker(style, number)} has no marker: numbered by its place "
                                  f"({plain.text[:20]})")
            paragraph.items.append((number, plain.text))
            paragraph.markers.append("")
        del article.paragraphs[first:]
        return paragraph

    def item(self, style: str, number: int, marker: str, body: str, raw: str, line_no: int) -> None:
        article = self._current()
        fresh = self._last(article) is None
        last = article.paragraphs[-1] if article.paragraphs else None
        continued = None
        if number > 1 and last is not None and (fresh or not last.items or style not in (last.style, last.sub_style)):
            # 五、 after 四、 continues that list, across text paragraphs or a heading.
            continued = self._continue_list(article, style, number, line_no, across_heading=fresh)
        if continued is not None:
            paragraph = continued
        elif fresh or last is None:
            paragraph = _Paragraph(self.chapter, section=self.section)
            article.paragraphs.append(paragraph)
        else:
            paragraph = last
        if paragraph.items and style != paragraph.style:
            # A sub-item (1. inside （一）): it stays in its item, on its own line.
            last_number, last_text = paragraph.items[-1]
            paragraph.items[-1] = (last_number, f"{last_text}\n{raw}")
            paragraph.sub_style, paragraph.sub_last = style, number
            return
        if not paragraph.items:
            paragraph.style = style
        expected = len(paragraph.items) + 1
        if any(existing == number for existing, _ in paragraph.items):
            self.problem(line_no, f"duplicate item {marker}: kept in the item before it")
            last_number, last_text = paragraph.items[-1]
            paragraph.items[-1] = (last_number, f"{last_text}\n{raw}")
            return
        if number != expected:
            self.problem(line_no, f"item {marker} where {_marker(style, expected)} was expected")
        paragraph.items.append((number, body))
        paragraph.markers.append(marker)
        paragraph.sub_style, paragraph.sub_last = "", 0

    # Output -----------------------------------------------------------------------
    def flush(self, article: _Article | None = None) -> None:
        """Turn the open article (or ``article``) into clauses."""
        if article is None:
            article, self.article = self.article, None
        if article is None:
            return
        paragraphs = article.paragraphs
        if not any(p.items or (p.text and not p.heading) for p in paragraphs):
            if article.number != PREAMBLE:
                self.problem(article.line, f"第{_numeral(article.number)}条 has no text and no items")
            return
        multi = len(paragraphs) > 1
        first_list = next((i for i, p in enumerate(paragraphs) if p.items), -1)
        preamble = "序言" if self.has_articles else "正文"
        department = article.department
        for index, paragraph in enumerate(paragraphs):
            department = paragraph.department or department
            number = index + 1 if multi else None
            if paragraph.text and not paragraph.heading:
                self.clauses.append(self._clause(article, paragraph, None, number, paragraph.text, "", True,
                                                 preamble, department))
            for item, body in paragraph.items:
                lead_in = "" if paragraph.heading else paragraph.text
                self.clauses.append(self._clause(article, paragraph, item, number, body, lead_in,
                                                 index == first_list, preamble, department))

    def finish(self) -> ParsedRegulation:
        """Flush the last article and the preamble (its clauses come first)."""
        self.flush()
        if self.preamble is not None:
            articles, self.clauses = self.clauses, []
            self.flush(self.preamble)
            self.clauses.extend(articles)
        if not self.clauses:
            self.problems.append(f"{self.source}: no articles found (expected lines like '第一条 ...')")
        title = self.title or self.document
        return ParsedRegulation(
            document=self.document,
            title=title,
            clauses=tuple(replace(c, title=title) for c in self.clauses),
            problems=tuple(self.problems),
            subtitle=self.subtitle,
            header=tuple(self.header),
            headings=tuple(self.headings),
        )

    def _clause(self, article: _Article, source: _Paragraph, item: int | None, paragraph: int | None,
                text: str, lead_in: str, first_list: bool, preamble: str, department: str | None) -> Clause:
        return Clause(
            id=make_clause_id(article.number, item, paragraph=paragraph, first_list=first_list,
                              suffix=article.suffix),
            document=self.document,
            title=self.title,
            chapter=source.chapter,
            section=source.section,
            article=article.number,
            item=item,
            department=department,
            text=text,
            citation=make_citation(article.number, item, paragraph, preamble, suffix=article.suffix),
            paragraph=paragraph,
            departments=(department,) if department else (),
            lead_in=lead_in,
        )


def parse_text(text: str, document: str, source: str = "<text>") -> ParsedRegulation:
    """Parse the text of one regulation into clauses, header and headings.

    Args:
        text: the regulation, one paragraph, article or item per line.
        document: the document id recorded on every clause.
        source: the file name used in problem messages.

    Returns:
        The clauses, the header and heading structure, and the problems found
        (duplicate or out-of-order numbers, articles with an empty body, no clauses).
    """
    parser = _Parser(document, source)
    lines = [clean_line(unicodedata.normalize("NFC", raw)) for raw in text.splitlines()]
    # Items run together on one line (``下列文件： （一）登记申请书；``) are split at the marker.
    numbered = [(n, part) for n, line in enumerate(lines, start=1) if line for part in _RUN_ON.split(line)]
    for number, line in numbered[parser.front(numbered):]:
        parser.body_line(number, line)
    return parser.finish()


def read_regulation(path: Path) -> ParsedRegulation:
    """Read and parse one regulation file (any format :mod:`retriever.readers` supports).

    Raises:
        SeedError: the file is unreadable, not text, or holds no articles.
    """
    from retriever.readers import read_document

    parsed = parse_text(read_document(path), document=path.stem, source=str(path))
    if not parsed.clauses:
        raise SeedError(f"seed file {path} holds no articles: {'; '.join(parsed.problems)}",
                        "A regulation needs lines such as '第一条 ...' (see seeds/ for the expected shape).")
    return parsed


def seed_files(seeds_dir: Path) -> list[Path]:
    """The regulation files in a library folder, recursively, sorted by relative path.

    A thin wrapper over :func:`retriever.library.library_files` (unknown extensions
    are skipped).

    Raises:
        SeedError: the folder is missing or holds no supported file.
    """
    from retriever.library import library_files

    return [path for path, _ in library_files([seeds_dir])[0]]


def parse_corpus(seeds_dir: Path) -> tuple[list[Clause], list[str]]:
    """Parse every regulation in a folder into one clause list.

    A thin wrapper over :func:`retriever.library.load_library`. With several
    documents, ids are prefixed ``<document>#``.

    Returns:
        The clauses and every problem found, each naming its file and line.
    """
    from retriever.library import load_library

    library = load_library([seeds_dir])
    return list(library.clauses), list(library.problems)
