"""Text repair for extracted (PDF) text: radicals, page furniture, wrapped lines."""

from __future__ import annotations

import unicodedata
from dataclasses import replace

import pytest

from retriever.repair import (
    Line,
    drop_page_furniture,
    fold_radicals,
    fold_shared_glyphs,
    is_page_number,
    join_lines,
    repair_pages,
    repair_text,
)

# ------------------------------------------------------------ radicals


def test_fold_radicals_kangxi_and_supplement() -> None:
    # ⼈ U+2F08 and ⽉ U+2F49 are Kangxi radicals (NFKC folds them); ⺠ U+2EA0 and ⻔ U+2ED4 are
    # radical supplements, which NFKC leaves alone.
    assert unicodedata.normalize("NFKC", "⺠⻔") == "⺠⻔"
    assert fold_radicals("中华⼈⺠共和国2021年6⽉，应急管理部⻔") == "中华人民共和国2021年6月，应急管理部门"


def test_fold_radicals_keeps_full_width_punctuation_and_other_compatibility_forms() -> None:
    text = "第十八条第（七）项：ＡＢＣ１２３，“引号”；全角空格\u3000"
    assert fold_radicals(text) == text  # NFKC would turn （） into () and ＡＢＣ１２３ into ABC123


def test_fold_radicals_covers_the_whole_kangxi_block() -> None:
    kangxi = "".join(chr(cp) for cp in range(0x2F00, 0x2FD6))
    folded = fold_radicals(kangxi)
    assert folded == unicodedata.normalize("NFKC", kangxi)
    assert all(0x4E00 <= ord(ch) <= 0x9FFF for ch in folded)


def test_fold_radicals_supplement_table_targets_unified_ideographs() -> None:
    supplement = [chr(cp) for cp in range(0x2E80, 0x2EF4)]
    folded = {ch: fold_radicals(ch) for ch in supplement}
    changed = {ch: out for ch, out in folded.items() if out != ch}
    assert len(changed) >= 90
    assert all("CJK UNIFIED IDEOGRAPH" in unicodedata.name(out) for out in changed.values())
    # the simplified forms a Chinese PDF actually produces
    assert [folded[ch] for ch in "⻅⻋⻓⻔⻘⻛⻜⻢⻬⺟⻄"] == list("见车长门青风飞马齐母西")
    assert folded["⺀"] == "⺀"  # no unified ideograph: left alone


def test_fold_shared_glyphs_in_simplified_text_only() -> None:
    # Chromium writes 戶 (U+6236) for 户 (U+6237): Noto CJK SC draws both with one glyph.
    assert fold_shared_glyphs("本人戶籍所在地的人民政府，为用戶") == "本人户籍所在地的人民政府，为用户"
    assert fold_shared_glyphs("為保障用戶權益，本條例規定") == "為保障用戶權益，本條例規定"  # traditional: left alone
    assert fold_shared_glyphs("\u2329中华人民共和国\u232a") == "〈中华人民共和国〉"


# ------------------------------------------------------------ page furniture


@pytest.mark.parametrize("text", ["3", "- 3 -", "— 12 —", "－3－", "第 3 页", "第3页 共10页", "共10页 第3页", "3 / 10",
                                  "Page 3", "page 3 of 10"])
def test_is_page_number(text: str) -> None:
    assert is_page_number(text)


@pytest.mark.parametrize("text", ["第三条 本法所称", "（一）负责", "3、安全", "2021年6月10日", "第3条"])
def test_is_page_number_rejects_text(text: str) -> None:
    assert not is_page_number(text)


def _page(number: int, *body: str) -> list[Line]:
    return [Line("安全生产法"), *(Line(text) for text in body), Line(f"第 {number} 页")]


def test_drop_page_furniture_removes_running_heads_and_page_numbers() -> None:
    pages = [_page(1, "# 中华人民共和国安全生产法", "第一条 为了"), _page(2, "第二条 在"), _page(3, "第三条 安全")]
    kept = drop_page_furniture(pages)
    assert [[line.text for line in page] for page in kept] == [
        ["# 中华人民共和国安全生产法", "第一条 为了"], ["第二条 在"], ["第三条 安全"]]
    assert pages[0][0].text == "安全生产法"  # the input is untouched


def test_drop_page_furniture_keeps_body_lines_and_headings() -> None:
    # A line repeated inside pages is body text; a heading the size of the title is kept
    # even when the running head repeats it.
    pages = [[Line("安全生产法", heading=1), Line("第一条 同上。"), Line("同上。"), Line("第二条 甲。"), Line("- 1 -")],
             [Line("安全生产法"), Line("第三条 同上。"), Line("同上。"), Line("第四条 乙。"), Line("- 2 -")],
             [Line("安全生产法"), Line("第五条 丙。"), Line("同上。"), Line("第六条 丁。"), Line("- 3 -")]]
    kept = drop_page_furniture(pages)
    assert [line.text for line in kept[0]] == ["安全生产法", "第一条 同上。", "同上。", "第二条 甲。"]
    assert [line.text for line in kept[1]] == ["第三条 同上。", "同上。", "第四条 乙。"]


def test_drop_page_furniture_single_page_keeps_its_first_line() -> None:
    kept = drop_page_furniture([[Line("关于安全生产的决定"), Line("第一条 甲。"), Line("2")]])
    assert [line.text for line in kept[0]] == ["关于安全生产的决定", "第一条 甲。"]


# ------------------------------------------------------------ joining wrapped lines


def _texts(lines: list[Line]) -> list[str]:
    return [line.text for line in join_lines(lines)]


