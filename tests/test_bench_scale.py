"""The growth benchmark (benchmarks/bench_scale.py) on the seed and 2,000 synthetic vectors: rows, reuse, output."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from retriever.embedcache import EmbeddingCache, text_key

from .conftest import ROOT, FakeEmbedder


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "bench_scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module  # dataclasses look their module up while building the class
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


@pytest.fixture
def options(tmp_path: Path):  # type: ignore[no-untyped-def]
    _, parsed = bench.parse_args(["--work", str(tmp_path / "work"), "--queries", "12",
                                  "--synthetic-size", "2000", "--synthetic-kinds", "flat,hnsw,ivf"])
    return parsed


def test_questions_cycle_the_gold_questions() -> None:
    # More than the gold files hold (the library dev split keeps growing), so the list must cycle.
    lines = sum(1 for path in bench.QUESTION_FILES for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip())
    count = 2 * lines
    asked = bench.questions(count)
    distinct = list(dict.fromkeys(asked))
    assert len(asked) == count and len(distinct) < count
    assert asked[len(distinct)] == asked[0]  # cycled after the last distinct question
    assert asked[0] == json.loads((ROOT / "eval" / "gold_test.jsonl").read_text(encoding="utf-8")
                                  .splitlines()[0])["query"]


def test_replay_embedder_encodes_each_query_once(fake_embedder: FakeEmbedder) -> None:
    replay = bench.ReplayEmbedder(fake_embedder)
    first = replay.encode_queries(["消防", "燃气"])
    calls = fake_embedder.calls
    again = replay.encode_queries(["燃气", "消防"])
    assert fake_embedder.calls == calls  # replayed, no model call
    np.testing.assert_array_equal(again, first[::-1])
    replay.replay = False
    replay.encode_queries(["消防"])
    assert fake_embedder.calls == calls + 1  # with the model: every query encoded


def test_seed_cache_copies_only_the_needed_rows(tmp_path: Path) -> None:
    vectors = np.eye(3, 384, dtype=np.float32)
    with EmbeddingCache(tmp_path / "source.sqlite", "m", 384) as source:
        source.put_many([text_key(t) for t in ("甲", "乙", "丙")], vectors)
    copied = bench.seed_cache(tmp_path / "source.sqlite", tmp_path / "root", ["乙", "丙", "丁"], "m", 384)
    assert copied == 2  # 丁 is not in the source
    with EmbeddingCache(tmp_path / "root" / "embeddings.sqlite", "m", 384) as target:
        assert target.count() == 2
        np.testing.assert_array_equal(target.get_many([text_key("丙")])[text_key("丙")], vectors[2])


def test_seed_rows_run_the_engine_and_reuse_the_build(options, fake_embedder: FakeEmbedder) -> None:  # type: ignore[no-untyped-def]
    from retriever.lexicon import load_lexicon
    from retriever.segment import Segmenter

    lexicon = load_lexicon()
    engine = bench.Engine(lexicon, Segmenter(lexicon.user_words()), bench.ReplayEmbedder(fake_embedder))
    rows = bench.bench_seed(options, engine)
    assert len(rows) == 1
    row = rows[0]
    manifest = json.loads((options.work / "seed" / "index" / "current" / "manifest.json").read_text())
    assert (row.corpus, row.clauses, row.units) == ("seed", 298, manifest["counts"]["units"])
    assert (row.index, row.auto, row.recall_at_10, row.queries) == ("flat", True, 1.0, 12)
    assert row.build_s == manifest["build_seconds"] and row.stage_s == manifest["stage_seconds"]
    assert row.p50_ms is not None and row.model_p50_ms is not None and row.p95_ms >= row.p50_ms
    assert row.index_mb and row.rss_mb and row.peak_rss_mb  # peak: getrusage, sampled apart from VmRSS
    _, reused = bench.ensure_build(bench.SEEDS, options.work / "seed" / "index", engine)
    assert reused  # same corpus, model, lexicon: loaded, not rebuilt


def test_synthetic_rows_compare_kinds_against_exact(options, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = bench.bench_synthetic(replace(options, queries=12))
    defaults = [r for r in rows if not r.sweep]
    assert [r.index.split()[0] for r in defaults] == ["flat", "hnsw", "ivf"]
    assert defaults[0].recall_at_10 == 1.0 and defaults[0].auto  # 2,000 vectors: auto builds flat
    assert all(0.0 <= r.recall_at_10 <= 1.0 and r.units == 2000 for r in rows)
    assert {r.index.split()[0] for r in rows if r.sweep} == {"hnsw", "ivf"}
    table = bench.markdown(rows).splitlines()
    assert len(table) == 2 + len(rows) and "flat *" in table[2]
    bench.plot(rows, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
