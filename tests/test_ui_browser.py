"""The staff UI: rendering helpers (fast), then the real server driven by headless Chromium.

The end-to-end test starts ``python app.py --port 0`` in a subprocess with a
missing index (so the server builds it, as in production), then drives Debian's
``/usr/bin/chromium`` through Playwright (never ``playwright install``).
Screenshots go to the test's tmp folder and, if ``RETRIEVER_SCREENSHOT_DIR`` is
set, also there (``screenshot.png`` at desktop width, ``screenshot-phone.png``
at 390 px).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from retriever.errors import QueryError
from retriever.records import Answer, Clause, DepartmentAnswer, Hit
from retriever.ui import OUT_OF_SCOPE_MESSAGE, highlight, render_answer, render_article, render_error, render_hits

from .conftest import ROOT, SEEDS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
WANGBA = "网吧的安全检查归哪个部门？"
#: The test asks the first of these that the engine calls out of scope (see test_api.py).
OUT_OF_SCOPE_CANDIDATES = ("如何做红烧肉？", "推荐一部好看的电影", "今天乌鲁木齐的天气怎么样？", "hello world",
                           "the quick brown fox jumps over the lazy dog")


# ------------------------------------------------------------ rendering (no browser)


def _clause(cid: str = "30.6", text: str = "负责网吧<安全>检查 & 整改", department: str | None = "甲厅") -> Clause:
    article, _, item = cid.partition(".")
    return Clause(id=cid, document="d", title="细则", chapter="第二章", article=int(article),
                  item=int(item) if item else None, department=department, text=text,
                  citation=f"第三十条第（{item}）项" if item else "第三十条")


class _Lookup:
    """Just enough of a Searcher for render_answer's citation lookup."""

    def clause(self, clause_id: str) -> Clause:
        if clause_id == "missing":
            raise KeyError(clause_id)
        return _clause(clause_id)


def test_highlight_escapes_text_and_terms() -> None:
    marked = highlight("网吧<script>alert(1)</script>安全检查网吧", ["网吧", "<script>", "安全", "安全检查", ""])
    assert "<script>" not in marked
    assert marked.count("<mark>网吧</mark>") == 2
    assert "<mark>安全检查</mark>" in marked  # the longer term wins over the one it contains
    assert "<mark>&lt;script&gt;</mark>" in marked
    assert highlight("a & b", []) == "a &amp; b"
    assert highlight("aaa", ["aa"]) == "<mark>aa</mark>a"  # no overlapping marks


def test_render_answer_in_scope_lists_departments_with_citations() -> None:
    answer = Answer(query="q", normalized_query="q", route="search", in_scope=True,
                    departments=(DepartmentAnswer("自治区<文化>厅", 1.0, ("30.6", "missing")),),
                    hits=(Hit(_clause(), 0.9, 1, ("网吧",)),), expansions=("安全检查",))
    rendered = render_answer(answer, _Lookup())  # type: ignore[arg-type]
    assert "自治区&lt;文化&gt;厅" in rendered and "<文化>" not in rendered
    assert "第三十条第（6）项" in rendered and "missing" in rendered
    cards = render_hits(answer)
    assert "负责<mark>网吧</mark>&lt;安全&gt;检查 &amp; 整改" in cards
    assert "参考" not in cards and "0.900" in cards


def test_render_out_of_scope_and_errors() -> None:
    answer = Answer(query="q", normalized_query="q", route="search", in_scope=False, departments=(),
                    hits=(Hit(_clause(department=None), 0.1, 1, nearest_only=True),))
    assert OUT_OF_SCOPE_MESSAGE in render_answer(answer, _Lookup())  # type: ignore[arg-type]
    cards = render_hits(answer)
    assert "参考" in cards and "dr-ref" in cards and "总则" in cards
    error = render_error(QueryError("the query <is> empty.", "Type a question & try again."))
    assert "the query &lt;is&gt; empty." in error and "Type a question &amp; try again." in error


def test_render_article_marks_the_chosen_clause() -> None:
    article = render_article([_clause("30.5", "五"), _clause("30.6", "六")], "30.6")
    assert "第三十条" in article and "（5）五" in article
    assert '<li class="dr-focus">（6）六</li>' in article


# -------------------------------------------------------------- the real thing


