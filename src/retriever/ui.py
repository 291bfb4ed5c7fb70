"""The Gradio UI for staff: ask a question, see who is responsible and why.

Layout, top to bottom: the question box (with example questions) and a
department filter; the answer (responsible departments, each with its clause
citations, or a clear out-of-scope / bad-input message); the ranked clauses as
cards with matched terms highlighted; and the full article of any clause on
demand. Every piece of text that comes from the corpus or the user is
HTML-escaped before it is put into markup.

The page is styled by :data:`UI_CSS`, which Gradio 6 takes at mount/launch
time (``gr.mount_gradio_app(..., css=UI_CSS)``), not in ``gr.Blocks``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gradio as gr

from retriever.errors import QueryError
from retriever.records import Answer, Clause

if TYPE_CHECKING:
    from retriever.search import Searcher

__all__ = [
    "ALL_DEPARTMENTS",
    "EXAMPLE_QUESTIONS",
    "OUT_OF_SCOPE_MESSAGE",
    "UI_CSS",
    "build_ui",
    "highlight",
    "render_answer",
    "render_article",
    "render_error",
    "render_hits",
]

#: The department filter's "no filter" choice.
ALL_DEPARTMENTS = "全部"

#: Questions offered under the question box.
EXAMPLE_QUESTIONS: tuple[str, ...] = (
    "网吧的安全检查归哪个部门？",
    "光伏电站安全由谁负责？",
    "人社厅有哪些安全生产职责？",
    "第三十三条第五项",
    "电动车充电归哪个部门管？",
)

#: Shown when no clause answers the question (``answer.in_scope`` is False).
OUT_OF_SCOPE_MESSAGE = "本规定中没有直接回答这个问题的条款。下面仅列出最接近的条款，标为“参考”，请谨慎使用。"

#: How many clause cards a search shows.
DEFAULT_K = 8

_ITEM_MARKER = re.compile(r"（[^（）]+）")

_ROUTE_LABELS = {
    "citation": "按条款编号定位",
    "department": "按部门列出职责",
    "search": "语义检索",
}

UI_CSS = """
.dr-answer, .dr-card, .dr-article, .dr-message {
  border: 1px solid var(--border-color-primary);
  border-radius: 10px;
  background: var(--block-background-fill);
  color: var(--body-text-color);
  padding: 12px 14px;
  margin: 0 0 10px 0;
  line-height: 1.65;
  overflow-wrap: anywhere;
}
.dr-answer h3, .dr-article h3 { margin: 0 0 6px 0; font-size: 1.05em; }
.dr-answer ol { margin: 4px 0 0 0; padding-left: 1.4em; }
.dr-answer li { margin: 4px 0; }
.dr-dept { font-weight: 700; font-size: 1.08em; }
.dr-cites { display: block; color: var(--body-text-color); opacity: 0.85; font-size: 0.95em; }
.dr-meta { color: var(--body-text-color-subdued); font-size: 0.85em; margin-top: 6px; }
.dr-message.dr-warning { border-color: #d97706; background: rgba(217, 119, 6, 0.10); }
.dr-message.dr-error { border-color: #dc2626; background: rgba(220, 38, 38, 0.10); }
.dr-card-head {
  display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 10px; margin-bottom: 4px;
}
.dr-rank {
  display: inline-block; min-width: 1.7em; text-align: center; border-radius: 999px;
  background: var(--color-accent-soft); font-weight: 700; font-size: 0.9em;
}
.dr-card .dr-dept { font-size: 1em; }
.dr-cite { font-weight: 600; }
.dr-score, .dr-id { color: var(--body-text-color-subdued); font-size: 0.85em; }
.dr-score { margin-left: auto; }
.dr-badge {
  border: 1px solid #d97706; color: #b45309; border-radius: 6px; padding: 0 6px; font-size: 0.85em;
}
.dr-card.dr-ref { border-style: dashed; }
.dr-text { margin: 0; }
.dr-text mark { background: #fde68a; color: #111827; border-radius: 3px; padding: 0 1px; }
.dr-article ol { list-style: none; margin: 0; padding: 0; }
.dr-article li { margin: 6px 0; padding: 4px 6px; border-radius: 6px; }
.dr-article li.dr-focus { background: var(--color-accent-soft); }
.dr-section { margin: 4px 0 8px 0; font-size: 1.05em; }
.dr-empty { color: var(--body-text-color-subdued); }
@media (max-width: 480px) {
  .dr-answer, .dr-card, .dr-article, .dr-message { padding: 10px; }
  .dr-score { margin-left: 0; }
}
"""


# ------------------------------------------------------------------------ render


def highlight(text: str, terms: Sequence[str]) -> str:
    """``text`` as HTML with every occurrence of ``terms`` wrapped in ``<mark>``.

    Longer terms win over shorter ones they contain; matches never overlap.
    Both the text and the terms are escaped, so the result is safe markup.
    """
    wanted = sorted({t for t in terms if t and t.strip()}, key=len, reverse=True)
    if not wanted:
        return html.escape(text)
    covered = [False] * len(text)
    spans: list[tuple[int, int]] = []
    for term in wanted:
        start = text.find(term)
        while start != -1:
            end = start + len(term)
            if not any(covered[start:end]):
                spans.append((start, end))
                for i in range(start, end):
                    covered[i] = True
            start = text.find(term, start + 1)
    spans.sort()
    parts: list[str] = []
    cursor = 0
    for start, end in spans:
        parts.append(html.escape(text[cursor:start]))
        parts.append(f"<mark>{html.escape(text[start:end])}</mark>")
        cursor = end
    parts.append(html.escape(text[cursor:]))
    return "".join(parts)


def _department_label(clause: Clause) -> str:
    return clause.department or "总则/附则（无具体部门）"


def _citations(searcher: Searcher, clause_ids: Sequence[str]) -> str:
    cites: list[str] = []
    for clause_id in clause_ids:
        try:
            cites.append(searcher.clause(clause_id).citation)
        except KeyError:
            cites.append(clause_id)
    return "、".join(html.escape(c) for c in cites)


def render_message(text: str, kind: str = "warning") -> str:
    """A boxed notice (``kind`` is ``warning`` or ``error``)."""
    return f'<div class="dr-message dr-{kind}" role="alert">{html.escape(text)}</div>'


def render_error(error: QueryError) -> str:
    """The bad-input notice for a :class:`QueryError`."""
    hint = f"<br>{html.escape(error.hint)}" if error.hint else ""
    return (
        '<div class="dr-message dr-error" role="alert"><strong>无法检索：</strong>'
        f"{html.escape(error.message)}{hint}</div>"
    )


def render_answer(answer: Answer, searcher: Searcher) -> str:
    """The answer box: responsible departments with citations, or the out-of-scope notice."""
    if not answer.in_scope:
        return render_message(OUT_OF_SCOPE_MESSAGE, "warning")
    parts = ['<section class="dr-answer" aria-label="答案">']
    if answer.departments:
        parts.append("<h3>负责部门</h3><ol>")
        for dep in answer.departments:
            parts.append(
                f'<li><span class="dr-dept">{html.escape(dep.department)}</span>'
                f'<span class="dr-cites">依据：{_citations(searcher, dep.clauses)}</span></li>'
            )
        parts.append("</ol>")
    else:
        parts.append('<h3>相关规定</h3><p class="dr-empty">条款未指明具体负责部门，请参阅下列条款。</p>')
    meta = [f"方式：{_ROUTE_LABELS.get(answer.route, answer.route)}"]
    if answer.expansions:
        meta.append("扩展词：" + "、".join(answer.expansions[:8]))
    meta.extend(answer.notes)
    parts.append(f'<div class="dr-meta">{html.escape("；".join(meta))}</div></section>')
    return "".join(parts)


def render_hits(answer: Answer) -> str:
    """The ranked clauses as cards (marked 参考 when only nearest)."""
    if not answer.hits:
        return '<p class="dr-empty">没有找到相关条款。</p>'
    cards: list[str] = []
    for hit in answer.hits:
        clause = hit.clause
        reference = hit.nearest_only or not answer.in_scope
        badge = '<span class="dr-badge">参考</span>' if reference else ""
        cards.append(
            f'<article class="dr-card{" dr-ref" if reference else ""}" data-clause-id="{html.escape(clause.id)}">'
            '<div class="dr-card-head">'
            f'<span class="dr-rank">{hit.rank}</span>'
            f'<span class="dr-dept">{html.escape(_department_label(clause))}</span>'
            f'<span class="dr-cite">{html.escape(clause.citation)}</span>{badge}'
            f'<span class="dr-score" title="相关度">相关度 {hit.score:.3f}</span>'
            "</div>"
            f'<p class="dr-text">{highlight(clause.text, hit.matched_terms)}</p>'
            f'<div class="dr-id">条款编号 {html.escape(clause.id)}</div>'
            "</article>"
        )
    title = "最接近的条款（仅供参考）" if not answer.in_scope else "相关条款"
    return f'<h3 class="dr-section">{title}</h3>' + "".join(cards)


def render_article(clauses: Sequence[Clause], focus_id: str | None = None) -> str:
    """A whole article, its clauses in order, the chosen one highlighted."""
    if not clauses:
        return '<p class="dr-empty">没有这条条款。</p>'
    first = clauses[0]
    heading = _article_heading(first)
    items: list[str] = []
    for clause in clauses:
        focus = ' class="dr-focus"' if clause.id == focus_id else ""
        items.append(f"<li{focus}>{html.escape(_item_marker(clause))}{html.escape(clause.text)}</li>")
    return (
        '<section class="dr-article" aria-label="条文原文">'
        f"<h3>{html.escape(heading)} · {html.escape(_department_label(first))}</h3>"
        f'<div class="dr-meta">{html.escape(first.title)} · {html.escape(first.chapter)}</div>'
        f"<ol>{''.join(items)}</ol></section>"
    )


def _article_heading(clause: Clause) -> str:
    """第X条, cut from the citation so that it matches the corpus wording."""
    citation = clause.citation
    return citation[: citation.index("条") + 1] if "条" in citation else citation


def _item_marker(clause: Clause) -> str:
    """（Y） of 第X条第（Y）项, or "" for an article without items."""
    match = _ITEM_MARKER.search(clause.citation)
    return match.group(0) if match and clause.item is not None else ""


def _clause_choices(searcher: Searcher) -> list[tuple[str, str]]:
    """(label, id) for every clause, in corpus order, for the article picker."""
    several_documents = len({c.document for c in searcher.clauses}) > 1
    choices: list[tuple[str, str]] = []
    for clause in searcher.clauses:
        label = f"{clause.citation} · {_department_label(clause)}"
        if several_documents:
            label = f"{clause.document} {label}"
        choices.append((label, clause.id))
    return choices


# --------------------------------------------------------------------------- app


def build_ui(searcher: Searcher) -> gr.Blocks:
    """The Gradio Blocks app over ``searcher`` (mount it, or ``.launch(css=UI_CSS)``)."""
    departments = searcher.departments()
    clause_choices = _clause_choices(searcher)

    def run_search(query: str, department: str | None) -> tuple[str, str, Any]:
        """Search and render: (answer box, clause cards, article picker update)."""
        chosen = None if not department or department == ALL_DEPARTMENTS else department
        try:
            answer = searcher.search(query or "", DEFAULT_K, department=chosen)
        except QueryError as error:
            return render_error(error), "", gr.update()
        top = answer.hits[0].clause.id if answer.hits else None
        return render_answer(answer, searcher), render_hits(answer), gr.update(value=top)

    def show_article(clause_id: str | None) -> str:
        """The whole article of the picked clause."""
        if not clause_id:
            return render_message("请先选择一个条款。", "warning")
        try:
            clauses = searcher.article(clause_id)
        except KeyError:
            return render_message(f"没有编号为 {clause_id} 的条款。", "error")
        return render_article(clauses, clause_id)

    with gr.Blocks(title="安全生产职责检索", analytics_enabled=False) as demo:
        gr.Markdown(
            "## 安全生产职责检索\n"
            "输入问题，查找负责的部门及其依据条款。"
            "HTTP 接口见 [/docs](/docs)。",
            elem_id="dr-intro",
        )
        with gr.Row(equal_height=False):
            query = gr.Textbox(
                label="问题",
                placeholder="例如：网吧的安全检查归哪个部门？",
                lines=1,
                max_lines=4,
                scale=4,
                min_width=260,
                elem_id="dr-query",
                autofocus=True,
            )
            department = gr.Dropdown(
                choices=[ALL_DEPARTMENTS, *departments],
                value=ALL_DEPARTMENTS,
                label="部门筛选",
                scale=2,
                min_width=200,
                elem_id="dr-department",
            )
        submit = gr.Button("检索", variant="primary", elem_id="dr-submit")
        gr.Examples(
            examples=[[q] for q in EXAMPLE_QUESTIONS],
            inputs=[query],
            label="示例问题（点击填入）",
            cache_examples=False,
            elem_id="dr-examples",
        )
        answer_box = gr.HTML(elem_id="dr-answer")
        hits_box = gr.HTML(elem_id="dr-hits")
        with gr.Accordion("查看整条原文", open=True, elem_id="dr-article-panel"):
            with gr.Row(equal_height=False):
                picker = gr.Dropdown(
                    choices=clause_choices,
                    value=None,
                    label="条款（检索后自动选中第一条结果）",
                    scale=4,
                    min_width=220,
                    elem_id="dr-clause",
                )
                show = gr.Button("显示整条", scale=1, min_width=100, elem_id="dr-show-article")
            article_box = gr.HTML(elem_id="dr-article")

        # Private: the page's own events, not a second API (clients use /v1, which has auth).
        search_outputs = [answer_box, hits_box, picker]
        submit.click(run_search, [query, department], search_outputs, api_visibility="private")
        query.submit(run_search, [query, department], search_outputs, api_visibility="private")
        show.click(show_article, [picker], [article_box], api_visibility="private")
        picker.input(show_article, [picker], [article_box], api_visibility="private")
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo
