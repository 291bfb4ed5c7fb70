"""Choosing the store by URI: fill it at build time, open it as a candidate source at load time.

Two hooks, for :func:`retriever.store.build_index` and :mod:`retriever.search`:

* :func:`fill_store` writes the clauses of a build into the store named by a URI and returns
  the manifest's ``"store"`` entry (``{"kind": "milvus", "uri", "collection", "count", ...}``);
* :func:`candidate_source` reads that entry (or a URI given at load time, ``--store`` /
  ``$RETRIEVER_STORE``) and returns the :class:`~retriever.candidates.CandidateSource` the
  searcher gathers candidates from: :class:`~retriever.candidates.FaissCandidates` when the
  index names no store and no URI is given (the default, unchanged), else
  :class:`~retriever.stores.milvus_candidates.MilvusCandidates`.

A URI is a milvus-lite file (``index/clauses.db``), ``milvus://host:19530`` or ``https://…``
(see :mod:`retriever.stores.milvus`); the same build can be served from another URI holding
the same collection (a cluster filled by ``retriever build --store milvus://…``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from retriever.candidates import CandidateSource, FaissCandidates
from retriever.errors import IndexStateError
from retriever.records import Clause, Document
from retriever.store import StoredIndex, lexical_text
from retriever.stores.base import StoreRecord
from retriever.stores.milvus import Lexical

__all__ = ["STORE_KIND", "candidate_source", "clause_records", "collection_name", "fill_store",
           "normalize_uri", "whole_clause_units"]

STORE_KIND = "milvus"
"""The only store kind besides the default FAISS folder."""


def normalize_uri(uri: str) -> str:
    """A URI as the manifest records it: a milvus-lite file made absolute, a server URI as given."""
    uri = uri.strip()
    scheme = urlparse(uri).scheme
    if scheme in ("milvus", "http", "https"):
        return uri
    path = uri.split(":", 1)[1] if scheme == "milvus-lite" else uri
    return str(Path(path).expanduser().resolve())


def collection_name(clauses: Sequence[Clause], model_id: str, lexical: str = "terms") -> str:
    """``clauses_<16 hex>``: a digest of the clause ids, texts and departments, the model and the BM25 input.

    The same build content gives the same name, so a rebuild of unchanged seeds reuses the
    collection and a changed build never overwrites the one an older index still reads.
    """
    digest = hashlib.sha256(f"{model_id}\0{lexical}".encode())
    for clause in clauses:
        digest.update(f"\0{clause.document}#{clause.id}\0{lexical_text(clause)}\0{'|'.join(clause.departments)}"
                      .encode())
    return f"clauses_{digest.hexdigest()[:16]}"


def whole_clause_units(unit_clause: np.ndarray, clauses: int) -> np.ndarray:
    """The unit row of each clause's whole-clause unit: its first unit (``store.clause_units`` order).

    Raises:
        ValueError: units are not stored clause by clause, or a clause has no unit.
    """
    unit_clause = np.asarray(unit_clause, dtype=np.int64)
    if unit_clause.size and np.any(unit_clause[1:] < unit_clause[:-1]):
        raise ValueError("unit_clause must be non-decreasing (units stored clause by clause).")
    first = np.searchsorted(unit_clause, np.arange(clauses), side="left")
    if clauses and (first.max() >= unit_clause.size or np.any(unit_clause[first] != np.arange(clauses))):
        raise ValueError("every clause needs a dense unit; rebuild the index.")
    return first.astype(np.int64)


def clause_records(clauses: Sequence[Clause], documents: Sequence[Document], vectors: np.ndarray,
                   unit_clause: np.ndarray, tokens: Sequence[Sequence[str]] | None = None) -> list[StoreRecord]:
    """One store record per clause, keyed by its row: whole-clause vector, BM25 text, scalars.

    Args:
        clauses: the build's clauses, in ``clauses.jsonl`` order (the key is the row).
        documents: their documents (for the region field).
        vectors: the unit vectors of the build, one row per unit.
        unit_clause: clause row of each unit.
        tokens: the engine's BM25 tokens of each clause's lexical text (for a ``"terms"`` store).
    """
    if tokens is not None and len(tokens) != len(clauses):
        raise ValueError(f"{len(tokens)} token lists for {len(clauses)} clauses.")
    regions = {d.id: d.region or "" for d in documents}
    first = whole_clause_units(unit_clause, len(clauses))
    if vectors.shape[0] != len(unit_clause):
        raise ValueError(f"{vectors.shape[0]} vectors for {len(unit_clause)} units.")
    return [StoreRecord(key=row, clause=f"{clause.document}#{clause.id}", document=clause.document,
                        text=lexical_text(clause), vector=vectors[first[row]],
                        departments=tuple(dict.fromkeys((*clause.departments,
                                                         *((clause.department,) if clause.department else ())))),
                        region=regions.get(clause.document, ""),
                        terms=tuple(tokens[row]) if tokens is not None else ())
            for row, clause in enumerate(clauses)]


def fill_store(uri: str, clauses: Sequence[Clause], documents: Sequence[Document], vectors: np.ndarray,
               unit_clause: np.ndarray, *, model_id: str, tokens: Sequence[Sequence[str]] | None = None,
               collection: str | None = None) -> dict[str, Any]:
    """Write a build's clauses into the Milvus store at ``uri``; returns the manifest's ``"store"`` entry.

    A collection that already holds exactly this build (same name, same count) is kept as it
    is; one with another count (an interrupted fill) is dropped and filled again.

    Args:
        uri: a milvus-lite file, ``milvus://host:19530`` or ``https://…``.
        clauses: the build's clauses in row order.
        documents: the build's documents.
        vectors: the build's unit vectors (the same embedding pass as the FAISS index).
        unit_clause: clause row of each unit.
        model_id: the embedding model (part of the default collection name).
        tokens: the engine's BM25 tokens of each clause (what the bm25s index holds): Milvus's
            BM25 then scores those (``"terms"``, the default of ``build_index``); ``None``: it
            segments the text with its own jieba analyzer (``"jieba"``).
        collection: collection name (default :func:`collection_name`).

    Raises:
        IndexStateError: the store cannot be opened or written.
    """
    from retriever.stores.milvus import MilvusStore

    lexical: Lexical = "terms" if tokens is not None else "jieba"
    name = collection or collection_name(clauses, model_id, lexical)
    dimension = int(vectors.shape[1])
    recorded = normalize_uri(uri)
    try:
        store = MilvusStore.open(recorded, dimension=dimension, collection=name, lexical=lexical)
        try:
            if store.size != len(clauses) or store.lexical != lexical:
                if store.size or store.lexical != lexical:
                    store.drop()
                    store.close()
                    store = MilvusStore.open(recorded, dimension=dimension, collection=name, lexical=lexical)
                store.add(clause_records(clauses, documents, vectors, unit_clause, tokens))
                store.save()
            count = store.size
        finally:
            store.close()
    except Exception as exc:  # pymilvus raises MilvusException and gRPC errors besides these
        raise _store_error("fill", recorded, exc, "or build without --store") from exc
    if count != len(clauses):
        raise IndexStateError(f"the Milvus collection {name!r} at {recorded} holds {count} records after filling, "
                              f"not {len(clauses)}.", "Drop the collection and run the build again.")
    return {"kind": STORE_KIND, "uri": recorded, "collection": name, "count": count, "dimension": dimension,
            "unit": "clause", "lexical": lexical}


def candidate_source(index: StoredIndex, uri: str | None = None, *,
                     dense_scores: str = "local") -> CandidateSource:
    """The candidate source for a loaded index: FAISS by default, Milvus when a store is named.

    Call it once when the searcher loads (it opens the Milvus connection and checks the
    collection), e.g. ``Searcher(..., candidates=candidate_source(index, store_uri(option)))``.

    Args:
        index: the loaded, checked index.
        uri: a store URI given at load time (``--store`` / ``$RETRIEVER_STORE``, read with
            :func:`retriever.stores.base.store_uri`); it overrides the manifest's URI, so the
            same build can be served from a cluster. ``None``: the manifest decides.
        dense_scores: ``"local"`` (exact from the index folder's unit vectors) or ``"store"``
            (Milvus's clause vectors); see :mod:`retriever.stores.milvus_candidates`.

    Returns:
        :class:`FaissCandidates` when the manifest names no store and ``uri`` is ``None``,
        else :class:`MilvusCandidates` over the build's collection.

    Raises:
        IndexStateError: a URI is given for an index built without a store, the store cannot
            be opened, or its collection does not hold this build.
    """
    entry = index.manifest.get("store")
    if uri is None and not entry:
        return FaissCandidates(index.dense, index.lexical, index.unit_clause)
    if not entry:
        raise IndexStateError(f"the index in {index.folder} was built without a store, so it has no collection "
                              f"for {uri}.", f"Run `retriever build --store {uri}` (or unset RETRIEVER_STORE).")
    if entry.get("kind") != STORE_KIND:
        raise IndexStateError(f"the index in {index.folder} names an unknown store kind {entry.get('kind')!r}.",
                              "Rebuild it with this version of retriever.")
    from retriever.stores.milvus import MilvusStore
    from retriever.stores.milvus_candidates import MilvusCandidates

    target = normalize_uri(uri) if uri is not None else str(entry["uri"])
    collection = str(entry["collection"])
    dimension = int(index.manifest.get("model", {}).get("dimension") or index.dense.dimension)
    try:
        store = MilvusStore.open(target, dimension=dimension, collection=collection, create=False)
        count = store.size
    except Exception as exc:  # pymilvus raises MilvusException and gRPC errors besides these
        raise _store_error("open", target, exc, f"or run `retriever build --store {target}`") from exc
    if count != len(index.clauses):
        store.close()
        raise IndexStateError(f"the Milvus collection {collection!r} at {target} holds {count} records; the index "
                              f"has {len(index.clauses)} clauses.",
                              f"Run `retriever build --index {index.root} --store {target}` to fill it.")
    if dense_scores not in ("local", "store"):
        raise ValueError(f"dense_scores must be 'local' or 'store', not {dense_scores!r}.")
    return MilvusCandidates(store, len(index.clauses), dense=index.dense, unit_clause=index.unit_clause,
                            dense_scores="local" if dense_scores == "local" else "store")


def _store_error(action: str, uri: str, exc: BaseException, otherwise: str) -> IndexStateError:
    """An error that names the store and what to do, milvus-lite's one-process lock included."""
    if isinstance(exc, ValueError):  # ours: bad URI, wrong dimension, missing collection (they say what to run)
        return IndexStateError(f"cannot {action} the Milvus store {uri}: {exc}")
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    local = urlparse(uri).scheme not in ("milvus", "http", "https")
    if local and any("lock" in type(e).__name__.lower() or "Open local milvus failed" in str(e) for e in chain):
        return IndexStateError(f"cannot {action} the Milvus store {uri}: another process holds it (milvus-lite "
                               "serves one process at a time).",
                               "Stop that process (a running `retriever serve` or build), or put the collection "
                               "on a Milvus server: --store milvus://host:19530.")
    if isinstance(exc, ImportError):
        return IndexStateError(f"cannot {action} the Milvus store {uri}: {exc}",
                               "Install the Milvus extra: pip install -e '.[milvus]'.")
    hint = ("Check the path" if local else "Check that the server is up and the URI and MILVUS_TOKEN are right")
    return IndexStateError(f"cannot {action} the Milvus store {uri}: {exc}", f"{hint}, {otherwise}.")
