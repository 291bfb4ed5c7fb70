"""How long reading a question's document names and place takes at whole-corpus size.

Documents are described from the file names of ``../shared/corpora/laws`` (3,438 titles), the
way the library describes them; each question is read once one-off (``find_mentions``, which
prepares the names first) and then against a prepared :class:`DocumentNames` (what a searcher
keeps)::

    PYTHONPATH=src python benchmarks/bench_routing.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from retriever import routing
from retriever.library import infer_level, infer_region, short_name
from retriever.records import Document

QUESTIONS = ("火星殖民地安全条例规定谁负责", "安全生产法第十条", "在北京开网吧归谁管", "电动车充电归哪个部门管？",
             "深圳有什么地方规定", "《食品安全法》规定谁负责学校食堂")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpora/laws"))
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    documents = []
    for path in sorted(args.corpus.rglob("*.md")):
        title = path.stem.split("(")[0]
        region = infer_region(title)
        documents.append(Document(id=path.stem, title=title, short_name=short_name(title), region=region,
                                  level=infer_level(title, (), region)))
    start = time.perf_counter()
    one_off = [routing.find_mentions(q, documents) for q in QUESTIONS]
    one_off_ms = (time.perf_counter() - start) / len(QUESTIONS) * 1000
    names = routing.DocumentNames(documents)
    start = time.perf_counter()
    for _ in range(args.repeat):
        prepared = [names.mentions(q) for q in QUESTIONS]
    prepared_ms = (time.perf_counter() - start) / len(QUESTIONS) / args.repeat * 1000
    assert prepared == one_off, "a prepared DocumentNames must read questions as find_mentions does"
    print(f"{len(documents)} documents: one-off {one_off_ms:.1f} ms per question, prepared {prepared_ms:.2f} ms")


if __name__ == "__main__":
    main()
