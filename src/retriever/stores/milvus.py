"""A :class:`~retriever.stores.base.Store` on Milvus: milvus-lite (a local file) or a cluster.

The same code runs both; only the URI changes:

* ``path/to/clauses.db`` (or ``milvus-lite:path``): milvus-lite, embedded, no server;
* ``milvus://host:19530`` (or ``http://`` / ``https://``): a Milvus server or cluster; a token
  for an authenticated one comes from ``$MILVUS_TOKEN`` (``user:password`` or an API key).

One collection, one row per clause: the clause vector (``FLOAT_VECTOR``, inner product), the
clause text with Milvus's own BM25 (a ``BM25`` function into a sparse field), and ``document`` /
``departments`` / ``region`` as scalar fields for filters. BM25 reads one of two inputs, chosen
when the collection is created (``lexical``):

* ``"terms"`` (what ``retriever build --store`` writes): the engine's own tokens (its jieba
  segmenter with the lexicon's words, search mode, stopwords removed), each written as one
  opaque ASCII word (:func:`term_words`) in a ``terms`` field under Milvus's ``standard``
  analyzer, so Milvus scores exactly the tokens the bm25s index scores. milvus-lite offers
  only the ``standard`` and ``jieba`` tokenizers (no ``whitespace``), hence the encoding;
* ``"jieba"``: the text itself under Milvus's ``{"tokenizer": "jieba"}`` analyzer, for clients
  that query with plain text; on the gold dev split it ranks worse (``docs/notes/milvus.md``).

Quirks, measured with milvus-lite 3.2 (``tests/test_milvus.py``, ``docs/notes/scale.md``):

* the analyzer must be given as ``{"tokenizer": "jieba"}``; ``{"type": "chinese"}`` fails;
* milvus-lite returns BM25 as negative distances (best first = most negative); scores are
  turned back into positive BM25 here, so higher is better on every backend;
* because of that sign, Milvus's ``WeightedRanker`` mixes a negated BM25 on milvus-lite:
  :meth:`MilvusStore.hybrid` uses ``RRFRanker`` unless asked otherwise (rank-based, sign-proof);
* every call goes through the gRPC client: a few to tens of milliseconds a query on top of the
  search itself, so ask for candidates once per query, not per clause.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlparse

import numpy as np

from retriever.stores.base import Filters, Scored, StoreRecord

__all__ = ["ANALYZER", "TERMS_ANALYZER", "Lexical", "MilvusStore", "client_uri", "term_words"]

Lexical = Literal["terms", "jieba"]

ANALYZER: dict[str, str] = {"tokenizer": "jieba"}
"""Milvus analyzer for Chinese text (``{"type": "chinese"}`` is rejected by milvus-lite)."""

TERMS_ANALYZER: dict[str, str] = {"tokenizer": "standard"}
"""Analyzer of the ``terms`` field: it keeps each :func:`term_words` word whole."""


def term_words(tokens: Sequence[str]) -> str:
    """Tokens as space-separated opaque words (``t`` + 15 hex digits of their SHA-1), order kept.

    Milvus's ``standard`` tokenizer keeps such a word whole, so BM25 sees one term per token
    (repeats included) whatever characters the token has.
    """
    return " ".join("t" + hashlib.sha1(token.encode()).hexdigest()[:15] for token in tokens)

HNSW_EF = 64
"""Least ``ef`` of a graph-index search (raised to k)."""

TEXT_MAX = 65_535
NAME_MAX = 512
BATCH = 2_000


def client_uri(uri: str) -> str:
    """The URI pymilvus wants: ``milvus://h:p`` becomes ``http://h:p``; a file path stays a path.

    Raises:
        ValueError: an empty URI or an unknown scheme.
    """
    if not uri.strip():
        raise ValueError("empty Milvus store URI: give a file (clauses.db) or milvus://host:19530.")
    parsed = urlparse(uri)
    if parsed.scheme == "milvus":
        return f"http://{parsed.netloc}{parsed.path}"
    if parsed.scheme in ("http", "https"):
        return uri
    if parsed.scheme == "milvus-lite":
        return uri.split(":", 1)[1]
    if parsed.scheme and len(parsed.scheme) > 1:
        raise ValueError(f"unknown Milvus store URI {uri!r}: use a .db file, milvus://host:19530 or https://...")
    return uri


class MilvusStore:
    """Clause records in one Milvus collection: dense + BM25 + scalar filters."""

    def __init__(self, client: Any, collection: str, dimension: int, lexical: Lexical = "jieba",
                 index_type: str = "AUTOINDEX") -> None:
        self._client = client
        self.collection = collection
        self.dimension = dimension
        self.lexical: Lexical = lexical
        self.index_type = index_type

    @classmethod
    def open(cls, uri: str, *, dimension: int, collection: str = "clauses", create: bool = True,
             lexical: Lexical = "jieba", index_type: str | None = None) -> MilvusStore:
        """Open (or create) the collection at ``uri``.

        Args:
            uri: a milvus-lite file, ``milvus://host:19530`` or ``http(s)://...`` (see module doc).
            dimension: vector dimension; an existing collection must match it.
            collection: collection name.
            create: create the collection when it does not exist (else refuse).
            lexical: what BM25 reads in a new collection (see the module doc); an existing
                collection keeps the one it was created with.
            index_type: the vector index of a new collection (default: ``FLAT``, exact, for a
                milvus-lite file, whose ``AUTOINDEX`` is a graph that returned 273 of 298 hits
                for k = 298; ``AUTOINDEX`` for a server, searched with ``ef >= k``).

        Raises:
            ImportError: pymilvus (and milvus-lite for files) is not installed.
            ValueError: the URI is bad, the collection exists with another dimension, or it is
                missing and ``create`` is False.
        """
        try:
            from pymilvus import MilvusClient
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("the Milvus store needs pymilvus and milvus-lite: "
                              "pip install -e '.[milvus]'") from error
        token = os.environ.get("MILVUS_TOKEN", "")
        client = MilvusClient(client_uri(uri), token=token) if token else MilvusClient(client_uri(uri))
        local = urlparse(uri).scheme not in ("milvus", "http", "https")  # a milvus-lite file
        store = cls(client, collection, dimension, lexical, index_type or ("FLAT" if local else "AUTOINDEX"))
        if client.has_collection(collection):
            stored = store._stored_dimension()
            store.lexical = store._stored_lexical()
            store.index_type = store._stored_index_type()
            if stored != dimension:
                raise ValueError(f"Milvus collection {collection!r} at {uri} holds {stored}-d vectors, not "
                                 f"{dimension}-d: use another collection or file, or drop it and rebuild.")
        elif create:
            store._create()
        else:
            client.close()
            raise ValueError(f"there is no Milvus collection {collection!r} at {uri}: fill it with "
                             f"`retriever build --store {uri}`.")
        client.load_collection(collection)
        return store

    def _stored_dimension(self) -> int:
        described = self._client.describe_collection(self.collection)
        for entry in described["fields"]:
            if entry["name"] == "vector":
                return int(entry["params"]["dim"])
        raise ValueError(f"Milvus collection {self.collection!r} has no vector field: not a clause store.")

    def _stored_index_type(self) -> str:
        described = self._client.describe_index(self.collection, "vector")
        return str(described.get("index_type", "AUTOINDEX")) if described else "AUTOINDEX"

    def _stored_lexical(self) -> Lexical:
        described = self._client.describe_collection(self.collection)
        return "terms" if any(entry["name"] == "terms" for entry in described["fields"]) else "jieba"

    def _create(self) -> None:
        from pymilvus import DataType, Function, FunctionType

        schema = self._client.create_schema(auto_id=False, description="duty-retriever clauses")
        schema.add_field("key", DataType.INT64, is_primary=True)
        schema.add_field("clause", DataType.VARCHAR, max_length=NAME_MAX)
        schema.add_field("document", DataType.VARCHAR, max_length=NAME_MAX)
        schema.add_field("region", DataType.VARCHAR, max_length=NAME_MAX)
        schema.add_field("departments", DataType.ARRAY, element_type=DataType.VARCHAR,
                         max_capacity=64, max_length=NAME_MAX)
        terms = self.lexical == "terms"
        if terms:
            schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX)
            schema.add_field("terms", DataType.VARCHAR, max_length=TEXT_MAX, enable_analyzer=True,
                             analyzer_params=TERMS_ANALYZER)
        else:
            schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX, enable_analyzer=True,
                             analyzer_params=ANALYZER)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dimension)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                     input_field_names=["terms" if terms else "text"], output_field_names=["sparse"]))
        params = self._client.prepare_index_params()
        params.add_index(field_name="vector", index_type=self.index_type, metric_type="IP")
        params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        self._client.create_collection(self.collection, schema=schema, index_params=params)

    @property
    def size(self) -> int:
        """Records stored."""
        rows = self._client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def add(self, records: Sequence[StoreRecord]) -> None:
        """Insert records in batches (a key already stored is replaced)."""
        for start in range(0, len(records), BATCH):
            rows = [{"key": int(r.key), "clause": r.clause, "document": r.document, "region": r.region,
                     "departments": list(r.departments), "text": r.text[:TEXT_MAX],
                     "vector": np.asarray(r.vector, dtype=np.float32).tolist()}
                    for r in records[start:start + BATCH]]
            if self.lexical == "terms":
                for row, record in zip(rows, records[start:start + BATCH], strict=True):
                    row["terms"] = _clip(term_words(record.terms))
            self._client.upsert(self.collection, rows)

    def remove_document(self, document: str) -> int:
        """Delete every record of ``document``; returns how many were deleted."""
        result = self._client.delete(self.collection, filter=f"document == {json.dumps(document)}")
        return int(result["delete_count"]) if isinstance(result, dict) else len(result)

    def top_dense(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> Scored:
        """The ``k`` records most similar to ``vector`` (inner product), filtered inside the search."""
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.index_type != "FLAT":
            # A graph index returns fewer than k hits when k nears the collection size unless ef >= k.
            params["params"] = {"ef": max(k, HNSW_EF)}
        hits = self._client.search(self.collection, data=[np.asarray(vector, dtype=np.float32).tolist()],
                                   anns_field="vector", limit=k, filter=filter_expression(filters),
                                   output_fields=["key"], search_params=params)
        return _scored(hits[0], bm25=False)

    def top_terms(self, tokens: Sequence[str], k: int, filters: Filters | None = None) -> Scored:
        """The ``k`` best BM25 records for the engine's query ``tokens`` (a ``"terms"`` collection).

        Raises:
            ValueError: the collection's BM25 reads jieba-analysed text (use :meth:`top_lexical`).
        """
        if self.lexical != "terms":
            raise ValueError(f"Milvus collection {self.collection!r} analyses text with jieba; "
                             "query it with top_lexical(text).")
        return self.top_lexical(term_words(tokens), k, filters)

    def top_lexical(self, text: str, k: int, filters: Filters | None = None) -> Scored:
        """The ``k`` best BM25 records for ``text``, filtered inside the search.

        ``text`` is the question for a ``"jieba"`` collection (Milvus's analyzer segments it) and
        :func:`term_words` of the query tokens for a ``"terms"`` one (see :meth:`top_terms`).
        """
        if not text.strip():
            return Scored()
        hits = self._client.search(self.collection, data=[text], anns_field="sparse", limit=k,
                                   filter=filter_expression(filters), output_fields=["key"],
                                   search_params={"metric_type": "BM25"})
        return _scored(hits[0], bm25=True)

    def vectors(self, keys: Sequence[int]) -> np.ndarray:
        """The stored vectors of ``keys``, in that order (one ``get`` round trip).

        Raises:
            KeyError: a key is not stored.
        """
        wanted = [int(k) for k in keys]
        if not wanted:
            return np.zeros((0, self.dimension), dtype=np.float32)
        rows = self._client.get(self.collection, ids=wanted, output_fields=["vector"])
        found = {int(r["key"]): r["vector"] for r in rows}
        missing = [k for k in wanted if k not in found]
        if missing:
            raise KeyError(f"Milvus collection {self.collection!r} has no record for keys {missing[:5]}: "
                           "rebuild it with `retriever build --store URI`.")
        return np.asarray([found[k] for k in wanted], dtype=np.float32)

    def hybrid(self, vector: np.ndarray, text: str, k: int, filters: Filters | None = None, *,
               ranker: Literal["rrf", "weighted"] = "rrf", rrf_k: int = 60,
               weights: tuple[float, float] = (0.6, 0.4), candidates: int | None = None) -> Scored:
        """Dense and BM25 fused by Milvus itself (``RRFRanker`` or ``WeightedRanker``).

        Args:
            vector: the query vector.
            text: the query text for BM25.
            k: results.
            filters: scalar filters, applied inside both searches.
            ranker: ``rrf`` (rank-based; safe with milvus-lite's negative BM25) or ``weighted``
                (dense, BM25 weights; use it against a server, see the module doc).
            rrf_k: the RRF constant.
            weights: dense and BM25 weights for ``weighted``.
            candidates: per-retriever candidates before fusion (default ``max(4k, 50)``).
        """
        from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

        expression = filter_expression(filters)
        limit = candidates or max(4 * k, 50)
        dense_params: dict[str, Any] = {"metric_type": "IP"}
        if self.index_type != "FLAT":
            dense_params["params"] = {"ef": max(limit, HNSW_EF)}
        requests = [AnnSearchRequest([np.asarray(vector, dtype=np.float32).tolist()], "vector",
                                     dense_params, limit, expr=expression or None)]
        if text.strip():
            requests.append(AnnSearchRequest([text], "sparse", {"metric_type": "BM25"}, limit,
                                             expr=expression or None))
        rank = RRFRanker(rrf_k) if ranker == "rrf" else WeightedRanker(*weights[:len(requests)])
        hits = self._client.hybrid_search(self.collection, requests, rank, limit=k, output_fields=["key"])
        return _scored(hits[0], bm25=False)

    def save(self) -> None:
        """Flush inserted records to storage (milvus-lite: the .db file)."""
        self._client.flush(self.collection)

    def drop(self) -> None:
        """Delete the collection and everything in it."""
        self._client.drop_collection(self.collection)

    def close(self) -> None:
        """Close the client connection."""
        self._client.close()


def _clip(words: str) -> str:
    """At most :data:`TEXT_MAX` characters, cut between words."""
    return words if len(words) <= TEXT_MAX else words[:TEXT_MAX + 1].rsplit(" ", 1)[0]


def filter_expression(filters: Filters | None) -> str:
    """A Milvus boolean expression for ``filters`` (``""`` for none); values are JSON-quoted."""
    if not filters:
        return ""
    parts = []
    if filters.documents:
        parts.append(f"document in {json.dumps(list(filters.documents), ensure_ascii=False)}")
    if filters.regions:
        parts.append(f"region in {json.dumps(list(filters.regions), ensure_ascii=False)}")
    if filters.departments:
        parts.append(f"array_contains_any(departments, {json.dumps(list(filters.departments), ensure_ascii=False)})")
    return " and ".join(parts)


def _scored(hits: Sequence[dict[str, Any]], *, bm25: bool) -> Scored:
    keys = np.fromiter((int(h["entity"]["key"]) for h in hits), dtype=np.int64, count=len(hits))
    distances = np.fromiter((float(h["distance"]) for h in hits), dtype=np.float32, count=len(hits))
    if bm25:
        # milvus-lite reports BM25 negated (best first, most negative); a server reports it as is.
        distances = np.abs(distances)
    return Scored(keys=keys, scores=distances)
