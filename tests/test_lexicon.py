"""Tests for the domain lexicon: the shipped data against the regulation, the matchers, validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from retriever.errors import RetrieverError
from retriever.lexicon import DEFAULT_LEXICON_PATH, Lexicon, load_lexicon

SEED = Path(__file__).resolve().parents[1] / "seeds" / "000_0181f60559a07f58.txt"
# The national laws the library ships with in tests and demos (read-only corpus beside the repo).
SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "safety-sample"
HEADING = re.compile(r"^\s*第([一二三四五六七八九十百]+)条\s*(.+?)职责[:：]", re.MULTILINE)
DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def chinese_number(text: str) -> int:
    """Convert a Chinese numeral below 1000 (十八, 二十一, 五十六) to an int."""
    total, digit = 0, 0
    for char in text:
        if char in DIGITS:
            digit = DIGITS[char]
        elif char == "十":
            total += (digit or 1) * 10
            digit = 0
        elif char == "百":
            total += (digit or 1) * 100
            digit = 0
    return total + digit


@pytest.fixture(scope="module")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return load_lexicon()


@pytest.fixture(scope="module")
def heading_departments(seed_text: str) -> list[str]:
    """Department names from the headings of articles 8–56 (第七条 is the shared duties)."""
    return [m.group(2).strip() for m in HEADING.finditer(seed_text) if 8 <= chinese_number(m.group(1)) <= 56]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lexicon.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------- shipped data vs seed


def test_chinese_number() -> None:
    assert [chinese_number(t) for t in ("八", "十", "十八", "二十", "二十一", "五十六")] == [8, 10, 18, 20, 21, 56]


def test_every_heading_has_exactly_one_department(lexicon: Lexicon, heading_departments: list[str]) -> None:
    assert len(heading_departments) == 49
    names = [d.name for d in lexicon.departments]
    for heading in heading_departments:
        assert names.count(heading) == 1, heading
    assert sorted(names) == sorted(heading_departments), "extra departments in the lexicon"


def test_every_expand_term_occurs_in_the_seed_or_a_national_law(lexicon: Lexicon, seed_text: str) -> None:
    laws = "\n".join(p.read_text(encoding="utf-8") for p in sorted(SAMPLE.glob("*.md")))
    if not laws:
        pytest.skip(f"{SAMPLE} is not there (shared corpora missing)")
    missing = [term for s in lexicon.synonyms for term in s.expand if term not in seed_text and term not in laws]
    assert missing == []


def test_shipped_lexicon_is_rich(lexicon: Lexicon) -> None:
    assert len(lexicon.synonyms) >= 150
    assert len(lexicon.terms) >= 100
    for dept in lexicon.departments:
        assert dept.aliases, f"{dept.name} has no alias"
        assert dept.english, f"{dept.name} has no English name"


def test_ambiguous_words_are_not_aliases(lexicon: Lexicon) -> None:
    aliases = {a for d in lexicon.departments for a in d.aliases}
    assert "粮食" not in aliases
    assert "应急" not in aliases


def test_generic_question_words_are_not_synonyms(lexicon: Lexicon) -> None:
    phrases = {p for s in lexicon.synonyms for p in s.phrases}
    assert not phrases & {"管", "负责", "归哪个部门", "谁管", "哪个部门"}
    assert lexicon.expand("归哪个部门负责？谁管？") == []


def test_user_words(lexicon: Lexicon) -> None:
    words = lexicon.user_words()
    assert len(words) == len(set(words))
    for word in ("特种设备", "互联网上网服务经营场所", "自治区公安厅交通警察总队", "住建厅", "网吧", "电动自行车"):
        assert word in words
    assert all(re.search(r"[\u4e00-\u9fff]", w) for w in words)
    assert "customs" not in words


# ----------------------------------------------------------------- detection


def test_detect_by_alias(lexicon: Lexicon) -> None:
    assert lexicon.detect_departments("人社厅有哪些安全生产职责？") == ["自治区人力资源和社会保障厅"]
    assert lexicon.detect_departments("发改委和住建局") == ["自治区发展和改革委员会", "自治区住房和城乡建设厅"]


def test_detect_traffic_police_not_public_security(lexicon: Lexicon) -> None:
    assert lexicon.detect_departments("交警管什么") == ["自治区公安厅交通警察总队"]
    assert lexicon.detect_departments("自治区公安厅交通警察总队职责") == ["自治区公安厅交通警察总队"]
    assert lexicon.detect_departments("公安厅管什么") == ["自治区公安厅"]


def test_detect_forest_fire_vs_fire(lexicon: Lexicon) -> None:
    assert lexicon.detect_departments("森林消防") == ["新疆森林消防总队"]
    assert lexicon.detect_departments("消防") == ["新疆消防救援总队"]
    assert lexicon.detect_departments("森林消防和消防救援总队") == ["新疆森林消防总队", "新疆消防救援总队"]


def test_detect_the_two_grain_bureaus(lexicon: Lexicon) -> None:
    assert lexicon.detect_departments("粮储局") == ["自治区粮食和物资储备局"]
    assert lexicon.detect_departments("国家粮食和物资储备局新疆局") == ["国家粮食和物资储备局新疆局"]
    assert lexicon.detect_departments("粮食安全") == []


def test_detect_english_case_insensitive_whole_words(lexicon: Lexicon) -> None:
    assert lexicon.detect_departments("customs") == ["乌鲁木齐海关"]
    assert lexicon.detect_departments("What does CUSTOMS do?") == ["乌鲁木齐海关"]
    assert lexicon.detect_departments("traffic police duties") == ["自治区公安厅交通警察总队"]
    assert lexicon.detect_departments("Public Security Department") == ["自治区公安厅"]
    assert lexicon.detect_departments("accustomed") == []


def test_detect_deduplicates_in_order(lexicon: Lexicon) -> None:
    assert lexicon.detect_departments("海关和公安，海关") == ["乌鲁木齐海关", "自治区公安厅"]


def test_detect_skips_ignored_lookalikes(lexicon: Lexicon) -> None:
    assert lexicon.detect_departments("组织部署安全生产检查") == []
    assert lexicon.detect_departments("办公安全") == []
    assert lexicon.detect_departments("党委组织部") == ["自治区党委组织部"]


# ----------------------------------------------------------------- expansion


def test_expand_internet_cafe(lexicon: Lexicon) -> None:
    assert "互联网上网服务经营场所" in lexicon.expand("网吧归谁管")
    assert "互联网上网服务经营场所" in lexicon.expand("Who inspects Internet Cafes?")
    assert lexicon.matched_phrases("网吧归谁管") == ["网吧"]


def test_expand_ebike_charging(lexicon: Lexicon) -> None:
    assert "电动自行车" in lexicon.expand("电瓶车充电")


def test_expand_common_wording(lexicon: Lexicon) -> None:
    cases = {
        "电梯困人": "特种设备",
        "elevators and boilers": "特种设备",
        "过山车": "大型游乐设施",
        "煤气罐": "液化石油气",
        "医美": "医疗美容机构",
        "月子中心": "母婴保健机构",
        "外卖骑手": "即时配送平台",
        "快递": "寄递",
        "渔船": "渔业船舶",
        "拖拉机": "农业机械",
        "放鞭炮": "烟花爆竹",
        "fireworks": "烟花爆竹",
        "人防工程": "人民防空",
        "职业病": "职业卫生",
    }
    for query, term in cases.items():
        assert term in lexicon.expand(query), query


def test_expand_omits_terms_already_in_text(lexicon: Lexicon) -> None:
    assert "互联网上网服务经营场所" not in lexicon.expand("网吧就是互联网上网服务经营场所")
    assert lexicon.expand("危险化学品") == []  # 化学品 inside 危险化学品 is not read alone


def test_expand_longest_phrase_hides_contained_one(lexicon: Lexicon) -> None:
    assert lexicon.matched_phrases("电瓶车充电") == ["电瓶车充电"]


def test_matching_ignores_width_and_case(lexicon: Lexicon) -> None:
    assert lexicon.expand("ＫＴＶ") == lexicon.expand("ktv") != []


# ----------------------------------------------------------------- validation


MINIMAL = """
[[department]]
name = "自治区测试厅"
aliases = ["测试厅"]
english = ["Test Department"]

