"""BM25 over segmenter tokens (bm25s), saved as .npy arrays plus JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np


class LexicalIndex:
    """A BM25 index over tokenised units, scored per query token list."""

    def __init__(self, model: bm25s.BM25) -> None:
        self._model = model
        self._vocab: dict[str, int] = dict(model.vocab_dict)

    @classmethod
    def build(cls, tokenized: Sequence[Sequence[str]]) -> LexicalIndex:
        """Index token lists (one per unit)."""
        model = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
        model.index([list(tokens) for tokens in tokenized], show_progress=False)
        return cls(model)

    @property
    def size(self) -> int:
        """Units indexed."""
        return int(self._model.scores["num_docs"])

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every unit for ``tokens`` (unknown tokens score nothing)."""
        known = [t for t in tokens if t in self._vocab]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._model.get_scores(known), dtype=np.float32)

    def save(self, folder: Path) -> None:
        """Write the arrays and vocabulary (no pickle) into ``folder``."""
        self._model.save(str(folder), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """Read an index written by :meth:`save`."""
        return cls(bm25s.BM25.load(str(folder), allow_pickle=False, mmap=False))
