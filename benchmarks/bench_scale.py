"""Growth benchmark for duty-retriever (a measurement, not a test).

Three corpus sizes, FAISS and milvus-lite side by side:

* ``seed``: the 298-clause seed (``seeds/``), the full engine (``retriever.search``) in process,
  and the candidates path (dense top-N + BM25 top-N) against today's full scan.
* ``sample``: a sample of ``../shared/corpora/laws/`` split into articles by a tiny local
  splitter (lines starting ``第…条``; approximate, see :func:`split_articles`), embedded with the
  real model; dense + BM25 candidates, FAISS exact vs HNSW and milvus-lite.
* ``synthetic``: clustered synthetic 384-d unit vectors (dense path only): exact flat, HNSW and
  IVF-PQ in FAISS, and milvus-lite (up to ``--milvus-max`` vectors).

For every row: build time, memory (index bytes, and the process RSS growth), single-query
latency p50/p95 and recall@10 against exact search. Results go to a JSON file and a Markdown
table on stdout; ``--plot`` writes latency against corpus size as a PNG.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_scale.py --only synthetic --sizes 10000,100000,1000000
    PYTHONPATH=src .venv/bin/python benchmarks/bench_scale.py --only sample --sample 5000
    PYTHONPATH=src .venv/bin/python benchmarks/bench_scale.py --plot docs/scale-latency.png --json reports/scale.json

Figures on a shared 2-core machine are noisy; rerun on a quiet one before quoting them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from retriever.bench import percentile

ROOT = Path(__file__).resolve().parent.parent
DIMENSION = 384
QUERIES = 200
WARMUP = 10


def rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def synthetic_vectors(n: int, *, seed: int = 0, latent: int = 32, clusters: int = 200) -> np.ndarray:
    """``n`` synthetic unit vectors shaped like sentence embeddings.

    A Gaussian mixture in a ``latent``-dimensional space, projected into 384-d, plus a little
    isotropic noise. Uniform random 384-d vectors have no neighbourhood structure (every point is
    about as far as every other), which no real embedding set looks like and on which every ANN
    index fails; real embeddings have a low intrinsic dimension, which this imitates. The
    projection is fixed (seed 0) so queries (another ``seed``) come from the same distribution.
    """
    basis = np.random.default_rng(0)
    centres = basis.standard_normal((clusters, latent)).astype(np.float32)
    projection = basis.standard_normal((latent, DIMENSION)).astype(np.float32) / np.sqrt(latent)
    rng = np.random.default_rng(seed + 1000)
    out = np.empty((n, DIMENSION), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):
        stop = min(n, start + step)
        z = centres[rng.integers(0, clusters, stop - start)]
        z = z + 0.6 * rng.standard_normal(z.shape).astype(np.float32)
        block = z @ projection
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        block += rng.standard_normal(block.shape).astype(np.float32) * (0.15 / np.sqrt(DIMENSION))
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    return out


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def latencies(run: Callable[[int], Any], count: int) -> list[float]:
    """Milliseconds of ``run(i)`` for ``count`` queries, after a short warm-up."""
    for i in range(min(WARMUP, count)):
        run(i)
    out = []
    for i in range(count):
        start = time.perf_counter()
        run(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def recall_at(found: Sequence[Sequence[int]], exact: np.ndarray, k: int = 10) -> float:
    """Mean share of the exact top-k found in the approximate top-k."""
    hits = [len(set(list(f)[:k]) & set(e[:k].tolist())) / k for f, e in zip(found, exact, strict=True)]
    return float(np.mean(hits))


def row(corpus: str, size: int, backend: str, index: str, build_s: float, index_bytes: int,
        rss_growth: int, times: list[float], recall: float | None, **extra: Any) -> dict[str, Any]:
    return {"corpus": corpus, "size": size, "backend": backend, "index": index,
            "build_s": round(build_s, 2), "index_mb": round(index_bytes / 2**20, 1),
            "rss_growth_mb": round(rss_growth / 2**20, 1),
            "p50_ms": round(percentile(times, 0.5), 3), "p95_ms": round(percentile(times, 0.95), 3),
            "recall_at_10": None if recall is None else round(recall, 4), **extra}


# --- synthetic: dense path only -------------------------------------------------------------

def bench_synthetic(sizes: Sequence[int], milvus_max: int, kinds: Sequence[str]) -> Iterator[dict[str, Any]]:
    from retriever.dense import DenseIndex

    queries = synthetic_vectors(QUERIES, seed=1)
    for n in sizes:
        vectors = synthetic_vectors(n)
        gc.collect()
        before = rss_bytes()
        flat, build = timed(lambda v=vectors: DenseIndex.build(v, kind="flat"))
        exact = flat._index.search(queries, 10)[1]
        times = latencies(lambda i, f=flat: f.top(queries[i], 10), QUERIES)
        yield row("synthetic", n, "faiss", "flat (exact)", build, len(faiss.serialize_index(flat._index)),
                  rss_bytes() - before, times, 1.0)
        del flat
        if "hnsw" in kinds:
            gc.collect()
            before = rss_bytes()
            hnsw, build = timed(lambda v=vectors: DenseIndex.build(v, kind="hnsw"))
            size_bytes = len(faiss.serialize_index(hnsw._index))
            growth = rss_bytes() - before
            for ef in (32, 64, 96, 128, 256):
                hnsw._index.hnsw.efSearch = ef
                found = [hnsw.top(q, 10)[0] for q in queries]
                times = latencies(lambda i, h=hnsw: h.top(queries[i], 10), QUERIES)
                yield row("synthetic", n, "faiss", "hnsw " + json.dumps(hnsw.describe()["hnsw"]), build,
                          size_bytes, growth, times, recall_at(found, exact))
            del hnsw
        if "ivfpq" in kinds:
            yield from _ivfpq(vectors, queries, exact, n)
        if "ivfflat" in kinds:
            yield from _ivfflat(vectors, queries, exact, n)
        if n <= milvus_max:
            yield from _milvus_dense(vectors, queries, exact, n)
        del vectors


def _ivfpq(vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, n: int) -> Iterator[dict[str, Any]]:
    lists = int(min(4096, max(64, 4 * np.sqrt(n))))
    gc.collect()
    before = rss_bytes()
    index = faiss.index_factory(DIMENSION, f"IVF{lists},PQ48", faiss.METRIC_INNER_PRODUCT)
    train = vectors[np.random.default_rng(2).choice(n, size=min(n, 50 * lists), replace=False)]

    def build() -> None:
        index.train(train)
        index.add(vectors)

    _, build_s = timed(build)
    for nprobe in (16, 64):
        index.nprobe = nprobe
        found = [index.search(q.reshape(1, -1), 10)[1][0] for q in queries]
        times = latencies(lambda i, x=index: x.search(queries[i].reshape(1, -1), 10), QUERIES)
        yield row("synthetic", n, "faiss", f"IVF{lists},PQ48 nprobe={nprobe}", build_s,
                  len(faiss.serialize_index(index)), rss_bytes() - before, times, recall_at(found, exact))


def _ivfflat(vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, n: int) -> Iterator[dict[str, Any]]:
    """IVF over exact vectors: k-means lists, ``nprobe`` of them scanned a query."""
    lists = int(min(4096, max(64, 4 * np.sqrt(n))))
    gc.collect()
    before = rss_bytes()
    quantizer = faiss.IndexFlatIP(DIMENSION)
    index = faiss.IndexIVFFlat(quantizer, DIMENSION, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10
    train = vectors[np.random.default_rng(2).choice(n, size=min(n, 30 * lists), replace=False)]

    def build() -> None:
        index.train(train)
        index.add(vectors)

    _, build_s = timed(build)
    growth = rss_bytes() - before
    for nprobe in (8, 16, 32, 64):
        index.nprobe = nprobe
        found = [index.search(q.reshape(1, -1), 10)[1][0] for q in queries]
        times = latencies(lambda i, x=index: x.search(queries[i].reshape(1, -1), 10), QUERIES)
        yield row("synthetic", n, "faiss", f"IVF{lists},Flat nprobe={nprobe}", build_s,
                  len(faiss.serialize_index(index)), growth, times, recall_at(found, exact))


def _milvus_dense(vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, n: int) -> Iterator[dict[str, Any]]:
    try:
        from pymilvus import DataType, MilvusClient
    except ImportError:
        print("milvus: pymilvus not installed (pip install -e '.[milvus]'); skipped", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        client = MilvusClient(str(Path(tmp) / "bench.db"))
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIMENSION)
        params = client.prepare_index_params()
        params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        client.create_collection("bench", schema=schema, index_params=params)
        gc.collect()
        before = rss_bytes()

        def load() -> None:
            step = 5000
            for start in range(0, n, step):
                block = vectors[start:start + step]
                client.insert("bench", [{"id": start + i, "vector": v} for i, v in enumerate(block.tolist())])
            client.flush("bench")
            client.load_collection("bench")

        _, build_s = timed(load)

        def search(i: int) -> list[int]:
            hits = client.search("bench", data=[queries[i].tolist()], anns_field="vector", limit=10,
                                 output_fields=["id"], search_params={"metric_type": "IP"})
            return [int(h["id"]) for h in hits[0]]

        found = [search(i) for i in range(QUERIES)]
        times = latencies(search, QUERIES)
        disk = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        yield row("synthetic", n, "milvus-lite", "FLAT", build_s, disk, rss_bytes() - before, times,
                  recall_at(found, exact), note="index_mb = file size on disk")
        client.close()


# --- seed and sample: the clause path (dense units + BM25, candidates then fusion) ----------

CANDIDATES = 100
ARTICLE = re.compile(r"^\s*第[一二三四五六七八九十百千零〇两0-9]+条")


def split_articles(text: str) -> list[str]:
    """Articles of a Markdown regulation: each line starting ``第…条`` opens one.

    Approximate on purpose (the real parser is ``retriever.parse``): headings, notes and
    amendment history before the first article are dropped, items stay inside their article.
    """
    articles: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if ARTICLE.match(line):
            articles.append([line])
        elif articles:
            articles[-1].append(line)
    return ["".join(a) for a in articles]


def sample_articles(corpus: Path, count: int, seed: int = 0) -> list[str]:
    """About ``count`` articles from whole files of ``corpus`` drawn at random (fixed seed)."""
    files = sorted(corpus.rglob("*.md"))
    if not files:
        raise SystemExit(f"no Markdown files under {corpus}: pass --corpus ../shared/corpora/laws")
    random.Random(seed).shuffle(files)
    out: list[str] = []
    for path in files:
        out.extend(a[:1000] for a in split_articles(path.read_text(encoding="utf-8", errors="replace")))
        if len(out) >= count:
            break
    return out[:count]


def gold_queries() -> list[str]:
    """Dev questions (never the test split) as the timed queries."""
    lines = (ROOT / "eval" / "gold_dev.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["query"] for line in lines if line.strip()]


def _minmax(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return np.zeros_like(values, dtype=np.float64) if high <= low else (values - low) / (high - low)


def fused_top(rows: np.ndarray, dense: np.ndarray, bm25: np.ndarray, k: int = 10) -> list[int]:
    """The engine's fusion without boosts: 0.6 * min-max(dense) + 0.4 * min-max(BM25)."""
    scores = 0.6 * _minmax(dense.astype(np.float64)) + 0.4 * _minmax(bm25.astype(np.float64))
    return rows[np.argsort(-scores, kind="stable")[:k]].tolist()


