"""BM25 over segmenter tokens (bm25s), saved as .npy arrays plus JSON."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np


def _import_bm25s() -> ModuleType:
    """Import bm25s without letting it import numba, scipy and tqdm, unless something already did.

    It imports numba and scipy (a quarter of a second on a cold start) only to offer the
    numba backend and the scipy matrix builder; these indexes use its numpy backend and
    numpy builder (its defaults, and ``"backend": "numpy"`` in every saved index), so
    scores are the same. Its progress bars are always off here (``show_progress=False``),
    and with ``DISABLE_TQDM`` it iterates the same iterables without tqdm. The block lasts
    only for the import: later imports of numba, scipy or tqdm work as usual.
    """
    if "bm25s" in sys.modules:
        return sys.modules["bm25s"]
    blocked = [name for name in ("numba", "scipy") if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` raise ImportError
    quiet = "tqdm" not in sys.modules and "DISABLE_TQDM" not in os.environ
    if quiet:
        os.environ["DISABLE_TQDM"] = "1"
    try:
        import bm25s
    finally:
        for name in blocked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
        if quiet:
            del os.environ["DISABLE_TQDM"]
    return bm25s


if TYPE_CHECKING:
    import bm25s
else:
    bm25s = _import_bm25s()


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

    def vocabulary(self) -> list[str]:
        """Every token the index knows."""
        return list(self._vocab)

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

    def weighted_scores(self, tokens: Sequence[str], expansion: Sequence[str] = (),
                        expansion_weight: float = 0.0) -> np.ndarray:
        """BM25 of every unit for ``tokens`` plus ``expansion_weight`` times that of ``expansion``."""
        scores = self.scores(tokens)
        if expansion_weight and any(t in self._vocab for t in expansion):
            scores = scores + np.float32(expansion_weight) * self.scores(expansion)
        return scores

    def top(self, tokens: Sequence[str], n: int, allowed: np.ndarray | None = None, *,
            expansion: Sequence[str] = (), expansion_weight: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best-scoring units for ``tokens``, best first; units scoring 0 are left out.

        Args:
            tokens: query tokens (unknown tokens score nothing).
            n: how many at most.
            allowed: optional boolean mask over the units (length :attr:`size`), applied inside
                retrieval as bm25s's ``weight_mask``, so ``n`` allowed units come back.
            expansion: extra tokens (lexicon expansions) scored with ``expansion_weight``.
            expansion_weight: weight of the expansion tokens relative to ``tokens``.

        Returns:
            ``(rows, scores)``: int64 unit rows and float32 BM25 scores, best first.

        Raises:
            ValueError: ``n`` is below 1 or the mask has the wrong length.
        """
        if n < 1:
            raise ValueError(f"top needs n >= 1; got {n}.")
        mask = None
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=np.bool_)
            if allowed.shape != (self.size,):
                raise ValueError(f"allowed mask has length {allowed.size}; the BM25 index has {self.size} units.")
            mask = allowed.astype(np.float32)
        k = min(n, self.size)
        known = [t for t in tokens if t in self._vocab]
        if known and not (expansion_weight and any(t in self._vocab for t in expansion)):
            results = self._model.retrieve([known], k=k, weight_mask=mask, sorted=True,
                                           show_progress=False, n_threads=0)
            rows, scores = results.documents[0].astype(np.int64), results.scores[0].astype(np.float32)
        else:
            # bm25s has no per-token query weights: score both lists, then select the top k.
            combined = self.weighted_scores(tokens, expansion, expansion_weight)
            if mask is not None:
                combined = combined * mask
            part = np.argpartition(-combined, k - 1)[:k] if k < combined.size else np.arange(combined.size)
            order = part[np.lexsort((part, -combined[part]))]
            rows, scores = order.astype(np.int64), combined[order].astype(np.float32)
        keep = scores > 0
        if allowed is not None:
            keep &= allowed[rows]
        return rows[keep], scores[keep]

    def save(self, folder: Path) -> None:
        """Write the arrays and vocabulary (no pickle) into ``folder``."""
        self._model.save(str(folder), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """Read an index written by :meth:`save`."""
        return cls(bm25s.BM25.load(str(folder), allow_pickle=False, mmap=False))
