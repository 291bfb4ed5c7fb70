"""The ``retriever`` command: output shapes, exit codes and messages, one real end-to-end call."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from retriever.cli import main
from retriever.search import Searcher

from .conftest import SEEDS, FakeEmbedder


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command gets the fast fake embedder instead of loading the real model."""
    monkeypatch.setattr("retriever.embed.load_embedder", lambda model=None: FakeEmbedder())


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_search_json_builds_a_missing_index(fake_model: None, tmp_path: Path) -> None:
    code, output = _run("search", "第三十三条第五项", "--json", "-k", "3",
                        "--index", str(tmp_path / "index"), "--seeds", str(SEEDS))
    assert code == 0, output
    document = json.loads(output[output.index("{"):])
    assert set(document) >= {"query", "in_scope", "departments", "hits"}
    assert document["hits"][0]["id"] == "33.5"
    assert set(document["hits"][0]) >= {"id", "citation", "department", "text", "score"}
    assert document["departments"][0]["department"] == "自治区市场监督管理局"
    assert document["departments"][0]["clauses"] == ["33.5", "33.1", "33.2"]


def test_search_text_output(fake_model: None, tmp_path: Path) -> None:
    code, output = _run("search", "人社厅有哪些安全生产职责？", "--index", str(tmp_path / "i"), "--seeds", str(SEEDS))
    assert code == 0, output
    assert "负责部门：" in output and "自治区人力资源和社会保障厅" in output
    assert "第二十二条第（七）项" in output


def test_user_errors_exit_1_with_the_fix(fake_model: None, tmp_path: Path) -> None:
    index = str(tmp_path / "index")
    code, output = _run("search", "", "--index", index, "--seeds", str(SEEDS))
    assert code == 1 and "Error: the query is empty." in output and "Traceback" not in output
    code, output = _run("search", "网吧", "--index", index, "--seeds", str(tmp_path / "missing"))
    assert code == 1 and "seeds folder" in output and "does not exist" in output
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    assert _run("build", "--index", index, "--seeds", str(seeds))[0] == 0
    seed = next(seeds.glob("*.txt"))
    seed.write_text(seed.read_text(encoding="utf-8") + "\n第六十一条 新增条款。\n", encoding="utf-8")
    code, output = _run("search", "网吧", "--index", index, "--seeds", str(seeds))
    assert code == 1 and "the index is stale" in output and "retriever build" in output


def test_build_reports_counts_and_parser_warnings(fake_model: None, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    seed = next(seeds.glob("*.txt"))
    # An item out of sequence (第四十条 has two items: （一） then （三）) is kept and reported.
    text = seed.read_text(encoding="utf-8")
    article_40 = text.index("第四十条")
    text = text[:article_40] + text[article_40:].replace("（二）", "（三）", 1)
    seed.write_text(text, encoding="utf-8")
    code, output = _run("build", "--index", str(tmp_path / "index"), "--seeds", str(seeds))
    assert code == 0, output
    assert "Built" in output and "298 clauses from 1 document(s)" in output
    assert "warning:" in output and "item （三） where （二） was expected" in output
    code, output = _run("build", "--strict", "--index", str(tmp_path / "index2"), "--seeds", str(seeds))
    assert code == 1 and "numbering problems" in output and "--strict" in output


def test_show_and_departments(fake_model: None, tmp_path: Path) -> None:
    index = str(tmp_path / "index")
    code, output = _run("show", "18.7", "--index", index, "--seeds", str(SEEDS))
    assert code == 0 and "第十八条第（七）项" in output and "自治区公安厅" in output
    code, output = _run("show", "99.9", "--index", index, "--seeds", str(SEEDS))
    assert code == 1 and "no clause '99.9'" in output
    code, output = _run("departments", "--index", index, "--seeds", str(SEEDS))
    assert code == 0 and "自治区人力资源和社会保障厅\t7" in output


def test_eval_writes_report_and_readme_table(fake_model: None, tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in [
        {"qid": "a", "query": "第三十三条第五项", "relevant": {"33.5": 2}, "departments": ["自治区市场监督管理局"],
         "tags": ["citation"]},
        {"qid": "b", "query": "医保报销比例是多少？", "relevant": {}, "departments": [], "tags": ["out_of_scope"]},
    ]) + "\n", encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- eval:start -->\nold\n<!-- eval:end -->\ntail\n", encoding="utf-8")
    code, output = _run("eval", str(gold), "--mode", "bm25", "--mode", "full", "--out", str(tmp_path / "report"),
                        "--readme", str(readme), "--index", str(tmp_path / "index"), "--seeds", str(SEEDS))
    assert code == 0, output
    assert "| full |" in output and "| bm25 |" in output
    assert (tmp_path / "report" / "report.md").is_file() and (tmp_path / "report" / "chart.png").is_file()
    text = readme.read_text(encoding="utf-8")
    assert "\nold\n" not in text and "| full |" in text and text.endswith("<!-- eval:end -->\ntail\n")


def test_eval_rejects_a_bad_gold_file(fake_model: None, tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"qid": "a", "query": "x", "relevant": {"99.9": 2}, "departments": [], "tags": []}\n',
                    encoding="utf-8")
    code, output = _run("eval", str(gold), "--index", str(tmp_path / "index"), "--seeds", str(SEEDS))
    assert code == 1 and "99.9" in output and ":1:" in output


@pytest.mark.slow
def test_real_command_line(real_searcher: Searcher) -> None:
    """The installed console script, the real model and the real index, in a fresh process."""
    script = Path(sys.executable).with_name("retriever")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [str(script), "search", "网吧的安全检查归哪个部门？", "--json", "-k", "3",
         "--index", str(real_searcher.index.root), "--seeds", str(SEEDS)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["departments"][0]["department"] == "自治区文化和旅游厅"
    assert "30.6" in [hit["id"] for hit in document["hits"]]
