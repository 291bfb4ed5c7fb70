"""Shared fixtures: a deterministic fake embedder for fast tests, the seed paths."""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = SEEDS / "000_0181f60559a07f58.txt"


class FakeEmbedder:
    """Hashes character bigrams into a small normalised vector: fast, deterministic, lexical."""

    model_id = "fake/char-bigram-64"
    dimension = 64

    def __init__(self) -> None:
        self.calls = 0

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for a, b in itertools.pairwise(text):
                bucket = int.from_bytes(hashlib.md5((a + b).encode()).digest()[:4], "little") % self.dimension
                out[row, bucket] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_clauses(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t) + 2 for t in texts]


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    """A private copy of the seeds folder (tests may change it)."""
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / SEED_FILE.name).write_bytes(SEED_FILE.read_bytes())
    return folder


@pytest.fixture(scope="session")
def real_searcher(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The real engine (real model, real FAISS, real jieba) over a fresh index of the seed."""
    from retriever.search import open_searcher

    root = tmp_path_factory.mktemp("real-index") / "index"
    return open_searcher(root, seeds_dir=SEEDS, build_if_missing=True)
