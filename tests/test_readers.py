"""Readers: .txt, .md, .docx and .pdf files → the same text, so the same clauses.

The format tests build real files: .docx with python-docx, PDFs printed by the headless
Chromium the browser tests use (with the installed CJK fonts, which really do put Kangxi
radicals and radical supplements into the text layer), from the seed and three laws of
``../shared/corpora/safety-sample/``, in three layouts (indented; justified without indents;
letter-spaced), with running heads and page numbers. Each must parse to the clauses of its
source text.
"""

from __future__ import annotations

import html
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from retriever.errors import SeedError
from retriever.parse import ParsedRegulation, parse_text
from retriever.readers import SUPPORTED, read_document
from retriever.readers.markdown import INFO_END, strip_markdown
from retriever.readers.pdf import _RawLine, layout_lines, line_text

from .conftest import ROOT, SEED_FILE

SAMPLE = ROOT.parent / "shared" / "corpora" / "safety-sample"
# Short laws with chapters, 节 sections and multi-paragraph articles.
SAMPLE_LAWS = ("大型群众性活动安全管理条例(2007-09-14).md", "生产安全事故应急条例(2019-02-17).md",
               "矿山安全法(2009-08-27).md")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _parse(path: Path) -> ParsedRegulation:
    return parse_text(read_document(path), document="doc", source=path.name)


def _assert_same_clauses(source: Path, other: Path) -> None:
    expected, got = _parse(source), _parse(other)
    assert got.title == expected.title
    assert [c.id for c in got.clauses] == [c.id for c in expected.clauses]
    for want, have in zip(expected.clauses, got.clauses, strict=True):
        assert have == want, f"{other.name} {have.id}"
    assert len(got.problems) <= len(expected.problems), got.problems


# ------------------------------------------------------------ dispatch, txt, md


def test_supported_formats() -> None:
    assert set(SUPPORTED) >= {".txt", ".md", ".docx", ".pdf"}


def test_unknown_extension_is_refused_with_the_formats(tmp_path: Path) -> None:
    path = tmp_path / "law.rtf"
    path.write_text("第一条 甲。", encoding="utf-8")
    with pytest.raises(SeedError, match=r"law\.rtf is a \.rtf file; supported formats: .*\.docx.*\.pdf"):
        read_document(path)


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "LAW.TXT"
    path.write_text("第一条 甲。\n", encoding="utf-8")
    assert read_document(path) == "第一条 甲。\n"


def test_txt_is_read_unchanged_except_radicals(tmp_path: Path) -> None:
    path = tmp_path / "law.txt"
    path.write_bytes("\ufeff# 标题\n第一条 ⼈⺠政府（一）：甲。\n".encode())
    assert read_document(path) == "# 标题\n第一条 人民政府（一）：甲。\n"
    assert read_document(SEED_FILE) == SEED_FILE.read_text(encoding="utf-8-sig")


@pytest.mark.parametrize(("data", "message"), [(b"\x00\x01binary", "is binary"),
                                               ("第一条".encode("gbk"), "not valid UTF-8.*iconv")])
def test_txt_errors_say_what_to_do(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "law.txt"
    path.write_bytes(data)
    with pytest.raises(SeedError, match=message):
        read_document(path)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match=r"cannot read seed file .*nope\.md"):
        read_document(tmp_path / "nope.md")


def test_markdown_keeps_structure_and_strips_inline_syntax() -> None:
    text = ("# 中华人民共和国**某某**法\n\n2021年6月10日通过\n\n<!-- INFO END -->\n\n## 第一章 总则\n\n"
            "<!-- FORCE BREAK -->\n第一条 见[《安全生产法》](https://example.org/x)和`第十条`，*依法*处理\\*。\n"
            "> 第二条 引用的条文。\n- （一）列表项；\n<!-- TABLE -->\n| 刑法条文 |罪名 |\n|-----|-----|\n"
            "| 第152条第2款 |走私废物罪 |\n<!-- TABLE END -->\n第三条 <中华人民共和国安全生产法>不是标签。\n")
    assert strip_markdown(text).splitlines() == [
        "# 中华人民共和国某某法", "", "2021年6月10日通过", "", INFO_END, "", "## 第一章 总则", "",
        "第一条 见《安全生产法》和第十条，依法处理*。", "第二条 引用的条文。", "（一）列表项；",
        "刑法条文 罪名", "第152条第2款 走私废物罪", "第三条 <中华人民共和国安全生产法>不是标签。"]


