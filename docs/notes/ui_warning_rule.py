"""Reproduce the figures behind the UI's warning rule, on the dev gold set only.

    PYTHONPATH=src python docs/notes/ui_warning_rule.py --index index --seeds seeds

Prints (1) the best filtered score with the gold department as filter and with a random
other department (what WEAK_FILTERED_SCORE separates), and (2) how often assess_answer
doubts a right or a wrong top department. Never run it on eval/*test* data.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from retriever.search import open_searcher
from retriever.ui import WEAK_FILTERED_SCORE, assess_answer, question_topics


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, default=Path("index"))
    parser.add_argument("--seeds", type=Path, default=Path("seeds"))
    parser.add_argument("--gold", type=Path, default=Path("eval/gold_dev.jsonl"))
    args = parser.parse_args()
    if "test" in args.gold.name:
        raise SystemExit("the warning rule is tuned on dev only; do not run this on a test set")
    searcher = open_searcher(args.index, seeds_dir=args.seeds, build_if_missing=True)
    corpus = "\n".join(c.text.lower() for c in searcher.clauses)
    departments = searcher.departments()
    rows = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(0)

    right: list[float] = []
    wrong: list[float] = []
    for row in rows:
        if not row["relevant"] or not row["departments"] or {"department", "citation"} & set(row["tags"]):
            continue
        gold = row["departments"][0]
        if gold not in departments:
            continue
        other = rng.choice([d for d in departments if d not in row["departments"]])
        for department, scores in ((gold, right), (other, wrong)):
            answer = searcher.search(row["query"], 8, department=department)
            scores.append(answer.hits[0].score if answer.hits else 0.0)
    print(f"filter = gold department: best score min {min(right):.3f} over {len(right)} questions")
    print(f"filter = another department: best score max {max(wrong):.3f} over {len(wrong)} questions")
    print(f"WEAK_FILTERED_SCORE = {WEAK_FILTERED_SCORE}: right below it {sum(s < WEAK_FILTERED_SCORE for s in right)}, "
          f"other at or above it {sum(s >= WEAK_FILTERED_SCORE for s in wrong)}")

    counts = {True: [0, 0, 0], False: [0, 0, 0]}
    for row in rows:
        if not row["relevant"]:
            continue
        answer = searcher.search(row["query"], 8)
        if not answer.in_scope or not answer.departments or answer.route != "search":
            continue
        analysis = searcher.analyze(row["query"].strip())
        caveats = assess_answer(answer, None, question_topics(analysis, searcher.lexicon.expand),
                                lambda term: term.lower() in corpus, analysis.departments)
        tally = counts[answer.departments[0].department in row["departments"]]
        tally[0] += 1
        tally[1] += caveats.doubtful
        tally[2] += bool(caveats.unmentioned)
    for is_right, (total, doubtful, notice) in counts.items():
        label = "right" if is_right else "wrong"
        print(f"top department {label}: {total} answers, {doubtful} marked 未确认, {notice} with a notice")


if __name__ == "__main__":
    main()
