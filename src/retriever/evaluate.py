"""Score search modes against a graded gold set and report where they fail.

A gold set is a JSON Lines file, one question a line::

    {"qid": "q001", "query": "...", "relevant": {"33.1": 2, "33.9": 1},
     "departments": ["自治区市场监督管理局"], "tags": ["colloquial"]}

``relevant`` maps clause ids to grades (2: answers the question directly,
1: related or secondary); ``{}`` marks an out-of-scope question.

Metrics (every mode sees the same questions with the same ``k``):

* ``hit@1``, ``recall@5``, ``recall@10``, ``mrr@10`` — ranx ``hit_rate@1``,
  ``recall@5``, ``recall@10``, ``mrr@10`` with ``rel_lvl=1``: a clause of grade
  1 *or* 2 counts as relevant.
* ``ndcg@10`` — ranx ``ndcg@10`` (Järvelin–Kekäläinen, linear gain): the grade is
  the gain, so a grade-2 clause is worth twice a grade-1 clause, discounted by
  ``log2(rank + 1)`` and divided by the ideal ordering's value.
* ``dept_acc@1`` — share of in-scope questions with gold departments whose
  answer names one of them first (``answer.departments[0]``; a body named without
  its level matches the gold name of that body, see :func:`names_gold_body`).
* ``oos_precision`` / ``oos_recall`` — out-of-scope detection, the positive
  class being *out of scope* (``answer.in_scope`` False).
* ``in_scope_flagged`` — share of in-scope questions wrongly answered
  "out of scope".

Ranking metrics are means over in-scope questions only. A metric whose
denominator is zero (no in-scope questions, no question with departments, no
question predicted or labelled out of scope) is ``None``, never NaN, in every
report, and is drawn as "n/a".
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retriever.errors import GoldSetError, QueryError
from retriever.records import MODES, Answer, Mode

#: ``(query, k, mode) -> Answer``: the search under evaluation.
SearchFn = Callable[[str, int, Mode], Answer]

#: Our metric name → the ranx metric computing it. ``-l1`` is ranx's ``rel_lvl``:
#: grade >= 1 counts as relevant for the binary metrics; nDCG keeps the grades.
RANKING_METRICS: dict[str, str] = {
    "hit@1": "hit_rate@1-l1",
    "recall@5": "recall@5-l1",
    "recall@10": "recall@10-l1",
    "mrr@10": "mrr@10-l1",
    "ndcg@10": "ndcg@10",
}

#: Every metric of a mode, in report order.
METRIC_NAMES: tuple[str, ...] = (
    *RANKING_METRICS,
    "dept_acc@1",
    "oos_precision",
    "oos_recall",
    "in_scope_flagged",
)

#: What each metric means, written into report.json and report.md.
METRIC_DEFINITIONS: dict[str, str] = {
    "hit@1": "in-scope questions whose first clause has grade >= 1",
    "recall@5": "share of grade >= 1 clauses found in the top 5, mean over in-scope questions",
    "recall@10": "share of grade >= 1 clauses found in the top 10, mean over in-scope questions",
    "mrr@10": "1 / rank of the first grade >= 1 clause in the top 10 (0 if none), mean",
    "ndcg@10": "graded nDCG@10, gain = grade (2 or 1), discount log2(rank + 1), mean",
    "dept_acc@1": ("in-scope questions with gold departments whose first answer department is one of them "
                   "(a body named without its level matches the gold name of that body)"),
    "oos_precision": "questions answered 'out of scope' that are out of scope",
    "oos_recall": "out-of-scope questions answered 'out of scope'",
    "in_scope_flagged": "in-scope questions wrongly answered 'out of scope' (lower is better)",
}

#: The rank cut-off of the deepest metric; ``evaluate`` needs ``k`` at least this.
MIN_K = 10

#: The fields a gold line must have, and the free-text ones it may have.
REQUIRED_FIELDS: tuple[str, ...] = ("qid", "query", "relevant", "departments", "tags")
OPTIONAL_FIELDS: tuple[str, ...] = ("note", "comment")

#: Stands in for an empty result: ranx cannot score a query without documents.
_NO_RESULT = "\x00no-result"

_GOLD_HINT = (
    'Each non-blank line must be a JSON object such as {"qid": "q001", "query": "...", '
    '"relevant": {"33.1": 2, "33.9": 1}, "departments": ["..."], "tags": ["colloquial"]} '
    "(grades: 2 answers directly, 1 related; relevant {} and departments [] for an "
    "out-of-scope question)."
)


@dataclass(frozen=True)
class GoldQuestion:
    """One judged question of the gold set.

    Attributes:
        qid: unique question id.
        query: the question as a user would type it.
        relevant: clause id → grade (2 directly answers, 1 related); empty when
            the question is out of scope.
        departments: departments owning the grade-2 clauses (may be empty).
        tags: free labels (``colloquial``, ``typo``, ``out_of_scope``…).
        line: 1-based line of the question in its file (0 when built in code).
    """

    qid: str
    query: str
    relevant: Mapping[str, int]
    departments: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    line: int = 0

    @property
    def in_scope(self) -> bool:
        """True when some clause answers the question."""
        return bool(self.relevant)


@dataclass(frozen=True)
class QuestionResult:
    """How one mode answered one gold question.

    Attributes:
        qid: the question id.
        query: the question text.
        tags: the question's tags.
        mode: the search mode that answered.
        ranked_ids: clause ids returned, best first, at most ``k``.
        top_department: the answer's first department, or None.
        in_scope_predicted: the answer's ``in_scope`` flag.
        gold: the gold question.
        metrics: per-question values: the ranking metrics and ``dept_acc@1``
            (``None`` where not applicable, e.g. for an out-of-scope question),
            and ``oos_correct`` (1.0 when the in-scope flag matches the gold).
        failed: True when any of ``reasons`` applies.
        reasons: why the question failed, one phrase each.
        departments: every department of the answer, best first.
        route: the answer's route, or None when the search raised.
        error: the search error message, or None.
    """

    qid: str
    query: str
    tags: tuple[str, ...]
    mode: Mode
    ranked_ids: tuple[str, ...]
    top_department: str | None
    in_scope_predicted: bool
    gold: GoldQuestion
    metrics: dict[str, float | None]
    failed: bool
    reasons: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    route: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ModeReport:
    """The scores of one search mode.

    Attributes:
        mode: the search mode.
        metrics: metric name → value over all questions (``None`` if undefined).
        per_tag: tag → the same metrics over the questions with that tag.
        results: one result per question, in gold order.
        tag_counts: tag → ``{"questions", "in_scope", "out_of_scope", "failed"}``.
    """

    mode: Mode
    metrics: dict[str, float | None]
    per_tag: dict[str, dict[str, float | None]]
    results: tuple[QuestionResult, ...]
    tag_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def failed(self) -> tuple[QuestionResult, ...]:
        """The results that failed, in gold order."""
        return tuple(result for result in self.results if result.failed)


@dataclass(frozen=True)
class EvalReport:
    """An evaluation of one or more modes on one gold set.

    Attributes:
        gold_path: the gold file (as given; empty when unknown).
        k: how many hits each search was asked for.
        modes: one report per mode, in the order asked.
        question_count: questions evaluated.
        in_scope_count: questions with relevant clauses.
        out_of_scope_count: questions without.
        created: UTC time of the evaluation, ISO 8601.
    """

    gold_path: str
    k: int
    modes: tuple[ModeReport, ...]
    question_count: int
    in_scope_count: int
    out_of_scope_count: int
    created: str


# --------------------------------------------------------------------- loading


def article_key(clause_id: str) -> str:
    """The article a clause id belongs to: ``doc#10-2`` → ``doc#10``, ``30.6`` → ``30``."""
    document, sep, local = clause_id.rpartition("#")
    return f"{document}{sep}{re.split(r'[-.]', local, maxsplit=1)[0]}"


