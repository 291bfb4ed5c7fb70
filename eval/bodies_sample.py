"""The fixed rule that chose the clauses of ``bodies_sample.jsonl`` (labelled by hand).

A *unit* is one non-empty line of an article's body in ``safety-sample/``: the 第X条 line, a
later paragraph (款) or an item (项). Its id is ``<document>#<article>/<n>``: the n-th line of
that article, 1 being the 第X条 line. Files are read in sorted order, lines in text order.

- Stratum A: every 20th unit (0, 20, 40 …) of all units, bodies or not.
- Stratum B: every 16th unit, from the 8th, of the units whose text contains 部门, 政府, 国务院,
  机关, 机构 or 委员会 (so that enough units name a body), skipping those already in A.
- Named: 突发事件应对法 第十八条 (the issue's example), if neither stratum chose it.

Within each stratum the chosen units alternate dev, test, dev …; the named unit is dev.

    python eval/bodies_sample.py ../shared/corpora/safety-sample          # unlabelled units
    python eval/bodies_sample.py ../shared/corpora/safety-sample --check eval/bodies_sample.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

NUMERALS = "零〇一二三四五六七八九十百千"
ARTICLE = re.compile(rf"^第([{NUMERALS}]+)条[\s　]*")
HEADING = re.compile(rf"^(#+\s*)?第[{NUMERALS}]+[编章节]")
NAMES_A_BODY = re.compile("部门|政府|国务院|机关|机构|委员会")
EVERY_A = 20
EVERY_B = 16


def chinese_number(text: str) -> int:
    """一百零二 → 102."""
    digits = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0}
    units = {"十": 10, "百": 100, "千": 1000}
    total = current = 0
    for char in text:
        if char in digits:
            current = digits[char]
        else:
            total += (current or 1) * units[char]
            current = 0
    return total + current


def units(path: Path) -> Iterator[tuple[str, str]]:
    """Yield ``(id, text)`` for every line of every article of one Markdown law."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if "<!-- INFO END -->" in lines:
        lines = lines[lines.index("<!-- INFO END -->") + 1 :]
    article, n = 0, 0
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#") or HEADING.match(line):
            article = 0
            continue
        match = ARTICLE.match(line)
        if match:
            article, n = chinese_number(match.group(1)), 0
        if not article:
            continue
        n += 1
        yield f"{path.stem}#{article}/{n}", line


def select(root: Path) -> list[dict[str, object]]:
    """The sample's units, unlabelled, in file order: stratum A, stratum B, the named one."""
    every = [unit for path in sorted(root.glob("*.md")) for unit in units(path)]
    chosen: list[dict[str, object]] = []
    seen: set[str] = set()
    strata = (
        ("A: every 20th line", every[::EVERY_A]),
        (
            "B: every 16th line naming 部门/政府/国务院/机关/机构/委员会",
            [u for u in every if NAMES_A_BODY.search(u[1])][EVERY_B // 2 :: EVERY_B],
        ),
    )
    for rule, picked in strata:
        for i, (uid, text) in enumerate(picked):
            if uid in seen:
                continue
            seen.add(uid)
            chosen.append({"id": uid, "split": "dev" if i % 2 == 0 else "test", "rule": rule, "text": text})
    for uid, text in every:
        if uid.startswith("突发事件应对法") and uid.endswith("#18/1") and uid not in seen:
            chosen.append({"id": uid, "split": "dev", "rule": "named", "text": text})
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the safety-sample folder")
    parser.add_argument("--check", type=Path, help="a labelled sample whose units must be exactly these")
    args = parser.parse_args()
    chosen = select(args.root)
    if args.check is None:
        for unit in chosen:
            print(json.dumps({**unit, "bodies": []}, ensure_ascii=False))
        return 0
    labelled = [json.loads(line) for line in args.check.read_text(encoding="utf-8").splitlines() if line.strip()]
    strip = [{k: row[k] for k in ("id", "split", "rule", "text")} for row in labelled]
    if strip != chosen:
        print(f"{args.check}: its units are not the ones the rule chooses", file=sys.stderr)
        return 1
    print(f"{args.check}: {len(chosen)} units, as the rule chooses")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
