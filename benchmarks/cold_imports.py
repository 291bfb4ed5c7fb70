"""Summarise ``python -X importtime`` output: cumulative ms of the first import of chosen modules.

    python -X importtime -m retriever.cli search --index /tmp/cold-index "电动车充电归哪个部门管？" \\
        2> importtime.txt > /dev/null
    python benchmarks/cold_imports.py importtime.txt
"""

from __future__ import annotations

import re
import sys

MODULES = ("click", "numpy", "faiss", "bm25s", "numba", "scipy", "tqdm", "pypinyin", "jieba", "opencc",
           "onnxruntime", "tokenizers", "retriever.search", "retriever.store", "retriever.lexical",
           "retriever.spelling", "retriever.lexicon", "retriever.embed")
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)")


def main() -> None:
    seen: dict[str, float] = {}
    with open(sys.argv[1], encoding="utf-8") as handle:
        for line in handle:
            match = _LINE.match(line)
            if match and match.group(3) in MODULES:
                seen.setdefault(match.group(3), int(match.group(2)) / 1000)
    for name in MODULES:
        print(f"{name:22s} {seen[name]:7.0f} ms" if name in seen else f"{name:22s}  not imported")


if __name__ == "__main__":
    main()
