"""The ``retriever`` command: build, search, eval, bench, serve, show, departments.

A thin shell: every command calls library functions and formats through
:mod:`retriever.present`; user errors exit 1 with a message that names the fix.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from retriever import __version__
from retriever.errors import RetrieverError
from retriever.records import MODES

F = TypeVar("F", bound=Callable[..., Any])


def _common(func: F) -> F:
    """Options every command that opens an index shares."""
    func = click.option("--index", "index_dir", type=click.Path(path_type=Path), default=Path("index"),
                        envvar="RETRIEVER_INDEX", show_default=True, help="Index folder.")(func)
    func = click.option("--seeds", "seeds_dir", type=click.Path(path_type=Path), default=Path("seeds"),
                        envvar="RETRIEVER_SEEDS", show_default=True, help="Folder of regulation .txt files.")(func)
    func = click.option("--model", default=None, envvar="RETRIEVER_MODEL",
                        help="Embedding model: e5-small (default, int8 ONNX), e5-small-fp32 (torch reference) "
                             "or a local folder.")(func)
    return func


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn library errors into a clean message and exit code 1 (no traceback)."""
    try:
        yield
    except RetrieverError as exc:
        raise click.ClickException(str(exc)) from exc


def _progress() -> Callable[[str, int, int], None]:
    """A tqdm bar per build stage, on stderr."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="unit", file=sys.stderr, leave=False)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


@click.group()
@click.version_option(__version__, prog_name="retriever")
def main() -> None:
    """Search Chinese safety-duty regulations: who supervises what, with cited clauses.

    Example: retriever search "网吧的安全检查归哪个部门？"
    """


@main.command()
@_common
@click.option("--strict", is_flag=True, help="Fail when the parser reports lines it cannot place.")
def build(index_dir: Path, seeds_dir: Path, model: str | None, strict: bool) -> None:
    """Parse the seeds, embed the clauses and write the index atomically.

    Example: retriever build --seeds seeds --index index
    """
    from retriever.embed import load_embedder
    from retriever.lexicon import load_lexicon
    from retriever.segment import Segmenter
    from retriever.store import build_index

    with _user_errors():
        lexicon = load_lexicon()
        embedder = load_embedder(model)
        manifest = build_index(seeds_dir, index_dir, embedder, lexicon, Segmenter(lexicon.user_words()),
                               progress=_progress(), strict=strict)
    counts = manifest["counts"]
    click.echo(f"Built {index_dir}: {counts['clauses']} clauses from {counts['documents']} document(s), "
               f"{counts['units']} dense units, {counts['departments']} departments, "
               f"model {manifest['model']['id']}, in {manifest['build_seconds']:.1f} s.")
    for problem in manifest["parse_problems"]:
        click.echo(f"warning: {problem}", err=True)


@main.command()
@_common
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 100), default=10, show_default=True, help="Clauses to return.")
@click.option("--department", default=None, help="Only clauses of this department (official name).")
@click.option("--mode", type=click.Choice(MODES), default="full", show_default=True, help="Pipeline.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def search(index_dir: Path, seeds_dir: Path, model: str | None, query: str, k: int, department: str | None,
           mode: str, as_json: bool) -> None:
    """Answer a question with departments and cited clauses (builds the index if missing).

    Example: retriever search "光伏电站安全由谁负责？" -k 5 --json
    """
    from retriever.validation import validate_query

    with _user_errors():
        validate_query(query)  # before anything slow loads: a bad query is told so at once

    from retriever.present import answer_to_dict, format_answer
    from retriever.search import open_searcher

    with _user_errors():
        searcher = open_searcher(index_dir, seeds_dir=seeds_dir, model=model, build_if_missing=True,
                                 progress=_progress())
        answer = searcher.search(query, k, department=department, mode=mode)  # type: ignore[arg-type]
    if as_json:
        click.echo(json.dumps(answer_to_dict(answer), ensure_ascii=False, indent=2))
    else:
        click.echo(format_answer(answer))


@main.command()
@_common
@click.argument("clause_id")
@click.option("--article", "whole_article", is_flag=True, help="Show the whole article.")
def show(index_dir: Path, seeds_dir: Path, model: str | None, clause_id: str, whole_article: bool) -> None:
    """Print a clause (or its whole article) by id.

    Example: retriever show 33.5 --article
    """
    from retriever.search import open_searcher

    with _user_errors():
        searcher = open_searcher(index_dir, seeds_dir=seeds_dir, model=model, build_if_missing=True)
    try:
        clauses = searcher.article(clause_id) if whole_article else [searcher.clause(clause_id)]
    except KeyError:
        raise click.ClickException(f"no clause {clause_id!r}. Ids look like 18.7 or 59.") from None
    for clause in clauses:
        click.echo(f"{clause.id}\t{clause.citation}\t{clause.department or '-'}\n    {clause.text}")


@main.command()
@_common
def departments(index_dir: Path, seeds_dir: Path, model: str | None) -> None:
    """List the departments in the index with their clause counts.

    Example: retriever departments
    """
    from retriever.search import open_searcher

    with _user_errors():
        searcher = open_searcher(index_dir, seeds_dir=seeds_dir, model=model, build_if_missing=True)
    for name in searcher.departments():
        count = sum(1 for c in searcher.clauses if c.department == name)
        click.echo(f"{name}\t{count}")


@main.command(name="eval")
@_common
@click.argument("gold", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--mode", "modes", type=click.Choice(MODES), multiple=True,
              help="Pipelines to compare (repeatable; default: all four).")
@click.option("-k", "k", type=click.IntRange(10, 100), default=10, show_default=True, help="Depth of each run.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Report folder (default: reports/<gold file stem>).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--readme", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Also replace the summary between <!-- eval:start --> and <!-- eval:end --> in this file.")
def evaluate_command(index_dir: Path, seeds_dir: Path, model: str | None, gold: Path, modes: tuple[str, ...],
                     k: int, out_dir: Path | None, as_json: bool, readme: Path | None) -> None:
    """Score the engine on a gold set (JSON Lines) and write report.md + chart.png.

    Example: retriever eval eval/gold_test.jsonl --mode bm25 --mode full
    """
    from retriever.evaluate import evaluate, format_summary, format_table, load_gold, report_to_dict, write_report
    from retriever.search import open_searcher

    with _user_errors():
        searcher = open_searcher(index_dir, seeds_dir=seeds_dir, model=model, build_if_missing=True,
                                 progress=_progress())
        questions = load_gold(gold, clause_ids={c.id for c in searcher.clauses})
        report = evaluate(questions, lambda q, n, m: searcher.search(q, n, mode=m),
                          modes=tuple(dict.fromkeys(modes)) or MODES, k=k, gold_path=gold)  # type: ignore[arg-type]
        md, png = write_report(report, out_dir or Path("reports") / gold.stem)
    if readme is not None:
        _replace_between_markers(readme, "eval", format_summary(report))
    if as_json:
        click.echo(json.dumps(report_to_dict(report), ensure_ascii=False, indent=2))
    else:
        click.echo(format_table(report))
        click.echo(f"\nReport: {md}\nChart:  {png}")


def _replace_between_markers(path: Path, name: str, body: str) -> None:
    """Rewrite the text between ``<!-- name:start -->`` and ``<!-- name:end -->`` in a file."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise click.ClickException(f"{path} has no {start} … {end} markers. Add them where the table belongs.")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{body}{end}{tail}", encoding="utf-8")


