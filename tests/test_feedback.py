"""Feedback: the SQLite store, gold-format export, POST /v1/feedback and `retriever feedback export`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from retriever.api import create_app
from retriever.cli import main
from retriever.evaluate import load_gold
from retriever.feedback import (
    FEEDBACK_FILE,
    Feedback,
    FeedbackStore,
    feedback_path,
    gold_candidates,
    index_version,
)
from retriever.search import Searcher, open_searcher

from .conftest import FakeEmbedder


def _record(verdict: str = "down", chosen: str | None = "30.6", **changes: object) -> Feedback:
    fields: dict[str, object] = {
        "question": "网吧的安全检查归哪个部门？", "answer_ids": ("18.2", "30.6"), "verdict": verdict,
        "chosen": chosen, "chosen_department": "自治区文化和旅游厅" if chosen else None,
        "created": "2026-12-01T22:00:00+00:00", "index_version": "v1",
    }
    fields.update(changes)
    return Feedback(**fields)  # type: ignore[arg-type]


def test_store_round_trip_keeps_only_the_answer_facts(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "index" / FEEDBACK_FILE)
    assert store.records() == []  # no file yet: nothing, and nothing created
    assert not store.path.exists()
    first = store.add(_record())
    second = store.add(_record("up", None, question="光伏电站安全由谁负责？"))
    assert (first.id, second.id) == (1, 2)
    assert store.records() == [first, second]
    with sqlite3.connect(store.path) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(feedback)")]
    # No personal data: no user, address, session or browser column.
    assert columns == ["id", "question", "answer_ids", "verdict", "chosen", "chosen_department", "created",
                       "index_version"]


@pytest.mark.parametrize(("record", "message"), [
    (_record(question="  "), "question is empty"),
    (_record(verdict="maybe"), "verdict must be"),
    (_record("up", "99.9"), "not among the answer's clauses"),
    (_record(answer_ids=tuple(str(i) for i in range(101))), "at most 100"),
])
def test_store_refuses_inconsistent_records(tmp_path: Path, record: Feedback, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FeedbackStore(tmp_path / FEEDBACK_FILE).add(record)


def test_gold_candidates_follow_the_gold_format(tmp_path: Path) -> None:
    records = [
        Feedback(**{**_record().__dict__, "id": 1}),
        Feedback(**{**_record(chosen=None).__dict__, "id": 2}),
        Feedback(**{**_record("up", None).__dict__, "id": 3}),
        Feedback(**{**_record("up", None, answer_ids=()).__dict__, "id": 4}),  # nothing to judge: skipped
    ]
    candidates = gold_candidates(records)
    assert [c["qid"] for c in candidates] == ["f0001", "f0002", "f0003"]
    chosen, none_right, up = candidates
    assert chosen["relevant"] == {"30.6": 2} and chosen["departments"] == ["自治区文化和旅游厅"]
    assert none_right["relevant"] == {} and none_right["departments"] == [] and "out_of_scope" in none_right["tags"]
    assert up["relevant"] == {"18.2": 2} and up["departments"] == []
    assert all("review" in c["note"] and "v1" in c["note"] for c in candidates)
    path = tmp_path / "candidates.jsonl"
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in candidates), encoding="utf-8")
    assert [q.qid for q in load_gold(path)] == ["f0001", "f0002", "f0003"]  # the evaluator's loader takes them


def test_index_version_names_the_build() -> None:
    assert index_version({"created": "2026-12-01T22:20:19+00:00", "corpus": {"checksum": "abcdef0123456789"}}) == (
        "2026-12-01T22:20:19+00:00 corpus:abcdef012345")
    assert index_version({}) == "unknown"


# ------------------------------------------------------------ API and CLI (fake embedder)


@pytest.fixture
def fake_searcher(tmp_path: Path, seeds_copy: Path, fake_embedder: FakeEmbedder) -> Searcher:
    return open_searcher(tmp_path / "index", seeds_dir=seeds_copy, embedder=fake_embedder, build_if_missing=True)


def test_api_feedback_then_cli_export(fake_searcher: Searcher, tmp_path: Path) -> None:
    with TestClient(create_app(fake_searcher, mount_ui=False), raise_server_exceptions=False) as client:
        ok = client.post("/v1/feedback", json={"question": "网吧的安全检查归哪个部门？", "answer_ids": ["18.2", "30.6"],
                                               "verdict": "down", "chosen": "30.6"})
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"id": 1, "stored": True, "index_version": index_version(fake_searcher.manifest)}
        unknown = client.post("/v1/feedback", json={"question": "q", "answer_ids": ["999.9"], "verdict": "up"})
        assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_clause"
        assert "999.9" in unknown.json()["error"]["message"]
        bad = client.post("/v1/feedback", json={"question": "q", "answer_ids": [], "verdict": "meh"})
        assert bad.status_code == 400 and "verdict" in bad.json()["error"]["message"]
        empty = client.post("/v1/feedback", json={"question": "  ", "answer_ids": [], "verdict": "up"})
        assert empty.status_code == 400 and "question" in empty.json()["error"]["message"]

    index_root = tmp_path / "index"
    records = FeedbackStore(feedback_path(index_root)).records()
    assert len(records) == 1 and records[0].chosen_department == "自治区文化和旅游厅"

    out = tmp_path / "candidates.jsonl"
    result = CliRunner().invoke(main, ["feedback", "export", "--index", str(index_root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Wrote 1 candidate(s)" in result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines == [{"qid": "f0001", "query": "网吧的安全检查归哪个部门？", "relevant": {"30.6": 2},
                      "departments": ["自治区文化和旅游厅"], "tags": ["feedback", "feedback_down"],
                      "note": lines[0]["note"]}]
    stdout = CliRunner().invoke(main, ["feedback", "export", "--index", str(index_root)])
    assert stdout.exit_code == 0 and json.loads(stdout.output.splitlines()[0])["qid"] == "f0001"


def test_cli_export_without_feedback_says_where_it_looked(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["feedback", "export", "--index", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "no feedback at" in result.output and "feedback.sqlite" in result.output and "--index" in result.output
