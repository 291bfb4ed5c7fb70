"""Parser: the seed exactly as before, paragraphs (款), items, headers, headings, and coverage.

The coverage tests check that every character of every body line of the real corpora
ends up in exactly one clause, the header or the heading structure.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from retriever.errors import SeedError
from retriever.parse import (
    ParsedRegulation,
    chinese_to_int,
    cite,
    int_to_chinese,
    make_citation,
    make_clause_id,
    parse_corpus,
    parse_text,
    read_regulation,
)
from retriever.records import SHARED_DEPARTMENT

from .conftest import ROOT, SEED_FILE

CORPORA = ROOT.parent / "shared" / "corpora"
SAMPLE = CORPORA / "safety-sample"
LAWS = CORPORA / "laws"


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
                                              (102, "一百零二"), (110, "一百一十"), (1001, "一千零一"),
                                              (1010, "一千零一十"), (1040, "一千零四十"), (1100, "一千一百"),
                                              (1164, "一千一百六十四"), (1259, "一千二百五十九")])
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
        "这一行不属于任何条款。\n"
        "（一）孤立的项\n"
        "第一条 自治区测试厅职责：\n"
        "（一）第一项；\n"
        "（三）跳过了第二项；\n"
        "第一条 重复的条\n"
        "第二条 自治区空厅职责：\n"
    )
    parsed = parse_text(text, "doc", source="bad.txt")
    joined = "\n".join(parsed.problems)
    assert "bad.txt:6: item （三） where （二） was expected" in joined
    assert "bad.txt:7: duplicate article 第一条: kept as a paragraph of 第一条" in joined
    assert "bad.txt:8: 第二条 has no text and no items" in joined
    clauses = {c.id: c for c in parsed.clauses}
    # Text outside any article is article 0 (the preamble), not lost.
    assert clauses["0"].text == "这一行不属于任何条款。"
    assert clauses["0"].citation == "序言"
    assert clauses["0.1"].text == "孤立的项"
    assert clauses["0.1"].citation == "序言第（一）项"
    # The repeated article line is kept, as a paragraph of the article before it.
    assert clauses["1-2"].text == "第一条 重复的条"


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
    with pytest.raises(SeedError, match=r"holds no regulation file \(\.txt, \.md"):
        parse_corpus(tmp_path)


def test_several_documents_prefix_ids(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("第一条 甲。\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("第一条 乙职责：\n（一）乙的一项。\n", encoding="utf-8")
    clauses, problems = parse_corpus(tmp_path)
    assert problems == []
    assert [c.id for c in clauses] == ["a#1", "b#1.1"]
    assert clauses[1].department == "乙"


# The seed, pinned -------------------------------------------------------------------

#: sha256 over ``id\tcitation\tdepartment\tchapter\ttext`` of every seed clause, measured on
#: main before the paragraph parser landed: the seed must parse exactly as it did.
SEED_CHECKSUM = "98fc488c1b3177f4c7da6ae3107be214ae0f75f3f52c6e9b01be994363f3b630"


def test_seed_parses_exactly_as_before() -> None:
    parsed = read_regulation(SEED_FILE)
    assert len(parsed.clauses) == 298
    lines = "\n".join(f"{c.id}\t{c.citation}\t{c.department}\t{c.chapter}\t{c.text}" for c in parsed.clauses)
    assert hashlib.sha256(lines.encode()).hexdigest() == SEED_CHECKSUM
    assert all(c.paragraph is None and "-" not in c.id for c in parsed.clauses)
    assert parsed.header == ()
    assert parsed.headings[:2] == ("第一章 总 则", "第二章 各部门安全生产职责")
    # The department headings are kept in the heading structure, not lost.
    assert "自治区公安厅职责：" in parsed.headings
    assert any(h.endswith("履行下列共同职责：") for h in parsed.headings)
    clauses = {c.id: c for c in parsed.clauses}
    assert clauses["18.7"].departments == ("自治区公安厅",)
    assert clauses["59"].departments == ()


# Paragraphs, items, ids and citations -----------------------------------------------

LAW = """# 中华人民共和国测试法

2002年6月29日 第九届全国人民代表大会常务委员会第二十八次会议通过
2021年6月10日 第十三届全国人民代表大会常务委员会第二十九次会议第三次修正

