"""Growth benchmark for duty-retriever over the real engine (a measurement, not a test).

Corpora, smallest first, each measured in a fresh process (so its RSS is its own):

* ``seed``: ``seeds/`` (298 clauses), built with :func:`retriever.store.build_index`.
* ``sample``: every N-th regulation file of ``../shared/corpora/laws`` in sorted order
  (``--sample-every``, default 10), linked into a folder and built the same way; the loaded
  index (``auto``: exact flat below 50,000 units) and the other kinds built from its stored
  vectors (``--sample-kinds``).
* ``whole``: an index folder built elsewhere (``--whole-index``), loaded and measured; with
  ``--whole-approximate`` HNSW and IVF are also built from its stored vectors.
* ``synthetic``: ``--synthetic-size`` clustered 384-d unit vectors, dense path only: exact flat,
  the kind ``DenseIndex.build(kind="auto")`` picks at that size, and IVF-Flat, with a small sweep
  of efSearch / nprobe.
* ``milvus``: milvus-lite side by side (``--milvus-on seed,sample,synthetic``): the clause
  vectors and texts of the seed / sample builds in a :class:`retriever.stores.milvus.MilvusStore`,
  and synthetic vectors up to ``--milvus-max``. Engine-level Milvus (``Searcher(candidates=…)``)
  is pending the milvus branch; these rows time the store's own top-k calls.

Every clause row runs the full engine (:class:`retriever.search.Searcher`) over the same question
list (``eval/gold_test.jsonl`` + ``eval/gold_library_dev.jsonl``, cycled to ``--queries`` after
10 warm-up queries). ``p50_ms``/``p95_ms`` are the engine minus the model (each question's query
vector is encoded once beforehand and replayed); ``model_p50_ms``/``model_p95_ms`` are the same
questions with the model encoding every query. ``recall_at_10`` is the approximate index's dense
top-10 units against an exact flat scan of the same stored vectors, for the same query vectors.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_scale.py --only seed --json reports/scale-seed.json
    PYTHONPATH=src .venv/bin/python benchmarks/bench_scale.py --only sample \\
        --cache /work/laws-index/embeddings.sqlite --work /work/scale-work --json reports/scale-sample.json
    PYTHONPATH=src .venv/bin/python benchmarks/bench_scale.py --only whole --whole-index /work/laws-index \\
        --whole-approximate --json reports/scale-whole.json
    PYTHONPATH=src .venv/bin/python benchmarks/bench_scale.py --only synthetic --synthetic-size 1000000 \\
        --plot docs/scale-latency.png

Figures on a shared 2-core machine are noisy; rerun on a quiet one before quoting them.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from retriever.dense import DenseIndex
    from retriever.embed import Embedder
    from retriever.store import StoredIndex

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
LAWS = ROOT.parent / "shared" / "corpora" / "laws"
QUESTION_FILES = (ROOT / "eval" / "gold_test.jsonl", ROOT / "eval" / "gold_library_dev.jsonl")
SECTIONS = ("seed", "sample", "whole", "synthetic", "milvus")
KINDS = ("flat", "hnsw", "ivf")
DIMENSION = 384
WARMUP = 10
K = 10


# --- records ---------------------------------------------------------------------------------

@dataclass
class Row:
    """One measured configuration (a row of the table, an object of the JSON).

    Attributes:
        corpus: ``seed``, ``sample``, ``whole`` or ``synthetic``.
        clauses: clauses in the index (``None`` for synthetic vectors).
        units: dense vectors searched.
        backend: ``faiss`` or ``milvus-lite``.
        index: dense index kind and parameters (``flat``, ``hnsw M=32 efC=64 efSearch=96`` …).
        path: what was timed: ``engine`` (``Searcher.search``), ``dense top-10``, ``candidates``…
        build_s: build seconds (the manifest's ``build_seconds``; for a kind built from stored
            vectors, the manifest's total with its dense stage replaced by that build).
        stage_s: seconds per build stage (manifest ``stage_seconds``).
        index_mb: the build folder on disk (a derived kind: with its dense file in place of the
            stored one; milvus-lite: its data folder; synthetic: the serialised index).
        cache_mb: the embedding cache beside the index (``embeddings.sqlite``).
        rss_mb: this process's resident memory after loading (or building) the index.
        peak_rss_mb: this process's peak resident memory so far (``getrusage``).
        p50_ms, p95_ms: query latency without the model (query vectors precomputed).
        model_p50_ms, model_p95_ms: the same questions with the model encoding each query.
        recall_at_10: dense top-10 against an exact flat scan (1.0 for exact indexes).
        queries: timed queries (after the warm-up).
        reused: the build was found in ``--work`` and not rebuilt.
        auto: this is the kind ``DenseIndex.build(kind="auto")`` picks at this size.
        sweep: a search-parameter variant of a default row (left out of the plot).
        note: anything a reader needs to interpret the row.
    """

    corpus: str
    clauses: int | None
    units: int
    backend: str
    index: str
    path: str
    build_s: float | None = None
    stage_s: dict[str, float] = field(default_factory=dict)
    index_mb: float | None = None
    cache_mb: float | None = None
    rss_mb: float | None = None
    peak_rss_mb: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    model_p50_ms: float | None = None
    model_p95_ms: float | None = None
    recall_at_10: float | None = None
    queries: int = 0
    reused: bool = False
    auto: bool = False
    sweep: bool = False
    note: str = ""


@dataclass(frozen=True)
class Options:
    """The command line, as the sections use it (picklable for the child processes)."""

    work: Path
    cache: Path | None
    model: str | None
    threads: int
    queries: int
    sample_every: int
    laws: Path
    sample_kinds: tuple[str, ...]
    whole_index: Path | None
    whole_approximate: bool
    synthetic_size: int
    synthetic_kinds: tuple[str, ...]
    milvus_on: tuple[str, ...]
    milvus_max: int


# --- measuring -------------------------------------------------------------------------------

def rss_mb() -> float:
    """Resident set size of this process now, MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (``ru_maxrss`` is KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0–1), linear between ranks."""
    from retriever.bench import percentile as quantile

    return round(quantile(list(values), q), 3)


def folder_mb(path: Path, *, skip: Sequence[str] = ()) -> float:
    """Bytes of every file under ``path`` (links not followed), MiB."""
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink() and p.name not in skip)
    return round(total / 2**20, 1)


def cache_mb(root: Path) -> float | None:
    """The embedding cache of an index root (the SQLite file and its WAL), MiB."""
    from retriever.embedcache import CACHE_FILE

    files = [root / CACHE_FILE, root / f"{CACHE_FILE}-wal"]
    if not files[0].is_file():
        return None
    return round(sum(f.stat().st_size for f in files if f.is_file()) / 2**20, 1)


def latencies(run: Callable[[int], object], count: int) -> list[float]:
    """Milliseconds of ``run(i)`` for ``i`` in ``range(count)``, after :data:`WARMUP` untimed calls."""
    for i in range(min(WARMUP, count)):
        run(i)
    out = []
    for i in range(count):
        start = time.perf_counter()
        run(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and the seconds it took."""
    start = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - start, 3)


