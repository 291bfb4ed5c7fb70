"""Domain lexicon: departments and their aliases, everyday-to-regulation synonyms, terms.

The data lives in ``data/lexicon.toml`` (edited by staff). :func:`load_lexicon` parses
and validates it; the returned :class:`Lexicon` compiles its matchers once and answers
three questions about a query: which departments it names (:meth:`Lexicon.detect_departments`),
which regulation terms its everyday wording stands for (:meth:`Lexicon.expand`), and which
words the segmenter must keep whole (:meth:`Lexicon.user_words`).

Matching works on a normalised form of the text (NFKC, lower case, whitespace runs
collapsed): full-width letters match ASCII ones, English is case-insensitive and matched
as whole words with an optional plural ``s``/``es``, and the longest match wins.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from retriever.errors import RetrieverError

#: The lexicon shipped with the package.
DEFAULT_LEXICON_PATH: Path = Path(__file__).resolve().parent / "data" / "lexicon.toml"

_TOP_KEYS = frozenset({"department", "synonym", "terms", "detect"})
_DEPARTMENT_KEYS = frozenset({"name", "aliases", "english"})
_SYNONYM_KEYS = frozenset({"phrases", "expand"})
_TERMS_KEYS = frozenset({"words"})
_DETECT_KEYS = frozenset({"ignore"})

_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SPACE_RE = re.compile(r"\s+")
_NEVER = "(?!)"


def normalize(text: str) -> str:
    """Return the form every match works on: NFKC, lower case, single spaces, trimmed."""
    return _SPACE_RE.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


# Cantonese words Hong Kong users type (喺乌鲁木齐搞演唱会要去边一级公安申请), in their Mandarin form; read
# only in a question with a word that is Cantonese alone, so that 边 and 几多 in Mandarin stay as they are.
_CANTONESE_MARK = re.compile(r"[喺咗嘅咩冇啲嚟睇搵畀佢唔]|系咪|乜嘢|点解|边个|边度")
_CANTONESE = (("系唔系", "是不是"), ("系咪", "是不是"), ("乜嘢", "什么"),
              # 边个 is 谁, but 边个位置 is 哪个位置 (which position).
              ("边个位置", "哪个位置"), ("边个地方", "哪个地方"), ("边个部门", "哪个部门"), ("边个", "谁"),
              ("边度", "哪里"),
              ("边一", "哪一"), ("边级", "哪级"), ("边间", "哪家"), ("边位", "哪位"), ("几多", "多少"),
              ("点样", "怎么"), ("影相", "拍照"),
              ("点解", "为什么"), ("咩", "什么"), ("喺", "在"), ("咗", "了"), ("嘅", "的"),
              ("冇", "没有"), ("唔", "不"), ("啲", "些"), ("嚟", "来"), ("睇", "看"), ("搵", "找"), ("畀", "给"),
              ("佢哋", "他们"), ("佢", "他"))


def mandarin(text: str) -> str:
    """Cantonese question words in their Mandarin form (喺→在, 几多→多少, 系咪→是不是), on Simplified text."""
    if not _CANTONESE_MARK.search(text):
        return text
    for cantonese, standard in _CANTONESE:
        text = text.replace(cantonese, standard)
    return text


# Spaces between two Chinese characters (兵团 自己 的 清单, typed word by word) separate nothing, but
# after a document's name (北京市消防条例 第十条, 道交法 实习期) they end it.
_CJK_SPACE = re.compile(r"(?<=[\u4e00-\u9fff])(?<![法例则定准办条])[ \t\u3000]+(?=[\u4e00-\u9fff])")
# 条列 typed for 条例 (危化品条列第五条); not 逐条列出, 分条列举.
_TIAOLIE = re.compile(r"(?<![逐分条])条列(?![出举明成个])")


def tidy(text: str) -> str:
    """Typing slips that are never meant: spaces between Chinese characters, 条列 for 条例."""
    return _TIAOLIE.sub("条例", _CJK_SPACE.sub("", text))


def has_cjk(text: str) -> bool:
    """Return True when ``text`` contains at least one CJK ideograph."""
    return _CJK_RE.search(text) is not None


@dataclass(frozen=True)
class Department:
    """A department as named in its article heading, with the names people use for it.

    Attributes:
        name: the official name, exactly as in the heading without 职责.
        aliases: abbreviations and other Chinese names (发改委, 住建厅, 交警 …).
        english: English names and words (``"customs"``, ``"Public Security Department"``).
    """

    name: str
    aliases: tuple[str, ...] = ()
    english: tuple[str, ...] = ()


@dataclass(frozen=True)
class Synonym:
    """Everyday wording (``phrases``) and the regulation's wording it stands for (``expand``)."""

    phrases: tuple[str, ...]
    expand: tuple[str, ...]


