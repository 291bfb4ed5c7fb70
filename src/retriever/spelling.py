"""Homophone typo correction for queries (妇连 → 妇联, 消放 → 消防, 型事 → 刑事).

Staff type with pinyin input methods, so their typos are mostly homophones of the
word they meant. A piece of the query that is not a word, but sounds exactly like
a word of the domain vocabulary (the regulation's words and the lexicon's) and
shares at least half of its characters with it, is replaced by that word.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pypinyin import lazy_pinyin

_HAN = re.compile(r"^[\u3400-\u9fff]+$")
_MIN_LEN, _MAX_LEN = 2, 6


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
    """

    def __init__(self, vocabulary: Iterable[str], is_word: Callable[[str], bool]) -> None:
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
            if not _HAN.match(piece) or self._is_word(piece):
                continue
            right = self._by_sound.get(tuple(lazy_pinyin(piece)))
            if right is None or right == piece:
                continue
            if 2 * sum(a == b for a, b in zip(piece, right, strict=True)) < length:
                continue
            if not self._core_is_ambiguous(piece, right):
                return Correction(piece, right)
        return None

    def _core_is_ambiguous(self, piece: str, right: str) -> bool:
        """Whether the differing part alone sounds like several vocabulary words.

        安全生产型事 sounds like 安全生产形势, but its differing part 型事 sounds like both
        刑事 and 形势: the longer match must not decide which one was meant.
        """
        differing = [i for i, (a, b) in enumerate(zip(piece, right, strict=True)) if a != b]
        core = piece[differing[0]:differing[-1] + 1]
        return len(core) >= 2 and tuple(lazy_pinyin(core)) in self._ambiguous