def recall_at(found: Sequence[np.ndarray], exact: np.ndarray, k: int = K) -> float:
    """Mean share of each exact top-k found in the approximate top-k."""
    shares = [len(set(f[:k].tolist()) & set(e[:k].tolist())) / k for f, e in zip(found, exact, strict=True)]
    return round(float(np.mean(shares)), 4)


def questions(count: int) -> list[str]:
    """The timed question list: the gold questions in file order, cycled to ``count``."""
    distinct: list[str] = []
    for path in QUESTION_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                distinct.append(json.loads(line)["query"])
    return [distinct[i % len(distinct)] for i in range(count)]


class ReplayEmbedder:
    """An embedder that remembers each query vector, so timed searches skip the model.

    The first search of a question encodes it with the model and keeps the vector; later ones
    get the kept vector. With ``replay`` off every query goes to the model (the with-model timing).
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.vectors: dict[str, np.ndarray] = {}
        self.replay = True

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not self.replay:
            return self.inner.encode_queries(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            self.vectors.update(zip(missing, self.inner.encode_queries(missing), strict=True))
        return np.stack([self.vectors[t] for t in texts])

    def encode_clauses(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.encode_clauses(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)


# --- dense indexes from stored vectors -------------------------------------------------------

def exact_index(dense: DenseIndex) -> Any:
    """An exact FAISS flat index over ``dense``'s stored vectors (shared, not copied, when it can be)."""
    import faiss

    index = dense._index  # the benchmark looks inside on purpose: it compares index kinds
    if isinstance(index, faiss.IndexHNSW):
        return faiss.downcast_index(index.storage)
    if isinstance(index, faiss.IndexIVF):
        flat = faiss.IndexFlatIP(index.d)
        for start in range(0, index.ntotal, 65_536):
            stop = min(index.ntotal, start + 65_536)
            flat.add(index.reconstruct_batch(np.arange(start, stop, dtype=np.int64)))
        return flat
    return index


def stored_vectors(flat: Any) -> np.ndarray:
    """The (n, d) float32 vectors inside a FAISS flat index, as a view (valid while it lives)."""
    import faiss

    return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)


def describe(dense: DenseIndex) -> str:
    """``flat``, ``hnsw M=32 efC=64 efSearch=96`` or ``ivf lists=… nprobe=…``."""
    info = dense.describe()
    if "hnsw" in info:
        h = info["hnsw"]
        return f"hnsw M={h['m']} efC={h['ef_construction']} efSearch={h['ef_search']}"
    if "ivf" in info:
        return f"ivf lists={info['ivf']['lists']} nprobe={info['ivf']['nprobe']}"
    return str(info["kind"])


def auto_kind(units: int) -> str:
    """The kind ``DenseIndex.build(kind="auto")`` builds for this many vectors."""
    from retriever.dense import APPROXIMATE_THRESHOLD

    return "hnsw" if units >= APPROXIMATE_THRESHOLD else "flat"


def dense_recall(dense: DenseIndex, exact: Any, vectors: np.ndarray) -> float:
    """Recall@10 of ``dense.top`` against an exact search of the same query vectors."""
    if len(vectors) == 0:
        return float("nan")
    truth = exact.search(np.ascontiguousarray(vectors, dtype=np.float32), K)[1]
    return recall_at([dense.top(v, K)[0] for v in vectors], truth)


