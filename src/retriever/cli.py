"""The ``retriever`` command: build, search, eval, bench, serve, show, departments, calibrate, mcp.

A thin shell: every command calls library functions and formats through
:mod:`retriever.present`; user errors exit 1 with a message that names the fix.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from retriever import __version__
from retriever.errors import RetrieverError
from retriever.records import LEVELS, MODES

if TYPE_CHECKING:
    from retriever.dense import Kind as DenseKind

F = TypeVar("F", bound=Callable[..., Any])


def _common(func: F) -> F:
    """Options every command that opens an index shares."""
    func = click.option("--index", "index_dir", type=click.Path(path_type=Path), default=Path("index"),
                        envvar="RETRIEVER_INDEX", show_default=True, help="Index folder.")(func)
    func = click.option("--seeds", "seeds_dir", type=click.Path(path_type=Path), default=(Path("seeds"),),
                        multiple=True, envvar="RETRIEVER_SEEDS", show_default=True,
                        help="Library folder of regulations (.txt, .md, .docx, .pdf; read recursively). "
                             "Repeat for several folders.")(func)
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
    """A tqdm bar per build stage, on stderr (tqdm is imported only when a build reports progress)."""
    bars: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            from tqdm import tqdm

            # ``initial``: what the first report already counts (vectors from the embedding cache)
            # is not work done now, so the rate and the time left count only what follows.
            bar = bars[stage] = tqdm(total=total, initial=done, desc=stage, unit="unit", file=sys.stderr,
                                     leave=False)
        bar.update(done - bar.n)
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
@click.option("--strict", is_flag=True, help="Fail when the parser reports numbering problems.")
@click.option("--dense-index", "dense_kind", type=click.Choice(["auto", "flat", "hnsw", "ivf"]), default="auto",
              show_default=True,
              help="Vector index: exact (flat) below 50,000 units and approximate above (auto), or one kind.")
@click.option("--store", "store", default=None,
              help="Also fill a Milvus store: a milvus-lite file (index/clauses.db) or milvus://host:19530 "
                   "(default: $RETRIEVER_STORE; none: FAISS only).")
def build(index_dir: Path, seeds_dir: tuple[Path, ...], model: str | None, strict: bool, dense_kind: str,
          store: str | None) -> None:
    """Parse the seeds, embed the clauses and write the index atomically.

    Vectors already in the embedding cache beside the index are reused, so an interrupted
    build resumes where it stopped and a changed document re-embeds only its clauses.

    Example: retriever build --seeds seeds --index index  (Milvus too: --store index/clauses.db)
    """
    from retriever.embed import load_embedder
    from retriever.lexicon import load_lexicon
    from retriever.segment import Segmenter
    from retriever.store import build_index
    from retriever.stores.base import store_uri

    with _user_errors():
        lexicon = load_lexicon()
        embedder = load_embedder(model)
        manifest = build_index(seeds_dir, index_dir, embedder, lexicon, Segmenter(lexicon.user_words()),
                               progress=_progress(), strict=strict, dense_kind=cast("DenseKind", dense_kind),
                               store=store_uri(store))
    counts = manifest["counts"]
    click.echo(f"Built {index_dir}: {counts['clauses']} clauses from {counts['documents']} document(s), "
               f"{counts['units']} dense units, {counts['departments']} departments, "
               f"model {manifest['model']['id']}, in {manifest['build_seconds']:.1f} s.")
    reused = counts.get("units_from_cache", 0)
    if reused:
        click.echo(f"Reused {reused} of {counts['units']} unit vectors from the embedding cache.")
    if "store" in manifest:
        entry = manifest["store"]
        click.echo(f"Filled Milvus collection {entry['collection']} at {entry['uri']}: {entry['count']} clauses.")
    for warning in manifest.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    for problem in manifest["parse_problems"]:
        click.echo(f"warning: {problem}", err=True)


@main.command()
@_common
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(1, 100), default=10, show_default=True, help="Clauses to return.")
@click.option("--department", default=None, help="Only clauses of this department (official name).")
@click.option("--mode", type=click.Choice(MODES), default="full", show_default=True, help="Pipeline.")
@click.option("--document", default=None, help="Only clauses of this document (an id from `retriever documents`).")
@click.option("--region", default=None, envvar="RETRIEVER_REGION",
              help="Answer for this region (default: the library's home region).")
@click.option("--level", type=click.Choice(LEVELS), default=None, help="Only documents of this level.")
@click.option("--include-superseded", is_flag=True, help="Also search versions a newer one replaces.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--store", "store", default=None,
              help="Gather candidates from this Milvus store (default: $RETRIEVER_STORE, else the one the "
                   "index was built with, else FAISS).")
def search(index_dir: Path, seeds_dir: tuple[Path, ...], model: str | None, query: str, k: int, department: str | None,
           mode: str, document: str | None, region: str | None, level: str | None, include_superseded: bool,
           as_json: bool, store: str | None) -> None:
    """Answer a question with departments and cited clauses (builds the index if missing).

    Example: retriever search "光伏电站安全由谁负责？" -k 5 --json
    """
    from retriever.validation import validate_query

    with _user_errors():
        validate_query(query)  # before anything slow loads: a bad query is told so at once

    from retriever.embed import start_loading_embedder

    # The model loads on a thread (mostly outside the GIL) while the search stage imports.
    with _user_errors():
        wait_for_embedder = start_loading_embedder(model)

    from retriever.present import answer_to_dict, format_answer
    from retriever.search import open_searcher

    with _user_errors():
        searcher = open_searcher(index_dir, seeds_dir=seeds_dir, model=model, build_if_missing=True,
                                 progress=_progress(), embedder=wait_for_embedder(), store=store)
        answer = searcher.search(query, k, department=department, mode=mode,  # type: ignore[arg-type]
                                 document=document, region=region, level=level,
                                 include_superseded=include_superseded)
    if as_json:
        click.echo(json.dumps(answer_to_dict(answer), ensure_ascii=False, indent=2))
    else:
        click.echo(format_answer(answer))


@main.command()
@_common
@click.argument("clause_id")
@click.option("--article", "whole_article", is_flag=True, help="Show the whole article.")
def show(index_dir: Path, seeds_dir: tuple[Path, ...], model: str | None, clause_id: str, whole_article: bool) -> None:
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
def departments(index_dir: Path, seeds_dir: tuple[Path, ...], model: str | None) -> None:
    """List the departments in the index with their clause counts.

    Example: retriever departments
    """
    from retriever.search import open_searcher

    with _user_errors():
        searcher = open_searcher(index_dir, seeds_dir=seeds_dir, model=model, build_if_missing=True)
    for name in searcher.departments():
        count = sum(1 for c in searcher.clauses if c.department == name)
        click.echo(f"{name}\t{count}")


@main.command()
@_common
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def documents(index_dir: Path, seeds_dir: tuple[Path, ...], model: str | None, as_json: bool) -> None:
    """List the library's documents: id, role, level, region, version, clause count.

    Example: retriever documents --seeds seeds --seeds ../shared/corpora/safety-sample
    """
    from retriever.present import document_to_dict
    from retriever.search import open_searcher

    with _user_errors():
        searcher = open_searcher(index_dir, seeds_dir=seeds_dir, model=model, build_if_missing=True)
    listed = searcher.document_list()
    counts = {d.id: sum(1 for c in searcher.clauses if c.document == d.id) for d in listed}
    if as_json:
        click.echo(json.dumps([{**document_to_dict(d), "clauses": counts[d.id]} for d in listed],
                              ensure_ascii=False, indent=2))
        return
    for d in listed:
        superseded = f" (superseded by {d.superseded_by})" if d.superseded_by else ""
        click.echo(f"{d.id}\t{d.role}\t{d.level}\t{d.region or '-'}\t{d.version_date or '-'}\t"
                   f"{counts[d.id]} clauses\t{d.title}{superseded}")


@main.command(name="eval")
@_common
@click.argument("gold", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--mode", "modes", type=click.Choice(MODES), multiple=True,
              help="Pipelines to compare (repeatable; default: all four).")
@click.option("-k", "k", type=click.IntRange(10, 100), default=10, show_default=True, help="Depth of each run.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Report folder (default: reports/<gold file stem>).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--document", default=None,
              help="The document that gold ids without a 'doc#' prefix refer to (default: the one that fits).")
@click.option("--readme", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Also replace the summary between <!-- eval:start --> and <!-- eval:end --> in this file.")
@click.option("--store", "store", default=None,
              help="Gather candidates from this Milvus store (default: $RETRIEVER_STORE, else the one the "
                   "index was built with, else FAISS).")
def evaluate_command(index_dir: Path, seeds_dir: tuple[Path, ...], model: str | None, gold: Path,
                     modes: tuple[str, ...], k: int, out_dir: Path | None, as_json: bool, document: str | None,
                     readme: Path | None, store: str | None) -> None:
    """Score the engine on a gold set (JSON Lines) and write report.md + chart.png.

    Example: retriever eval eval/gold_test.jsonl --mode bm25 --mode full
    """
    from retriever.evaluate import evaluate, format_summary, format_table, load_gold, report_to_dict, write_report
    from retriever.search import open_searcher

    with _user_errors():
        searcher = open_searcher(index_dir, seeds_dir=seeds_dir, model=model, build_if_missing=True,
                                 progress=_progress(), store=store)
        questions = load_gold(gold, clause_ids={c.id for c in searcher.clauses}, document=document)
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
@click.option("--cold-repeat", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Cold processes per model (median reported).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def bench(index_dir: Path, seeds_dir: tuple[Path, ...], model: str | None, queries: Path | None, repeat: int,
          compare: tuple[str, ...], no_cold: bool, cold_repeat: int, as_json: bool) -> None:
    """Time the default engine against the float32 reference: load, build, query p50/p95, cold start, cache.

    Builds into a temporary folder, so the real index is untouched.
    Example: retriever bench --repeat 10
    """
    from retriever.bench import DEFAULT_MODELS, format_result, run_benchmark

    models = compare or ((model,) if model else DEFAULT_MODELS)
    with _user_errors():
        result = run_benchmark(seeds_dir=seeds_dir, models=models, queries_file=queries, repeat=repeat,
                               cold=not no_cold, cold_repeat=cold_repeat)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        click.echo(format_result(result))


@main.command()
@_common
@click.option("--host", default="127.0.0.1", envvar="RETRIEVER_HOST", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=7860, envvar="RETRIEVER_PORT", show_default=True)
@click.option("--store", "store", default=None,
              help="Gather candidates from this Milvus store (default: $RETRIEVER_STORE, else the one the "
                   "index was built with, else FAISS).")
@click.option("--threads", type=click.IntRange(min=1), default=None, envvar="RETRIEVER_THREADS",
              help="Model (onnxruntime) threads; default 1: the server batches concurrent queries, and one "
                   "thread leaves the other core to the requests.")
def serve(index_dir: Path, seeds_dir: tuple[Path, ...], model: str | None, host: str, port: int,
          store: str | None, threads: int | None) -> None:
    """Serve the web UI at / and the HTTP API under /v1 (builds the index if missing).

    Example: retriever serve --port 7860
    """
    import os

    from retriever.api import serve as run_server
    from retriever.stores.base import STORE_ENV

    if store:
        os.environ[STORE_ENV] = store  # open_searcher reads it (the server opens the index itself)

    with _user_errors():
        run_server(host=host, port=port, index_dir=index_dir, seeds_dir=seeds_dir, model=model,
                   api_key=os.environ.get("RETRIEVER_API_KEY") or None, threads=threads)


@main.command()
@_common
@click.argument("gold", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--report", "report_only", is_flag=True,
              help="Measure the shipped calibration on GOLD (reliability table + plot) instead of fitting.")
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=None,
              help="Fit: the JSON file to write (default: the package's data/calibration.json). "
                   "Report: the folder (default: reports/<gold file stem>).")
def calibrate(index_dir: Path, seeds_dir: Path, model: str | None, gold: Path, report_only: bool,
              out_path: Path | None) -> None:
    """Fit the calibrated 0-1 relevance on a dev gold set, or report it on another.

    Fitting refuses a file whose name says "test": the test split is for reporting only.
    Example: retriever calibrate eval/gold_dev.jsonl  (then: retriever calibrate eval/gold_test.jsonl --report)
    """
    from importlib import resources

    from retriever.calibrate import (
        CALIBRATION_FILE,
        fit_calibration,
        format_reliability,
        load_calibration,
        measure_reliability,
        save_calibration,
        write_reliability,
    )
    from retriever.evaluate import load_gold
    from retriever.search import open_searcher

    if not report_only and "test" in gold.name.lower():
        raise click.ClickException(f"{gold} looks like a test split; fit on the dev split "
                                   "(eval/gold_dev.jsonl) and use --report for the test split.")
    with _user_errors():
        searcher = open_searcher(index_dir, seeds_dir=seeds_dir, model=model, build_if_missing=True,
                                 progress=_progress())
        questions = load_gold(gold, clause_ids={c.id for c in searcher.clauses})
        judged = [(searcher.search(q.query, 10), q.relevant) for q in questions]
        if report_only:
            reliability = measure_reliability(judged, load_calibration(), gold_path=str(gold))
            md, png = write_reliability(reliability, out_path or Path("reports") / gold.stem)
            click.echo(format_reliability(reliability))
            click.echo(f"Report: {md}\nPlot:   {png}")
            return
        fitted = fit_calibration(judged, fitted_on=gold.as_posix(), model=searcher.embedder.model_id)
    target = out_path or Path(str(resources.files("retriever") / "data" / CALIBRATION_FILE))
    save_calibration(fitted, target)
    click.echo(f"Fitted on {fitted.questions} questions ({fitted.hits} hits, {fitted.relevant} relevant); "
               f"wrote {target}.")


@main.command(name="mcp")
@_common
def mcp_command(index_dir: Path, seeds_dir: Path, model: str | None) -> None:
    """Run the MCP server over stdio (for Claude Desktop, Cherry Studio, Cursor ...).

    Stdout carries the protocol only; logs go to stderr. The same server is served over
    streamable HTTP at /mcp by `retriever serve`.
    Example: retriever mcp --index /path/to/index --seeds /path/to/seeds
    """
    from retriever.mcp_server import run_stdio

    with _user_errors():
        run_stdio(index_dir=index_dir, seeds_dir=seeds_dir, model=model)


@main.group()
def feedback() -> None:
    """Staff feedback (👍/👎 on the web page, POST /v1/feedback), kept beside the index.

    Example: retriever feedback export --out feedback.jsonl
    """


@feedback.command(name="export")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), default=Path("index"),
              envvar="RETRIEVER_INDEX", show_default=True, help="Index folder (feedback.sqlite is inside).")
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write here instead of standard output.")
def feedback_export(index_dir: Path, out_path: Path | None) -> None:
    """Write the feedback as gold-format JSON Lines candidates (relevant = the chosen clause).

    The candidates are for an evaluator to review before any joins a gold set.
    Example: retriever feedback export --index index --out candidates.jsonl
    """
    from retriever.feedback import FeedbackStore, feedback_path, gold_candidates, write_gold_candidates

    path = feedback_path(index_dir)
    if not path.exists():
        raise click.ClickException(f"no feedback at {path}. Feedback is collected by the web page (👍/👎) and "
                                   "POST /v1/feedback of `retriever serve`; check --index.")
    candidates = gold_candidates(FeedbackStore(path).records())
    if out_path is None:
        write_gold_candidates(candidates, sys.stdout)
        return
    with out_path.open("w", encoding="utf-8") as handle:
        count = write_gold_candidates(candidates, handle)
    click.echo(f"Wrote {count} candidate(s) to {out_path}.", err=True)


if __name__ == "__main__":
    main()