def test_join_lines_uses_layout_full_and_indented() -> None:
    lines = [Line("第一条 为了加强安全生产工作，防止和减少", full=True, indented=True),
             Line("生产安全事故。", full=False, indented=False),
             Line("国务院应急管理部门依照本法，对全国安全", full=True, indented=True),
             Line("生产工作实施综合监督管理。", full=False, indented=False)]
    assert _texts(lines) == ["第一条 为了加强安全生产工作，防止和减少生产安全事故。",
                             "国务院应急管理部门依照本法，对全国安全生产工作实施综合监督管理。"]


def test_join_lines_full_line_ending_a_sentence_still_joins_unless_an_article_follows() -> None:
    # Without indentation, a full line that happens to end with 。 continues the paragraph…
    wrapped = [Line("第三条 甲乙丙丁。", full=True, indented=False), Line("戊己庚辛。", full=False, indented=False)]
    assert _texts(wrapped) == ["第三条 甲乙丙丁。戊己庚辛。"]
    # …but not when the next line opens an article or an item.
    for opener in ("第四条 戊己庚辛。", "（一）戊己庚辛；", "二、戊己庚辛；"):
        lines = [Line("第三条 甲乙丙丁：", full=True, indented=False), Line(opener, full=False, indented=False)]
        assert _texts(lines) == ["第三条 甲乙丙丁：", opener]


def test_join_lines_paragraph_gap_without_indentation() -> None:
    # Justified text without first-line indents: a full line that ends a sentence is wrapped
    # unless the space above the next line says a paragraph starts there.
    wrapped = [Line("第一百一十四条 发生特别重大事故的，处一千万元以上二千万元以下的罚款。", full=True, indented=False),
               Line("情节特别严重的，按照前款罚款数额的二倍以上五倍以下处以罚款。", full=False, gap=False)]
    assert len(_texts(wrapped)) == 1
    spaced = [wrapped[0], replace(wrapped[1], gap=True)]
    assert _texts(spaced) == [wrapped[0].text, wrapped[1].text]


def test_join_lines_short_line_wrapped_by_line_breaking_rules() -> None:
    # Chromium leaves a line two characters short before （气）: no sentence ended, so it goes on.
    lines = [Line("（五）严厉打击涉油", full=False, indented=True),
             Line("（气）违法行为；", full=False, indented=False)]
    assert _texts(lines) == ["（五）严厉打击涉油（气）违法行为；"]


def test_join_lines_keeps_wrapped_article_references_together() -> None:
    # A wrap just before 第三十条 looks like an article opener; the unfinished sentence wins.
    lines = [Line("违反本法", full=True, indented=True), Line("第三十条规定的，责令改正。", full=False, indented=False)]
    assert _texts(lines) == ["违反本法第三十条规定的，责令改正。"]


def test_join_lines_headings() -> None:
    lines = [Line("自治区管行业必须管安全、管业务必须管安全、管生产经营", full=True, indented=True, heading=1),
             Line("必须管安全实施细则", full=False, indented=True, heading=1),
             Line("第一章 总 则", full=False, indented=True, heading=1),
             Line("第一条 为强化安全生产监督管理。", full=False, indented=True)]
    assert _texts(lines) == ["自治区管行业必须管安全、管业务必须管安全、管生产经营必须管安全实施细则", "第一章 总 则",
                             "第一条 为强化安全生产监督管理。"]


def test_join_lines_without_layout_uses_punctuation() -> None:
    lines = [Line("# 中华人民共和国安全生产法"), Line("第一条 为了加强安全生产工作，防止和减少"),
             Line("生产安全事故。"), Line("第二条 本法所称"), Line("第三条 规定的。"), Line("第一章 总则"),
             Line("第四条 甲。")]
    assert _texts(lines) == ["# 中华人民共和国安全生产法", "第一条 为了加强安全生产工作，防止和减少生产安全事故。",
                             "第二条 本法所称", "第三条 规定的。", "第一章 总则", "第四条 甲。"]


def test_join_lines_restores_the_space_in_a_wrapped_latin_phrase() -> None:
    lines = [Line("使用 Global", full=True, indented=False), Line("Positioning System 定位。", full=False)]
    assert _texts(lines) == ["使用 Global Positioning System 定位。"]


# ------------------------------------------------------------ the whole step


def test_repair_pages_across_a_page_break() -> None:
    pages = [[Line("安全生产法", full=False, indented=True),
              Line("中华⼈⺠共和国安全⽣产法", full=False, indented=True, heading=1),
              Line("第⼀章 总则", full=False, indented=True, heading=2),
              Line("第⼀条 为了加强安全⽣产⼯作，防⽌和减少⽣产安全事故，保障⼈", full=True, indented=True),
              Line("- 1 -", full=False, indented=True)],
             [Line("安全生产法", full=False, indented=True),
              Line("⺠群众⽣命和财产安全，制定本法。", full=False, indented=False, gap=True),  # below the head
              Line("第⼆条 本法适⽤于⽣产经营单位。", full=False, indented=True),
              Line("第 2 ⻚", full=False, indented=True)]]  # ⻚ U+2EDA: a page number once folded
    assert repair_pages(pages) == (
        "# 中华人民共和国安全生产法\n"
        "## 第一章 总则\n"
        "第一条 为了加强安全生产工作，防止和减少生产安全事故，保障人民群众生命和财产安全，制定本法。\n"
        "第二条 本法适用于生产经营单位。\n")


def test_repair_text_pasted_from_a_pdf() -> None:
    text = "第⼀条 为了加强安全⽣产⼯作，防⽌\n和减少⽣产安全事故。\n第 1 页\n\f第⼆条 本法。\n第 2 页\n"
    assert repair_text(text) == "第一条 为了加强安全生产工作，防止和减少生产安全事故。\n第二条 本法。\n"


def test_repair_pages_empty() -> None:
    assert repair_pages([]) == ""
    assert repair_pages([[], []]) == ""
