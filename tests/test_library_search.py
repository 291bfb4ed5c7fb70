"""A library of documents: routing by named document, place and citation, filters, versions, rebuilds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retriever.errors import QueryError
from retriever.lexicon import load_lexicon
from retriever.present import answer_to_dict, format_answer
from retriever.search import Searcher, open_searcher
from retriever.segment import Segmenter
from retriever.store import build_index

from .conftest import SEEDS, FakeEmbedder

SAMPLE = SEEDS.parent.parent / "shared" / "corpora" / "safety-sample"
SEED_ID = "000_0181f60559a07f58"
WORK_SAFETY = "安全生产法(2021-06-10)"

pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"{SAMPLE} is not there (shared corpora missing)")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Searcher:
    root = tmp_path_factory.mktemp("library") / "index"
    return open_searcher(root, seeds_dir=[SEEDS, SAMPLE], embedder=FakeEmbedder(), build_if_missing=True)


def test_the_library_holds_every_document_with_its_facts(library: Searcher) -> None:
    documents = {d.id: d for d in library.document_list()}
    assert len(documents) == 16
    assert documents[SEED_ID].role == "duty_list"
    assert documents[SEED_ID].region == "新疆维吾尔自治区"
    assert documents[WORK_SAFETY].title == "中华人民共和国安全生产法"
    assert documents[WORK_SAFETY].short_name == "安全生产法"
    assert documents[WORK_SAFETY].level == "national"
    assert library.home_region == "新疆维吾尔自治区"
    assert all("#" in c.id for c in library.clauses)


def test_a_named_document_and_article_answer_first(library: Searcher) -> None:
    answer = library.search("安全生产法第十条", 5)
    assert answer.route == "citation"
    assert answer.hits[0].clause.document == WORK_SAFETY
    assert answer.hits[0].clause.article == 10
    assert {h.clause.document for h in answer.hits} == {WORK_SAFETY}
    assert answer_to_dict(answer)["hits"][0]["citation"] == "《安全生产法》第十条第一款"


def test_a_paragraph_citation(library: Searcher) -> None:
    answer = library.search("安全生产法第十条第二款", 3)
    assert answer.hits[0].clause.id == f"{WORK_SAFETY}#10-2"


def test_an_article_without_a_document_is_shown_for_every_document(library: Searcher) -> None:
    answer = library.search("第十条", 20)
    documents = [h.clause.document for h in answer.hits]
    assert documents[0] == SEED_ID  # the home region's duty list first
    assert len(set(documents)) > 3
    # grouped: each document's clauses are contiguous
    assert len(set(documents)) == len([d for i, d in enumerate(documents) if i == 0 or documents[i - 1] != d])
    assert any("多部法规都有第十条" in note for note in answer.notes)


def test_filters_by_document_and_level(library: Searcher) -> None:
    answer = library.search("谁负责监督管理", 10, document=WORK_SAFETY)
    assert {h.clause.document for h in answer.hits} == {WORK_SAFETY}
    answer = library.search("谁负责监督管理", 10, level="national")
    assert SEED_ID not in {h.clause.document for h in answer.hits}
    with pytest.raises(QueryError, match="unknown document"):
        library.search("谁负责", 5, document="没有这部法")
    with pytest.raises(QueryError, match="unknown level"):
        library.search("谁负责", 5, level="galactic")


def test_another_region_without_a_duty_list_falls_back_to_national_laws(library: Searcher) -> None:
    answer = library.search("网吧的安全检查归哪个部门？", 10, region="北京市")
    assert SEED_ID not in {h.clause.document for h in answer.hits}
    assert any("未载入北京市的职责清单" in note for note in answer.notes)
    asked = library.search("在北京开网吧，安全检查归哪个部门？", 10)
    assert SEED_ID not in {h.clause.document for h in asked.hits}


def test_a_regulation_not_in_the_library_is_out_of_scope(library: Searcher) -> None:
    answer = library.search("食品安全法规定谁负责学校食堂？", 5)
    assert not answer.in_scope
    assert any("本库未收录《食品安全法》" in note for note in answer.notes)
    assert "库内法规中没有直接回答" in format_answer(answer)


def test_law_clauses_carry_the_bodies_they_make_responsible(library: Searcher) -> None:
    clause = library.clause(f"{WORK_SAFETY}#10-1")
    assert any("应急管理部门" in body for body in clause.departments)
    seed = library.clause(f"{SEED_ID}#30.6")
    assert seed.departments == ("自治区文化和旅游厅",)


def test_superseded_versions_are_left_out_unless_asked(tmp_path: Path) -> None:
    folder = tmp_path / "lib"
    folder.mkdir()
    old = folder / "消防法(2019-04-23).md"
    new = folder / "消防法(2021-04-29).md"
    text = (SAMPLE / "消防法(2021-04-29).md").read_text(encoding="utf-8")
    new.write_text(text, encoding="utf-8")
    old.write_text(text.replace("第二条 消防工作", "第二条 旧版消防工作"), encoding="utf-8")
    searcher = open_searcher(tmp_path / "index", seeds_dir=folder, embedder=FakeEmbedder(), build_if_missing=True)
    documents = {d.id: d for d in searcher.document_list()}
    assert documents[old.stem].superseded_by == new.stem
    assert {h.clause.document for h in searcher.search("消防工作的方针", 10).hits} == {new.stem}
    both = searcher.search("消防工作的方针", 10, include_superseded=True)
    assert old.stem in {h.clause.document for h in both.hits}


def test_changing_one_document_re_embeds_only_its_clauses(tmp_path: Path) -> None:
    folder = tmp_path / "lib"
    folder.mkdir()
    for name in ("消防法(2021-04-29).md", "矿山安全法(2009-08-27).md"):
        shutil.copy(SAMPLE / name, folder / name)
    lexicon = load_lexicon()
    segmenter = Segmenter(lexicon.user_words())
    root = tmp_path / "index"
    first = build_index(folder, root, FakeEmbedder(), lexicon, segmenter)
    assert first["counts"]["units_embedded"] >= 0.95 * first["counts"]["units"]  # repeated texts are embedded once
    mine = folder / "矿山安全法(2009-08-27).md"
    mine.write_text(mine.read_text(encoding="utf-8").replace("第二条 在中华人民共和国", "第二条 在我国"),
                    encoding="utf-8")
    second = build_index(folder, root, FakeEmbedder(), lexicon, segmenter)
    assert 0 < second["counts"]["units_embedded"] <= 3
    assert {d["id"] for d in second["library"]["documents"]} == {"消防法(2021-04-29)", "矿山安全法(2009-08-27)"}
    assert all(len(d["sha256"]) == 64 for d in second["library"]["documents"])


def test_a_named_law_answers_instead_of_the_duty_list(library: Searcher) -> None:
    answer = library.search("公安交管部门在道路交通安全法里负责什么", 10)
    assert answer.hits[0].clause.document == "道路交通安全法(2021-04-29)"
    assert not any(h.group == "duty" for h in answer.hits)


def test_the_duty_list_is_lifted_only_when_it_is_close_to_the_best_law_that_names_a_body(library: Searcher) -> None:
    import numpy as np

    from retriever.routing import TIER_DUTY_LIST, TIER_NATIONAL

    duty = library._row[f"{SEED_ID}#30.6"]
    with_body = library._row[f"{WORK_SAFETY}#10-1"]
    nobody = next(r for r, c in enumerate(library.clauses) if c.document == WORK_SAFETY and not c.departments)
    rows = np.array([duty, with_body, nobody])
    tiers = np.array([TIER_DUTY_LIST, TIER_NATIONAL, TIER_NATIONAL])
    scope = library._scope(library.analyze("谁负责"), None, None, None, False)
    gate = library.settings.who_duty_gate
    # A "who" question: only the law clause that names a body counts, whatever the other scores.
    assert library._duty_list_answers(np.array([gate * 1.0 + 0.01, 1.0, 5.0]), rows, tiers, True, scope)
    assert not library._duty_list_answers(np.array([gate * 1.0 - 0.01, 1.0, 0.0]), rows, tiers, True, scope)
    # Another question compares with every law clause, at duty_gate.
    other = library.settings.duty_gate
    assert library._duty_list_answers(np.array([other * 5.0 + 0.01, 1.0, 5.0]), rows, tiers, False, scope)


def assembled(library: Searcher, question: str, scores: dict[str, float]) -> list[tuple[str, str | None]]:
    """The hits (id without the document, group) that ``_assemble`` composes from these clause scores."""
    import numpy as np

    from retriever.search import _Scored

    rows = sorted(library._row[clause_id] for clause_id in scores)
    by_row = {library._row[clause_id]: score for clause_id, score in scores.items()}
    scored = _Scored(rows=np.array(rows), scores=np.array([by_row[r] for r in rows], dtype=np.float64))
    analysis = library.analyze(question)
    scope = library._scope(analysis, None, None, None, False)
    answer = library._assemble("q", analysis, scored, len(rows), "full", in_scope=True, route="search", scope=scope)
    return [(h.clause.id.partition("#")[2], h.group) for h in answer.hits]


def test_a_general_article_of_the_duty_list_that_scores_best_stays_first(library: Searcher) -> None:
    general, duty, law = f"{SEED_ID}#57", f"{SEED_ID}#30.6", f"{WORK_SAFETY}#10-1"
    question = "细则里没列到的中央驻疆单位安全职责怎么确定"
    hits = assembled(library, question, {general: 1.0, duty: 0.9, law: 0.5})
    assert [clause for clause, _ in hits] == ["57", "30.6", "10-1"]
    assert not any(group == "duty" for _, group in hits)
    # The duty list's clause scoring best is the duty, the best law its basis.
    hits = assembled(library, question, {general: 0.5, duty: 1.0, law: 0.6})
    assert [group for _, group in hits[:2]] == ["duty", "basis"]


def test_who_questions_prefer_law_clauses_that_make_a_body_responsible(library: Searcher) -> None:
    from dataclasses import replace

    plain = replace(library.settings, who_body_boost=0.0)
    boosted = library.settings
    assert boosted.who_body_boost > 0
    try:
        library.settings = plain
        before = library.search("消防法里消防工作由谁负责监督管理", 10)
    finally:
        library.settings = boosted
    after = library.search("消防法里消防工作由谁负责监督管理", 10)
    assert sum(bool(h.clause.departments) for h in after.hits[:5]) >= sum(
        bool(h.clause.departments) for h in before.hits[:5])
    assert after.hits[0].clause.departments


def test_only_a_law_clause_close_to_the_duty_is_pulled_up_as_its_basis(library: Searcher) -> None:
    from dataclasses import replace

    scores = {f"{SEED_ID}#30.6": 1.0, f"{SEED_ID}#30.8": 0.5, f"{WORK_SAFETY}#10-1": 0.45}
    settings = library.settings
    assert settings.basis_share > 0.45
    assert [clause for clause, _ in assembled(library, "网吧归谁管", scores)] == ["30.6", "30.8", "10-1"]
    try:  # Without the share, the best law clause is always pulled up as the basis.
        library.settings = replace(settings, basis_share=0.0)
        assert [clause for clause, _ in assembled(library, "网吧归谁管", scores)] == ["30.6", "10-1", "30.8"]
    finally:
        library.settings = settings


def test_clauses_that_assign_supervision_are_known(library: Searcher) -> None:
    assigns = library._assigns_supervision
    assert assigns[library._row[f"{WORK_SAFETY}#10-1"]]  # 国务院应急管理部门……实施综合监督管理
    penalties = [r for r, c in enumerate(library.clauses) if c.document == WORK_SAFETY and "罚款" in c.text]
    assert penalties and not assigns[penalties].any()
    assert not assigns[library._row[f"{SEED_ID}#30.6"]] or library.clauses[library._row[f"{SEED_ID}#30.6"]].department


def test_a_topic_word_that_is_also_an_alias_does_not_name_an_agency(library: Searcher) -> None:
    topic = library.analyze("单位的建筑消防设施多久要做一次全面检测")
    assert topic.departments == ("新疆消防救援总队",)  # 消防 is one of its aliases
    assert not topic.names_agency
    assert library.analyze("消防队负责哪些安全检查").names_agency
    assert library.analyze("新疆KTV的安全监管是文旅厅管吗").names_agency


def test_a_duty_question_prefers_duty_articles_to_the_penalty_chapter(library: Searcher) -> None:
    chapter = library._in_liability_chapter
    penalties = [r for r, c in enumerate(library.clauses) if c.document == WORK_SAFETY and "法律责任" in c.chapter]
    assert penalties and chapter[penalties].all()
    assert not chapter[library._row[f"{WORK_SAFETY}#10-1"]]
    assert library.settings.liability_penalty > 0


def test_an_article_with_several_paragraphs_among_the_best_is_lifted(library: Searcher) -> None:
    from dataclasses import replace

    assert library.settings.article_boost > 0
    keys = library._row_article
    rows = [library._row[f"{WORK_SAFETY}#10-{n}"] for n in (1, 2, 3)]
    assert len({int(keys[r]) for r in rows}) == 1
    assert keys[library._row[f"{WORK_SAFETY}#10-1"]] != keys[library._row[f"{SEED_ID}#30.6"]]
    settings = library.settings
    query = "安全生产法里谁对安全生产工作实施综合监督管理"
    try:
        library.settings = replace(settings, article_boost=0.0)
        plain = {h.clause.id: h.score for h in library.search(query, 20).hits}
    finally:
        library.settings = settings
    lifted = {h.clause.id: h.score for h in library.search(query, 20).hits}
    assert any(lifted[c] > plain[c] for c in lifted.keys() & plain.keys() if c.startswith(WORK_SAFETY))


def test_when_a_named_regulation_was_adopted_is_answered_from_its_header(library: Searcher) -> None:
    answer = library.search("矿山安全法修订了几次", 5)
    assert answer.in_scope
    assert any(note.startswith("《矿山安全法》：") and "通过" in note for note in answer.notes)
    assert not any(note.startswith("《") for note in library.search("矿山安全法第十条", 5).notes)


@pytest.fixture(scope="module")
def seed_alone(tmp_path_factory: pytest.TempPathFactory) -> Searcher:
    root = tmp_path_factory.mktemp("seed-alone") / "index"
    return open_searcher(root, seeds_dir=SEEDS, embedder=FakeEmbedder(), build_if_missing=True)


@pytest.mark.parametrize("question", ["化工厂安全生产谁监管", "网吧的安全检查归哪个部门？", "电动车充电归哪个部门管？",
                                      "学校食堂的食品安全谁负责", "乌鲁木齐的燃气安全由谁管"])
def test_a_duty_list_keeps_its_own_order_in_a_library(library: Searcher, seed_alone: Searcher,
                                                       question: str) -> None:
    """The library decides where the duty list stands among the laws, not the order of its own clauses."""
    alone = [h.clause.id for h in seed_alone.search(question, 100).hits]
    in_library = [h.clause.id.split("#", 1)[1] for h in library.search(question, 30).hits
                  if h.clause.document == SEED_ID]
    assert in_library, question
    shown = set(in_library) & set(alone)
    assert [c for c in in_library if c in shown] == [c for c in alone if c in shown], question


def test_a_library_index_saves_each_duty_list_bm25(library: Searcher) -> None:
    seed_rows = sum(1 for c in library.clauses if c.document == SEED_ID)
    assert set(library.index.duty_lexical) == {SEED_ID}
    assert library.index.duty_lexical[SEED_ID].size == seed_rows
    entry, = library.manifest["duty_lists"]
    assert entry == {"document": SEED_ID, "folder": "bm25-duty/0", "clauses": seed_rows}