def _edge_guard(char: str, *, before: bool) -> str:
    """Lookaround that stops an ASCII letter/digit edge from matching inside a word."""
    if "a" <= char <= "z":
        cls = "[a-z]"
    elif "0" <= char <= "9":
        cls = "[0-9]"
    else:
        return ""
    return f"(?<!{cls})" if before else f"(?!{cls})"


def _key_pattern(key: str) -> str:
    """Regex for one normalised key: the literal, word guards on ASCII edges, plurals."""
    body = re.escape(key)
    if key.isascii() and "a" <= key[-1] <= "z":
        body += "(?:es|s)?"
    return _edge_guard(key[0], before=True) + body + _edge_guard(key[-1], before=False)


def _alternation(keys: Iterable[str]) -> str:
    """One alternation of all keys, longest first so the regex prefers the longest match."""
    ordered = sorted(set(keys), key=lambda k: (-len(k), k))
    return "|".join(_key_pattern(k) for k in ordered) or _NEVER


def _resolve(matched: str, table: dict[str, int]) -> int:
    """Map a matched string back to its key's value, undoing an English plural suffix."""
    for candidate in (matched, matched[:-1], matched[:-2]):
        if candidate in table:
            return table[candidate]
    raise KeyError(matched)  # pragma: no cover - the regex only matches known keys


