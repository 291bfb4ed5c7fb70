"""Candidates for fusion: dense top-N and BM25 top-N clauses, with both scores for each.

The engine used to score every clause (a full FAISS scan, BM25 for all, a max over all units);
that is right for a few hundred clauses and wrong for a library. Here each retriever returns its
own top N, inside which the allowed-clause filter is already applied, and both scores are
computed exactly for the union only, so fusion (min–max, weights, boosts) runs over at most
``2 * N`` clauses. With ``N`` at least the number of clauses the scores are those of the full
scan, clause for clause.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from retriever.dense import DenseIndex
from retriever.lexical import LexicalIndex

__all__ = ["CandidateSource", "Candidates", "FaissCandidates", "Query", "clause_dense", "gather_candidates"]

NO_UNIT = -1.0
"""Dense score of a clause without units (as the full scan's initial value)."""

FLOOR_SAMPLE = 1024
"""Allowed clauses scored (evenly spaced) to estimate the dense minimum when candidates are partial."""


@dataclass(frozen=True)
class Candidates:
    """Candidate clause rows (ascending) and their scores, aligned.

    Attributes:
        rows: clause rows, int64, ascending, no repeats.
        dense: best cosine over each clause's units (float32).
        bm25: BM25 of each clause for the query tokens plus the weighted expansion (float32).
        complete: the rows are every allowed clause, so min–max over them is min–max over all.
        dense_floor / bm25_floor: the lowest score over every allowed clause, for min–max
            normalisation as over a full scan: exact when ``complete``; otherwise BM25's is 0
            (some allowed clause shares no token with the query) and the dense one is the
            minimum over an evenly spaced sample of allowed clauses (:data:`FLOOR_SAMPLE`).
    """

    rows: np.ndarray
    dense: np.ndarray
    bm25: np.ndarray
    complete: bool = False
    dense_floor: float | None = None
    bm25_floor: float | None = None

    def __len__(self) -> int:
        return int(self.rows.size)


@dataclass(frozen=True)
class Query:
    """What a candidate source needs of one question.

    Attributes:
        vector: the encoded query (``None``: no dense side, dense scores 0).
        tokens: BM25 query tokens (the engine's segmenter).
        text: the normalised question (a store with its own analyzer segments this).
        expansion: lexicon-expansion tokens, weighted by ``expansion_weight`` in BM25.
        expansion_weight: their weight relative to ``tokens``.
        documents: allowed document ids (empty: every document); a scalar filter for stores.
        departments: allowed departments (empty: any); a scalar filter for stores.
        allowed: boolean mask over clause rows equivalent to the two filters (``None``: all).
    """

    vector: np.ndarray | None
    tokens: tuple[str, ...]
    text: str = ""
    expansion: tuple[str, ...] = ()
    expansion_weight: float = 0.0
    documents: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    allowed: np.ndarray | None = field(default=None, compare=False)


@runtime_checkable
class CandidateSource(Protocol):
    """Dense top-N plus BM25 top-N clauses for a query, filters applied inside retrieval."""

    def gather(self, query: Query, n: int) -> Candidates:
        """The candidate union (rows are clause rows of the loaded index), with both scores."""
        ...


class FaissCandidates:
    """The default source: the index folder's FAISS vectors and bm25s arrays."""

    def __init__(self, dense: DenseIndex, lexical: LexicalIndex, unit_clause: np.ndarray) -> None:
        self.dense = dense
        self.lexical = lexical
        self.unit_clause = _checked_units(np.asarray(unit_clause, dtype=np.int64), dense.size)

    def gather(self, query: Query, n: int) -> Candidates:
        # The unit map was checked once above, not on every query (O(units) at corpus scale).
        return gather_candidates(self.dense, self.lexical, self.unit_clause, query.vector, query.tokens, n,
                                 units_checked=True,
                                 expansion=query.expansion, expansion_weight=query.expansion_weight,
                                 allowed=query.allowed)


def gather_candidates(dense: DenseIndex, lexical: LexicalIndex, unit_clause: np.ndarray,
                      query_vector: np.ndarray | None, tokens: Sequence[str], n: int, *,
                      expansion: Sequence[str] = (), expansion_weight: float = 0.0,
                      allowed: np.ndarray | None = None, units_checked: bool = False) -> Candidates:
    """The union of dense top-N and BM25 top-N clauses, with exact scores for each.

    Args:
        dense: the unit vector index.
        lexical: the clause BM25 index (one row per clause).
        unit_clause: clause row of each dense unit, non-decreasing (units are stored clause by
            clause, as ``store.clause_units`` writes them).
        query_vector: the encoded query; ``None`` for no dense side (BM25 only: dense scores 0).
        tokens: BM25 query tokens.
        n: candidates per retriever, counted in clauses.
        expansion: lexicon-expansion tokens, scored with ``expansion_weight``.
        expansion_weight: their weight relative to ``tokens``.
        allowed: optional boolean mask over clauses; clauses outside it are never candidates.
        units_checked: ``unit_clause`` was already checked (:class:`FaissCandidates` checks it
            once when built, not per query).

    Returns:
        :class:`Candidates`, rows ascending.

    Raises:
        ValueError: ``n`` below 1, a mask or unit array of the wrong shape, or unsorted units.
    """
    if n < 1:
        raise ValueError(f"gather_candidates needs n >= 1; got {n}.")
    clauses = lexical.size
    unit_clause = np.asarray(unit_clause, dtype=np.int64)
    if not units_checked:
        _checked_units(unit_clause, dense.size)
    if allowed is not None:
        allowed = np.asarray(allowed, dtype=np.bool_)
        if allowed.shape != (clauses,):
            raise ValueError(f"allowed mask has length {allowed.size}; the index has {clauses} clauses.")

    # BM25 is scored once for every clause (bm25s's sparse kernel); its top N and the union's
    # scores both come from that vector.
    weighted = lexical.weighted_scores(tokens, expansion, expansion_weight)
    found = [_top_positive(weighted, n, allowed)]
    if query_vector is not None and dense.size:
        # N clauses need about N * (units per clause) units.
        units_wanted = max(n, math.ceil(n * dense.size / max(clauses, 1)))
        allowed_units = None if allowed is None else allowed[unit_clause]
        ids, _ = dense.top(query_vector, units_wanted, allowed_units)
        found.append(unit_clause[ids])
    rows = np.unique(np.concatenate(found)).astype(np.int64)

    bm25 = weighted[rows].astype(np.float32)
    complete = rows.size == (clauses if allowed is None else int(allowed.sum()))
    bm25_floor = None if complete else 0.0
    if query_vector is None:
        return Candidates(rows=rows, dense=np.zeros(rows.size, dtype=np.float32), bm25=bm25, complete=complete,
                          bm25_floor=bm25_floor)
    scores = clause_dense(dense, unit_clause, query_vector, rows)
    dense_floor = None
    if not complete and scores.size:
        pool = np.arange(clauses, dtype=np.int64) if allowed is None else np.flatnonzero(allowed)
        sample = pool[np.linspace(0, pool.size - 1, min(FLOOR_SAMPLE, pool.size)).astype(np.int64)]
        dense_floor = float(min(scores.min(), clause_dense(dense, unit_clause, query_vector, sample).min()))
    return Candidates(rows=rows, dense=scores, bm25=bm25, complete=complete, dense_floor=dense_floor,
                      bm25_floor=bm25_floor)


def _checked_units(unit_clause: np.ndarray, units: int) -> np.ndarray:
    """``unit_clause`` after checking it maps each of ``units`` vectors to a clause, clause by clause.

    Raises:
        ValueError: the wrong length, or rows that go down (units not stored clause by clause).
    """
    if unit_clause.shape != (units,):
        raise ValueError(f"unit_clause has {unit_clause.size} entries; the dense index has {units} units.")
    if unit_clause.size and np.any(unit_clause[1:] < unit_clause[:-1]):
        raise ValueError("unit_clause must be non-decreasing (units stored clause by clause); rebuild the index.")
    return unit_clause


def _top_positive(scores: np.ndarray, n: int, allowed: np.ndarray | None) -> np.ndarray:
    """Rows of the ``n`` best positive scores among the allowed rows (any order)."""
    if allowed is not None:
        scores = np.where(allowed, scores, 0.0)
    positive = np.flatnonzero(scores > 0)
    if positive.size <= n:
        return positive.astype(np.int64)
    part = np.argpartition(-scores[positive], n - 1)[:n]
    return positive[part].astype(np.int64)


def clause_dense(dense: DenseIndex, unit_clause: np.ndarray, query_vector: np.ndarray,
                  rows: np.ndarray) -> np.ndarray:
    """Best cosine over each clause's units, every unit scored exactly."""
    out = np.full(rows.size, NO_UNIT, dtype=np.float32)
    starts = np.searchsorted(unit_clause, rows, side="left")
    stops = np.searchsorted(unit_clause, rows, side="right")
    counts = stops - starts
    has = counts > 0
    if not has.any():
        return out
    kept = counts[has]
    offsets = np.concatenate(([0], np.cumsum(kept)[:-1]))
    # Every unit of every row, vectorised: each row's start plus 0 … count-1.
    units = np.repeat(starts[has], kept) + (np.arange(int(kept.sum())) - np.repeat(offsets, kept))
    scores = dense.scores_at(query_vector, units)
    out[has] = np.maximum(np.maximum.reduceat(scores, offsets), NO_UNIT)
    return out
