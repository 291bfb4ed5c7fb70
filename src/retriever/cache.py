"""A query cache: repeated questions are answered from memory.

Staff ask the same things; an answer depends only on the normalised question, the
filters, k and the index it was computed from, so those form the key. A different
index (a rebuild, another folder) gives other keys, and the first lookup against
it empties the cache, so an answer from an old index is never served.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, replace

from retriever.records import Answer, Mode
from retriever.search import Searcher
from retriever.store import StoredIndex
from retriever.validation import validate_query

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class CacheKey:
    """Everything an answer depends on besides the engine code."""

    query: str
    k: int
    department: str | None
    mode: str
    index_version: str
    filters: tuple[str | None, str | None, str | None, bool] = (None, None, None, False)


@dataclass(frozen=True)
class CacheStats:
    """Counters since the cache was made (or last cleared)."""

    size: int
    maxsize: int
    hits: int
    misses: int


def normalize_query(text: str) -> str:
    """The cache's spelling of a query: NFKC, case-folded, runs of white space as one space, stripped."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def index_version(index: StoredIndex) -> str:
    """A short fingerprint of a loaded index: its build folder and the manifest's identity fields."""
    manifest = index.manifest
    identity = {
        "folder": str(index.folder),
        "created": manifest.get("created"),
        "model": manifest.get("model"),
        "corpus": (manifest.get("corpus") or {}).get("checksum"),
        "lexicon": manifest.get("lexicon"),
        "segmenter": manifest.get("segmenter"),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


class QueryCache:
    """A thread-safe LRU map from :class:`CacheKey` to :class:`~retriever.records.Answer`.

    Args:
        maxsize: answers kept; the least recently used is dropped first.

    Raises:
        ValueError: ``maxsize`` is below 1.
    """

    def __init__(self, maxsize: int = 1024) -> None:
        if maxsize < 1:
            raise ValueError(f"the query cache needs room for at least one answer, not {maxsize}.")
        self.maxsize = maxsize
        self._answers: OrderedDict[CacheKey, Answer] = OrderedDict()
        self._lock = threading.Lock()
        self._version: str | None = None
        self._hits = 0
        self._misses = 0

    def get(self, key: CacheKey) -> Answer | None:
        """The cached answer for ``key`` (now the most recently used), or None.

        A key for another index version than the last one seen empties the cache first.
        """
        with self._lock:
            if key.index_version != self._version:
                self._answers.clear()
                self._version = key.index_version
            answer = self._answers.get(key)
            if answer is None:
                self._misses += 1
                return None
            self._answers.move_to_end(key)
            self._hits += 1
            return answer

    def put(self, key: CacheKey, answer: Answer) -> None:
        """Remember ``answer`` (dropped if another index was looked up since ``key`` was made)."""
        with self._lock:
            if self._version is None:
                self._version = key.index_version
            elif key.index_version != self._version:
                return
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self.maxsize:
                self._answers.popitem(last=False)

    def clear(self) -> None:
        """Forget every answer and reset the counters."""
        with self._lock:
            self._answers.clear()
            self._hits = self._misses = 0

    def stats(self) -> CacheStats:
        """Current size and hit/miss counters."""
        with self._lock:
            return CacheStats(len(self._answers), self.maxsize, self._hits, self._misses)


class CachedSearcher(Searcher):
    """A :class:`~retriever.search.Searcher` whose ``search`` answers repeated questions from a cache.

    It shares the wrapped searcher's state (index, model, lazily built parts), so
    both see the same index; only ``search`` differs.

    Args:
        searcher: the searcher to wrap (it keeps working, uncached).
        cache: where answers are kept.
    """

    def __init__(self, searcher: Searcher, cache: QueryCache) -> None:
        # Sharing the instance dictionary, not copying it: lazy parts built by
        # either object serve both, and nothing is loaded twice.
        self.__dict__ = searcher.__dict__
        self.query_cache = cache
        self._versioned: tuple[StoredIndex, str] | None = None

    def index_version(self) -> str:
        """The fingerprint of the index this searcher answers from (recomputed when the index object changes)."""
        index = self.index
        if self._versioned is None or self._versioned[0] is not index:
            self._versioned = (index, index_version(index))
        return self._versioned[1]

    def search(self, query: str, k: int = 10, *, department: str | None = None, mode: Mode = "full",
               document: str | None = None, region: str | None = None, level: str | None = None,
               include_superseded: bool = False) -> Answer:
        """As :meth:`Searcher.search`; an identical question against the same index is not recomputed."""
        key = self._key(query, k, department, mode, (document, region, level, include_superseded))
        answer = self.query_cache.get(key)
        if answer is None:
            answer = super().search(query, k, department=department, mode=mode, document=document, region=region,
                                    level=level, include_superseded=include_superseded)
            self.query_cache.put(key, answer)
            return answer
        return answer if answer.query == query else replace(answer, query=query)

    async def search_async(self, query: str, k: int = 10, *, department: str | None = None, mode: Mode = "full",
                           document: str | None = None, region: str | None = None, level: str | None = None,
                           include_superseded: bool = False) -> Answer:
        """As :meth:`Searcher.search_async`, from the same cache as :meth:`search`."""
        key = self._key(query, k, department, mode, (document, region, level, include_superseded))
        answer = self.query_cache.get(key)
        if answer is None:
            answer = await super().search_async(query, k, department=department, mode=mode, document=document,
                                                region=region, level=level, include_superseded=include_superseded)
            self.query_cache.put(key, answer)
            return answer
        return answer if answer.query == query else replace(answer, query=query)

    def _key(self, query: str, k: int, department: str | None, mode: Mode,
             filters: tuple[str | None, str | None, str | None, bool]) -> CacheKey:
        text = validate_query(query)  # invalid input is never cached; it raises as before
        return CacheKey(normalize_query(text), k, department, str(mode), self.index_version(), filters)


def with_cache(searcher: Searcher, maxsize: int = 1024) -> CachedSearcher:
    """A searcher over the same index that caches up to ``maxsize`` answers (see :class:`QueryCache`)."""
    return CachedSearcher(searcher, QueryCache(maxsize))


__all__ = ["CacheKey", "CacheStats", "CachedSearcher", "QueryCache", "index_version", "normalize_query", "with_cache"]
