"""Flag lines of a new gold batch too close to existing questions (character-bigram containment).

usage: python docs/notes/edge_overlap.py NEW.jsonl

Against the test splits (threshold 0.45) it prints only the new line's qid and the score, never the
test question (the helpers who write batches must not read the test splits); against the dev splits
and the earlier batches in docs/notes (threshold 0.6) it prints both questions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_CLOSE, DEV_CLOSE = 0.45, 0.6


def grams(text: str) -> set[str]:
    text = "".join(ch for ch in text.lower() if not ch.isspace())
    return {text[i:i + 2] for i in range(len(text) - 1)}


def load(paths: list[Path]) -> list[tuple[str, str, set[str]]]:
    rows = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows.append((row["qid"], row["query"], grams(row["query"])))
    return rows


def main(new_path: Path) -> int:
    new = load([new_path])
    test = load([ROOT / "eval/gold_library_test.jsonl", ROOT / "eval/gold_test.jsonl"])
    earlier = [p for p in sorted((ROOT / "docs/notes").glob("heldout-*.jsonl")) if p.resolve() != new_path.resolve()]
    dev = load([ROOT / "eval/gold_library_dev.jsonl", ROOT / "eval/gold_dev.jsonl", *earlier])
    flagged = 0
    for qid, query, g in new:
        if not g:
            continue
        if max((len(g & h) / len(g) for _, _, h in test), default=0.0) >= TEST_CLOSE:
            flagged += 1
            print(f"TEST-CLOSE {qid} (rephrase this line; the test question is not shown)")
        score, old = max(((len(g & h) / len(g), q) for _, q, h in dev), default=(0.0, ""))
        if score >= DEV_CLOSE:
            flagged += 1
            print(f"DEV-CLOSE {qid} {score:.2f}\n  new: {query}\n  old: {old}")
    print(f"{flagged} flagged of {len(new)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
