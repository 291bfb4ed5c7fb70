"""Dify's External Knowledge API: ``POST /retrieval`` (and ``POST /v1/dify/retrieval``).

Dify calls ``POST {endpoint}/retrieval`` with ``Authorization: Bearer <key>`` and::

    {"knowledge_id": "default", "query": "...",
     "retrieval_setting": {"top_k": 5, "score_threshold": 0.5},
     "metadata_condition": {"logical_operator": "and",
                            "conditions": [{"name": "department", "comparison_operator": "is",
                                            "value": "自治区文化和旅游厅"}]}}

and expects ``200 {"records": [{"content", "score", "title", "metadata"}]}`` (an empty
list when nothing matches; ``metadata`` always an object). Here:

* ``knowledge_id`` selects the library: ``default`` (everything loaded) or one document id
  of the index (its clauses only). Anything else is error 2001. Regions will select the
  same way once the library knows them (:func:`resolve_knowledge`).
* ``score`` is the calibrated relevance of :mod:`retriever.calibrate`, in [0, 1];
  ``score_threshold`` keeps hits with ``score >= score_threshold``.
* ``metadata_condition`` filters on ``department`` and ``document`` with ``is``,
  ``is not``, ``in``, ``not in`` and ``contains`` (``and`` / ``or``).
* ``title`` is the citation (第三十条第（六）项); ``content`` starts with the department and
  the citation so the LLM sees them; ``metadata`` holds id, department, article, item,
  document, citation, title, rank and ``in_scope``. An out-of-scope question keeps its
  nearest clauses only if they pass the threshold, each headed by the out-of-scope notice.

Errors are ``{"error_code", "error_msg"}`` JSON, never a 500 for bad input:

* 1001 (HTTP 403) the Authorization header is missing or not ``Bearer <key>``;
* 1002 (HTTP 403) the key is wrong;
* 2001 (HTTP 404) unknown ``knowledge_id``;
* 400 (HTTP 400, our addition) a malformed body: bad JSON, a missing or mistyped field,
  an unsupported operator or field, a query the engine rejects, a body over 1 MB.

Auth applies only when the server has an API key (``RETRIEVER_API_KEY``); without one the
endpoint is open, like ``/v1``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from retriever.calibrate import Calibration, load_calibration
from retriever.errors import QueryError
from retriever.present import OUT_OF_SCOPE_NOTICE
from retriever.records import Clause
from retriever.search import MAX_K, Searcher

__all__ = [
    "DEFAULT_KNOWLEDGE_ID",
    "DIFY_PATHS",
    "MAX_DIFY_BODY_BYTES",
    "MAX_TOP_K",
    "OPERATORS",
    "Condition",
    "DifyRequest",
    "KnowledgeScope",
    "condition_admits",
    "create_dify_router",
    "resolve_knowledge",
    "retrieve_records",
]

#: The whole loaded library.
DEFAULT_KNOWLEDGE_ID = "default"
#: Where the endpoint is served (Dify appends ``/retrieval`` to the endpoint you enter).
DIFY_PATHS = ("/retrieval", "/v1/dify/retrieval")
#: Largest body read.
MAX_DIFY_BODY_BYTES = 1_000_000
#: Largest ``top_k`` honoured (larger values are capped, not refused: Dify's UI allows them).
MAX_TOP_K = 50
#: The comparison operators supported on ``department`` and ``document``.
OPERATORS = ("is", "is not", "in", "not in", "contains")
#: The metadata fields conditions may name.
FIELDS = ("department", "document")


class DifyError(Exception):
    """An error in Dify's shape: ``{"error_code", "error_msg"}`` with an HTTP status."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse({"error_code": self.code, "error_msg": self.message}, status_code=self.status)


class RetrievalSetting(BaseModel):
    """``retrieval_setting``: how many records, and the lowest score kept."""

    model_config = ConfigDict(extra="ignore")

    top_k: int = Field(ge=1, description="Most records to return (capped at MAX_TOP_K).")
    score_threshold: float = Field(default=0.0, ge=0.0, le=1.0, description="Lowest score kept (0 disables).")


