"""Library loader: the folder walk, Document records, superseded versions, library.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from retriever.errors import SeedError
from retriever.library import infer_region, infer_role, load_library, short_name
from retriever.parse import parse_corpus, seed_files

from .conftest import ROOT, SEED_FILE, SEEDS

SAMPLE = ROOT.parent / "shared" / "corpora" / "safety-sample"

LAW = ("# 中华人民共和国测试法\n\n2021年6月10日 第十三届全国人民代表大会常务委员会通过\n\n"
       "<!-- INFO END -->\n\n第一条 甲。\n")


def test_seed_library_is_one_provincial_duty_list() -> None:
    library = load_library(SEEDS)
    assert len(library.documents) == 1
    seed = library.documents[0]
    assert seed.id == SEED_FILE.stem
    assert seed.title.startswith("自治区管行业必须管安全")
    assert seed.role == "duty_list"
    assert seed.region == "新疆维吾尔自治区"  # the title says 自治区; the text names it
    assert seed.level == "provincial"
    assert seed.format == "txt"
    assert seed.source == SEED_FILE.name
    assert len(seed.sha256) == 64
    assert len(library.clauses) == 298
    assert library.clauses[0].id == "1"  # one document: no prefix
    assert library.problems == () and library.warnings == ()


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="../shared/corpora is not checked out beside the repo")
def test_safety_sample_documents(tmp_path: Path) -> None:
    library = load_library([SAMPLE, SEEDS])
    assert len(library.documents) == 16
    assert library.problems == ()
    safety = library.document("安全生产法(2021-06-10)")
    assert (safety.title, safety.short_name, safety.level, safety.region) == (
        "中华人民共和国安全生产法", "安全生产法", "national", None)
    assert safety.version_date == "2021-06-10"
    assert safety.role == "law"
    assert safety.format == "md"
    assert safety.header[0].startswith("2002年6月29日")
    assert {d.level for d in library.documents if d.id != SEED_FILE.stem} == {"national"}
    assert {d.role for d in library.documents} == {"law", "duty_list"}
    ids = [c.id for c in library.clauses]
    assert "安全生产法(2021-06-10)#10-2" in ids
    assert f"{SEED_FILE.stem}#30.6" in ids
    assert len(ids) == len(set(ids))


def test_superseded_versions_and_header_dates(tmp_path: Path) -> None:
    (tmp_path / "测试法(2010-01-01).md").write_text(LAW, encoding="utf-8")
    (tmp_path / "测试法(2021-06-10).md").write_text(LAW, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "测试法.md").write_text(LAW.replace("2021年6月10日", "2005年1月1日"), encoding="utf-8")
    library = load_library(tmp_path)
    documents = {d.id: d for d in library.documents}
    assert documents["测试法"].version_date == "2005-01-01"  # no file-name date: the header's latest
    assert documents["测试法"].source == "sub/测试法.md"
    assert documents["测试法(2010-01-01)"].superseded_by == "测试法(2021-06-10)"
    assert documents["测试法"].superseded_by == "测试法(2021-06-10)"
    assert documents["测试法(2021-06-10)"].superseded_by is None
    assert [c.id for c in library.clauses] == ["测试法#1", "测试法(2010-01-01)#1", "测试法(2021-06-10)#1"]


def test_unknown_extensions_warn_once_each(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("第一条 甲。\n", encoding="utf-8")
    (tmp_path / "scan.tiff").write_bytes(b"II*\x00")
    (tmp_path / ".hidden.txt").write_text("第一条 乙。\n", encoding="utf-8")
    (tmp_path / "_index.md").write_text("---\nbookCollapseSection: true\n---\n", encoding="utf-8")
    library = load_library(tmp_path)
    assert [d.id for d in library.documents] == ["a"]
    assert len(library.warnings) == 2
    assert "_index.md: skipped, a site's section index page" in library.warnings[0]
    assert "scan.tiff: skipped, .tiff extension is not a supported format" in library.warnings[1]
    assert [p.name for p in seed_files(tmp_path)] == ["a.txt"]


def test_symlinked_folders_are_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.txt").write_text("第一条 甲。\n", encoding="utf-8")
    library = tmp_path / "library"
    library.mkdir()
    (library / "linked").symlink_to(tmp_path / "real", target_is_directory=True)
    (library / "loop").symlink_to(library, target_is_directory=True)
    (library / "b.txt").write_text("第一条 乙。\n", encoding="utf-8")
    loaded = load_library(library)
    assert [d.source for d in loaded.documents] == ["b.txt", "linked/a.txt"]


def test_same_stem_same_text_is_kept_once(tmp_path: Path) -> None:
    # laws/ files one law under two categories: the copy is skipped with a warning naming both.
    for folder in ("社会法", "行政法"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.md").write_text("第一条 甲。\n", encoding="utf-8")
    loaded = load_library(tmp_path)
    assert [d.id for d in loaded.documents] == ["a"]
    assert any("same text" in w and "社会法/a.md" in w and "行政法/a.md" in w for w in loaded.warnings)


def test_same_stem_different_text_gets_an_id_naming_its_folder(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("第一条 甲。\n", encoding="utf-8")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.md").write_text("第一条 乙。\n", encoding="utf-8")
    loaded = load_library(tmp_path)
    assert [d.id for d in loaded.documents] == ["a", "a~x"]
    assert [c.id for c in loaded.clauses] == ["a#1", "a~x#1"]
    assert any("'a~x'" in w and "a.txt" in w for w in loaded.warnings)


def test_a_third_file_with_the_stem_in_the_same_folder_name_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("第一条 甲。\n", encoding="utf-8")
    for sub, text in (("p/x", "乙"), ("q/x", "丙")):
        (tmp_path / sub).mkdir(parents=True)
        (tmp_path / sub / "a.md").write_text(f"第一条 {text}。\n", encoding="utf-8")
    with pytest.raises(SeedError, match="two files have the document id 'a'") as info:
        load_library(tmp_path)
    assert "rename" in info.value.hint


def test_library_toml_overrides(tmp_path: Path) -> None:
    (tmp_path / "local" / "北京").mkdir(parents=True)
    (tmp_path / "local" / "北京" / "条例.md").write_text("# 某条例\n第一条 甲。\n", encoding="utf-8")
    (tmp_path / "规定.md").write_text("# 自治区某规定\n第一条 乙。\n", encoding="utf-8")
    (tmp_path / "library.toml").write_text(
        'region = "新疆维吾尔自治区"\n'
        '[folders."local/北京"]\nregion = "北京市"\nlevel = "provincial"\npriority = 2\n'
        '[documents."规定"]\nrole = "duty_list"\n', encoding="utf-8")
    library = load_library(tmp_path)
    documents = {d.id: d for d in library.documents}
    assert library.region == "新疆维吾尔自治区"
    beijing = documents["条例"]
    assert (beijing.region, beijing.level, beijing.priority) == ("北京市", "provincial", 2)
    assert documents["规定"].role == "duty_list"
    assert documents["规定"].region == "新疆维吾尔自治区"  # a bare 自治区 title takes the home region
    assert [c.id for c in library.clauses] == ["条例#1", "规定#1"]


def test_two_folders_with_different_home_regions_warn(tmp_path: Path) -> None:
    for name, region in (("a", "北京市"), ("b", "上海市")):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.txt").write_text("第一条 甲。\n", encoding="utf-8")
        (tmp_path / name / "library.toml").write_text(f'region = "{region}"\n', encoding="utf-8")
    library = load_library([tmp_path / "a", tmp_path / "b"])
    assert library.region == "北京市"
    assert library.warnings == ("library.toml: the folders name different home regions (北京市, 上海市); "
                                "using 北京市, from the first folder",)


@pytest.mark.parametrize(("config", "message"), [
    ('home = "x"\n', "unknown key\\(s\\) home"),
    ('[documents."a"]\nrank = 1\n', "unknown key\\(s\\) rank"),
    ('[documents."a"]\nrole = "manual"\n', "role 'manual' is not one of"),
    ('[folders."x"]\nlevel = "county"\n', "level 'county' is not one of"),
    ('[documents."a"]\npriority = "high"\n', "priority must be an integer"),
    ("region = \n", "not valid TOML"),
])
def test_library_toml_errors_say_what_to_fix(tmp_path: Path, config: str, message: str) -> None:
    (tmp_path / "a.txt").write_text("第一条 甲。\n", encoding="utf-8")
    (tmp_path / "library.toml").write_text(config, encoding="utf-8")
    with pytest.raises(SeedError, match=message) as info:
        load_library(tmp_path)
    assert info.value.hint


def test_parse_corpus_wraps_the_library(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# 甲规定\n第一条 甲。\n第二条 乙。\n\n丙。\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("第一条 乙职责：\n（一）乙的一项。\n", encoding="utf-8")
    clauses, problems = parse_corpus(tmp_path)
    assert problems == []
    assert [c.id for c in clauses] == ["a#1", "a#2-1", "a#2-2", "b#1.1"]


@pytest.mark.parametrize(("title", "region"), [
    ("北京市安全生产条例", "北京市"),
    ("深圳经济特区安全生产监督管理条例", "深圳经济特区"),
    ("浙江省消防条例", "浙江省"),
    ("杭州市城市绿化管理条例", "杭州市"),
    ("山东省青岛市某条例", "青岛市"),
    ("新疆维吾尔自治区安全生产条例", "新疆维吾尔自治区"),
    ("中华人民共和国安全生产法", None),
    ("安全生产许可证条例", None),
])
def test_region_from_title(title: str, region: str | None) -> None:
    assert infer_region(title) == region


@pytest.mark.parametrize(("title", "role"), [
    ("山东省实施《中华人民共和国产品质量法》办法", "implementing_rule"),
    ("实施《反外国制裁法》的规定", "implementing_rule"),
    ("中华人民共和国安全生产法", "law"),
    ("北京市安全生产条例", "law"),
])
def test_role_from_title(title: str, role: str) -> None:
    assert infer_role(title, ()) == role


def test_short_names_keep_places() -> None:
    assert short_name("中华人民共和国安全生产法") == "安全生产法"
    assert short_name("北京市安全生产条例") == "北京市安全生产条例"
    assert short_name("《消防法》") == "消防法"


def test_region_and_level_from_the_issuer_when_the_title_names_no_place(tmp_path: Path) -> None:
    (tmp_path / "西湖保护条例(2011-12-07).md").write_text(
        "# 西湖文化景观保护管理条例\n\n2011年12月7日杭州市第十一届人民代表大会常务委员会第三十八次会议通过\n\n"
        "<!-- INFO END -->\n\n第一条 甲。\n", encoding="utf-8")
    (tmp_path / "机动车登记规定(2021-12-17).md").write_text(
        "# 机动车登记规定\n\n<!-- INFO END -->\n\n第一条 乙。\n", encoding="utf-8")
    documents = {d.id: d for d in load_library(tmp_path).documents}
    lake = documents["西湖保护条例(2011-12-07)"]
    assert (lake.region, lake.level, lake.version_date) == ("杭州市", "city", "2011-12-07")
    vehicles = documents["机动车登记规定(2021-12-17)"]
    assert (vehicles.region, vehicles.level) == (None, "national")  # no place, no local issuer
