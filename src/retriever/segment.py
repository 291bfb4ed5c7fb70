"""Text → tokens: one jieba tokenizer that knows the lexicon's terms.

The lexicon's department names, aliases, synonym phrases and domain terms are
added to jieba's dictionary, so 互联网上网服务经营场所 or 人社厅 stay whole, and
search mode also emits their sub-words (上网, 经营场所) for partial matches.

Loading jieba's dictionary and adding those words takes about a second, far more than
segmenting a query. So the finished dictionary (jieba's ``FREQ`` and ``total``) is also
kept as a SQLite table in the user cache folder (:mod:`retriever.usercache`), named by
everything it derives from; a segmenter that finds it looks words up there, each once,
and loads the whole dictionary only for bulk work (:meth:`Segmenter.tokens_many`,
:meth:`Segmenter.words_many`). Both give the same tokens: the table holds the very
entries jieba would hold.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import jieba

from retriever.usercache import open_table, user_cache_dir, write_table

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

#: Bumped whenever the dictionary table's layout, or how user words are added, changes.
TABLE_FORMAT = "jieba-freq-1:max(2000,200*len)"
_MEMO_LIMIT = 200_000  # looked-up words kept in memory before the memo starts afresh


def _user_frequency(word: str) -> int:
    # A high frequency makes jieba prefer the whole term over its parts.
    return max(2000, 200 * len(word))


class _Frequencies(Mapping[str, int]):
    """jieba's ``FREQ`` read from the dictionary table, each word looked up once."""

    def __init__(self, connection: sqlite3.Connection, size: int) -> None:
        self._connection = connection
        self._size = size
        self._memo: dict[str, int | None] = {}
        self._lock = threading.Lock()

    def get(self, key: str, default: int | None = None) -> int | None:  # type: ignore[override]
        try:
            value = self._memo[key]
        except KeyError:
            with self._lock:
                row = self._connection.execute("SELECT freq FROM freq WHERE word = ?", (key,)).fetchone()
            value = None if row is None else int(row[0])
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo = {}
            self._memo[key] = value
        return default if value is None else value

    def __getitem__(self, key: str) -> int:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            words = [row[0] for row in self._connection.execute("SELECT word FROM freq")]
        return iter(words)


class Segmenter:
    """A jieba tokenizer with the lexicon's words in its dictionary."""

    def __init__(self, user_words: Iterable[str] = ()) -> None:
        jieba.setLogLevel(logging.WARNING)
        self.user_words = tuple(sorted({w.strip() for w in user_words if w.strip()}))
        self._lock = threading.Lock()
        self._full = False
        self._tokenizer = jieba.Tokenizer()
        if not self._use_table():
            self._load_full(save=True)

    @property
    def fingerprint(self) -> str:
        """Identifies the whole dictionary: jieba's version and dictionary file, the user words and how they are added.

        Unlike :attr:`checksum` (recorded in index manifests), it changes with the installed jieba.
        """
        dictionary = Path(jieba.__file__).with_name("dict.txt")
        try:
            stat = dictionary.stat()
            identity = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            identity = "?"
        return hashlib.sha256("\n".join((TABLE_FORMAT, jieba.__version__, identity, self.checksum,
                                         *self.user_words)).encode()).hexdigest()

    def _table_path(self) -> Path:
        """The dictionary table for this jieba, its dictionary file and these user words."""
        return user_cache_dir() / "segmenter" / f"{self.fingerprint[:32]}.sqlite"

    def _use_table(self) -> bool:
        """Read words from the dictionary table, if there is one."""
        connection = open_table(self._table_path())
        if connection is None:
            return False
        try:
            meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("format") != TABLE_FORMAT:
                raise ValueError(meta.get("format"))
            total, size = int(meta["total"]), int(meta["size"])
        except (sqlite3.Error, ValueError, KeyError):
            connection.close()
            return False
        self._tokenizer.FREQ = _Frequencies(connection, size)
        self._tokenizer.total = total
        self._tokenizer.initialized = True
        return True

    def load_dictionary(self) -> None:
        """Load jieba's whole dictionary now, for a long-running process (a server).

        Until then words are looked up in the dictionary table, each once (about 1 ms a query
        while the memo is cold).
        """
        self._load_full()

    def _load_full(self, *, save: bool = False) -> None:
        """Load jieba's whole dictionary plus the user words (about a second); ``save`` also writes the table."""
        with self._lock:
            if self._full:
                return
            tokenizer = jieba.Tokenizer()
            for word in self.user_words:
                tokenizer.add_word(word, freq=_user_frequency(word))
            tokenizer.check_initialized()  # without user words, add_word never loaded it
            self._tokenizer = tokenizer
            self._full = True
        if save:
            self._save_table(tokenizer.FREQ, tokenizer.total)

    def _save_table(self, frequencies: dict[str, int], total: int) -> None:
        def fill(connection: sqlite3.Connection) -> None:
            connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            connection.execute("CREATE TABLE freq (word TEXT PRIMARY KEY, freq INTEGER) WITHOUT ROWID")
            connection.executemany("INSERT INTO freq VALUES (?, ?)", frequencies.items())
            connection.executemany("INSERT INTO meta VALUES (?, ?)", {
                "format": TABLE_FORMAT, "total": str(total), "size": str(len(frequencies)),
                "jieba": jieba.__version__}.items())

        write_table(self._table_path(), fill)

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

    def log_probability(self, text: str) -> float:
        """The natural log of the likeliest segmentation's probability under jieba's word frequencies
        (a unigram language model; a piece the dictionary does not know counts as seen once)."""
        self._tokenizer.check_initialized()
        if not text:
            return 0.0
        route: dict[int, tuple[float, int]] = {}
        self._tokenizer.calc(text, self._tokenizer.get_DAG(text), route)
        return float(route[0][0])

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
        """Tokens for each text (loads the whole dictionary first: many lookups are faster in memory)."""
        self._load_full()
        return [self.tokens(text) for text in texts]

    def words_many(self, texts: Sequence[str]) -> list[list[str]]:
        """Precise-mode words for each text (loads the whole dictionary first, as :meth:`tokens_many`)."""
        self._load_full()
        return [self.words(text) for text in texts]
