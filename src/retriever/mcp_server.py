"""The MCP server: the engine's tools for assistants (Claude Desktop, Cherry Studio, Dify, Cursor …).

Built with the official ``mcp`` SDK (:class:`mcp.server.mcpserver.MCPServer`). Two transports
serve the same tools:

* stdio: ``retriever mcp`` (:func:`run_stdio`);
* streamable HTTP at ``/mcp`` of the app (:func:`mount_mcp`), behind the same optional
  bearer key as ``/v1`` (``RETRIEVER_API_KEY``).

Tools (each with a JSON schema and a Chinese and English description):

* ``search_duties(question, k=5, department?, document?)`` → the department answer in
  words, ``in_scope``, notes and the cited clauses with a calibrated 0–1 ``score``;
* ``get_clause(id, whole_article=false)``;
* ``list_departments()``;
* ``list_documents()``: the distinct documents of the loaded index.

One resource per document, ``duty://documents/<document id>``: its full text with clause ids.
An out-of-scope answer says so in words an assistant passes on (:data:`OUT_OF_SCOPE_NOTICE`).
Bad arguments come back as MCP tool errors (``isError``), never a crash.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import Field
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from retriever import __version__
from retriever.calibrate import Calibration, load_calibration
from retriever.errors import QueryError
from retriever.present import OUT_OF_SCOPE_NOTICE, clause_to_dict, department_sentence
from retriever.search import MAX_K, Searcher

__all__ = ["MCP_PATH", "MCP_SERVER_NAME", "build_mcp_server", "mount_mcp", "run_stdio"]

#: Where the streamable HTTP transport is mounted in the app.
MCP_PATH = "/mcp"
#: The server's name in the MCP handshake.
MCP_SERVER_NAME = "duty-retriever"
#: Most clauses ``search_duties`` returns.
MAX_TOOL_K = 20

_INSTRUCTIONS = (
    "查询安全生产职责规定：某项安全监管工作由哪个部门负责，并引用条款（第X条第（Y）项）。"
    "先调用 search_duties；回答时写明负责部门和条款编号。若结果 in_scope 为 false，请如实告诉用户"
    "“本规定未涉及”该问题，不要自行推断部门。\n"
    "Look up who is responsible for a safety duty in Chinese regulations, with cited clauses. Call "
    "search_duties first; answer with the department and the clause ids. When in_scope is false, tell the "
    "user the regulation does not cover it (本规定未涉及) instead of guessing a department."
)


def _hit_dict(answer_hits: Any, scores: tuple[float, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for hit, score in zip(answer_hits, scores, strict=True):
        out.append({
            "id": hit.clause.id,
            "citation": hit.clause.citation,
            "department": hit.clause.department,
            "document": hit.clause.document,
            "text": hit.clause.text,
            "score": round(score, 4),
            "rank": len(out) + 1,
        })
    return out


def build_mcp_server(searcher: Searcher, calibration: Calibration | None = None) -> MCPServer:
    """The MCP server with its tools and per-document resources, answering from ``searcher``."""
    calibration = calibration or load_calibration()
    documents: dict[str, str] = {}
    for clause in searcher.clauses:
        documents.setdefault(clause.document, clause.title)
    server: MCPServer = MCPServer(
        MCP_SERVER_NAME,
        title="安全生产职责检索 duty-retriever",
        instructions=_INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
    )

    @server.tool(
        title="查询负责部门和条款 / Who is responsible (search duties)",
        description=(
            "用中文问题检索安全生产职责规定，返回负责部门、是否在规定范围内（in_scope）、说明（notes）"
            "和引用条款（id、citation 如 第三十条第（六）项、department、text、score：0–1 的校准相关度，"
            "≥0.5 表示大概率相关）。in_scope 为 false 时表示本规定未涉及，不要推断部门。\n"
            "Search the safety-duty regulations with a question (Chinese works best). Returns the responsible "
            "department(s), in_scope, notes and the cited clauses with a calibrated 0-1 relevance score "
            "(>= 0.5: more likely relevant than not). in_scope=false means the regulation does not cover it."
        ),
    )
    def search_duties(
        question: Annotated[str, Field(min_length=1, max_length=500,
                                       description="问题，例如“网吧的安全检查归哪个部门？” / the question")],
        k: Annotated[int, Field(ge=1, le=MAX_TOOL_K, description="返回条款数 / how many clauses")] = 5,
        department: Annotated[str | None, Field(description="只看该部门的条款（用 list_departments 的名称）"
                                                            " / only this department's clauses")] = None,
        document: Annotated[str | None, Field(description="只看该文件的条款（用 list_documents 的 id）"
                                                          " / only this document's clauses")] = None,
    ) -> dict[str, Any]:
        if department is not None and department not in searcher.departments():
            raise ToolError(f"未知部门 {department!r}：请用 list_departments 列出的名称。"
                            f" / Unknown department {department!r}: use a name from list_departments.")
        if document is not None and document not in documents:
            raise ToolError(f"未知文件 {document!r}：请用 list_documents 列出的 id。"
                            f" / Unknown document {document!r}: use an id from list_documents.")
        try:
            answer = searcher.search(question, MAX_K if document else k, department=department)
        except QueryError as exc:
            raise ToolError(f"问题无法检索 / the question cannot be searched: {exc}") from None
        pairs = [(h, s) for h, s in zip(answer.hits, calibration.relevance(answer), strict=True)
                 if document is None or h.clause.document == document][:k]
        clauses = _hit_dict([h for h, _ in pairs], tuple(s for _, s in pairs))
        return {
            "answer": department_sentence(answer),
            "in_scope": answer.in_scope,
            "departments": [{"department": d.department, "clauses": list(d.clauses)} for d in answer.departments],
            "notes": list(answer.notes) if answer.in_scope else [OUT_OF_SCOPE_NOTICE, *answer.notes],
            "clauses": clauses,
        }

    @server.tool(
        title="按编号取条款 / Get a clause by id",
        description=(
            "按条款编号取原文，如 30.6（第三十条第（六）项）或 59（无项的条）；whole_article 为 true 时返回整条。\n"
            "Get a clause's text by id, e.g. 30.6 (article 30, item 6) or 59; whole_article=true returns "
            "every clause of its article."
        ),
    )
    def get_clause(
        id: Annotated[str, Field(min_length=1, max_length=200, description="条款编号 / clause id, e.g. 30.6")],
        whole_article: Annotated[bool, Field(description="返回整条 / the whole article")] = False,
    ) -> dict[str, Any]:
        try:
            clause = searcher.clause(id)
            article = searcher.article(id) if whole_article else [clause]
        except KeyError:
            raise ToolError(f"没有编号为 {id[:80]!r} 的条款；编号形如 30.6 或 59。"
                            f" / No clause {id[:80]!r}; ids look like 30.6 or 59.") from None
        return {"clause": clause_to_dict(clause), "article": [clause_to_dict(c) for c in article]}

    @server.tool(
        title="列出部门 / List departments",
        description="列出规定中的全部部门及其条款数。 / List every department with its number of clauses.",
    )
    def list_departments() -> dict[str, Any]:
        counts: dict[str, int] = {}
        for clause in searcher.clauses:
            if clause.department:
                counts[clause.department] = counts.get(clause.department, 0) + 1
        return {"departments": [{"department": d, "clauses": counts.get(d, 0)} for d in searcher.departments()]}

    @server.tool(
        title="列出文件 / List documents",
        description="列出已加载的规定文件（id、标题、条款数）。 / List the loaded regulations (id, title, clauses).",
    )
    def list_documents() -> dict[str, Any]:
        counts: dict[str, int] = {}
        for clause in searcher.clauses:
            counts[clause.document] = counts.get(clause.document, 0) + 1
        return {"documents": [{"id": d, "title": t, "clauses": counts[d], "uri": _document_uri(d)}
                              for d, t in documents.items()]}

    for document_id, title in documents.items():
        server.resource(
            _document_uri(document_id),
            name=document_id,
            title=title,
            description=f"{title}：全文，每条款前注明编号 / full text with clause ids",
            mime_type="text/plain",
        )(_document_text(searcher, document_id))
    return server


def _document_uri(document_id: str) -> str:
    return "duty://documents/" + quote(document_id, safe="")


def _document_text(searcher: Searcher, document_id: str) -> Callable[[], str]:
    def read() -> str:
        clauses = [c for c in searcher.clauses if c.document == document_id]
        lines = [clauses[0].title if clauses else document_id]
        chapter = section = None
        for clause in clauses:
            if clause.chapter and clause.chapter != chapter:
                chapter, section = clause.chapter, None
                lines.append(f"\n{chapter}")
            if clause.section and clause.section != section:
                section = clause.section
                lines.append(section)
            department = f" · {clause.department}" if clause.department else ""
            lines.append(f"[{clause.id}] {clause.citation}{department}：{clause.text}")
        return "\n".join(lines) + "\n"

    return read


# ------------------------------------------------------------------ transports


class _BearerGuard:
    """``Authorization: Bearer <key>`` in front of the MCP endpoint (401 JSON otherwise)."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.api_key = api_key.encode("utf-8") if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.api_key is not None and scope["type"] == "http":
            headers = dict(scope.get("headers", []))
            scheme, _, token = headers.get(b"authorization", b"").strip().partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.api_key):
                response = JSONResponse(
                    {"error": {"message": "Missing or invalid API key: send 'Authorization: Bearer <key>'.",
                               "type": "authentication_error", "code": "invalid_api_key", "param": None}},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def mount_mcp(
    app: FastAPI,
    searcher: Searcher,
    *,
    api_key: str | None = None,
    allowed_hosts: list[str] | None = None,
    calibration: Calibration | None = None,
) -> MCPServer:
    """Serve the MCP server over streamable HTTP at :data:`MCP_PATH` of ``app``.

    Stateless with JSON responses, so any worker can answer any request. The session
    manager runs inside the app's lifespan (uvicorn starts it; so does
    ``with TestClient(app)``).

    Args:
        app: the FastAPI app (before the UI is mounted at ``/``, so this route wins).
        searcher: the engine.
        api_key: require ``Authorization: Bearer <api_key>`` when set.
        allowed_hosts: ``Host`` values accepted (DNS-rebinding protection); None allows
            loopback names only, ``[]`` turns the check off (a server bound to a public address).
    """
    server = build_mcp_server(searcher, calibration)
    if allowed_hosts is None:
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    elif allowed_hosts:
        security = TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts)
    else:
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    server.streamable_http_app(stateless_http=True, json_response=True, transport_security=security)
    manager = server.session_manager
    endpoint = _BearerGuard(StreamableHTTPASGIApp(manager), api_key or None)
    app.router.routes.append(Route(MCP_PATH, endpoint=endpoint))

    previous = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(target: Any) -> AsyncIterator[Any]:
        async with previous(target) as state, manager.run():
            yield state

    app.router.lifespan_context = lifespan
    return server


def run_stdio(index_dir: Path | None = None, seeds_dir: Path | None = None, model: str | None = None) -> None:
    """Open (building if missing) the index and serve MCP over stdin/stdout until the client leaves.

    Raises:
        IndexStateError, SeedError, ModelError: the index cannot be opened or built.
    """
    from retriever.search import open_searcher

    searcher = open_searcher(index_dir, seeds_dir=seeds_dir, model=model, build_if_missing=True)
    server = build_mcp_server(searcher)
    server.run("stdio")