class Condition(BaseModel):
    """One metadata condition."""

    model_config = ConfigDict(extra="ignore")

    name: str
    comparison_operator: str
    value: str | int | float | list[str] | None = None


class MetadataCondition(BaseModel):
    """``metadata_condition``: conditions joined by ``and`` (default) or ``or``."""

    model_config = ConfigDict(extra="ignore")

    logical_operator: Literal["and", "or"] = "and"
    conditions: list[Condition] = Field(default_factory=list)


class DifyRequest(BaseModel):
    """The request body Dify sends."""

    model_config = ConfigDict(extra="ignore")

    knowledge_id: str
    query: str
    retrieval_setting: RetrievalSetting
    metadata_condition: MetadataCondition | None = None


@dataclass(frozen=True)
class KnowledgeScope:
    """What a ``knowledge_id`` selects: every document (None) or these documents."""

    knowledge_id: str
    documents: frozenset[str] | None = None

    def admits(self, clause: Clause) -> bool:
        return self.documents is None or clause.document in self.documents


def resolve_knowledge(searcher: Searcher, knowledge_id: str) -> KnowledgeScope | None:
    """The scope a ``knowledge_id`` names, or None when it names nothing loaded.

    ``default`` is the whole library; a document id selects that document.
    """
    if knowledge_id == DEFAULT_KNOWLEDGE_ID:
        return KnowledgeScope(knowledge_id)
    documents = {c.document for c in searcher.clauses}
    if knowledge_id in documents:
        return KnowledgeScope(knowledge_id, frozenset({knowledge_id}))
    return None


def _check_conditions(condition: MetadataCondition | None) -> None:
    for item in condition.conditions if condition else []:
        if item.name not in FIELDS:
            raise DifyError(400, 400, f"metadata_condition: unknown field {item.name!r}; "
                                      f"filter on {' or '.join(FIELDS)}.")
        if item.comparison_operator not in OPERATORS:
            raise DifyError(400, 400, f"metadata_condition: operator {item.comparison_operator!r} is not "
                                      f"supported; use one of: {', '.join(OPERATORS)}.")
        listy = item.comparison_operator in ("in", "not in")
        if listy and not isinstance(item.value, list):
            raise DifyError(400, 400, f"metadata_condition: {item.comparison_operator!r} needs a list value.")
        if not listy and not isinstance(item.value, str):
            raise DifyError(400, 400, f"metadata_condition: {item.comparison_operator!r} needs a string value.")


def _matches(clause: Clause, item: Condition) -> bool:
    actual = (clause.department if item.name == "department" else clause.document) or ""
    op, value = item.comparison_operator, item.value
    if op == "is":
        return actual == value
    if op == "is not":
        return actual != value
    if op == "in":
        return isinstance(value, list) and actual in value
    if op == "not in":
        return isinstance(value, list) and actual not in value
    return isinstance(value, str) and value in actual  # contains


def condition_admits(clause: Clause, condition: MetadataCondition | None) -> bool:
    if condition is None or not condition.conditions:
        return True
    results = (_matches(clause, item) for item in condition.conditions)
    return all(results) if condition.logical_operator == "and" else any(results)


