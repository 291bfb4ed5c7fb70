"""The HTTP shell: a REST API under ``/v1`` and the Gradio UI at ``/``, in one app.

Routes (all JSON):

* ``POST /v1/embeddings`` — OpenAI-compatible embeddings of the served model.
  Besides OpenAI's fields it takes ``input_type`` (``"query"``, the default, or
  ``"passage"``): the server applies the e5 prefixes ``"query: "`` / ``"passage: "``
  itself, so clients send the bare text.
* ``POST /v1/search`` — ``{query, k, department?, mode?}`` → the answer document
  of :func:`retriever.present.answer_to_dict` (the same as ``retriever search --json``).
* ``GET /v1/clauses/{clause_id}`` — one clause (:func:`~retriever.present.clause_to_dict`)
  plus ``article_clause_ids``, every clause id of its article in order.
  Ids such as ``doc#18.7`` must percent-encode ``#`` as ``%23``.
* ``GET /v1/departments`` — the departments in corpus order.
* ``GET /v1/models`` — the served model, OpenAI style (``client.models.list()``).
* ``GET /healthz`` — status, model, clause count and the index manifest.
* ``GET /docs`` / ``GET /openapi.json`` — the OpenAPI description.

Errors. Every ``/v1`` error is ``{"error": {"message", "type", "code", "param"}}``
(OpenAI's shape) with a 4xx status:

* 400 ``invalid_request_error`` — malformed JSON, wrong types, out-of-range
  values, unknown fields in ``/v1/search``, a query the searcher rejects
  (empty, too long, binary or control characters), too many or too long
  embedding inputs, token-id inputs, an unknown model or department.
  Request-validation errors are deliberately **400, not FastAPI's 422**, as
  OpenAI clients expect; the message names the offending field.
* 401 ``authentication_error`` — ``RETRIEVER_API_KEY`` (or ``api_key``) is set
  and the request lacks ``Authorization: Bearer <key>`` or has a wrong key.
  Checked before anything else is read; ``/healthz``, ``/docs`` and the UI stay open.
* 404 ``not_found_error`` — unknown clause id or unknown ``/v1`` route.
* 405 ``invalid_request_error`` — a known ``/v1`` route with the wrong method.
* 413 ``invalid_request_error`` — a request body over :data:`MAX_BODY_BYTES`.
* 500 ``server_error`` — a bug; the body never carries a traceback.

Clause ids are looked up in the searcher's memory only; nothing a client sends
names a file. Handlers hold no search logic: they validate, call the
:class:`~retriever.search.Searcher` and format through :mod:`retriever.present`.
"""

from __future__ import annotations

import base64
import hmac
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retriever.errors import QueryError
from retriever.present import answer_to_dict, clause_to_dict
from retriever.records import MODES, Mode
from retriever.search import MAX_QUERY_CHARS, Searcher, open_searcher

__all__ = [
    "API_PREFIX",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "MAX_BODY_BYTES",
    "MAX_CLAUSE_ID_CHARS",
    "MAX_EMBED_BATCH",
    "MAX_EMBED_INPUT_CHARS",
    "MAX_SEARCH_K",
    "ApiError",
    "EmbeddingRequest",
    "SearchRequest",
    "create_app",
    "serve",
]

#: Where the REST routes live.
API_PREFIX = "/v1"
#: Default bind address (env ``RETRIEVER_HOST``).
DEFAULT_HOST = "127.0.0.1"
#: Default port (env ``RETRIEVER_PORT``).
DEFAULT_PORT = 7860
#: Largest request body accepted under ``/v1`` (bytes); larger → 413.
MAX_BODY_BYTES = 1_000_000
#: Most strings one ``/v1/embeddings`` request may embed.
MAX_EMBED_BATCH = 64
#: Longest string ``/v1/embeddings`` accepts (characters).
MAX_EMBED_INPUT_CHARS = 2000
#: Largest ``k`` for ``/v1/search``.
MAX_SEARCH_K = 50
#: Longest clause id looked up (anything longer cannot exist).
MAX_CLAUSE_ID_CHARS = 200

_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")

# --------------------------------------------------------------------------- errors


class ApiError(Exception):
    """An error the client caused, rendered as an OpenAI-style JSON body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        type: str = "invalid_request_error",
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type
        self.param = param
        self.headers = headers


def _error_body(message: str, type_: str, code: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code, "param": param}}


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        _error_body(error.message, error.type, error.code, error.param),
        status_code=error.status,
        headers=error.headers,
    )


def _field_path(loc: Sequence[Any]) -> str:
    parts = [str(part) for part in loc if part != "body"]
    return ".".join(parts) if parts else "body"


async def _validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 → 400 with one readable message naming each bad field."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(err.get("type") == "json_invalid" for err in errors):
        detail = next(
            (str(err.get("ctx", {}).get("error", "")) for err in errors if err.get("type") == "json_invalid"),
            "",
        )
        return _error_response(
            ApiError(400, f"Malformed JSON body: {detail or 'cannot be parsed'}.", code="invalid_json")
        )
    problems: list[str] = []
    for err in errors[:10]:
        path = _field_path(err.get("loc", ()))
        msg = str(err.get("msg", "invalid value"))
        if path == "body" and err.get("type") == "missing":
            msg = "the body is empty: send a JSON object (Content-Type: application/json)"
        elif path == "body" and err.get("type") in {"dict_type", "model_attributes_type"}:
            msg = "the body must be a JSON object (send Content-Type: application/json)"
        problems.append(f"{path}: {msg}")
    first = errors[0] if errors else {}
    param = _field_path(first.get("loc", ())) if first else None
    return _error_response(
        ApiError(400, "Invalid request: " + "; ".join(problems) + ".", code="invalid_request", param=param)
    )


async def _api_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _error_response(exc)


_STATUS_TYPES: dict[int, tuple[str, str]] = {
    401: ("authentication_error", "invalid_api_key"),
    404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "request_too_large"),
}


async def _http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette/FastAPI HTTP errors in the same JSON shape."""
    assert isinstance(exc, StarletteHTTPException)
    type_, code = _STATUS_TYPES.get(exc.status_code, ("invalid_request_error", "http_error"))
    if exc.status_code >= 500:
        type_, code = "server_error", "internal_error"
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
    return JSONResponse(
        _error_body(detail, type_, code),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _unexpected_handler(_request: Request, _exc: Exception) -> JSONResponse:
    """A bug: say so without leaking internals (the traceback goes to the log)."""
    return JSONResponse(
        _error_body("Internal server error.", "server_error", "internal_error"), status_code=500
    )


# ------------------------------------------------------------------- ASGI guard


class _BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    An HTTPException so that FastAPI re-raises it unchanged while reading the
    body, and the JSON handler renders it as 413.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body too large: the limit is {limit} bytes.")


class _V1Guard:
    """Pure ASGI middleware for ``/v1``: bearer auth first, then the body-size limit.

    Runs before FastAPI parses anything, so an unauthenticated client learns
    nothing about its request, and an oversized body is refused from its
    ``Content-Length`` without being read (or, when streamed, as soon as it
    passes the limit).
    """

    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.api_key = api_key.encode("utf-8") if api_key else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        if self.api_key is not None and not self._authorized(headers.get("authorization")):
            error = ApiError(
                401,
                "Missing or invalid API key: send 'Authorization: Bearer <key>'.",
                type="authentication_error",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await _error_response(error)(scope, receive, send)
            return
        length = headers.get("content-length")
        if length is not None:
            try:
                declared = int(length.decode("latin-1"))
            except ValueError:
                declared = -1
            if declared < 0:
                error = ApiError(400, "Invalid Content-Length header.", code="invalid_request")
                await _error_response(error)(scope, receive, send)
                return
            if declared > self.max_body_bytes:
                error = ApiError(
                    413,
                    f"Request body too large: {declared} bytes; the limit is {self.max_body_bytes}.",
                    code="request_too_large",
                )
                await _error_response(error)(scope, receive, send)
                return

        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)

    def _authorized(self, header: bytes | None) -> bool:
        assert self.api_key is not None
        if not header:
            return False
        scheme, _, token = header.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        return hmac.compare_digest(token.strip(), self.api_key)


# ------------------------------------------------------------------ request models


def _check_text(value: str, what: str) -> str:
    """Refuse strings that cannot be text: lone surrogates and control characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} contains invalid Unicode (a lone surrogate)") from None
    if any(ch < " " and ch not in _ALLOWED_CONTROLS for ch in value) or "\x7f" in value:
        raise ValueError(f"{what} contains control characters (binary data is not accepted)")
    return value


class EmbeddingRequest(BaseModel):
    """OpenAI's embeddings request, plus ``input_type``.

    ``input`` is one string or a list of at most :data:`MAX_EMBED_BATCH` strings
    of at most :data:`MAX_EMBED_INPUT_CHARS` characters; token-id arrays are
    refused. ``input_type`` picks the e5 prefix the server adds: ``"query"``
    (``"query: "``, default) for search queries, ``"passage"`` (``"passage: "``)
    for documents. Unknown extra fields are ignored, as OpenAI clients may send more.
    """

    model_config = ConfigDict(strict=True, extra="ignore")

    input: str | list[str] = Field(description="Text or list of texts to embed.")
    model: str = Field(description="The served model id (see GET /v1/models) or an alias.")
    encoding_format: Literal["float", "base64"] = Field(
        default="float", description="'float' lists, or 'base64' of little-endian float32."
    )
    user: str | None = Field(default=None, description="Ignored; accepted for compatibility.")
    input_type: Literal["query", "passage"] = Field(
        default="query",
        description="Extension: 'query' adds e5's 'query: ' prefix, 'passage' adds 'passage: '.",
    )
    dimensions: int | None = Field(
        default=None, description="Must equal the model's dimension if given (no truncation)."
    )

    @field_validator("input", mode="before")
    @classmethod
    def _strings_only(cls, value: object) -> object:
        if isinstance(value, list) and any(not isinstance(item, str) for item in value):
            raise ValueError(
                "only strings are supported: send text or a list of texts, not token ids or other values"
            )
        if not isinstance(value, (str, list)):
            raise ValueError("input must be a string or a list of strings")
        return value


class SearchRequest(BaseModel):
    """A search: the question, how many clauses, and an optional department filter."""

    model_config = ConfigDict(strict=True, extra="forbid")

    query: str = Field(description="The question, in Chinese (at most MAX_QUERY_CHARS characters).")
    k: int = Field(default=10, ge=1, le=MAX_SEARCH_K, description="How many clauses to return.")
    department: str | None = Field(
        default=None, description="Restrict hits to this department (see GET /v1/departments)."
    )
    mode: Literal["bm25", "dense", "hybrid", "full"] = Field(
        default="full", description="Search pipeline; 'full' is the complete engine."
    )

    @field_validator("query", "department")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else _check_text(value, "the text")


class ModelCard(BaseModel):
    """One entry of ``GET /v1/models``."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "duty-retriever"
    dimension: int


class ModelList(BaseModel):
    """``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class EmbeddingItem(BaseModel):
    """One vector of an embeddings response."""

    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    """Token counts of an embeddings request."""

    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    """OpenAI's embeddings response."""

    object: Literal["list"] = "list"
    data: list[EmbeddingItem]
    model: str
    usage: EmbeddingUsage


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid request (JSON error body)."},
    401: {"description": "Missing or wrong bearer token, when the server has an API key."},
    413: {"description": "Request body too large."},
}


