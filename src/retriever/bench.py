"""Benchmark, side by side: the default int8 ONNX engine against the float32 torch reference.

For each model: load time, index build, query latency p50/p95 through the full
engine (uncached), the embedding alone, the query-cache hit path, and a cold
``retriever search`` in a fresh process (wall time and peak memory), plus how fast
a cold process rejects an invalid query. A measurement, not a test: it reports
numbers and asserts nothing.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: The models compared by default: the default engine first, then the reference.
DEFAULT_MODELS = ("e5-small", "e5-small-fp32")

# Runs the CLI in a fresh process and writes its own peak RSS (KiB) to the file
# named by the first argument, so each model's memory is measured apart.
_CHILD = """
import resource, sys
from retriever.cli import main
try:
    main(sys.argv[2:], prog_name="retriever")
except SystemExit as exit:
    code = exit.code
else:
    code = 0
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.exit(code)
"""

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


def cold_cli(args: Sequence[str], *, env_extra: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Run ``retriever ARGS`` in a fresh Python process: (wall seconds, peak RSS MiB, exit code)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env_extra or {})}
        src = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _CHILD, rss.name, *args], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        wall = time.perf_counter() - started
        text = Path(rss.name).read_text().strip()
    return wall, (int(text) / 1024 if text else float("nan")), done.returncode


def _ms(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 2), "p95": round(percentile(values, 0.95), 2)}


def bench_model(model: str, *, seeds_dir: Path | Sequence[Path], queries: Sequence[str], repeat: int, workdir: Path,
                cold: bool = True, cold_repeat: int = 5) -> dict[str, Any]:
    """Every measurement for one model (see the module docstring); the index is built under ``workdir``."""
    from retriever.cache import with_cache
    from retriever.e5model import resolve_model
    from retriever.embed import load_embedder
    from retriever.lexicon import load_lexicon
    from retriever.search import open_searcher
    from retriever.segment import Segmenter
    from retriever.store import build_index

    started = time.perf_counter()
    resolve_model(model)  # materialise (a one-time cost) and check the checksums
    materialise_s = time.perf_counter() - started
    started = time.perf_counter()
    embedder = load_embedder(model)
    model_load_s = time.perf_counter() - started

    root = workdir / f"index-{model.replace('/', '_')}"
    started = time.perf_counter()
    lexicon = load_lexicon()
    manifest = build_index(seeds_dir, root, embedder, lexicon, Segmenter(lexicon.user_words()))
    build_s = time.perf_counter() - started

    searcher = open_searcher(root, seeds_dir=seeds_dir, embedder=embedder)
    searcher.search(queries[0])  # warm-up: first-call allocations and jieba's lazy init
    search_ms: list[float] = []
    encode_ms: list[float] = []
    for _ in range(repeat):
        for query in queries:
            begin = time.perf_counter()
            searcher.search(query)
            search_ms.append((time.perf_counter() - begin) * 1000)
            begin = time.perf_counter()
            embedder.encode_queries([query])
            encode_ms.append((time.perf_counter() - begin) * 1000)
    cached = with_cache(searcher)
    for query in queries:
        cached.search(query)  # fill
    hit_ms: list[float] = []
    for _ in range(repeat):
        for query in queries:
            begin = time.perf_counter()
            cached.search(query)
            hit_ms.append((time.perf_counter() - begin) * 1000)

    result: dict[str, Any] = {
        "model": embedder.model_id,
        "model_materialise_s": round(materialise_s, 2),
        "model_load_s": round(model_load_s, 2),
        "index_build_s": round(build_s, 2),
        "clauses": manifest["counts"]["clauses"],
        "query_p50_ms": _ms(search_ms)["p50"],
        "query_p95_ms": _ms(search_ms)["p95"],
        "encode_p50_ms": _ms(encode_ms)["p50"],
        "encode_p95_ms": _ms(encode_ms)["p95"],
        "cache_hit_p50_ms": round(statistics.median(hit_ms), 4),
        "cache_hit_p95_ms": round(percentile(hit_ms, 0.95), 4),
    }
    if cold:
        folders = [seeds_dir] if isinstance(seeds_dir, (str, Path)) else list(seeds_dir)
        seeds_args = [arg for folder in folders for arg in ("--seeds", str(folder))]
        common = ["--index", str(root), *seeds_args, "--model", model]
        runs = [cold_cli(["search", queries[0], "-k", "5", *common]) for _ in range(cold_repeat)]
        walls = [wall for wall, _, _ in runs]
        result.update(cold_search_s=round(statistics.median(walls), 2), cold_search_min_s=round(min(walls), 2),
                      cold_search_runs=len(runs), cold_search_peak_rss_mib=round(max(r for _, r, _ in runs), 1),
                      cold_search_exit=max(code for _, _, code in runs))
        # The first search on a machine also derives the lookup tables (retriever.usercache).
        with tempfile.TemporaryDirectory(prefix="retriever-bench-cache-") as empty:
            wall, _, _ = cold_cli(["search", queries[0], "-k", "5", *common], env_extra={"RETRIEVER_CACHE_DIR": empty})
        result.update(cold_search_empty_cache_s=round(wall, 2))
    return result


def run_benchmark(*, seeds_dir: Path | Sequence[Path], models: Sequence[str] = DEFAULT_MODELS,
                  queries_file: Path | None = None,
                  repeat: int = 5, cold: bool = True, cold_repeat: int = 5) -> dict[str, Any]:
    """Measure each model in turn (the first is the one compared against the last).

    Args:
        seeds_dir: the regulations to index.
        models: model names for ``--model`` (default: the int8 ONNX default, then the fp32 reference).
        queries_file: a JSON Lines file with a ``query`` field per line (e.g. a gold dev set).
        repeat: how many times each query is timed.
        cold: also time cold ``retriever search`` processes (and an invalid query's rejection).
        cold_repeat: cold processes per model (and invalid queries); their median is reported.

    Returns:
        ``{"machine", "queries_timed", "models": {name: measurements}, ...}`` with
        seconds, milliseconds and MiB.
    """
    queries = list(SAMPLE_QUERIES)
    if queries_file is not None:
        with queries_file.open(encoding="utf-8") as handle:
            queries = [json.loads(line)["query"] for line in handle if line.strip()]
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                   f"load average {os.getloadavg()[0]:.1f}",
        "queries_timed": len(queries) * repeat,
        "models": {},
    }
    with tempfile.TemporaryDirectory(prefix="retriever-bench-") as tmp:
        for model in models:
            result["models"][model] = bench_model(model, seeds_dir=seeds_dir, queries=queries, repeat=repeat,
                                                  workdir=Path(tmp), cold=cold, cold_repeat=cold_repeat)
        if cold:
            rejections = [cold_cli(["search", "   ", "--index", str(Path(tmp) / "none")]) for _ in range(cold_repeat)]
            result["invalid_query_rejected_s"] = round(statistics.median(wall for wall, _, _ in rejections), 2)
            result["invalid_query_exit"] = max(code for _, _, code in rejections)
    if len(models) > 1:
        first, last = result["models"][models[0]], result["models"][models[-1]]
        result["query_p50_ratio"] = round(first["query_p50_ms"] / last["query_p50_ms"], 3)
        result["encode_p50_ratio"] = round(first["encode_p50_ms"] / last["encode_p50_ms"], 3)
    return result


def format_result(result: dict[str, Any]) -> str:
    """The measurements as a plain table: one row per measurement, one column per model."""
    models = list(result["models"])
    rows = list(dict.fromkeys(key for measured in result["models"].values() for key in measured))
    width = max(len(str(v)) for m in models for v in [m, *result["models"][m].values()]) + 2
    lines = [f"{'':28s}" + "".join(f"{m:>{width}s}" for m in models)]
    for key in rows:
        lines.append(f"{key:28s}" + "".join(f"{result['models'][m].get(key, '-')!s:>{width}s}" for m in models))
    lines.append("")
    for key, value in result.items():
        if key != "models":
            lines.append(f"{key:28s}{value}")
    return "\n".join(lines)
