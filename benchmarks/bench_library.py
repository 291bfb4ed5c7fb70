"""Library build benchmark (not a test): a full build, then a one-document change.

Copies the seed and ``../shared/corpora/safety-sample/`` into a temporary library,
builds it from an empty embedding cache, then edits one law and rebuilds: only that
document's changed units are embedded again (the cache beside the index has the rest).

    .venv/bin/python benchmarks/bench_library.py
    .venv/bin/python benchmarks/bench_library.py --model e5-small-fp32 --json reports/library.json
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT.parent / "shared" / "corpora" / "safety-sample"
CHANGED = "矿山安全法(2009-08-27).md"


def run(model: str | None) -> dict[str, Any]:
    """Time a full library build and a one-document rebuild."""
    from retriever.embed import load_embedder
    from retriever.lexicon import load_lexicon
    from retriever.segment import Segmenter
    from retriever.store import build_index

    lexicon = load_lexicon()
    segmenter = Segmenter(lexicon.user_words())
    started = time.perf_counter()
    embedder = load_embedder(model)
    load_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="bench-library-") as tmp:
        library = Path(tmp) / "library"
        shutil.copytree(ROOT / "seeds", library / "seeds")
        shutil.copytree(SAMPLE, library / "laws")
        root = Path(tmp) / "index"
        started = time.perf_counter()
        full = build_index(library, root, embedder, lexicon, segmenter)
        full_seconds = time.perf_counter() - started
        changed = library / "laws" / CHANGED
        text = changed.read_text(encoding="utf-8")
        changed.write_text(text.replace("第二条 在中华人民共和国", "第二条 在我国", 1), encoding="utf-8")
        started = time.perf_counter()
        again = build_index(library, root, embedder, lexicon, segmenter)
        change_seconds = time.perf_counter() - started
    return {
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "model": embedder.model_id,
        "model_load_s": round(load_seconds, 2),
        "documents": full["counts"]["documents"],
        "clauses": full["counts"]["clauses"],
        "units": full["counts"]["units"],
        "full_build_s": round(full_seconds, 2),
        "full_units_embedded": full["counts"]["units_embedded"],
        "one_document_change_s": round(change_seconds, 2),
        "change_units_embedded": again["counts"]["units_embedded"],
        "change_share_of_full": round(change_seconds / full_seconds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="Embedding model (default: the built-in one).")
    parser.add_argument("--json", type=Path, default=None, help="Also write the result here.")
    args = parser.parse_args()
    if not SAMPLE.is_dir():
        raise SystemExit(f"{SAMPLE} is missing: this benchmark needs the shared safety-sample corpus.")
    result = run(args.model)
    for key, value in result.items():
        print(f"{key:24s} {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
