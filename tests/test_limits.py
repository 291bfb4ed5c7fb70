"""Bounded work and one gate for every route: token budgets, lanes, slots (503), rate limits (429),
the UI behind the key, uploads and oversized or slow bodies refused, JSON 405, CORS, quoted input.

Fast tests use the fake searcher of ``test_api``; the servers are uvicorn on loopback. Nothing
here asserts a duration: concurrency is shown by order (a request answered while another is
still held), and the loops are bounded.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from retriever.api import MAX_INPUT_TOKENS, MAX_REQUEST_TOKENS, UI_COOKIE, ApiSettings, create_app
from retriever.embed import Coalescer
from retriever.records import Answer

from .test_api import FakeSearcher, assert_error, running_server

KEY = "limits-key"


class BlockingSearcher(FakeSearcher):
    """Its searches wait until ``release`` is set (bounded), counting how many are inside."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.inside = 0
        self._lock = threading.Lock()

    def search(self, query: str, k: int = 10, *, department: str | None = None, mode: str = "full",
               **filters: Any) -> Answer:
        with self._lock:
            self.inside += 1
        try:
            self.release.wait(timeout=60)
            return super().search(query, k, department=department, mode=mode)
        finally:
            with self._lock:
                self.inside -= 1

    async def search_async(self, query: str, k: int = 10, *, department: str | None = None, mode: str = "full",
                           **filters: Any) -> Answer:
        """As the real one: the loop serves others while this search waits (for ``release``, as for the model)."""
        with self._lock:
            self.inside += 1
        try:
            deadline = time.monotonic() + 60
            while not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return FakeSearcher.search(self, query, k, department=department, mode=mode)
        finally:
            with self._lock:
                self.inside -= 1


def wait_until(condition: Any, what: str, attempts: int = 600) -> None:
    """Poll ``condition`` (bounded: ``attempts`` × 50 ms)."""
    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def fake() -> FakeSearcher:
    return FakeSearcher()


@pytest.fixture(scope="module")
def open_ui() -> Iterator[TestClient]:
    """API + Gradio UI without a key (TestClient, no redirects followed)."""
    app = create_app(FakeSearcher(), mount_ui=True)  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


