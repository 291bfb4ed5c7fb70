"""How ``serve`` sets the server up: the model's thread count, the UI queue's polling, and the
hot routes' responses (serialised once, by orjson, in the documented shapes)."""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from retriever import api
from retriever.api import SERVER_MODEL_THREADS, UI_QUEUE_POLL_S, create_app, server_model_threads
from retriever.errors import IndexStateError

from .test_api import WANGBA, FakeSearcher


def test_server_model_threads_defaults_to_one_thread() -> None:
    assert SERVER_MODEL_THREADS == 1
    assert server_model_threads(None, {}) == 1
    assert server_model_threads(None, {"RETRIEVER_THREADS": "  "}) == 1


def test_server_model_threads_takes_the_argument_then_the_environment() -> None:
    assert server_model_threads(None, {"RETRIEVER_THREADS": "2"}) == 2
    assert server_model_threads(3, {"RETRIEVER_THREADS": "2"}) == 3


@pytest.mark.parametrize(("threads", "environ", "message"), [
    (None, {"RETRIEVER_THREADS": "two"}, "RETRIEVER_THREADS='two' is not a whole number"),
    (None, {"RETRIEVER_THREADS": "0"}, "at least 1 thread, not 0"),
    (0, {}, "at least 1 thread, not 0"),
])
def test_server_model_threads_refuses_bad_values(threads: int | None, environ: dict[str, str],
                                                 message: str) -> None:
    with pytest.raises(ValueError, match=message):
        server_model_threads(threads, environ)


@pytest.mark.parametrize(("environ", "threads", "expected"), [("", None, "1"), ("2", None, "2"), ("2", 4, "4")])
def test_serve_gives_the_model_its_threads_before_loading_it(monkeypatch: pytest.MonkeyPatch, environ: str,
                                                            threads: int | None, expected: str) -> None:
    """The ONNX embedder reads RETRIEVER_THREADS when it loads: serve sets it before opening the index."""
    seen: list[str | None] = []

    def open_searcher(*_args: Any, **_kwargs: Any) -> None:
        seen.append(os.environ.get("RETRIEVER_THREADS"))
        raise IndexStateError("stop here", "nothing to fix")

    monkeypatch.setenv("RETRIEVER_THREADS", environ)  # restored after the test, whatever serve sets
    monkeypatch.setattr(api, "open_searcher", open_searcher)
    with pytest.raises(IndexStateError, match="stop here"):
        api.serve(host="127.0.0.1", port=0, index_dir=Path("unused"), threads=threads)
    assert seen == [expected]


def test_ui_queue_polls_every_20_ms() -> None:
    import gradio as gr

    with gr.Blocks() as blocks:
        gr.Markdown("x")
    default = blocks._queue.sleep_when_free
    api._relax_ui_queue(blocks)
    assert default < UI_QUEUE_POLL_S == blocks._queue.sleep_when_free
    assert blocks._queue.progress_update_sleep_when_free == 5 * UI_QUEUE_POLL_S


def test_ui_queue_left_alone_without_gradios_attributes() -> None:
    blocks = SimpleNamespace(_queue=SimpleNamespace(other=1))
    api._relax_ui_queue(blocks)
    assert vars(blocks._queue) == {"other": 1}
    api._relax_ui_queue(SimpleNamespace())  # no queue at all: nothing to do, no error


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(FakeSearcher(), mount_ui=False))  # type: ignore[arg-type]


def test_search_response_is_the_answer_document_as_json(client: TestClient) -> None:
    response = client.post("/v1/search", json={"query": WANGBA, "k": 3})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    body = response.json()
    assert body["query"] == WANGBA and len(body["hits"]) <= 3
    assert "网吧" in response.content.decode("utf-8")  # UTF-8, not \\u escapes


class _RandomEmbedder:
    """Unit vectors of seeded random float32 values: few of them have a short decimal."""

    model_id = "test/fake-8"
    dimension = 8

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.random.default_rng(len(texts)).standard_normal((len(texts), 8)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    encode_queries = encode_clauses = _encode

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t) for t in texts]


def test_embeddings_float_values_are_the_float32_vectors_exactly() -> None:
    """Each value is the shortest decimal of its float32, so parsing it as float32 gives the vector back."""
    searcher = FakeSearcher()
    searcher.embedder = _RandomEmbedder()  # type: ignore[assignment]
    client = TestClient(create_app(searcher, mount_ui=False))  # type: ignore[arg-type]
    texts = ["网吧", "燃气管道", "水库大坝"]
    response = client.post("/v1/embeddings", json={"model": "fake-8", "input": texts})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"object", "data", "model", "usage"} and body["object"] == "list"
    assert body["model"] == "test/fake-8"
    assert [item["index"] for item in body["data"]] == [0, 1, 2]
    assert all(item["object"] == "embedding" for item in body["data"])
    vectors = np.array([item["embedding"] for item in body["data"]], dtype=np.float32)
    assert np.array_equal(vectors, _RandomEmbedder().encode_queries(texts))
    tokens = sum(len(text) for text in texts)  # the fake counts one token per character
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    as_base64 = client.post("/v1/embeddings", json={"model": "fake-8", "input": texts,
                                                    "encoding_format": "base64"}).json()
    decoded = np.array([np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
                        for item in as_base64["data"]])
    assert np.array_equal(decoded, vectors)