def test_markdown_front_matter_is_dropped() -> None:
    assert strip_markdown("---\nbookCollapseSection: true\n---\n# 刑法\n---\n第一条 甲。\n") == "# 刑法\n第一条 甲。\n"
    assert strip_markdown("# 刑法\n\n---\n\n第一条 甲。\n") == "# 刑法\n\n\n第一条 甲。\n"  # a rule, not front matter


def test_markdown_corpus_file_parses_as_its_raw_text() -> None:
    # The corpus uses no inline syntax: reading it as Markdown changes nothing the parser sees.
    path = SAMPLE / "安全生产法(2021-06-10).md"
    raw = parse_text(path.read_text(encoding="utf-8"), document="doc")
    assert _parse(path).clauses == raw.clauses


# ------------------------------------------------------------ docx


def _write_docx(text: str, path: Path) -> Path:
    import docx

    document = docx.Document()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("<!--"):
            continue
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            document.add_heading(line.lstrip("#").strip(), level=0 if level == 1 and not document.paragraphs else level)
        else:
            document.add_paragraph(line)
    document.save(str(path))
    return path


def test_docx_headings_breaks_and_tables(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("某某条例", level=0)
    document.add_heading("第一章 总则", level=1)
    document.add_heading("第一节 一般规定", level=2)
    paragraph = document.add_paragraph("第一条 甲⼈⺠。")
    paragraph.add_run().add_break()
    paragraph.add_run("（一）乙；")
    document.add_paragraph("")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "刑法条文", "罪名"
    table.cell(1, 0).text, table.cell(1, 1).text = "第152条", "走私废物罪"
    document.add_paragraph("第二条 丙。")
    document.save(str(tmp_path / "law.docx"))
    assert read_document(tmp_path / "law.docx").splitlines() == [
        "# 某某条例", "# 第一章 总则", "## 第一节 一般规定", "第一条 甲人民。", "（一）乙；",
        "刑法条文 罪名", "第152条 走私废物罪", "第二条 丙。"]


def test_docx_without_heading_styles_reads_larger_fonts_as_headings(tmp_path: Path) -> None:
    import docx
    from docx.shared import Pt

    document = docx.Document()
    for text, size in (("北京市安全生产条例", 22), ("第一章 总则", 16), ("第一条 为了加强安全生产工作。", 16),
                       ("第二条 本条例适用于本市。", 16)):
        document.add_paragraph().add_run(text).font.size = Pt(size)
    document.save(str(tmp_path / "direct.docx"))
    assert read_document(tmp_path / "direct.docx").splitlines() == [
        "# 北京市安全生产条例", "第一章 总则", "第一条 为了加强安全生产工作。", "第二条 本条例适用于本市。"]


@pytest.mark.parametrize("source", [SEED_FILE, SAMPLE / SAMPLE_LAWS[2]], ids=["seed", "mine-safety-law"])
def test_docx_parses_to_the_source_clauses(tmp_path: Path, source: Path) -> None:
    path = _write_docx(read_document(source), tmp_path / f"{source.stem}.docx")
    _assert_same_clauses(source, path)


def _docx_with(tmp_path: Path, replace: dict[str, bytes]) -> Path:
    good = _write_docx("第一条 甲。", tmp_path / "good.docx")
    buffer = io.BytesIO()
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            if item.filename in replace:
                if replace[item.filename]:
                    target.writestr(item.filename, replace[item.filename])
            else:
                target.writestr(item, source.read(item.filename))
    path = tmp_path / "bad.docx"
    path.write_bytes(buffer.getvalue())
    return path


def test_docx_errors_say_what_to_do(tmp_path: Path) -> None:
    doc = tmp_path / "old.docx"
    doc.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    with pytest.raises(SeedError, match=r"Word 97–2003 \.doc or a password-protected \.docx.*save it as"):
        read_document(doc)
    garbage = tmp_path / "garbage.docx"
    garbage.write_bytes(b"this is not a zip file")
    with pytest.raises(SeedError, match=r"garbage\.docx is not a valid \.docx.*save it again"):
        read_document(garbage)
    with pytest.raises(SeedError, match=r"damaged \.docx: its document\.xml is not well-formed"):
        read_document(_docx_with(tmp_path, {"word/document.xml": b"<w:document><w:body>"}))
    with pytest.raises(SeedError, match=r"not a valid \.docx"):
        read_document(_docx_with(tmp_path, {"[Content_Types].xml": b""}))


# ------------------------------------------------------------ pdf: layout hints and errors (no browser)


def test_layout_lines_marks_full_indented_gaps_and_headings() -> None:
    rows = [("安全生产法", 280, 315, 6.5, 0),  # running head: smaller than the body
            ("中华人民共和国安全生产法", 190, 406, 18.0, 10),
            ("第一章 总则", 259, 338, 15.0, 10),
            ("第一条 为了加强安全生产工作，防止和减少生产安全事故，保障人", 86, 533, 12.0, 10),
            ("民群众生命和财产安全。", 62, 314, 12.0, 5),
            ("第二条 在中华人民共和国领域内从事生产经营活动的单位（以下统", 86, 533, 12.0, 5),
            ("称生产经营单位）的安全生产，适用本法；有关法律、行政法规对消防", 62, 518, 12.0, 5),
            ("安全另有规定的，适用其规定。", 62, 230, 12.0, 5),
            ("本法所称生产经营单位，是指从事生产经营活动的企业、事业单位和", 62, 533, 12.0, 12)]
    page, bottom = [], 40.0
    for text, x0, x1, size, space in rows:  # space: points between this line and the one above
        top = bottom + space
        page.append(_RawLine(text, x0, x1, size, top=top, bottom=top + size))
        bottom = top + size
    lines = layout_lines([page])[0]
    assert [line.heading for line in lines] == [0, 1, 2, 0, 0, 0, 0, 0, 0]
    assert [line.indented for line in lines[3:]] == [True, False, True, False, False, False]
    # the line CJK line breaking left 15 pt short is not full (repair joins it: no sentence ended)
    assert [line.full for line in lines[3:]] == [True, False, True, False, False, True]
    assert [line.gap for line in lines[3:]] == [True, False, False, False, False, True]


def _chars(text: str, pitch: float, size: float = 12.0, width: float = 12.0) -> list[dict[str, Any]]:
    """Characters laid out left to right, ``pitch`` points apart (a space advances the pen only)."""
    chars, x = [], 62.0
    for ch in text:
        if ch != " ":
            chars.append({"text": ch, "x0": x, "x1": x + (width if ord(ch) > 0x2E7F else width / 2), "size": size})
        x += pitch if ord(ch) > 0x2E7F else pitch / 2
    return chars


def test_line_text_spaces_only_where_the_line_has_a_wider_gap() -> None:
    assert line_text(_chars("第一章 总 则", 12.0), 12.0) == "第一章 总 则"
    # letter-spaced 0.3em (or justified): every pair has a gap; only the real space is kept
    spaced = "第一条 为了加强安全生产工作，制定本法。"
    assert line_text(_chars(spaced, 15.6), 12.0) == spaced
    assert line_text(_chars("使用 GPS 定位", 12.0), 12.0) == "使用 GPS 定位"
    quoted = _chars("实行“一票否决”。", 12.0)
    quoted[-2]["x0"] += 3  # a narrow ” glyph, set to the right of its advance
    assert line_text(quoted, 12.0) == "实行“一票否决”。"
    assert line_text([], 12.0) == ""


def test_pdf_errors_say_what_to_do(tmp_path: Path) -> None:
    from PIL import Image
    from pypdf import PdfWriter

    fake = tmp_path / "fake.pdf"
    fake.write_text("第一条 甲。", encoding="utf-8")
    with pytest.raises(SeedError, match=r"fake\.pdf is not a PDF"):
        read_document(fake)
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(b"%PDF-1.7\ngarbage where the objects should be\n")
    with pytest.raises(SeedError, match=r"damaged\.pdf is a damaged PDF \(.*\)\. Re-export"):
        read_document(damaged)
    damaged.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> endobj\ntrailer << /Root 1 0 R >>\n")
    with pytest.raises(SeedError, match=r"damaged\.pdf is a damaged PDF: it has no pages"):
        read_document(damaged)

    scanned = tmp_path / "scanned.pdf"
    Image.new("RGB", (400, 600), "white").save(scanned)  # an image and nothing else, as a scanner writes
    with pytest.raises(SeedError, match=r"no text layer \(a scanned or image-only PDF\); OCR is not supported"):
        read_document(scanned)

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    locked = tmp_path / "locked.pdf"
    with locked.open("wb") as out:
        writer.write(out)
    with pytest.raises(SeedError, match=r"locked\.pdf is password-protected.*qpdf --decrypt"):
        read_document(locked)


# ------------------------------------------------------------ real PDFs printed by Chromium (e2e)


@dataclass(frozen=True)
class PrintStyle:
    """How a regulation is laid out and printed: the layouts real PDFs come in."""

    css: str
    paper: str = "A4"
    footer: str = "- <span class='pageNumber'></span> -"


PRINT_STYLES = {
    # a government web page: serif, centred headings, first-line indents, page number - N -
    "indented": PrintStyle("body{font-family:'Noto Serif CJK SC',serif;font-size:16px;line-height:1.5}"
                           "p{text-indent:2em;margin:0}h1{text-align:center;font-size:24px}"
                           "h2{text-align:center;font-size:20px}h3{font-size:18px;text-indent:2em}"),
    # no indents: justified sans-serif on A5, paragraphs apart, 第 N 页 共 M 页
    "spaced": PrintStyle("body{font-family:'Noto Sans CJK SC',sans-serif;font-size:14px;text-align:justify}"
                         "p{margin:0 0 0.5em 0}h1{text-align:center;font-size:22px}h2{font-size:17px}"
                         "h3{font-size:15px}", paper="A5",
                         footer="第 <span class='pageNumber'></span> 页 共 <span class='totalPages'></span> 页"),
    # letter-spaced and justified: a gap between every two characters
    "letter-spaced": PrintStyle("body{font-family:'Noto Serif CJK SC',serif;font-size:15px;text-align:justify}"
                                "p{text-indent:2em;margin:0;letter-spacing:0.3em}h1{text-align:center;font-size:22px}"
                                "h2{text-align:center;font-size:18px}h3{font-size:16px}",
                                footer="<span class='pageNumber'></span>"),
}
#: What the e2e tests print: the seed and three laws, in all three layouts between them.
PRINTED = {SEED_FILE: "indented", SAMPLE / SAMPLE_LAWS[0]: "indented", SAMPLE / SAMPLE_LAWS[1]: "spaced",
           SAMPLE / SAMPLE_LAWS[2]: "letter-spaced"}


def render_html(text: str, style: PrintStyle) -> str:
    """A regulation's text as an HTML page: ``#`` lines as headings, one ``<p>`` per paragraph."""
    body = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("<!--"):
            continue
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 6)
            body.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        else:
            body.append(f"<p>{html.escape(line)}</p>")
    return (f"<!doctype html><html lang='zh-CN'><meta charset='utf-8'><style>{style.css}</style>"
            f"<body>{''.join(body)}</body>")


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """source name → (source file, the PDF Chromium printed from it), printed once per session."""
    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium (make browser)")
    from playwright.sync_api import sync_playwright

    folder = tmp_path_factory.mktemp("pdf")
    out: dict[str, tuple[Path, Path]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            for source, name in PRINTED.items():
                style = PRINT_STYLES[name]
                page.set_content(render_html(read_document(source), style))
                target = folder / f"{source.stem}.pdf"
                small = "<div style='font-size:9px;width:100%;text-align:center'>"
                page.pdf(path=str(target), format=style.paper, display_header_footer=True,
                         header_template=f"{small}{html.escape(source.stem.split('(')[0])}</div>",
                         footer_template=f"{small}{style.footer}</div>",
                         margin={"top": "2cm", "bottom": "2cm", "left": "2cm", "right": "2cm"})
                out[source.stem] = (source, target)
        finally:
            browser.close()
    return out


@pytest.mark.e2e
def test_chromium_pdf_text_layer_really_holds_radicals(printed: dict[str, tuple[Path, Path]]) -> None:
    import pdfplumber

    _, pdf = printed[Path(SAMPLE_LAWS[0]).stem]
    with pdfplumber.open(str(pdf)) as document:
        raw = document.pages[0].extract_text()
    assert "⼈" in raw or "⺠" in raw  # what the repair step is for
    text = read_document(pdf)
    assert not any(0x2E80 <= ord(ch) <= 0x2FDF for ch in text)
    assert "人民" in text and "- 1 -" not in text


@pytest.mark.e2e
@pytest.mark.parametrize("name", [source.stem for source in PRINTED])
def test_chromium_pdf_parses_to_the_source_clauses(printed: dict[str, tuple[Path, Path]], name: str) -> None:
    source, pdf = printed[name]
    _assert_same_clauses(source, pdf)


@pytest.mark.e2e
def test_markdown_docx_and_pdf_of_one_regulation_give_the_same_clauses(
        printed: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    source, pdf = printed[Path(SAMPLE_LAWS[0]).stem]
    docx = _write_docx(read_document(source), tmp_path / "law.docx")
    clauses = {path.suffix: _parse(path).clauses for path in (source, docx, pdf)}
    assert clauses[".md"] == clauses[".docx"] == clauses[".pdf"]
    assert len(clauses[".md"]) > 20
