"""Parse every file of a corpus folder and report what the parser makes of it (not a test).

Reports files, clauses, the files with parser problems and the problems by kind, the
coverage check of ``tests/test_parse.py`` (every character of a body in exactly one
clause, the header or the headings) on every file, and the documents by level and role,
with superseded versions. Files are parsed one by one, so a corpus with two files of
the same stem (``laws/`` has four) is measured too.

    PYTHONPATH=src .venv/bin/python benchmarks/parse_corpus.py ../shared/corpora/laws
    PYTHONPATH=src .venv/bin/python benchmarks/parse_corpus.py ../shared/corpora/safety-sample --json out.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retriever.library import describe, library_files, mark_superseded
from retriever.parse import parse_text
from retriever.readers import read_document
from tests.test_parse import _lost_and_extra


def _kind(problem: str) -> str:
    """A problem message without its file, line, numbers and quoted text."""
    message = re.sub(r"^.*?:\d+: |^[^:]*: ", "", problem)
    message = re.sub(r"\(.*\)$", "", message)
    message = re.sub(r"第\S+?条|[（(]\S+?[）)]|[一二三四五六七八九十百]+、|\d+[.．]?|[①-⑳]", "N", message)
    return message.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()

    started = time.perf_counter()
    files, warnings = library_files([args.folder])
    kinds: Counter[str] = Counter()
    with_problems: list[str] = []
    coverage_failures: list[str] = []
    empty: list[str] = []
    documents = {}
    clauses = 0
    for path, root in files:
        text = read_document(path)
        parsed = parse_text(text, path.stem, str(path))
        lost, extra = _lost_and_extra(text, parsed)
        if lost or extra:
            coverage_failures.append(f"{path}: lost {lost[:30]!r} extra {extra[:30]!r}")
        if parsed.problems:
            with_problems.append(str(path))
            kinds.update(_kind(p) for p in parsed.problems)
        if not parsed.clauses:
            empty.append(str(path))
            continue
        clauses += len(parsed.clauses)
        relative = path.relative_to(root).as_posix()
        documents.setdefault(path.stem, describe(parsed, relative, hashlib.sha256(path.read_bytes()).hexdigest()))
    marked = mark_superseded(list(documents.values()))
    seconds = time.perf_counter() - started

    report = {
        "folder": str(args.folder),
        "files": len(files),
        "skipped_files": len(warnings),
        "clauses": clauses,
        "files_with_problems": len(with_problems),
        "files_without_clauses": len(empty),
        "problem_kinds": dict(kinds.most_common()),
        "coverage_failures": len(coverage_failures),
        "unplaceable_lines": sum(n for k, n in kinds.items() if "cannot place" in k),
        "documents": len(marked),
        "levels": dict(Counter(d.level for d in marked).most_common()),
        "roles": dict(Counter(d.role for d in marked).most_common()),
        "superseded": sum(1 for d in marked if d.superseded_by),
        "seconds": round(seconds, 1),
    }
    for key, value in report.items():
        print(f"{key}: {value}")
    for line in coverage_failures[:10]:
        print("coverage:", line)
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