def bench_clauses(corpus: str, dense_flat: Any, lexical: Any, unit_clause: np.ndarray,
                  query_vectors: np.ndarray, query_tokens: list[list[str]], build_s: float,
                  texts: Sequence[str] | None, clause_vectors: np.ndarray | None) -> Iterator[dict[str, Any]]:
    """Full scan against candidates-then-fusion, exact against HNSW, then milvus-lite."""
    from retriever.candidates import gather_candidates
    from retriever.dense import DenseIndex

    clauses = lexical.size
    count = len(query_vectors)

    def full(i: int, index: Any = dense_flat) -> list[int]:
        dense = np.full(clauses, -1.0, dtype=np.float32)
        np.maximum.at(dense, unit_clause, index.scores(query_vectors[i]))
        return fused_top(np.arange(clauses), dense, lexical.scores(query_tokens[i]))

    exact = [full(i) for i in range(count)]
    flat_bytes = len(faiss.serialize_index(dense_flat._index))
    yield row(corpus, clauses, "faiss", "flat, full scan (today)", build_s, flat_bytes, 0,
              latencies(full, count), 1.0, units=dense_flat.size, queries=count)
    indexes = [("flat", dense_flat)]
    if dense_flat.size >= 2000:
        vectors = dense_flat._index.reconstruct_n(0, dense_flat.size)
        hnsw, hnsw_s = timed(lambda: DenseIndex.build(vectors, kind="hnsw"))
        indexes.append(("hnsw", hnsw))
        exact_dense = [dense_flat.top(q, 10)[0].tolist() for q in query_vectors]
        found = [hnsw.top(q, 10)[0].tolist() for q in query_vectors]
        yield row(corpus, clauses, "faiss", "hnsw dense top-10 " + json.dumps(hnsw.describe()["hnsw"]), hnsw_s,
                  len(faiss.serialize_index(hnsw._index)), 0,
                  latencies(lambda i: hnsw.top(query_vectors[i], 10), count), recall_at(found, np.array(exact_dense)))
    for name, index in indexes:
        def candidates(i: int, index: Any = index) -> list[int]:
            found = gather_candidates(index, lexical, unit_clause, query_vectors[i], query_tokens[i], CANDIDATES)
            return fused_top(found.rows, found.dense, found.bm25)

        got = [candidates(i) for i in range(count)]
        yield row(corpus, clauses, "faiss", f"{name}, candidates N={CANDIDATES} then fusion", build_s, 0, 0,
                  latencies(candidates, count), recall_at(got, np.array(exact)))
    if texts is not None and clause_vectors is not None:
        yield from _milvus_clauses(corpus, texts, clause_vectors, query_vectors, query_tokens, exact)


