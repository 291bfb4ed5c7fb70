"""Milvus round trips one at a time, by limit (median of 50): where a gather's time goes.

Usage: PYTHONPATH=src python docs/notes/milvus_calls.py /tmp/mv
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from retriever.store import load_index
from retriever.stores.milvus_candidates import MilvusCandidates
from retriever.stores.select import candidate_source


def median_ms(call: Callable[[], object], repeat: int = 50) -> float:
    for _ in range(5):
        call()
    spent = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        spent.append(time.perf_counter() - start)
    return round(float(np.median(spent)) * 1000, 2)


def main() -> None:
    index = load_index(Path(sys.argv[1]))
    source = candidate_source(index)
    if not isinstance(source, MilvusCandidates):
        raise SystemExit(f"{sys.argv[1]} was built without --store.")
    store = source.store
    query = store.vectors([3])[0]
    tokens = ["网吧", "安全", "检查", "安全检查"]
    out = {"get_1_vector": median_ms(lambda: store.vectors([5]))}
    for k in (1, 10, 100, 300):
        out[f"dense_k{k}"] = median_ms(partial(store.top_dense, query, k))
        out[f"bm25_k{k}"] = median_ms(partial(store.top_terms, tokens, k))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
