"""The embedder: query coalescing under concurrency, and the real model's contract."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from retriever.embed import Coalescer
from retriever.search import Searcher


def _slow_encoder(batches: list[list[str]]):  # type: ignore[no-untyped-def]
    def encode(texts: list[str]) -> np.ndarray:
        batches.append(list(texts))
        time.sleep(0.05)  # a forward pass: long enough for others to queue up
        return np.array([[float(len(t)), float(sum(map(ord, t)))] for t in texts], dtype=np.float32)

    return encode


def test_concurrent_queries_share_batches_and_get_their_own_vectors() -> None:
    batches: list[list[str]] = []
    coalescer = Coalescer(_slow_encoder(batches))
    texts = [f"问题{i}" * (i % 3 + 1) for i in range(24)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        vectors = list(pool.map(lambda t: coalescer.encode([t, t + "！"]), texts))
    for text, pair in zip(texts, vectors, strict=True):
        assert pair.tolist() == [[float(len(t)), float(sum(map(ord, t)))] for t in (text, text + "！")]
    assert sum(len(b) for b in batches) == 2 * len(texts)
    assert len(batches) < len(texts)  # some requests were served together
    assert max(len(b) for b in batches) > 1


def test_a_lone_query_is_encoded_at_once() -> None:
    batches: list[list[str]] = []
    coalescer = Coalescer(_slow_encoder(batches))
    assert coalescer.encode(["网吧"]).tolist() == [[2.0, float(ord("网") + ord("吧"))]]
    assert batches == [["网吧"]]


def test_a_request_larger_than_the_cap_is_encoded_whole() -> None:
    batches: list[list[str]] = []
    coalescer = Coalescer(_slow_encoder(batches), max_batch=2)
    assert coalescer.encode(["a", "b", "c"]).shape == (3, 2)
    assert batches == [["a", "b", "c"]]


def test_batch_size_is_capped() -> None:
    batches: list[list[str]] = []
    coalescer = Coalescer(_slow_encoder(batches), max_batch=4)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda t: coalescer.encode([t]), [str(i) for i in range(16)]))
    assert max(len(b) for b in batches) <= 4


def test_an_encoder_error_reaches_every_waiter_and_the_coalescer_recovers() -> None:
    calls = {"n": 0}
    lock = threading.Lock()

    def flaky(texts: list[str]) -> np.ndarray:
        with lock:
            calls["n"] += 1
            first = calls["n"] == 1
        time.sleep(0.02)
        if first:
            raise RuntimeError("model crashed")
        return np.ones((len(texts), 2), dtype=np.float32)

    coalescer = Coalescer(flaky)
    with pytest.raises(RuntimeError, match="model crashed"):
        coalescer.encode(["a"])
    assert coalescer.encode(["b", "c"]).tolist() == [[1.0, 1.0], [1.0, 1.0]]


@pytest.mark.slow
def test_real_embedder_is_safe_under_concurrent_encode_and_count(real_searcher: Searcher) -> None:
    embedder = real_searcher.embedder
    reference = embedder.encode_queries(["电动车充电归哪个部门管？"])[0]

    def work(i: int) -> tuple[np.ndarray, int]:
        if i % 2:
            return embedder.encode_clauses(["自治区市场监督管理局职责", "特种设备"])[0], 0
        return embedder.encode_queries(["电动车充电归哪个部门管？"])[0], sum(embedder.count_tokens(["a", "电梯"]))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(32)))
    for i, (vector, tokens) in enumerate(results):
        assert vector.shape == (384,)
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4
        if i % 2 == 0:
            assert float(vector @ reference) > 0.9999
            assert tokens > 0


def test_a_leader_hands_over_once_its_own_request_is_done() -> None:
    """Under continuous load, no caller keeps encoding other callers' work after its own is done."""
    current: dict[int, str] = {}
    done: set[str] = set()
    violations: list[str] = []
    lock = threading.Lock()

    def encode(texts: list[str]) -> np.ndarray:
        me = threading.get_ident()
        with lock:
            if current.get(me) in done:
                violations.append(current[me])
        time.sleep(0.005)
        with lock:
            done.update(texts)
        return np.zeros((len(texts), 2), dtype=np.float32)

    coalescer = Coalescer(encode, max_batch=2)

    def client(worker: int) -> None:
        for i in range(15):
            text = f"{worker}-{i}"
            with lock:
                current[threading.get_ident()] = text
            coalescer.encode([text])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(client, range(8)))
    assert violations == []
    assert len(done) == 8 * 15
