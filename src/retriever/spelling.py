"""Homophone typo correction for queries (妇连 → 妇联, 消放 → 消防, 型事 → 刑事).

Staff type with pinyin input methods, so their typos are mostly homophones of the
word they meant. A piece of the query that is not a word, but sounds exactly like
a word of the domain vocabulary (the regulation's words and the lexicon's) and
shares at least half of its characters with it, is replaced by that word.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from retriever.usercache import read_json, user_cache_dir, write_json

_HAN = re.compile(r"^[\u3400-\u9fff]+$")
_MIN_LEN, _MAX_LEN = 2, 6

#: Bumped whenever the saved tables' layout or how they are built changes.
TABLES_FORMAT = "homophone-tables-1"


def lazy_pinyin(text: str) -> list[str]:
    """pypinyin's ``lazy_pinyin``, imported on first use: the import alone (its phrase
    dictionary) costs a third of a second, and most queries never need it."""
    from pypinyin import lazy_pinyin as pinyin

    return list(pinyin(text))


def _pypinyin_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pypinyin")
    except PackageNotFoundError:
        return "unknown"


#: Function characters are words of their own: a typo is never read into one of them (把车 stays, 扒车 is not meant).
_FUNCTION_CHARACTERS = frozenset("把被将让给叫的地得了着过在是和与及或对向从往于跟比就都也还又再才很太最")
#: What a question asks about a penalty is never read as a typo (最多罚五百万 is not 最多发).
_PENALTY_CHARACTERS = frozenset("罚扣判")
#: A correction must make its neighbourhood (_CONTEXT characters each side) at least e**PLAUSIBILITY_MARGIN
#: times as likely as the text as typed (about 400 times: a typo is rare, two words that meet are not):
#: 驾龄有 is 驾龄 + 有, not a misspelt 另有; 拾花工 stays, 措失费 becomes 措施费.
PLAUSIBILITY_MARGIN = 6.0
_CONTEXT = 2


@dataclass(frozen=True)
class Correction:
    """One replaced piece of a query."""

    wrong: str
    right: str


class HomophoneCorrector:
    """Replaces non-words that sound like a vocabulary word.

    Args:
        vocabulary: the domain words (Chinese), e.g. the regulation's words and the lexicon's terms.
        is_word: tells whether a string is a real word of the language (such a string is never
            "corrected", e.g. 世故 stays even though it sounds like 事故).
        plausibility: the log-probability of a text under a language model (the segmenter's word
            frequencies, :meth:`retriever.segment.Segmenter.log_probability`); when given, a correction
            is made only where it makes the text around it much more likely (:data:`PLAUSIBILITY_MARGIN`).
    """

    def __init__(self, vocabulary: Iterable[str], is_word: Callable[[str], bool],
                 plausibility: Callable[[str], float] | None = None) -> None:
        by_sound: dict[tuple[str, ...], set[str]] = {}
        self._vocabulary: set[str] = set()
        for word in vocabulary:
            if _MIN_LEN <= len(word) <= _MAX_LEN and _HAN.match(word):
                self._vocabulary.add(word)
                by_sound.setdefault(tuple(lazy_pinyin(word)), set()).add(word)
        # A sound shared by two vocabulary words is ambiguous: leave such typos alone.
        self._by_sound = {sound: next(iter(words)) for sound, words in by_sound.items() if len(words) == 1}
        self._ambiguous = {sound for sound, words in by_sound.items() if len(words) > 1}
        self._is_word = is_word
        self._plausibility = plausibility
        self._index_shapes()

    def _index_shapes(self) -> None:
        """Index the correction targets by (length, position, character).

        A piece can only be corrected to a word of its length that shares at least half of
        its characters in place; when no such word exists its pinyin need not be computed.
        """
        self._shapes: dict[tuple[int, int, str], list[str]] = {}
        for word in self._by_sound.values():
            for position, char in enumerate(word):
                self._shapes.setdefault((len(word), position, char), []).append(word)

    def _may_be_corrected(self, piece: str) -> bool:
        """Whether some correction target of the piece's length shares at least half of its characters in place."""
        length = len(piece)
        shared: dict[str, int] = {}
        for position, char in enumerate(piece):
            for word in self._shapes.get((length, position, char), ()):
                shared[word] = count = shared.get(word, 0) + 1
                if 2 * count >= length:
                    return True
        return False

    @classmethod
    def from_tables(cls, tables: dict[str, Any], is_word: Callable[[str], bool],
                    plausibility: Callable[[str], float] | None = None) -> HomophoneCorrector:
        """A corrector from :meth:`tables` output, without computing any pinyin.

        Raises:
            KeyError, TypeError, ValueError: ``tables`` is not such output.
        """
        corrector = cls((), is_word, plausibility)
        corrector._vocabulary = {str(w) for w in tables["vocabulary"]}
        corrector._by_sound = {tuple(str(s) for s in sound): str(word) for sound, word in tables["by_sound"]}
        corrector._ambiguous = {tuple(str(s) for s in sound) for sound in tables["ambiguous"]}
        corrector._index_shapes()
        return corrector

    def tables(self) -> dict[str, Any]:
        """The vocabulary and its sounds as JSON-ready lists (see :meth:`from_tables`)."""
        return {"vocabulary": sorted(self._vocabulary),
                "by_sound": sorted([list(sound), word] for sound, word in self._by_sound.items()),
                "ambiguous": sorted(list(sound) for sound in self._ambiguous)}

    def correct(self, text: str) -> tuple[str, tuple[Correction, ...]]:
        """The text with homophone typos replaced, and what was replaced.

        Known words are kept whole (卫健委 is not read as 卫 + a typo 健委); only where no
        known word starts is the longest homophone of a vocabulary word tried.
        """
        out: list[str] = []
        corrections: list[Correction] = []
        i = 0
        while i < len(text):
            step = self._known_word_at(text, i)
            if step:
                out.append(text[i:i + step])
                i += step
                continue
            correction = self._correction_at(text, i)
            if correction is not None:
                out.append(correction.right)
                corrections.append(correction)
                i += len(correction.wrong)
                continue
            out.append(text[i])
            i += 1
        return "".join(out), tuple(corrections)

    def _known_word_at(self, text: str, i: int) -> int:
        """Length of the longest known word (vocabulary or language) starting at ``i``, or 0."""
        for length in range(min(_MAX_LEN, len(text) - i), _MIN_LEN - 1, -1):
            piece = text[i:i + length]
            if _HAN.match(piece) and (piece in self._vocabulary or self._is_word(piece)):
                return length
        return 0

    def _correction_at(self, text: str, i: int) -> Correction | None:
        """The longest unambiguous homophone correction starting at ``i``, if any.

        When a known word begins right after the first character (和|安全, 从|施工), that
        character is a word of its own, not the start of a misspelt one.
        """
        if self._known_word_at(text, i + 1):
            return None
        for length in range(min(_MAX_LEN, len(text) - i), _MIN_LEN - 1, -1):
            piece = text[i:i + length]
            if not _HAN.match(piece) or self._is_word(piece) or not self._may_be_corrected(piece):
                continue
            right = self._by_sound.get(tuple(lazy_pinyin(piece)))
            if right is None or right == piece:
                continue
            if 2 * sum(a == b for a, b in zip(piece, right, strict=True)) < length:
                continue
            if any(a in _FUNCTION_CHARACTERS and (a != b or length == 2) for a, b in zip(piece, right, strict=True)):
                continue  # 把车 is 把 + 车, not a misspelt 扒车; 出了 is 出 + 了, not 除了
            if any(a in _PENALTY_CHARACTERS and a != b for a, b in zip(piece, right, strict=True)):
                continue  # 最多罚五百万 asks for a fine, not 最多发
            if self._core_is_ambiguous(piece, right) or not self._more_plausible(text, i, piece, right):
                continue
            return Correction(piece, right)
        return None

    def _more_plausible(self, text: str, i: int, piece: str, right: str) -> bool:
        """Whether ``right`` in place of ``piece`` (at ``i``) makes the text around it much more likely."""
        if self._plausibility is None:
            return True
        before, after = text[max(0, i - _CONTEXT):i], text[i + len(piece):i + len(piece) + _CONTEXT]
        gain = self._plausibility(before + right + after) - self._plausibility(before + piece + after)
        return gain >= PLAUSIBILITY_MARGIN

    def _core_is_ambiguous(self, piece: str, right: str) -> bool:
        """Whether the differing part alone sounds like several vocabulary words.

        安全生产型事 sounds like 安全生产形势, but its differing part 型事 sounds like both
        刑事 and 形势: the longer match must not decide which one was meant.
        """
        differing = [i for i, (a, b) in enumerate(zip(piece, right, strict=True)) if a != b]
        core = piece[differing[0]:differing[-1] + 1]
        return len(core) >= 2 and tuple(lazy_pinyin(core)) in self._ambiguous



def load_corrector(key: str, vocabulary: Callable[[], Iterable[str]], is_word: Callable[[str], bool],
                   plausibility: Callable[[str], float] | None = None) -> HomophoneCorrector:
    """The corrector for ``vocabulary``, from the user cache when it was built before under ``key``.

    The pinyin of a few thousand words costs a quarter of a second, more than a query:
    the tables are saved in the user cache folder (:mod:`retriever.usercache`) under a
    digest of ``key`` (which must name everything the vocabulary is made from), the
    table format and the pypinyin version.
    """
    digest = hashlib.sha256(f"{TABLES_FORMAT}\0{_pypinyin_version()}\0{key}".encode()).hexdigest()
    path = user_cache_dir() / "spelling" / f"{digest[:32]}.json"
    saved = read_json(path)
    if isinstance(saved, dict) and saved.get("format") == TABLES_FORMAT and saved.get("key") == key:
        try:
            return HomophoneCorrector.from_tables(saved, is_word, plausibility)
        except (KeyError, TypeError, ValueError):
            pass  # a damaged file: build again and replace it
    corrector = HomophoneCorrector(vocabulary(), is_word, plausibility)
    write_json(path, {"format": TABLES_FORMAT, "key": key, **corrector.tables()})
    return corrector
