"""The default embedder: an int8 ONNX export of e5-small on onnxruntime, without torch.

A folder made by :func:`retriever.e5model.materialise_int8` holds ``model.onnx``
(token ids and attention mask in, last hidden state out), the ``tokenizers``
tokenizer and ``onnx_config.json`` (pooling, prompts, padding id). Mean pooling and
L2 normalisation happen here in numpy, as sentence-transformers' Pooling and
Normalize modules do for the float32 reference.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from retriever.e5model import ONNX_CONFIG, ONNX_FILE
from retriever.embed import Coalescer
from retriever.errors import ModelError

#: Query batches up to this many characters are tokenised from the piece table (retriever.querytok).
_QUERY_TABLE_CHARS = 4000


def _threads() -> int:
    """onnxruntime's intra-op threads: ``$RETRIEVER_THREADS``, else every core this process may use."""
    configured = os.environ.get("RETRIEVER_THREADS", "").strip()
    if configured:
        try:
            value = int(configured)
        except ValueError:
            raise ModelError(f"RETRIEVER_THREADS must be a whole number, not {configured!r}.",
                             "Unset it, or set it to the number of cores to use, e.g. 2.") from None
        if value < 1:
            raise ModelError(f"RETRIEVER_THREADS must be at least 1, not {value}.", "Unset it, or set it to e.g. 2.")
        return value
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class OnnxEmbedder:
    """An :class:`~retriever.embed.Embedder` running an ONNX model folder on onnxruntime's CPU provider.

    Args:
        folder: a folder with ``model.onnx``, ``tokenizer.json`` and ``onnx_config.json``.
        model_id: the id recorded in index manifests (default: the folder's resolved path).
        batch_size: queries per forward pass when encoding many (and texts per request batch).

    Clause (passage) texts are encoded one per forward pass: the int8 model quantises its
    activations per pass, so a text batched with others gets a slightly different vector
    (cosine about 0.995). One per pass, a clause's vector is the same whatever it is built
    with (a document alone or in a library, a full build or an incremental one), at about
    the same speed (207 vs 219 units/s here: no padding to compute).
    """

    #: Clause texts per forward pass (see above).
    PASSAGES_PER_PASS = 1

    def __init__(self, folder: Path | str, *, model_id: str | None = None, batch_size: int = 32) -> None:
        import onnxruntime as ort

        from retriever.querytok import QueryTokenizer

        folder = Path(folder)
        missing = [name for name in (ONNX_FILE, "tokenizer.json", ONNX_CONFIG) if not (folder / name).is_file()]
        if missing:
            raise ModelError(f"the ONNX model folder {folder} lacks {', '.join(missing)}.",
                             "Omit --model to use the built-in int8 e5-small, or pass a folder made by "
                             "retriever.e5model.materialise_int8.")
        self._folder = folder
        self._full: Any = None
        self._full_lock = threading.Lock()
        try:
            config = json.loads((folder / ONNX_CONFIG).read_text(encoding="utf-8"))
            self.dimension = int(config["dimension"])
            self._max_length = int(config["max_length"])
            pad_id = int(config["pad_token_id"])
            prompts = dict(config.get("prompts") or {})
            # Queries are tokenised from a table of the pieces they use (see retriever.querytok):
            # loading all 250,000 pieces costs about a second, more than a query. Bulk work
            # (clauses, token counts) loads the full tokenizer on first use.
            self._query_tokenizer = QueryTokenizer.open((folder / "tokenizer.json").read_bytes(), self._max_length)
            if self._query_tokenizer is None:
                self._full_tokenizer()
            options = ort.SessionOptions()
            options.intra_op_num_threads = _threads()
            options.inter_op_num_threads = 1
            options.log_severity_level = 3  # warnings about unused initialisers are noise here
            self._session: Any = ort.InferenceSession(str(folder / ONNX_FILE), options,
                                                      providers=["CPUExecutionProvider"])
        except ModelError:
            raise
        except Exception as exc:  # onnxruntime, tokenizers and json raise many kinds here
            raise ModelError(f"cannot load the ONNX model in {folder}: {str(exc).rstrip('.')}.",
                             "Delete the folder to have it rebuilt, or pass --model e5-small-fp32.") from exc
        self.model_id = model_id or str(folder.resolve())
        #: The key of this model's clause vectors in the embedding cache (vectors encoded in
        #: batches, as before, are under the bare model id and are not reused).
        self.cache_id = f"{self.model_id}/passage-per-pass"
        self.batch_size = batch_size
        self._query_prefix = str(prompts.get("query", ""))
        self._clause_prefix = str(prompts.get("passage", prompts.get("document", "")))
        self._pad_id = pad_id
        self._queries = Coalescer(lambda texts: self._encode(texts, self._query_prefix, bulk=False),
                                  max_batch=batch_size)
        self._clauses = Coalescer(lambda texts: self._encode(texts, self._clause_prefix, bulk=True),
                                  max_batch=batch_size)

    def load_tokenizer(self) -> None:
        """Load the whole tokenizer now, for a long-running process (a server).

        Until then each query batch is tokenised from the piece table, which costs about
        2 ms more than the full tokenizer; a one-off command need not pay the second this saves.
        """
        self._full_tokenizer()

    def _full_tokenizer(self) -> Any:
        """The whole ``tokenizer.json``, loaded on first use (about a second).

        Padding stays off (batches are padded in _forward), so one tokenizer serves
        encoding and counting from any thread; loading a second would cost as much again.
        """
        if self._full is None:
            with self._full_lock:
                if self._full is None:
                    from tokenizers import Tokenizer

                    try:
                        tokenizer = Tokenizer.from_file(str(self._folder / "tokenizer.json"))
                    except Exception as exc:  # tokenizers raises plain Exceptions
                        raise ModelError(f"cannot load the tokenizer in {self._folder}: {str(exc).rstrip('.')}.",
                                         "Delete the folder to have it rebuilt, or pass --model e5-small-fp32.",
                                         ) from exc
                    tokenizer.enable_truncation(self._max_length)
                    self._full = tokenizer
        return self._full

    def _token_ids(self, texts: list[str], *, bulk: bool) -> list[list[int]]:
        """Token ids per text: from the query table for a few short query texts, else the full tokenizer."""
        few = sum(len(text) for text in texts) <= _QUERY_TABLE_CHARS
        if self._full is None and not bulk and few and self._query_tokenizer is not None:
            return self._query_tokenizer.encode_batch(texts)
        return [e.ids for e in self._full_tokenizer().encode_batch(texts)]

    def _forward(self, encodings: Sequence[list[int]]) -> np.ndarray:
        """Mean-pooled, L2-normalised vectors of already tokenised texts (one padded batch)."""
        width = max(len(e) for e in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding)] = encoding
            mask[row, : len(encoding)] = 1
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)

    def _encode(self, texts: Sequence[str], prefix: str, *, bulk: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        encodings = self._token_ids([prefix + text for text in texts], bulk=bulk)
        # Similar lengths batched together: little padding, so little wasted compute.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i]))
        per_pass = self.PASSAGES_PER_PASS if bulk else self.batch_size
        for start in range(0, len(order), per_pass):
            rows = order[start:start + per_pass]
            out[rows] = self._forward([encodings[i] for i in rows])
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Encode search queries (``query: `` prefix for e5); concurrent calls share forward passes."""
        return self._queries.encode(texts) if texts else self._encode(texts, self._query_prefix, bulk=False)

    def submit_queries(self, texts: Sequence[str]) -> Future[np.ndarray]:
        """:meth:`encode_queries` as a future, for a caller that awaits it (see :meth:`Coalescer.submit`)."""
        return self._queries.submit(texts)

    def encode_clauses(self, texts: Sequence[str]) -> np.ndarray:
        """Encode clause texts (``passage: `` prefix for e5); concurrent calls share forward passes."""
        return self._clauses.encode(texts) if texts else self._encode(texts, self._clause_prefix, bulk=True)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as the model's tokenizer counts them (with specials, truncated)."""
        return [len(e.ids) for e in self._full_tokenizer().encode_batch(list(texts))]
