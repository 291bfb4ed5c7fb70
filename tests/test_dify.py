"""Dify's External Knowledge API, called as Dify calls it: real uvicorn on loopback, bearer key.

The response contract is written below as a JSON Schema, from Dify's documentation of the
External Knowledge API (records of content, score, title and an object ``metadata``;
errors as ``error_code`` / ``error_msg``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from retriever.api import create_app
from retriever.dify import MetadataCondition, condition_admits
from retriever.present import OUT_OF_SCOPE_NOTICE
from retriever.records import Clause
from retriever.search import Searcher
from tests.test_api import OUT_OF_SCOPE_CANDIDATES, running_server

WANGBA = "网吧的安全检查归哪个部门？"
CULTURE = "自治区文化和旅游厅"
POLICE = "自治区公安厅"
KEY = "dify-test-key"

RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["records"],
    "additionalProperties": False,
    "properties": {
        "records": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["content", "score", "title", "metadata"],
                "properties": {
                    "content": {"type": "string", "minLength": 1},
                    "score": {"type": "number", "minimum": 0, "maximum": 1},
                    "title": {"type": "string"},
                    "metadata": {
                        "type": "object",  # never null: Dify's pipeline breaks on a null metadata
                        "required": ["id", "department", "article", "item", "document"],
                    },
                },
            },
        }
    },
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error_code", "error_msg"],
    "properties": {"error_code": {"type": "integer"}, "error_msg": {"type": "string", "minLength": 1}},
}

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def body(query: str = WANGBA, top_k: int = 5, threshold: float = 0.0, knowledge_id: str = "default",
         condition: dict[str, Any] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"knowledge_id": knowledge_id, "query": query,
                               "retrieval_setting": {"top_k": top_k, "score_threshold": threshold}}
    if condition is not None:
        payload["metadata_condition"] = condition
    return payload


def cond(*conditions: tuple[str, str, Any], logical: str = "and") -> dict[str, Any]:
    return {"logical_operator": logical,
            "conditions": [{"name": n, "comparison_operator": o, "value": v} for n, o, v in conditions]}


@pytest.fixture(scope="module")
def url(real_searcher: Searcher) -> Iterator[str]:
    with running_server(create_app(real_searcher, api_key=KEY, mount_ui=False)) as base:
        yield base


@pytest.fixture(scope="module")
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client


def records(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    data = response.json()
    jsonschema.validate(data, RESPONSE_SCHEMA)
    return list(data["records"])


def error(response: httpx.Response, status: int, code: int) -> str:
    assert response.status_code == status, response.text
    data = response.json()
    jsonschema.validate(data, ERROR_SCHEMA)
    assert data["error_code"] == code, data
    return str(data["error_msg"])


@pytest.mark.parametrize("path", ["/retrieval", "/v1/dify/retrieval"])
def test_retrieval_as_dify_calls_it(http: httpx.Client, path: str) -> None:
    found = records(http.post(path, json=body(top_k=3)))
    assert len(found) == 3
    first = found[0]
    assert first["metadata"]["id"] == "30.6"
    assert first["title"] == "第三十条第（六）项"
    assert first["content"].startswith(f"【{CULTURE}】第三十条第（六）项（30.6）\n")
    assert "互联网上网服务经营场所" in first["content"]
    assert first["metadata"]["department"] == CULTURE
    assert (first["metadata"]["article"], first["metadata"]["item"]) == (30, 6)
    assert first["score"] >= 0.5
    scores = [r["score"] for r in found]
    assert scores == sorted(scores, reverse=True) or found[0]["score"] == max(scores)


def test_threshold_and_top_k_filter(http: httpx.Client) -> None:
    everything = records(http.post("/retrieval", json=body(top_k=10)))
    assert len(everything) == 10
    for threshold in (0.3, 0.5, 0.9):
        kept = records(http.post("/retrieval", json=body(top_k=10, threshold=threshold)))
        assert kept == [r for r in everything if r["score"] >= threshold][: len(kept)]
        assert all(r["score"] >= threshold for r in kept)
    assert len(records(http.post("/retrieval", json=body(top_k=10, threshold=0.5)))) < 10
    assert records(http.post("/retrieval", json=body(top_k=1))) == everything[:1]


def test_metadata_conditions(http: httpx.Client, real_searcher: Searcher) -> None:
    def ids(condition: dict[str, Any], k: int = 5) -> list[dict[str, Any]]:
        return records(http.post("/retrieval", json=body(top_k=k, condition=condition)))

    only_police = ids(cond(("department", "is", POLICE)))
    assert only_police and {r["metadata"]["department"] for r in only_police} == {POLICE}
    not_culture = ids(cond(("department", "is not", CULTURE)))
    assert not_culture and CULTURE not in {r["metadata"]["department"] for r in not_culture}
    both = ids(cond(("department", "in", [CULTURE, POLICE])), k=10)
    assert {r["metadata"]["department"] for r in both} <= {CULTURE, POLICE} and both[0]["metadata"]["id"] == "30.6"
    neither = ids(cond(("department", "not in", [CULTURE, POLICE])))
    assert neither and not {r["metadata"]["department"] for r in neither} & {CULTURE, POLICE}
    contains = ids(cond(("department", "contains", "公安")))
    assert contains and all("公安" in r["metadata"]["department"] for r in contains)
    either = ids(cond(("department", "is", CULTURE), ("department", "is", POLICE), logical="or"), k=10)
    assert {r["metadata"]["department"] for r in either} == {CULTURE, POLICE}
    none = ids(cond(("department", "is", CULTURE), ("department", "is", POLICE)))
    assert none == []

    document = real_searcher.clauses[0].document
    assert ids(cond(("document", "is", document)))[0]["metadata"]["id"] == "30.6"
    assert ids(cond(("document", "is not", document))) == []
    assert ids(cond(("document", "contains", document[:5])))[0]["metadata"]["document"] == document


def test_knowledge_id_selects_the_library(http: httpx.Client, real_searcher: Searcher) -> None:
    document = real_searcher.clauses[0].document
    assert records(http.post("/retrieval", json=body(knowledge_id=document)))[0]["metadata"]["id"] == "30.6"
    message = error(http.post("/retrieval", json=body(knowledge_id="no-such-library")), 404, 2001)
    assert "no-such-library" in message and "default" in message


def test_auth_errors(url: str) -> None:
    payload = body()
    for headers in ({}, {"Authorization": ""}, {"Authorization": "Token abc"}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer: abc"}, {"Authorization": KEY}):
        for path in ("/retrieval", "/v1/dify/retrieval"):
            message = error(httpx.post(url + path, json=payload, headers=headers, timeout=30), 403, 1001)
            assert "Bearer <api-key>" in message
    for path in ("/retrieval", "/v1/dify/retrieval"):
        error(httpx.post(url + path, json=payload, headers={"Authorization": "Bearer wrong"}, timeout=30), 403, 1002)
    # Auth comes first: a wrong key on a bad body is still 1002.
    error(httpx.post(url + "/retrieval", content=b"{", headers={"Authorization": "Bearer no"}, timeout=30), 403, 1002)
    # The rest of /v1 keeps its own OpenAI-style auth.
    assert httpx.post(url + "/v1/search", json={"query": WANGBA}, timeout=30).status_code == 401


def test_out_of_scope(http: httpx.Client) -> None:
    for question in OUT_OF_SCOPE_CANDIDATES:
        found = records(http.post("/retrieval", json=body(query=question, top_k=3)))
        if found and not found[0]["metadata"]["in_scope"]:
            assert all(r["content"].startswith(OUT_OF_SCOPE_NOTICE) for r in found)
            assert all(r["score"] < 0.5 for r in found)
            assert records(http.post("/retrieval", json=body(query=question, threshold=0.5))) == []
            return
    pytest.fail("no candidate question was out of scope")


BAD_BODIES: list[bytes | dict[str, Any] | list[Any] | str] = [
    b"",
    b"{",
    b"\xff\xfe\x00binary",
    [],
    "just a string",
    {},
    {"knowledge_id": "default", "query": WANGBA},
    {"knowledge_id": "default", "retrieval_setting": {"top_k": 3}},
    {"knowledge_id": 5, "query": WANGBA, "retrieval_setting": {"top_k": 3}},
    {"knowledge_id": "default", "query": WANGBA, "retrieval_setting": {"top_k": 0}},
    {"knowledge_id": "default", "query": WANGBA, "retrieval_setting": {"top_k": "three"}},
    {"knowledge_id": "default", "query": WANGBA, "retrieval_setting": {"top_k": 3, "score_threshold": 2}},
    {"knowledge_id": "default", "query": WANGBA, "retrieval_setting": {"top_k": 3, "score_threshold": "x"}},
    {"knowledge_id": "default", "query": "", "retrieval_setting": {"top_k": 3}},
    {"knowledge_id": "default", "query": "？？？", "retrieval_setting": {"top_k": 3}},
    {"knowledge_id": "default", "query": "x" * 5000, "retrieval_setting": {"top_k": 3}},
    {"knowledge_id": "default", "query": "a\x00b", "retrieval_setting": {"top_k": 3}},
    body(condition=cond(("department", "regex", ".*"))),
    body(condition=cond(("colour", "is", "red"))),
    body(condition=cond(("department", "in", "not a list"))),
    body(condition=cond(("department", "is", ["a", "list"]))),
    body(condition={"logical_operator": "xor", "conditions": []}),
    body(condition={"conditions": "nope"}),
]


def test_bad_bodies_are_400_in_difys_shape_never_500(http: httpx.Client) -> None:
    import json

    for bad in BAD_BODIES:
        content = bad if isinstance(bad, bytes) else json.dumps(bad).encode()
        response = http.post("/retrieval", content=content, headers={"Content-Type": "application/json"})
        message = error(response, 400, 400)
        assert len(message) < 600, message
    big = json.dumps(body(query="网" * 600_000)).encode()
    # Over the server's body limit: refused (413) before the body is read, as on every route.
    assert http.post("/retrieval", content=big, headers={"Content-Type": "application/json"}).status_code == 413
    huge_k = records(http.post("/retrieval", json=body(top_k=10_000)))
    assert len(huge_k) <= 50
    assert http.get("/retrieval").status_code != 500


def test_open_server_needs_no_key(real_searcher: Searcher) -> None:
    with running_server(create_app(real_searcher, mount_ui=False)) as base:
        found = records(httpx.post(base + "/retrieval", json=body(top_k=1), timeout=60))
        assert found[0]["metadata"]["id"] == "30.6"
        anything = {"Authorization": "Bearer whatever-dify-sends"}
        assert records(httpx.post(base + "/retrieval", json=body(top_k=1), headers=anything, timeout=60)) == found


def _clause(department: str, document: str = "doc") -> Clause:
    return Clause(id="1.1", document=document, title="t", chapter="", article=1, item=1, department=department,
                  text="x", citation="第一条第（一）项")


@pytest.mark.parametrize(
    ("condition", "admitted"),
    [
        (cond(("department", "is", "甲厅")), True),
        (cond(("department", "is not", "甲厅")), False),
        (cond(("department", "in", ["乙厅", "甲厅"])), True),
        (cond(("department", "not in", ["乙厅", "甲厅"])), False),
        (cond(("department", "contains", "甲")), True),
        (cond(("department", "contains", "乙")), False),
        (cond(("document", "is", "doc"), ("department", "is", "乙厅")), False),
        (cond(("document", "is", "doc"), ("department", "is", "乙厅"), logical="or"), True),
        ({"conditions": []}, True),
    ],
)
def test_condition_logic(condition: dict[str, Any], admitted: bool) -> None:
    assert condition_admits(_clause("甲厅"), MetadataCondition.model_validate(condition)) is admitted


def test_search_context_format_for_prompts(http: httpx.Client) -> None:
    """``/v1/search`` with ``"format": "context"``: the block a chatbot pastes into its prompt."""
    from retriever.present import estimate_tokens

    response = http.post("/v1/search", json={"query": WANGBA, "format": "context", "context_tokens": 600})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["format"] == "context" and data["in_scope"] is True
    assert data["clauses"][0] == "30.6" and data["departments"][0] == CULTURE
    assert f"负责部门：{CULTURE}（依据：30.6" in data["context"]
    assert f"[1] 第三十条第（六）项（30.6）· {CULTURE}" in data["context"]
    assert data["tokens"] == estimate_tokens(data["context"]) <= 600
    small = http.post("/v1/search", json={"query": WANGBA, "format": "context", "context_tokens": 150}).json()
    assert 0 < len(small["clauses"]) < len(data["clauses"])
    bad = http.post("/v1/search", json={"query": WANGBA, "format": "context", "context_tokens": 5})
    assert bad.status_code == 400 and "context_tokens" in bad.json()["error"]["message"]
    bad_format = http.post("/v1/search", json={"query": WANGBA, "format": "xml"})
    assert bad_format.status_code == 400 and "format" in bad_format.json()["error"]["message"]
