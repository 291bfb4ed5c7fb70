"""The segmenter: the dictionary table in the user cache gives exactly jieba's tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from retriever.lexicon import load_lexicon
from retriever.segment import Segmenter, _Frequencies

from .conftest import SEED_FILE

QUERIES = ("电动车充电归哪个部门管？", "网吧的安全检查归哪个部门？", "人社厅有哪些安全生产职责",
           "互联网上网服务经营场所", "危化品仓库归谁管", "who supervises fire safety", "妇连 消放 型事", "")


def test_the_table_gives_the_same_tokens_and_words_as_the_whole_dictionary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRIEVER_CACHE_DIR", str(tmp_path))
    words = load_lexicon().user_words()
    first = Segmenter(words)  # no table yet: loads jieba's dictionary and writes the table
    assert not isinstance(first._tokenizer.FREQ, _Frequencies)
    assert list((tmp_path / "segmenter").glob("*.sqlite"))
    second = Segmenter(words)
    assert isinstance(second._tokenizer.FREQ, _Frequencies)  # reads the table, loads nothing
    texts = [*QUERIES, *SEED_FILE.read_text(encoding="utf-8").splitlines()[:200]]
    for text in texts:
        assert second.tokens(text) == first.tokens(text), text
        assert second.words(text) == first.words(text), text
    for word in ("安全", "连有", "妇联", "人社厅", "不是词的串", "互联网上网服务经营场所"):
        assert second.is_word(word) == first.is_word(word), word
    assert second._tokenizer.total == first._tokenizer.total
    assert second.tokens_many(texts) == first.tokens_many(texts)  # bulk work loads the whole dictionary
    assert not isinstance(second._tokenizer.FREQ, _Frequencies)


def test_other_user_words_get_their_own_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRIEVER_CACHE_DIR", str(tmp_path))
    Segmenter(["测试局甲"])
    Segmenter(["测试局乙"])
    assert len(list((tmp_path / "segmenter").glob("*.sqlite"))) == 2
    assert Segmenter(["测试局乙"]).words("测试局乙负责") == ["测试局乙", "负责"]


def test_an_unwritable_cache_folder_only_costs_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("RETRIEVER_CACHE_DIR", str(blocker))
    segmenter = Segmenter(["测试局甲"])
    assert segmenter.words("测试局甲负责") == ["测试局甲", "负责"]


def test_a_corrupt_table_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRIEVER_CACHE_DIR", str(tmp_path))
    Segmenter(["测试局甲"])
    (table,) = (tmp_path / "segmenter").glob("*.sqlite")
    table.write_bytes(b"garbage")
    assert Segmenter(["测试局甲"]).words("测试局甲负责") == ["测试局甲", "负责"]
