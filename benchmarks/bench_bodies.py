"""Speed of ``retriever.bodies.extract_bodies`` over a whole corpus (not a test).

Reads every ``.md`` file under a folder, splits each body (after ``<!-- INFO END -->``) into
clauses with a tiny local splitter (one clause per non-empty line of an article: the 第X条
line, a paragraph or an item) and extracts the bodies of every clause. Reports clause count,
time, clauses per second and how many clauses name at least one responsible body.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_bodies.py ../shared/corpora/laws
    PYTHONPATH=src .venv/bin/python benchmarks/bench_bodies.py ../shared/corpora/laws --show 30
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections import Counter
from pathlib import Path

from retriever.bodies import extract_bodies

ARTICLE = re.compile(r"^第[零〇一二三四五六七八九十百千]+条")
HEADING = re.compile(r"^(#+\s*)?第[零〇一二三四五六七八九十百千]+[编章节]")


def clauses(path: Path) -> list[str]:
    """Every non-empty line of every article of one Markdown regulation."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if "<!-- INFO END -->" in lines:
        lines = lines[lines.index("<!-- INFO END -->") + 1 :]
    out: list[str] = []
    in_article = False
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#") or HEADING.match(line):
            in_article = False
            continue
        in_article = in_article or ARTICLE.match(line) is not None
        if in_article:
            out.append(line)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a folder of Markdown regulations (searched recursively)")
    parser.add_argument("--show", type=int, default=0, help="print this many random clauses with their bodies")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    files = sorted(args.root.rglob("*.md"))
    texts = [text for path in files for text in clauses(path)]
    extract_bodies("国务院")  # compile the patterns before timing
    started = time.perf_counter()
    results = [extract_bodies(text) for text in texts]
    seconds = time.perf_counter() - started
    named = sum(1 for bodies in results if bodies)
    print("| files | clauses | seconds | clauses/s | clauses naming a body |\n|---|---|---|---|---|")
    rate = len(texts) / seconds
    print(f"| {len(files)} | {len(texts)} | {seconds:.1f} | {rate:,.0f} | {named} ({named / len(texts):.0%}) |")
    if args.show:
        top = Counter(body for bodies in results for body in bodies).most_common(15)
        print("\nmost frequent:", ", ".join(f"{body} {count}" for body, count in top))
        for i in random.Random(args.seed).sample(range(len(texts)), args.show):
            print(f"\n{texts[i]}\n  → {list(results[i])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
