"""A calibrated relevance in [0, 1] for every hit, so chatbots can threshold it.

The engine's fused score is only comparable within one answer (min-max normalised
dense and BM25 scores, a department boost, 1/rank for citations). A chatbot needs a
number that means the same thing for every question: here, the estimated probability
that the clause is relevant (gold grade ≥ 1) to the question.

It is a logistic regression on a few features of each hit (:data:`FEATURES`), fitted on
``eval/gold_dev.jsonl`` only and stored as a small JSON file,
``retriever/data/calibration.json``. Refit it with::

    retriever calibrate eval/gold_dev.jsonl

and measure it (reliability table and plot, share of relevant hits at ≥ 0.5) on the
test split, never used for fitting, with::

    retriever calibrate eval/gold_test.jsonl --report
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from retriever.errors import RetrieverError
from retriever.records import Answer

__all__ = [
    "CALIBRATION_FILE",
    "FEATURES",
    "FORMAT_VERSION",
    "Calibration",
    "CalibrationError",
    "Reliability",
    "fit_calibration",
    "format_reliability",
    "hit_features",
    "load_calibration",
    "measure_reliability",
    "save_calibration",
    "write_reliability",
]

#: The data file shipped inside the package.
CALIBRATION_FILE = "calibration.json"
#: Bump when the features or the file layout change.
FORMAT_VERSION = 1
#: What the regression sees of each hit, in column order.
FEATURES: tuple[str, ...] = (
    "bias",
    "score",  # the fused score (search route), 1/rank (citation) or 1 (department)
    "gap_to_top",  # top score minus this score: how far behind the best hit
    "reciprocal_rank",
    "in_scope",  # 0 when the answer is out of scope (nearest clauses only)
    "route_citation",
    "route_department",
    "department_answer",  # 1 when the hit's department is among the answered departments
)
_L2 = 1e-2
_BINS = 10


class CalibrationError(RetrieverError):
    """The calibration file is missing, malformed, or of another format version."""


@dataclass(frozen=True)
class Calibration:
    """A fitted logistic calibration.

    Attributes:
        weights: one weight per feature of :data:`FEATURES`.
        features: the feature names the weights belong to.
        fitted_on: the gold file it was fitted on.
        questions: how many questions, hits and relevant hits it was fitted on.
        hits: number of (question, hit) pairs.
        relevant: number of those that are relevant.
        model: the embedding model of the index it was fitted with.
    """

    weights: tuple[float, ...]
    features: tuple[str, ...] = FEATURES
    fitted_on: str = ""
    questions: int = 0
    hits: int = 0
    relevant: int = 0
    model: str = ""

    def relevance(self, answer: Answer) -> tuple[float, ...]:
        """The calibrated relevance of each hit of ``answer``, in hit order, in [0, 1]."""
        if not answer.hits:
            return ()
        logits = hit_features(answer) @ np.asarray(self.weights, dtype=np.float64)
        return tuple(float(p) for p in _sigmoid(logits))


def hit_features(answer: Answer) -> np.ndarray:
    """The feature matrix (one row per hit, columns :data:`FEATURES`) of an answer."""
    rows = np.zeros((len(answer.hits), len(FEATURES)), dtype=np.float64)
    if not answer.hits:
        return rows
    top = max(hit.score for hit in answer.hits)
    answered = {d.department for d in answer.departments}
    for row, hit in enumerate(answer.hits):
        score = float(hit.score) if math.isfinite(hit.score) else 0.0
        rows[row] = (
            1.0,
            score,
            float(top) - score,
            1.0 / hit.rank,
            1.0 if answer.in_scope else 0.0,
            1.0 if answer.route == "citation" else 0.0,
            1.0 if answer.route == "department" else 0.0,
            1.0 if hit.clause.department in answered else 0.0,
        )
    return rows


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0))), dtype=np.float64)


def _labels(answer: Answer, relevant: Mapping[str, int]) -> np.ndarray:
    return np.asarray([1.0 if relevant.get(hit.clause.id, 0) >= 1 else 0.0 for hit in answer.hits])


def fit_calibration(
    judged: Sequence[tuple[Answer, Mapping[str, int]]],
    *,
    fitted_on: str = "",
    model: str = "",
    iterations: int = 50,
) -> Calibration:
    """Fit the logistic calibration by Newton's method (IRLS) with a small L2 penalty.

    Args:
        judged: each answer with its gold judgements (clause id → grade; empty when
            out of scope, so every hit counts as not relevant).
        fitted_on: the gold file, recorded in the result.
        model: the embedding model id, recorded in the result.
        iterations: Newton steps at most (it converges in about ten).

    Raises:
        ValueError: no hits, or the hits are all relevant or all not relevant.
    """
    x_parts = [hit_features(answer) for answer, _ in judged if answer.hits]
    y_parts = [_labels(answer, relevant) for answer, relevant in judged if answer.hits]
    if not x_parts:
        raise ValueError("no hits to fit on")
    x, y = np.vstack(x_parts), np.concatenate(y_parts)
    if y.min() == y.max():
        raise ValueError("the hits are all relevant or all not relevant: nothing to calibrate against")
    weights = np.zeros(x.shape[1])
    penalty = _L2 * np.eye(x.shape[1])
    penalty[0, 0] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        p = _sigmoid(x @ weights)
        gradient = x.T @ (p - y) + penalty @ weights
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return Calibration(
        weights=tuple(round(float(w), 6) for w in weights),
        fitted_on=fitted_on,
        questions=len(judged),
        hits=int(y.size),
        relevant=int(y.sum()),
        model=model,
    )


def save_calibration(calibration: Calibration, path: Path) -> None:
    """Write the calibration as JSON (the file :func:`load_calibration` reads)."""
    body = {
        "format_version": FORMAT_VERSION,
        "method": "logistic regression on hit features (IRLS, L2 0.01)",
        "features": list(calibration.features),
        "weights": list(calibration.weights),
        "fitted_on": calibration.fitted_on,
        "questions": calibration.questions,
        "hits": calibration.hits,
        "relevant": calibration.relevant,
        "model": calibration.model,
        "refit": "retriever calibrate eval/gold_dev.jsonl",
    }
    Path(path).write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def load_calibration(path: Path | None = None) -> Calibration:
    """Read a calibration file (default: the one shipped in ``retriever/data``).

    Raises:
        CalibrationError: the file is missing, not JSON, of another format version,
            or its features are not :data:`FEATURES`.
    """
    if path is None:
        return _packaged()
    return _read(Path(path))


@lru_cache(maxsize=1)
def _packaged() -> Calibration:
    return _read(Path(str(resources.files("retriever") / "data" / CALIBRATION_FILE)))


def _read(path: Path) -> Calibration:
    fix = "Run `retriever calibrate eval/gold_dev.jsonl` to refit it."
    try:
        body: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(f"the calibration file {path} is missing.", fix) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"the calibration file {path} cannot be read ({exc}).", fix) from None
    if not isinstance(body, dict) or body.get("format_version") != FORMAT_VERSION:
        raise CalibrationError(f"the calibration file {path} is not format version {FORMAT_VERSION}.", fix)
    features, weights = body.get("features"), body.get("weights")
    if features != list(FEATURES) or not isinstance(weights, list) or len(weights) != len(FEATURES) \
            or not all(isinstance(w, (int, float)) and math.isfinite(w) for w in weights):
        raise CalibrationError(f"the calibration file {path} does not match this version's features.", fix)
    return Calibration(
        weights=tuple(float(w) for w in weights),
        fitted_on=str(body.get("fitted_on", "")),
        questions=int(body.get("questions", 0)),
        hits=int(body.get("hits", 0)),
        relevant=int(body.get("relevant", 0)),
        model=str(body.get("model", "")),
    )


# ------------------------------------------------------------------ reliability


@dataclass(frozen=True)
class Reliability:
    """How well calibrated relevances match observed relevance on a gold set.

    Attributes:
        gold_path: the gold file.
        questions: how many questions were searched.
        hits: number of (question, hit) pairs scored.
        bins: ``(low, high, count, mean predicted, share relevant)`` per bin of width 0.1.
        at_half: hits with relevance ≥ 0.5.
        relevant_at_half: how many of those are relevant.
        brier: mean squared error of the relevance against the 0/1 label.
        ece: expected calibration error (bin-count-weighted |predicted − observed|).
    """

    gold_path: str
    questions: int
    hits: int
    bins: tuple[tuple[float, float, int, float, float], ...]
    at_half: int
    relevant_at_half: int
    brier: float
    ece: float

    @property
    def precision_at_half(self) -> float | None:
        """The share of relevant clauses among hits with relevance ≥ 0.5."""
        return self.relevant_at_half / self.at_half if self.at_half else None


def measure_reliability(
    judged: Sequence[tuple[Answer, Mapping[str, int]]], calibration: Calibration, *, gold_path: str = ""
) -> Reliability:
    """Score calibrated relevances against gold judgements (see :class:`Reliability`)."""
    predicted: list[float] = []
    labels: list[float] = []
    for answer, relevant in judged:
        predicted.extend(calibration.relevance(answer))
        labels.extend(_labels(answer, relevant).tolist())
    p, y = np.asarray(predicted, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    bins: list[tuple[float, float, int, float, float]] = []
    ece = 0.0
    for b in range(_BINS):
        low, high = b / _BINS, (b + 1) / _BINS
        mask = (p >= low) & ((p < high) if b < _BINS - 1 else (p <= high))
        count = int(mask.sum())
        mean_p = float(p[mask].mean()) if count else 0.0
        share = float(y[mask].mean()) if count else 0.0
        bins.append((low, high, count, mean_p, share))
        if count:
            ece += count / max(p.size, 1) * abs(mean_p - share)
    half = p >= 0.5
    return Reliability(
        gold_path=gold_path,
        questions=len(judged),
        hits=int(p.size),
        bins=tuple(bins),
        at_half=int(half.sum()),
        relevant_at_half=int(y[half].sum()),
        brier=float(np.mean((p - y) ** 2)) if p.size else 0.0,
        ece=ece,
    )


def format_reliability(report: Reliability) -> str:
    """A Markdown section: the headline figure, then the reliability table."""
    share = report.precision_at_half
    shown = "n/a" if share is None else f"{share:.3f}"
    lines = [
        f"Calibrated relevance on `{report.gold_path}`: {report.questions} questions, "
        f"{report.hits} hits (top 10 of each answer).",
        "",
        f"- Hits with relevance ≥ 0.5: {report.at_half}, of which {report.relevant_at_half} relevant: "
        f"**{shown}**.",
        f"- Brier score {report.brier:.3f}; expected calibration error {report.ece:.3f}.",
        "",
        "| relevance | hits | mean predicted | share relevant |",
        "|---|---:|---:|---:|",
    ]
    for low, high, count, mean_p, observed in report.bins:
        cells = (f"{mean_p:.3f}", f"{observed:.3f}") if count else ("–", "–")
        lines.append(f"| {low:.1f}–{high:.1f} | {count} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def write_reliability(report: Reliability, out_dir: Path) -> tuple[Path, Path]:
    """Write ``calibration.md`` and ``reliability.png`` into ``out_dir`` (the eval report folder)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = out_dir / "calibration.md"
    png = out_dir / "reliability.png"
    markdown.write_text("# Calibrated relevance\n\n" + format_reliability(report)
                        + "\n![reliability plot](reliability.png)\n", encoding="utf-8")
    figure = Figure(figsize=(5.0, 5.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    filled = [b for b in report.bins if b[2]]
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    axes.plot([b[3] for b in filled], [b[4] for b in filled], marker="o", label="observed")
    for b in filled:
        axes.annotate(str(b[2]), (b[3], b[4]), textcoords="offset points", xytext=(4, -10), fontsize=7)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("calibrated relevance (bin mean)")
    axes.set_ylabel("share of relevant hits")
    axes.set_title(f"Reliability: {Path(report.gold_path).name or 'gold set'}")
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(png)
    return markdown, png