def build_kind(vectors: np.ndarray, kind: str) -> tuple[DenseIndex, float]:
    """``DenseIndex.build(vectors, kind=kind)`` and its seconds."""
    from retriever.dense import DenseIndex

    started = time.perf_counter()
    dense = DenseIndex.build(vectors, kind=kind)  # type: ignore[arg-type]
    return dense, round(time.perf_counter() - started, 3)


def file_mb(dense: DenseIndex, folder: Path) -> float:
    """The size of ``dense`` as a FAISS file, MiB (written to ``folder`` and removed: no copy in memory)."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".size-probe-{os.getpid()}.faiss"
    try:
        dense.save(probe)
        return round(probe.stat().st_size / 2**20, 1)
    finally:
        probe.unlink(missing_ok=True)


# --- builds ----------------------------------------------------------------------------------

@dataclass
class Engine:
    """The parts every clause row shares: lexicon, segmenter and the (replaying) embedder."""

    lexicon: Any
    segmenter: Any
    embedder: ReplayEmbedder

    @classmethod
    def load(cls, model: str | None, embedder: Embedder | None = None) -> Engine:
        from retriever.embed import load_embedder
        from retriever.lexicon import load_lexicon
        from retriever.segment import Segmenter

        lexicon = load_lexicon()
        return cls(lexicon, Segmenter(lexicon.user_words()), ReplayEmbedder(embedder or load_embedder(model)))


def sample_corpus(laws: Path, every: int, folder: Path) -> list[str]:
    """Link every ``every``-th regulation file of ``laws`` (sorted) into ``folder``; the relative paths."""
    from retriever.library import library_files

    if every < 1:
        raise SystemExit(f"--sample-every must be at least 1, not {every}.")
    if not laws.is_dir():
        raise SystemExit(f"no corpus at {laws}: pass --laws with the folder of the laws corpus.")
    files, _ = library_files([laws])
    chosen = [path.relative_to(root) for path, root in files][::every]
    if folder.exists():
        for link in sorted(folder.rglob("*"), reverse=True):
            if link.is_symlink() or link.is_file():
                link.unlink()
            elif link.is_dir():
                link.rmdir()
    for relative in chosen:
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to((laws / relative).resolve())
    return [p.as_posix() for p in chosen]


def unit_texts(seeds: Path) -> list[str]:
    """The dense unit texts a build of ``seeds`` embeds (as :func:`retriever.store.build_index` derives them)."""
    from retriever.library import load_library
    from retriever.store import clause_units, with_bodies

    library = load_library([seeds])
    return [u.text for u in clause_units(with_bodies(library.clauses, list(library.documents)))]


def seed_cache(source: Path, root: Path, texts: Sequence[str], model_id: str, dimension: int) -> int:
    """Copy the cached vectors of ``texts`` from another embedding cache into ``root``'s; rows copied.

    The source is opened read-only (it may be another build's live cache) and only the rows this
    build needs are copied, so the sample's cache on disk is its own size.
    """
    from retriever.embedcache import CACHE_FILE, EmbeddingCache, text_key

    if not source.is_file():
        raise SystemExit(f"no embedding cache at {source}: pass --cache with an embeddings.sqlite file.")
    keys = list(dict.fromkeys(text_key(t) for t in texts))
    with EmbeddingCache(root / CACHE_FILE, model_id, dimension) as target:
        have = set(target.get_many(keys))
        wanted = [k for k in keys if k not in have]
        db = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=60)
        copied = 0
        try:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(f"SELECT text_sha256, vector FROM vectors WHERE model = ? AND dimension = ? "
                                  f"AND text_sha256 IN ({marks})", (model_id, dimension, *chunk)).fetchall()
                if rows:
                    vectors = np.stack([np.frombuffer(blob, dtype=np.float32) for _, blob in rows])
                    target.put_many([key for key, _ in rows], vectors)
                    copied += len(rows)
        finally:
            db.close()
    return copied


def ensure_build(seeds: Path, root: Path, engine: Engine, *, kind: str = "auto",
                 cache: Path | None = None) -> tuple[StoredIndex, bool]:
    """The index of ``seeds`` in ``root``: reused when its manifest matches, else built. ``(index, reused)``."""
    from retriever.errors import IndexMissingError, IndexStateError
    from retriever.store import build_index, load_index

    def load() -> StoredIndex:
        return load_index(root, seeds_dir=seeds, lexicon=engine.lexicon, segmenter=engine.segmenter,
                          model_id=engine.embedder.model_id)

    try:
        index = load()
        if kind == "auto" or index.manifest.get("dense", {}).get("kind") == kind:
            return index, True
    except (IndexMissingError, IndexStateError) as problem:
        print(f"building {root}: {problem}", file=sys.stderr)
    if cache is not None:
        copied = seed_cache(cache, root, unit_texts(seeds), engine.embedder.model_id, engine.embedder.dimension)
        print(f"{root}: {copied} vectors copied from {cache}", file=sys.stderr)
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        if time.monotonic() - last[0] > 30 or done == total:
            last[0] = time.monotonic()
            print(f"  {root.name}: {stage} {done}/{total}", file=sys.stderr, flush=True)

    build_index(seeds, root, engine.embedder, engine.lexicon, engine.segmenter, progress=progress,
                dense_kind=kind)  # type: ignore[arg-type]
    return load(), False


# --- clause rows: the engine over a loaded index ---------------------------------------------

def engine_times(searcher: Any, asked: Sequence[str]) -> list[float]:
    """Milliseconds of ``searcher.search`` for each question (after the warm-up)."""
    return latencies(lambda i: searcher.search(asked[i]), len(asked))


def clause_rows(corpus: str, index: StoredIndex, engine: Engine, options: Options, *, reused: bool,
                kinds: Sequence[str], root: Path | None) -> Iterator[Row]:
    """The loaded index through the engine (without and with the model), then each other kind."""
    from retriever.candidates import FaissCandidates
    from retriever.dense import DenseIndex
    from retriever.search import Searcher

    loaded_rss, loaded_peak = rss_mb(), peak_rss_mb()
    asked = questions(options.queries)
    manifest = index.manifest
    stages = {k: float(v) for k, v in manifest.get("stage_seconds", {}).items()}
    base = Row(corpus=corpus, clauses=len(index.clauses), units=index.dense.size, backend="faiss",
               index=describe(index.dense), path="engine", build_s=manifest.get("build_seconds"), stage_s=stages,
               index_mb=folder_mb(index.folder), cache_mb=cache_mb(root) if root else None,
               rss_mb=loaded_rss, peak_rss_mb=loaded_peak, queries=len(asked), reused=reused,
               auto=index.dense.kind == auto_kind(index.dense.size))
    searcher = Searcher(index, engine.embedder, engine.lexicon, engine.segmenter)
    for question in dict.fromkeys(asked):  # each distinct question's vector, encoded once
        searcher.search(question)
    times = engine_times(searcher, asked)
    engine.embedder.replay = False
    with_model = engine_times(searcher, asked)
    engine.embedder.replay = True
    query_vectors = np.stack(list(engine.embedder.vectors.values())) if engine.embedder.vectors else np.zeros((0, 1))
    exact = exact_index(index.dense)
    recall = 1.0 if index.dense.kind == "flat" else dense_recall(index.dense, exact, query_vectors)
    yield replace(base, p50_ms=percentile(times, 0.5), p95_ms=percentile(times, 0.95),
                  model_p50_ms=percentile(with_model, 0.5), model_p95_ms=percentile(with_model, 0.95),
                  recall_at_10=recall, note=f"{len(query_vectors)} distinct query vectors")
    vectors = stored_vectors(exact)
    dense_file = (index.folder / "dense.faiss").stat().st_size / 2**20
    for kind in kinds:
        if kind == index.dense.kind:
            continue
        gc.collect()
        variant, seconds = (DenseIndex(exact), 0.0) if kind == "flat" else build_kind(vectors, kind)
        searcher = Searcher(index, engine.embedder, engine.lexicon, engine.segmenter,
                            candidates=FaissCandidates(variant, index.lexical, index.unit_clause))
        times = engine_times(searcher, asked)
        # What the build would have cost and weighed with this kind: the manifest's stages with
        # the dense stage replaced, the folder with this dense file in place of the stored one.
        total = None if base.build_s is None else round(base.build_s - stages.get("dense", 0.0) + seconds, 3)
        size = None if base.index_mb is None else round(base.index_mb - dense_file + file_mb(variant, options.work), 1)
        how = "the flat storage, no build" if kind == "flat" else "built from the stored vectors"
        yield replace(base, index=describe(variant), build_s=total, stage_s={**stages, "dense": seconds},
                      index_mb=size, rss_mb=rss_mb(), peak_rss_mb=peak_rss_mb(), p50_ms=percentile(times, 0.5),
                      p95_ms=percentile(times, 0.95), model_p50_ms=None, model_p95_ms=None,
                      recall_at_10=1.0 if kind == "flat" else dense_recall(variant, exact, query_vectors),
                      reused=False, auto=kind == auto_kind(variant.size), note=f"dense index: {how}")
        del searcher, variant


def bench_seed(options: Options, engine: Engine | None = None) -> list[Row]:
    engine = engine or Engine.load(options.model)
    root = options.work / "seed" / "index"
    index, reused = ensure_build(SEEDS, root, engine, cache=options.cache)
    return list(clause_rows("seed", index, engine, options, reused=reused, kinds=(), root=root))


def sample_paths(options: Options) -> tuple[Path, Path]:
    """The sample's corpus folder and index root under ``--work``."""
    folder = options.work / f"sample-every-{options.sample_every}"
    return folder / "corpus", folder / "index"


def bench_sample(options: Options, engine: Engine | None = None) -> list[Row]:
    engine = engine or Engine.load(options.model)
    corpus, root = sample_paths(options)
    files = sample_corpus(options.laws, options.sample_every, corpus)
    index, reused = ensure_build(corpus, root, engine, cache=options.cache)
    rows = list(clause_rows("sample", index, engine, options, reused=reused, kinds=options.sample_kinds, root=root))
    for row in rows:
        row.note = f"every {options.sample_every}th file ({len(files)} files); " + row.note
    return rows


def bench_whole(options: Options, engine: Engine | None = None) -> list[Row]:
    from retriever.store import load_index

    if options.whole_index is None:
        raise SystemExit("--only whole needs --whole-index DIR (an index built with `retriever build`).")
    engine = engine or Engine.load(options.model)
    index = load_index(options.whole_index, lexicon=engine.lexicon, segmenter=engine.segmenter,
                       model_id=engine.embedder.model_id)
    kinds = ("flat", "hnsw", "ivf") if options.whole_approximate else ("flat",)
    return list(clause_rows("whole", index, engine, options, reused=True, kinds=kinds, root=options.whole_index))


# --- synthetic: dense path only --------------------------------------------------------------

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


SWEEP = {"hnsw": (64, 128, 256), "ivf": (8, 32, 64)}
"""Search parameters tried beside the defaults: efSearch for HNSW, nprobe for IVF."""


def _with_search_parameter(dense: DenseIndex, value: int) -> None:
    index: Any = dense._index
    if dense.kind == "hnsw":
        index.hnsw.efSearch = value
    else:
        index.nprobe = value


def dense_run(dense: DenseIndex, queries: np.ndarray) -> tuple[list[float], list[np.ndarray]]:
    """Milliseconds of each single-query top-10 (after the warm-up), and the ids found."""
    times = latencies(lambda i: dense.top(queries[i], K), len(queries))
    return times, [dense.top(q, K)[0] for q in queries]


GOAL_P50_MS = 20.0
GOAL_RECALL = 0.98
"""The dense-path goal at a million vectors: p50 at most 20 ms with recall@10 at least 0.98."""


def with_goal(row: Row) -> Row:
    """``row`` with a note saying whether it meets the dense-path goal."""
    met = (row.p50_ms or math.inf) <= GOAL_P50_MS and (row.recall_at_10 or 0.0) >= GOAL_RECALL
    goal = f"goal p50 ≤ {GOAL_P50_MS:g} ms & recall@10 ≥ {GOAL_RECALL}: {'met' if met else 'NOT met'}"
    return replace(row, note=f"{row.note}; {goal}" if row.note else goal)


def bench_synthetic(options: Options) -> list[Row]:

    n = options.synthetic_size
    vectors = synthetic_vectors(n)
    queries = synthetic_vectors(options.queries, seed=1)
    kinds = list(dict.fromkeys(auto_kind(n) if k == "auto" else k for k in options.synthetic_kinds))
    rows: list[Row] = []
    flat, flat_s = build_kind(vectors, "flat")
    del vectors  # the flat index holds the only copy from here on
    vectors = stored_vectors(flat._index)
    truth = flat._index.search(queries, K)[1]
    for kind in kinds:
        gc.collect()
        before = rss_mb()
        dense, seconds = (flat, flat_s) if kind == "flat" else build_kind(vectors, kind)
        base = Row(corpus="synthetic", clauses=None, units=n, backend="faiss", index=describe(dense),
                   path="dense top-10", build_s=seconds, stage_s={"dense": seconds},
                   index_mb=file_mb(dense, options.work),
                   rss_mb=rss_mb(), peak_rss_mb=peak_rss_mb(), queries=len(queries), auto=kind == auto_kind(n),
                   note="exact: the reference for recall" if kind == "flat"
                   else f"building it grew RSS by {rss_mb() - before:.0f} MiB")
        times, found = dense_run(dense, queries)
        rows.append(with_goal(replace(base, p50_ms=percentile(times, 0.5), p95_ms=percentile(times, 0.95),
                                      recall_at_10=recall_at(found, truth))))
        default = describe(dense)
        for value in SWEEP.get(kind, ()):
            _with_search_parameter(dense, value)
            times, found = dense_run(dense, queries)
            rows.append(with_goal(replace(base, index=describe(dense), p50_ms=percentile(times, 0.5),
                                          p95_ms=percentile(times, 0.95), recall_at_10=recall_at(found, truth),
                                          auto=False, sweep=True, note=f"search-parameter sweep of {default}")))
        if dense is not flat:
            del dense
    return rows


# --- milvus-lite -----------------------------------------------------------------------------

def milvus_available() -> bool:
    try:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError:
        print("milvus: pymilvus / milvus-lite not installed (pip install -e '.[milvus]'); skipped",
              file=sys.stderr)
        return False
    return True


def milvus_clause_rows(corpus: str, index: StoredIndex, engine: Engine, options: Options) -> Iterator[Row]:
    """The index's clauses in milvus-lite: dense top-10, the engine's candidate calls, hybrid; FAISS candidates."""
    import faiss

    from retriever.candidates import FaissCandidates, Query
    from retriever.search import Searcher, SearchSettings
    from retriever.store import lexical_text
    from retriever.stores.base import StoreRecord
    from retriever.stores.milvus import MilvusStore

    asked = questions(options.queries)
    searcher = Searcher(index, engine.embedder, engine.lexicon, engine.segmenter)
    analyses = {q: searcher.analyze(q) for q in dict.fromkeys(asked)}
    vectors = {q: engine.embedder.encode_queries([a.text])[0] for q, a in analyses.items()}
    n = SearchSettings().candidates
    clauses = len(index.clauses)
    first_unit = np.searchsorted(index.unit_clause, np.arange(clauses))
    clause_vectors = np.ascontiguousarray(stored_vectors(exact_index(index.dense))[first_unit])
    regions = {d.id: d.region or "" for d in index.documents}
    records = [StoreRecord(key=row, clause=c.id, document=c.document, text=lexical_text(c),
                           vector=clause_vectors[row], departments=tuple(c.departments[:64]),
                           region=regions.get(c.document, "")) for row, c in enumerate(index.clauses)]
    exact = faiss.IndexFlatIP(clause_vectors.shape[1])
    exact.add(clause_vectors)
    query_matrix = np.stack([vectors[q] for q in asked])
    truth = exact.search(query_matrix, K)[1]

    source = FaissCandidates(index.dense, index.lexical, index.unit_clause)
    faiss_queries = [Query(vector=vectors[q], tokens=analyses[q].tokens, text=analyses[q].text) for q in asked]
    times = latencies(lambda i: source.gather(faiss_queries[i], n), len(asked))
    base = Row(corpus=corpus, clauses=clauses, units=index.dense.size, backend="faiss", index=describe(index.dense),
               path=f"candidates: dense+BM25 top-{n} (FaissCandidates.gather)", queries=len(asked),
               build_s=index.manifest.get("build_seconds"), rss_mb=rss_mb(), peak_rss_mb=peak_rss_mb(),
               index_mb=folder_mb(index.folder))
    yield replace(base, p50_ms=percentile(times, 0.5), p95_ms=percentile(times, 0.95),
                  note="query vectors precomputed; no fusion")

    with tempfile.TemporaryDirectory(dir=options.work, prefix=f"milvus-{corpus}-") as tmp:
        def load() -> MilvusStore:
            store = MilvusStore.open(str(Path(tmp) / "clauses.db"), dimension=clause_vectors.shape[1])
            store.add(records)
            store.save()
            return store

        store, seconds = timed(load)
        try:
            base = replace(base, backend="milvus-lite", index="AUTOINDEX (IP) + BM25 sparse (jieba)", units=clauses,
                           build_s=seconds, stage_s={"insert": seconds}, index_mb=folder_mb(Path(tmp)),
                           rss_mb=rss_mb(), peak_rss_mb=peak_rss_mb(),
                           note="one vector per clause (no sentence units); vectors from the FAISS build; "
                                "RSS is this client's, milvus-lite's server runs in another process")
            times = latencies(lambda i: store.top_dense(query_matrix[i], K), len(asked))
            found = [store.top_dense(v, K).keys for v in query_matrix]
            yield replace(base, path="dense top-10", p50_ms=percentile(times, 0.5), p95_ms=percentile(times, 0.95),
                          recall_at_10=recall_at(found, truth))

            def candidates(i: int) -> None:
                store.top_dense(query_matrix[i], n)
                store.top_lexical(analyses[asked[i]].text, n)

            times = latencies(candidates, len(asked))
            yield replace(base, path=f"candidates: dense top-{n} + BM25 top-{n} (two calls)",
                          p50_ms=percentile(times, 0.5), p95_ms=percentile(times, 0.95),
                          note=base.note + "; engine-level Milvus row pending the milvus branch")
            times = latencies(lambda i: store.hybrid(query_matrix[i], analyses[asked[i]].text, K), len(asked))
            yield replace(base, path="hybrid RRF top-10 (one call)", p50_ms=percentile(times, 0.5),
                          p95_ms=percentile(times, 0.95))
        finally:
            store.close()


def milvus_synthetic_rows(options: Options) -> Iterator[Row]:
    """Synthetic vectors in a plain milvus-lite collection (AUTOINDEX, IP): dense top-10."""
    import faiss
    from pymilvus import DataType, MilvusClient

    n = min(options.synthetic_size, options.milvus_max)
    if n < 1:
        return
    vectors = synthetic_vectors(n)
    queries = synthetic_vectors(options.queries, seed=1)
    exact = faiss.IndexFlatIP(DIMENSION)
    exact.add(vectors)
    truth = exact.search(queries, K)[1]
    with tempfile.TemporaryDirectory(dir=options.work, prefix="milvus-synthetic-") as tmp:
        client = MilvusClient(str(Path(tmp) / "bench.db"))
        try:
            schema = client.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIMENSION)
            params = client.prepare_index_params()
            params.add_index(field_name="vector", index_type="AUTOINDEX", metric_type="IP")
            client.create_collection("bench", schema=schema, index_params=params)

            def load() -> None:
                for start in range(0, n, 5000):
                    block = vectors[start:start + 5000].tolist()
                    client.insert("bench", [{"id": start + i, "vector": v} for i, v in enumerate(block)])
                client.flush("bench")
                client.load_collection("bench")

            _, seconds = timed(load)

            def search(i: int) -> np.ndarray:
                hits = client.search("bench", data=[queries[i].tolist()], anns_field="vector", limit=K,
                                     output_fields=["id"], search_params={"metric_type": "IP"})
                return np.array([int(h["id"]) for h in hits[0]], dtype=np.int64)

            times = latencies(search, len(queries))
            found = [search(i) for i in range(len(queries))]
            yield Row(corpus="synthetic", clauses=None, units=n, backend="milvus-lite", index="AUTOINDEX (IP)",
                      path="dense top-10", build_s=seconds, stage_s={"insert": seconds}, index_mb=folder_mb(Path(tmp)),
                      rss_mb=rss_mb(), peak_rss_mb=peak_rss_mb(), p50_ms=percentile(times, 0.5),
                      p95_ms=percentile(times, 0.95), recall_at_10=recall_at(found, truth), queries=len(queries),
                      note="RSS is this client's; milvus-lite's server runs in another process")
        finally:
            client.close()


