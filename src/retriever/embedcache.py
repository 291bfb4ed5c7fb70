"""An embedding cache beside the index: unchanged clauses are never embedded twice.

Vectors are keyed by the model id and the sha256 of the exact text the model saw
(``passage`` side), in one SQLite file (``index/embeddings.sqlite``). A build looks
every unit up first and embeds only the misses, committing each batch as it is
produced, so a build that is interrupted resumes where it stopped and a one-document
change re-embeds only that document's clauses. SQLite serialises concurrent writers;
a corrupt cache is reported and moved aside, never trusted.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from retriever.errors import IndexStateError

CACHE_FILE = "embeddings.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    model TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, text_sha256)
) WITHOUT ROWID
"""


def text_key(text: str) -> str:
    """The cache key of one text: the sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors by (model, text hash), in a SQLite file.

    Args:
        path: the SQLite file (created when missing).
        model_id: the model the vectors belong to; other models' rows are ignored.
        dimension: the vector dimension; a row of another size is a miss.
    """

    def __init__(self, path: Path, model_id: str, dimension: int) -> None:
        self.path = path
        self.model_id = model_id
        self.dimension = dimension
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(path), timeout=60)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise IndexStateError(f"the embedding cache {path} is unreadable ({exc}).",
                                  f"Delete {path}; the next build re-embeds everything.") from exc

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors among ``keys`` (misses are absent)."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT text_sha256, vector FROM vectors WHERE model = ? AND dimension = ? "
                f"AND text_sha256 IN ({marks})", (self.model_id, self.dimension, *chunk))
            for key, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape == (self.dimension,):
                    found[key] = vector
        return found

    def put_many(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Store vectors (one row per key) and commit."""
        rows = [(self.model_id, key, self.dimension, np.ascontiguousarray(vector, dtype=np.float32).tobytes())
                for key, vector in zip(keys, vectors, strict=True)]
        self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)
        self._db.commit()

    def count(self) -> int:
        """Rows cached for this model."""
        return int(self._db.execute("SELECT COUNT(*) FROM vectors WHERE model = ?", (self.model_id,)).fetchone()[0])


_READ_SLICE = 20_000
"""Cache rows read at a time while filling the matrix."""


def embed_with_cache(
    texts: Sequence[str],
    encode: Callable[[list[str]], np.ndarray],
    dimension: int,
    cache: EmbeddingCache | None,
    *,
    batch: int = 32,
    progress: Callable[[int, int], None] | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors of ``texts`` in order, embedding only what the cache lacks.

    Texts are encoded in batches of similar length (less padding); each batch is
    written to the cache as soon as it is encoded, so an interrupted build resumes.
    Cached vectors are read in slices, so memory holds one matrix (``out``, which may be
    a disk-backed ``np.memmap``) and one slice, not the cache's contents as well.

    Args:
        out: the (n, d) float32 array to fill (default: a new in-memory array).

    Returns:
        The (n, d) matrix and how many texts were actually embedded.
    """
    if out is not None and out.shape != (len(texts), dimension):
        raise ValueError(f"out has shape {out.shape}; expected ({len(texts)}, {dimension}).")
    matrix = out if out is not None else np.zeros((len(texts), dimension), dtype=np.float32)
    keys = [text_key(text) for text in texts]
    missing: dict[str, list[int]] = {}
    for start in range(0, len(keys), _READ_SLICE):
        chunk = keys[start:start + _READ_SLICE]
        cached = cache.get_many(chunk) if cache is not None else {}
        for row, key in enumerate(chunk, start=start):
            if key in cached:
                matrix[row] = cached[key]
            else:
                missing.setdefault(key, []).append(row)
    todo = sorted(missing, key=lambda key: len(texts[missing[key][0]]))
    done = len(texts) - sum(len(rows) for rows in missing.values())
    if progress:
        progress(done, len(texts))
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        vectors = encode([texts[missing[key][0]] for key in chunk])
        if vectors.shape != (len(chunk), dimension):
            raise IndexStateError(f"the model returned vectors of shape {vectors.shape}, "
                                  f"expected ({len(chunk)}, {dimension}).", "Check --model.")
        for key, vector in zip(chunk, vectors, strict=True):
            matrix[missing[key]] = vector
            done += len(missing[key])
        if cache is not None:
            cache.put_many(chunk, vectors)
        if progress:
            progress(done, len(texts))
    return matrix, len(todo)


__all__ = ["CACHE_FILE", "EmbeddingCache", "embed_with_cache", "text_key"]