def _milvus_clauses(corpus: str, texts: Sequence[str], vectors: np.ndarray, query_vectors: np.ndarray,
                    query_tokens: list[list[str]], exact: list[list[int]]) -> Iterator[dict[str, Any]]:
    try:
        from retriever.stores.base import StoreRecord
        from retriever.stores.milvus import MilvusStore
    except ImportError:
        return
    with tempfile.TemporaryDirectory() as tmp:
        store = MilvusStore.open(str(Path(tmp) / "clauses.db"), dimension=vectors.shape[1])
        records = [StoreRecord(key=i, clause=str(i), document="sample", text=t, vector=v)
                   for i, (t, v) in enumerate(zip(texts, vectors, strict=True))]
        _, build_s = timed(lambda: (store.add(records), store.save()))
        queries = ["".join(tokens) for tokens in query_tokens]
        count = len(query_vectors)
        got = [store.hybrid(query_vectors[i], queries[i], 10).keys.tolist() for i in range(count)]
        disk = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        yield row(corpus, len(texts), "milvus-lite", "hybrid RRF (dense + jieba BM25)", build_s, disk, 0,
                  latencies(lambda i: store.hybrid(query_vectors[i], queries[i], 10), count),
                  recall_at(got, np.array(exact)), note="recall against the FAISS full-scan fusion (another fusion)")
        dense_exact = (vectors @ query_vectors.T).T.argsort(axis=1)[:, ::-1][:, :10]
        got = [store.top_dense(q, 10).keys.tolist() for q in query_vectors]
        yield row(corpus, len(texts), "milvus-lite", "dense top-10 (AUTOINDEX)", build_s, disk, 0,
                  latencies(lambda i: store.top_dense(query_vectors[i], 10), count), recall_at(got, dense_exact))
        store.close()


