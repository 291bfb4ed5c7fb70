"""What every reader shares: the protocol and the byte-level checks."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from retriever.errors import SeedError


class Reader(Protocol):
    """One document format: a path in, the document's text out, one paragraph per line.

    Headings the format marks as such (a Word heading style, a larger PDF font) come out as
    ``#`` lines, one ``#`` per level, as in the Markdown corpus; the parser decides what they are.
    """

    #: File extensions this reader handles, lower case with the dot.
    suffixes: tuple[str, ...]

    def read(self, path: Path) -> str:
        """The text of ``path``.

        Raises:
            SeedError: the file cannot be read as this format; the message says why and what to do.
        """
        ...


def read_bytes(path: Path) -> bytes:
    """The file's bytes, or a SeedError that names the file."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SeedError(f"cannot read seed file {path}: {exc.strerror}.", "Check the path and permissions.") from exc


def decode_text(path: Path, data: bytes) -> str:
    """UTF-8 text (a BOM is dropped), or a SeedError saying how to convert it."""
    if b"\x00" in data:
        raise SeedError(f"seed file {path} is binary, not a text regulation.",
                        "Remove it from the seeds folder or replace it with UTF-8 text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SeedError(f"seed file {path} is not valid UTF-8 (byte {exc.start}).",
                        "Convert it to UTF-8, e.g. `iconv -f GBK -t UTF-8`.") from exc
