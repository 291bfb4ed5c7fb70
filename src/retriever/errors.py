"""Errors a user can act on: each says what is wrong and what to do."""

from __future__ import annotations


class RetrieverError(Exception):
    """Base class: ``message`` says what is wrong, ``hint`` what to do about it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip() if self.hint else self.message


class QueryError(RetrieverError):
    """The query cannot be searched (empty, too long, binary, malformed)."""


class SeedError(RetrieverError):
    """A regulation file cannot be read or parsed."""


class IndexStateError(RetrieverError):
    """The index folder is missing, stale, corrupt or of an unknown format."""


class IndexMissingError(IndexStateError):
    """There is no index at all (as opposed to a stale or corrupt one)."""


class ModelError(RetrieverError):
    """The embedding model cannot be found, built or loaded."""


class GoldSetError(RetrieverError):
    """A gold file is malformed; ``problems`` lists every problem with its line."""

    def __init__(self, message: str, problems: list[str], hint: str = "") -> None:
        super().__init__(message, hint)
        self.problems = problems
