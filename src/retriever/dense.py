"""FAISS inner-product search over normalised vectors (cosine similarity).

Below :data:`APPROXIMATE_THRESHOLD` vectors the index is exact (``IndexFlatIP``); above it,
``kind="auto"`` builds an HNSW graph over the same flat vectors (``IndexHNSWFlat``), so stored
vectors stay exact and only the search is approximate. ``kind="ivf"`` builds IVF-Flat, which
builds about ten times faster on this machine. Measured in ``benchmarks/bench_scale.py`` (see
``docs/notes/scale.md``): HNSW recall@10 1.000 at 100,000 synthetic vectors, IVF-Flat 0.992 at
nprobe 16 over 1,000,000; IVF-PQ was dropped (recall far below 0.98 without re-ranking, and
1.5 GB of float32 vectors fits this machine).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

Kind = Literal["auto", "flat", "hnsw", "ivf"]

APPROXIMATE_THRESHOLD = 50_000
"""Vectors from which ``kind="auto"`` builds HNSW instead of an exact flat index.

Below it an exact scan of 384-d vectors takes a few milliseconds on this machine; above it the
scan grows linearly while HNSW stays near-constant.
"""

EXACT_SUBSET = 20_000
"""Allowed sets up to this many vectors are scored exactly (filtered graph search loses recall)."""


@dataclass(frozen=True)
class HNSWSettings:
    """HNSW parameters (FAISS names).

    Attributes:
        m: neighbours per node (memory grows by about ``2 * m * 4`` bytes a vector).
        ef_construction: candidate list while building (build time against graph quality).
        ef_search: candidate list while searching (latency against recall); raised to k when
            more results are asked for.
    """

    m: int = 32
    ef_construction: int = 64
    ef_search: int = 96


@dataclass(frozen=True)
class IVFSettings:
    """IVF-Flat parameters: k-means lists over exact vectors (``kind="ivf"``).

    Attributes:
        lists: inverted lists; ``0`` for about ``4 * sqrt(n)`` (at most 65,536).
        nprobe: lists scanned a query (latency against recall).
        iterations: k-means iterations while training.
    """

    lists: int = 0
    nprobe: int = 16
    iterations: int = 10


class DenseIndex:
    """FAISS over unit vectors: exact below the threshold, HNSW above it."""

    def __init__(self, index: faiss.Index) -> None:
        self._index = index

    @classmethod
    def build(cls, vectors: np.ndarray, *, kind: Kind = "auto",
              hnsw: HNSWSettings | None = None, ivf: IVFSettings | None = None) -> DenseIndex:
        """Index (n, d) L2-normalised float32 vectors.

        Args:
            vectors: one row per unit, in unit order.
            kind: ``flat`` (exact), ``hnsw`` or ``ivf`` (approximate), or ``auto``: HNSW from
                :data:`APPROXIMATE_THRESHOLD` vectors.
            hnsw: HNSW parameters; defaults to :class:`HNSWSettings`.
            ivf: IVF-Flat parameters; defaults to :class:`IVFSettings`.

        Raises:
            ValueError: the vectors are not a non-empty 2-d array, or the kind is unknown.
        """
        # A disk-backed matrix (np.memmap) is added in slices, never copied whole into memory.
        matrix = vectors if isinstance(vectors, np.memmap) else np.ascontiguousarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] == 0:
            raise ValueError(f"DenseIndex.build needs an (n, d) array of vectors; got shape {matrix.shape}.")
        if kind not in ("auto", "flat", "hnsw", "ivf"):
            raise ValueError(f"unknown dense index kind {kind!r}: use 'auto', 'flat', 'hnsw' or 'ivf'.")
        if kind == "auto":
            kind = "hnsw" if len(matrix) >= APPROXIMATE_THRESHOLD else "flat"
        index: faiss.Index
        if kind == "flat":
            index = faiss.IndexFlatIP(matrix.shape[1])
        elif kind == "ivf":
            return cls(_build_ivf(matrix, ivf or IVFSettings()))
        else:
            settings = hnsw or HNSWSettings()
            index = faiss.IndexHNSWFlat(matrix.shape[1], settings.m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = settings.ef_construction
            index.hnsw.efSearch = settings.ef_search
        _add(index, matrix)
        return cls(index)

    @property
    def size(self) -> int:
        """Vectors indexed."""
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        return int(self._index.d)

    @property
    def kind(self) -> Literal["flat", "hnsw", "ivf"]:
        """``flat`` (exact), ``hnsw`` or ``ivf`` (approximate)."""
        if isinstance(self._index, faiss.IndexHNSW):
            return "hnsw"
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "flat"

    def describe(self) -> dict[str, Any]:
        """The kind and parameters, for the manifest (JSON-ready)."""
        out: dict[str, Any] = {"kind": self.kind, "metric": "inner_product",
                               "size": self.size, "dimension": self.dimension}
        if isinstance(self._index, faiss.IndexHNSW):
            graph = self._index.hnsw
            # level 1 keeps M neighbours a node (level 0 keeps 2M).
            out["hnsw"] = asdict(HNSWSettings(m=int(graph.nb_neighbors(1)),  # type: ignore[attr-defined]
                                              ef_construction=int(graph.efConstruction),
                                              ef_search=int(graph.efSearch)))
        if isinstance(self._index, faiss.IndexIVF):
            out["ivf"] = {"lists": int(self._index.nlist), "nprobe": int(self._index.nprobe)}
        return out

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Exact cosine similarity of one query vector to every indexed vector, in index order."""
        if isinstance(self._index, faiss.IndexIVF):
            return self.scores_at(query, np.arange(self.size, dtype=np.int64))
        similarities, ids = self._flat().search(_query(query, self.dimension), self.size)
        out = np.empty(self.size, dtype=np.float32)
        out[ids[0]] = similarities[0]
        return out

    def scores_at(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact cosine similarity of one query vector to the vectors ``ids`` (in that order).

        A few ids (the candidates of a query) are gathered from storage and multiplied, in
        time proportional to their number; for a quarter of the index or more, FAISS's own
        flat kernel scores them, bit-for-bit the numbers of :meth:`scores` (the two agree
        within float32 rounding, 1e-6).
        """
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return np.zeros(0, dtype=np.float32)
        vector = _query(query, self.dimension)[0]
        if isinstance(self._index, faiss.IndexIVF) or 4 * ids.size < self.size:
            # IVF-Flat keeps exact vectors in its lists (the direct map finds them by id); flat
            # and HNSW storage reconstruct by id. einsum, not BLAS: a threaded BLAS call costs
            # more than the product here on a busy machine.
            vectors = self._flat().reconstruct_batch(ids)
            return np.asarray(np.einsum("ij,j->i", vectors, vector), dtype=np.float32)
        unique = np.unique(ids)
        selector = faiss.IDSelectorBatch(unique)
        params = faiss.SearchParameters()
        params.sel = selector
        similarities, found = self._flat().search(_query(query, self.dimension), unique.size, params=params)
        keep = found[0] >= 0
        by_id = np.empty(unique.size, dtype=np.float32)
        by_id[np.searchsorted(unique, found[0][keep])] = similarities[0][keep]
        return by_id[np.searchsorted(unique, ids)]

    def _flat(self) -> faiss.Index:
        if isinstance(self._index, faiss.IndexHNSW):
            return faiss.downcast_index(self._index.storage)
        return self._index

    def top(self, query: np.ndarray, n: int,
            allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` most similar vectors to one query, best first.

        Args:
            query: one query vector (d,).
            n: how many; fewer come back when fewer vectors are allowed.
            allowed: optional boolean mask over the vectors (length :attr:`size`) or an array
                of allowed vector ids; applied inside retrieval (a FAISS ID selector), so ``n``
                results come back from the allowed set, not ``n`` minus the filtered ones.

        Returns:
            ``(ids, scores)``: int64 vector ids and float32 cosine similarities, best first.

        Raises:
            ValueError: ``n`` is below 1 or the mask has the wrong length.
        """
        if n < 1:
            raise ValueError(f"top needs n >= 1; got {n}.")
        vector = _query(query, self.dimension)
        mask = None if allowed is None else _allowed_mask(allowed, self.size)
        count = self.size if mask is None else int(np.count_nonzero(mask))
        if mask is not None and (count <= EXACT_SUBSET or count <= n):
            # Small allowed sets: an exact scan of just those vectors beats a filtered graph walk
            # (which also loses recall when most of the graph is filtered out).
            ids = np.flatnonzero(mask).astype(np.int64)
            similarities = self.scores_at(query, ids)
            order = _top_order(similarities, n)
            return ids[order], similarities[order]
        k = min(n, count)
        # A bitmap selector: built in O(n / 8) and tested in O(1), where a batch selector would
        # hash every allowed id on every query.
        bits = None if mask is None else np.packbits(mask, bitorder="little")
        selector = None if bits is None else faiss.IDSelectorBitmap(self.size, faiss.swig_ptr(bits))
        params = self._parameters(k, selector)  # keeps ``selector`` (and ``bits``) alive through the search
        similarities, found = self._index.search(vector, k, params=params)
        keep = found[0] >= 0
        return found[0][keep].astype(np.int64), similarities[0][keep].astype(np.float32)

    def _parameters(self, k: int, selector: faiss.IDSelector | None) -> faiss.SearchParameters | None:
        if isinstance(self._index, faiss.IndexHNSW):
            params: faiss.SearchParameters = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            params.efSearch = max(int(self._index.hnsw.efSearch), k)  # type: ignore[attr-defined]
        elif isinstance(self._index, faiss.IndexIVF):
            params = faiss.SearchParametersIVF()
            params.nprobe = int(self._index.nprobe)
        elif selector is None:
            return None
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        return params

    def save(self, path: Path) -> None:
        """Write the FAISS native file (kind and HNSW parameters included)."""
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        """Read a FAISS native file."""
        return cls(faiss.read_index(str(path)))


_ADD_SLICE = 65_536


def _add(index: faiss.Index, matrix: np.ndarray) -> None:
    """Add vectors in slices (a memmap stays on disk; FAISS holds the only full copy)."""
    for start in range(0, len(matrix), _ADD_SLICE):
        index.add(np.ascontiguousarray(matrix[start:start + _ADD_SLICE], dtype=np.float32))


def _build_ivf(matrix: np.ndarray, settings: IVFSettings) -> faiss.Index:
    n, dimension = matrix.shape
    lists = settings.lists or int(min(65_536, max(1, 4 * np.sqrt(n))))
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = settings.iterations
    # 30 points a list is enough for k-means here (FAISS asks 39 and warns; measured recall holds).
    sample = min(n, 30 * lists)
    rows = np.random.default_rng(0).choice(n, size=sample, replace=False) if sample < n else np.arange(n)
    index.train(np.ascontiguousarray(matrix[np.sort(rows)], dtype=np.float32))
    _add(index, matrix)
    index.nprobe = min(settings.nprobe, lists)
    index.make_direct_map()
    return index


def _query(query: np.ndarray, dimension: int) -> np.ndarray:
    vector = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
    if vector.shape[1] != dimension:
        raise ValueError(f"query vector has dimension {vector.shape[1]}; the index has {dimension}.")
    return vector


def _allowed_mask(allowed: np.ndarray, size: int) -> np.ndarray:
    """A boolean mask over the vectors from a mask or an array of allowed ids."""
    allowed = np.asarray(allowed)
    if allowed.dtype == np.bool_:
        if allowed.shape != (size,):
            raise ValueError(f"allowed mask has length {allowed.size}; the index has {size} vectors.")
        return allowed
    ids = allowed.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= size):
        raise ValueError(f"allowed ids must be from 0 to {size - 1}.")
    mask = np.zeros(size, dtype=bool)
    mask[ids] = True
    return mask


def _top_order(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` highest scores, best first (ties by position)."""
    if scores.size > n:
        part = np.argpartition(-scores, n - 1)[:n]
        return part[np.lexsort((part, -scores[part]))]
    return np.lexsort((np.arange(scores.size), -scores))
