"""The calibrated relevance: features, fitting, the shipped file, reliability, and the CLI guard.

Also the RAG context block of ``present.format_context`` that chatbots paste into prompts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from retriever.calibrate import (
    FEATURES,
    Calibration,
    CalibrationError,
    fit_calibration,
    format_reliability,
    hit_features,
    load_calibration,
    measure_reliability,
    save_calibration,
    write_reliability,
)
from retriever.cli import main
from retriever.present import (
    CONTEXT_INSTRUCTION,
    OUT_OF_SCOPE_NOTICE,
    context_to_dict,
    estimate_tokens,
    format_context,
)
from retriever.records import Answer, Clause, DepartmentAnswer, Hit


def clause(cid: str, department: str = "甲厅", text: str = "负责甲类场所的安全监督检查工作。") -> Clause:
    article, item = (int(x) for x in cid.split("."))
    return Clause(id=cid, document="doc", title="规定", chapter="", article=article, item=item,
                  department=department, text=text, citation=f"第{article}条第（{item}）项")


def answer(scores: list[float], *, in_scope: bool = True, route: str = "search",
           departments: tuple[str, ...] = ("甲厅",), query: str = "甲类场所归谁管？") -> Answer:
    hits = tuple(Hit(clause=clause(f"1.{i + 1}", department="甲厅" if i % 2 == 0 else "乙厅"), score=s, rank=i + 1,
                     nearest_only=not in_scope) for i, s in enumerate(scores))
    deps = tuple(DepartmentAnswer(d, 1.0, ("1.1",)) for d in departments) if in_scope else ()
    return Answer(query=query, normalized_query=query, route=route, in_scope=in_scope,  # type: ignore[arg-type]
                  departments=deps, hits=hits)


def test_features_follow_the_documented_columns() -> None:
    rows = hit_features(answer([0.9, 0.6], route="department"))
    assert rows.shape == (2, len(FEATURES))
    columns = dict(zip(FEATURES, rows[1], strict=True))
    assert columns == {"bias": 1.0, "score": 0.6, "gap_to_top": pytest.approx(0.9 - 0.6), "reciprocal_rank": 0.5,
                       "in_scope": 1.0, "route_citation": 0.0, "route_department": 1.0, "department_answer": 0.0}
    assert hit_features(answer([0.5], in_scope=False))[0][FEATURES.index("in_scope")] == 0.0
    assert hit_features(answer([])).shape == (0, len(FEATURES))


def test_relevance_is_the_logistic_of_the_features() -> None:
    weights = tuple(0.1 * (i + 1) for i in range(len(FEATURES)))
    one = answer([0.8, 0.3])
    got = Calibration(weights=weights).relevance(one)
    expected = [1 / (1 + math.exp(-float(row @ np.asarray(weights)))) for row in hit_features(one)]
    assert got == pytest.approx(expected)
    assert Calibration(weights=weights).relevance(answer([])) == ()


def test_fit_learns_that_higher_scores_are_more_relevant() -> None:
    rng = np.random.default_rng(0)
    judged = []
    for _ in range(200):
        scores = sorted(rng.uniform(0, 1, 5).tolist(), reverse=True)
        relevant = {f"1.{i + 1}": 1 for i, s in enumerate(scores) if s > 0.6}
        judged.append((answer(scores), relevant))
    judged.append((answer([0.4, 0.3], in_scope=False), {}))
    fitted = fit_calibration(judged, fitted_on="dev.jsonl", model="m")
    assert (fitted.questions, fitted.fitted_on, fitted.model) == (201, "dev.jsonl", "m")
    assert fitted.hits == 1002 and fitted.relevant == sum(len(r) for _, r in judged)
    low, high = fitted.relevance(answer([0.95, 0.2]))
    assert high < 0.2 < 0.8 < low
    report = measure_reliability(judged, fitted, gold_path="dev.jsonl")
    assert sum(b[2] for b in report.bins) == report.hits == fitted.hits
    assert report.precision_at_half == report.relevant_at_half / report.at_half
    assert report.precision_at_half is not None and report.precision_at_half > 0.9
    assert report.ece == pytest.approx(sum(b[2] / report.hits * abs(b[3] - b[4]) for b in report.bins))


def test_fit_refuses_what_cannot_be_calibrated() -> None:
    with pytest.raises(ValueError, match="no hits"):
        fit_calibration([(answer([]), {})])
    with pytest.raises(ValueError, match="all relevant or all not relevant"):
        fit_calibration([(answer([0.5, 0.4]), {})])


def test_save_load_round_trip_and_errors(tmp_path: Path) -> None:
    fitted = Calibration(weights=tuple(float(i) for i in range(len(FEATURES))), fitted_on="eval/gold_dev.jsonl",
                         questions=3, hits=9, relevant=2, model="m")
    path = tmp_path / "calibration.json"
    save_calibration(fitted, path)
    assert load_calibration(path) == fitted
    with pytest.raises(CalibrationError, match=r"missing.*retriever calibrate eval/gold_dev\.jsonl"):
        load_calibration(tmp_path / "nope.json")
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CalibrationError, match="cannot be read"):
        load_calibration(path)
    data = {"format_version": 99, "features": list(FEATURES), "weights": [0.0] * len(FEATURES)}
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CalibrationError, match="format version 1"):
        load_calibration(path)
    data.update(format_version=1, features=["bias"], weights=[0.0])
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CalibrationError, match="features"):
        load_calibration(path)


def test_shipped_calibration_was_fitted_on_the_dev_split_only() -> None:
    shipped = load_calibration()
    assert shipped.fitted_on == "eval/gold_dev.jsonl"
    assert shipped.questions > 100 and 0 < shipped.relevant < shipped.hits
    assert shipped.weights[FEATURES.index("score")] > 0  # a higher fused score means more relevant
    assert shipped.weights[FEATURES.index("in_scope")] > 0  # an out-of-scope answer's clauses are not


def test_reliability_report_files(tmp_path: Path) -> None:
    judged = [(answer([0.9, 0.1]), {"1.1": 2}), (answer([0.8, 0.7]), {"1.2": 1})]
    report = measure_reliability(judged, load_calibration(), gold_path="eval/x.jsonl")
    markdown, png = write_reliability(report, tmp_path / "out")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = markdown.read_text(encoding="utf-8")
    assert "Hits with relevance ≥ 0.5" in text and "reliability.png" in text
    assert format_reliability(report) in text


def test_cli_refuses_to_fit_on_a_test_split(tmp_path: Path) -> None:
    gold = tmp_path / "gold_test.jsonl"
    gold.write_text("", encoding="utf-8")
    result = CliRunner().invoke(main, ["calibrate", str(gold)])
    assert result.exit_code == 1
    assert "test split" in result.output and "--report" in result.output


# ----------------------------------------------------------------- context block


def test_estimate_tokens_counts_cjk_as_one_and_ascii_by_four() -> None:
    assert estimate_tokens("网吧") == 2
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("网吧abcde") == 2 + 2
    assert estimate_tokens("") == 0


def test_context_block_numbers_and_cites_clauses() -> None:
    text, included = format_context(answer([0.9, 0.5]))
    lines = text.splitlines()
    assert lines[0] == "问题：甲类场所归谁管？"
    assert lines[1] == "负责部门：甲厅（依据：1.1）。"
    assert "[1] 第1条第（1）项（1.1）· 甲厅" in lines
    assert "[2] 第1条第（2）项（1.2）· 乙厅" in lines
    assert lines[-1] == CONTEXT_INSTRUCTION
    assert included == ("1.1", "1.2")


def test_context_block_respects_the_budget() -> None:
    many = answer([1.0 - i / 30 for i in range(20)])
    _, full = format_context(many, max_tokens=10_000)
    assert len(full) == 20
    for budget in (100, 150, 300):
        text, included = format_context(many, max_tokens=budget)
        assert estimate_tokens(text) <= budget
        assert 0 < len(included) < 20
        assert included == full[: len(included)]
    long = Answer(query="问题", normalized_query="问题", route="search", in_scope=True, departments=(),
                  hits=(Hit(clause=clause("1.1", text="长" * 400), score=1.0, rank=1),))
    tight, first_only = format_context(long, max_tokens=150)
    assert first_only == ("1.1",) and estimate_tokens(tight) <= 150
    assert "长…" in tight


def test_context_block_out_of_scope_says_so() -> None:
    text, _ = format_context(answer([0.3], in_scope=False))
    assert OUT_OF_SCOPE_NOTICE in text and "仅供参考" in text and "负责部门：" not in text
    body = context_to_dict(answer([0.3], in_scope=False), max_tokens=200)
    assert body["in_scope"] is False and body["departments"] == [] and body["format"] == "context"
    assert body["tokens"] == estimate_tokens(body["context"]) <= 200
