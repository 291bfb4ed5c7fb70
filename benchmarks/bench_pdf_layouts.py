"""PDF reading benchmark (not a test): print regulations with Chromium, read them back, compare clauses.

Renders the seed and every file of ``../shared/corpora/safety-sample/`` in each print layout of
``tests/test_readers.py`` (indented; spaced without indents; letter-spaced), prints it with the
headless Chromium at ``/usr/bin/chromium`` (running head and page numbers on), reads the PDF with
``retriever.readers.read_document`` and parses it. Reports, per layout, how many clauses equal the
source's (every field: id, text, chapter, department, citation …), the titles that match, and the
reading speed in pages per second (CPU time of ``read_document``), as a Markdown table.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_pdf_layouts.py               # all layouts, 16 files
    PYTHONPATH=src .venv/bin/python benchmarks/bench_pdf_layouts.py --layout spaced --limit 4 --json r.json
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retriever.parse import parse_text  # noqa: E402
from retriever.readers import read_document  # noqa: E402
from tests.test_readers import CHROMIUM, CHROMIUM_ARGS, PRINT_STYLES, SAMPLE, SEED_FILE, render_html  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", action="append", choices=sorted(PRINT_STYLES), help="layouts (default: all)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N files (the seed first)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"needs {CHROMIUM} (make browser)", file=sys.stderr)
        return 1
    import pdfplumber
    from playwright.sync_api import sync_playwright

    sources = [SEED_FILE, *sorted(SAMPLE.glob("*.md"))]
    sources = sources[: args.limit] if args.limit else sources
    results = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        for layout in args.layout or list(PRINT_STYLES):
            style = PRINT_STYLES[layout]
            same = total = titles = pages = 0
            seconds = 0.0
            for source in sources:
                page.set_content(render_html(read_document(source), style))
                target = Path(tmp) / f"{layout}-{source.stem}.pdf"
                small = "<div style='font-size:9px;width:100%;text-align:center'>"
                page.pdf(path=str(target), format=style.paper, display_header_footer=True,
                         header_template=f"{small}{html.escape(source.stem.split('(')[0])}</div>",
                         footer_template=f"{small}{style.footer}</div>",
                         margin={"top": "2cm", "bottom": "2cm", "left": "2cm", "right": "2cm"})
                with pdfplumber.open(str(target)) as document:
                    pages += len(document.pages)
                start = time.process_time()
                text = read_document(target)
                seconds += time.process_time() - start
                expected, got = parse_text(read_document(source), "doc"), parse_text(text, "doc")
                total += len(expected.clauses)
                same += sum(a == b for a, b in zip(expected.clauses, got.clauses, strict=False))
                titles += expected.title == got.title
            results.append({"layout": layout, "files": len(sources), "pages": pages, "clauses": total,
                            "identical": same, "titles": titles, "pages_per_cpu_second": pages / seconds})
        browser.close()
    print("| layout | files | pages | clauses identical to the source | titles | pages / CPU s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['layout']} | {r['files']} | {r['pages']} | {r['identical']} / {r['clauses']} "
              f"| {r['titles']} / {r['files']} | {r['pages_per_cpu_second']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