# ----------------------------------------------------------------------- helpers


def _model_aliases(model_id: str) -> set[str]:
    """Names a client may use for the served model (compared case-insensitively)."""
    tail = model_id.rstrip("/").rsplit("/", 1)[-1]
    return {model_id.lower(), tail.lower()}


def _encode_vector(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return [float(x) for x in np.asarray(vector, dtype=np.float32)]


def _v1_route_table(router: APIRouter) -> list[tuple[Any, set[str]]]:
    """(compiled path regex, methods) of the routes defined so far, for 405s."""
    table: list[tuple[Any, set[str]]] = []
    for route in router.routes:
        regex = getattr(route, "path_regex", None)
        methods = getattr(route, "methods", None)
        if regex is not None and methods:
            table.append((regex, set(methods)))
    return table


# --------------------------------------------------------------------------- app


def create_app(
    searcher: Searcher,
    *,
    api_key: str | None = None,
    mount_ui: bool = True,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The FastAPI app: ``/v1`` REST routes, ``/healthz``, and the Gradio UI at ``/``.

    Args:
        searcher: an opened searcher; every route answers from it.
        api_key: if set (non-empty), every ``/v1`` route requires
            ``Authorization: Bearer <api_key>``. The environment is *not* read
            here (``serve`` does that), so tests control auth explicitly.
        mount_ui: mount the Gradio UI of :func:`retriever.ui.build_ui` at ``/``.
        max_body_bytes: the ``/v1`` request body limit.
    """
    model_id = searcher.embedder.model_id
    dimension = int(searcher.embedder.dimension)
    aliases = _model_aliases(model_id)
    max_query = MAX_QUERY_CHARS

    app = FastAPIOffline(
        title="duty-retriever",
        summary="Semantic search over the regional safety-duty regulations (who supervises what).",
        description=(
            "REST API of duty-retriever. `/v1/embeddings` is OpenAI-compatible; the server adds "
            "the e5 prefixes (`query: ` by default, `passage: ` with `input_type: \"passage\"`). "
            "Errors are `{\"error\": {\"message\", \"type\", \"code\", \"param\"}}` with a 4xx "
            "status; validation errors are 400. If the server has an API key, `/v1` routes "
            "need `Authorization: Bearer <key>`."
        ),
        version=str(searcher.manifest.get("package_version", "0")),
    )
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(Exception, _unexpected_handler)
    app.add_middleware(_V1Guard, api_key=api_key or None, max_body_bytes=max_body_bytes)

    router = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES, strict_content_type=False)

    @router.get("/models", response_model=ModelList, summary="The served embedding model")
    def list_models() -> ModelList:
        """The one served model, in OpenAI's ``/v1/models`` shape."""
        return ModelList(data=[ModelCard(id=model_id, dimension=dimension)])

    @router.post("/embeddings", response_model=EmbeddingResponse, summary="Embed texts (OpenAI-compatible)")
    def embeddings(request: EmbeddingRequest) -> EmbeddingResponse:
        """Embed one text or a batch with the served e5 model.

        The server applies the e5 prefix for ``input_type`` (``"query: "`` or
        ``"passage: "``); send the bare text. Vectors are L2-normalised float32,
        as lists (``encoding_format: "float"``) or base64 of little-endian float32.
        """
        if request.model.lower() not in aliases:
            raise ApiError(
                400,
                f"Unknown model {request.model!r}: this server serves {model_id!r}.",
                code="model_not_found",
                param="model",
            )
        if request.dimensions is not None and request.dimensions != dimension:
            raise ApiError(
                400,
                f"dimensions={request.dimensions} is not supported: {model_id} has {dimension}.",
                code="invalid_dimensions",
                param="dimensions",
            )
        texts = [request.input] if isinstance(request.input, str) else list(request.input)
        if not texts:
            raise ApiError(400, "input is an empty list: send at least one text.", code="empty_input", param="input")
        if len(texts) > MAX_EMBED_BATCH:
            raise ApiError(
                400,
                f"Too many inputs: {len(texts)}; at most {MAX_EMBED_BATCH} per request.",
                code="too_many_inputs",
                param="input",
            )
        for index, text in enumerate(texts):
            where = "input" if isinstance(request.input, str) else f"input[{index}]"
            if not text.strip():
                raise ApiError(400, f"{where} is empty.", code="empty_input", param="input")
            if len(text) > MAX_EMBED_INPUT_CHARS:
                raise ApiError(
                    400,
                    f"{where} has {len(text)} characters; at most {MAX_EMBED_INPUT_CHARS} are accepted.",
                    code="input_too_long",
                    param="input",
                )
            try:
                _check_text(text, where)
            except ValueError as exc:
                raise ApiError(400, str(exc) + ".", code="invalid_input", param="input") from None
        embedder = searcher.embedder
        encode = embedder.encode_clauses if request.input_type == "passage" else embedder.encode_queries
        vectors = encode(texts)
        tokens = sum(embedder.count_tokens(texts))
        return EmbeddingResponse(
            data=[
                EmbeddingItem(index=i, embedding=_encode_vector(vectors[i], request.encoding_format))
                for i in range(len(texts))
            ],
            model=model_id,
            usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
        )

    @router.post("/search", summary="Answer a question: departments, then ranked clauses")
    def search(request: SearchRequest) -> dict[str, Any]:
        """The answer document of ``retriever search --json``.

        ``in_scope`` is false when no clause answers the question; the hits are
        then only the nearest clauses (``nearest_only``).
        """
        if len(request.query) > max_query:
            raise ApiError(
                400,
                f"query has {len(request.query)} characters; at most {max_query} are accepted.",
                code="query_too_long",
                param="query",
            )
        department = request.department or None
        if department is not None and department not in searcher.departments():
            raise ApiError(
                400,
                f"Unknown department {department!r}; GET {API_PREFIX}/departments lists them.",
                code="unknown_department",
                param="department",
            )
        mode: Mode = request.mode if request.mode in MODES else "full"
        try:
            answer = searcher.search(request.query, request.k, department=department, mode=mode)
        except QueryError as exc:
            raise ApiError(400, str(exc), code="invalid_query", param="query") from None
        return answer_to_dict(answer)

    @router.get("/clauses/{clause_id:path}", summary="One clause and its article's clause ids")
    def get_clause(clause_id: str) -> dict[str, Any]:
        """The clause with ``clause_id`` (e.g. ``30.6``), plus ``article_clause_ids``.

        ``article_clause_ids`` lists every clause of the same article in order
        (this one included). 404 if the id is unknown.
        """
        not_found = ApiError(
            404, f"Unknown clause id {clause_id[:80]!r}.", type="not_found_error", code="clause_not_found",
            param="clause_id",
        )
        if not clause_id or len(clause_id) > MAX_CLAUSE_ID_CHARS:
            raise not_found
        try:
            clause = searcher.clause(clause_id)
            article = searcher.article(clause_id)
        except KeyError:
            raise not_found from None
        body = clause_to_dict(clause)
        body["article_clause_ids"] = [c.id for c in article]
        return body

    @router.get("/departments", summary="Departments in corpus order")
    def departments() -> dict[str, Any]:
        """``{"departments": [...]}``: the values ``/v1/search`` accepts as ``department``."""
        return {"departments": list(searcher.departments())}

    route_table = _v1_route_table(router)

    all_methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

    @router.api_route("", methods=all_methods, include_in_schema=False)
    @router.api_route("/{rest:path}", methods=all_methods, include_in_schema=False)
    def v1_fallback(request: Request) -> None:
        """Unknown ``/v1`` path → 404, known path with another method → 405 (JSON).

        Without it the UI mounted at ``/`` would answer these with Gradio's own 404.
        """
        path = request.url.path
        allowed = sorted({m for regex, methods in route_table if regex.match(path) for m in methods})
        if allowed:
            raise ApiError(
                405,
                f"Method {request.method} is not allowed here; use {', '.join(allowed)}.",
                code="method_not_allowed",
                headers={"Allow": ", ".join(allowed)},
            )
        raise ApiError(404, f"No API route {path[:200]!r}.", type="not_found_error", code="route_not_found")

    app.include_router(router)

    @app.head("/healthz", include_in_schema=False)
    @app.get("/healthz", summary="Liveness and what is served")
    def healthz() -> dict[str, Any]:
        """Status, the model, the clause count and the index manifest (never needs auth)."""
        return {
            "status": "ok",
            "model": {"id": model_id, "dimension": dimension},
            "clauses": len(searcher.clauses),
            "departments": len(searcher.departments()),
            "manifest": searcher.manifest,
        }

    if mount_ui:
        import gradio as gr

        from retriever.ui import UI_CSS, build_ui

        blocks = build_ui(searcher)
        app = gr.mount_gradio_app(
            app,
            blocks,
            path="/",
            css=UI_CSS,
            footer_links=[],
            run_history=False,
            ssr_mode=False,
            mcp_server=False,
            show_error=True,
        )
    return app


# ------------------------------------------------------------------------- serve


def _resolve_bind(host: str | None, port: int | None) -> tuple[str, int]:
    """Explicit values win, then ``RETRIEVER_HOST`` / ``RETRIEVER_PORT``, then the defaults."""
    resolved_host = host or os.environ.get("RETRIEVER_HOST") or DEFAULT_HOST
    if port is None:
        raw = os.environ.get("RETRIEVER_PORT", "").strip()
        try:
            port = int(raw) if raw else DEFAULT_PORT
        except ValueError:
            raise ValueError(f"RETRIEVER_PORT={raw!r} is not a port number.") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range (0-65535; 0 picks a free port).")
    return resolved_host, port


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound before the app is built so that port 0 works."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this. Without it, uvicorn serving a socket it did not
    # create leaves Nagle on, and every response on a kept-alive connection stalls ~40 ms
    # on the client's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _cache_size() -> int:
    """Answers the server caches: ``$RETRIEVER_CACHE_SIZE`` (0 turns the cache off), else 1024."""
    configured = os.environ.get("RETRIEVER_CACHE_SIZE", "").strip()
    try:
        size = int(configured) if configured else 1024
    except ValueError:
        raise ValueError(f"RETRIEVER_CACHE_SIZE must be a whole number, not {configured!r}") from None
    if size < 0:
        raise ValueError(f"RETRIEVER_CACHE_SIZE must be 0 (off) or more, not {size}")
    return size


class BuildProgress:
    """Plain progress lines while the server builds a missing index (logs and `make run` show them).

    One line when a stage starts, then one per tenth of it, so a large corpus does
    not flood the log.
    """

    def __init__(self) -> None:
        self._shown: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        tenth = 10 * done // max(total, 1)
        if stage in self._shown and tenth <= self._shown[stage]:
            return
        if not self._shown:
            print("duty-retriever: no index yet; building it (first run only, about a minute)", flush=True)
        self._shown[stage] = tenth
        name = {"embed": "embedding clauses", "bm25": "indexing words for BM25"}.get(stage, stage)
        print(f"duty-retriever: {name} {done}/{total}", flush=True)


def serve(
    host: str | None = None,
    port: int | None = None,
    index_dir: Path | None = None,
    seeds_dir: Path | None = None,
    model: str | None = None,
    api_key: str | None = None,
    *,
    log_level: str = "info",
) -> None:
    """Open (building if missing) the index and serve the UI and the API until stopped.

    Args:
        host: bind address; None → env ``RETRIEVER_HOST`` → ``127.0.0.1``.
        port: port; None → env ``RETRIEVER_PORT`` → 7860; 0 picks a free one.
        index_dir, seeds_dir, model: passed to :func:`retriever.search.open_searcher`
            (with ``build_if_missing=True``).
        api_key: bearer token for ``/v1``; None → env ``RETRIEVER_API_KEY``
            (empty means no auth).
        log_level: uvicorn's log level.

    Raises:
        IndexStateError, SeedError, ModelError: the index cannot be opened or built.
        OSError: the address cannot be bound.
    """
    import uvicorn

    bind_host, bind_port = _resolve_bind(host, port)
    key = api_key if api_key is not None else os.environ.get("RETRIEVER_API_KEY", "")
    sock = _bind(bind_host, bind_port)  # first, so that a taken port fails before the model loads
    try:
        searcher = open_searcher(index_dir, seeds_dir=seeds_dir, model=model, build_if_missing=True,
                                 progress=BuildProgress(), cache_size=_cache_size())
        searcher.warm_up()
        app = create_app(searcher, api_key=key or None)
    except BaseException:
        sock.close()
        raise
    actual_port = int(sock.getsockname()[1])
    shown_host = f"[{bind_host}]" if ":" in bind_host else bind_host
    url = f"http://{shown_host}:{actual_port}/"
    auth_note = "; /v1 requires a bearer token" if key else ""
    print(
        f"duty-retriever: serving {len(searcher.clauses)} clauses at {url} "
        f"(UI at /, API at /v1, docs at /docs{auth_note})",
        flush=True,
    )
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
