"""The query cache: hits, keys, LRU order, invalidation when the index changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from retriever.cache import CachedSearcher, CacheKey, QueryCache, normalize_query, with_cache
from retriever.errors import QueryError
from retriever.lexicon import load_lexicon
from retriever.records import Answer
from retriever.search import Searcher, open_searcher
from retriever.segment import Segmenter
from retriever.store import build_index

from .conftest import SEEDS, FakeEmbedder

QUESTION = "网吧的安全检查归哪个部门？"


@pytest.fixture(scope="module")
def fake_searcher(tmp_path_factory: pytest.TempPathFactory) -> Searcher:
    root = tmp_path_factory.mktemp("cache-index") / "index"
    return open_searcher(root, seeds_dir=SEEDS, embedder=FakeEmbedder(), build_if_missing=True)


def _key(query: str, version: str = "v1") -> CacheKey:
    return CacheKey(query, 10, None, "full", version)


def _answer(query: str) -> Answer:
    return Answer(query=query, normalized_query=query, route="search", in_scope=True, departments=(), hits=())


def test_normalize_query_folds_width_case_and_spaces() -> None:
    assert normalize_query("  ＷＨＯ  supervises\u3000fireworks？ ") == "who supervises fireworks?"
    assert normalize_query(QUESTION) == "网吧的安全检查归哪个部门?"  # NFKC: full-width ？ is ?


def test_a_repeated_question_is_answered_from_the_cache(fake_searcher: Searcher) -> None:
    cached = with_cache(fake_searcher, 16)
    embedder = fake_searcher.embedder
    assert isinstance(embedder, FakeEmbedder)
    first = cached.search(QUESTION)
    calls = embedder.calls
    second = cached.search(QUESTION)
    assert second is first
    assert embedder.calls == calls  # no forward pass for the repeat
    assert cached.query_cache.stats().hits == 1
    assert cached.query_cache.stats().misses == 1
    assert first == fake_searcher.search(QUESTION)  # the same answer the uncached engine gives


def test_spellings_that_normalise_alike_share_an_entry_but_keep_their_own_query(fake_searcher: Searcher) -> None:
    cached = with_cache(fake_searcher, 16)
    cached.search("Who supervises fireworks safety?")
    again = cached.search("  WHO  supervises fireworks safety? ")
    assert cached.query_cache.stats().hits == 1
    assert again.query == "  WHO  supervises fireworks safety? "


def test_k_department_and_mode_are_part_of_the_key(fake_searcher: Searcher) -> None:
    cached = with_cache(fake_searcher, 16)
    department = fake_searcher.departments()[0]
    answers = [cached.search(QUESTION), cached.search(QUESTION, 3), cached.search(QUESTION, department=department),
               cached.search(QUESTION, mode="bm25")]
    stats = cached.query_cache.stats()
    assert (stats.hits, stats.misses, stats.size) == (0, 4, 4)
    assert len(answers[1].hits) == 3
    assert all(hit.clause.department == department for hit in answers[2].hits)
    assert answers[3].mode == "bm25"


def test_invalid_queries_raise_and_are_not_cached(fake_searcher: Searcher) -> None:
    cached = with_cache(fake_searcher, 16)
    for bad in ("", "   ", "x" * 501):
        with pytest.raises(QueryError):
            cached.search(bad)
    with pytest.raises(QueryError, match="unknown department"):
        cached.search(QUESTION, department="不存在的局")
    assert cached.query_cache.stats().size == 0


def test_least_recently_used_answer_is_dropped_first() -> None:
    cache = QueryCache(maxsize=2)
    cache.put(_key("a"), _answer("a"))
    cache.put(_key("b"), _answer("b"))
    assert cache.get(_key("a")) is not None  # "a" is now the most recent
    assert cache.get(_key("c")) is None
    cache.put(_key("c"), _answer("c"))
    assert cache.get(_key("b")) is None  # evicted
    assert cache.get(_key("a")) is not None
    assert cache.get(_key("c")) is not None
    assert cache.stats().size == 2


def test_another_index_version_empties_the_cache() -> None:
    cache = QueryCache()
    assert cache.get(_key("a", "v1")) is None
    cache.put(_key("a", "v1"), _answer("a"))
    assert cache.get(_key("a", "v2")) is None
    cache.put(_key("a", "v1"), _answer("a"))  # computed against the old index: not kept
    assert cache.stats().size == 0
    assert cache.get(_key("a", "v1")) is None


def test_a_rebuilt_index_is_never_answered_from_the_old_one(tmp_path: Path, seeds_copy: Path) -> None:
    embedder = FakeEmbedder()
    root = tmp_path / "index"
    cache = QueryCache()
    before = CachedSearcher(open_searcher(root, seeds_dir=seeds_copy, embedder=embedder, build_if_missing=True), cache)
    before.search(QUESTION)
    lexicon = load_lexicon()
    build_index(seeds_copy, root, embedder, lexicon, Segmenter(lexicon.user_words()))
    after = CachedSearcher(open_searcher(root, seeds_dir=seeds_copy, embedder=embedder), cache)
    assert after.index_version() != before.index_version()
    after.search(QUESTION)
    assert (cache.stats().hits, cache.stats().misses, cache.stats().size) == (0, 2, 1)


def test_open_searcher_with_cache_size_returns_a_caching_searcher(fake_searcher: Searcher) -> None:
    root = fake_searcher.index.root
    searcher = open_searcher(root, seeds_dir=SEEDS, embedder=FakeEmbedder(), cache_size=8)
    assert isinstance(searcher, CachedSearcher)
    assert searcher.query_cache.maxsize == 8
    assert not isinstance(open_searcher(root, seeds_dir=SEEDS, embedder=FakeEmbedder()), CachedSearcher)


def test_a_cache_needs_room() -> None:
    with pytest.raises(ValueError, match="at least one"):
        QueryCache(0)
