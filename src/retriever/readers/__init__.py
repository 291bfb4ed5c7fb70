"""Document files → plain text, one reader per format.

The structure parser (:mod:`retriever.parse`) never knows which format its lines came
from: every reader returns the document's text with one paragraph per line.
"""

from __future__ import annotations

from pathlib import Path

from retriever.errors import SeedError

#: File extensions a library folder may hold, lower case.
SUPPORTED = (".txt", ".md")


def read_document(path: Path) -> str:
    """The text of one document file, one paragraph per line.

    Raises:
        SeedError: the file is unreadable, of an unsupported format, or not text.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise SeedError(f"{path} is a {suffix or 'extension-less'} file; supported formats: {', '.join(SUPPORTED)}.",
                        "Convert it to one of those formats or remove it from the folder.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SeedError(f"cannot read seed file {path}: {exc.strerror}.", "Check the path and permissions.") from exc
    if b"\x00" in data:
        raise SeedError(f"seed file {path} is binary, not a text regulation.",
                        "Remove it from the seeds folder or replace it with UTF-8 text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SeedError(f"seed file {path} is not valid UTF-8 (byte {exc.start}).",
                        "Convert it to UTF-8, e.g. `iconv -f GBK -t UTF-8`.") from exc


__all__ = ["SUPPORTED", "read_document"]
