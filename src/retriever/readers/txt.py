"""Plain text (``.txt``): UTF-8, one paragraph per line, as the seed is written."""

from __future__ import annotations

from pathlib import Path

from retriever.readers.base import decode_text, read_bytes

suffixes: tuple[str, ...] = (".txt",)


def read(path: Path) -> str:
    """The file's text, unchanged (a BOM is dropped).

    Raises:
        SeedError: unreadable, binary, or not UTF-8.
    """
    return decode_text(path, read_bytes(path))
