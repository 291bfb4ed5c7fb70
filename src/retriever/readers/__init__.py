"""Document files → plain text, one reader per format.

The structure parser (:mod:`retriever.parse`) never knows which format its lines came
from: every reader returns the document's text with one paragraph per line, headings the
format marks as such written as ``#`` lines. Each format is one module satisfying
:class:`retriever.readers.base.Reader` (``suffixes`` and ``read``):

- :mod:`~retriever.readers.txt` — UTF-8 plain text, unchanged;
- :mod:`~retriever.readers.markdown` — Markdown, inline syntax stripped, structure kept;
- :mod:`~retriever.readers.docx` — Word .docx (python-docx): paragraphs, headings, tables;
- :mod:`~retriever.readers.pdf` — PDF text layer (pdfplumber), repaired by :mod:`retriever.repair`.
"""

from __future__ import annotations

from pathlib import Path

from retriever.errors import SeedError
from retriever.readers import docx, markdown, pdf, txt
from retriever.readers.base import Reader
from retriever.repair import fold_radicals

READERS: tuple[Reader, ...] = (txt, markdown, docx, pdf)
_BY_SUFFIX: dict[str, Reader] = {suffix: reader for reader in READERS for suffix in reader.suffixes}

#: File extensions a library folder may hold, lower case.
SUPPORTED = tuple(_BY_SUFFIX)


def read_document(path: Path) -> str:
    """The text of one document file, one paragraph per line, radicals folded.

    Raises:
        SeedError: the file is unreadable, of an unsupported format, or damaged; the
            message says what is wrong and what to do.
    """
    suffix = path.suffix.lower()
    reader = _BY_SUFFIX.get(suffix)
    if reader is None:
        raise SeedError(f"{path} is a {suffix or 'extension-less'} file; supported formats: {', '.join(SUPPORTED)}.",
                        "Convert it to one of those formats or remove it from the folder.")
    return fold_radicals(reader.read(path))


__all__ = ["READERS", "SUPPORTED", "Reader", "read_document"]