def _dedupe(items: Iterable[str]) -> list[str]:
    """Items in first-seen order, each once."""
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class Lexicon:
    """The loaded lexicon with its matchers compiled.

    Attributes:
        departments: one entry per department heading in the regulation.
        synonyms: everyday wording → regulation wording groups.
        terms: extra domain words for the segmenter's user dictionary.
        checksum: sha256 (hex) of the lexicon file's bytes.
        source: the path the lexicon was read from.
        detect_ignore: strings that contain an alias but name no department
            (``组织部署`` ⊃ ``组织部``); department detection skips them.
    """

    departments: tuple[Department, ...]
    synonyms: tuple[Synonym, ...]
    terms: tuple[str, ...]
    checksum: str
    source: str
    detect_ignore: tuple[str, ...] = ()
    _dept_names: tuple[str | None, ...] = field(init=False, repr=False, compare=False)
    _dept_keys: dict[str, int] = field(init=False, repr=False, compare=False)
    _dept_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _phrase_keys: dict[str, int] = field(init=False, repr=False, compare=False)
    _phrase_spelling: tuple[str | None, ...] = field(init=False, repr=False, compare=False)
    _phrase_synonyms: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False)
    _phrase_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Compile the department and synonym matchers (first spelling of a key wins)."""
        names: list[str | None] = [None]  # slot 0: an ignored string, no department
        dept_keys: dict[str, int] = {}
        for word in self.detect_ignore:
            dept_keys.setdefault(normalize(word), 0)
        for dept in self.departments:
            names.append(dept.name)
            slot = len(names) - 1
            for word in (dept.name, *dept.aliases, *dept.english):
                key = normalize(word)
                if key:
                    dept_keys.setdefault(key, slot)

        phrase_keys: dict[str, int] = {}
        spelling: list[str | None] = []
        owners: list[list[int]] = []
        for index, synonym in enumerate(self.synonyms):
            for phrase in synonym.phrases:
                key = normalize(phrase)
                if not key:
                    continue
                if key not in phrase_keys:
                    phrase_keys[key] = len(spelling)
                    spelling.append(phrase)
                    owners.append([])
                slot_owners = owners[phrase_keys[key]]
                if index not in slot_owners:
                    slot_owners.append(index)
        # Regulation words (expand terms, [terms]) take part in the scan without expanding
        # to anything, so a phrase inside one of them is not read on its own: 化学品 in
        # 危险化学品, 爆竹 in 烟花爆竹.
        for word in (*(t for s in self.synonyms for t in s.expand), *self.terms):
            key = normalize(word)
            if key and key not in phrase_keys:
                phrase_keys[key] = len(spelling)
                spelling.append(None)
                owners.append([])

        setattr_ = object.__setattr__
        setattr_(self, "_dept_names", tuple(names))
        setattr_(self, "_dept_keys", dept_keys)
        setattr_(self, "_dept_re", re.compile(_alternation(dept_keys)))
        setattr_(self, "_phrase_keys", phrase_keys)
        setattr_(self, "_phrase_spelling", tuple(spelling))
        setattr_(self, "_phrase_synonyms", tuple(tuple(o) for o in owners))
        setattr_(self, "_phrase_re", re.compile(f"(?=({_alternation(phrase_keys)}))"))

    def user_words(self) -> list[str]:
        """Words for jieba's user dictionary.

        Returns:
            Every term, department name, alias, synonym phrase and expand term that
            contains a CJK character, each once, in that order.
        """
        words: list[str] = list(self.terms)
        for dept in self.departments:
            words.append(dept.name)
            words.extend(dept.aliases)
        for synonym in self.synonyms:
            words.extend(synonym.phrases)
        for synonym in self.synonyms:
            words.extend(synonym.expand)
        return _dedupe(w.strip() for w in words if has_cjk(w))

    def detect_departments(self, text: str) -> list[str]:
        """Departments the text names, by official name, alias or English name.

        Args:
            text: a query or any text.

        Returns:
            Official department names in order of first appearance, each once. Matches
            are leftmost-longest and do not overlap, so 森林消防 names the forest fire
            corps and not also 消防, and 交警 is not read as 公安.
        """
        found: list[str] = []
        for match in self._dept_re.finditer(normalize(text)):
            name = self._dept_names[_resolve(match.group(0), self._dept_keys)]
            if name is not None:
                found.append(name)
        return _dedupe(found)

    def _phrase_hits(self, norm: str) -> list[int]:
        """Slots of the synonym phrases found in normalised text, in order of position.

        At each position the longest phrase or regulation word is taken; a phrase lying
        wholly inside a longer match that starts earlier or at the same place is dropped
        (电瓶车充电 hides 电瓶车, 危险化学品 hides 化学品); partly overlapping phrases
        are all kept.
        """
        hits: list[int] = []
        covered = 0
        for match in self._phrase_re.finditer(norm):
            end = match.start() + len(match.group(1))
            if end <= covered:
                continue
            covered = end
            slot = _resolve(match.group(1), self._phrase_keys)
            if self._phrase_spelling[slot] is not None:
                hits.append(slot)
        return list(dict.fromkeys(hits))

    def matched_phrases(self, text: str) -> list[str]:
        """Synonym phrases found in the text, spelled as in the lexicon file, in order."""
        spelled = (self._phrase_spelling[i] for i in self._phrase_hits(normalize(text)))
        return [p for p in spelled if p is not None]

    def expand(self, text: str) -> list[str]:
        """Regulation terms that the text's everyday wording stands for.

        Args:
            text: a query.

        Returns:
            The expand terms of every synonym whose phrase occurs in the text (ASCII
            case-insensitively), each once, in the order the phrases occur; terms that
            already occur in the text are left out.
        """
        norm = normalize(text)
        terms: list[str] = []
        for hit in self._phrase_hits(norm):
            for index in self._phrase_synonyms[hit]:
                for term in self.synonyms[index].expand:
                    if normalize(term) not in norm:
                        terms.append(term)
        return _dedupe(terms)


# --------------------------------------------------------------------------- loading


class _Where:
    """Names a place in the lexicon file for error messages."""

    def __init__(self, source: Path, text: str) -> None:
        self.source = source
        self._lines = {
            table: [
                number
                for number, line in enumerate(text.splitlines(), start=1)
                if re.match(rf"\s*\[\[\s*{table}\s*\]\]", line)
            ]
            for table in ("department", "synonym")
        }

    def entry(self, table: str, index: int, count: int, label: str = "") -> str:
        """``[[synonym]] #12 (line 340, 网吧 …)``: the entry's ordinal, line and label."""
        lines = self._lines.get(table, [])
        parts = [f"line {lines[index]}"] if len(lines) == count else []
        if label:
            parts.append(label)
        suffix = f" ({', '.join(parts)})" if parts else ""
        return f"[[{table}]] #{index + 1}{suffix}"

    def error(self, problem: str, hint: str) -> RetrieverError:
        """An error that names the file and the problem."""
        return RetrieverError(f"Lexicon {self.source}: {problem}.", hint)


