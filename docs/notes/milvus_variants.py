"""Dev-split choice of the Milvus BM25 input (engine tokens / Milvus jieba) and dense scores (local / store).

Runs the same Searcher over the same build with each variant as its candidate source. Dev split only.
Usage: PYTHONPATH=src python docs/notes/milvus_variants.py /tmp/mv eval/gold_dev.jsonl
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

from retriever.evaluate import SearchFn, evaluate, load_gold, report_to_dict
from retriever.records import Answer, Mode
from retriever.search import Searcher, open_searcher
from retriever.stores.milvus_candidates import MilvusCandidates
from retriever.stores.select import candidate_source, fill_store


def searcher_fn(searcher: Searcher) -> SearchFn:
    def search(query: str, k: int, mode: Mode) -> Answer:
        return searcher.search(query, k, mode=mode)

    return search


def main() -> None:
    root, gold = Path(sys.argv[1]), sys.argv[2]
    if "test" in Path(gold).name:
        raise SystemExit("choose on the dev split, not on a test split.")
    base = open_searcher(root)
    index = base.index
    terms = candidate_source(index)
    if not isinstance(terms, MilvusCandidates):
        raise SystemExit(f"{root} was built without --store.")
    rows = np.arange(len(index.clauses), dtype=np.int64)
    # The same whole-clause vectors, into a collection whose BM25 runs Milvus's jieba analyzer on the text.
    jieba = fill_store(str(root / "jieba.db"), index.clauses, index.documents, terms.store.vectors(rows.tolist()),
                       rows, model_id=base.embedder.model_id)
    entries = {"terms": index.manifest["store"], "jieba": jieba}
    questions = load_gold(Path(gold), clause_ids={c.id for c in index.clauses})
    for lexical, entry in entries.items():
        variant = dataclasses.replace(index, manifest={**index.manifest, "store": entry})
        for dense in ("local", "store"):
            searcher = Searcher(variant, base.embedder, base.lexicon, base.segmenter,
                                candidates=candidate_source(variant, None, dense_scores=dense))
            report = evaluate(questions, searcher_fn(searcher), modes=("full",), k=10, gold_path=gold)
            metrics = report_to_dict(report)["modes"][0]["metrics"]
            print(lexical, dense, {k: round(metrics[k], 4) for k in ("mrr@10", "ndcg@10", "hit@1", "dept_acc@1")})


if __name__ == "__main__":
    main()