def _qualify(questions: list[GoldQuestion], known_ids: frozenset[str], path: Path, document: str | None,
             problems: list[str]) -> list[GoldQuestion]:
    """Prefix unqualified gold ids (``30.6``) with their document when the index is a library.

    The document is ``document`` when given, else the one document of the index that
    has every unqualified id of the file (a gold set written for one document).
    """
    unqualified = {cid for q in questions for cid in q.relevant if "#" not in cid}
    if not unqualified or all("#" not in cid for cid in known_ids):
        return questions
    if document is None:
        documents = {cid.rpartition("#")[0] for cid in known_ids if "#" in cid}
        fits = sorted(d for d in documents if all(f"{d}#{cid}" in known_ids for cid in unqualified))
        if len(fits) != 1:
            problems.append(f"{path}: the gold ids have no document prefix and the index holds several documents; "
                            f"{'several' if fits else 'none'} of them fit ({', '.join(fits[:5]) or '-'}). "
                            "Pass --document with the document these ids refer to.")
            return questions
        document = fits[0]
    qualified = []
    for question in questions:
        relevant = {(cid if "#" in cid else f"{document}#{cid}"): grade for cid, grade in question.relevant.items()}
        for cid in relevant:
            if cid not in known_ids:
                problems.append(f"{path}:{question.line}: unknown clause id \"{cid}\" in \"relevant\"")
        qualified.append(replace(question, relevant=relevant))
    return qualified