def raw_request(url: str, data: bytes, *, read_timeout: float = 30) -> bytes:
    """Send raw bytes to the server at ``url`` and return what it answers (until it closes or 64 KiB)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        sock.sendall(data)
        answer = b""
        try:
            while len(answer) < 65536:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
                if b"\r\n\r\n" in answer and b'"error"' in answer:
                    break
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


# ----------------------------------------------------------------------- lanes


def test_bulk_encodes_are_split_and_queries_go_first() -> None:
    """A query submitted while a bulk piece runs is encoded next, before the rest of the bulk request."""
    passes: list[list[str]] = []
    first_piece_running = threading.Event()
    let_go = threading.Event()

    def encode(texts: list[str]) -> np.ndarray:
        passes.append(list(texts))
        if len(passes) == 1:
            first_piece_running.set()
            assert let_go.wait(timeout=30)
        return np.ones((len(texts), 2), dtype=np.float32)

    coalescer = Coalescer(encode, max_batch=32, bulk_chars=512)
    bulk_texts = [f"长文{i}" + "安" * 500 for i in range(6)]
    results: dict[str, np.ndarray] = {}

    def run_bulk() -> None:
        with Coalescer.bulk():
            results["bulk"] = coalescer.encode(bulk_texts)

    bulk = threading.Thread(target=run_bulk)
    bulk.start()
    assert first_piece_running.wait(timeout=30)
    query = threading.Thread(target=lambda: results.setdefault("query", coalescer.encode(["网吧归谁管"])))
    query.start()
    wait_until(lambda: coalescer._pending, "the query is queued")
    let_go.set()
    bulk.join(timeout=30)
    query.join(timeout=30)
    assert results["bulk"].shape == (6, 2) and results["query"].shape == (1, 2)
    assert passes[0] == bulk_texts[:1]  # each ~500-character text is a piece of its own
    assert passes[1] == ["网吧归谁管"]  # the query jumped the remaining five pieces
    assert passes[2:] == [[text] for text in bulk_texts[1:]]


def test_small_bulk_texts_share_pieces_and_keep_order() -> None:
    seen: list[int] = []

    def encode(texts: list[str]) -> np.ndarray:
        seen.append(len(texts))
        return np.array([[float(t)] for t in texts], dtype=np.float32)

    coalescer = Coalescer(encode, max_batch=4, bulk_chars=512)
    with Coalescer.bulk():
        out = coalescer.encode([str(i) for i in range(10)])
    assert out[:, 0].tolist() == [float(i) for i in range(10)]
    assert seen == [4, 4, 2]  # max_batch texts per piece
    assert coalescer.encode(["7"])[0, 0] == 7.0  # outside the context: the interactive lane


# ------------------------------------------------------------- token budget


class TokenFakeSearcher(FakeSearcher):
    """count_tokens as the real model would: one token per character, truncated at 512."""

    def __init__(self) -> None:
        super().__init__()
        self.embedder.count_tokens = lambda texts: [min(len(t), MAX_INPUT_TOKENS) for t in texts]  # type: ignore[method-assign]


def test_embedding_token_budget_is_a_413_with_the_limit() -> None:
    searcher = TokenFakeSearcher()
    with TestClient(create_app(searcher, mount_ui=False)) as client:  # type: ignore[arg-type]
        per_request = MAX_REQUEST_TOKENS // MAX_INPUT_TOKENS  # texts that each cost the full 512
        fits = client.post("/v1/embeddings", json={"input": ["安" * 2000] * per_request, "model": "fake-8"})
        assert fits.status_code == 200, fits.text
        assert fits.json()["usage"]["total_tokens"] == per_request * MAX_INPUT_TOKENS
        too_many = client.post("/v1/embeddings", json={"input": ["安" * 2000] * (per_request + 1), "model": "fake-8"})
        error = assert_error(too_many, 413, str(MAX_REQUEST_TOKENS), str(MAX_INPUT_TOKENS))
        assert error["code"] == "too_many_tokens"
        # Short texts are cheap: the full batch of 64 fits.
        assert client.post("/v1/embeddings", json={"input": ["网吧"] * 64, "model": "fake-8"}).status_code == 200


# ------------------------------------------------------------- slots and rate


def test_healthz_answers_while_every_worker_thread_is_busy() -> None:
    """45 searches at once (more than the server's 40 worker threads); /healthz and /v1/departments still answer."""
    searcher = BlockingSearcher()
    settings = ApiSettings(max_concurrent=100, max_queued=100)
    with running_server(create_app(searcher, settings=settings, mount_ui=False)) as url:  # type: ignore[arg-type]
        statuses: list[int] = []

        def search() -> None:
            with httpx.Client(base_url=url, timeout=90) as http:
                statuses.append(http.post("/v1/search", json={"query": "q"}).status_code)

        threads = [threading.Thread(target=search) for _ in range(45)]
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: searcher.inside >= 40, "40 searches inside the engine")
            with httpx.Client(base_url=url, timeout=20) as http:
                assert http.get("/healthz").json()["status"] == "ok"
                assert http.get("/v1/departments").json() == {"departments": ["甲厅"]}
            assert searcher.inside >= 40 and not statuses  # answered while the pool was full
        finally:
            searcher.release.set()
            for thread in threads:
                thread.join(timeout=60)
        assert statuses == [200] * 45


def test_a_full_queue_is_a_fast_503_with_retry_after() -> None:
    searcher = BlockingSearcher()
    settings = ApiSettings(max_concurrent=2, max_queued=2, queue_timeout_s=60)
    app = create_app(searcher, settings=settings, mount_ui=False)  # type: ignore[arg-type]
    with running_server(app) as url:
        statuses: list[int] = []

        def search() -> None:
            with httpx.Client(base_url=url, timeout=90) as http:
                statuses.append(http.post("/v1/search", json={"query": "q"}).status_code)

        threads = [threading.Thread(target=search) for _ in range(4)]  # 2 at work, 2 waiting
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: searcher.inside == 2, "two searches at work")
            wait_until(lambda: app.state.work_slots.waiting == 2, "two searches waiting for a slot")
            with httpx.Client(base_url=url, timeout=20) as http:
                busy = http.post("/v1/search", json={"query": "q"})
                error = assert_error(busy, 503, "busy")
                assert busy.headers["retry-after"] == "2" and error["code"] == "overloaded"
                assert http.get("/healthz").status_code == 200  # not a work route: never refused
            assert not statuses
        finally:
            searcher.release.set()
            for thread in threads:
                thread.join(timeout=60)
        assert sorted(statuses) == [200, 200, 200, 200]


