"""Candidates for fusion from a Milvus store: dense top-N and Milvus's BM25 top-N, per query.

:class:`MilvusCandidates` implements :class:`retriever.candidates.CandidateSource` over a
:class:`~retriever.stores.milvus.MilvusStore` whose keys are the clause rows of the loaded
index (``clauses.jsonl`` order; :func:`retriever.stores.select.fill_store` writes it so).

Per query it makes two or three round trips to Milvus: a dense search and a BM25 search with
the document / department filters inside retrieval, plus a second BM25 search for the lexicon
expansion (Milvus has no per-token query weights, so ``bm25 = bm25(text) + w * bm25(expansion)``
as the FAISS source computes it). Each round trip costs milliseconds on milvus-lite (gRPC to an
embedded server) and a network hop on a cluster; see ``docs/notes/milvus.md``.

Scores of the union, as the protocol asks:

* **dense**: ``"local"`` (default) scores every union clause exactly from the index folder's
  unit vectors (best cosine over the clause and its sentences, what the FAISS source gives);
  ``"store"`` uses Milvus's scores and fetches the stored clause vectors of the rows only BM25
  found (one vector per clause: no sentence units, so a multi-sentence clause scores lower).
  When the union is not every allowed clause, the dense floor for min–max is the minimum over
  an evenly spaced sample of allowed clauses (``"local"``, as the FAISS source does) or over
  the union (``"store"``: sampling would fetch a thousand vectors a query).
* **bm25**: Milvus's own BM25, over the engine's tokens in a ``"terms"`` collection (what
  ``retriever build --store`` writes) or Milvus's jieba analyzer in a ``"jieba"`` one; a union
  row outside a BM25 list scores 0 there (the floor is then 0, as for the FAISS source).
  milvus-lite reports BM25 negated; :meth:`MilvusStore.top_lexical` turns it back. Milvus
  scales BM25 by ``k1 + 1`` against bm25s and normalises document length a little
  differently (scores agree to within a few per cent after the scale); min–max removes the scale.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from retriever.candidates import FLOOR_SAMPLE, NO_UNIT, Candidates, Query
from retriever.dense import DenseIndex
from retriever.stores.base import Filters
from retriever.stores.milvus import MilvusStore

__all__ = ["MILVUS_LIMIT", "DenseScores", "MilvusCandidates"]

DenseScores = Literal["local", "store"]

MILVUS_LIMIT = 16_384
"""The most results one Milvus search returns (its ``topk`` limit)."""


class MilvusCandidates:
    """Dense and BM25 candidates from Milvus, keyed by clause row.

    Args:
        store: the opened collection (keys are clause rows).
        clauses: how many clauses the loaded index holds (rows are ``0 .. clauses - 1``).
        dense: the index folder's unit vectors, for ``dense_scores="local"``.
        unit_clause: clause row of each dense unit, non-decreasing (``StoredIndex.unit_clause``).
        dense_scores: ``"local"`` (exact, from ``dense``) or ``"store"`` (Milvus's clause vectors).

    Raises:
        ValueError: ``"local"`` without ``dense`` / ``unit_clause``, or mismatched sizes.
    """

    def __init__(self, store: MilvusStore, clauses: int, *, dense: DenseIndex | None = None,
                 unit_clause: np.ndarray | None = None, dense_scores: DenseScores = "local") -> None:
        if dense_scores == "local":
            if dense is None or unit_clause is None:
                raise ValueError("dense_scores='local' needs the index's dense units and unit_clause.")
            unit_clause = np.asarray(unit_clause, dtype=np.int64)
            if unit_clause.shape != (dense.size,):
                raise ValueError(f"unit_clause has {unit_clause.size} entries; the dense index has "
                                 f"{dense.size} units.")
        elif dense_scores != "store":
            raise ValueError(f"dense_scores must be 'local' or 'store', not {dense_scores!r}.")
        self.store = store
        self.clauses = clauses
        self.dense_scores: DenseScores = dense_scores
        self._units = (dense, unit_clause) if dense is not None and unit_clause is not None else None

    def gather(self, query: Query, n: int) -> Candidates:
        """The union of Milvus's dense top-N and BM25 top-N clauses, with both scores.

        Raises:
            ValueError: ``n`` below 1 or an ``allowed`` mask of the wrong length.
        """
        if n < 1:
            raise ValueError(f"gather needs n >= 1; got {n}.")
        allowed = None
        if query.allowed is not None:
            allowed = np.asarray(query.allowed, dtype=np.bool_)
            if allowed.shape != (self.clauses,):
                raise ValueError(f"allowed mask has length {allowed.size}; the index has {self.clauses} clauses.")
        limit = min(n, self.clauses, MILVUS_LIMIT)
        filters = Filters(documents=query.documents, departments=query.departments)

        lexical = self._bm25(query, limit, filters)
        dense_rows = np.zeros(0, dtype=np.int64)
        dense_found = np.zeros(0, dtype=np.float32)
        if query.vector is not None:
            hits = self.store.top_dense(query.vector, limit, filters)
            dense_rows, dense_found = hits.keys, hits.scores
        rows = np.unique(np.concatenate([dense_rows, np.fromiter(lexical, dtype=np.int64, count=len(lexical))]))
        rows = rows[(rows >= 0) & (rows < self.clauses)]
        if allowed is not None:
            rows = rows[allowed[rows]]
        bm25 = np.fromiter((lexical.get(int(r), 0.0) for r in rows), dtype=np.float32, count=rows.size)
        complete = rows.size == (self.clauses if allowed is None else int(allowed.sum()))
        bm25_floor = None if complete else 0.0
        dense_floor = None
        if query.vector is None:
            dense = np.zeros(rows.size, dtype=np.float32)
        elif self.dense_scores == "local":
            dense = self._local_dense(query.vector, rows)
            if not complete and dense.size:
                dense_floor = float(min(dense.min(), self._local_dense(query.vector, _sample(allowed, self.clauses))
                                        .min()))
        else:
            dense = self._store_dense(query.vector, rows, dense_rows, dense_found)
        return Candidates(rows=rows.astype(np.int64), dense=dense, bm25=bm25, complete=complete,
                          dense_floor=dense_floor, bm25_floor=bm25_floor)

    def _bm25(self, query: Query, limit: int, filters: Filters) -> dict[int, float]:
        """Row → BM25(text) + weight × BM25(expansion), the best ``limit`` rows of that sum."""
        if not query.tokens:  # no lexical side (the dense mode)
            return {}
        terms = self.store.lexical == "terms"
        if terms:
            found = self.store.top_terms(query.tokens, limit, filters)
        else:
            found = self.store.top_lexical(query.text.strip() or " ".join(query.tokens), limit, filters)
        scores = {int(k): float(s) for k, s in zip(found.keys, found.scores, strict=True)}
        expansion = tuple(t for t in query.expansion if t.strip())
        if query.expansion_weight and expansion:
            extra = (self.store.top_terms(expansion, limit, filters) if terms
                     else self.store.top_lexical(" ".join(expansion), limit, filters))
            for key, score in zip(extra.keys, extra.scores, strict=True):
                scores[int(key)] = scores.get(int(key), 0.0) + query.expansion_weight * float(score)
            if len(scores) > limit:
                best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
                scores = dict(best)
        return {k: s for k, s in scores.items() if s > 0}

    def _local_dense(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Best cosine over each clause's units, scored exactly from the index folder's vectors."""
        out = np.full(rows.size, NO_UNIT, dtype=np.float32)
        if self._units is None:  # not reached: __init__ requires the units for "local"
            return out
        dense, unit_clause = self._units
        starts = np.searchsorted(unit_clause, rows, side="left")
        stops = np.searchsorted(unit_clause, rows, side="right")
        has = stops > starts
        if not has.any():
            return out
        units = np.concatenate([np.arange(a, b) for a, b in zip(starts[has], stops[has], strict=True)])
        scores = dense.scores_at(vector, units)
        offsets = np.concatenate(([0], np.cumsum((stops - starts)[has])[:-1]))
        out[has] = np.maximum(np.maximum.reduceat(scores, offsets), NO_UNIT)
        return out

    def _store_dense(self, vector: np.ndarray, rows: np.ndarray, dense_rows: np.ndarray,
                     dense_found: np.ndarray) -> np.ndarray:
        """Milvus's cosine for the dense hits; the stored clause vectors fetched for the rest."""
        known = {int(r): float(s) for r, s in zip(dense_rows, dense_found, strict=True)}
        missing = [int(r) for r in rows if int(r) not in known]
        if missing:
            query = np.asarray(vector, dtype=np.float32).reshape(-1)
            fetched = self.store.vectors(missing) @ query
            known.update(zip(missing, (float(s) for s in fetched), strict=True))
        return np.fromiter((known[int(r)] for r in rows), dtype=np.float32, count=rows.size)


def _sample(allowed: np.ndarray | None, clauses: int) -> np.ndarray:
    """Evenly spaced allowed rows (at most :data:`FLOOR_SAMPLE`), as the FAISS source samples the dense floor."""
    pool = np.arange(clauses, dtype=np.int64) if allowed is None else np.flatnonzero(allowed)
    if not pool.size:
        return pool
    return pool[np.linspace(0, pool.size - 1, min(FLOOR_SAMPLE, pool.size)).astype(np.int64)]
