"""Staff feedback on answers, kept in a SQLite file beside the index, exported as gold candidates.

A record says which question was asked, which clauses the answer showed, whether the
answer helped (``up``/``down``), and, on a ``down``, which shown clause was right (or
none). It also keeps the time and the index version it was given against. Nothing
about the person is stored: no name, address, session or browser details.

The file is ``<index root>/feedback.sqlite`` (``index/feedback.sqlite``): beside the
index builds, so a rebuild keeps it. ``retriever feedback export`` turns the records
into gold-format JSON Lines (see ``eval/README.md``) for an evaluator to review before
any of them joins a gold set.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "FEEDBACK_FILE",
    "MAX_ANSWER_IDS",
    "VERDICTS",
    "Feedback",
    "FeedbackStore",
    "Verdict",
    "feedback_path",
    "gold_candidates",
    "index_version",
    "write_gold_candidates",
]

#: The feedback file's name inside the index root.
FEEDBACK_FILE = "feedback.sqlite"
#: Most clause ids one record keeps (an answer shows at most a few dozen).
MAX_ANSWER_IDS = 100

Verdict = Literal["up", "down"]
VERDICTS: tuple[Verdict, ...] = ("up", "down")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question TEXT NOT NULL,
    answer_ids TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('up', 'down')),
    chosen TEXT,
    chosen_department TEXT,
    created TEXT NOT NULL,
    index_version TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Feedback:
    """One verdict on one answer.

    Attributes:
        question: the question as asked.
        answer_ids: the clause ids the answer showed, in order.
        verdict: ``"up"`` (the answer helped) or ``"down"``.
        chosen: the clause the user marked right (on ``down``: one of ``answer_ids``),
            or None (on ``down``: none of them is right).
        chosen_department: the department of ``chosen``, recorded when the feedback is
            given so that the export needs no index.
        created: UTC time, ISO 8601.
        index_version: the index build the answer came from (:func:`index_version`).
        id: the row id once stored (0 before).
    """

    question: str
    answer_ids: tuple[str, ...]
    verdict: Verdict
    chosen: str | None
    chosen_department: str | None
    created: str
    index_version: str
    id: int = 0


def feedback_path(index_root: Path) -> Path:
    """Where the feedback of the index at ``index_root`` is kept."""
    return Path(index_root) / FEEDBACK_FILE


def index_version(manifest: dict[str, Any]) -> str:
    """A short name of one index build: its build time and corpus checksum prefix."""
    created = str(manifest.get("created", "unknown"))
    checksum = str(manifest.get("corpus", {}).get("checksum", ""))[:12]
    return f"{created} corpus:{checksum}" if checksum else created


def now_utc() -> str:
    """The current UTC time as stored in :attr:`Feedback.created`."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class FeedbackStore:
    """The feedback table in one SQLite file (created on first write).

    Each call opens its own connection, so one store may serve the UI and the API
    threads at once; SQLite serialises the writes.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=10)) as connection, connection:
            connection.execute(_SCHEMA)
            yield connection

    def add(self, feedback: Feedback) -> Feedback:
        """Store one record and return it with its row id.

        Raises:
            ValueError: the record is inconsistent (empty question, unknown verdict,
                a ``chosen`` clause on an ``up`` that the answer did not show).
        """
        _check(feedback)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            cursor = connection.execute(
                "INSERT INTO feedback (question, answer_ids, verdict, chosen, chosen_department, created,"
                " index_version) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (feedback.question, json.dumps(list(feedback.answer_ids), ensure_ascii=False), feedback.verdict,
                 feedback.chosen, feedback.chosen_department, feedback.created, feedback.index_version),
            )
            row_id = int(cursor.lastrowid or 0)
        return Feedback(**{**feedback.__dict__, "id": row_id})

    def records(self) -> list[Feedback]:
        """Every stored record, oldest first ([] when the file does not exist yet)."""
        if not self.path.exists():
            return []
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT id, question, answer_ids, verdict, chosen, chosen_department, created, index_version"
                " FROM feedback ORDER BY id"
            ).fetchall()
        return [
            Feedback(id=int(r[0]), question=str(r[1]), answer_ids=tuple(json.loads(r[2])), verdict=r[3],
                     chosen=r[4], chosen_department=r[5], created=str(r[6]), index_version=str(r[7]))
            for r in rows
        ]


def _check(feedback: Feedback) -> None:
    if not feedback.question.strip():
        raise ValueError("the question is empty.")
    if feedback.verdict not in VERDICTS:
        raise ValueError(f"verdict must be 'up' or 'down', not {feedback.verdict!r}.")
    if len(feedback.answer_ids) > MAX_ANSWER_IDS:
        raise ValueError(f"at most {MAX_ANSWER_IDS} answer ids are kept, got {len(feedback.answer_ids)}.")
    if feedback.verdict == "up" and feedback.chosen is not None and feedback.chosen not in feedback.answer_ids:
        raise ValueError(f"chosen clause {feedback.chosen!r} is not among the answer's clauses.")


def gold_candidates(records: Sequence[Feedback], *, prefix: str = "f") -> list[dict[str, Any]]:
    """Gold-format candidates (see ``eval/README.md``) from feedback records.

    * ``down`` with a chosen clause → ``relevant = {chosen: 2}``, ``departments`` = its department;
    * ``down`` with none chosen → an out-of-scope candidate (``relevant = {}``, tag ``out_of_scope``);
    * ``up`` → ``relevant = {chosen or the first answer id: 2}``.

    Records without anything to judge (an ``up`` on an answer with no clause) are
    skipped. The ``qid`` is ``<prefix><row id>``; ``note`` keeps the verdict, the
    time and the index version for the evaluator.
    """
    candidates: list[dict[str, Any]] = []
    for record in records:
        if record.verdict == "up":
            relevant_id = record.chosen or (record.answer_ids[0] if record.answer_ids else None)
            if relevant_id is None:
                continue
            tags = ["feedback", "feedback_up"]
        else:
            relevant_id = record.chosen
            tags = ["feedback", "feedback_down"] + ([] if relevant_id else ["out_of_scope"])
        departments = [record.chosen_department] if relevant_id and record.chosen_department else []
        if record.verdict == "up" and not record.chosen:
            departments = []  # the department of the first shown clause was not confirmed by anyone
        candidates.append({
            "qid": f"{prefix}{record.id:04d}",
            "query": record.question,
            "relevant": {relevant_id: 2} if relevant_id else {},
            "departments": departments,
            "tags": tags,
            "note": f"feedback {record.verdict} at {record.created} on index {record.index_version}; review before use",
        })
    return candidates


def write_gold_candidates(candidates: Iterable[dict[str, Any]], out: Any) -> int:
    """Write candidates as JSON Lines to the text stream ``out``; return how many."""
    count = 0
    for candidate in candidates:
        out.write(json.dumps(candidate, ensure_ascii=False) + "\n")
        count += 1
    return count