def bench_seed() -> Iterator[dict[str, Any]]:
    """The seed through the real engine (model, FAISS, jieba), then the clause path."""
    from retriever.search import open_searcher

    with tempfile.TemporaryDirectory() as tmp:
        searcher, build_s = timed(lambda: open_searcher(Path(tmp) / "index", seeds_dir=ROOT / "seeds",
                                                        build_if_missing=True))
        queries = gold_queries()
        times = latencies(lambda i: searcher.search(queries[i % len(queries)]), len(queries))
        yield row("seed", len(searcher.clauses), "faiss", "full engine (search(), query encoding included)",
                  build_s, 0, 0, times, None, queries=len(queries))
        index = searcher.index
        vectors = searcher.embedder.encode_queries(queries)
        tokens = [list(searcher.analyze(q).tokens) for q in queries]
        texts = [c.text for c in searcher.clauses]
        first_unit = np.searchsorted(index.unit_clause, np.arange(len(texts)))
        clause_vectors = index.dense._index.reconstruct_batch(first_unit)
        yield from bench_clauses("seed", index.dense, index.lexical, index.unit_clause, vectors, tokens,
                                 build_s, texts, clause_vectors)


def bench_sample(corpus: Path, count: int) -> Iterator[dict[str, Any]]:
    """A sample of the laws corpus (one unit per article), embedded with the real model."""
    from retriever.dense import DenseIndex
    from retriever.embed import SentenceTransformerEmbedder
    from retriever.lexical import LexicalIndex
    from retriever.lexicon import load_lexicon
    from retriever.segment import Segmenter

    texts = sample_articles(corpus, count)
    embedder = SentenceTransformerEmbedder()
    segmenter = Segmenter(load_lexicon().user_words())
    start = time.perf_counter()
    vectors = np.concatenate([embedder.encode_clauses(texts[i:i + 256]) for i in range(0, len(texts), 256)])
    embed_s = time.perf_counter() - start
    print(f"sample: {len(texts)} articles embedded in {embed_s:.0f} s ({len(texts) / embed_s:.1f}/s)",
          file=sys.stderr, flush=True)
    dense, dense_s = timed(lambda: DenseIndex.build(vectors, kind="flat"))
    lexical, lexical_s = timed(lambda: LexicalIndex.build(segmenter.tokens_many(texts)))
    queries = gold_queries()
    query_vectors = embedder.encode_queries(queries)
    tokens = [segmenter.tokens(q) for q in queries]
    yield from bench_clauses("sample", dense, lexical, np.arange(len(texts)), query_vectors, tokens,
                             embed_s + dense_s + lexical_s, texts, vectors)


