"""The HTTP API: every route over the real engine, auth, every kind of bad input, limits,
and the OpenAI Python client against a real uvicorn server on loopback."""

from __future__ import annotations

import base64
import json
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from retriever.api import (
    MAX_BODY_BYTES,
    MAX_EMBED_BATCH,
    MAX_EMBED_INPUT_CHARS,
    MAX_SEARCH_K,
    create_app,
)
from retriever.errors import QueryError
from retriever.present import answer_to_dict
from retriever.records import Answer, Clause, DepartmentAnswer, Document, Hit
from retriever.search import MAX_QUERY_CHARS, Searcher

WANGBA = "网吧的安全检查归哪个部门？"
#: Questions no clause answers; tests take the first the engine calls out of scope, so that
#: they check how the API reports it, not where the engine's threshold sits today.
OUT_OF_SCOPE_CANDIDATES = ("如何做红烧肉？", "推荐一部好看的电影", "今天乌鲁木齐的天气怎么样？", "hello world",
                           "the quick brown fox jumps over the lazy dog")
CULTURE = "自治区文化和旅游厅"
KEY = "s3cret-key"


# ----------------------------------------------------------------------- helpers


def assert_error(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    """The response is ``status`` with an OpenAI-style JSON error mentioning every fragment."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    error = body["error"]
    assert set(error) >= {"message", "type", "code"}
    assert isinstance(error["message"], str) and error["message"]
    for fragment in fragments:
        assert fragment.lower() in error["message"].lower(), error["message"]
    return error


def post_json(client: TestClient, path: str, payload: Any) -> Any:
    """POST ``payload`` as ASCII-escaped JSON, so that even lone surrogates reach the server."""
    return client.post(path, content=json.dumps(payload).encode(), headers={"content-type": "application/json"})


@contextmanager
def running_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def client(real_searcher: Searcher) -> Iterator[TestClient]:
    """The API alone (no UI), real engine; server errors come back as responses."""
    with TestClient(create_app(real_searcher, mount_ui=False), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def full_client(real_searcher: Searcher) -> Iterator[TestClient]:
    """The production shape: API + Gradio UI mounted at /, with an API key."""
    app = create_app(real_searcher, api_key=KEY, mount_ui=True)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


# ------------------------------------------------------------------ happy paths


@pytest.mark.slow
def test_healthz(client: TestClient, real_searcher: Searcher) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["model"] == {"id": real_searcher.embedder.model_id, "dimension": 384}
    assert body["clauses"] == len(real_searcher.clauses) > 100
    assert body["manifest"]["model"]["id"] == real_searcher.embedder.model_id
    assert body["departments"] == len(real_searcher.departments())


@pytest.mark.slow
def test_departments_and_models(client: TestClient, real_searcher: Searcher) -> None:
    departments = client.get("/v1/departments").json()["departments"]
    assert departments == real_searcher.departments()
    assert CULTURE in departments
    models = client.get("/v1/models").json()
    assert models["object"] == "list"
    assert models["data"][0]["id"] == real_searcher.embedder.model_id
    assert models["data"][0]["dimension"] == 384


@pytest.mark.slow
def test_search_answers_with_department_and_citation(client: TestClient, real_searcher: Searcher) -> None:
    response = client.post("/v1/search", json={"query": WANGBA})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == json.loads(json.dumps(answer_to_dict(real_searcher.search(WANGBA, 10))))
    assert body["in_scope"] is True
    assert body["departments"][0]["department"] == CULTURE
    assert "30.6" in body["departments"][0]["clauses"]
    assert any(hit["citation"] == "第三十条第（六）项" for hit in body["hits"])
    assert 1 <= len(body["hits"]) <= 10
    assert [hit["rank"] for hit in body["hits"]] == list(range(1, len(body["hits"]) + 1))


@pytest.mark.slow
def test_search_k_department_and_mode(client: TestClient) -> None:
    body = client.post("/v1/search", json={"query": "电动车充电归哪个部门管？", "k": 3}).json()
    assert 1 <= len(body["hits"]) <= 3
    filtered = client.post(
        "/v1/search", json={"query": "安全检查", "k": 5, "department": CULTURE}
    ).json()
    assert filtered["hits"] and all(hit["department"] == CULTURE for hit in filtered["hits"])
    bm25 = client.post("/v1/search", json={"query": "光伏电站安全由谁负责？", "mode": "bm25"})
    assert bm25.status_code == 200
    # An empty department means "no filter", like the UI's 全部.
    assert client.post("/v1/search", json={"query": WANGBA, "department": None}).status_code == 200
    citation = client.post("/v1/search", json={"query": "第三十三条第五项"}).json()
    assert citation["route"] == "citation" and citation["hits"][0]["id"] == "33.5"


@pytest.mark.slow
def test_search_out_of_scope(client: TestClient) -> None:
    bodies = [client.post("/v1/search", json={"query": q}).json() for q in OUT_OF_SCOPE_CANDIDATES]
    out = [body for body in bodies if body["in_scope"] is False]
    assert out, "the engine called every out-of-scope candidate in scope"
    body = out[0]
    assert body["departments"] == []
    assert body["hits"] and all(hit["nearest_only"] for hit in body["hits"])


@pytest.mark.slow
def test_clause_lookup(client: TestClient, real_searcher: Searcher) -> None:
    body = client.get("/v1/clauses/30.6").json()
    assert body["id"] == "30.6"
    assert body["citation"] == "第三十条第（六）项"
    assert body["department"] == CULTURE
    assert body["article_clause_ids"] == [c.id for c in real_searcher.article("30.6")]
    assert "30.6" in body["article_clause_ids"] and len(body["article_clause_ids"]) > 1
    whole = client.get("/v1/clauses/59").json()
    assert whole["item"] is None and whole["article_clause_ids"] == ["59"]


@pytest.mark.slow
def test_clause_unknown_and_hostile_ids(client: TestClient) -> None:
    for path in [
        "/v1/clauses/99.99",
        "/v1/clauses/..%2F..%2Fetc%2Fpasswd",
        "/v1/clauses/%2Fetc%2Fpasswd",
        "/v1/clauses/30.6%00",
        "/v1/clauses/" + "9" * 5000,
        "/v1/clauses/%23",
    ]:
        error = assert_error(client.get(path), 404)
        assert error["type"] == "not_found_error"


@pytest.mark.slow
def test_embeddings_float_and_base64_agree(client: TestClient, real_searcher: Searcher) -> None:
    model = real_searcher.embedder.model_id
    texts = ["网吧安全检查", "光伏电站"]
    floats = client.post("/v1/embeddings", json={"input": texts, "model": model}).json()
    assert floats["object"] == "list" and floats["model"] == model
    assert [item["index"] for item in floats["data"]] == [0, 1]
    assert all(item["object"] == "embedding" for item in floats["data"])
    vectors = np.array([item["embedding"] for item in floats["data"]], dtype=np.float32)
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert floats["usage"]["prompt_tokens"] == floats["usage"]["total_tokens"] > 0
    # The server applies the e5 "query: " prefix itself: same vectors as the engine's queries.
    assert np.allclose(vectors, real_searcher.embedder.encode_queries(texts), atol=1e-5)

    b64 = client.post(
        "/v1/embeddings", json={"input": texts, "model": model, "encoding_format": "base64"}
    ).json()
    decoded = np.array(
        [np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4") for item in b64["data"]]
    )
    assert decoded.shape == (2, 384)
    assert np.array_equal(decoded, vectors)


@pytest.mark.slow
def test_embeddings_single_string_alias_and_passage(client: TestClient, real_searcher: Searcher) -> None:
    model_id = real_searcher.embedder.model_id
    alias = model_id.rsplit("/", 1)[-1].upper()
    one = client.post("/v1/embeddings", json={"input": "网吧", "model": alias, "user": "u1"}).json()
    assert len(one["data"]) == 1 and len(one["data"][0]["embedding"]) == 384
    assert one["model"] == model_id
    passage = client.post(
        "/v1/embeddings", json={"input": "网吧", "model": model_id, "input_type": "passage"}
    ).json()
    as_query = np.array(one["data"][0]["embedding"])
    as_passage = np.array(passage["data"][0]["embedding"])
    assert not np.allclose(as_query, as_passage)
    assert np.allclose(as_passage, real_searcher.embedder.encode_clauses(["网吧"])[0], atol=1e-5)
    full_batch = client.post(
        "/v1/embeddings", json={"input": ["安全"] * MAX_EMBED_BATCH, "model": model_id, "dimensions": 384}
    )
    assert full_batch.status_code == 200 and len(full_batch.json()["data"]) == MAX_EMBED_BATCH


# ----------------------------------------------------------------- bad requests

BAD_SEARCHES: list[tuple[Any, str]] = [
    ({"query": ""}, "empty"),
    ({"query": "   \n "}, "empty"),
    ({"query": "安" * (MAX_QUERY_CHARS + 1)}, f"at most {MAX_QUERY_CHARS}"),
    ({"query": "安" * 100_000}, f"at most {MAX_QUERY_CHARS}"),
    ({"query": "网吧\x00检查"}, "control characters"),
    ({"query": "\x1b[31m网吧"}, "control characters"),
    ({"query": "\ud800网吧"}, "surrogate"),
    ({"query": "？？！！"}, "no words"),
    ({"query": 123}, "query"),
    ({"query": None}, "query"),
    ({"query": ["网吧"]}, "query"),
    ({}, "query"),
    ({"query": WANGBA, "k": 0}, "k"),
    ({"query": WANGBA, "k": MAX_SEARCH_K + 1}, "k"),
    ({"query": WANGBA, "k": "5"}, "k"),
    ({"query": WANGBA, "k": 2.5}, "k"),
    ({"query": WANGBA, "k": True}, "k"),
    ({"query": WANGBA, "department": "不存在的部门"}, "unknown department"),
    ({"query": WANGBA, "department": 7}, "department"),
    ({"query": WANGBA, "mode": "magic"}, "mode"),
    ({"query": WANGBA, "top_k": 3}, "top_k"),
    (["网吧"], "JSON object"),
    ("网吧", "JSON object"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("payload", "fragment"), BAD_SEARCHES)
def test_bad_search_requests(client: TestClient, payload: Any, fragment: str) -> None:
    error = assert_error(post_json(client, "/v1/search", payload), 400, fragment)
    assert error["type"] == "invalid_request_error"


@pytest.mark.slow
def test_malformed_bodies(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    error = assert_error(client.post("/v1/search", content=b'{"query": "x",', headers=headers), 400, "Malformed JSON")
    assert error["code"] == "invalid_json"
    assert_error(client.post("/v1/search", content=b"\xff\xfe\x00binary", headers=headers), 400)
    assert_error(client.post("/v1/search", content=b"", headers=headers), 400, "body is empty")
    assert_error(client.post("/v1/search", content=b"null", headers=headers), 400)
    assert_error(client.post("/v1/embeddings", content=b"[1, 2", headers=headers), 400, "Malformed JSON")
    # Form-encoded or plain text is not JSON: a clear 400, not a crash.
    assert_error(client.post("/v1/search", data={"query": WANGBA}), 400, "JSON object")
    assert_error(
        client.post("/v1/search", content=b"query=x", headers={"content-type": "text/plain"}), 400, "JSON object"
    )
    # Without a content type the body is still read as JSON (curl --data-binary users).
    ok = client.post("/v1/search", content=json.dumps({"query": WANGBA}).encode())
    assert ok.status_code == 200


@pytest.mark.slow
def test_oversized_bodies_are_refused(client: TestClient) -> None:
    big = json.dumps({"query": "安" * (MAX_BODY_BYTES // 2)}).encode()
    assert len(big) > MAX_BODY_BYTES
    error = assert_error(
        client.post("/v1/search", content=big, headers={"content-type": "application/json"}), 413, "too large"
    )
    assert error["code"] == "request_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"input": "'
        for _ in range(40):
            yield b"a" * 50_000
        yield b'", "model": "x"}'

    assert_error(
        client.post("/v1/embeddings", content=chunks(), headers={"content-type": "application/json"}),
        413,
        "too large",
    )
    assert_error(
        client.post("/v1/search", content=b"{}", headers={"content-type": "application/json", "content-length": "x"}),
        400,
    )


BAD_EMBEDDINGS: list[tuple[dict[str, Any], str, str]] = [
    ({"input": "网吧", "model": "text-embedding-3-small"}, "Unknown model", "model_not_found"),
    ({"input": "网吧"}, "model", "invalid_request"),
    ({"input": "网吧", "model": "M", "encoding_format": "int8"}, "encoding_format", "invalid_request"),
    ({"input": [[101, 102, 103]], "model": "M"}, "only strings", "invalid_request"),
    ({"input": [101, 102], "model": "M"}, "only strings", "invalid_request"),
    ({"input": ["ok", None], "model": "M"}, "only strings", "invalid_request"),
    ({"input": 42, "model": "M"}, "input", "invalid_request"),
    ({"input": [], "model": "M"}, "empty", "empty_input"),
    ({"input": "", "model": "M"}, "empty", "empty_input"),
    ({"input": ["ok", "  "], "model": "M"}, "input[1] is empty", "empty_input"),
    ({"input": ["x"] * (MAX_EMBED_BATCH + 1), "model": "M"}, "Too many inputs", "too_many_inputs"),
    ({"input": "安" * (MAX_EMBED_INPUT_CHARS + 1), "model": "M"}, f"at most {MAX_EMBED_INPUT_CHARS}", "input_too_long"),
    ({"input": ["ok", "a\x00b"], "model": "M"}, "control characters", "invalid_input"),
    ({"input": "\udfff", "model": "M"}, "surrogate", "invalid_input"),
    ({"input": "网吧", "model": "M", "dimensions": 128}, "dimensions", "invalid_dimensions"),
    ({"input": "网吧", "model": "M", "input_type": "document"}, "input_type", "invalid_request"),
    ({"input": "网吧", "model": 5}, "model", "invalid_request"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("payload", "fragment", "code"), BAD_EMBEDDINGS)
def test_bad_embedding_requests(
    client: TestClient, real_searcher: Searcher, payload: dict[str, Any], fragment: str, code: str
) -> None:
    if payload.get("model") == "M":
        payload = {**payload, "model": real_searcher.embedder.model_id}
    error = assert_error(post_json(client, "/v1/embeddings", payload), 400, fragment)
    assert error["code"] == code
    if code == "model_not_found":
        assert real_searcher.embedder.model_id in error["message"]


@pytest.mark.slow
def test_unknown_routes_and_methods(client: TestClient) -> None:
    error = assert_error(client.get("/v1/nope"), 404)
    assert error["code"] == "route_not_found"
    response = client.get("/v1/search")
    assert_error(response, 405, "POST")
    assert response.headers["allow"] == "POST"
    assert_error(client.delete("/v1/clauses/30.6"), 405, "GET")
    assert_error(client.put("/v1/embeddings", json={}), 405)


@pytest.mark.slow
def test_nothing_a_client_sends_is_a_server_error(client: TestClient, real_searcher: Searcher) -> None:
    """A small fuzz over shapes and types: always a 2xx or 4xx with a JSON body."""
    values: list[Any] = [None, True, 0, -1, 10**30, 1e308, "", "网吧", "\x00", "\ud83d", [], {}, [1], ["网吧"],
                         {"a": 1}, "a" * 3000]
    for field in ("query", "k", "department", "mode", "input", "model", "encoding_format", "input_type"):
        for value in values:
            for path in ("/v1/search", "/v1/embeddings"):
                base: dict[str, Any] = {"query": WANGBA} if path == "/v1/search" else {
                    "input": "网吧", "model": real_searcher.embedder.model_id}
                response = post_json(client, path, {**base, field: value})
                assert response.status_code < 500, (path, field, value, response.text)
                assert response.headers["content-type"].startswith("application/json")


# ------------------------------------------------------------------------- auth


@pytest.mark.slow
def test_auth_required_when_key_set(full_client: TestClient) -> None:
    search = {"query": WANGBA}
    for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"},
                    {"Authorization": KEY}, {"Authorization": "Bearer"}, {"Authorization": f"Bearer {KEY}x"}]:
        response = full_client.post("/v1/search", json=search, headers=headers)
        error = assert_error(response, 401, "API key")
        assert error["type"] == "authentication_error"
        assert response.headers["www-authenticate"] == "Bearer"
    # Auth comes first: an anonymous malformed or oversized request learns nothing more.
    assert_error(full_client.post("/v1/search", content=b"{", headers={"content-type": "application/json"}), 401)
    assert_error(full_client.get("/v1/clauses/30.6"), 401)
    assert_error(full_client.get("/v1/nope"), 401)
    good = {"Authorization": f"Bearer {KEY}"}
    assert full_client.post("/v1/search", json=search, headers=good).status_code == 200
    assert full_client.get("/v1/departments", headers={"authorization": f"bearer {KEY}"}).status_code == 200
    assert full_client.get("/v1/clauses/30.6", headers=good).json()["id"] == "30.6"
    # Health and docs stay open; the UI asks for the key (a login form, see test_limits).
    assert full_client.get("/healthz").status_code == 200
    assert full_client.get("/openapi.json").status_code == 200
    assert full_client.get("/docs").status_code == 200
    assert full_client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert_error(full_client.get("/config"), 401)


@pytest.mark.slow
def test_ui_is_mounted_beside_the_api(full_client: TestClient) -> None:
    assert full_client.post("/login", data={"key": KEY}, follow_redirects=False).status_code == 303
    page = full_client.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    config = full_client.get("/config").json()
    assert config["title"] == "安全生产职责检索"
    # Gradio at / must not swallow unknown /v1 paths: they stay JSON API errors.
    good = {"Authorization": f"Bearer {KEY}"}
    for path in ("/v1", "/v1/", "/v1/nope"):
        assert assert_error(full_client.get(path, headers=good), 404)["code"] == "route_not_found"
    assert_error(full_client.get("/v1/search", headers=good), 405)
    assert full_client.head("/healthz").status_code == 200
    assert "/v1/search" in full_client.get("/openapi.json").json()["paths"]


@pytest.mark.slow
def test_no_auth_when_key_empty(real_searcher: Searcher) -> None:
    with TestClient(create_app(real_searcher, api_key="", mount_ui=False)) as test_client:
        assert test_client.get("/v1/departments").status_code == 200


@pytest.mark.slow
def test_openapi_documents_routes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ["/v1/embeddings", "/v1/search", "/v1/clauses/{clause_id}", "/v1/departments", "/v1/models",
                 "/healthz"]:
        assert path in schema["paths"], path
    request_schema = json.dumps(schema["components"]["schemas"]["EmbeddingRequest"])
    assert "passage: " in request_schema and "input_type" in request_schema


# ------------------------------------------------------ the OpenAI client (real server)


@pytest.mark.slow
@pytest.mark.e2e
def test_openai_client_against_real_server(real_searcher: Searcher) -> None:
    import openai

    model_id = real_searcher.embedder.model_id
    texts = ["网吧的安全检查归哪个部门？", "光伏电站安全由谁负责？", "电动车充电"]
    expected = real_searcher.embedder.encode_queries(texts)
    with running_server(create_app(real_searcher, mount_ui=False)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=60)
        as_float = client.embeddings.create(model=model_id, input=texts, encoding_format="float")
        assert [len(item.embedding) for item in as_float.data] == [384, 384, 384]
        assert np.allclose(np.array([item.embedding for item in as_float.data]), expected, atol=1e-5)
        assert as_float.usage.total_tokens > 0 and as_float.model == model_id
        # The client's default: it asks for base64 itself and decodes it to floats.
        default = client.embeddings.create(model=model_id, input=texts)
        vectors = np.array([item.embedding for item in default.data], dtype=np.float32)
        assert vectors.shape == (3, 384)
        assert np.allclose(vectors, expected, atol=1e-6)
        # Asked for explicitly, base64 is handed back as the string (the client's behaviour).
        as_b64 = client.embeddings.create(model=model_id, input=texts, encoding_format="base64")
        raw: list[Any] = [item.embedding for item in as_b64.data]
        assert all(isinstance(item, str) for item in raw)
        decoded = np.array([np.frombuffer(base64.b64decode(str(item)), dtype="<f4") for item in raw])
        assert np.array_equal(decoded, vectors)
        single = client.embeddings.create(model=model_id.rsplit("/", 1)[-1], input="网吧")
        assert len(single.data) == 1 and len(single.data[0].embedding) == 384
        assert [m.id for m in client.models.list()] == [model_id]
        with pytest.raises(openai.BadRequestError, match="Unknown model"):
            client.embeddings.create(model="text-embedding-3-small", input="网吧")
        with pytest.raises(openai.BadRequestError, match="only strings"):
            client.embeddings.create(model=model_id, input=[[1, 2, 3]])


@pytest.mark.slow
@pytest.mark.e2e
def test_openai_client_with_api_key(real_searcher: Searcher) -> None:
    import openai

    model_id = real_searcher.embedder.model_id
    with running_server(create_app(real_searcher, api_key=KEY, mount_ui=False)) as url:
        wrong = openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0, timeout=60)
        with pytest.raises(openai.AuthenticationError):
            wrong.embeddings.create(model=model_id, input="网吧")
        right = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=60)
        assert len(right.embeddings.create(model=model_id, input="网吧").data[0].embedding) == 384


# -------------------------------------------------- fake searcher: fast unit tests


class _FakeEmbedder:
    model_id = "test/fake-8"
    dimension = 8

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile(np.eye(8, dtype=np.float32)[0], (len(texts), 1))

    def encode_clauses(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile(np.eye(8, dtype=np.float32)[1], (len(texts), 1))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t) for t in texts]


class FakeSearcher:
    """Two documents, so ids carry a ``doc#`` prefix; search echoes a fixed answer."""

    def __init__(self) -> None:
        self.embedder = _FakeEmbedder()
        self.manifest: dict[str, Any] = {"format_version": 1, "model": {"id": "test/fake-8", "dimension": 8}}
        make = lambda doc, art, item: Clause(  # noqa: E731
            id=f"{doc}#{art}.{item}", document=doc, title="T", chapter="C", article=art, item=item,
            department="甲厅", text=f"{doc} {art}.{item} 的职责", citation=f"第{art}条第（{item}）项",
        )
        self.clauses = (make("a", 1, 1), make("a", 1, 2), make("b", 1, 1))
        self.calls: list[tuple[str, int, str | None, str]] = []
        self.index = SimpleNamespace(root=Path(tempfile.mkdtemp(prefix="fake-index-")))  # feedback.sqlite goes here
        self.is_library = True
        self.documents: dict[str, Document] = {d: Document(id=d, title="T", short_name="T") for d in ("a", "b")}
        self.home_region = None

    def document_list(self) -> list[Document]:
        return list(self.documents.values())

    def search(self, query: str, k: int = 10, *, department: str | None = None, mode: str = "full",
               **filters: Any) -> Answer:
        self.calls.append((query, k, department, mode))
        if query == "boom":
            raise RuntimeError("a bug in the engine")
        if query.strip() == "bad":
            raise QueryError("the query is bad.", "Ask something else.")
        hit = Hit(clause=self.clauses[0], score=0.5, rank=1, matched_terms=("职责",))
        return Answer(query=query, normalized_query=query, route="search", in_scope=True,
                      departments=(DepartmentAnswer("甲厅", 1.0, ("a#1.1",)),), hits=(hit,))

    async def search_async(self, query: str, k: int = 10, **options: Any) -> Answer:
        return self.search(query, k, **options)

    def clause(self, clause_id: str) -> Clause:
        for clause in self.clauses:
            if clause.id == clause_id:
                return clause
        raise KeyError(clause_id)

    def article(self, clause_id: str) -> list[Clause]:
        found = self.clause(clause_id)
        return [c for c in self.clauses if (c.document, c.article) == (found.document, found.article)]

    def departments(self) -> list[str]:
        return ["甲厅"]


@pytest.fixture
def fake() -> FakeSearcher:
    return FakeSearcher()


@pytest.fixture
def fake_client(fake: FakeSearcher) -> Iterator[TestClient]:
    with TestClient(create_app(fake, mount_ui=False), raise_server_exceptions=False) as test_client:  # type: ignore[arg-type]
        yield test_client


def test_clause_ids_with_hash_and_dots(fake_client: TestClient) -> None:
    body = fake_client.get("/v1/clauses/a%231.2").json()
    assert body["id"] == "a#1.2"
    assert body["article_clause_ids"] == ["a#1.1", "a#1.2"]
    assert fake_client.get("/v1/clauses/b%231.1").json()["article_clause_ids"] == ["b#1.1"]
    # An unencoded '#' is a URL fragment: the client never sends it, so the id is incomplete.
    assert_error(fake_client.get("/v1/clauses/a#1.2"), 404)


def test_handlers_pass_parameters_through(fake_client: TestClient, fake: FakeSearcher) -> None:
    body = fake_client.post("/v1/search", json={"query": "q", "k": 7, "department": "甲厅", "mode": "dense"}).json()
    assert fake.calls == [("q", 7, "甲厅", "dense")]
    assert body["hits"][0]["matched_terms"] == ["职责"]
    error = assert_error(fake_client.post("/v1/search", json={"query": "bad"}), 400, "the query is bad", "Ask")
    assert error["code"] == "invalid_query"


def test_engine_bug_is_a_json_500_without_traceback(fake_client: TestClient) -> None:
    response = fake_client.post("/v1/search", json={"query": "boom"})
    error = assert_error(response, 500)
    assert error["type"] == "server_error"
    assert "RuntimeError" not in response.text and "Traceback" not in response.text


def test_fake_embeddings_pick_prefix_by_input_type(fake_client: TestClient) -> None:
    query = fake_client.post("/v1/embeddings", json={"input": ["a", "b"], "model": "fake-8"}).json()
    assert query["data"][1]["embedding"][0] == 1.0
    passage = fake_client.post(
        "/v1/embeddings", json={"input": "a", "model": "test/fake-8", "input_type": "passage"}
    ).json()
    assert passage["data"][0]["embedding"][1] == 1.0
    assert query["usage"] == {"prompt_tokens": 2, "total_tokens": 2}


@pytest.mark.slow
@pytest.mark.e2e
def test_concurrent_mixed_load_has_no_errors(real_searcher: Searcher) -> None:
    """Embeddings (varied lengths, token counts) racing searches: the shared tokenizer must not break."""
    import httpx

    model_id = real_searcher.embedder.model_id
    failures: list[str] = []

    def client_loop(worker: int, url: str) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            for i in range(12):
                if (worker + i) % 2:
                    texts = ["安全" * (1 + (worker * 7 + i * 3 + j) % 40) for j in range(1 + (i + worker) % 5)]
                    response = http.post("/v1/embeddings", json={"input": texts, "model": model_id,
                                                                  "input_type": "passage" if i % 3 else "query"})
                else:
                    response = http.post("/v1/search", json={"query": WANGBA if i % 4 else "光伏电站安全由谁负责？"})
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    with running_server(create_app(real_searcher, mount_ui=False)) as url:
        threads = [threading.Thread(target=client_loop, args=(w, url)) for w in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    assert not failures, failures[:3]


def test_listening_socket_disables_nagle() -> None:
    """Responses on kept-alive connections must not wait for the client's delayed ACK."""
    import socket

    from retriever.api import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()


# -------------------------------------------------- serve: build progress and the query cache setting


def test_build_progress_prints_a_header_then_tenths(capsys: pytest.CaptureFixture[str]) -> None:
    from retriever.api import BuildProgress

    progress = BuildProgress()
    for done in range(0, 101, 5):
        progress("embed", done, 100)
    progress("bm25", 30, 30)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("duty-retriever: no index yet; building it")
    assert lines[1:] == [f"duty-retriever: embedding clauses {done}/100" for done in range(0, 101, 10)] + [
        "duty-retriever: indexing words for BM25 30/30"]


def test_cache_size_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from retriever.api import _cache_size

    monkeypatch.delenv("RETRIEVER_CACHE_SIZE", raising=False)
    assert _cache_size() == 1024
    monkeypatch.setenv("RETRIEVER_CACHE_SIZE", "0")
    assert _cache_size() == 0
    for bad in ("many", "-1"):
        monkeypatch.setenv("RETRIEVER_CACHE_SIZE", bad)
        with pytest.raises(ValueError, match="RETRIEVER_CACHE_SIZE"):
            _cache_size()
