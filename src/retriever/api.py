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
* ``POST /v1/feedback`` — ``{question, answer_ids, verdict, chosen?}``: a verdict on an
  answer, stored beside the index (:mod:`retriever.feedback`); ``retriever feedback
  export`` turns the records into gold-set candidates.
* ``GET /v1/models`` — the served model, OpenAI style (``client.models.list()``).
* ``GET /healthz`` — status, model, clause count and the index manifest (async: answered
  even while every worker thread is busy).
* ``GET|POST /login``, ``GET /logout`` — the UI's login form when a key is set.
* ``POST /retrieval`` and ``POST /v1/dify/retrieval`` — Dify's external knowledge API
  (:mod:`retriever.dify`; errors in Dify's ``error_code`` shape).
* ``/mcp`` — the MCP server over streamable HTTP (:mod:`retriever.mcp_server`).
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
  Checked before anything else is read. The UI's routes (the page, its assets,
  ``/gradio_api/*``) accept the same header or the cookie the ``/login`` form sets;
  ``/healthz``, ``/docs``, ``/openapi.json`` and ``/login`` stay open.
* 403 ``permission_error`` — an upload to the UI (``/gradio_api/upload``): always refused.
* 404 ``not_found_error`` — unknown clause id or unknown ``/v1`` route.
* 405 ``invalid_request_error`` — a known route with the wrong method, or a method
  no route takes (TRACE, CONNECT, …) anywhere.
* 408 ``invalid_request_error`` — the body was not received within ``body_timeout_s``.
* 413 ``invalid_request_error`` — a request body over ``max_body_bytes`` (every route,
  refused from ``Content-Length`` before reading), or embeddings over
  :data:`MAX_REQUEST_TOKENS` tokens.
* 429 ``rate_limit_error`` — over the per-client rate, when one is set; ``Retry-After``.
* 503 ``server_busy`` — every work slot taken and the wait queue full (or the wait
  too long); ``Retry-After``.
* 500 ``server_error`` — a bug; the body never carries a traceback. The UI's own
  non-JSON errors are rewritten into this shape too.

Limits and access live in :class:`ApiSettings` (``RETRIEVER_*`` variables); user
input quoted in an error is cut to 100 characters.

Clause ids are looked up in the searcher's memory only; nothing a client sends
names a file. Handlers hold no search logic: they validate, call the
:class:`~retriever.search.Searcher` and format through :mod:`retriever.present`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import json
import math
import os
import socket
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

import numpy as np
import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retriever.embed import Coalescer
from retriever.errors import QueryError
from retriever.feedback import MAX_ANSWER_IDS, Feedback, FeedbackStore, feedback_path, index_version, now_utc
from retriever.present import (
    DEFAULT_CONTEXT_TOKENS,
    MAX_CONTEXT_TOKENS,
    MIN_CONTEXT_TOKENS,
    answer_to_dict,
    clause_to_dict,
    context_to_dict,
    document_to_dict,
)
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
    "MAX_INPUT_TOKENS",
    "MAX_REQUEST_TOKENS",
    "MAX_SEARCH_K",
    "SERVER_MODEL_THREADS",
    "ApiError",
    "ApiSettings",
    "EmbeddingRequest",
    "FeedbackRequest",
    "SearchRequest",
    "create_app",
    "serve",
    "server_model_threads",
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
#: Tokens one embedding input counts at most: the model truncates longer inputs there.
MAX_INPUT_TOKENS = 512
#: Tokens one ``/v1/embeddings`` request may cost in all (inputs × their tokens); more → 413.
MAX_REQUEST_TOKENS = 8192
#: Longest piece of user input quoted back in an error message (characters).
MAX_QUOTED_CHARS = 100
#: Largest ``k`` for ``/v1/search``.
MAX_SEARCH_K = 50
#: Longest clause id looked up (anything longer cannot exist).
MAX_CLAUSE_ID_CHARS = 200

_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")
#: Routes under /v1 that check their own key (see retriever.dify).
DIFY_PREFIX = API_PREFIX + "/dify/"

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


def _cut(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """``text`` cut to ``limit`` characters (marked with its full length when cut)."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _quote(text: str) -> str:
    """User input quoted for an error message, at most :data:`MAX_QUOTED_CHARS` characters of it."""
    return repr(text) if len(text) <= MAX_QUOTED_CHARS else f"{text[:MAX_QUOTED_CHARS]!r}… ({len(text)} characters)"


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        _error_body(error.message, error.type, error.code, error.param),
        status_code=error.status,
        headers=error.headers,
    )


def _field_path(loc: Sequence[Any]) -> str:
    parts = [_cut(str(part)) for part in loc if part != "body"]
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
        elif err.get("type") == "string_too_short" and err.get("ctx", {}).get("min_length") == 1:
            msg = "must not be empty"
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
    403: ("permission_error", "forbidden"),
    408: ("invalid_request_error", "request_timeout"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_error", "rate_limited"),
    503: ("server_busy", "overloaded"),
}


async def _http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Starlette/FastAPI HTTP errors in the same JSON shape."""
    assert isinstance(exc, StarletteHTTPException)
    type_, code = _STATUS_TYPES.get(exc.status_code, ("invalid_request_error", "http_error"))
    if exc.status_code >= 500:
        type_, code = "server_error", "internal_error"
    detail = _cut(exc.detail, 300) if isinstance(exc.detail, str) else "Request failed."
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


# ------------------------------------------------------------------- settings


def _env_number(environ: Mapping[str, str], name: str, default: float, *, minimum: float = 0) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw[:100]!r} is not a number.") from None
    if value < minimum or value != value:  # NaN
        raise ValueError(f"{name}={raw[:100]!r} must be at least {minimum:g}.")
    return value


@dataclass(frozen=True)
class ApiSettings:
    """Who may call the server and how much work one request or one client may cause.

    Every field has an environment variable (read by :meth:`from_env`, which
    ``serve`` uses); ``create_app`` never reads the environment itself.
    """

    #: ``RETRIEVER_API_KEY``: bearer token for ``/v1`` and, via a login cookie, the UI. None: open.
    api_key: str | None = None
    #: ``RETRIEVER_MAX_BODY_BYTES``: largest request body on any route; refused from its
    #: ``Content-Length`` before it is read, or as soon as a streamed body passes it.
    max_body_bytes: int = MAX_BODY_BYTES
    #: ``RETRIEVER_BODY_TIMEOUT``: seconds a client may take to send its whole body (then 408).
    body_timeout_s: float = 10.0
    #: ``RETRIEVER_MAX_REQUEST_TOKENS``: tokens one ``/v1/embeddings`` request may cost (then 413).
    max_request_tokens: int = MAX_REQUEST_TOKENS
    #: ``RETRIEVER_MAX_CONCURRENT``: requests doing work (search, embeddings, clauses, UI calls) at once.
    max_concurrent: int = 16
    #: ``RETRIEVER_MAX_QUEUED``: requests allowed to wait for a slot; one more gets 503 at once.
    max_queued: int = 64
    #: ``RETRIEVER_QUEUE_TIMEOUT``: seconds a request may wait for a slot (then 503).
    queue_timeout_s: float = 15.0
    #: ``RETRIEVER_RATE_LIMIT``: requests per minute per client address on ``/v1``, the UI's
    #: API and the login form; 0 (default) turns rate limiting off.
    rate_limit_per_minute: float = 0.0
    #: ``RETRIEVER_RATE_BURST``: requests a client may send at once before the rate applies.
    rate_burst: int = 20
    #: ``RETRIEVER_CORS_ORIGINS``: comma-separated origins allowed to call from a browser
    #: (``*`` for any); empty (default): no CORS headers at all.
    cors_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        """Settings from ``RETRIEVER_*`` variables (unset or empty: the default).

        Raises:
            ValueError: a variable holds something that is not a valid value.
        """
        env = os.environ if environ is None else environ
        base = cls()
        origins = tuple(o.strip().rstrip("/") for o in env.get("RETRIEVER_CORS_ORIGINS", "").split(",") if o.strip())
        return cls(
            api_key=env.get("RETRIEVER_API_KEY", "") or None,
            max_body_bytes=int(_env_number(env, "RETRIEVER_MAX_BODY_BYTES", base.max_body_bytes, minimum=1)),
            body_timeout_s=_env_number(env, "RETRIEVER_BODY_TIMEOUT", base.body_timeout_s, minimum=0.1),
            max_request_tokens=int(_env_number(env, "RETRIEVER_MAX_REQUEST_TOKENS", base.max_request_tokens,
                                               minimum=1)),
            max_concurrent=int(_env_number(env, "RETRIEVER_MAX_CONCURRENT", base.max_concurrent, minimum=1)),
            max_queued=int(_env_number(env, "RETRIEVER_MAX_QUEUED", base.max_queued)),
            queue_timeout_s=_env_number(env, "RETRIEVER_QUEUE_TIMEOUT", base.queue_timeout_s, minimum=0.01),
            rate_limit_per_minute=_env_number(env, "RETRIEVER_RATE_LIMIT", base.rate_limit_per_minute),
            rate_burst=int(_env_number(env, "RETRIEVER_RATE_BURST", base.rate_burst, minimum=1)),
            cors_origins=origins,
        )


# ------------------------------------------------------------------- ASGI gate

#: Methods any route may be called with; anything else (TRACE, CONNECT, …) is a JSON 405.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Routes open without a key: liveness, the API description, the login form.
_OPEN_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/login",
                         "/logout"})
_OPEN_PREFIXES = ("/static-offline-docs/",)
#: Methods of the open routes (their other methods are a JSON 405 here, not the UI's answer).
_OPEN_METHODS: dict[str, tuple[str, ...]] = {"/healthz": ("GET", "HEAD"), "/login": ("GET", "POST")}
#: The UI login cookie (HttpOnly, SameSite=Strict); its value is an HMAC of the key, never the key.
UI_COOKIE = "retriever_ui"


def _path_kind(path: str) -> Literal["api", "open", "ui", "own"]:
    # Dify's route and the MCP endpoint check the key themselves, answering in their own shapes.
    if path == "/retrieval" or path.startswith(DIFY_PREFIX) or path == "/mcp" or path.startswith("/mcp/"):
        return "own"
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return "api"
    if path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES):
        return "open"
    return "ui"


def _is_work(method: str, path: str) -> bool:
    """Requests that run the model or the engine: they take a concurrency slot."""
    if path in (f"{API_PREFIX}/search", f"{API_PREFIX}/embeddings", "/retrieval", f"{DIFY_PREFIX}retrieval") \
            or path.startswith(f"{API_PREFIX}/clauses/"):
        return True
    if path == "/mcp" and method == "POST":
        return True
    return method == "POST" and path.startswith("/gradio_api/")


def ui_cookie_value(api_key: str) -> str:
    """The login cookie's value for ``api_key`` (an HMAC: the cookie never carries the key)."""
    return hmac.new(api_key.encode("utf-8"), b"duty-retriever-ui-session", hashlib.sha256).hexdigest()


class _Slots:
    """At most ``limit`` requests at work; ``queued`` more may wait up to ``timeout`` seconds."""

    def __init__(self, limit: int, queued: int, timeout: float) -> None:
        self.limit = limit
        self.queued = queued
        self.timeout = timeout
        self.active = 0
        self.waiting = 0
        self._freed: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._freed is None or self._loop is not loop:
            self._freed, self._loop = asyncio.Condition(), loop
        return self._freed

    async def acquire(self) -> bool:
        """Take a slot; False (at once, or after the timeout) when none can be had."""
        if self.active < self.limit and not self.waiting:
            self.active += 1
            return True
        if self.waiting >= self.queued:
            return False
        freed = self._condition()
        self.waiting += 1
        try:
            async with freed:
                try:
                    await asyncio.wait_for(freed.wait_for(lambda: self.active < self.limit), self.timeout)
                except TimeoutError:
                    if self.active < self.limit:  # a slot freed as we gave up: pass the wake-up on
                        freed.notify(1)
                    return False
                self.active += 1
                return True
        finally:
            self.waiting -= 1

    async def release(self) -> None:
        self.active -= 1
        if self.waiting:
            freed = self._condition()
            async with freed:
                freed.notify(1)


class _RateLimiter:
    """A token bucket per client: ``burst`` requests at once, refilled at ``per_minute``."""

    _MAX_CLIENTS = 10_000

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, client: str, now: float) -> float:
        """0 if ``client`` may go now (and charge it), else the seconds until it may."""
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self._buckets) >= self._MAX_CLIENTS and client not in self._buckets:
            self._forget_full(now)
        self._buckets[client] = (tokens - 1.0, now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (they hold no information)."""
        for client, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.burst:
                del self._buckets[client]


class _BodyError(Exception):
    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


class _Gate:
    """Pure ASGI middleware in front of every route (API, docs, Gradio UI).

    In order: unknown methods → 405; CORS preflights of allowed origins; the
    key (bearer header, or the UI login cookie for the UI's routes) before
    anything is read; uploads refused; the per-client rate; the body limit
    (from ``Content-Length`` before reading, then while reading, with a
    deadline), the UI's ``fn_index`` checked; a concurrency slot for work.
    Responses lose every CORS header unless the origin is allowed, and the UI's
    error responses are rewritten into the API's JSON error shape.
    """

    def __init__(self, app: ASGIApp, *, settings: ApiSettings, ui_fns: frozenset[int] | None,
                 slots: _Slots) -> None:
        self.app = app
        self.settings = settings
        self.api_key = settings.api_key.encode("utf-8") if settings.api_key else None
        self.cookie = ui_cookie_value(settings.api_key) if settings.api_key else None
        self.ui_fns = ui_fns
        self.slots = slots
        self.rate = (_RateLimiter(settings.rate_limit_per_minute, settings.rate_burst)
                     if settings.rate_limit_per_minute > 0 else None)
        self.any_origin = "*" in settings.cors_origins
        self.origins = frozenset(settings.cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if self.api_key is not None and not self._authorized(_headers(scope), "ui"):
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        method = str(scope["method"]).upper()
        path = str(scope.get("path", ""))
        kind = _path_kind(path)
        origin = headers.get("origin", b"").decode("latin-1").rstrip("/")
        allowed_origin = bool(origin) and (self.any_origin or origin in self.origins)
        reply = _Reply(scope, receive, send, origin if allowed_origin else None)
        try:
            if method not in _METHODS:
                allow = "GET, HEAD, POST, OPTIONS"
                raise ApiError(405, f"Method {_quote(method)} is not supported; use {allow}.",
                               code="method_not_allowed", headers={"Allow": allow})
            if method == "OPTIONS" and allowed_origin and "access-control-request-method" in headers:
                await reply.preflight()
                return
            if kind == "open" and method not in _OPEN_METHODS.get(path, ("GET",)):
                allow = ", ".join(_OPEN_METHODS.get(path, ("GET",)))
                raise ApiError(405, f"Method {_quote(method)} is not allowed here; use {allow}.",
                               code="method_not_allowed", headers={"Allow": allow})
            if self.api_key is not None and kind not in ("open", "own") and not self._authorized(headers, kind):
                if kind == "ui" and method in ("GET", "HEAD") and path == "/":
                    await reply.redirect("/login")
                    return
                how = ("send 'Authorization: Bearer <key>'" if kind == "api"
                       else "log in at /login (or send 'Authorization: Bearer <key>')")
                raise ApiError(401, f"Missing or invalid API key: {how}.", type="authentication_error",
                               code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
            if kind == "ui" and (path.startswith("/gradio_api/upload") or path.startswith("/upload")):
                raise ApiError(403, "Uploads are disabled on this server.", type="permission_error",
                               code="uploads_disabled")
            if self.rate is not None and (kind == "api" or path.startswith("/gradio_api/") or path == "/login"):
                wait = self.rate.check(self._client(scope), time.monotonic())
                if wait > 0:
                    raise ApiError(429, f"Too many requests: at most {self.settings.rate_limit_per_minute:g} a "
                                   f"minute per client. Retry in {math.ceil(wait)} s.", type="rate_limit_error",
                                   code="rate_limited", headers={"Retry-After": str(math.ceil(wait))})
            body = await self._read_body(headers, receive)
            if kind == "ui" and method == "POST" and path.startswith("/gradio_api/"):
                self._check_fn_index(body)
        except ApiError as error:
            await reply.error(error)
            return
        except _BodyError as exc:
            await reply.error(exc.error)
            return

        work = _is_work(method, path)
        if work and not await self.slots.acquire():
            await reply.error(ApiError(
                503, "The server is busy: too many requests are waiting. Retry shortly.", type="server_busy",
                code="overloaded", headers={"Retry-After": "2"}))
            return
        try:
            await self.app(scope, _replay(body, receive), reply.wrap(rewrite_errors=kind == "ui"))
        finally:
            if work:
                await self.slots.release()

    async def _read_body(self, headers: dict[str, bytes], receive: Receive) -> bytes:
        limit = self.settings.max_body_bytes
        length = headers.get("content-length")
        if length is not None:
            text = length.decode("latin-1").strip()
            if not text.isdigit():
                raise ApiError(400, "Invalid Content-Length header.", code="invalid_request")
            if int(text) > limit:
                raise ApiError(413, f"Request body too large: {int(text)} bytes; the limit is {limit}.",
                               code="request_too_large")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.settings.body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":  # the client went away
                        raise _BodyError(ApiError(400, "The client disconnected.", code="disconnected"))
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise _BodyError(ApiError(413, f"Request body too large: the limit is {limit} bytes.",
                                                  code="request_too_large"))
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise _BodyError(ApiError(
                408, f"The request body was not received within {self.settings.body_timeout_s:g} s.",
                code="request_timeout")) from None

    def _check_fn_index(self, body: bytes) -> None:
        """The UI's event calls name a function by index: an unknown one is a 400, not Gradio's 500."""
        if self.ui_fns is None or not body.strip():
            return
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "Malformed JSON body: cannot be parsed.", code="invalid_json") from None
        if not isinstance(payload, dict) or "fn_index" not in payload:
            return
        fn_index = payload["fn_index"]
        if type(fn_index) is not int or fn_index not in self.ui_fns:
            raise ApiError(400, f"Unknown fn_index {_quote(json.dumps(fn_index))}: this UI has "
                           f"{len(self.ui_fns)} function(s).", code="unknown_function", param="fn_index")

    def _authorized(self, headers: dict[str, bytes], kind: str) -> bool:
        assert self.api_key is not None and self.cookie is not None
        header = headers.get("authorization")
        if header:
            scheme, _, token = header.strip().partition(b" ")
            if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.api_key):
                return True
        if kind != "ui":
            return False
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", b"").decode("latin-1"))
        except CookieError:
            return False
        morsel = cookies.get(UI_COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), self.cookie.encode())

    @staticmethod
    def _client(scope: Scope) -> str:
        client = scope.get("client")
        return str(client[0]) if client else "unknown"


def _headers(scope: Scope) -> dict[str, bytes]:
    return {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that hands the app the body already read, then passes through (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _Reply:
    """Responses of the gate, and the ``send`` wrapper applying CORS and the UI's error shape."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, origin: str | None) -> None:
        self.scope, self.receive, self.send, self.origin = scope, receive, send, origin

    def _cors(self) -> list[tuple[bytes, bytes]]:
        if self.origin is None:
            return []
        return [(b"access-control-allow-origin", self.origin.encode("latin-1")), (b"vary", b"Origin")]

    async def error(self, error: ApiError) -> None:
        response = _error_response(error)
        response.raw_headers.extend(self._cors())
        await response(self.scope, self.receive, self.send)

    async def redirect(self, location: str) -> None:
        await RedirectResponse(location, status_code=303)(self.scope, self.receive, self.send)

    async def preflight(self) -> None:
        response = Response(status_code=204, headers={
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "600",
        })
        response.raw_headers.extend(self._cors())
        await response(self.scope, self.receive, self.send)

    def wrap(self, *, rewrite_errors: bool) -> Send:
        held: dict[str, Any] = {}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if not k.lower().startswith(b"access-control-")]
                headers.extend(self._cors())
                message = {**message, "headers": headers}
                status = int(message["status"])
                if rewrite_errors and status >= 400:
                    held.update(status=status, chunks=[], headers=headers)
                    return
            elif message["type"] == "http.response.body" and held:
                held["chunks"].append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await self._rewritten(held["status"], b"".join(held["chunks"]), held["headers"])
                return
            await self.send(message)

        return send

    async def _rewritten(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        """An error from the UI (Gradio) in the API's JSON error shape."""
        type_, code = _STATUS_TYPES.get(status, ("invalid_request_error", "ui_error"))
        detail = body.decode("utf-8", "replace").strip()
        parsed: Any = None
        with contextlib.suppress(ValueError):
            parsed = json.loads(detail)
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):  # already in our shape
            response = JSONResponse(parsed, status_code=status)
        else:
            if isinstance(parsed, dict) and isinstance(parsed.get("detail"), str):
                detail = parsed["detail"]
            elif isinstance(parsed, dict) and parsed.get("detail") is not None:
                detail = "invalid request"  # a validation list: it may echo what was sent
            if status >= 500:
                message, type_, code = "Internal server error.", "server_error", "internal_error"
            else:
                message = f"The UI refused the request ({status}): {_cut(detail, 300).rstrip('.') or 'no detail'}."
            content = _error_body(message, type_, code)
            content["detail"] = message  # Gradio's own client reads "detail"
            response = JSONResponse(content, status_code=status)
        response.raw_headers.extend((k, v) for k, v in headers if k.lower() == b"allow")
        response.raw_headers.extend(self._cors())
        await response(self.scope, self.receive, self.send)


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k.lower() == b"content-type" and b"json" in v.lower() for k, v in headers)


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

    input: str | list[str] = Field(
        description=(f"Text or list of at most {MAX_EMBED_BATCH} texts to embed, each at most "
                     f"{MAX_EMBED_INPUT_CHARS} characters and not blank. Each counts at most "
                     f"{MAX_INPUT_TOKENS} tokens (the model truncates there); a request may cost at most "
                     f"{MAX_REQUEST_TOKENS} tokens in all (413 otherwise)."),
        json_schema_extra={"anyOf": [
            {"type": "string", "minLength": 1, "maxLength": MAX_EMBED_INPUT_CHARS},
            {"type": "array", "minItems": 1, "maxItems": MAX_EMBED_BATCH,
             "items": {"type": "string", "minLength": 1, "maxLength": MAX_EMBED_INPUT_CHARS}},
        ]},
    )
    model: str = Field(description="The served model id (see GET /v1/models) or an alias.",
                       json_schema_extra={"minLength": 1})
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

    query: str = Field(description=f"The question, in Chinese (at most {MAX_QUERY_CHARS} characters, not blank).",
                       json_schema_extra={"minLength": 1, "maxLength": MAX_QUERY_CHARS})
    k: int = Field(default=10, ge=1, le=MAX_SEARCH_K, description="How many clauses to return.")
    department: str | None = Field(
        default=None, description="Restrict hits to this department (see GET /v1/departments)."
    )
    mode: Literal["bm25", "dense", "hybrid", "full"] = Field(
        default="full", description="Search pipeline; 'full' is the complete engine."
    )
    format: Literal["json", "context"] = Field(
        default="json",
        description="'json': the answer document; 'context': one RAG-ready text block of numbered cited "
        "clauses and the department answer, within context_tokens.",
    )
    context_tokens: int = Field(
        default=DEFAULT_CONTEXT_TOKENS, ge=MIN_CONTEXT_TOKENS, le=MAX_CONTEXT_TOKENS,
        description="Token budget of the 'context' block (estimated: one per Chinese character).",
    )
    document: str | None = Field(default=None, description="Only clauses of this document (see GET /v1/documents).")
    region: str | None = Field(
        default=None, description="Answer for this region (default: the place the question names, else the "
        "library's home region); other regions' documents are left out.")
    level: Literal["national", "provincial", "city", "unknown"] | None = Field(
        default=None, description="Only documents of this level.")
    include_superseded: bool = Field(default=False, description="Also search versions a newer one replaces.")

    @field_validator("query", "department", "document", "region")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else _check_text(value, "the text")


class FeedbackRequest(BaseModel):
    """A verdict on an answer: the question, the clause ids it showed, up or down, the right clause."""

    model_config = ConfigDict(strict=True, extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="The question as asked.")
    answer_ids: list[str] = Field(max_length=MAX_ANSWER_IDS, description="Clause ids the answer showed, in order.")
    verdict: Literal["up", "down"] = Field(description="'up': the answer helped; 'down': it did not.")
    chosen: str | None = Field(
        default=None, description="The clause that is right (on 'down'; null: none of them), any clause id."
    )

    @field_validator("question")
    @classmethod
    def _question_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the question is empty")
        return _check_text(value, "the question")


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


class ErrorDetail(BaseModel):
    """What went wrong, OpenAI style."""

    message: str
    type: str
    code: str
    param: str | None = None


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {...}}``."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid request: the message names the field."},
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token, when the server has an API key."},
    408: {"model": ErrorBody, "description": "The body was not received in time."},
    413: {"model": ErrorBody, "description": "Request body (or, for embeddings, its token count) too large."},
    429: {"model": ErrorBody, "description": "Over the per-client rate limit (when enabled); see Retry-After."},
    503: {"model": ErrorBody, "description": "The server is busy; retry after Retry-After seconds."},
}
NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown clause id."},
}


def _fix_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as the server behaves: validation errors are 400 (never FastAPI's 422)."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema


# ----------------------------------------------------------------------- helpers


def _model_aliases(model_id: str) -> set[str]:
    """Names a client may use for the served model (compared case-insensitively)."""
    tail = model_id.rstrip("/").rsplit("/", 1)[-1]
    return {model_id.lower(), tail.lower()}


def _encode_vector(vector: np.ndarray, encoding_format: str) -> np.ndarray | str:
    """A vector as the response carries it: float32 values (written by :func:`_json_response`) or base64."""
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return np.ascontiguousarray(vector, dtype=np.float32)


#: Up to this many clauses, ``/v1/search`` runs on the event loop (:meth:`Searcher.search_async`):
#: its CPU work then takes a few milliseconds, and a search needs no worker thread, whose
#: hand-offs and GIL contention cost more than the search itself under concurrent load. A
#: larger library's searches take tens of milliseconds and run in worker threads, so that one
#: does not hold up every other request.
SEARCH_ON_LOOP_MAX_CLAUSES = 20_000


def _json_response(content: Any) -> Response:
    """``content`` as a JSON response, serialised once by orjson (numpy arrays included).

    The routes on the hot path return this instead of a dict or a model: FastAPI would
    otherwise validate the returned value against the response model in a second
    worker-thread hop and serialise it again, which costs more than the search itself
    under load. The response model stays declared on the route for the OpenAPI schema.
    Non-finite floats become ``null``, as pydantic writes them.
    """
    return Response(orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


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
    max_body_bytes: int | None = None,
    settings: ApiSettings | None = None,
    mcp_allowed_hosts: list[str] | None = None,
) -> FastAPI:
    """The FastAPI app: ``/v1`` REST routes, ``/healthz``, and the Gradio UI at ``/``.

    Args:
        searcher: an opened searcher; every route answers from it.
        api_key: if set (non-empty), every ``/v1`` route requires
            ``Authorization: Bearer <api_key>`` and the UI a login (``/login``).
            Overrides ``settings.api_key``. The environment is *not* read here
            (``serve`` does that), so tests control auth explicitly.
        mount_ui: mount the Gradio UI of :func:`retriever.ui.build_ui` at ``/``.
        max_body_bytes: the request body limit (every route); overrides ``settings``.
        settings: limits and access; default :class:`ApiSettings()`.
        mcp_allowed_hosts: ``Host`` headers ``/mcp`` accepts (None: loopback names only;
            ``[]``: any, for a server bound to a public address).
    """
    settings = settings or ApiSettings()
    if api_key is not None:
        settings = replace(settings, api_key=api_key or None)
    if max_body_bytes is not None:
        settings = replace(settings, max_body_bytes=max_body_bytes)
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
            "need `Authorization: Bearer <key>`. A busy server answers 503 with `Retry-After`; "
            "with a rate limit set, a client over it gets 429 with `Retry-After`."
        ),
        version=str(searcher.manifest.get("package_version", "0")),
    )
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(Exception, _unexpected_handler)

    router = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES, strict_content_type=False)

    @router.get("/models", response_model=ModelList, summary="The served embedding model")
    async def list_models() -> ModelList:
        """The one served model, in OpenAI's ``/v1/models`` shape."""
        return ModelList(data=[ModelCard(id=model_id, dimension=dimension)])

    @router.post("/embeddings", response_model=EmbeddingResponse, summary="Embed texts (OpenAI-compatible)")
    def embeddings(request: EmbeddingRequest) -> Response:
        """Embed one text or a batch with the served e5 model.

        The server applies the e5 prefix for ``input_type`` (``"query: "`` or
        ``"passage: "``); send the bare text. Vectors are L2-normalised float32,
        as lists (``encoding_format: "float"``) or base64 of little-endian float32.
        """
        if request.model.lower() not in aliases:
            raise ApiError(
                400,
                f"Unknown model {_quote(request.model)}: this server serves {model_id!r}.",
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
        tokens = sum(min(count, MAX_INPUT_TOKENS) for count in embedder.count_tokens(texts))
        if tokens > settings.max_request_tokens:
            raise ApiError(
                413,
                f"The inputs cost {tokens} tokens; at most {settings.max_request_tokens} per request (each input "
                f"counts at most {MAX_INPUT_TOKENS}). Split them over several requests.",
                code="too_many_tokens",
                param="input",
            )
        encode = embedder.encode_clauses if request.input_type == "passage" else embedder.encode_queries
        with Coalescer.bulk():  # searches go first; this request runs in small pieces between them
            vectors = encode(texts)
        return _json_response({  # the shape of EmbeddingResponse, written without a model (see _json_response)
            "object": "list",
            "data": [{"object": "embedding", "index": i,
                      "embedding": _encode_vector(vectors[i], request.encoding_format)} for i in range(len(texts))],
            "model": model_id,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })

    on_loop = len(searcher.clauses) <= SEARCH_ON_LOOP_MAX_CLAUSES

    @router.post("/search", response_model=dict[str, Any],
                 summary="Answer a question: departments, then ranked clauses")
    async def search(request: SearchRequest) -> Response:
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
                f"Unknown department {_quote(department)}; GET {API_PREFIX}/departments lists them.",
                code="unknown_department",
                param="department",
            )
        mode: Mode = request.mode if request.mode in MODES else "full"
        if request.document is not None and request.document not in searcher.documents:
            raise ApiError(400, f"Unknown document {_quote(request.document)}; GET {API_PREFIX}/documents lists them.",
                           code="unknown_document", param="document")
        filters: dict[str, Any] = {"department": department, "mode": mode, "document": request.document,
                                   "region": request.region, "level": request.level,
                                   "include_superseded": request.include_superseded}
        try:
            if on_loop:
                answer = await searcher.search_async(request.query, request.k, **filters)
            else:
                answer = await run_in_threadpool(functools.partial(searcher.search, request.query, request.k,
                                                                   **filters))
        except QueryError as exc:
            raise ApiError(400, str(exc), code="invalid_query", param="query") from None
        if request.format == "context":
            return _json_response(context_to_dict(answer, max_tokens=request.context_tokens))
        return _json_response(answer_to_dict(answer))

    @router.get("/clauses/{clause_id:path}", summary="One clause and its article's clause ids",
                responses=NOT_FOUND_RESPONSE)
    def get_clause(clause_id: str) -> dict[str, Any]:
        """The clause with ``clause_id`` (e.g. ``30.6``), plus ``article_clause_ids``.

        ``article_clause_ids`` lists every clause of the same article in order
        (this one included). 404 if the id is unknown.
        """
        not_found = ApiError(
            404, f"Unknown clause id {_quote(clause_id)}.", type="not_found_error", code="clause_not_found",
            param="clause_id",
        )
        if not clause_id or len(clause_id) > MAX_CLAUSE_ID_CHARS:
            raise not_found
        try:
            clause = searcher.clause(clause_id)
            article = searcher.article(clause_id)
        except KeyError:
            raise not_found from None
        body = clause_to_dict(clause, searcher.documents.get(clause.document) if searcher.is_library else None)
        body["article_clause_ids"] = [c.id for c in article]
        return body

    @router.get("/departments", summary="Departments in corpus order")
    async def departments() -> dict[str, Any]:
        """``{"departments": [...]}``: the values ``/v1/search`` accepts as ``department``."""
        return {"departments": list(searcher.departments())}

    @router.get("/documents", summary="The library's documents")
    async def documents() -> dict[str, Any]:
        """``{"home_region", "documents": [...]}``: each document's id (the value ``/v1/search`` accepts as
        ``document``), title, short name, role, level, region, version date, superseded_by and clause count."""
        counts: dict[str, int] = {}
        for clause in searcher.clauses:
            counts[clause.document] = counts.get(clause.document, 0) + 1
        return {"home_region": searcher.home_region,
                "documents": [{**document_to_dict(d), "clauses": counts.get(d.id, 0)}
                              for d in searcher.document_list()]}

    @functools.cache
    def feedback_store() -> FeedbackStore:
        """The store beside the served index (made on first use)."""
        return FeedbackStore(feedback_path(searcher.index.root))

    @router.post("/feedback", summary="Record a verdict on an answer (grows the gold set)")
    def feedback(request: FeedbackRequest) -> dict[str, Any]:
        """Store ``{question, answer_ids, verdict, chosen}`` with the time and the index version.

        Every id must be a clause of the served index (400 ``unknown_clause`` otherwise).
        Returns ``{"id", "stored": true, "index_version"}``. No personal data is kept.
        """
        for name, ids in (("answer_ids", request.answer_ids), ("chosen", [request.chosen] if request.chosen else [])):
            for clause_id in ids:
                try:
                    searcher.clause(clause_id)
                except KeyError:
                    raise ApiError(400, f"Unknown clause id {clause_id[:80]!r} in {name}; GET {API_PREFIX}/clauses/"
                                   "{id} shows the ids.", code="unknown_clause", param=name) from None
        chosen_department = searcher.clause(request.chosen).department if request.chosen else None
        served_version = index_version(searcher.manifest)
        try:
            stored = feedback_store().add(Feedback(
                question=request.question, answer_ids=tuple(request.answer_ids), verdict=request.verdict,
                chosen=request.chosen, chosen_department=chosen_department, created=now_utc(),
                index_version=served_version))
        except ValueError as exc:
            raise ApiError(400, f"Invalid feedback: {exc}", code="invalid_feedback") from None
        return {"id": stored.id, "stored": True, "index_version": served_version}

    route_table = _v1_route_table(router)

    all_methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

    @router.api_route("", methods=all_methods, include_in_schema=False)
    @router.api_route("/{rest:path}", methods=all_methods, include_in_schema=False)
    async def v1_fallback(request: Request) -> None:
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
        raise ApiError(404, f"No API route {_quote(path)}.", type="not_found_error", code="route_not_found")

    from retriever.dify import create_dify_router
    from retriever.mcp_server import mount_mcp

    app.include_router(create_dify_router(searcher, api_key=api_key or None))  # before /v1's fallback
    app.include_router(router)
    mount_mcp(app, searcher, api_key=api_key or None, allowed_hosts=mcp_allowed_hosts)

    @app.head("/healthz", include_in_schema=False)
    @app.get("/healthz", summary="Liveness and what is served")
    async def healthz() -> dict[str, Any]:
        """Status, the model, the clause count and the index manifest (never needs auth).

        Answered on the event loop, without a worker thread or a lock, so it stays
        responsive while every worker is busy.
        """
        return {
            "status": "ok",
            "model": {"id": model_id, "dimension": dimension},
            "clauses": len(searcher.clauses),
            "departments": len(searcher.departments()),
            "manifest": searcher.manifest,
        }

    _add_login(app, settings.api_key)
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _fix_openapi(base_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    ui_fns: frozenset[int] | None = None
    if mount_ui:
        import gradio as gr

        from retriever.ui import UI_CSS, build_ui

        blocks = build_ui(searcher, feedback_store())
        ui_fns = frozenset(int(key) for key in blocks.fns)
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
        _relax_ui_queue(blocks)
    # Added last, so that it is the outermost layer: it sees every route, the UI's included.
    slots = _Slots(settings.max_concurrent, settings.max_queued, settings.queue_timeout_s)
    app.state.work_slots = slots  # how busy the server is (tests and diagnostics read it)
    app.add_middleware(_Gate, settings=settings, ui_fns=ui_fns, slots=slots)
    return app


#: Seconds Gradio's event queue sleeps between looks for new UI events when there are none
#: (Gradio's own default is 1 ms; its progress loop sleeps ten times as long).
UI_QUEUE_POLL_S = 0.02


def _relax_ui_queue(blocks: Any) -> None:
    """Let the UI's event queue poll every :data:`UI_QUEUE_POLL_S` instead of every millisecond.

    Gradio's queue wakes the event loop a thousand times a second even when idle (~5 % of a
    core here), and under API load each wake-up competes for the GIL with the searches. A UI
    event now starts at most 20 ms later, which nobody sees next to a search. A Gradio
    without these attributes is left alone.
    """
    queue = getattr(blocks, "_queue", None)
    if queue is not None and hasattr(queue, "sleep_when_free"):
        queue.sleep_when_free = UI_QUEUE_POLL_S
        if hasattr(queue, "progress_update_sleep_when_free"):
            queue.progress_update_sleep_when_free = 5 * UI_QUEUE_POLL_S


_LOGIN_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 · duty-retriever</title>
<style>body{{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}}
input,button{{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box;margin:.25rem 0}}
.error{{color:#b00020}}</style></head>
<body><h1>安全生产职责检索</h1><p>This server needs its API key. 请输入访问密钥。</p>{error}
<form method="post" action="/login"><label for="key">API key / 密钥</label>
<input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in / 登录</button></form></body></html>
"""


def _add_login(app: FastAPI, api_key: str | None) -> None:
    """``/login`` (a form setting the UI cookie) and ``/logout``; without a key both lead to ``/``."""

    @app.get("/login", include_in_schema=False)
    async def login_form() -> Response:
        if api_key is None:
            return RedirectResponse("/", status_code=303)
        return HTMLResponse(_LOGIN_PAGE.format(error=""))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        if api_key is None:
            return RedirectResponse("/", status_code=303)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("key") or [""])[0]
        if not hmac.compare_digest(given.encode("utf-8"), api_key.encode("utf-8")):
            page = _LOGIN_PAGE.format(error='<p class="error">Wrong key. 密钥不正确。</p>')
            return HTMLResponse(page, status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(UI_COOKIE, ui_cookie_value(api_key), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        return response

    @app.get("/logout", include_in_schema=False)
    async def logout() -> Response:
        response = RedirectResponse("/login" if api_key else "/", status_code=303)
        response.delete_cookie(UI_COOKIE, path="/")
        return response


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


#: glibc's ``mallopt`` parameter for the arena cap (``M_ARENA_MAX`` in malloc.h).
_M_ARENA_MAX = -8
#: Arenas the server allows glibc's malloc (``RETRIEVER_MALLOC_ARENAS``; 0 leaves glibc's default).
DEFAULT_MALLOC_ARENAS = 2


def limit_malloc_arenas(environ: Mapping[str, str] | None = None) -> int:
    """Cap glibc's malloc arenas for this process; the cap set (0: none).

    Each worker thread that allocates while another holds an arena's lock gets an
    arena of its own (up to 8 × cores); memory freed in them stays resident and
    fragmented, so the server's RSS climbs under concurrent load although Python
    holds no more objects (see ``benchmarks/trace_memory.py``). Capping the arenas
    at 2 keeps it level at a small cost in allocator contention. Set
    ``RETRIEVER_MALLOC_ARENAS=0`` to leave glibc alone; ``MALLOC_ARENA_MAX`` in the
    environment, if set, wins (glibc reads it itself). Must run before the worker
    threads start; a no-op where the C library is not glibc.
    """
    env = os.environ if environ is None else environ
    if env.get("MALLOC_ARENA_MAX"):
        return 0
    raw = env.get("RETRIEVER_MALLOC_ARENAS", "").strip()
    try:
        arenas = int(raw) if raw else DEFAULT_MALLOC_ARENAS
    except ValueError:
        raise ValueError(f"RETRIEVER_MALLOC_ARENAS={raw[:100]!r} is not a whole number.") from None
    if arenas <= 0:
        return 0
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        if not libc.mallopt(_M_ARENA_MAX, arenas):
            return 0
    except (OSError, AttributeError):
        return 0
    return arenas


#: onnxruntime intra-op threads the server gives the model unless told otherwise (``RETRIEVER_THREADS``).
SERVER_MODEL_THREADS = 1


def server_model_threads(threads: int | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Intra-op threads for the served model: ``threads``, else ``$RETRIEVER_THREADS``, else 1.

    One thread, not one per core as the CLI uses: the server batches concurrent queries
    into one forward pass (:class:`~retriever.embed.Coalescer`), so a second intra-op
    thread adds little speed, and onnxruntime's idle threads spin, burning the core
    that the other requests' Python work needs: on the 2-core machine one thread about
    halved the server's CPU time per search (``docs/notes/http.md``). A single user
    embedding large batches on an idle machine may prefer ``RETRIEVER_THREADS=2``.

    Raises:
        ValueError: ``threads`` or the variable is not a whole number of at least 1.
    """
    env = os.environ if environ is None else environ
    if threads is None:
        raw = env.get("RETRIEVER_THREADS", "").strip()
        if not raw:
            return SERVER_MODEL_THREADS
        try:
            threads = int(raw)
        except ValueError:
            raise ValueError(f"RETRIEVER_THREADS={raw[:100]!r} is not a whole number.") from None
    if threads < 1:
        raise ValueError(f"the model needs at least 1 thread, not {threads}.")
    return threads


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
    seeds_dir: Path | Sequence[Path] | None = None,
    model: str | None = None,
    api_key: str | None = None,
    *,
    log_level: str = "info",
    threads: int | None = None,
) -> None:
    """Open (building if missing) the index and serve the UI and the API until stopped.

    Args:
        host: bind address; None → env ``RETRIEVER_HOST`` → ``127.0.0.1``.
        port: port; None → env ``RETRIEVER_PORT`` → 7860; 0 picks a free one.
        index_dir, seeds_dir, model: passed to :func:`retriever.search.open_searcher`
            (with ``build_if_missing=True``).
        api_key: bearer token for ``/v1`` and the UI login; None → env ``RETRIEVER_API_KEY``
            (empty means no auth). Every other limit comes from :meth:`ApiSettings.from_env`.
        log_level: uvicorn's log level.
        threads: onnxruntime intra-op threads for the model; None → env ``RETRIEVER_THREADS``
            → 1 (see :func:`server_model_threads`).

    Raises:
        IndexStateError, SeedError, ModelError: the index cannot be opened or built.
        OSError: the address cannot be bound.
        ValueError: a ``RETRIEVER_*`` setting is invalid.
    """
    import uvicorn

    bind_host, bind_port = _resolve_bind(host, port)
    settings = ApiSettings.from_env()
    # The ONNX embedder reads its thread count from here when it loads (retriever.onnx_embed).
    os.environ["RETRIEVER_THREADS"] = str(server_model_threads(threads))
    limit_malloc_arenas()  # before the model and the worker threads allocate
    if api_key is not None:
        settings = replace(settings, api_key=api_key or None)
    key = settings.api_key
    sock = _bind(bind_host, bind_port)  # first, so that a taken port fails before the model loads
    try:
        searcher = open_searcher(index_dir, seeds_dir=seeds_dir, model=model, build_if_missing=True,
                                 progress=BuildProgress(), cache_size=_cache_size())
        searcher.warm_up()
        loopback = bind_host in ("127.0.0.1", "localhost", "::1")
        # The whole tokenizer and dictionary (about a second, see Searcher.preload) load while the UI is built.
        with ThreadPoolExecutor(1, thread_name_prefix="retriever-preload") as pool:
            preloaded = pool.submit(searcher.preload)
            app = create_app(searcher, settings=settings, mcp_allowed_hosts=None if loopback else [])
            preloaded.result()
    except BaseException:
        sock.close()
        raise
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=3)
    # Listening before the URL is printed: a client that starts on that line (the benchmark,
    # a supervisor) is queued until uvicorn accepts, instead of refused while it starts up.
    sock.listen(config.backlog)
    actual_port = int(sock.getsockname()[1])
    shown_host = f"[{bind_host}]" if ":" in bind_host else bind_host
    url = f"http://{shown_host}:{actual_port}/"
    auth_note = "; /v1 requires a bearer token, the UI a login" if key else ""
    print(
        f"duty-retriever: serving {len(searcher.clauses)} clauses at {url} "
        f"(UI at /, API at /v1, MCP at /mcp, Dify at /retrieval, docs at /docs{auth_note})",
        flush=True,
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