_EDIT_HINT = "Edit the lexicon file and load it again."


def _check_keys(table: object, allowed: frozenset[str], place: str, where: _Where) -> dict[str, object]:
    """Return ``table`` as a dict after checking it is a table with only allowed keys."""
    if not isinstance(table, dict):
        raise where.error(f"{place} must be a table", _EDIT_HINT)
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise where.error(
            f"unknown key {', '.join(repr(k) for k in unknown)} in {place}",
            f"Allowed keys there: {', '.join(sorted(allowed))}. {_EDIT_HINT}",
        )
    return table


def _strings(value: object, key: str, place: str, where: _Where, *, required: bool) -> tuple[str, ...]:
    """Return a list of non-empty strings, trimmed, each once."""
    if value is None:
        if required:
            raise where.error(f"{place} has no '{key}' list", f'Add {key} = ["…"]. {_EDIT_HINT}')
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.error(f"'{key}' in {place} must be a list of strings", _EDIT_HINT)
    items = [v.strip() for v in value]
    if any(not v for v in items):
        raise where.error(f"'{key}' in {place} contains an empty string", _EDIT_HINT)
    if required and not items:
        raise where.error(f"'{key}' in {place} is empty", f"List at least one entry. {_EDIT_HINT}")
    return tuple(_dedupe(items))


def _entries(data: dict[str, object], table: str, where: _Where) -> list[object]:
    """The ``[[table]]`` entries, checked to be an array of tables."""
    value = data.get(table, [])
    if not isinstance(value, list):
        raise where.error(f"'{table}' must be written as [[{table}]] entries", f"Use [[{table}]] headers. {_EDIT_HINT}")
    return value


def _parse_departments(data: dict[str, object], where: _Where) -> tuple[Department, ...]:
    """Validate the ``[[department]]`` entries: names present and unique, aliases unambiguous."""
    entries = _entries(data, "department", where)
    owner: dict[str, str] = {}
    departments: list[Department] = []
    for index, raw in enumerate(entries):
        label = ""
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            label = f"name = {raw['name']!r}"
        place = where.entry("department", index, len(entries), label)
        table = _check_keys(raw, _DEPARTMENT_KEYS, place, where)
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise where.error(f"{place} has no name", f'Add name = "…" as in the article heading. {_EDIT_HINT}')
        name = name.strip()
        aliases = _strings(table.get("aliases"), "aliases", place, where, required=False)
        english = _strings(table.get("english"), "english", place, where, required=False)
        if normalize(name) in owner and owner[normalize(name)] == name:
            raise where.error(f"department {name!r} is listed twice ({place})", f"Merge the two entries. {_EDIT_HINT}")
        for word in (name, *aliases, *english):
            key = normalize(word)
            other = owner.setdefault(key, name)
            if other != name:
                raise where.error(
                    f"alias {word!r} of department {name!r} ({place}) is already claimed by department {other!r}",
                    f"An alias must name one department only; remove it from one of them. {_EDIT_HINT}",
                )
        departments.append(Department(name=name, aliases=aliases, english=english))
    return tuple(departments)


