"""Homophone typo correction."""

from __future__ import annotations

from pathlib import Path

import pytest

from retriever.spelling import Correction, HomophoneCorrector, load_corrector

VOCABULARY = [
    "核安全", "从事", "妇联", "消防", "消防验收", "人防工程", "锅炉", "锅炉房", "刑事", "形势", "安全生产形势", "事故",
]
REAL_WORDS = {"世故", "有哪些", "安全", "验收", "施工"}


@pytest.fixture
def corrector() -> HomophoneCorrector:
    return HomophoneCorrector(VOCABULARY, REAL_WORDS.__contains__)


@pytest.mark.parametrize(
    ("query", "expected", "corrections"),
    [
        ("妇连有哪些职责", "妇联有哪些职责", (Correction("妇连", "妇联"),)),
        ("商场消放验收找谁", "商场消防验收找谁", (Correction("消放验收", "消防验收"),)),
        ("人方工程归谁管", "人防工程归谁管", (Correction("人方工程", "人防工程"),)),
        ("锅路房谁管", "锅炉房谁管", (Correction("锅路房", "锅炉房"),)),
    ],
)
def test_homophone_typos_are_corrected(corrector: HomophoneCorrector, query: str, expected: str,
                                       corrections: tuple[Correction, ...]) -> None:
    assert corrector.correct(query) == (expected, corrections)


def test_real_words_and_correct_text_are_left_alone(corrector: HomophoneCorrector) -> None:
    assert corrector.correct("这个人很世故") == ("这个人很世故", ())  # a word, though it sounds like 事故
    assert corrector.correct("消防验收归谁管") == ("消防验收归谁管", ())
    assert corrector.correct("English text 123") == ("English text 123", ())
    # A function word before a real word is not a misspelt word: 和|安全, 从|施工.
    assert corrector.correct("业务和安全同步") == ("业务和安全同步", ())
    assert corrector.correct("从施工到运营") == ("从施工到运营", ())


def test_ambiguous_sounds_are_not_guessed(corrector: HomophoneCorrector) -> None:
    # 型事 sounds like both 刑事 and 形势; the longer 安全生产形势 must not decide.
    assert corrector.correct("安全生产型事案件") == ("安全生产型事案件", ())


def test_a_function_character_is_never_read_as_a_typo() -> None:
    corrector = HomophoneCorrector(["扒车", "车祸", "除了"], lambda _: False)
    assert corrector.correct("先把车挪开") == ("先把车挪开", ())  # 把 + 车, not a misspelt 扒车
    assert corrector.correct("出了车货") == ("出了车祸", (Correction("车货", "车祸"),))  # 出了 is not 除了


def test_a_correction_must_keep_half_of_the_characters() -> None:
    corrector = HomophoneCorrector(["公式"], lambda _: False)
    assert corrector.correct("攻势") == ("攻势", ())


def test_saved_tables_give_the_same_corrector_without_recomputing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRIEVER_CACHE_DIR", str(tmp_path))
    built: list[int] = []

    def vocabulary() -> list[str]:
        built.append(1)
        return VOCABULARY

    first = load_corrector("index-a", vocabulary, REAL_WORDS.__contains__)
    second = load_corrector("index-a", vocabulary, REAL_WORDS.__contains__)
    assert built == [1]  # the second came from the saved tables
    assert second.tables() == first.tables() == HomophoneCorrector(VOCABULARY, REAL_WORDS.__contains__).tables()
    for query in ("妇连有哪些职责", "商场消放验收找谁", "安全生产型事", "世故的人"):
        assert second.correct(query) == first.correct(query)
    load_corrector("index-b", vocabulary, REAL_WORDS.__contains__)
    assert built == [1, 1]  # another key, other tables


def test_a_damaged_table_file_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRIEVER_CACHE_DIR", str(tmp_path))
    load_corrector("index-a", lambda: VOCABULARY, REAL_WORDS.__contains__)
    (saved,) = (tmp_path / "spelling").glob("*.json")
    saved.write_text('{"format": "homophone-tables-1", "key": "index-a", "vocabulary": 3}', encoding="utf-8")
    corrector = load_corrector("index-a", lambda: VOCABULARY, REAL_WORDS.__contains__)
    assert corrector.correct("妇连有哪些职责")[0] == "妇联有哪些职责"


def test_a_penalty_is_never_read_as_a_typo() -> None:
    corrector = HomophoneCorrector(["多发", "处罚"], lambda _: False)
    assert corrector.correct("企业最多罚五百万") == ("企业最多罚五百万", ())  # a fine, not 多发
    assert corrector.correct("处伐多少") == ("处罚多少", (Correction("处伐", "处罚"),))  # a typo into 罚 is still fixed


def test_a_correction_must_make_the_text_around_it_more_likely() -> None:
    # jieba's word frequencies as the language model: two words that meet (驾龄 + 有, 拾花 + 工) are
    # not a misspelt word, a non-word that sounds like a common one (措失 → 措施) is.
    from retriever.lexicon import load_lexicon
    from retriever.segment import Segmenter

    segmenter = Segmenter(load_lexicon().user_words())
    vocabulary = ["另有", "化工", "措施", "出境", "消防"]
    plain = HomophoneCorrector(vocabulary, segmenter.is_word)
    checked = HomophoneCorrector(vocabulary, segmenter.is_word, segmenter.log_probability)
    for query in ("对司机驾龄有几年的要求", "拾花工是内地劳务公司招来的", "消防队出警救火要收钱吗"):
        assert plain.correct(query)[1]  # without the language model these were "corrected"
        assert checked.correct(query) == (query, ())
    assert checked.correct("工地的安全措失费能挪用吗") == ("工地的安全措施费能挪用吗", (Correction("措失", "措施"),))
    assert segmenter.log_probability("") == 0.0
    assert segmenter.log_probability("安全措施") > segmenter.log_probability("安全措失")
