"""Derived lookup tables kept in the user's cache folder, so a cold process starts fast.

Loading jieba's dictionary (~500,000 entries) or the model's 250,000-piece tokenizer
costs about a second each on this machine. The tables here are derived from those
files once, stored as SQLite (looked up per key, never loaded whole), and named by a
digest of everything they derive from: a changed input gets a new file, never a
stale one. Losing the folder costs only the time to derive them again; a folder that
cannot be written only means the slow path is taken.

The folder is ``$RETRIEVER_CACHE_DIR``, else ``$XDG_CACHE_HOME/duty-retriever``, else
``~/.cache/duty-retriever`` (never inside the package).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path


def user_cache_dir() -> Path:
    """The folder derived tables live in (see the module docstring)."""
    configured = os.environ.get("RETRIEVER_CACHE_DIR", "").strip()
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "duty-retriever"


def open_table(path: Path) -> sqlite3.Connection | None:
    """A read-only connection to a finished table, or None if there is none (or it is unreadable)."""
    if not path.is_file():
        return None
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
        connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error:
        return None
    return connection


def write_table(path: Path, fill: Callable[[sqlite3.Connection], None]) -> bool:
    """Create the table file at ``path`` atomically: ``fill`` writes into a temporary file that is then renamed.

    Returns:
        False if the folder cannot be written (the caller goes on without the table).
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        connection = sqlite3.connect(tmp)
        try:
            connection.execute("PRAGMA journal_mode=OFF")
            connection.execute("PRAGMA synchronous=OFF")
            fill(connection)
            connection.commit()
        finally:
            connection.close()
        os.replace(tmp, path)
    except (OSError, sqlite3.Error):
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
    return True


def read_json(path: Path) -> object | None:
    """The JSON document at ``path``, or None if it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def write_json(path: Path, data: object) -> bool:
    """Write a JSON document atomically (temporary file, then rename). False if the folder cannot be written."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
    return True


__all__ = ["open_table", "read_json", "user_cache_dir", "write_json", "write_table"]
