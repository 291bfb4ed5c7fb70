"""Candidates: on the seed with N >= clauses, the same per-clause scores as the full scan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retriever.candidates import gather_candidates
from retriever.search import Searcher, open_searcher

from .conftest import SEEDS, FakeEmbedder

QUERIES = ("网吧的安全检查归哪个部门？", "光伏电站安全由谁负责？", "电动车充电归哪个部门管？",
           "人社厅有哪些安全生产职责？", "危险化学品运输车辆的监管", "今天天气怎么样")


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory) -> Searcher:
    root = tmp_path_factory.mktemp("candidates-index") / "index"
    return open_searcher(root, seeds_dir=SEEDS, embedder=FakeEmbedder(), build_if_missing=True)


def full_scan(searcher: Searcher, query: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """Today's engine: every clause scored (search.Searcher._retrieve, mode full)."""
    s = searcher.settings
    analysis = searcher.analyze(query)
    tokens = list(analysis.tokens)
    expansion = [t for t in searcher.segmenter.tokens(" ".join(analysis.expansions)) if t not in analysis.tokens]
    bm25 = searcher.index.lexical.scores(tokens)
    if expansion:
        bm25 = bm25 + s.expansion_weight * searcher.index.lexical.scores(expansion)
    text = f"{analysis.text} （{'，'.join(analysis.expansions)}）" if analysis.expansions else analysis.text
    vector = searcher.embedder.encode_queries([text])[0]
    dense = np.full(len(searcher.clauses), -1.0, dtype=np.float32)
    np.maximum.at(dense, searcher.index.unit_clause, searcher.index.dense.scores(vector))
    return vector, dense, bm25, tokens, expansion


@pytest.mark.parametrize("query", QUERIES)
def test_n_at_least_the_clause_count_gives_the_full_scan(searcher: Searcher, query: str) -> None:
    clauses = len(searcher.clauses)
    assert clauses == 298
    vector, dense, bm25, tokens, expansion = full_scan(searcher, query)
    found = gather_candidates(searcher.index.dense, searcher.index.lexical, searcher.index.unit_clause, vector,
                              tokens, clauses, expansion=expansion,
                              expansion_weight=searcher.settings.expansion_weight)
    assert found.rows.tolist() == list(range(clauses))
    assert found.complete
    np.testing.assert_array_equal(found.dense, dense)
    np.testing.assert_array_equal(found.bm25, bm25.astype(np.float32))


def test_small_n_keeps_each_retrievers_best(searcher: Searcher) -> None:
    vector, dense, bm25, tokens, expansion = full_scan(searcher, QUERIES[0])
    n = 10
    found = gather_candidates(searcher.index.dense, searcher.index.lexical, searcher.index.unit_clause, vector,
                              tokens, n, expansion=expansion, expansion_weight=searcher.settings.expansion_weight)
    assert len(found) <= 2 * searcher.index.dense.size
    assert not found.complete
    rows = set(found.rows.tolist())
    assert set(np.argsort(-dense, kind="stable")[:n].tolist()) <= rows
    positive = np.flatnonzero(bm25 > 0)
    assert set(positive[np.argsort(-bm25[positive], kind="stable")][:n].tolist()) <= rows
    np.testing.assert_allclose(found.dense, dense[found.rows], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(found.bm25, bm25[found.rows].astype(np.float32))


def test_allowed_clauses_only(searcher: Searcher) -> None:
    vector, dense, _, tokens, _ = full_scan(searcher, QUERIES[1])
    allowed = np.zeros(len(searcher.clauses), dtype=bool)
    allowed[100:150] = True
    found = gather_candidates(searcher.index.dense, searcher.index.lexical, searcher.index.unit_clause, vector,
                              tokens, 20, allowed=allowed)
    assert found.rows.size >= 20 and allowed[found.rows].all()
    best_allowed = 100 + int(np.argmax(dense[100:150]))
    assert best_allowed in found.rows


def test_bm25_only_and_bad_input(searcher: Searcher) -> None:
    index = searcher.index
    found = gather_candidates(index.dense, index.lexical, index.unit_clause, None, ["消防"], 5)
    assert 0 < len(found) <= 5 and not found.dense.any()
    with pytest.raises(ValueError, match="n >= 1"):
        gather_candidates(index.dense, index.lexical, index.unit_clause, None, ["消防"], 0)
    with pytest.raises(ValueError, match="allowed mask has length 3"):
        gather_candidates(index.dense, index.lexical, index.unit_clause, None, ["消防"], 5,
                          allowed=np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="non-decreasing"):
        gather_candidates(index.dense, index.lexical, index.unit_clause[::-1].copy(), None, ["消防"], 5)


def test_a_large_librarys_corrector_reads_the_bm25_vocabulary(searcher: Searcher, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import retriever.search as search_module

    monkeypatch.setenv("RETRIEVER_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(search_module, "_SEGMENT_VOCABULARY_MAX", 10)
    large = Searcher(searcher.index, searcher.embedder, searcher.lexicon, searcher.segmenter)
    monkeypatch.setattr(large.segmenter, "words_many", lambda texts: pytest.fail("segmented every clause"))
    analysis = large.analyze("妇连有哪些安全生产职责")
    assert [(c.wrong, c.right) for c in analysis.corrections] == [("妇连", "妇联")]