def plot(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """p50 latency against corpus size, one line per backend and index (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        if '"ef_search"' in r["index"] and '"ef_search": 96' not in r["index"]:
            continue  # HNSW: the default efSearch only
        label = f"{r['corpus']}: {r['backend']} {r['index'].split(' {')[0]}"
        if r["corpus"] != "synthetic":
            label = f"clauses: {r['backend']} {r['index'].split(' {')[0]}"
        series.setdefault(label, []).append((r["size"], r["p50_ms"]))
    figure, axis = plt.subplots(figsize=(9, 5.5))
    for label, points in sorted(series.items()):
        points = sorted(dict(points).items())
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("corpus size (clauses or vectors)")
    axis.set_ylabel("query p50 (ms)")
    axis.set_title("duty-retriever: query latency against corpus size (shared 2-core machine; noisy)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


# --- entry point ----------------------------------------------------------------------------

def markdown(rows: Sequence[dict[str, Any]]) -> str:
    head = ("corpus", "size", "backend", "index", "build_s", "index_mb", "rss_growth_mb",
            "p50_ms", "p95_ms", "recall_at_10")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r.get(h, "")) for h in head) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("seed", "sample", "synthetic"), action="append",
                        help="run only these sections (repeatable); default: all")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="synthetic sizes, comma-separated")
    parser.add_argument("--kinds", default="hnsw,ivfpq", help="synthetic approximate kinds: hnsw, ivfflat, ivfpq")
    parser.add_argument("--milvus-max", type=int, default=100_000,
                        help="largest synthetic size also loaded into milvus-lite")
    parser.add_argument("--sample", type=int, default=5000, help="articles sampled from the laws corpus")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "laws")
    parser.add_argument("--threads", type=int, default=1,
                        help="FAISS OpenMP threads (1: on a shared machine more threads only wait on each other)")
    parser.add_argument("--json", type=Path, help="write the rows as JSON here")
    parser.add_argument("--plot", type=Path, help="write latency against corpus size as a PNG here")
    args = parser.parse_args(argv)
    sections = args.only or ["seed", "sample", "synthetic"]
    faiss.omp_set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    if args.json and args.json.exists():
        rows = [r for r in json.loads(args.json.read_text()) if r["corpus"] not in sections]
    for section in sections:
        if section == "synthetic":
            sizes = [int(s) for s in args.sizes.split(",") if s]
            source: Iterator[dict[str, Any]] = bench_synthetic(sizes, args.milvus_max, args.kinds.split(","))
        elif section == "sample":
            source = bench_sample(args.corpus, args.sample)
        else:
            source = bench_seed()
        for result in source:
            print(json.dumps(result, ensure_ascii=False), flush=True)
            rows.append(result)
            if args.json:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    print(f"\n{platform.node()} · {os.cpu_count()} cores · faiss {faiss.__version__}\n")
    print(markdown(rows))
    if args.plot:
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