def bench_milvus(options: Options, engine: Engine | None = None) -> list[Row]:
    if not milvus_available():
        return []
    rows: list[Row] = []
    if "seed" in options.milvus_on or "sample" in options.milvus_on:
        engine = engine or Engine.load(options.model)
    if "seed" in options.milvus_on and engine is not None:
        index, _ = ensure_build(SEEDS, options.work / "seed" / "index", engine, cache=options.cache)
        rows += milvus_clause_rows("seed", index, engine, options)
    if "sample" in options.milvus_on and engine is not None:
        corpus, root = sample_paths(options)
        sample_corpus(options.laws, options.sample_every, corpus)
        index, _ = ensure_build(corpus, root, engine, cache=options.cache)
        rows += milvus_clause_rows("sample", index, engine, options)
    if "synthetic" in options.milvus_on:
        rows += milvus_synthetic_rows(options)
    return rows


# --- running and reporting -------------------------------------------------------------------

def run_section(name: str, options: Options) -> list[Row]:
    """One section's rows, measured in this process (FAISS threads set first)."""
    import faiss

    faiss.omp_set_num_threads(options.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    options.work.mkdir(parents=True, exist_ok=True)
    runners: dict[str, Callable[[Options], list[Row]]] = {
        "seed": bench_seed, "sample": bench_sample, "whole": bench_whole,
        "synthetic": bench_synthetic, "milvus": bench_milvus}
    return runners[name](options)


def run_isolated(name: str, options: Options) -> list[Row]:
    """:func:`run_section` in a fresh process, so RSS and peak RSS are the section's own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(run_section, name, options).result()


COLUMNS = (("corpus", "corpus"), ("clauses", "clauses"), ("units", "units"), ("backend", "backend"),
           ("index", "index"), ("path", "path"), ("build_s", "build s"), ("stage_s", "stages s"),
           ("index_mb", "index MB"), ("cache_mb", "cache MB"), ("rss_mb", "RSS MB"), ("peak_rss_mb", "peak MB"),
           ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("model_p50_ms", "p50 ms +model"),
           ("model_p95_ms", "p95 ms +model"), ("recall_at_10", "recall@10"), ("note", "note"))


def cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, dict):
        return " ".join(f"{k} {cell(float(v))}" for k, v in value.items()) or "—"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return str(value)


def markdown(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table (the kind ``auto`` picks is marked with *)."""
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |",
             "|" + "|".join("---" if key in ("corpus", "backend", "index", "path", "stage_s", "note") else "---:"
                            for key, _ in COLUMNS) + "|"]
    for row in rows:
        values = asdict(row)
        cells = [f"{row.recall_at_10:.4f}" if key == "recall_at_10" and row.recall_at_10 is not None
                 else cell(values[key]) for key, _ in COLUMNS]
        if row.auto:
            cells[4] += " *"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: Sequence[Row], path: Path) -> None:
    """Query latency p50 against units searched (log x), one line per backend / index kind / path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for row in rows:
        if row.sweep or row.p50_ms is None:
            continue
        series = f"{row.backend} {row.index.split()[0]}"
        timed_path = row.path.split(":")[0].split(" (")[0]
        lines.setdefault((series, timed_path), []).append((row.units, row.p50_ms))
        if row.model_p50_ms is not None:
            lines.setdefault((series, f"{timed_path} + model"), []).append((row.units, row.model_p50_ms))
    styles = {"engine": ("-", "o"), "engine + model": ("-.", "s"), "dense top-10": ("--", "^"),
              "candidates": (":", "x")}
    colours = {series: f"C{i}" for i, series in enumerate(sorted({s for s, _ in lines}))}
    figure, axes = plt.subplots(figsize=(8, 5))
    for (series, timed_path), points in sorted(lines.items()):
        points.sort()
        line, marker = styles.get(timed_path, (":", "D"))
        axes.plot([p[0] for p in points], [p[1] for p in points], marker=marker, color=colours[series],
                  linestyle=line, label=f"{series} · {timed_path}")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("dense units searched (log)")
    axes.set_ylabel("query latency p50, ms (log)")
    axes.set_title("duty-retriever: query latency against corpus size")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def kinds_list(text: str, allowed: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in chosen if k not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}: use {', '.join(allowed)}")
    return chosen


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Options]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=SECTIONS,
                        help="run this section (repeatable; default: seed, sample, synthetic, milvus, "
                             "and whole when --whole-index is given)")
    parser.add_argument("--work", type=Path, help="build folder for seed/sample (reused when it matches; "
                                                  "default: a temporary folder)")
    parser.add_argument("--cache", type=Path, help="an embeddings.sqlite whose vectors seed/sample builds reuse "
                                                   "(e.g. /work/laws-index/embeddings.sqlite)")
    parser.add_argument("--model", help="embedding model (default: the built-in e5-small int8)")
    parser.add_argument("--threads", type=int, default=1, help="FAISS OpenMP threads (default 1)")
    parser.add_argument("--blas-threads", type=int,
                        help="OpenBLAS threads of the measured processes (default: OpenBLAS's own, as the "
                             "server runs; 1 avoids numpy's threads waiting on a busy machine)")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per row (default 200)")
    parser.add_argument("--sample-every", type=int, default=10, help="take every N-th law file (default 10)")
    parser.add_argument("--laws", type=Path, default=LAWS, help=f"the laws corpus (default {LAWS})")
    parser.add_argument("--sample-kinds", type=lambda t: kinds_list(t, KINDS), default=KINDS,
                        help="dense kinds measured on the sample (default flat,hnsw,ivf)")
    parser.add_argument("--whole-index", type=Path, help="an index root built from the whole laws corpus")
    parser.add_argument("--whole-approximate", action="store_true",
                        help="also build HNSW and IVF from the whole index's vectors (slow: minutes)")
    parser.add_argument("--synthetic-size", type=int, default=1_000_000, help="synthetic vectors (default 1,000,000)")
    parser.add_argument("--synthetic-kinds", type=lambda t: kinds_list(t, (*KINDS, "auto")),
                        default=("flat", "auto", "ivf"),
                        help="dense kinds on synthetic vectors (default flat,auto,ivf; auto = what "
                             "DenseIndex picks at that size)")
    parser.add_argument("--milvus-on", type=lambda t: kinds_list(t, ("seed", "sample", "synthetic")),
                        default=("seed", "sample", "synthetic"), help="corpora of the milvus section")
    parser.add_argument("--milvus-max", type=int, default=100_000,
                        help="synthetic vectors loaded into milvus-lite at most (default 100,000)")
    parser.add_argument("--in-process", action="store_true",
                        help="run sections in this process (RSS figures then accumulate)")
    parser.add_argument("--merge", type=Path, action="append", default=[],
                        help="start from the rows of an earlier --json file (repeatable); with no --only, "
                             "nothing is run: the files are merged into one table and plot")
    parser.add_argument("--json", type=Path, help="write the rows as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the Markdown table here too")
    parser.add_argument("--plot", type=Path, help="write a PNG of p50 latency against size here")
    args = parser.parse_args(argv)
    if args.queries < 1 or args.threads < 1:
        parser.error("--queries and --threads must be at least 1")
    if "whole" in (args.only or ()) and args.whole_index is None:
        parser.error("--only whole needs --whole-index DIR (an index built with `retriever build`)")
    work = args.work or Path(tempfile.gettempdir()) / f"bench-scale-{os.getpid()}"  # removed at the end
    options = Options(work=work.resolve(), cache=args.cache.resolve() if args.cache else None, model=args.model,
                      threads=args.threads, queries=args.queries, sample_every=args.sample_every,
                      laws=args.laws, sample_kinds=args.sample_kinds, whole_index=args.whole_index,
                      whole_approximate=args.whole_approximate, synthetic_size=args.synthetic_size,
                      synthetic_kinds=args.synthetic_kinds, milvus_on=args.milvus_on, milvus_max=args.milvus_max)
    return args, options


def main(argv: Sequence[str] | None = None) -> int:
    args, options = parse_args(argv)
    default = [] if args.merge else [s for s in SECTIONS if s != "whole" or options.whole_index]
    sections = args.only or default
    rows: list[Row] = []
    runs: list[dict[str, Any]] = []
    for path in args.merge:
        earlier = json.loads(path.read_text(encoding="utf-8"))
        runs += earlier.get("runs") or [earlier.get("machine", {})]
        rows += [Row(**row) for row in earlier["rows"]]
    if args.blas_threads:
        if args.in_process:
            print("--blas-threads applies to the section processes only, not with --in-process", file=sys.stderr)
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.blas_threads)  # read when a spawned section imports numpy
    if sections:
        runs.append(machine(options))
    for name in SECTIONS:
        if name not in sections:
            continue
        started = time.perf_counter()
        found = run_section(name, options) if args.in_process else run_isolated(name, options)
        print(f"{name}: {len(found)} rows in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        rows += found
        if args.json:  # written after every section, so a long run keeps what it measured
            write_json(args.json, runs, rows)
    if args.json and not sections:
        write_json(args.json, runs, rows)
    table = markdown(rows)
    for run in runs:
        print(f"\n{', '.join(f'{k} {v}' for k, v in run.items())}")
    print(f"\n{table}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table + "\n", encoding="utf-8")
    if args.plot:
        plot(rows, args.plot)
    if args.work is None:
        shutil.rmtree(options.work, ignore_errors=True)
    return 0


def write_json(path: Path, runs: Sequence[dict[str, Any]], rows: Sequence[Row]) -> None:
    """The rows and where they were measured (one entry per run merged)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": runs[-1] if runs else {}, "runs": list(runs),
                                "rows": [asdict(r) for r in rows]}, ensure_ascii=False, indent=1, default=str),
                    encoding="utf-8")


def machine(options: Options) -> dict[str, Any]:
    """Where and how the figures were taken."""
    import faiss

    load = float("nan")
    with contextlib.suppress(OSError):
        load = os.getloadavg()[0]
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "host": platform.node(), "cores": os.cpu_count(),
            "load_1min": round(load, 1),
            "faiss": faiss.__version__, "faiss_threads": options.threads,
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"), "queries": options.queries,
            "warmup": WARMUP, "work": str(options.work)}


if __name__ == "__main__":
    sys.exit(main())
