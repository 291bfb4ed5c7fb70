"""FAISS inner-product search over normalised vectors (cosine similarity)."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np


class DenseIndex:
    """An exact FAISS index: the corpus is small, so no approximation is needed."""

    def __init__(self, index: faiss.Index) -> None:
        self._index = index

    @classmethod
    def build(cls, vectors: np.ndarray) -> DenseIndex:
        """Index (n, d) L2-normalised float32 vectors."""
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        index = faiss.IndexFlatIP(matrix.shape[1])
        index.add(matrix)
        return cls(index)

    @property
    def size(self) -> int:
        """Vectors indexed."""
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        return int(self._index.d)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """Cosine similarity of one query vector to every indexed vector, in index order."""
        vector = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        similarities, ids = self._index.search(vector, self.size)
        out = np.empty(self.size, dtype=np.float32)
        out[ids[0]] = similarities[0]
        return out

    def save(self, path: Path) -> None:
        """Write the FAISS native file."""
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        """Read a FAISS native file."""
        return cls(faiss.read_index(str(path)))
