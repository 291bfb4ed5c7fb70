"""The benchmarks' helpers (percentile, side-by-side table, cold processes) and the cold-start contract."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from retriever.bench import cold_cli, format_result, percentile
from retriever.search import Searcher

from .conftest import ROOT, SEEDS

SRC = ROOT / "src"


def test_percentile_interpolates_between_ranks() -> None:
    values = [40.0, 10.0, 30.0, 20.0]  # unsorted on purpose
    assert percentile(values, 0.5) == 10.0 + (40.0 - 10.0) * 0.5  # (20 + 30) / 2
    # position (n - 1) * q = 2.85: between 30 and 40
    assert percentile(values, 0.95) == 30.0 + (40.0 - 30.0) * 0.85
    assert percentile(values, 1.0) == 40.0
    assert percentile([7.0], 0.95) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_format_result_puts_models_side_by_side() -> None:
    result = {
        "machine": "x86_64, 2 cores",
        "queries_timed": 10,
        "models": {"e5-small": {"query_p50_ms": 12.5, "model_load_s": 1.2},
                   "e5-small-fp32": {"query_p50_ms": 40.0, "model_load_s": 9.0}},
        "query_p50_ratio": 0.312,
    }
    lines = format_result(result).splitlines()
    assert lines[0].split() == ["e5-small", "e5-small-fp32"]
    assert lines[1].split() == ["query_p50_ms", "12.5", "40.0"]
    assert lines[2].split() == ["model_load_s", "1.2", "9.0"]
    assert "query_p50_ratio             0.312" in lines


def test_an_invalid_query_is_rejected_before_anything_loads(tmp_path: Path) -> None:
    """A cold process says what is wrong with the query without importing the search stage or a model."""
    probe = tmp_path / "modules.txt"
    code = (
        "import sys\n"
        "from retriever.cli import main\n"
        "try:\n"
        "    main(['search', '   ', '--index', sys.argv[1]])\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "open(sys.argv[2], 'w').write(' '.join(sorted(sys.modules)))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "none"), str(probe)], capture_output=True,
                          text=True, check=False, env={**os.environ, "PYTHONPATH": str(SRC)})
    assert done.returncode == 1
    assert "the query is empty" in done.stderr
    loaded = set(probe.read_text().split())
    assert not loaded & {"retriever.search", "onnxruntime", "torch", "faiss", "jieba", "bm25s", "gradio"}


def test_cold_cli_reports_wall_time_memory_and_exit_code(tmp_path: Path) -> None:
    wall, rss, code = cold_cli(["search", "", "--index", str(tmp_path / "none")])
    assert code == 1
    assert wall > 0
    assert rss > 1  # MiB: a Python process


@pytest.mark.slow
def test_cold_search_imports_neither_torch_nor_transformers(real_searcher: Searcher) -> None:
    code = (
        "import sys\n"
        "from retriever.cli import main\n"
        "try:\n"
        "    main(['search', '网吧的安全检查归哪个部门？', '-k', '3',\n"
        "          '--index', sys.argv[1], '--seeds', sys.argv[2]])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print(' '.join(m for m in ('torch', 'transformers', 'sentence_transformers', 'gradio', 'matplotlib')"
        " if m in sys.modules) or 'none')\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(real_searcher.index.root), str(SEEDS)],
                          capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": str(SRC)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "30.6" in done.stdout  # the answer itself: the internet-café clause
    assert done.stdout.strip().splitlines()[-1] == "none"


def test_cold_cli_passes_extra_environment(tmp_path: Path) -> None:
    wall, _, code = cold_cli(["search", "", "--index", str(tmp_path / "none")],
                             env_extra={"RETRIEVER_CACHE_DIR": str(tmp_path / "cache")})
    assert code == 1 and wall > 0
