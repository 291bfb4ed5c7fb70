"""Evaluate dev gold sets under settings variants with one loaded searcher (tuning aid).

Loads the index once, memoises query embeddings, and prints the full mode's metrics for each
variant given as ``name=value`` overrides of :class:`retriever.search.SearchSettings`.

Tune on dev splits only::

    PYTHONPATH=src python benchmarks/tune_library.py --index /tmp/q-lib \\
        --seeds seeds --seeds ../shared/corpora/safety-sample \\
        --gold eval/gold_library_dev.jsonl --gold eval/gold_dev.jsonl \\
        --variant "" --variant "duty_list_share=0.8" --failures
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from retriever.embed import Embedder
from retriever.evaluate import EvalReport, evaluate, load_gold
from retriever.search import SearchSettings, open_searcher

_SHOWN = ("mrr@10", "ndcg@10", "recall@5", "hit@1", "dept_acc@1", "oos_recall", "in_scope_flagged")


class MemoEmbedder:
    """An embedder that remembers every query vector it has computed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self._queries: dict[str, np.ndarray] = {}

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self._queries]
        if missing:
            for text, vector in zip(missing, self.inner.encode_queries(missing), strict=True):
                self._queries[text] = vector
        return np.stack([self._queries[t] for t in texts])

    def encode_clauses(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.encode_clauses(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def parse_variant(text: str) -> dict[str, Any]:
    """``"a=1, b=(0.4, 0.2, 0, 0)"`` → keyword overrides of SearchSettings."""
    names = {f.name for f in fields(SearchSettings)}
    overrides: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in _split(text))):
        name, _, value = part.partition("=")
        if name.strip() not in names:
            raise SystemExit(f"unknown setting {name!r}; one of {', '.join(sorted(names))}")
        overrides[name.strip()] = ast.literal_eval(value.strip())
    return overrides


def _split(text: str) -> list[str]:
    """Split on commas outside brackets."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "(["
        depth -= char in ")]"
        if char == ";" or (char == "," and depth == 0):
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--seeds", type=Path, action="append", required=True)
    parser.add_argument("--gold", type=Path, action="append", required=True)
    parser.add_argument("--variant", action="append", default=None, help='overrides, e.g. "tier_gate=0.8"')
    parser.add_argument("--failures", action="store_true", help="list the failed questions of each variant")
    args = parser.parse_args(argv)
    if any("test" in g.name for g in args.gold):
        raise SystemExit("tune on dev splits only")
    searcher = open_searcher(args.index, seeds_dir=args.seeds)
    searcher.embedder = MemoEmbedder(searcher.embedder)
    base = searcher.settings
    ids = {c.id for c in searcher.clauses}
    golds = {g: load_gold(g, clause_ids=ids) for g in args.gold}
    print("| variant | gold | " + " | ".join(_SHOWN) + " |")
    print("|---|---|" + "---|" * len(_SHOWN))
    for variant in args.variant or [""]:
        searcher.settings = replace(base, **parse_variant(variant))
        for gold, questions in golds.items():
            report: EvalReport = evaluate(questions, lambda q, n, m: searcher.search(q, n, mode=m), ("full",),
                                          gold_path=gold)
            mode = report.modes[0]
            values = " | ".join("n/a" if mode.metrics[m] is None else f"{mode.metrics[m]:.3f}" for m in _SHOWN)
            print(f"| {variant or 'default'} | {gold.stem} | {values} |", flush=True)
            if args.failures:
                for result in mode.failed:
                    print(f"    {result.qid} {result.query} -> {list(result.ranked_ids[:3])} "
                          f"dept={result.top_department} :: {'; '.join(result.reasons)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