def test_waiting_too_long_for_a_slot_is_a_503() -> None:
    searcher = BlockingSearcher()
    settings = ApiSettings(max_concurrent=1, max_queued=5, queue_timeout_s=0.2)
    with running_server(create_app(searcher, settings=settings, mount_ui=False)) as url:  # type: ignore[arg-type]
        holder = threading.Thread(target=lambda: httpx.post(f"{url}/v1/search", json={"query": "q"}, timeout=90))
        holder.start()
        try:
            wait_until(lambda: searcher.inside == 1, "one search at work")
            response = httpx.post(f"{url}/v1/search", json={"query": "q"}, timeout=30)
            assert_error(response, 503)
            assert response.headers["retry-after"]
        finally:
            searcher.release.set()
            holder.join(timeout=60)


def test_rate_limit_is_off_by_default_and_a_429_with_retry_after_when_set(fake: FakeSearcher) -> None:
    with TestClient(create_app(fake, mount_ui=False)) as client:  # type: ignore[arg-type]
        assert all(client.get("/v1/departments").status_code == 200 for _ in range(60))
    settings = ApiSettings(rate_limit_per_minute=60, rate_burst=3)
    with TestClient(create_app(fake, settings=settings, mount_ui=False)) as client:  # type: ignore[arg-type]
        statuses = [client.get("/v1/departments").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = client.post("/v1/search", json={"query": "q"})
        error = assert_error(limited, 429, "60 a minute")
        assert error["type"] == "rate_limit_error"
        assert 1 <= int(limited.headers["retry-after"]) <= 2
        assert client.get("/healthz").status_code == 200  # liveness is never rate limited


def test_settings_from_env() -> None:
    settings = ApiSettings.from_env({"RETRIEVER_API_KEY": "k", "RETRIEVER_RATE_LIMIT": "120",
                                     "RETRIEVER_CORS_ORIGINS": "https://a.example, https://b.example/",
                                     "RETRIEVER_MAX_CONCURRENT": "4"})
    assert settings.api_key == "k" and settings.rate_limit_per_minute == 120 and settings.max_concurrent == 4
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert ApiSettings.from_env({}) == ApiSettings()
    with pytest.raises(ValueError, match="RETRIEVER_MAX_CONCURRENT"):
        ApiSettings.from_env({"RETRIEVER_MAX_CONCURRENT": "lots"})
    with pytest.raises(ValueError, match="at least 1"):
        ApiSettings.from_env({"RETRIEVER_MAX_CONCURRENT": "0"})


# ------------------------------------------------------------ the UI's gate


@pytest.fixture(scope="module")
def ui_server() -> Iterator[str]:
    """API + Gradio UI with a key, on a real loopback server."""
    app = create_app(FakeSearcher(), api_key=KEY, mount_ui=True)  # type: ignore[arg-type]
    with running_server(app) as url:
        yield url


def test_every_ui_route_needs_the_key(ui_server: str) -> None:
    with httpx.Client(base_url=ui_server, timeout=30) as http:
        page = http.get("/")
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert "password" in http.get("/login").text
        for method, path, body in [
            ("POST", "/gradio_api/run/predict", {"data": ["网吧归谁管", None], "fn_index": 1}),
            ("POST", "/gradio_api/run/run_search", {"data": ["网吧归谁管", None]}),
            ("POST", "/gradio_api/queue/join", {"data": ["网吧归谁管", None], "fn_index": 0, "session_hash": "x"}),
            ("POST", "/gradio_api/call/run_search", {"data": ["网吧归谁管", None]}),
            ("GET", "/gradio_api/queue/data?session_hash=x", None),
            ("GET", "/gradio_api/info", None),
            ("GET", "/config", None),
            ("GET", "/theme.css", None),
        ]:
            response = http.request(method, path, json=body)
            assert_error(response, 401, "/login")
            assert "网吧" not in response.text
        # Open without a key, and why: liveness for probes, the API description, the login form.
        assert http.get("/healthz").status_code == 200
        assert http.get("/openapi.json").status_code == 200


def test_login_sets_a_cookie_that_opens_the_ui(ui_server: str) -> None:
    with httpx.Client(base_url=ui_server, timeout=30) as http:
        wrong = http.post("/login", data={"key": "nope"})
        assert wrong.status_code == 401 and UI_COOKIE not in http.cookies
        right = http.post("/login", data={"key": KEY})
        assert right.status_code == 303
        assert "httponly" in right.headers["set-cookie"].lower()
        assert "samesite=strict" in right.headers["set-cookie"].lower()
        assert KEY not in right.headers["set-cookie"]  # the cookie is an HMAC, not the key
        assert http.get("/").status_code == 200
        assert http.get("/config").json()["title"] == "安全生产职责检索"
        # An unknown function is a JSON 400, not Gradio's plain-text 500.
        unknown = http.post("/gradio_api/queue/join", json={"data": [], "fn_index": 99, "session_hash": "s"})
        assert assert_error(unknown, 400, "fn_index")["code"] == "unknown_function"
        assert_error(http.post("/gradio_api/queue/join", json={"data": [], "fn_index": "0"}), 400, "fn_index")
        # The key in a header also opens the UI's routes (scripts); the cookie does not open /v1.
        assert http.get("/v1/departments").status_code == 401
        http.cookies.clear()
        assert http.get("/config", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert http.get("/logout").status_code == 303


def test_uploads_are_refused(ui_server: str) -> None:
    with httpx.Client(base_url=ui_server, timeout=30, headers={"Authorization": f"Bearer {KEY}"}) as http:
        response = http.post("/gradio_api/upload", files={"files": ("a.txt", b"x" * 1000, "text/plain")})
        assert assert_error(response, 403, "Uploads are disabled")["code"] == "uploads_disabled"
    with httpx.Client(base_url=ui_server, timeout=30) as anonymous:
        assert_error(anonymous.post("/gradio_api/upload", content=b"x"), 401)


def test_uploads_are_refused_without_a_key(open_ui: TestClient) -> None:
    assert_error(open_ui.post("/gradio_api/upload", files={"files": ("a.txt", b"x", "text/plain")}), 403)
    assert open_ui.get("/").status_code == 200  # no key: the UI is open
    assert open_ui.get("/login").status_code == 303


@pytest.mark.parametrize("path", ["/gradio_api/queue/join", "/gradio_api/upload", "/v1/search", "/"])
def test_a_300_mb_body_is_refused_before_it_is_read(ui_server: str, path: str) -> None:
    """Content-Length of 300 MB with 1 KB sent: the answer comes without the rest being sent."""
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {300 * 1024 * 1024}\r\n\r\n").encode()
    answer = raw_request(ui_server, head + b"{" + b" " * 1023)
    if path == "/gradio_api/upload":  # refused as an upload, before its size is even looked at
        assert answer.startswith(b"HTTP/1.1 403") and b"uploads_disabled" in answer, answer[:200]
        return
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"request_too_large" in answer


def test_a_streamed_oversized_body_is_cut_off(ui_server: str) -> None:
    """Chunked, no Content-Length: refused once it passes the limit (the client stops after 3 MB)."""

    def chunks() -> Iterator[bytes]:
        for _ in range(30):
            yield b" " * 100_000

    with httpx.Client(base_url=ui_server, timeout=30, headers={"Authorization": f"Bearer {KEY}"}) as http:
        for path in ("/gradio_api/queue/join", "/v1/embeddings"):
            try:
                response = http.post(path, content=chunks(), headers={"content-type": "application/json"})
            except httpx.HTTPError:  # the server may close while the client still sends: also refused
                continue
            assert_error(response, 413, "too large")


def test_a_slow_body_is_timed_out(fake: FakeSearcher) -> None:
    settings = ApiSettings(body_timeout_s=0.5)
    with running_server(create_app(fake, settings=settings, mount_ui=False)) as url:  # type: ignore[arg-type]
        head = b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        answer = raw_request(url, head + b'{"query": ')  # and then nothing more
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"request_timeout" in answer


# --------------------------------------------------------- contract details


@pytest.mark.parametrize("path", ["/", "/healthz", "/v1/search", "/gradio_api/queue/join", "/nope"])
def test_trace_and_other_methods_are_a_json_405(open_ui: TestClient, path: str) -> None:
    for method in ("TRACE", "CONNECT", "PROPFIND"):
        response = open_ui.request(method, path)
        assert_error(response, 405, method)
        assert response.headers["allow"]


def test_every_method_on_every_route_is_answered_or_a_json_error(open_ui: TestClient) -> None:
    paths = ["/", "/healthz", "/login", "/logout", "/docs", "/openapi.json", "/config", "/gradio_api/queue/join",
             "/v1/search", "/v1/departments", "/v1/clauses/a%231.1", "/nope"]
    for path in paths:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "TRACE"):
            response = open_ui.request(method, path)
            assert response.status_code < 500, (method, path, response.text[:200])
            if response.status_code >= 400:
                assert response.headers["content-type"].startswith("application/json"), (method, path)
                assert set(response.json()["error"]) >= {"message", "type", "code"}, (method, path)
    assert_error(open_ui.delete("/healthz"), 405, "GET, HEAD")
    assert_error(open_ui.put("/"), 405)


def test_ui_errors_are_json(open_ui: TestClient) -> None:
    for response in (open_ui.get("/gradio_api/nope"), open_ui.post("/gradio_api/queue/join", content=b"{")):
        assert response.status_code in (400, 404, 405, 422), response.text
        assert response.json()["error"]["message"]


def test_cors_is_off_by_default_and_an_allow_list_when_set(open_ui: TestClient, fake: FakeSearcher) -> None:
    origin = {"Origin": "http://localhost:3000"}
    for path in ("/", "/config", "/v1/departments", "/healthz"):
        headers = open_ui.get(path, headers=origin).headers
        assert not [h for h in headers if h.lower().startswith("access-control-")], (path, headers)
    settings = ApiSettings(cors_origins=("https://app.example",))
    with TestClient(create_app(fake, settings=settings, mount_ui=False)) as client:  # type: ignore[arg-type]
        ok = client.get("/v1/departments", headers={"Origin": "https://app.example"})
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-credentials" not in ok.headers
        other = client.get("/v1/departments", headers=origin)
        assert "access-control-allow-origin" not in other.headers
        preflight = client.options("/v1/search", headers={"Origin": "https://app.example",
                                                          "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204 and "Authorization" in preflight.headers["access-control-allow-headers"]


def test_user_input_in_errors_is_cut_to_100_characters(fake: FakeSearcher) -> None:
    huge = "部" * 300_000
    with TestClient(create_app(fake, mount_ui=False)) as client:  # type: ignore[arg-type]
        responses = [
            client.post("/v1/search", json={"query": "q", "department": huge}),
            client.post("/v1/embeddings", json={"input": "a", "model": huge}),
            client.get("/v1/clauses/" + "x" * 5000),
            client.get("/v1/" + "y" * 5000),
            client.post("/v1/search", content=json.dumps({"query": "q", "z" * 5000: 1}).encode()),
        ]
        for response in responses:
            assert 400 <= response.status_code < 500
            message = response.json()["error"]["message"]
            assert len(message) < 400, message[:200]
        assert "300000 characters" in responses[0].json()["error"]["message"]


def test_openapi_lists_the_real_status_codes_and_constraints(fake: FakeSearcher) -> None:
    with TestClient(create_app(fake, mount_ui=False)) as client:  # type: ignore[arg-type]
        schema = client.get("/openapi.json").json()
    text = json.dumps(schema)
    assert '"422"' not in text and "HTTPValidationError" not in text
    search = schema["paths"]["/v1/search"]["post"]["responses"]
    assert {"200", "400", "401", "413", "429", "503"} <= set(search)
    assert "404" in schema["paths"]["/v1/clauses/{clause_id}"]["get"]["responses"]
    query = schema["components"]["schemas"]["SearchRequest"]["properties"]["query"]
    assert query["minLength"] == 1 and query["maxLength"] > 1
    embedding_input = schema["components"]["schemas"]["EmbeddingRequest"]["properties"]["input"]
    assert embedding_input["anyOf"][1]["maxItems"] == 64


# ------------------------------------------------------ the real model (slow)


@pytest.mark.slow
@pytest.mark.e2e
def test_a_search_is_answered_while_the_largest_embeddings_request_runs(real_searcher: Any) -> None:
    """16 inputs × 512 tokens (the request budget) run in pieces; a search sent meanwhile comes back first."""
    model_id = real_searcher.embedder.model_id
    per_request = MAX_REQUEST_TOKENS // MAX_INPUT_TOKENS
    texts = [f"第{i}条 " + "生产经营单位应当建立健全安全生产责任制。" * 60 for i in range(per_request)]
    done: dict[str, float] = {}
    with running_server(create_app(real_searcher, mount_ui=False)) as url:

        def embed() -> None:
            response = httpx.post(f"{url}/v1/embeddings", json={"input": texts, "model": model_id}, timeout=600)
            assert response.status_code == 200, response.text
            assert response.json()["usage"]["total_tokens"] == per_request * MAX_INPUT_TOKENS
            done["embeddings"] = time.monotonic()

        bulk = threading.Thread(target=embed)
        bulk.start()
        time.sleep(0.5)  # the embeddings request is under way (the order below is what is asserted)
        started = time.monotonic()
        search = httpx.post(f"{url}/v1/search", json={"query": "网吧的安全检查归哪个部门？"}, timeout=600)
        done["search"] = time.monotonic()
        bulk.join(timeout=600)
    assert search.status_code == 200
    assert done["search"] < done["embeddings"], "the search waited for the whole embeddings request"
    print(f"search answered in {done['search'] - started:.2f} s while embeddings ran "
          f"(embeddings finished {done['embeddings'] - done['search']:.2f} s later)")


def test_malloc_arena_cap_setting() -> None:
    from retriever.api import DEFAULT_MALLOC_ARENAS, limit_malloc_arenas

    assert limit_malloc_arenas({"RETRIEVER_MALLOC_ARENAS": "0"}) == 0
    assert limit_malloc_arenas({"MALLOC_ARENA_MAX": "4"}) == 0  # glibc applies it itself
    with pytest.raises(ValueError, match="RETRIEVER_MALLOC_ARENAS"):
        limit_malloc_arenas({"RETRIEVER_MALLOC_ARENAS": "two"})
    import platform

    if platform.libc_ver()[0] == "glibc":
        assert limit_malloc_arenas({}) == DEFAULT_MALLOC_ARENAS


@pytest.mark.e2e
def test_the_ui_works_in_a_browser_after_logging_in(real_searcher: Any) -> None:
    """Behind the key, the page's own calls pass with the login cookie (real engine, real browser)."""
    from pathlib import Path

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("/usr/bin/chromium is absent (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import expect, sync_playwright

    with running_server(create_app(real_searcher, api_key=KEY, mount_ui=True)) as ui_server, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium),
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(locale="zh-CN")
            page.goto(ui_server + "/", wait_until="domcontentloaded")
            assert page.url.endswith("/login")
            page.fill("#key", "wrong")
            page.click("button[type=submit]")
            expect(page.get_by_text("Wrong key")).to_be_visible()
            page.fill("#key", KEY)
            page.click("button[type=submit]")
            query = page.locator("#dr-query")
            expect(query).to_be_visible(timeout=60_000)
            query.fill("网吧的安全检查归哪个部门？")
            page.locator("#dr-submit").click()
            expect(page.locator("#dr-result")).to_contain_text("自治区文化和旅游厅", timeout=60_000)
        finally:
            browser.close()
