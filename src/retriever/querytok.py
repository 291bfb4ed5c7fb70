"""Tokenise a few query texts exactly as a Unigram ``tokenizer.json`` does, without loading it whole.

Loading the e5 tokenizer (250,000 sentencepiece pieces) takes about a second, more
than encoding a query. A Unigram tokenizer only ever uses pieces that are substrings
of the text's pre-tokenized words, so for a few short texts a tokenizer holding just
those pieces (looked up in a SQLite copy of the vocabulary, see
:mod:`retriever.usercache`) gives the same tokens: the same pieces and scores reach the
Viterbi search, the unknown-piece score (from the lowest piece score) is kept by
always including that piece, and ids are mapped back to the full vocabulary's.
``tests/test_querytok.py`` checks the ids against the full tokenizer.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retriever.usercache import open_table, user_cache_dir, write_table

#: Bumped whenever the table's layout or the reduction changes.
TABLE_FORMAT = "unigram-pieces-1"
_CHUNK = 500  # SQLite host parameters per lookup


def table_path(tokenizer_json: bytes) -> Path:
    """Where the piece table derived from this ``tokenizer.json`` lives."""
    import tokenizers

    digest = hashlib.sha256(tokenizer_json)
    digest.update(f"\0{TABLE_FORMAT}\0{tokenizers.__version__}".encode())
    return user_cache_dir() / "tokenizers" / f"{digest.hexdigest()[:32]}.sqlite"


def _reducible(data: dict[str, Any]) -> tuple[list[list[Any]], list[int], int] | None:
    """The vocabulary, the template's ids and the lowest-scoring id, if this is a Unigram that can be reduced.

    The template (the tokenizer without most of its vocabulary) keeps the pieces up to the
    unknown piece, then the added tokens' pieces: the added-token ids and the ids the
    post-processor writes are fixed when it is loaded, so every reduced vocabulary starts
    with exactly these pieces in this order.
    """
    model = data.get("model") or {}
    if model.get("type") != "Unigram" or model.get("byte_fallback") or model.get("unk_id") is None:
        return None
    vocab = model.get("vocab")
    if not isinstance(vocab, list) or not vocab:
        return None
    unk = int(model["unk_id"])
    template_ids = list(range(unk + 1))
    for token in data.get("added_tokens") or []:
        token_id = int(token["id"])
        if token_id >= len(vocab) or str(vocab[token_id][0]) != str(token["content"]):
            return None  # an added token outside the vocabulary would get a new id in the template
        if token_id not in template_ids:
            template_ids.append(token_id)
    post = data.get("post_processor")
    if post is not None:
        if post.get("type") != "TemplateProcessing":
            return None
        special = {int(i) for token in (post.get("special_tokens") or {}).values() for i in token.get("ids", [])}
        if any(i > unk for i in special):  # only ids 0..unk keep their number in the template
            return None
    lowest = min(range(len(vocab)), key=lambda i: float(vocab[i][1]))
    return vocab, template_ids, lowest


def build_table(path: Path, tokenizer_json: bytes) -> bool:
    """Derive the piece table from ``tokenizer.json``. False if it is no reducible Unigram or cannot be written."""
    data = json.loads(tokenizer_json)
    reducible = _reducible(data)
    if reducible is None:
        return False
    vocab, template_ids, lowest = reducible
    template = dict(data)
    template["model"] = {**data["model"], "vocab": [vocab[i] for i in template_ids]}

    def fill(connection: sqlite3.Connection) -> None:
        connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        connection.execute("CREATE TABLE piece (text TEXT PRIMARY KEY, id INTEGER, score REAL) WITHOUT ROWID")
        connection.executemany("INSERT OR IGNORE INTO piece VALUES (?, ?, ?)",
                               ((str(p), i, float(s)) for i, (p, s) in enumerate(vocab)))
        meta = {"format": TABLE_FORMAT, "template": json.dumps(template, ensure_ascii=False),
                "unk_id": str(data["model"]["unk_id"]), "template_ids": json.dumps(template_ids),
                "lowest": str(lowest), "max_piece": str(max(len(str(p)) for p, _ in vocab))}
        connection.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())

    return write_table(path, fill)


class QueryTokenizer:
    """Encodes texts with only the pieces they can use (see the module docstring).

    Args:
        connection: the piece table made by :func:`build_table`.
        max_length: truncation, as set on the full tokenizer.
    """

    def __init__(self, connection: sqlite3.Connection, max_length: int) -> None:
        from tokenizers import Tokenizer

        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format") != TABLE_FORMAT:
            raise ValueError(f"piece table format {meta.get('format')!r} is not {TABLE_FORMAT!r}")
        self._connection = connection
        self._unk = int(meta["unk_id"])
        self._max_piece = int(meta["max_piece"])
        self._template_ids = [int(i) for i in json.loads(meta["template_ids"])]
        lowest = int(meta["lowest"])
        found = {row[0]: (row[1], row[2]) for row in self._lookup_ids([*self._template_ids, lowest])}
        self._template_pieces = [found[i] for i in self._template_ids]
        self._lowest = (lowest, found[lowest])
        template = json.loads(meta["template"])
        self._tokenizer: Any = Tokenizer.from_str(meta["template"])
        self._tokenizer.enable_truncation(max_length)
        added = [str(t["content"]) for t in template.get("added_tokens") or []]
        self._added = re.compile("|".join(map(re.escape, sorted(added, key=len, reverse=True)))) if added else None
        self._lock = threading.Lock()

    @classmethod
    def open(cls, tokenizer_json: bytes, max_length: int) -> QueryTokenizer | None:
        """The query tokenizer for this ``tokenizer.json``, deriving its table first if needed; None if impossible."""
        path = table_path(tokenizer_json)
        connection = open_table(path)
        try:
            if connection is None and build_table(path, tokenizer_json):
                connection = open_table(path)
            if connection is None:
                return None
            return cls(connection, max_length)
        except Exception:  # any problem only means the full tokenizer is loaded, as before
            if connection is not None:
                connection.close()
            return None

    def _lookup_ids(self, ids: Sequence[int]) -> list[tuple[int, str, float]]:
        marks = ",".join("?" * len(ids))
        return self._connection.execute(f"SELECT id, text, score FROM piece WHERE id IN ({marks})",
                                        list(ids)).fetchall()

    def _substrings(self, text: str) -> set[str]:
        """Every piece-length substring of the text's pre-tokenized words (a superset of what the model sees).

        Special tokens are split out before normalisation, so each part between them is
        also normalised and pre-tokenized on its own.
        """
        normalizer, pre_tokenizer = self._tokenizer.normalizer, self._tokenizer.pre_tokenizer
        parts = [text, *self._added.split(text)] if self._added else [text]
        out: set[str] = set()
        for part in parts:
            normalized = normalizer.normalize_str(part) if normalizer is not None else part
            words = [w for w, _ in pre_tokenizer.pre_tokenize_str(normalized)] if pre_tokenizer else [normalized]
            for word in words:
                for start in range(len(word)):
                    for end in range(start + 1, min(len(word), start + self._max_piece) + 1):
                        out.add(word[start:end])
        return out

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, as the full tokenizer gives them (specials added, truncated)."""
        from tokenizers import models

        wanted: set[str] = set()
        for text in texts:
            wanted |= self._substrings(text)
        ordered = sorted(wanted)
        template = set(self._template_ids)
        pieces = dict([self._lowest])
        with self._lock:
            for start in range(0, len(ordered), _CHUNK):
                chunk = ordered[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for piece_id, piece, score in self._connection.execute(
                        f"SELECT id, text, score FROM piece WHERE text IN ({marks})", chunk):
                    pieces[piece_id] = (piece, score)
            # The template's pieces first (their ids are fixed), the rest in the full vocabulary's
            # order, so Viterbi ties break the same way.
            ids = [*self._template_ids, *sorted(i for i in pieces if i not in template)]
            vocab = [*self._template_pieces, *(pieces[i] for i in ids[len(template):])]
            self._tokenizer.model = models.Unigram(vocab, self._template_ids.index(self._unk), False)
            encodings = self._tokenizer.encode_batch(list(texts))
        return [[ids[i] for i in e.ids] for e in encodings]


__all__ = ["TABLE_FORMAT", "QueryTokenizer", "build_table", "table_path"]