@main.command()
@_common
@click.option("--queries", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="JSON Lines gold file whose queries to time (default: built-in sample questions).")
@click.option("--repeat", type=click.IntRange(1, 1000), default=5, show_default=True)
@click.option("--compare", "compare", multiple=True, default=None,
              help="Models to measure side by side (repeatable; default: e5-small and the e5-small-fp32 "
                   "reference, or --model alone).")
@click.option("--no-cold", is_flag=True, help="Skip the cold-process timings.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def bench(index_dir: Path, seeds_dir: Path, model: str | None, queries: Path | None, repeat: int,
          compare: tuple[str, ...], no_cold: bool, as_json: bool) -> None:
    """Time the default engine against the float32 reference: load, build, query p50/p95, cold start, cache.

    Builds into a temporary folder, so the real index is untouched.
    Example: retriever bench --repeat 10
    """
    from retriever.bench import DEFAULT_MODELS, format_result, run_benchmark

    models = compare or ((model,) if model else DEFAULT_MODELS)
    with _user_errors():
        result = run_benchmark(seeds_dir=seeds_dir, models=models, queries_file=queries, repeat=repeat,
                               cold=not no_cold)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        click.echo(format_result(result))


@main.command()
@_common
@click.option("--host", default="127.0.0.1", envvar="RETRIEVER_HOST", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=7860, envvar="RETRIEVER_PORT", show_default=True)
def serve(index_dir: Path, seeds_dir: Path, model: str | None, host: str, port: int) -> None:
    """Serve the web UI at / and the HTTP API under /v1 (builds the index if missing).

    Example: retriever serve --port 7860
    """
    import os

    from retriever.api import serve as run_server

    with _user_errors():
        run_server(host=host, port=port, index_dir=index_dir, seeds_dir=seeds_dir, model=model,
                   api_key=os.environ.get("RETRIEVER_API_KEY") or None)


if __name__ == "__main__":
    main()