[[synonym]]
phrases = ["小测"]
expand = ["测试"]

[terms]
words = ["测试术语"]
"""


def test_minimal_file_loads(tmp_path: Path) -> None:
    lexicon = load_lexicon(write(tmp_path, MINIMAL))
    assert lexicon.departments[0].aliases == ("测试厅",)
    assert lexicon.detect_departments("test department") == ["自治区测试厅"]
    assert lexicon.expand("小测一下") == ["测试"]
    assert lexicon.terms == ("测试术语",)
    assert lexicon.source.endswith("lexicon.toml")


def test_empty_aliases_are_allowed(tmp_path: Path) -> None:
    lexicon = load_lexicon(write(tmp_path, '[[department]]\nname = "自治区测试厅"\naliases = []\n'))
    assert lexicon.departments[0].aliases == ()


def test_duplicate_alias_is_rejected(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[department]]\nname = "自治区另一厅"\naliases = ["测试厅"]\n'
    path = write(tmp_path, text)
    with pytest.raises(RetrieverError) as info:
        load_lexicon(path)
    message = str(info.value)
    assert str(path) in message
    assert "测试厅" in message and "自治区测试厅" in message and "自治区另一厅" in message
    assert "already claimed" in message


def test_bad_toml_is_rejected_with_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[[department]]\nname = "自治区测试厅"\naliases = ["a",\n')
    with pytest.raises(RetrieverError) as info:
        load_lexicon(path)
    message = str(info.value)
    assert str(path) in message
    assert "TOML" in message and "line" in message


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace('english = ["Test Department"]', 'englsh = ["Test Department"]'))
    with pytest.raises(RetrieverError) as info:
        load_lexicon(path)
    message = str(info.value)
    assert str(path) in message
    assert "unknown key 'englsh'" in message
    assert "[[department]] #1" in message


def test_unknown_top_level_key_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "synonyms = []\n" + MINIMAL)
    with pytest.raises(RetrieverError, match="unknown key 'synonyms'"):
        load_lexicon(path)


def test_missing_name_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, '[[department]]\naliases = ["测试厅"]\n')
    with pytest.raises(RetrieverError, match="has no name"):
        load_lexicon(path)


@pytest.mark.parametrize(
    "entry", ['phrases = []\nexpand = ["测试"]', 'phrases = ["小测"]\nexpand = []', 'phrases = ["小测"]']
)
def test_synonym_needs_phrases_and_expand(tmp_path: Path, entry: str) -> None:
    path = write(tmp_path, f"[[synonym]]\n{entry}\n")
    with pytest.raises(RetrieverError) as info:
        load_lexicon(path)
    assert str(path) in str(info.value)
    assert "[[synonym]] #1" in str(info.value)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RetrieverError, match="does not exist"):
        load_lexicon(tmp_path / "nope.toml")


def test_checksum_follows_file_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    first = load_lexicon(path).checksum
    assert load_lexicon(path).checksum == first
    path.write_text(MINIMAL + "# edited\n", encoding="utf-8")
    assert load_lexicon(path).checksum != first
    assert len(first) == 64


def test_default_path_is_the_packaged_file() -> None:
    assert DEFAULT_LEXICON_PATH.name == "lexicon.toml"
    assert DEFAULT_LEXICON_PATH.is_file()
    assert load_lexicon().source == str(DEFAULT_LEXICON_PATH)


def test_cantonese_question_words_read_as_mandarin() -> None:
    from retriever.lexicon import mandarin

    assert mandarin("喺乌鲁木齐搞演唱会,要去边一级公安申请") == "在乌鲁木齐搞演唱会,要去哪一级公安申请"
    assert mandarin("批复咗之后要喺几多日之内公开") == "批复了之后要在多少日之内公开"
    assert mandarin("安全生产法系咪规定要罚款") == "安全生产法是不是规定要罚款"
    # Mandarin keeps its own 几多 and 边 (no word that is Cantonese alone).
    assert mandarin("路边几多车辆") == "路边几多车辆"


def test_which_position_in_cantonese_is_not_who() -> None:
    from retriever.lexicon import mandarin

    assert mandarin("企边个位置最稳阵?要带咩装备") == "企哪个位置最稳阵?要带什么装备"
    assert mandarin("边个负责?") == "谁负责?"


def test_typing_slips_are_tidied() -> None:
    from retriever.lexicon import tidy

    assert tidy("兵团 自己 的 清单 谁管") == "兵团自己的清单谁管"
    assert tidy("危化品条列第五条") == "危化品条例第五条"
    assert tidy("逐条列出") == "逐条列出"
    # A space after a document's name ends it.
    assert tidy("北京市消防条例 第十条") == "北京市消防条例 第十条"
    assert tidy("道交法 实习期 司机") == "道交法 实习期司机"
