"""Regulation text → clauses (章 / 条 / （项）), with department and citation.

A regulation file looks like the seed: a ``# title`` line, ``# 第X章`` chapter
headings, ``第X条`` articles and ``（X）`` items, with stray leading spaces,
full-width spaces and ASCII or full-width colons. Every non-blank line is placed
somewhere or reported in :attr:`ParsedRegulation.problems`; nothing is dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from retriever.errors import SeedError
from retriever.records import SHARED_DEPARTMENT, Clause

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUMERAL = "零〇一二两三四五六七八九十百千"

_CHAPTER = re.compile(rf"^#+\s*(第[{_NUMERAL}\d]+章.*)$")
_TITLE = re.compile(r"^#+\s*(.+)$")
_ARTICLE = re.compile(rf"^第([{_NUMERAL}\d]+)条\s*(.*)$")
_ITEM = re.compile(rf"^[（(]([{_NUMERAL}\d]+)[）)]\s*(.*)$")
_HEADING = re.compile(r"^(.+?)职责\s*[:：]\s*$")
_SHARED = re.compile(r"共同职责\s*[:：]\s*$")
# Whitespace the seed really contains: ASCII spaces, full-width spaces, NBSP, tabs.
_SPACES = re.compile(r"[\s\u3000\u00a0\ufeff]+")


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
    """Write 1–999 as the numeral used in citations: 18 → 十八, 102 → 一百零二."""
    digits = "零一二三四五六七八九"
    if not 0 < number < 1000:
        raise ValueError(f"cannot write {number} as a citation numeral")
    hundreds, tens, ones = number // 100, number // 10 % 10, number % 10
    text = f"{digits[hundreds]}百" if hundreds else ""
    if tens:
        text += ("" if tens == 1 and not hundreds else digits[tens]) + "十"
    elif hundreds and ones:
        text += "零"
    return text + (digits[ones] if ones else "")


def make_citation(article: int, item: int | None) -> str:
    """The citation string of a clause: 第十八条第（七）项, or 第五十九条."""
    citation = f"第{int_to_chinese(article)}条"
    return citation if item is None else f"{citation}第（{int_to_chinese(item)}）项"


def make_clause_id(article: int, item: int | None, document: str | None = None) -> str:
    """The stable clause id: ``18.7``, ``59``, or ``<document>#18.7``."""
    local = str(article) if item is None else f"{article}.{item}"
    return f"{document}#{local}" if document else local


@dataclass(frozen=True)
class ParsedRegulation:
    """The result of parsing one regulation file.

    Attributes:
        document: the document id (the file stem).
        title: the ``# `` title line.
        clauses: the clauses in text order.
        problems: lines that could not be placed, as ``"FILE:LINE: message"``.
    """

    document: str
    title: str
    clauses: tuple[Clause, ...]
    problems: tuple[str, ...]


def clean_line(line: str) -> str:
    """Normalise width (NFKC would also rewrite （）, so only spaces) and trim."""
    return _SPACES.sub(" ", line).strip()