def retrieve_records(
    searcher: Searcher,
    request: DifyRequest,
    calibration: Calibration | None = None,
) -> list[dict[str, Any]]:
    """Search and shape Dify records (see the module docstring).

    Raises:
        DifyError: unknown knowledge id (2001), a bad condition or query (400).
    """
    scope = resolve_knowledge(searcher, request.knowledge_id)
    if scope is None:
        raise DifyError(404, 2001, f"The knowledge does not exist: {request.knowledge_id[:100]!r}. "
                                   f"Use {DEFAULT_KNOWLEDGE_ID!r} or a document id of the index.")
    _check_conditions(request.metadata_condition)
    calibration = calibration or load_calibration()
    top_k = min(request.retrieval_setting.top_k, MAX_TOP_K)
    filtered = scope.documents is not None or bool(request.metadata_condition and
                                                   request.metadata_condition.conditions)
    depth = MAX_K if filtered else top_k
    try:
        answer = searcher.search(request.query, depth)
    except QueryError as exc:
        raise DifyError(400, 400, f"query: {exc}") from None
    threshold = request.retrieval_setting.score_threshold
    records: list[dict[str, Any]] = []
    for hit, score in zip(answer.hits, calibration.relevance(answer), strict=True):
        clause = hit.clause
        if not scope.admits(clause) or not condition_admits(clause, request.metadata_condition) or score < threshold:
            continue
        records.append(_record(clause, score, len(records) + 1, answer.in_scope))
        if len(records) >= top_k:
            break
    return records


def _record(clause: Clause, score: float, rank: int, in_scope: bool) -> dict[str, Any]:
    department = clause.department or "总则/附则"
    head = f"【{department}】{clause.citation}（{clause.id}）"
    if not in_scope:
        head = f"{OUT_OF_SCOPE_NOTICE}\n{head}"
    return {
        "content": f"{head}\n{clause.text}",
        "score": round(score, 6),
        "title": clause.citation,
        "metadata": {
            "id": clause.id,
            "citation": clause.citation,
            "department": clause.department or "",
            "article": clause.article,
            "item": clause.item,
            "document": clause.document,
            "document_title": clause.title,
            "rank": rank,
            "in_scope": in_scope,
        },
    }


def _authorize(header: str | None, api_key: str | None) -> None:
    if api_key is None:
        return
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DifyError(403, 1001, "Invalid Authorization header format. Expected 'Bearer <api-key>' format.")
    if not hmac.compare_digest(token.strip().encode("utf-8"), api_key.encode("utf-8")):
        raise DifyError(403, 1002, "Authorization failed: the API key is wrong.")


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_DIFY_BODY_BYTES):
        raise DifyError(400, 400, f"The body is too large or its Content-Length is invalid "
                                  f"(the limit is {MAX_DIFY_BODY_BYTES} bytes).")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_DIFY_BODY_BYTES:
            raise DifyError(400, 400, f"The body is too large (the limit is {MAX_DIFY_BODY_BYTES} bytes).")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes) -> DifyRequest:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DifyError(400, 400, f"The body is not JSON ({exc}); send a JSON object.") from None
    if not isinstance(data, dict):
        raise DifyError(400, 400, "The body must be a JSON object with knowledge_id, query and retrieval_setting.")
    try:
        return DifyRequest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise DifyError(400, 400, f"Invalid request: {problems}.") from None


def create_dify_router(
    searcher: Searcher,
    *,
    api_key: str | None = None,
    paths: Sequence[str] = DIFY_PATHS,
    calibration: Calibration | None = None,
) -> APIRouter:
    """The router serving Dify's retrieval endpoint at each of ``paths``.

    The route reads its body itself, so that every error, validation included, comes
    back in Dify's ``error_code`` shape rather than the app's ``/v1`` error shape.
    """
    router = APIRouter()
    key = api_key or None

    async def retrieval(request: Request) -> JSONResponse:
        try:
            _authorize(request.headers.get("authorization"), key)
            parsed = _parse(await _read_body(request))
            records = await run_in_threadpool(retrieve_records, searcher, parsed, calibration)
        except DifyError as exc:
            return exc.response()
        return JSONResponse({"records": records})

    for path in paths:
        router.add_api_route(
            path,
            retrieval,
            methods=["POST"],
            summary="Dify external knowledge retrieval",
            description=__doc__,
            response_model=None,
            responses={
                400: {"description": "A malformed body or field (error_code 400)"},
                403: {"description": "Missing or wrong Authorization (error_code 1001 / 1002)"},
                404: {"description": "Unknown knowledge_id (error_code 2001)"},
                413: {"description": "The body is too large"},
            },
        )
    return router
