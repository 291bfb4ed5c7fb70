"""Dump what the engine answers, to compare two versions of the code (e.g. before/after a speed-up).

Runs the dev splits' questions plus edge cases through ``open_searcher`` and writes every answer,
the sha256 of the query vectors and the token counts of all queries and clauses as JSON. Two runs
of equal behaviour give byte-identical files:

    PYTHONPATH=/tmp/old/src python benchmarks/cold_same_answers.py --index /tmp/cold-index old.json
    PYTHONPATH=src python benchmarks/cold_same_answers.py --index /tmp/cold-index new.json
    cmp old.json new.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from retriever.present import answer_to_dict
from retriever.search import open_searcher

EDGE_CASES = ["电动车充电归哪个部门管？", "妇连的安全职责", "消放检查谁负责", "安全生产型事案件",
              "網吧的安全檢查歸哪個部門？", "who supervises fire safety in schools?", "第三十三条第五项", "33.5",
              "Пожарная безопасность 消防", "🔥火灾 😀 谁管", "ภาษาไทย 安全", "电动车" * 100, "<s> <mask> 安全 </s>",
              "ｆｕｌｌ　ｗｉｄｔｈ　安全", "a", "危化品仓库归谁管"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--index", type=Path, default=Path("index"))
    parser.add_argument("--seeds", type=Path, default=Path("seeds"))
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    queries = [json.loads(line)["query"] for name in ("gold_dev.jsonl", "gold_library_dev.jsonl")
               for line in (root / "eval" / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    queries += EDGE_CASES
    searcher = open_searcher(args.index, seeds_dir=args.seeds)
    dumped: list[object] = [answer_to_dict(searcher.search(q, 10)) for q in queries]
    vectors = searcher.embedder.encode_queries(queries)
    dumped.append({"query_vectors_sha256": hashlib.sha256(vectors.tobytes()).hexdigest()})
    dumped.append({"token_counts": searcher.embedder.count_tokens(queries + [c.text for c in searcher.clauses])})
    args.out.write_text(json.dumps(dumped, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"{len(queries)} queries -> {args.out}")


if __name__ == "__main__":
    main()