def parse_text(text: str, document: str, source: str = "<text>") -> ParsedRegulation:
    """Parse the text of one regulation into clauses.

    Args:
        text: the regulation, one article or item per line.
        document: the document id recorded on every clause.
        source: the file name used in problem messages.

    Returns:
        The clauses and a list of problems (lines that could not be placed,
        duplicate or out-of-order numbers, articles with an empty body).
    """
    title = ""
    chapter = ""
    problems: list[str] = []
    clauses: list[Clause] = []
    article: int | None = None
    department: str | None = None
    article_text = ""
    article_line = 0
    items: list[tuple[int, str, int]] = []
    seen_articles: set[int] = set()

    def flush() -> None:
        if article is None:
            return
        if items:
            for number, body, _ in items:
                clauses.append(_clause(document, title, chapter, article, number, department, body))
        elif article_text:
            clauses.append(_clause(document, title, chapter, article, None, department, article_text))
        else:
            problems.append(f"{source}:{article_line}: 第{int_to_chinese(article)}条 has no text and no items")

    for number, raw in enumerate(text.splitlines(), start=1):
        line = clean_line(unicodedata.normalize("NFC", raw))
        if not line:
            continue
        if m := _CHAPTER.match(line):
            flush()
            article, items, article_text, department = None, [], "", None
            chapter = clean_line(m.group(1))
            continue
        if m := _TITLE.match(line):
            if title:
                problems.append(f"{source}:{number}: a second title line: {line[:40]}")
            else:
                title = m.group(1).strip()
            continue
        if m := _ARTICLE.match(line):
            flush()
            article = chinese_to_int(m.group(1))
            article_line = number
            items = []
            body = m.group(2).strip()
            if article in seen_articles:
                problems.append(f"{source}:{number}: duplicate article 第{m.group(1)}条")
            elif seen_articles and article != max(seen_articles) + 1:
                problems.append(
                    f"{source}:{number}: article 第{m.group(1)}条 follows 第{int_to_chinese(max(seen_articles))}条"
                )
            seen_articles.add(article)
            if _SHARED.search(body):
                department, article_text = SHARED_DEPARTMENT, ""
            elif h := _HEADING.match(body):
                department, article_text = h.group(1).strip(), ""
            else:
                department, article_text = None, body
            continue
        if m := _ITEM.match(line):
            if article is None:
                problems.append(f"{source}:{number}: item outside any article: {line[:40]}")
                continue
            item = chinese_to_int(m.group(1))
            expected = len(items) + 1
            if item != expected:
                problems.append(
                    f"{source}:{number}: item （{m.group(1)}） where （{int_to_chinese(expected)}） was expected")
            if any(existing == item for existing, _, _ in items):
                continue
            items.append((item, m.group(2).strip(), number))
            continue
        if article is not None and not items and article_text:
            # A wrapped article paragraph: join it to the article text.
            article_text = f"{article_text}{line}"
            continue
        problems.append(f"{source}:{number}: cannot place this line: {line[:60]}")
    flush()
    if not clauses:
        problems.append(f"{source}: no articles found (expected lines like '第一条 ...')")
    return ParsedRegulation(document=document, title=title or document, clauses=tuple(clauses),
                            problems=tuple(problems))


def _clause(document: str, title: str, chapter: str, article: int, item: int | None,
            department: str | None, text: str) -> Clause:
    return Clause(
        id=make_clause_id(article, item),
        document=document,
        title=title,
        chapter=chapter,
        article=article,
        item=item,
        department=department,
        text=text,
        citation=make_citation(article, item),
    )


def read_regulation(path: Path) -> ParsedRegulation:
    """Read and parse one regulation file.

    Raises:
        SeedError: the file is unreadable, not UTF-8 text, or holds no articles.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SeedError(f"cannot read seed file {path}: {exc.strerror}.", "Check the path and permissions.") from exc
    if b"\x00" in data:
        raise SeedError(f"seed file {path} is binary, not a text regulation.",
                        "Remove it from the seeds folder or replace it with UTF-8 text.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SeedError(f"seed file {path} is not valid UTF-8 (byte {exc.start}).",
                        "Convert it to UTF-8, e.g. `iconv -f GBK -t UTF-8`.") from exc
    parsed = parse_text(text, document=path.stem, source=str(path))
    if not parsed.clauses:
        raise SeedError(f"seed file {path} holds no articles: {'; '.join(parsed.problems)}",
                        "A regulation needs lines such as '第一条 ...' (see seeds/ for the expected shape).")
    return parsed


def seed_files(seeds_dir: Path) -> list[Path]:
    """The regulation files in a seeds folder (``*.txt``, sorted by name).

    Raises:
        SeedError: the folder is missing or holds no ``.txt`` file.
    """
    if not seeds_dir.is_dir():
        raise SeedError(f"seeds folder {seeds_dir} does not exist.",
                        "Pass --seeds with the folder that holds the regulation .txt files.")
    files = sorted(p for p in seeds_dir.glob("*.txt") if p.is_file())
    if not files:
        raise SeedError(f"seeds folder {seeds_dir} holds no .txt regulation.",
                        "Copy the regulation files (UTF-8 text) into it.")
    return files


def parse_corpus(seeds_dir: Path) -> tuple[list[Clause], list[str]]:
    """Parse every regulation in a folder into one clause list.

    With several documents, ids are prefixed ``<document>#``.

    Returns:
        The clauses and every problem found, each naming its file and line.
    """
    parsed = [read_regulation(path) for path in seed_files(seeds_dir)]
    prefix = len(parsed) > 1
    clauses: list[Clause] = []
    problems: list[str] = []
    for regulation in parsed:
        problems.extend(regulation.problems)
        for clause in regulation.clauses:
            if prefix:
                clause = Clause(**{**clause.__dict__,
                                   "id": make_clause_id(clause.article, clause.item, regulation.document)})
            clauses.append(clause)
    return clauses, problems
