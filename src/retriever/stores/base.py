"""The ``Store`` protocol: what a clause store must do, whatever runs it.

A store holds one record per clause (its vector, its BM25 text and the scalar fields that
filters use) and answers top-k queries with the filters applied inside retrieval. The FAISS +
bm25s index folder is the default store; :mod:`retriever.stores.milvus` is the one for when a
single machine is not enough.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["STORE_ENV", "Filters", "Scored", "Store", "StoreRecord", "store_uri"]

STORE_ENV = "RETRIEVER_STORE"
"""Environment variable naming the store when ``--store`` is not given."""


@dataclass(frozen=True)
class StoreRecord:
    """One clause as a store keeps it.

    Attributes:
        key: stable integer key (the caller's clause row or another id it can map back).
        clause: the clause id (``<doc>#18.7``).
        document: the document id.
        departments: departments the clause names (filterable).
        region: the document's region (``""`` for national texts).
        text: the clause's lexical text (the store's own analyzer may segment it).
        vector: the clause vector, L2-normalised float32.
        terms: the engine's BM25 tokens of ``text``, for a store that scores those instead.
    """

    key: int
    clause: str
    document: str
    text: str
    vector: np.ndarray
    departments: tuple[str, ...] = ()
    region: str = ""
    terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Filters:
    """Scalar filters applied inside retrieval; an empty tuple means no filter on that field."""

    documents: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.documents or self.departments or self.regions)


@dataclass(frozen=True)
class Scored:
    """Keys and scores, best first (higher is better)."""

    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))

    def __len__(self) -> int:
        return int(self.keys.size)


@runtime_checkable
class Store(Protocol):
    """A clause store: add, remove a document, top-k dense / lexical with filters, save."""

    @property
    def size(self) -> int:
        """Records stored."""
        ...

    def add(self, records: Sequence[StoreRecord]) -> None:
        """Insert records (a key already stored is replaced)."""
        ...

    def remove_document(self, document: str) -> int:
        """Delete every record of ``document``; returns how many were deleted."""
        ...

    def top_dense(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> Scored:
        """The ``k`` records most similar to ``vector`` (cosine), filters applied inside retrieval."""
        ...

    def top_lexical(self, text: str, k: int, filters: Filters | None = None) -> Scored:
        """The ``k`` best BM25 records for ``text``, filters applied inside retrieval."""
        ...

    def save(self) -> None:
        """Make everything added so far durable."""
        ...


def store_uri(option: str | None) -> str | None:
    """The store URI from ``--store``, else ``$RETRIEVER_STORE``, else ``None`` (the FAISS default)."""
    value = option or os.environ.get(STORE_ENV, "")
    return value.strip() or None
