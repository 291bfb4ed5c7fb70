"""BM25 index: full scores, native top-k with a weight mask, weighted expansion, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retriever.lexical import LexicalIndex

DOCS = [["消防", "安全"], ["安全", "生产", "监督"], ["建筑", "施工", "安全"], ["道路", "运输"],
        ["消防", "监督", "检查", "消防"]]


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex.build(DOCS)


def test_top_matches_the_full_scores(index: LexicalIndex) -> None:
    query = ["消防", "监督"]
    full = index.scores(query)
    rows, scores = index.top(query, 3)
    assert rows.tolist() == np.argsort(-full, kind="stable")[:3].tolist() == [4, 0, 1]
    np.testing.assert_array_equal(scores, full[rows])


def test_units_scoring_zero_are_not_candidates(index: LexicalIndex) -> None:
    rows, _ = index.top(["道路"], 5)
    assert rows.tolist() == [3]
    assert index.top(["不在词表"], 5)[0].size == 0
    assert index.top([], 5)[0].size == 0


def test_allowed_mask_is_applied_inside_retrieval(index: LexicalIndex) -> None:
    allowed = np.array([True, True, True, True, False])
    rows, scores = index.top(["消防", "监督"], 2, allowed)
    assert rows.tolist() == [0, 1]  # two allowed units, the best one (4) filtered out first
    np.testing.assert_array_equal(scores, index.scores(["消防", "监督"])[[0, 1]])


def test_expansion_is_weighted(index: LexicalIndex) -> None:
    weight = 0.3
    expected = index.scores(["消防"]) + np.float32(weight) * index.scores(["施工"])
    np.testing.assert_array_equal(index.weighted_scores(["消防"], ["施工"], weight), expected)
    rows, scores = index.top(["消防"], 5, expansion=["施工"], expansion_weight=weight)
    assert rows.tolist() == [4, 0, 2]
    np.testing.assert_array_equal(scores, expected[rows])
    allowed = np.array([False, True, True, True, True])
    assert index.top(["消防"], 5, allowed, expansion=["施工"], expansion_weight=weight)[0].tolist() == [4, 2]


def test_bad_input_is_explained(index: LexicalIndex) -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        index.top(["消防"], 0)
    with pytest.raises(ValueError, match="allowed mask has length 2; the BM25 index has 5"):
        index.top(["消防"], 2, np.array([True, False]))


def test_save_load_round_trip(tmp_path: Path, index: LexicalIndex) -> None:
    index.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    assert loaded.size == 5
    assert loaded.top(["消防", "监督"], 3)[0].tolist() == index.top(["消防", "监督"], 3)[0].tolist()


def test_bm25s_is_imported_without_numba_and_scipy_which_stay_importable() -> None:
    import subprocess
    import sys

    code = ("import os, sys, retriever.lexical as lx; assert lx.bm25s.BM25; "
            "print(*(name in sys.modules for name in ('numba', 'scipy', 'tqdm')), 'DISABLE_TQDM' in os.environ); "
            "import scipy.sparse, tqdm; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "False", "False", "ok"]