def load_gold(path: Path, clause_ids: Collection[str] | None = None, *,
              document: str | None = None) -> list[GoldQuestion]:
    """Read and validate a gold set, reporting every problem at once.

    A relevant id may name a clause (``安全生产法(2021-06-10)#10-2``) or a whole article
    (``安全生产法(2021-06-10)#10``: any clause of it matches, the best-ranked one counts).

    Args:
        path: the JSON Lines gold file (UTF-8; blank lines are skipped).
        clause_ids: the corpus clause ids; when given, every relevant id must be one
            (or one's article), and in a library unqualified ids get a document prefix.
        document: the document unqualified ids refer to (default: the one that fits).

    Returns:
        The questions in file order.

    Raises:
        GoldSetError: the file cannot be read, or has problems; ``problems`` lists
            each as ``"FILE:LINE: message"``.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise GoldSetError(
            f"cannot read the gold file {path}: {reason}",
            [f"{path}: {reason}"],
            hint="Check the path (e.g. eval/gold_dev.jsonl) and its permissions.",
        ) from exc

    known_ids = None if clause_ids is None else frozenset(clause_ids) | {article_key(c) for c in clause_ids}
    # In a library, unqualified ids (30.6) are accepted here and resolved to a document by _qualify.
    provisional = None if known_ids is None else known_ids | {c.rpartition("#")[2] for c in known_ids if "#" in c}
    problems: list[str] = []
    questions: list[GoldQuestion] = []
    first_line_of: dict[str, int] = {}
    bad_encoding = False

    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[0].startswith(b"\xef\xbb\xbf"):
        # Editors on Windows save UTF-8 with a byte-order mark; it is not content.
        raw_lines[0] = raw_lines[0][3:]
    for number, raw in enumerate(raw_lines, start=1):
        where = f"{path}:{number}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad_encoding = True
            problems.append(f"{where}: not valid UTF-8 (byte {exc.start + 1} of the line)")
            continue
        if not text.strip():
            continue
        question = _parse_line(text, where, number, provisional, first_line_of, problems)
        if question is not None:
            questions.append(question)

    if not problems and not questions:
        problems.append(f"{path}:1: the file has no questions (blank lines are skipped)")
    if not problems and known_ids is not None:
        questions = _qualify(questions, known_ids, path, document, problems)
    if problems:
        hint = "Save the file as UTF-8. " + _GOLD_HINT if bad_encoding else _GOLD_HINT
        count = len(problems)
        raise GoldSetError(
            f"{path}: {count} problem{'s' if count != 1 else ''} in the gold set:\n" + "\n".join(problems),
            problems,
            hint=hint,
        )
    return questions


def _parse_line(
    text: str,
    where: str,
    number: int,
    known_ids: frozenset[str] | None,
    first_line_of: dict[str, int],
    problems: list[str],
) -> GoldQuestion | None:
    """Validate one non-blank line, appending its problems.

    Args:
        text: the decoded line.
        where: ``"FILE:LINE"`` prefix for problems.
        number: the 1-based line number.
        known_ids: corpus clause ids, or None to skip that check.
        first_line_of: qid → line of its first occurrence (updated).
        problems: collected problems (appended to).

    Returns:
        The question, or None when the line has a problem.
    """
    before = len(problems)

    def problem(message: str) -> None:
        problems.append(f"{where}: {message}")

    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        problem(f"invalid JSON: {exc.msg} (column {exc.colno})")
        return None
    if not isinstance(obj, dict):
        problem(f"expected a JSON object, got {_json_type(obj)}")
        return None

    for name in REQUIRED_FIELDS:
        if name not in obj:
            problem(f'missing field "{name}"')
    for name in obj:
        if name not in REQUIRED_FIELDS and name not in OPTIONAL_FIELDS:
            problem(f'unknown field "{name}" (expected {", ".join(REQUIRED_FIELDS)})')

    qid = obj.get("qid")
    if "qid" in obj:
        if not isinstance(qid, str) or not qid.strip():
            problem(f'"qid" must be a non-empty string, got {_shown(qid)}')
        elif qid in first_line_of:
            problem(f'duplicate qid "{qid}" (first on line {first_line_of[qid]})')
        else:
            first_line_of[qid] = number

    query = obj.get("query")
    if "query" in obj and (not isinstance(query, str) or not query.strip()):
        problem(f'"query" must be a non-empty string, got {_shown(query)}')

    relevant = obj.get("relevant")
    if "relevant" in obj:
        if not isinstance(relevant, dict):
            problem(f'"relevant" must be an object of clause id → grade 1 or 2, got {_json_type(relevant)}')
        else:
            for clause_id, grade in relevant.items():
                if not clause_id.strip():
                    problem('"relevant" has an empty clause id')
                elif known_ids is not None and clause_id not in known_ids:
                    problem(f'unknown clause id "{clause_id}" in "relevant"')
                # bool is an int subclass in Python; true/false is not a grade.
                if isinstance(grade, bool) or not isinstance(grade, int) or grade not in (1, 2):
                    problem(f'grade of "{clause_id}" must be 1 or 2, got {_shown(grade)}')

    departments = obj.get("departments")
    if "departments" in obj:
        if not _is_string_list(departments):
            problem(f'"departments" must be a list of non-empty strings, got {_shown(departments)}')
        elif departments and isinstance(relevant, dict) and not relevant:
            problem('an out-of-scope question ("relevant": {}) must have "departments": []')

    tags = obj.get("tags")
    if "tags" in obj and not _is_string_list(tags):
        problem(f'"tags" must be a list of non-empty strings, got {_shown(tags)}')

    if len(problems) > before:
        return None
    return GoldQuestion(
        qid=str(qid),
        query=str(query),
        relevant={str(key): int(value) for key, value in dict(relevant or {}).items()},
        departments=tuple(str(name) for name in departments or ()),
        tags=tuple(str(tag) for tag in tags or ()),
        line=number,
    )


def _is_string_list(value: object) -> bool:
    """True for a JSON array of non-empty strings."""
    return isinstance(value, list) and all(isinstance(item, str) and item.strip() for item in value)


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _shown(value: object) -> str:
    """A short JSON rendering of a bad value, for messages."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------ evaluation


