"""The MCP server, driven by the official SDK's own client over both transports.

stdio: ``retriever mcp`` as a subprocess (a real console entry point, real index).
Streamable HTTP: ``/mcp`` of the app on a real uvicorn server on loopback, with a bearer key.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from retriever.api import create_app
from retriever.present import OUT_OF_SCOPE_NOTICE
from retriever.search import Searcher
from tests.conftest import ROOT, SEEDS
from tests.test_api import OUT_OF_SCOPE_CANDIDATES, running_server

WANGBA = "网吧的安全检查归哪个部门？"
CULTURE = "自治区文化和旅游厅"
KEY = "mcp-test-key"
TOOLS = {"search_duties", "get_clause", "list_departments", "list_documents"}

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def structured(result: Any) -> dict[str, Any]:
    """A tool result's JSON: the structured content, which must equal the text content."""
    assert not result.is_error, result.content
    text = json.loads(result.content[0].text)
    if result.structured_content is not None:
        assert result.structured_content == text
    assert isinstance(text, dict)
    return text


async def exercise(client: Client, searcher: Searcher) -> None:
    """Everything both transports must do: list, call each tool, out of scope, bad arguments."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) >= TOOLS
    search_schema = tools["search_duties"].input_schema
    assert search_schema["required"] == ["question"]
    assert set(search_schema["properties"]) == {"question", "k", "department", "document"}
    for tool in tools.values():
        assert tool.description and any("\u4e00" <= ch <= "\u9fff" for ch in tool.description)
        assert any(ch.isascii() and ch.isalpha() for ch in tool.description)

    body = structured(await client.call_tool("search_duties", {"question": WANGBA, "k": 3}))
    assert body["in_scope"] is True
    assert body["departments"][0]["department"] == CULTURE
    assert body["clauses"][0]["id"] == "30.6"
    assert body["clauses"][0]["citation"] == "第三十条第（六）项"
    assert CULTURE in body["answer"] and "30.6" in body["answer"]
    assert len(body["clauses"]) == 3
    assert all(0.0 <= c["score"] <= 1.0 for c in body["clauses"])
    assert body["clauses"][0]["score"] >= 0.5

    filtered = structured(await client.call_tool(
        "search_duties", {"question": WANGBA, "department": "自治区公安厅", "k": 2}))
    assert {c["department"] for c in filtered["clauses"]} == {"自治区公安厅"}
    document = searcher.clauses[0].document
    by_document = structured(await client.call_tool("search_duties", {"question": WANGBA, "document": document}))
    assert by_document["clauses"][0]["id"] == "30.6"

    out = None
    for question in OUT_OF_SCOPE_CANDIDATES:
        candidate = structured(await client.call_tool("search_duties", {"question": question}))
        if not candidate["in_scope"]:
            out = candidate
            break
    assert out is not None, "no candidate question was out of scope"
    assert out["answer"] == OUT_OF_SCOPE_NOTICE and out["answer"].startswith("本规定未涉及")
    assert out["departments"] == []
    assert out["notes"][0] == OUT_OF_SCOPE_NOTICE

    clause = structured(await client.call_tool("get_clause", {"id": "30.6"}))
    assert clause["clause"]["department"] == CULTURE and clause["article"] == [clause["clause"]]
    article = structured(await client.call_tool("get_clause", {"id": "30.6", "whole_article": True}))
    assert [c["id"] for c in article["article"]] == [c.id for c in searcher.article("30.6")]

    departments = structured(await client.call_tool("list_departments", {}))
    assert [d["department"] for d in departments["departments"]] == searcher.departments()
    documents = structured(await client.call_tool("list_documents", {}))
    assert [d["id"] for d in documents["documents"]] == sorted({c.document for c in searcher.clauses})
    assert sum(d["clauses"] for d in documents["documents"]) == len(searcher.clauses)

    resources = (await client.list_resources()).resources
    assert len(resources) == len(documents["documents"])
    text = (await client.read_resource(str(resources[0].uri))).contents[0]
    assert "[30.6] 第三十条第（六）项 · 自治区文化和旅游厅" in text.text  # type: ignore[union-attr]

    # Bad arguments: an MCP tool error naming the problem, and the server keeps answering.
    bad_calls: list[tuple[str, dict[str, Any], str]] = [
        ("search_duties", {"question": WANGBA, "k": "many"}, "k"),
        ("search_duties", {"question": WANGBA, "k": 0}, "k"),
        ("search_duties", {"question": ""}, "question"),
        ("search_duties", {"question": "   "}, "empty"),
        ("search_duties", {"question": WANGBA, "department": "火星局"}, "火星局"),
        ("search_duties", {"question": WANGBA, "document": "nope"}, "nope"),
        ("search_duties", {}, "question"),
        ("get_clause", {"id": "999.9"}, "999.9"),
        ("get_clause", {"id": 30.6}, "id"),
    ]
    for name, arguments, fragment in bad_calls:
        try:
            result = await client.call_tool(name, arguments)
        except MCPError as exc:  # a protocol-level error is an MCP error too
            assert fragment in str(exc), (name, arguments, str(exc))
            continue
        assert result.is_error, (name, arguments, result.content)
        assert fragment in result.content[0].text, (name, arguments, result.content[0].text)  # type: ignore[union-attr]
    try:
        unknown = await client.call_tool("no_such_tool", {})
        assert unknown.is_error
    except MCPError:
        pass
    again = structured(await client.call_tool("search_duties", {"question": WANGBA, "k": 1}))
    assert again["clauses"][0]["id"] == "30.6"


def run_async(func: Callable[[], Awaitable[None]]) -> None:
    anyio.run(func)


@pytest.fixture(scope="module")
def http_url(real_searcher: Searcher) -> Iterator[str]:
    with running_server(create_app(real_searcher, api_key=KEY, mount_ui=False)) as url:
        yield url


def test_streamable_http_with_bearer_key(http_url: str, real_searcher: Searcher) -> None:
    async def main() -> None:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
        async with http, Client(streamable_http_client(f"{http_url}/mcp", http_client=http)) as client:
            assert client.server_info is not None and client.server_info.name == "duty-retriever"
            await exercise(client, real_searcher)

    run_async(main)


def test_streamable_http_refuses_a_missing_or_wrong_key(http_url: str) -> None:
    import httpx

    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    for auth in (None, "Bearer wrong", "Basic abc"):
        sent = dict(headers, **({"Authorization": auth} if auth else {}))
        response = httpx.post(f"{http_url}/mcp", json=request, headers=sent, timeout=30)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert response.headers["www-authenticate"] == "Bearer"


def test_streamable_http_refuses_a_foreign_host_header(http_url: str) -> None:
    """DNS-rebinding protection: a loopback server accepts loopback Host names only."""
    import httpx

    response = httpx.post(
        f"{http_url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        headers={"Authorization": f"Bearer {KEY}", "Host": "evil.example:80",
                 "Accept": "application/json, text/event-stream"},
        timeout=30,
    )
    assert response.status_code in (400, 403, 421), response.text


def test_stdio_subprocess(real_searcher: Searcher, tmp_path: Path) -> None:
    """``retriever mcp`` over stdio, started the way Claude Desktop starts it."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "retriever.cli", "mcp", "--index", str(real_searcher.index.root), "--seeds", str(SEEDS)],
        env=env,
        cwd=str(tmp_path),
    )

    async def main() -> None:
        async with Client(params, read_timeout_seconds=300) as client:
            await exercise(client, real_searcher)

    run_async(main)


def test_stdio_with_a_missing_index_folder_fails_cleanly(tmp_path: Path) -> None:
    """A user error (no seeds to build from) exits 1 with the message, not a traceback."""
    import subprocess

    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(
        [sys.executable, "-m", "retriever.cli", "mcp", "--index", str(tmp_path / "index"),
         "--seeds", str(tmp_path / "no-seeds")],
        env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Error:" in done.stderr
    assert done.stdout == ""


def test_streamable_http_beside_the_ui(real_searcher: Searcher) -> None:
    """The production shape (Gradio UI at /): /mcp still answers, because its lifespan runs too."""
    with running_server(create_app(real_searcher, mount_ui=True)) as url:
        async def main() -> None:
            async with Client(f"{url}/mcp") as client:
                body = structured(await client.call_tool("search_duties", {"question": WANGBA, "k": 1}))
                assert body["clauses"][0]["id"] == "30.6"

        run_async(main)
