"""Tests for the evaluation harness: gold validation, metrics, mode comparison, reports."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from retriever.errors import GoldSetError, QueryError
from retriever.evaluate import (
    METRIC_NAMES,
    EvalReport,
    GoldQuestion,
    ModeReport,
    QuestionResult,
    evaluate,
    format_table,
    load_gold,
    names_gold_body,
    report_to_dict,
    write_report,
)
from retriever.records import Answer, Clause, DepartmentAnswer, Hit, Mode

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------- fixtures


def clause(clause_id: str) -> Clause:
    """A throwaway clause with the given id."""
    return Clause(
        id=clause_id,
        document="doc",
        title="规定",
        chapter="第二章",
        article=1,
        item=None,
        department=None,
        text=f"条款 {clause_id}",
        citation=f"第{clause_id}条",
    )


def answer(
    ids: Sequence[str],
    departments: Sequence[str] = (),
    in_scope: bool = True,
    mode: Mode = "full",
) -> Answer:
    """An answer whose hits are ``ids`` in rank order."""
    return Answer(
        query="q",
        normalized_query="q",
        route="search",
        in_scope=in_scope,
        departments=tuple(DepartmentAnswer(name, 1.0 / (i + 1), ()) for i, name in enumerate(departments)),
        hits=tuple(
            Hit(clause=clause(cid), score=1.0 / rank, rank=rank, nearest_only=not in_scope)
            for rank, cid in enumerate(ids, start=1)
        ),
        mode=mode,
    )


GOLD_LINES: list[dict[str, Any]] = [
    {
        "qid": "q1",
        "query": "食品安全谁管",
        "relevant": {"1.1": 2, "1.2": 1},
        "departments": ["甲局"],
        "tags": ["colloquial"],
    },
    {
        "qid": "q2",
        "query": "消防检查",
        "relevant": {"2.1": 2},
        "departments": ["乙局"],
        "tags": ["colloquial", "department"],
    },
    {
        "qid": "q3",
        "query": "安全生产总则",
        "relevant": {"3.1": 2, "3.2": 2, "3.3": 1},
        "departments": [],
        "tags": ["general"],
    },
    {"qid": "q4", "query": "今天天气怎么样", "relevant": {}, "departments": [], "tags": ["out_of_scope"]},
    {
        "qid": "q5",
        "query": "what is the weather",
        "relevant": {},
        "departments": [],
        "tags": ["out_of_scope", "english"],
    },
    {"qid": "q6", "query": "危险化学品", "relevant": {"6.1": 1}, "departments": ["甲局"], "tags": ["typo"]},
]

#: What the fake engine answers in "full" mode, by query.
FULL_ANSWERS: dict[str, Answer] = {
    # q1: grade 2 first, grade 1 third, department right.
    "食品安全谁管": answer(["1.1", "9.9", "1.2"], ["甲局"]),
    # q2: relevant at rank 3, wrong department first.
    "消防检查": answer(["9.1", "9.2", "2.1"], ["丙局", "乙局"]),
    # q3: relevant at ranks 6 and 7 only, and wrongly flagged out of scope.
    "安全生产总则": answer(["x1", "x2", "x3", "x4", "x5", "3.3", "3.1"], in_scope=False),
    # q4: correctly flagged out of scope (nearest clauses only).
    "今天天气怎么样": answer(["9.9"], in_scope=False),
    # q5: out of scope but answered.
    "what is the weather": answer(["9.8"], ["丁局"]),
    # q6: nothing at all.
    "危险化学品": answer([]),
}


def write_gold(path: Path, rows: Sequence[dict[str, Any] | str]) -> Path:
    """Write rows (objects, or raw text lines) as a JSON Lines file."""
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def gold(tmp_path: Path) -> list[GoldQuestion]:
    """The hand-made gold set, loaded through the validator."""
    return load_gold(write_gold(tmp_path / "gold.jsonl", GOLD_LINES))


class FakeSearch:
    """A search function that records its calls and answers from tables."""

    def __init__(self, tables: dict[Mode, dict[str, Answer]]) -> None:
        self.tables = tables
        self.calls: list[tuple[str, int, Mode]] = []

    def __call__(self, query: str, k: int, mode: Mode) -> Answer:
        self.calls.append((query, k, mode))
        return self.tables[mode][query]


@pytest.fixture
def full_report(gold: list[GoldQuestion]) -> EvalReport:
    """The gold set evaluated in "full" mode."""
    return evaluate(gold, FakeSearch({"full": FULL_ANSWERS}), gold_path="gold.jsonl")


def result_of(mode: ModeReport, qid: str) -> QuestionResult:
    """The result of one question."""
    return next(result for result in mode.results if result.qid == qid)


def dcg(gains: Sequence[float]) -> float:
    """Linear-gain DCG of gains listed by rank (1-based rank r discounted by log2(r + 1))."""
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))


# ------------------------------------------------------------------ loading


def test_load_gold_reads_fields_and_skips_blank_lines(tmp_path: Path) -> None:
    rows: list[dict[str, Any] | str] = [GOLD_LINES[0], "", "   ", GOLD_LINES[3]]
    questions = load_gold(write_gold(tmp_path / "g.jsonl", rows), clause_ids={"1.1", "1.2"})
    assert [q.qid for q in questions] == ["q1", "q4"]
    assert [q.line for q in questions] == [1, 4]
    assert questions[0].relevant == {"1.1": 2, "1.2": 1}
    assert questions[0].departments == ("甲局",)
    assert questions[0].tags == ("colloquial",)
    assert questions[0].in_scope and not questions[1].in_scope


def test_load_gold_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOLD_LINES[0]).encode("utf-8") + b"\n")
    assert [q.qid for q in load_gold(path)] == ["q1"]


def test_load_gold_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    valid = {"qid": "q001", "query": "问", "relevant": {"1.1": 2}, "departments": ["甲局"], "tags": []}
    rows: list[dict[str, Any] | str] = [
        valid,  # 1
        "",  # 2: blank, skipped
        '{"qid": "q002",',  # 3: invalid JSON
        "[1, 2]",  # 4: not an object
        {"qid": "q003", "relevant": {"1.1": 2}, "departments": [], "tags": []},  # 5: no query
        {**valid, "query": "又问"},  # 6: duplicate of line 1
        {**valid, "qid": 5},  # 7: qid not a string
        {**valid, "qid": "q007", "query": "   "},  # 8: empty query
        {**valid, "qid": "q008", "relevant": {"1.1": 3, "1.2": True, "99.9": 1}},  # 9
        {**valid, "qid": "q009", "departments": "甲局", "tags": [1]},  # 10
        {**valid, "qid": "q010", "relevant": {}, "departments": ["甲局"]},  # 11
        {**valid, "qid": "q011", "relevent": {}},  # 12: unknown field
        {**valid, "qid": "q012", "relevant": [["1.1", 2]]},  # 13: relevant not an object
    ]
    path = write_gold(tmp_path / "bad.jsonl", rows)
    with pytest.raises(GoldSetError) as caught:
        load_gold(path, clause_ids={"1.1", "1.2"})
    problems = caught.value.problems

    def at(line: int) -> list[str]:
        return [p for p in problems if p.startswith(f"{path}:{line}: ")]

    assert not at(1) and not at(2)
    assert any("invalid JSON" in p for p in at(3))
    assert any("JSON object" in p for p in at(4))
    assert any('missing field "query"' in p for p in at(5))
    assert any('duplicate qid "q001"' in p and "line 1" in p for p in at(6))
    assert any('"qid"' in p for p in at(7))
    assert any('"query"' in p for p in at(8))
    assert any('"1.1"' in p and "got 3" in p for p in at(9))
    assert any('"1.2"' in p and "got true" in p for p in at(9))
    assert any('unknown clause id "99.9"' in p for p in at(9))
    assert any('"departments"' in p for p in at(10))
    assert any('"tags"' in p for p in at(10))
    assert any("out-of-scope" in p for p in at(11))
    assert any('unknown field "relevent"' in p for p in at(12))
    assert any('"relevant"' in p for p in at(13))
    assert all(at(line) for line in range(3, 14))
    # Every problem is in the message too, so printing the error shows them all.
    assert all(p in caught.value.message for p in problems)
    assert caught.value.hint


def test_load_gold_rejects_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(GoldSetError) as caught:
        load_gold(path)
    assert caught.value.problems == [f"{path}:1: the file has no questions (blank lines are skipped)"]


def test_load_gold_reports_non_utf8_lines_and_keeps_going(tmp_path: Path) -> None:
    path = tmp_path / "gbk.jsonl"
    good = json.dumps(GOLD_LINES[0]).encode("utf-8")
    path.write_bytes(good + b"\n" + "问题".encode("gbk") + b"\n" + b"{broken\n")
    with pytest.raises(GoldSetError) as caught:
        load_gold(path)
    problems = caught.value.problems
    assert any(p.startswith(f"{path}:2: ") and "UTF-8" in p for p in problems)
    assert any(p.startswith(f"{path}:3: ") and "invalid JSON" in p for p in problems)
    assert "UTF-8" in caught.value.hint


def test_load_gold_missing_file_is_a_gold_set_error(tmp_path: Path) -> None:
    with pytest.raises(GoldSetError) as caught:
        load_gold(tmp_path / "nope.jsonl")
    assert "cannot read" in caught.value.message
    assert caught.value.hint


# ------------------------------------------------------------------ metrics


def test_ranking_metrics_match_hand_computed_formulas(full_report: EvalReport) -> None:
    metrics = full_report.modes[0].metrics
    # In scope: q1, q2, q3, q6. Ranks of grade >= 1 clauses: q1 {1, 3}, q2 {3}, q3 {6, 7}, q6 {}.
    assert metrics["hit@1"] == pytest.approx((1 + 0 + 0 + 0) / 4)
    assert metrics["recall@5"] == pytest.approx((2 / 2 + 1 / 1 + 0 / 3 + 0 / 1) / 4)
    assert metrics["recall@10"] == pytest.approx((2 / 2 + 1 / 1 + 2 / 3 + 0 / 1) / 4)
    assert metrics["mrr@10"] == pytest.approx((1 / 1 + 1 / 3 + 1 / 6 + 0) / 4)
    ndcg_q1 = (2 / math.log2(2) + 1 / math.log2(4)) / (2 / math.log2(2) + 1 / math.log2(3))
    ndcg_q2 = (2 / math.log2(4)) / (2 / math.log2(2))
    ndcg_q3 = (1 / math.log2(7) + 2 / math.log2(8)) / (2 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4))
    assert ndcg_q1 == pytest.approx(dcg([2, 0, 1]) / dcg([2, 1]))
    assert metrics["ndcg@10"] == pytest.approx((ndcg_q1 + ndcg_q2 + ndcg_q3 + 0.0) / 4)

    q3 = result_of(full_report.modes[0], "q3")
    assert q3.metrics["ndcg@10"] == pytest.approx(ndcg_q3)
    assert q3.metrics["mrr@10"] == pytest.approx(1 / 6)


def test_department_and_out_of_scope_metrics(full_report: EvalReport) -> None:
    metrics = full_report.modes[0].metrics
    # Gold departments on q1 (甲局 ✓), q2 (丙局 first ✗), q6 (none ✗); q3 has none.
    assert metrics["dept_acc@1"] == pytest.approx(1 / 3)
    # Flagged out of scope: q3 (in scope) and q4 (out of scope) → precision 1/2.
    assert metrics["oos_precision"] == pytest.approx(1 / 2)
    # Out of scope: q4 flagged, q5 answered → recall 1/2.
    assert metrics["oos_recall"] == pytest.approx(1 / 2)
    # In scope: q3 of q1, q2, q3, q6 flagged.
    assert metrics["in_scope_flagged"] == pytest.approx(1 / 4)
    assert list(metrics) == list(METRIC_NAMES)


@pytest.mark.parametrize(
    ("answer", "gold", "same"),
    [
        ("自治区公安厅", ["自治区公安厅"], True),
        # Written without its level, a body matches the gold name of that body at its level.
        ("消防救援机构", ["县级以上地方人民政府消防救援机构"], True),
        ("公安机关交通管理部门", ["县级以上地方各级人民政府公安机关交通管理部门"], True),
        # A place before the name is not part of the body.
        ("县级人民政府公安机关", ["活动所在地县级人民政府公安机关"], True),
        # Another level is another body; governments match only by name; a sub-unit is not its parent.
        ("国务院卫生行政部门", ["县级以上地方人民政府卫生行政部门"], False),
        ("人民政府", ["上一级人民政府"], False),
        ("自治区公安厅交通警察总队", ["自治区公安厅"], False),
    ],
)
def test_department_names_match_the_gold_body(answer: str, gold: list[str], same: bool) -> None:
    assert names_gold_body(answer, gold) is same


def test_failed_questions_and_reasons(full_report: EvalReport) -> None:
    mode = full_report.modes[0]
    assert [r.qid for r in mode.failed] == ["q2", "q3", "q5", "q6"]
    assert not result_of(mode, "q1").failed and not result_of(mode, "q4").failed
    q2 = result_of(mode, "q2")
    assert any("top-1" in reason for reason in q2.reasons)
    assert any("丙局" in reason and "乙局" in reason for reason in q2.reasons)
    assert any("out of scope" in reason for reason in result_of(mode, "q3").reasons)
    assert any("out of scope" in reason for reason in result_of(mode, "q5").reasons)
    q6 = result_of(mode, "q6")
    assert any("top 10" in reason for reason in q6.reasons)
    assert q6.ranked_ids == () and q6.top_department is None
    assert q2.ranked_ids == ("9.1", "9.2", "2.1") and q2.top_department == "丙局"


def test_degenerate_groups_are_none_not_nan(gold: list[GoldQuestion]) -> None:
    in_scope_only = [q for q in gold if q.in_scope]
    report = evaluate(in_scope_only, FakeSearch({"full": FULL_ANSWERS}))
    metrics = report.modes[0].metrics
    assert metrics["oos_recall"] is None
    assert metrics["oos_precision"] == 0.0  # q3 flagged, but it is in scope
    out_only = [q for q in gold if not q.in_scope]
    metrics = evaluate(out_only, FakeSearch({"full": FULL_ANSWERS})).modes[0].metrics
    assert all(metrics[name] is None for name in ("hit@1", "ndcg@10", "dept_acc@1", "in_scope_flagged"))
    assert metrics["oos_recall"] == pytest.approx(1 / 2)
    json.dumps(report_to_dict(report), allow_nan=False)


def test_ranked_ids_follow_rank_and_stop_at_k(gold: list[GoldQuestion]) -> None:
    shuffled = answer([f"x{i}" for i in range(15)])
    reordered = Answer(
        query="q",
        normalized_query="q",
        route="search",
        in_scope=True,
        departments=(),
        hits=tuple(reversed(shuffled.hits)),
    )
    report = evaluate(gold[:1], FakeSearch({"full": {gold[0].query: reordered}}), k=12)
    assert report.modes[0].results[0].ranked_ids == tuple(f"x{i}" for i in range(12))


def test_query_error_is_recorded_as_a_failure(gold: list[GoldQuestion]) -> None:
    def search(query: str, k: int, mode: Mode) -> Answer:
        if query == gold[0].query:
            raise QueryError("query too long")
        return FULL_ANSWERS[query]

    result = evaluate(gold, search).modes[0].results[0]
    assert result.failed and result.error is not None and "query too long" in result.error
    assert result.metrics["hit@1"] == 0.0 and not result.in_scope_predicted


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"k": 5}, "at least 10"), ({"modes": ("bogus",)}, "unknown mode"), ({"modes": ()}, "no modes")],
)
def test_evaluate_rejects_bad_arguments(gold: list[GoldQuestion], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(gold, FakeSearch({"full": FULL_ANSWERS}), **kwargs)


# -------------------------------------------------------------- comparisons


def test_modes_see_the_same_questions_and_k(gold: list[GoldQuestion]) -> None:
    bm25 = {
        query: answer(list(reversed([h.clause.id for h in a.hits])), mode="bm25") for query, a in FULL_ANSWERS.items()
    }
    fake = FakeSearch({"bm25": bm25, "dense": FULL_ANSWERS, "full": FULL_ANSWERS})
    seen: list[tuple[int, int]] = []
    report = evaluate(gold, fake, modes=("bm25", "dense", "full"), k=20, progress=lambda d, t: seen.append((d, t)))

    assert [m.mode for m in report.modes] == ["bm25", "dense", "full"]
    qids = [q.qid for q in gold]
    for mode in report.modes:
        assert [r.qid for r in mode.results] == qids
        assert all(r.mode == mode.mode for r in mode.results)
    assert {k for _, k, _ in fake.calls} == {20}
    for mode_name in ("bm25", "dense", "full"):
        assert [q for q, _, m in fake.calls if m == mode_name] == [q.query for q in gold]
    assert seen == [(i, 3 * len(gold)) for i in range(1, 3 * len(gold) + 1)]
    assert report.k == 20 and report.question_count == 6
    assert (report.in_scope_count, report.out_of_scope_count) == (4, 2)
    # Identical answers give identical scores; a different ranking changes them.
    assert report.modes[1].metrics == report.modes[2].metrics
    assert report.modes[0].metrics["hit@1"] != report.modes[2].metrics["hit@1"]


def test_per_tag_breakdown(full_report: EvalReport) -> None:
    mode = full_report.modes[0]
    assert set(mode.per_tag) == {"colloquial", "department", "general", "out_of_scope", "english", "typo"}
    assert mode.tag_counts["colloquial"] == {"questions": 2, "in_scope": 2, "out_of_scope": 0, "failed": 1}
    assert mode.tag_counts["out_of_scope"] == {"questions": 2, "in_scope": 0, "out_of_scope": 2, "failed": 1}
    colloquial = mode.per_tag["colloquial"]
    assert colloquial["hit@1"] == pytest.approx((1 + 0) / 2)
    assert colloquial["mrr@10"] == pytest.approx((1 + 1 / 3) / 2)
    assert colloquial["dept_acc@1"] == pytest.approx(1 / 2)
    assert colloquial["oos_recall"] is None and colloquial["in_scope_flagged"] == 0.0
    out = mode.per_tag["out_of_scope"]
    assert out["hit@1"] is None and out["in_scope_flagged"] is None
    assert out["oos_recall"] == pytest.approx(1 / 2) and out["oos_precision"] == 1.0
    assert mode.per_tag["general"]["in_scope_flagged"] == 1.0


# ------------------------------------------------------------------ reports


def test_report_to_dict_is_json_ready(full_report: EvalReport) -> None:
    data = json.loads(json.dumps(report_to_dict(full_report), allow_nan=False))
    assert data["k"] == 10 and data["question_count"] == 6
    mode = data["modes"][0]
    assert mode["mode"] == "full" and mode["failed_count"] == 4
    assert mode["metrics"]["dept_acc@1"] == pytest.approx(1 / 3)
    assert mode["per_tag"]["colloquial"]["oos_recall"] is None
    assert mode["results"][0]["gold"]["relevant"] == {"1.1": 2, "1.2": 1}


def test_format_table_lists_modes_tags_and_failures(full_report: EvalReport) -> None:
    text = format_table(full_report)
    assert all(name in text for name in METRIC_NAMES)
    assert "| full | 0.250 |" in text
    assert "Per tag — full" in text and "| colloquial | 2 |" in text
    assert "Failed questions — full (4 of 6)" in text
    assert "**q2** 消防检查" in text and "9.1, 9.2, 2.1(2)" in text and "**q1**" not in text
    assert "x5, … 3.3(1)@6, … 3.1(2)@7" in text  # relevant clauses below the top 5 are still shown
    assert "n/a" in text


def test_write_report_writes_markdown_png_and_json(tmp_path: Path, gold: list[GoldQuestion]) -> None:
    fake = FakeSearch({"hybrid": FULL_ANSWERS, "full": FULL_ANSWERS})
    report = evaluate(gold, fake, modes=("hybrid", "full"))
    out = tmp_path / "reports" / "run1"
    md, png = write_report(report, out)
    assert (md, png) == (out / "report.md", out / "chart.png")
    assert md.read_text(encoding="utf-8") == format_table(report)
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [m["mode"] for m in data["modes"]] == ["hybrid", "full"]
