"""The embedding cache: hits are not re-embedded, batches are committed as they go."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retriever.embedcache import EmbeddingCache, embed_with_cache, text_key
from retriever.errors import IndexStateError

from .conftest import FakeEmbedder


def test_second_run_embeds_nothing(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    texts = ["电梯安全", "锅炉安全", "电梯安全", "网吧检查"]
    with EmbeddingCache(tmp_path / "c.sqlite", embedder.model_id, embedder.dimension) as cache:
        first, embedded = embed_with_cache(texts, embedder.encode_clauses, embedder.dimension, cache)
        assert embedded == 3  # the repeated text is embedded once
        again, embedded_again = embed_with_cache(texts, embedder.encode_clauses, embedder.dimension, cache)
    assert embedded_again == 0
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, embedder.encode_clauses(texts), rtol=0, atol=0)


def test_other_models_and_changed_texts_miss(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    path = tmp_path / "c.sqlite"
    with EmbeddingCache(path, embedder.model_id, embedder.dimension) as cache:
        embed_with_cache(["甲乙丙"], embedder.encode_clauses, embedder.dimension, cache)
        assert cache.count() == 1
    with EmbeddingCache(path, "other/model", embedder.dimension) as cache:
        assert cache.get_many([text_key("甲乙丙")]) == {}
    with EmbeddingCache(path, embedder.model_id, embedder.dimension) as cache:
        _, embedded = embed_with_cache(["甲乙丙", "甲乙丁"], embedder.encode_clauses, embedder.dimension, cache)
    assert embedded == 1


def test_interrupted_run_keeps_finished_batches(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    texts = [f"条款{i}的内容" for i in range(10)]
    calls = 0

    def flaky(batch: list[str]) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return embedder.encode_clauses(batch)

    path = tmp_path / "c.sqlite"
    with EmbeddingCache(path, embedder.model_id, embedder.dimension) as cache, pytest.raises(KeyboardInterrupt):
        embed_with_cache(texts, flaky, embedder.dimension, cache, batch=2)
    with EmbeddingCache(path, embedder.model_id, embedder.dimension) as cache:
        assert cache.count() == 4
        _, embedded = embed_with_cache(texts, embedder.encode_clauses, embedder.dimension, cache, batch=2)
    assert embedded == 6


def test_a_corrupt_cache_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(IndexStateError, match="Delete"):
        EmbeddingCache(path, "m", 4)
