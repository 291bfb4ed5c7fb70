"""Dense index: exact flat below the threshold, HNSW above it, top-N with filters, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retriever import dense as dense_module
from retriever.dense import APPROXIMATE_THRESHOLD, DenseIndex, HNSWSettings, IVFSettings


def unit_vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return unit_vectors(2000)


def exact_top(vectors: np.ndarray, query: np.ndarray, n: int, allowed: np.ndarray | None = None) -> np.ndarray:
    scores = vectors @ query
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    return np.argsort(-scores, kind="stable")[:n]


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_top_is_the_exact_top_on_a_small_set(vectors: np.ndarray, kind: str) -> None:
    index = DenseIndex.build(vectors, kind=kind)
    query = unit_vectors(1, seed=5)[0]
    ids, scores = index.top(query, 10)
    assert ids.tolist() == exact_top(vectors, query, 10).tolist()
    np.testing.assert_allclose(scores, vectors[ids] @ query, rtol=1e-5)
    assert list(scores) == sorted(scores, reverse=True)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
@pytest.mark.parametrize("exact_subset", [0, 10_000])
def test_allowed_mask_is_applied_inside_retrieval(vectors: np.ndarray, kind: str, exact_subset: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # exact_subset 0 forces the FAISS ID-selector path; 10,000 the exact scan of the allowed set.
    monkeypatch.setattr(dense_module, "EXACT_SUBSET", exact_subset)
    index = DenseIndex.build(vectors, kind=kind)
    query = unit_vectors(1, seed=6)[0]
    allowed = np.zeros(len(vectors), dtype=bool)
    allowed[1::3] = True
    ids, _ = index.top(query, 10, allowed)
    assert len(ids) == 10  # ten allowed vectors, not ten minus the filtered ones
    assert allowed[ids].all()
    assert ids.tolist() == exact_top(vectors, query, 10, allowed).tolist()
    id_list = np.flatnonzero(allowed)
    assert index.top(query, 10, id_list)[0].tolist() == ids.tolist()


def test_fewer_allowed_than_asked(vectors: np.ndarray) -> None:
    index = DenseIndex.build(vectors)
    ids, scores = index.top(vectors[0], 10, np.array([7, 3, 3]))
    assert sorted(ids.tolist()) == [3, 7] and len(scores) == 2


def test_scores_and_scores_at_agree(vectors: np.ndarray) -> None:
    for kind in ("flat", "hnsw", "ivf"):
        index = DenseIndex.build(vectors, kind=kind)  # type: ignore[arg-type]
        query = unit_vectors(1, seed=7)[0]
        full = index.scores(query)
        ids = np.array([5, 1999, 0, 5, 42])
        np.testing.assert_allclose(index.scores_at(query, ids), full[ids], rtol=0, atol=1e-6)
        np.testing.assert_allclose(full, vectors @ query, rtol=1e-5, atol=1e-6)
        if kind != "ivf":
            # Every vector (a complete candidate set): FAISS's kernel, bit-for-bit the full scan.
            everything = np.arange(index.size)
            np.testing.assert_array_equal(index.scores_at(query, everything), full)


def test_auto_kind_follows_the_threshold(monkeypatch: pytest.MonkeyPatch, vectors: np.ndarray) -> None:
    assert DenseIndex.build(vectors).kind == "flat"
    assert len(vectors) < APPROXIMATE_THRESHOLD
    monkeypatch.setattr(dense_module, "APPROXIMATE_THRESHOLD", 1000)
    approximate = DenseIndex.build(vectors)
    assert approximate.kind == "hnsw"
    assert approximate.describe() == {"kind": "hnsw", "metric": "inner_product", "size": 2000, "dimension": 16,
                                      "hnsw": {"m": 32, "ef_construction": 64, "ef_search": 96}}


def test_hnsw_recall_against_exact() -> None:
    vectors = unit_vectors(5000, d=32, seed=1)
    index = DenseIndex.build(vectors, kind="hnsw", hnsw=HNSWSettings(m=16, ef_construction=40, ef_search=64))
    queries = unit_vectors(50, d=32, seed=2)
    found = [set(index.top(q, 10)[0].tolist()) for q in queries]
    exact = [set(exact_top(vectors, q, 10).tolist()) for q in queries]
    recall = np.mean([len(f & e) / 10 for f, e in zip(found, exact, strict=True)])
    assert recall >= 0.9


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_save_load_keeps_kind_and_parameters(tmp_path: Path, vectors: np.ndarray, kind: str) -> None:
    index = DenseIndex.build(vectors, kind=kind)
    index.save(tmp_path / "dense.faiss")
    loaded = DenseIndex.load(tmp_path / "dense.faiss")
    assert loaded.describe() == index.describe()
    query = vectors[3]
    assert loaded.top(query, 5)[0].tolist() == index.top(query, 5)[0].tolist()


def test_bad_input_is_explained(vectors: np.ndarray) -> None:
    index = DenseIndex.build(vectors)
    with pytest.raises(ValueError, match="n >= 1"):
        index.top(vectors[0], 0)
    with pytest.raises(ValueError, match="allowed mask has length 3; the index has 2000"):
        index.top(vectors[0], 5, np.array([True, False, True]))
    with pytest.raises(ValueError, match="dimension 3; the index has 16"):
        index.top(np.ones(3, dtype=np.float32), 5)
    with pytest.raises(ValueError, match="unknown dense index kind"):
        DenseIndex.build(vectors, kind="ivfpq")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(n, d\) array"):
        DenseIndex.build(np.ones(4, dtype=np.float32))


def test_ivf_flat_top_filters_recall_and_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = unit_vectors(3000, d=32, seed=3)
    # every list probed: the approximate index must give the exact answer
    index = DenseIndex.build(vectors, kind="ivf", ivf=IVFSettings(lists=16, nprobe=16))
    assert index.kind == "ivf"
    assert index.describe()["ivf"] == {"lists": 16, "nprobe": 16}
    queries = unit_vectors(30, d=32, seed=4)
    assert all(index.top(q, 10)[0].tolist() == exact_top(vectors, q, 10).tolist() for q in queries)
    np.testing.assert_allclose(index.scores(queries[0]), vectors @ queries[0], rtol=1e-5, atol=1e-6)
    allowed = np.zeros(len(vectors), dtype=bool)
    allowed[::2] = True
    ids, _ = index.top(queries[0], 10, allowed)
    assert allowed[ids].all()
    monkeypatch.setattr(dense_module, "EXACT_SUBSET", 0)  # the FAISS selector path
    assert index.top(queries[0], 10, allowed)[0].tolist() == ids.tolist()
    index.save(tmp_path / "dense.faiss")
    loaded = DenseIndex.load(tmp_path / "dense.faiss")
    assert loaded.describe() == index.describe()
    assert loaded.top(queries[1], 5)[0].tolist() == index.top(queries[1], 5)[0].tolist()
    ids = np.array([4, 2])
    np.testing.assert_array_equal(loaded.scores_at(queries[1], ids), index.scores_at(queries[1], ids))