def _parse_synonyms(data: dict[str, object], where: _Where) -> tuple[Synonym, ...]:
    """Validate the ``[[synonym]]`` entries: non-empty ``phrases`` and ``expand``."""
    entries = _entries(data, "synonym", where)
    synonyms: list[Synonym] = []
    for index, raw in enumerate(entries):
        label = ""
        if isinstance(raw, dict) and isinstance(raw.get("phrases"), list) and raw["phrases"]:
            label = f"phrases = {raw['phrases'][0]!r} …"
        place = where.entry("synonym", index, len(entries), label)
        table = _check_keys(raw, _SYNONYM_KEYS, place, where)
        phrases = _strings(table.get("phrases"), "phrases", place, where, required=True)
        expand = _strings(table.get("expand"), "expand", place, where, required=True)
        synonyms.append(Synonym(phrases=phrases, expand=expand))
    return tuple(synonyms)


def _parse_list_table(
    data: dict[str, object], table_name: str, key: str, allowed: frozenset[str], where: _Where
) -> tuple[str, ...]:
    """Validate an optional ``[table_name]`` holding one list of strings under ``key``."""
    if table_name not in data:
        return ()
    table = _check_keys(data[table_name], allowed, f"[{table_name}]", where)
    return _strings(table.get(key), key, f"[{table_name}]", where, required=False)


def _parse(data: dict[str, object], where: _Where, checksum: str) -> Lexicon:
    """Build a :class:`Lexicon` from parsed TOML, raising on the first problem found."""
    _check_keys(data, _TOP_KEYS, "the top level", where)
    departments = _parse_departments(data, where)
    synonyms = _parse_synonyms(data, where)
    terms = _parse_list_table(data, "terms", "words", _TERMS_KEYS, where)
    ignore = _parse_list_table(data, "detect", "ignore", _DETECT_KEYS, where)
    aliases = {normalize(w): d.name for d in departments for w in (d.name, *d.aliases, *d.english)}
    for word in ignore:
        if normalize(word) in aliases:
            raise where.error(
                f"[detect] ignore entry {word!r} is also an alias of department {aliases[normalize(word)]!r}",
                f"Remove it from one of the two lists. {_EDIT_HINT}",
            )
    return Lexicon(
        departments=departments,
        synonyms=synonyms,
        terms=terms,
        checksum=checksum,
        source=str(where.source),
        detect_ignore=ignore,
    )


def load_lexicon(path: Path | None = None) -> Lexicon:
    """Read, validate and compile a lexicon file.

    Args:
        path: the TOML file; the packaged :data:`DEFAULT_LEXICON_PATH` when None.

    Returns:
        The lexicon, with ``checksum`` the sha256 of the file's bytes.

    Raises:
        RetrieverError: the file is missing, unreadable, not UTF-8, not valid TOML, or
            an entry is invalid (unknown key, missing name, empty phrases/expand, an
            alias claimed by two departments); the message names the file and the entry.
    """
    source = Path(path) if path is not None else DEFAULT_LEXICON_PATH
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise RetrieverError(
            f"Lexicon {source} does not exist.",
            "Pass the path of a lexicon TOML file, or restore src/retriever/data/lexicon.toml.",
        ) from None
    except OSError as exc:
        raise RetrieverError(
            f"Lexicon {source} cannot be read: {exc.strerror}.", "Check the path and its permissions."
        ) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RetrieverError(
            f"Lexicon {source} is not UTF-8 text (bad byte at offset {exc.start}).", "Save the file as UTF-8."
        ) from None
    where = _Where(source, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise where.error(
            f"invalid TOML syntax: {exc}", "Fix the syntax at the line shown and load it again."
        ) from None
    return _parse(data, where, hashlib.sha256(raw).hexdigest())