<!-- INFO END -->

## 第一章 总则

### 第一节 一般规定

第九条 为了测试，制定本法。

第十条 国务院应急管理部门对全国安全生产工作实施综合监督管理。

国务院有关部门在各自的职责范围内负责监督管理。

县级以上地方各级人民政府有关部门负责本行政区域的监督管理。

第十一条 生产经营单位的主要负责人负有下列职责：

（一）建立健全责任制；

（二）组织制定规章制度。

第十二条 管理机构履行下列职责：

（一）拟订规章制度；

（二）组织培训。

生产经营单位可以设置专职负责人。

有下列情形之一的，应当报告：

（一）发生事故的；

（二）发现隐患的。

第二章 附则

第十三条 本法自2021年9月1日起施行。
"""


def test_multi_paragraph_articles_items_and_ids() -> None:
    parsed = parse_text(LAW, "测试法(2021-06-10)")
    assert parsed.problems == ()
    assert parsed.title == "中华人民共和国测试法"
    assert parsed.header[0].startswith("2002年6月29日")
    assert len(parsed.header) == 2
    assert parsed.headings == ("第一章 总则", "第一节 一般规定", "第二章 附则")
    clauses = {c.id: c for c in parsed.clauses}
    # A 节 under a 章: the clause keeps the chapter and records the section; a new chapter ends it.
    assert (clauses["9"].chapter, clauses["9"].section) == ("第一章 总则", "第一节 一般规定")
    assert (clauses["13"].chapter, clauses["13"].section) == ("第二章 附则", "")
    assert list(clauses) == [
        "9", "10-1", "10-2", "10-3", "11", "11.1", "11.2",
        "12-1", "12.1", "12.2", "12-2", "12-3", "12-3.1", "12-3.2", "13",
    ]
    assert clauses["10-2"].text == "国务院有关部门在各自的职责范围内负责监督管理。"
    assert clauses["10-2"].citation == "第十条第二款"
    assert clauses["10-2"].paragraph == 2
    assert clauses["11"].text == "生产经营单位的主要负责人负有下列职责："
    assert clauses["11.2"].citation == "第十一条第（二）项"
    assert clauses["11.2"].lead_in == "生产经营单位的主要负责人负有下列职责："
    assert clauses["11.2"].department is None  # a lead-in is not a department heading
    assert clauses["12.1"].citation == "第十二条第一款第（一）项"
    assert clauses["12-3.2"].citation == "第十二条第三款第（二）项"
    assert clauses["12-3.2"].lead_in == "有下列情形之一的，应当报告："
    assert clauses["9"].chapter == "第一章 总则"  # a 节 under a 章 keeps the chapter
    assert clauses["13"].chapter == "第二章 附则"  # a chapter heading without #


def test_id_and_citation_helpers() -> None:
    assert make_clause_id(10, None, paragraph=2) == "10-2"
    assert make_clause_id(18, 7) == "18.7"
    assert make_clause_id(49, 1, paragraph=2, first_list=False) == "49-2.1"
    assert make_clause_id(49, 1, "特种设备安全法(2013-06-29)", paragraph=1) == "特种设备安全法(2013-06-29)#49.1"
    assert make_citation(10, None, 2) == "第十条第二款"
    assert make_citation(25, 1, 2) == "第二十五条第二款第（一）项"
    assert cite("安全生产法", make_citation(10, None, 2)) == "《安全生产法》第十条第二款"
    assert cite("", "第十条") == "第十条"


def test_item_styles_sub_items_and_wrapped_lines() -> None:
    text = (
        "# 测试条例\n"
        "第一条 下列事项：\n"
        "一、第一事项；\n"
        "二、第二事项，包括：\n"
        "1. 甲；\n"
        "2. 乙。\n"
        "第二条 申请人应当具备下列条件\n"
        "之一：\n"
        "（1）具有高级职称，\n"
        "从事相关工作五年以上；\n"
        "（2）其他条件。\n"
    )
    parsed = parse_text(text, "doc")
    assert parsed.problems == ()
    clauses = {c.id: c for c in parsed.clauses}
    assert list(clauses) == ["1", "1.1", "1.2", "2", "2.1", "2.2"]
    assert clauses["1.2"].text == "第二事项，包括：\n1. 甲；\n2. 乙。"  # sub-items stay in their item
    assert clauses["2"].text == "申请人应当具备下列条件之一："  # a line wrapped mid-sentence
    assert clauses["2.1"].text == "具有高级职称，从事相关工作五年以上；"


def test_a_list_continues_after_paragraphs_of_its_item() -> None:
    text = (
        "# 关于修改的决定\n"
        "一、将第一条修改为：\n"
        "“第一条 新的内容。”\n"
        "“第二款的内容。”\n"
        "二、删去第三条。\n"
    )
    parsed = parse_text(text, "doc")
    assert parsed.problems == ()
    clauses = {c.id: c for c in parsed.clauses}
    assert list(clauses) == ["0.1", "0.2"]
    assert clauses["0.1"].text == "将第一条修改为：\n“第一条 新的内容。”\n“第二款的内容。”"
    assert clauses["0.2"].citation == "正文第（二）项"


def test_header_without_marker_subtitle_and_bare_title() -> None:
    text = (
        "北京市测试条例\n"
        "（2004年8月28日北京市第十二届人民代表大会常务委员会第十四次会议通过）\n"
        "2010年12月23日修正\n"
        "第一章 总则\n"
        "第一条 为了测试，制定本条例。\n"
    )
    parsed = parse_text(text, "doc")
    assert parsed.title == "北京市测试条例"
    assert parsed.subtitle.startswith("（2004年8月28日")
    assert parsed.header == (parsed.subtitle, "2010年12月23日修正")
    assert [c.id for c in parsed.clauses] == ["1"]
    assert parsed.clauses[0].chapter == "第一章 总则"


def test_second_hash_line_is_a_subtitle() -> None:
    parsed = parse_text("# 测试条例\n# （试行）\n## 第一章 总则\n第一条 甲。\n", "doc")
    assert parsed.subtitle == "（试行）"
    assert parsed.problems == ()


# Nothing is lost: coverage on the real corpora ---------------------------------------

_N = "零〇一二两三四五六七八九十百千"
_MARKERS = re.compile(
    rf"^(?:#+|[第笫][{_N}\d]+\s?条(?:之[{_N}]+)?|[（(][{_N}\d]+[）)]|[{_N}]+、|\d{{1,2}}[.．、)）](?!\d)|[①-⑳])")
_INLINE_MARKERS = re.compile(rf"\s+(?:[第笫][{_N}\d]+\s?条(?:之[{_N}]+)?|[（(][{_N}\d]+[）)])")
_INVISIBLE = re.compile(r"[\s\u3000\u00a0\ufeff\u200b\u200c\u200d\u2060]+")


def _content(line: str) -> str:
    """A line without whitespace, leading markup and numbering markers, and spaced 第X条/（X）.

    The parser splits items and articles run together on one line at a space before their
    marker, so markers after a space are dropped on both sides of the comparison.
    """
    line = _INLINE_MARKERS.sub("", unicodedata.normalize("NFC", line))
    line = _INVISIBLE.sub("", line)
    while (m := _MARKERS.match(line)) and m.group(0):
        line = line[m.end():]
    return line


def _characters(lines: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in lines:
        counts.update(_content(line))
    return counts


def _lost_and_extra(text: str, parsed: ParsedRegulation) -> tuple[str, str]:
    """Characters of the body missing from the output, and output characters not in the body."""
    body = [line for line in text.splitlines()
            if not re.fullmatch(r"\s*(<!--.*-->|---)\s*", line)]
    first = next((line for line in body if line.strip()), "")
    title = parsed.title if _content(first) == _content(parsed.title) else ""
    pieces = [title, *parsed.header, *parsed.headings]
    pieces += [line for clause in parsed.clauses for line in clause.text.split("\n")]
    source, output = _characters(body), _characters(pieces)
    return "".join((source - output).elements()), "".join((output - source).elements())


def _check_coverage(paths: list[Path]) -> None:
    failures = []
    for path in paths:
        text = path.read_text(encoding="utf-8-sig")
        parsed = parse_text(text, path.stem, str(path))
        lost, extra = _lost_and_extra(text, parsed)
        if lost or extra:
            failures.append(f"{path.name}: lost {lost[:40]!r}, extra {extra[:40]!r}")
        failures += [p for p in parsed.problems if "cannot place" in p]
    assert failures == []


def _laws_sample() -> list[Path]:
    """Every 10th file of laws/, sorted by path: a fixed sample of about 344 files."""
    return sorted(LAWS.rglob("*.md"), key=lambda p: p.relative_to(LAWS).as_posix())[::10]


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="../shared/corpora is not checked out beside the repo")
def test_coverage_on_every_safety_sample_file() -> None:
    paths = sorted(SAMPLE.glob("*.md"))
    assert len(paths) == 15
    _check_coverage(paths)
    for path in paths:
        assert parse_text(path.read_text(encoding="utf-8"), path.stem, str(path)).problems == ()


@pytest.mark.skipif(not LAWS.is_dir(), reason="../shared/corpora is not checked out beside the repo")
def test_coverage_on_a_fixed_sample_of_laws() -> None:
    paths = _laws_sample()
    assert len(paths) > 300
    _check_coverage(paths)


def test_coverage_check_notices_a_lost_line() -> None:
    text = "# 测试\n第一条 甲。\n"
    parsed = parse_text(text, "doc")
    broken = ParsedRegulation(parsed.document, parsed.title, (), parsed.problems)
    assert _lost_and_extra(text, parsed) == ("", "")
    assert _lost_and_extra(text, broken) == ("甲。", "")


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="../shared/corpora is not checked out beside the repo")
def test_real_laws_paragraphs_after_item_lists() -> None:
    safety = read_regulation(SAMPLE / "安全生产法(2021-06-10).md")
    clauses = {c.id: c for c in safety.clauses}
    assert [i for i in clauses if i.startswith(("25.", "25-"))] == [
        "25-1", *(f"25.{n}" for n in range(1, 8)), "25-2"]
    assert clauses["25-2"].text.startswith("生产经营单位可以设置专职安全生产分管负责人")
    assert clauses["10-2"].citation == "第十条第二款"
    assert safety.title == "中华人民共和国安全生产法"
    assert len(safety.header) == 4
    special = {c.id: c for c in read_regulation(SAMPLE / "特种设备安全法(2013-06-29).md").clauses}
    assert [i for i in special if i.startswith(("49.", "49-"))] == ["49-1", "49.1", "49.2", "49.3", "49-2", "49-3"]
    sections = read_regulation(SAMPLE / "道路交通安全法(2021-04-29).md")
    assert any(h.startswith("第一节") for h in sections.headings)
    by_id = {c.id: c for c in sections.clauses}
    assert by_id["42-1"].section == "第二节 机动车通行规定" and by_id["42-1"].chapter.startswith("第四章")


def test_a_second_department_heading_inside_a_duty_list_article() -> None:
    text = ("第五条 市绿化行政管理部门主要职责：\n（一）编制规划；\n"
            "区绿化行政管理部门主要职责：\n（一）负责本区公园；\n")
    parsed = parse_text(text, "doc")
    assert parsed.problems == ()
    clauses = {c.id: c for c in parsed.clauses}
    assert list(clauses) == ["5.1", "5-2.1"]
    assert clauses["5.1"].department == "市绿化行政管理部门"
    assert clauses["5-2.1"].department == "区绿化行政管理部门"
    assert clauses["5-2.1"].citation == "第五条第二款第（一）项"
    assert parsed.headings == ("市绿化行政管理部门主要职责：", "区绿化行政管理部门主要职责：")


def test_items_whose_marker_the_source_lost_are_numbered_and_reported() -> None:
    text = ("第十五条 停车场管理者应当遵守下列规定：\n在出入口设置标志；\n（二）施划泊位线；\n"
            "第十六条 禁止下列行为：\n（一）甲；\n违规饲养动物；\n（三）丙。\n")
    parsed = parse_text(text, "doc", source="gap.txt")
    clauses = {c.id: c for c in parsed.clauses}
    assert list(clauses) == ["15", "15.1", "15.2", "16", "16.1", "16.2", "16.3"]
    assert clauses["15.1"].text == "在出入口设置标志；"
    assert clauses["16.2"].text == "违规饲养动物；"
    assert parsed.problems == ("gap.txt:2: item （一） has no marker: numbered by its place (在出入口设置标志；)",
                               "gap.txt:6: item （二） has no marker: numbered by its place (违规饲养动物；)")


def test_a_numbered_list_continues_around_a_quoted_list_of_another_style() -> None:
    text = ("# 关于修改的决定\n1.将第一条修改为：\n“下列人员：\n（一）甲；\n（二）乙。”\n2.删去第三条。\n")
    parsed = parse_text(text, "doc")
    assert parsed.problems == ()
    clauses = {c.id: c for c in parsed.clauses}
    assert list(clauses) == ["0.1", "0.2"]
    assert clauses["0.1"].text == "将第一条修改为：\n“下列人员：\n（一）甲；\n（二）乙。”"


def test_article_typos_and_articles_run_together_on_one_line() -> None:
    text = "第一条 甲。\n第二条 乙。 第三条丙。\n笫四条 丁。\n第五 条戊。\n第九条规定的情形除外。\n"
    parsed = parse_text(text, "doc")
    assert parsed.problems == ()
    clauses = {c.id: c for c in parsed.clauses}
    assert list(clauses) == ["1", "2", "3", "4", "5-1", "5-2"]
    assert (clauses["3"].text, clauses["4"].text, clauses["5-1"].text) == ("丙。", "丁。", "戊。")
    # 第X条 without a space that breaks the numbering is a reference, not an article.
    assert clauses["5-2"].text == "第九条规定的情形除外。"


def test_arabic_article_numbers_only_in_sequence() -> None:
    text = "# 补充规定\n现作如下补充：\n刑法条文 罪名\n第344条 （第6条） 非法采伐罪\n第345条第3款 （第7条） 收购罪\n"
    parsed = parse_text(text, "doc")
    assert [c.id for c in parsed.clauses] == ["0-1", "0-2", "0-3", "0-4"]  # a table, not articles
    assert parsed.clauses[2].text == "第344条 （第6条） 非法采伐罪"
    numbered = parse_text("第1条 甲。\n第2条 乙。\n", "doc")
    assert [c.id for c in numbered.clauses] == ["1", "2"]


def test_an_inserted_article_is_its_own_article() -> None:
    text = (
        "# 中华人民共和国刑法\n"
        "第十七条 已满十六周岁的人犯罪，应当负刑事责任。\n"
        "第十七条之一 已满七十五周岁的人故意犯罪的，可以从轻或者减轻处罚。\n"
        "第十八条 精神病人在不能辨认或者不能控制自己行为的时候造成危害结果的，不负刑事责任。\n"
        "第十八条之一 有下列情形之一的，处五年以下有期徒刑：\n"
        "（一）为实施恐怖活动准备凶器的；\n"
        "第十八条之二 依照第十七条之一的规定处理。\n"
        "第十九条 又聋又哑的人犯罪，可以从轻处罚。\n"
    )
    parsed = parse_text(text, "刑法")
    clauses = {c.id: c for c in parsed.clauses}
    assert list(clauses) == ["17", "17a", "18", "18a", "18a.1", "18b", "19"]
    assert clauses["17"].text == "已满十六周岁的人犯罪，应当负刑事责任。"
    assert clauses["17a"].citation == "第十七条之一"
    assert clauses["17a"].article == 17
    assert clauses["18a.1"].citation == "第十八条之一第（一）项"
    assert clauses["18a.1"].lead_in == "有下列情形之一的，处五年以下有期徒刑："
    assert clauses["18b"].text == "依照第十七条之一的规定处理。"  # a reference inside the text stays text
    assert parsed.problems == ()
    assert make_clause_id(120, 2, "刑法", 1, first_list=False, suffix=2) == "刑法#120b-1.2"
    assert make_citation(120, None, 2, suffix=1) == "第一百二十条之一第二款"


def test_a_quoted_inserted_article_out_of_place_stays_text() -> None:
    text = "# 某法\n第一条 总则。\n第二条 分则。\n第一条之一 （引用）\n第三条 附则。\n"
    clauses = {c.id: c for c in parse_text(text, "x").clauses}
    assert list(clauses) == ["1", "2-1", "2-2", "3"]
    assert clauses["2-2"].text == "第一条之一 （引用）"