def test_serve_listens_before_it_prints_the_url(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A client that connects as soon as the URL line appears is queued, not refused."""
    import socket

    import uvicorn

    searcher = FakeSearcher()
    searcher.warm_up = lambda: None  # type: ignore[attr-defined]
    searcher.preload = lambda: None  # type: ignore[attr-defined]
    connected: list[str] = []

    def run(self: uvicorn.Server, sockets: list[socket.socket]) -> None:  # instead of serving
        url = capsys.readouterr().out.split(" at ", 1)[1].split()[0]
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        with socket.create_connection((host, int(port)), timeout=5):
            connected.append(url)

    monkeypatch.setenv("RETRIEVER_THREADS", "")
    monkeypatch.setattr(api, "open_searcher", lambda *_a, **_k: searcher)
    monkeypatch.setattr(uvicorn.Server, "run", run)
    api.serve(host="127.0.0.1", port=0, index_dir=Path("unused"))
    assert len(connected) == 1 and connected[0].startswith("http://127.0.0.1:")


def test_cli_and_app_pass_threads_to_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import app as app_script
    from retriever.cli import main

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(api, "serve", lambda **kwargs: calls.append(kwargs))
    monkeypatch.delenv("RETRIEVER_THREADS", raising=False)
    result = CliRunner().invoke(main, ["serve", "--threads", "3"])
    assert result.exit_code == 0, result.output
    assert app_script.main(["--threads", "2", "--port", "0"]) == 0
    assert [call["threads"] for call in calls] == [3, 2]
    refused = CliRunner().invoke(main, ["serve", "--threads", "0"])
    assert refused.exit_code == 2 and "--threads" in refused.output


def test_serve_preloads_the_tokenizer_and_dictionary_before_it_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole tokenizer and dictionary are loaded before the first request, not on its path."""
    import uvicorn

    searcher = FakeSearcher()
    events: list[str] = []
    searcher.warm_up = lambda: events.append("warm_up")  # type: ignore[attr-defined]
    searcher.preload = lambda: events.append("preload")  # type: ignore[attr-defined]
    monkeypatch.setenv("RETRIEVER_THREADS", "")
    monkeypatch.setattr(api, "open_searcher", lambda *_a, **_k: searcher)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: events.append("run"))
    api.serve(host="127.0.0.1", port=0, index_dir=Path("unused"))
    assert events == ["warm_up", "preload", "run"]


def test_preload_loads_the_whole_dictionary_and_the_models_tokenizer(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from retriever.search import open_searcher
    from retriever.segment import Segmenter, _Frequencies

    from .conftest import SEEDS, FakeEmbedder

    class TokenizingEmbedder(FakeEmbedder):
        loaded = 0

        def load_tokenizer(self) -> None:
            self.loaded += 1

    monkeypatch.setenv("RETRIEVER_CACHE_DIR", str(tmp_path / "cache"))
    embedder = TokenizingEmbedder()
    searcher = open_searcher(tmp_path / "index", seeds_dir=SEEDS, embedder=embedder, build_if_missing=True)
    searcher.segmenter = Segmenter(searcher.segmenter.user_words)  # the dictionary table exists now: read from it
    assert isinstance(searcher.segmenter._tokenizer.FREQ, _Frequencies)
    tokens = searcher.segmenter.tokens("网吧的安全检查归哪个部门？")
    searcher.preload()
    assert embedder.loaded == 1
    assert not isinstance(searcher.segmenter._tokenizer.FREQ, _Frequencies)
    assert searcher.segmenter.tokens("网吧的安全检查归哪个部门？") == tokens
    searcher.embedder = FakeEmbedder()  # an embedder without a tokenizer to load: nothing to do for it
    searcher.preload()


@pytest.mark.parametrize(("limit", "in_worker_thread"), [(api.SEARCH_ON_LOOP_MAX_CLAUSES, False), (2, True)])
def test_search_runs_on_the_event_loop_unless_the_library_is_large(monkeypatch: pytest.MonkeyPatch, limit: int,
                                                                   in_worker_thread: bool) -> None:
    """Up to SEARCH_ON_LOOP_MAX_CLAUSES clauses /v1/search awaits search_async; above, a worker thread searches."""
    import threading

    searcher = FakeSearcher()  # 3 clauses
    threads: list[str] = []
    search = searcher.search

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return search(*args, **kwargs)

    searcher.search = recorded  # type: ignore[method-assign]
    monkeypatch.setattr(api, "SEARCH_ON_LOOP_MAX_CLAUSES", limit)
    with TestClient(create_app(searcher, mount_ui=False)) as client:  # type: ignore[arg-type]
        response = client.post("/v1/search", json={"query": WANGBA, "k": 3, "mode": "dense"})
    assert response.status_code == 200 and response.json()["hits"][0]["id"] == "a#1.1"
    assert searcher.calls == [(WANGBA, 3, None, "dense")]
    assert [name.startswith("AnyIO worker") for name in threads] == [in_worker_thread]
