"""Parser: counts per article against the text, ids, departments, whitespace oddities, bad files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from retriever.errors import SeedError
from retriever.parse import (
    chinese_to_int,
    int_to_chinese,
    make_citation,
    parse_corpus,
    parse_text,
    read_regulation,
)
from retriever.records import SHARED_DEPARTMENT

from .conftest import SEED_FILE


def _expected_counts(text: str) -> dict[int, int]:
    """Items per article, counted independently of the parser: （X） lines after each 第X条."""
    counts: dict[int, int] = {}
    article = 0
    for line in text.splitlines():
        line = line.strip().replace("\u3000", "")
        if m := re.match(r"^第([一二三四五六七八九十百]+)条", line):
            article = chinese_to_int(m.group(1))
            counts[article] = 0
        elif re.match(r"^（[一二三四五六七八九十]+）", line):
            counts[article] += 1
    return counts


def test_seed_counts_match_the_text() -> None:
    text = SEED_FILE.read_text(encoding="utf-8")
    parsed = read_regulation(SEED_FILE)
    expected = _expected_counts(text)
    assert sorted(expected) == list(range(1, 61))
    got: dict[int, int] = {}
    for clause in parsed.clauses:
        got[clause.article] = got.get(clause.article, 0) + 1
    # An article without items is one clause.
    assert got == {a: max(n, 1) for a, n in expected.items()}
    assert len(parsed.clauses) == sum(max(n, 1) for n in expected.values())
    assert parsed.problems == ()


def test_ids_citations_and_departments() -> None:
    clauses = {c.id: c for c in read_regulation(SEED_FILE).clauses}
    assert clauses["18.7"].citation == "第十八条第（七）项"
    assert clauses["18.7"].department == "自治区公安厅"
    assert clauses["59"].citation == "第五十九条"
    assert clauses["59"].department is None
    assert clauses["59"].item is None
    assert clauses["7.1"].department == SHARED_DEPARTMENT
    assert clauses["24.1"].department == "自治区生态环境厅"  # heading ends with an ASCII colon
    assert clauses["25.1"].department == "自治区住房和城乡建设厅"  # heading indented with spaces
    assert clauses["39.2"].department == "自治区地质局"  # trailing space after the colon
    assert clauses["43.1"].department == "自治区公安厅交通警察总队"
    assert clauses["38.2"].text.startswith("监督指导全区人民防空")  # indented item
    assert clauses["30.6"].text.startswith("依法依规对互联网上网服务经营场所")
    assert clauses["1"].chapter == "第一章 总 则"
    assert clauses["60"].chapter == "第三章 附 则"
    assert not any(c.text.startswith(("（", " ", "\u3000")) for c in clauses.values())
    departments = {c.department for c in clauses.values() if c.department and c.department != SHARED_DEPARTMENT}
    assert len(departments) == 49


@pytest.mark.parametrize(("number", "text"), [(1, "一"), (10, "十"), (18, "十八"), (33, "三十三"), (60, "六十"),
                                              (102, "一百零二"), (110, "一百一十")])
def test_numerals_round_trip(number: int, text: str) -> None:
    assert int_to_chinese(number) == text
    assert chinese_to_int(text) == number


def test_citation_format() -> None:
    assert make_citation(33, 5) == "第三十三条第（五）项"
    assert make_citation(7, None) == "第七条"


def test_whitespace_oddities() -> None:
    text = (
        "# 测试规定\n\n"
        "# 第一章 总　则\n"
        "　第一条　为了测试，制定本规定。\n"
        "\n"
        "  第二条 自治区测试厅职责: \n"
        "\u3000（一）负责测试工作；\n"
        "  （二）负责  复核工作。 \n"
    )
    parsed = parse_text(text, "doc")
    assert parsed.problems == ()
    assert [c.id for c in parsed.clauses] == ["1", "2.1", "2.2"]
    assert parsed.clauses[0].text == "为了测试，制定本规定。"
    assert parsed.clauses[0].chapter == "第一章 总 则"
    assert parsed.clauses[1].department == "自治区测试厅"
    assert parsed.clauses[2].text == "负责 复核工作。"


def test_malformed_lines_are_reported_not_dropped() -> None:
    text = (
        "# 测试\n"
        "这一行不属于任何条款\n"
        "（一）孤立的项\n"
        "第一条 自治区测试厅职责：\n"
        "（一）第一项；\n"
        "（三）跳过了第二项；\n"
        "第一条 重复的条\n"
        "第二条 自治区空厅职责：\n"
    )
    parsed = parse_text(text, "doc", source="bad.txt")
    joined = "\n".join(parsed.problems)
    assert "bad.txt:2: cannot place this line: 这一行不属于任何条款" in joined
    assert "bad.txt:3: item outside any article" in joined
    assert "bad.txt:6: item （三） where （二） was expected" in joined
    assert "bad.txt:7: duplicate article 第一条" in joined
    assert "bad.txt:8: 第二条 has no text and no items" in joined


def test_wrapped_article_paragraph_is_joined() -> None:
    parsed = parse_text("第一条 第一行，\n接着第二行。\n", "doc")
    assert parsed.problems == ()
    assert parsed.clauses[0].text == "第一行，接着第二行。"


def test_binary_and_non_utf8_files_are_rejected(tmp_path: Path) -> None:
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\x00\x01\x02garbage")
    with pytest.raises(SeedError, match="binary"):
        read_regulation(binary)
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("第一条 测试。".encode("gbk"))
    with pytest.raises(SeedError, match="not valid UTF-8") as info:
        read_regulation(gbk)
    assert "iconv" in info.value.hint
    empty = tmp_path / "empty.txt"
    empty.write_text("只是一些文字\n", encoding="utf-8")
    with pytest.raises(SeedError, match="holds no articles"):
        read_regulation(empty)


def test_missing_or_empty_seeds_folder(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="does not exist"):
        parse_corpus(tmp_path / "nope")
    with pytest.raises(SeedError, match=r"holds no \.txt"):
        parse_corpus(tmp_path)


def test_several_documents_prefix_ids(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("第一条 甲。\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("第一条 乙职责：\n（一）乙的一项。\n", encoding="utf-8")
    clauses, problems = parse_corpus(tmp_path)
    assert problems == []
    assert [c.id for c in clauses] == ["a#1", "b#1.1"]
    assert clauses[1].department == "乙"
