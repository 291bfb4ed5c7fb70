"""Per-query latency of a FAISS build against a Milvus build: the whole search() and the gather alone.

Usage: PYTHONPATH=src python docs/notes/milvus_latency.py /tmp/mvf /tmp/mv [eval/gold_dev.jsonl]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from retriever.candidates import Candidates, Query
from retriever.search import open_searcher


def measure(root: Path, questions: list[str]) -> dict[str, Any]:
    searcher = open_searcher(root)
    searcher.warm_up()
    source = searcher.candidates
    gathers: list[float] = []
    gather = source.gather

    def timed(query: Query, n: int) -> Candidates:
        start = time.perf_counter()
        found = gather(query, n)
        gathers.append(time.perf_counter() - start)
        return found

    source.gather = timed  # type: ignore[method-assign]
    for question in questions[:10]:
        searcher.search(question)
    gathers.clear()
    total = []
    for question in questions:
        start = time.perf_counter()
        searcher.search(question)
        total.append(time.perf_counter() - start)
    whole, alone = np.array(total) * 1000, np.array(gathers) * 1000
    return {"source": type(source).__name__, "queries": len(questions), "gathers": int(alone.size),
            "search_p50": round(float(np.percentile(whole, 50)), 2),
            "search_p95": round(float(np.percentile(whole, 95)), 2),
            "gather_p50": round(float(np.percentile(alone, 50)), 2),
            "gather_p95": round(float(np.percentile(alone, 95)), 2)}


def main() -> None:
    faiss_root, milvus_root = Path(sys.argv[1]), Path(sys.argv[2])
    gold = Path(sys.argv[3]) if len(sys.argv) > 3 else Path("eval/gold_dev.jsonl")
    questions = [json.loads(line)["query"] for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(json.dumps({"faiss": measure(faiss_root, questions), "milvus": measure(milvus_root, questions)}))


if __name__ == "__main__":
    main()
