"""Query checks that need nothing loaded: the CLI and the API reject bad input before any model or index.

Kept apart from :mod:`retriever.search` because importing that pulls in FAISS,
bm25s (numba, scipy) and pypinyin, seconds on a cold start.
"""

from __future__ import annotations

import re

from retriever.errors import QueryError

MAX_QUERY_CHARS = 500
MAX_K = 100

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_SEARCHABLE = re.compile(r"[0-9A-Za-z\u3400-\u9fff]")


def validate_query(query: object) -> str:
    """Return the query stripped, or raise :class:`QueryError` saying what is wrong."""
    if not isinstance(query, str):
        raise QueryError(f"the query must be text, not {type(query).__name__}.", "Send the question as a string.")
    text = query.strip()
    if not text:
        raise QueryError("the query is empty.", "Type a question, e.g. 电动车充电归哪个部门管？")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}.",
                         "Ask one question at a time, in a sentence or two.")
    if _CONTROL.search(text) or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        raise QueryError("the query contains control characters or binary data.",
                         "Send plain text (UTF-8) without control characters.")
    if text.count("\ufffd") > max(2, len(text) // 10):
        raise QueryError("the query looks like mis-decoded binary data (many U+FFFD characters).",
                         "Send the question as UTF-8 text.")
    if not _SEARCHABLE.search(text):
        raise QueryError("the query has no words to search for (only punctuation or symbols).",
                         "Ask with words, e.g. 网吧的安全检查归哪个部门？")
    return text


__all__ = ["MAX_K", "MAX_QUERY_CHARS", "validate_query"]