def evaluate(
    questions: Sequence[GoldQuestion],
    search: SearchFn,
    modes: Sequence[Mode] = ("full",),
    k: int = 10,
    progress: Callable[[int, int], None] | None = None,
    *,
    gold_path: str | Path = "",
) -> EvalReport:
    """Search every question in every mode and score the answers.

    Args:
        questions: the gold questions (unique qids).
        search: ``(query, k, mode) -> Answer``; a :class:`QueryError` it raises
            is recorded as a failed question, any other error propagates.
        modes: the modes to compare, each searched with the same questions and ``k``.
        k: hits asked of every search; at least 10, the deepest metric cut-off.
        progress: called with ``(done, total)`` after each search.
        gold_path: the gold file, recorded in the report.

    Returns:
        One :class:`ModeReport` per mode, in the order given.

    Raises:
        ValueError: no questions, duplicate qids, no or unknown or repeated modes,
            or ``k`` below 10.
    """
    if k < MIN_K:
        raise ValueError(f"k must be at least {MIN_K} (recall@10, mrr@10 and ndcg@10 look at 10 hits), got {k}")
    if not questions:
        raise ValueError("no questions to evaluate")
    if not modes:
        raise ValueError(f"no modes to evaluate; choose from {', '.join(MODES)}")
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if len(set(modes)) != len(modes):
        raise ValueError(f"modes repeat: {', '.join(modes)}")
    seen: set[str] = set()
    for question in questions:
        if question.qid in seen:
            raise ValueError(f"duplicate qid {question.qid!r}")
        seen.add(question.qid)

    total = len(questions) * len(modes)
    done = 0
    reports: list[ModeReport] = []
    for mode in modes:
        answered: list[tuple[GoldQuestion, Answer | None, str | None]] = []
        for question in questions:
            try:
                answer: Answer | None = search(question.query, k, mode)
                error = None
            except QueryError as exc:
                # A gold query the engine rejects is the engine's failure, not the harness's.
                answer, error = None, f"{type(exc).__name__}: {exc}"
            answered.append((question, answer, error))
            done += 1
            if progress is not None:
                progress(done, total)
        reports.append(_score_mode(mode, answered, k))

    in_scope = sum(1 for question in questions if question.in_scope)
    return EvalReport(
        gold_path=str(gold_path),
        k=k,
        modes=tuple(reports),
        question_count=len(questions),
        in_scope_count=in_scope,
        out_of_scope_count=len(questions) - in_scope,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def names_gold_body(department: str, gold: Collection[str]) -> bool:
    """Whether an answer's department is one of the gold bodies, as a law names it.

    Laws name one body in several ways: 消防救援机构 and 县级以上地方人民政府消防救援机构 are
    the same body, the first written without its level; 活动所在地县级人民政府公安机关 is
    县级人民政府公安机关 at a place. A department without a level matches a gold name of the
    same body at any level; one with a level must match it (国务院卫生行政部门 is not
    县级以上地方人民政府卫生行政部门), and governments match only by name.
    """
    from retriever.bodies import relaxed_body, without_place

    if department in gold:
        return True
    name = without_place(department)
    for body in gold:
        body = without_place(body)
        if name == body:
            return True
        if relaxed_body(name) == name and not name.endswith("人民政府") and relaxed_body(body) == name:
            return True
    return False


def _ranked_ids(answer: Answer | None, k: int, relevant: Mapping[str, int] | None = None) -> tuple[str, ...]:
    """The answer's clause ids in rank order, without repeats, at most ``k``.

    A clause whose article (not the clause itself) is judged is reported as that
    article's id, once: the best-ranked clause of a judged article counts.
    """
    if answer is None:
        return ()
    relevant = relevant or {}
    ids: list[str] = []
    # sorted() is stable, so hits sharing a rank keep the order they came in.
    for hit in sorted(answer.hits, key=lambda hit: hit.rank):
        cid = hit.clause.id
        if cid not in relevant and article_key(cid) in relevant:
            cid = article_key(cid)
        if cid not in ids:
            ids.append(cid)
    return tuple(ids[:k])


def _ranking_scores(
    in_scope: Sequence[tuple[GoldQuestion, tuple[str, ...]]],
) -> dict[str, dict[str, float]]:
    """Per-question ranking metrics computed by ranx.

    Args:
        in_scope: in-scope questions with their ranked clause ids.

    Returns:
        Our metric name → qid → value.
    """
    if not in_scope:
        return {name: {} for name in RANKING_METRICS}
    # Importing ranx loads numba (seconds); only evaluation needs it.
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    qrels = Qrels({question.qid: dict(question.relevant) for question, _ in in_scope})
    # ranx orders documents by score: 1/rank keeps the engine's order with no ties,
    # and a query with no results gets a dummy document that is never relevant.
    run = Run(
        {
            question.qid: (
                {clause_id: 1.0 / rank for rank, clause_id in enumerate(ids, start=1)} if ids else {_NO_RESULT: 1.0}
            )
            for question, ids in in_scope
        }
    )
    with warnings.catch_warnings():
        # numba warns about ranx's uint64 → int64 id-hash cast; it is harmless.
        warnings.filterwarnings("ignore", message=".*unsafe cast.*")
        ranx_evaluate(qrels, run, list(RANKING_METRICS.values()), save_results_in_run=True)
    return {
        name: {str(qid): float(value) for qid, value in run.scores[ranx_name].items()}
        for name, ranx_name in RANKING_METRICS.items()
    }


def _score_mode(
    mode: Mode,
    answered: Sequence[tuple[GoldQuestion, Answer | None, str | None]],
    k: int,
) -> ModeReport:
    """Score one mode's answers.

    Args:
        mode: the mode searched.
        answered: each question with its answer (None when the search raised) and error.
        k: hits asked of the search.

    Returns:
        The mode's metrics, per-tag breakdown and per-question results.
    """
    ranked = {question.qid: _ranked_ids(answer, k, question.relevant) for question, answer, _ in answered}
    scores = _ranking_scores([(question, ranked[question.qid]) for question, _, _ in answered if question.in_scope])
    results: list[QuestionResult] = []
    for question, answer, error in answered:
        departments = tuple(d.department for d in answer.departments) if answer else ()
        top_department = departments[0] if departments else None
        # An answer that never came counts as "nothing found": not in scope.
        predicted_in_scope = answer.in_scope if answer is not None else False
        metrics: dict[str, float | None] = {
            name: scores[name][question.qid] if question.in_scope else None for name in RANKING_METRICS
        }
        metrics["dept_acc@1"] = (
            float(top_department is not None and names_gold_body(top_department, question.departments))
            if question.in_scope and question.departments else None
        )
        metrics["oos_correct"] = float(predicted_in_scope == question.in_scope)
        reasons = _failure_reasons(question, metrics, top_department, predicted_in_scope, error)
        results.append(
            QuestionResult(
                qid=question.qid,
                query=question.query,
                tags=question.tags,
                mode=mode,
                ranked_ids=ranked[question.qid],
                top_department=top_department,
                in_scope_predicted=predicted_in_scope,
                gold=question,
                metrics=metrics,
                failed=bool(reasons),
                reasons=reasons,
                departments=departments,
                route=answer.route if answer is not None else None,
                error=error,
            )
        )

    tags = sorted({tag for result in results for tag in result.tags})
    per_tag: dict[str, dict[str, float | None]] = {}
    tag_counts: dict[str, dict[str, int]] = {}
    for tag in tags:
        tagged = [result for result in results if tag in result.tags]
        per_tag[tag] = _aggregate(tagged)
        in_scope = sum(1 for result in tagged if result.gold.in_scope)
        tag_counts[tag] = {
            "questions": len(tagged),
            "in_scope": in_scope,
            "out_of_scope": len(tagged) - in_scope,
            "failed": sum(1 for result in tagged if result.failed),
        }
    return ModeReport(
        mode=mode,
        metrics=_aggregate(results),
        per_tag=per_tag,
        results=tuple(results),
        tag_counts=tag_counts,
    )


def _failure_reasons(
    question: GoldQuestion,
    metrics: Mapping[str, float | None],
    top_department: str | None,
    predicted_in_scope: bool,
    error: str | None,
) -> tuple[str, ...]:
    """Why a question failed; empty when it did not.

    Args:
        question: the gold question.
        metrics: its per-question metrics.
        top_department: the answer's first department.
        predicted_in_scope: the answer's in-scope flag.
        error: the search error, if the search raised.

    Returns:
        One phrase per reason.
    """
    reasons: list[str] = []
    if error is not None:
        reasons.append(f"search raised {error}")
    if question.in_scope:
        if not metrics["recall@10"]:
            reasons.append("no relevant clause in the top 10")
        elif not metrics["hit@1"]:
            reasons.append("top-1 clause not relevant")
        if metrics["dept_acc@1"] == 0.0:
            got = top_department or "none"
            reasons.append(f"department: got {got}, expected {' / '.join(question.departments)}")
        if not predicted_in_scope:
            reasons.append("answered out of scope, but it is in scope")
    elif predicted_in_scope:
        reasons.append("answered in scope, but it is out of scope")
    return tuple(reasons)


def _mean(values: Sequence[float]) -> float | None:
    """The mean, or None for no values."""
    return math.fsum(values) / len(values) if values else None


def _aggregate(results: Sequence[QuestionResult]) -> dict[str, float | None]:
    """Every metric over a group of results (``None`` where the denominator is zero).

    Args:
        results: the questions to summarise (a mode, or one tag of it).

    Returns:
        Metric name → value, keys in :data:`METRIC_NAMES` order.
    """
    in_scope = [result for result in results if result.gold.in_scope]
    metrics: dict[str, float | None] = {}
    for name in (*RANKING_METRICS, "dept_acc@1"):
        values = [value for result in in_scope if (value := result.metrics[name]) is not None]
        metrics[name] = _mean(values)
    flagged = [result for result in results if not result.in_scope_predicted]
    out_of_scope = [result for result in results if not result.gold.in_scope]
    metrics["oos_precision"] = _mean([float(not result.gold.in_scope) for result in flagged])
    metrics["oos_recall"] = _mean([float(not result.in_scope_predicted) for result in out_of_scope])
    metrics["in_scope_flagged"] = _mean([float(not result.in_scope_predicted) for result in in_scope])
    return metrics


# -------------------------------------------------------------------- reports


def _question_to_dict(question: GoldQuestion) -> dict[str, Any]:
    """A gold question as JSON-ready data."""
    return {
        "qid": question.qid,
        "query": question.query,
        "relevant": dict(question.relevant),
        "departments": list(question.departments),
        "tags": list(question.tags),
        "line": question.line,
        "in_scope": question.in_scope,
    }


def _result_to_dict(result: QuestionResult) -> dict[str, Any]:
    """A question result as JSON-ready data."""
    return {
        "qid": result.qid,
        "query": result.query,
        "tags": list(result.tags),
        "mode": result.mode,
        "ranked_ids": list(result.ranked_ids),
        "top_department": result.top_department,
        "departments": list(result.departments),
        "in_scope_predicted": result.in_scope_predicted,
        "route": result.route,
        "metrics": dict(result.metrics),
        "failed": result.failed,
        "reasons": list(result.reasons),
        "error": result.error,
        "gold": _question_to_dict(result.gold),
    }


def report_to_dict(report: EvalReport) -> dict[str, Any]:
    """The report as JSON-ready data (the ``--json`` output and report.json).

    Args:
        report: the evaluation.

    Returns:
        Plain dicts, lists, strings, numbers and None (undefined metrics).
    """
    return {
        "gold_path": report.gold_path,
        "k": report.k,
        "created": report.created,
        "question_count": report.question_count,
        "in_scope_count": report.in_scope_count,
        "out_of_scope_count": report.out_of_scope_count,
        "metric_definitions": dict(METRIC_DEFINITIONS),
        "modes": [
            {
                "mode": mode.mode,
                "metrics": dict(mode.metrics),
                "per_tag": {tag: dict(values) for tag, values in mode.per_tag.items()},
                "tag_counts": {tag: dict(counts) for tag, counts in mode.tag_counts.items()},
                "failed_count": len(mode.failed),
                "results": [_result_to_dict(result) for result in mode.results],
            }
            for mode in report.modes
        ],
    }


def _cell(value: float | None) -> str:
    """A metric value for a table cell."""
    return "n/a" if value is None else f"{value:.3f}"


def _escape(text: str) -> str:
    """Text safe inside a Markdown table cell or list item."""
    return text.replace("|", "\\|").replace("\n", " ")


def _headline_mode(report: EvalReport) -> ModeReport:
    """The mode whose failures are listed: ``full`` if evaluated, else the last."""
    for mode in report.modes:
        if mode.mode == "full":
            return mode
    return report.modes[-1]


def _modes_table(report: EvalReport) -> list[str]:
    """Markdown rows: one line per mode, one column per metric."""
    lines = ["| mode | " + " | ".join(METRIC_NAMES) + " |", "|" + "---|" * (len(METRIC_NAMES) + 1)]
    for mode in report.modes:
        cells = " | ".join(_cell(mode.metrics[name]) for name in METRIC_NAMES)
        lines.append(f"| {mode.mode} | {cells} |")
    return lines


def _tag_table(mode: ModeReport) -> list[str]:
    """Markdown rows: the metrics of one mode restricted to each tag."""
    if not mode.per_tag:
        return ["(no tags)"]
    lines = ["| tag | n | in/out | failed | " + " | ".join(METRIC_NAMES) + " |",
             "|" + "---|" * (len(METRIC_NAMES) + 4)]
    for tag, values in mode.per_tag.items():
        counts = mode.tag_counts.get(tag, {})
        cells = " | ".join(_cell(values[name]) for name in METRIC_NAMES)
        lines.append(
            f"| {_escape(tag)} | {counts.get('questions', 0)} | "
            f"{counts.get('in_scope', 0)}/{counts.get('out_of_scope', 0)} | "
            f"{counts.get('failed', 0)} | {cells} |"
        )
    return lines


def format_summary(report: EvalReport) -> str:
    """The short Markdown summary for a README: modes × metrics, then per tag for the headline mode."""
    headline = _headline_mode(report)
    lines = [
        f"Gold set `{report.gold_path}`: {report.question_count} questions "
        f"({report.in_scope_count} in scope, {report.out_of_scope_count} out of scope), k = {report.k}.",
        "",
        *_modes_table(report),
        "",
        f"Per tag ({headline.mode}):",
        "",
        *_tag_table(headline),
    ]
    return "\n".join(lines) + "\n"


def format_table(report: EvalReport) -> str:
    """The report as Markdown: modes × metrics, per tag, then failed questions.

    Args:
        report: the evaluation.

    Returns:
        Markdown text (also readable as plain text), ending with a newline.
    """
    lines = [
        "# Evaluation",
        "",
        f"Gold set: {report.gold_path or '(in memory)'} · k = {report.k} · {report.created}",
        f"Questions: {report.question_count} "
        f"({report.in_scope_count} in scope, {report.out_of_scope_count} out of scope)",
        "",
        *_modes_table(report),
    ]
    lines += [""] + [f"- **{name}**: {text}" for name, text in METRIC_DEFINITIONS.items()]
    lines.append("- n/a: undefined for this group (its denominator is zero)")

    for mode in report.modes:
        lines += ["", f"## Per tag — {mode.mode}", "", *_tag_table(mode)]

    headline = _headline_mode(report)
    failed = headline.failed
    lines += ["", f"## Failed questions — {headline.mode} ({len(failed)} of {len(headline.results)})", ""]
    if not failed:
        lines.append("None.")
    for result in failed:
        gold = result.gold
        expected = ", ".join(f"{cid}({grade})" for cid, grade in gold.relevant.items()) or "out of scope"
        shown = [f"{cid}({gold.relevant[cid]})" if cid in gold.relevant else cid for cid in result.ranked_ids[:5]]
        # Relevant clauses ranked below the first five still tell how close the engine came.
        shown += [
            f"… {cid}({gold.relevant[cid]})@{rank}"
            for rank, cid in enumerate(result.ranked_ids, start=1)
            if rank > 5 and cid in gold.relevant
        ]
        got = ", ".join(shown)
        tags = f" [{', '.join(result.tags)}]" if result.tags else ""
        lines.append(f"- **{_escape(result.qid)}** {_escape(result.query)}{tags}")
        lines.append(f"  - why: {'; '.join(result.reasons)}")
        lines.append(f"  - expected: {expected}; departments: {' / '.join(gold.departments) or '—'}")
        lines.append(
            f"  - got: {got or 'no clauses'}; department: {result.top_department or '—'}; "
            f"in scope: {'yes' if result.in_scope_predicted else 'no'}"
        )
    return "\n".join(lines) + "\n"


def _draw_chart(report: EvalReport, path: Path) -> None:
    """Save grouped bars (metrics on the x axis, one bar per mode) as a PNG.

    Args:
        report: the evaluation.
        path: the PNG to write.
    """
    # The object API with an explicit Agg canvas: no pyplot global state, no display.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(8.0, 1.3 * len(METRIC_NAMES)), 4.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    count = len(report.modes)
    width = 0.8 / count
    for index, mode in enumerate(report.modes):
        offsets = [x - 0.4 + width * (index + 0.5) for x in range(len(METRIC_NAMES))]
        heights = [mode.metrics[name] or 0.0 for name in METRIC_NAMES]
        bars = axes.bar(offsets, heights, width=width, label=mode.mode)
        labels = [_cell(mode.metrics[name]) for name in METRIC_NAMES]
        axes.bar_label(bars, labels=labels, fontsize=6, rotation=90, padding=2)
    axes.set_xticks(range(len(METRIC_NAMES)), list(METRIC_NAMES), rotation=30, ha="right")
    axes.set_ylim(0.0, 1.2)
    axes.set_ylabel("score")
    axes.set_title(f"duty-retriever evaluation: {report.question_count} questions, k = {report.k}")
    axes.legend(title="mode", fontsize=8, loc="upper right", ncols=count)
    figure.tight_layout()
    figure.savefig(path, format="png")


def write_report(report: EvalReport, out_dir: Path) -> tuple[Path, Path]:
    """Write report.md, chart.png and report.json into a folder.

    Args:
        report: the evaluation.
        out_dir: the folder (created with its parents if missing).

    Returns:
        The paths of report.md and chart.png.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = out_dir / "report.md"
    chart = out_dir / "chart.png"
    markdown.write_text(format_table(report), encoding="utf-8")
    (out_dir / "report.json").write_text(
        json.dumps(report_to_dict(report), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    _draw_chart(report, chart)
    return markdown, chart
