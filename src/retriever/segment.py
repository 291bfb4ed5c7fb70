"""Text → tokens: one jieba tokenizer that knows the lexicon's terms.

The lexicon's department names, aliases, synonym phrases and domain terms are
added to jieba's dictionary, so 互联网上网服务经营场所 or 人社厅 stay whole, and
search mode also emits their sub-words (上网, 经营场所) for partial matches.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence

import jieba

#: Bumped whenever tokenisation changes, so old indexes are reported stale.
SEGMENTER_VERSION = "jieba-search-1"

# Words that carry no meaning for retrieval: function words and the frame of a
# "who supervises what" question. Domain words (安全, 部门, 监管) are kept: BM25's
# idf already discounts them.
STOPWORDS = frozenset(
    """的 了 和 与 及 或 等 是 在 对 由 为 把 被 将 从 向 其 之 以 并 也 都 就 还 又 吗 呢 吧 啊 呀
    哪个 哪些 哪家 哪 什么 怎么 怎样 如何 谁 归 管 归谁 谁管 请问 一下 有 没有 我 我们 你 他 它 这 那 这个 那个
    要 能 会 该 应该 应当 需要 可以 是否 个 些 方面 问题 情况 相关 有关 关于 负责 职责 部门 单位
    the a an of to in on for is are who which what does do and or by with about""".split()
)

_TOKEN = re.compile(r"[\w\u4e00-\u9fff]")


class Segmenter:
    """A jieba tokenizer with the lexicon's words in its dictionary."""

    def __init__(self, user_words: Iterable[str] = ()) -> None:
        jieba.setLogLevel(logging.WARNING)
        self._tokenizer = jieba.Tokenizer()
        self.user_words = tuple(sorted({w.strip() for w in user_words if w.strip()}))
        for word in self.user_words:
            # A high frequency makes jieba prefer the whole term over its parts.
            self._tokenizer.add_word(word, freq=max(2000, 200 * len(word)))

    @property
    def checksum(self) -> str:
        """Identifies the segmentation: version plus the user dictionary."""
        digest = hashlib.sha256("\n".join((SEGMENTER_VERSION, *self.user_words)).encode()).hexdigest()
        return digest[:16]

    def is_word(self, text: str) -> bool:
        """Whether jieba's dictionary (with the lexicon's words) knows ``text`` as a word.

        Entries seen fewer than 10 times in jieba's corpus (连有: 3) are noise, not words.
        """
        self._tokenizer.check_initialized()
        return int(self._tokenizer.FREQ.get(text, 0)) >= 10

    def words(self, text: str) -> list[str]:
        """Precise-mode words, punctuation and spaces removed (for term matching)."""
        return [w for w in self._tokenizer.lcut(text, HMM=True) if _TOKEN.search(w)]

    def tokens(self, text: str) -> list[str]:
        """Search-mode tokens for BM25: lower-cased, stopwords removed."""
        out: list[str] = []
        for word in self._tokenizer.lcut_for_search(text, HMM=True):
            token = word.strip().lower()
            if token and _TOKEN.search(token) and token not in STOPWORDS:
                out.append(token)
        return out

    def tokens_many(self, texts: Sequence[str]) -> list[list[str]]:
        """Tokens for each text."""
        return [self.tokens(text) for text in texts]