def _wait_for_url(process: subprocess.Popen[bytes], log: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", text)
        if match:
            return match.group(0).rstrip("/")
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{text[-3000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"app.py printed no URL in {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python app.py --port 0`` over a missing index in tmp: it builds, then serves."""
    folder = tmp_path_factory.mktemp("ui-server")
    log = folder / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("RETRIEVER_API_KEY", None)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", "0",
             "--index-dir", str(folder / "index"), "--seeds-dir", str(SEEDS), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
    try:
        url = _wait_for_url(process, log, timeout=300)
        health = httpx.get(f"{url}/healthz", timeout=30)
        assert health.status_code == 200 and health.json()["clauses"] > 100
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _out_of_scope_question(url: str) -> str:
    for question in OUT_OF_SCOPE_CANDIDATES:
        if httpx.post(f"{url}/v1/search", json={"query": question}, timeout=60).json()["in_scope"] is False:
            return question
    raise AssertionError("the engine called every out-of-scope candidate in scope")


def _save(shot: Path, name: str) -> None:
    target = os.environ.get("RETRIEVER_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(target) / name)


@pytest.mark.slow
@pytest.mark.e2e
def test_browser_question_answer_and_out_of_scope(server_url: str, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.goto(server_url + "/", wait_until="domcontentloaded")
            query = page.locator("#dr-query textarea")
            expect(query).to_be_visible(timeout=60_000)
            expect(page.get_by_text("安全生产职责检索").first).to_be_visible()

            # The answer first: the responsible department with its citation, then the cards.
            query.fill(WANGBA)
            page.locator("#dr-submit").click()
            answer = page.locator("#dr-answer")
            expect(answer).to_contain_text("自治区文化和旅游厅", timeout=60_000)
            expect(answer).to_contain_text("第三十条第（六）项")
            cards = page.locator("#dr-hits .dr-card")
            expect(cards.first).to_be_visible()
            assert cards.count() >= 3
            expect(page.locator("#dr-hits mark").first).to_be_visible()
            expect(page.locator("#dr-hits")).to_contain_text("第三十条第（六）项")

            # The full article on demand (the picker follows the top hit).
            page.locator("#dr-show-article").click()
            article = page.locator("#dr-article .dr-article")
            expect(article).to_be_visible(timeout=30_000)
            expect(article.locator("li.dr-focus")).to_have_count(1)
            desktop = tmp_path / "screenshot.png"
            page.screenshot(path=str(desktop), full_page=True)
            _save(desktop, "screenshot.png")

            # Out of scope: say so, and mark the nearest clauses 参考.
            query.fill(_out_of_scope_question(server_url))
            query.press("Enter")
            expect(answer).to_contain_text("没有直接回答这个问题的条款", timeout=60_000)
            expect(page.locator("#dr-hits .dr-badge").first).to_have_text("参考")

            # Bad input: the QueryError message, no cards.
            query.fill("？？？")
            page.locator("#dr-submit").click()
            expect(answer).to_contain_text("无法检索", timeout=60_000)
            expect(cards).to_have_count(0)

            # The department filter restricts the cards to that department.
            department = page.locator("#dr-department input")
            department.click()
            department.fill("自治区公安厅")
            page.get_by_role("option", name="自治区公安厅", exact=True).click()
            expect(department).to_have_value("自治区公安厅")
            query.fill("安全检查")
            page.locator("#dr-submit").click()
            expect(page.locator("#dr-hits .dr-card").first).to_be_visible(timeout=60_000)
            assert set(page.locator("#dr-hits .dr-card .dr-dept").all_inner_texts()) == {"自治区公安厅"}
            department.click()
            department.fill("全部")
            page.get_by_role("option", name="全部", exact=True).click()
            expect(department).to_have_value("全部")

            # An example question fills the box; a citation question is answered directly.
            page.locator("#dr-examples").get_by_text("第三十三条第五项").click()
            expect(query).to_have_value("第三十三条第五项")
            page.locator("#dr-submit").click()
            expect(answer).to_contain_text("自治区市场监督管理局", timeout=60_000)
            expect(answer).to_contain_text("第三十三条第（五）项")
        finally:
            browser.close()


@pytest.mark.slow
@pytest.mark.e2e
def test_browser_phone_width(server_url: str, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                    device_scale_factor=2, is_mobile=True, has_touch=True)
            page.goto(server_url + "/", wait_until="domcontentloaded")
            query = page.locator("#dr-query textarea")
            expect(query).to_be_visible(timeout=60_000)
            query.fill("电动车充电归哪个部门管？")
            page.locator("#dr-submit").click()
            expect(page.locator("#dr-answer .dr-dept").first).to_be_visible(timeout=60_000)
            # Nothing is wider than the phone: no horizontal scrolling.
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"page is {overflow}px wider than a 390px phone"
            card_box = page.locator("#dr-hits .dr-card").first.bounding_box()
            assert card_box is not None and card_box["width"] <= 390
            phone = tmp_path / "screenshot-phone.png"
            page.screenshot(path=str(phone), full_page=False)
            _save(phone, "screenshot-phone.png")
        finally:
            browser.close()
