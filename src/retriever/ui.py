"""The staff page: ask a question, see who is responsible, open, copy and share the citations.

Gradio hosts the page; the page itself is one :class:`gradio.HTML` block holding a plain
form and a result region, driven by :data:`UI_JS` (loaded with the block). The script
calls two Python functions of the block directly (:func:`gradio.HTML`'s
``server_functions``: one request each, no queue): ``ui_search`` renders a whole result
as HTML here, in Python, where everything from the corpus or the user is escaped;
``ui_feedback`` stores a verdict with :class:`retriever.feedback.FeedbackStore`.

The script keeps the page honest and shareable: the URL carries the question and the
filter (``?q=…&dept=…``) and Back/Forward move between questions; the last 20
questions are kept in the browser (``localStorage``); a late answer never replaces a
newer one; the button is disabled while a search runs.

What is decided here, in one place each: the Chinese wording of the API's English
:class:`~retriever.errors.QueryError` messages (:func:`chinese_error`), and when an
answer must not be presented as "the responsible department" (:func:`assess_answer`).

The page is styled by :data:`UI_CSS`, which Gradio 6 takes at mount/launch time
(``gr.mount_gradio_app(..., css=UI_CSS)``), not in ``gr.Blocks``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import gradio as gr

from retriever.errors import QueryError
from retriever.feedback import Feedback, FeedbackStore, feedback_path, index_version, now_utc
from retriever.present import GROUP_LABELS, responsible
from retriever.records import Answer, Clause, Document, Hit

if TYPE_CHECKING:
    from retriever.search import QueryAnalysis, Searcher

__all__ = [
    "EXAMPLE_QUESTIONS",
    "GENERIC_WORDS",
    "HISTORY_SIZE",
    "MAX_QUESTION_CHARS",
    "OUT_OF_SCOPE_MESSAGE",
    "UI_CSS",
    "UI_JS",
    "WEAK_FILTERED_SCORE",
    "Caveats",
    "assess_answer",
    "build_ui",
    "chinese_error",
    "citation_text",
    "copy_all_text",
    "highlight",
    "render_article",
    "render_error",
    "render_result",
]

#: Questions offered under the question box (a click runs them).
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
#: The box stops here (the engine's limit, :data:`retriever.search.MAX_QUERY_CHARS`).
MAX_QUESTION_CHARS = 500
#: Questions kept in the browser's history list.
HISTORY_SIZE = 20

#: With a department filter on, a best match below this score is weak: the filtered
#: department probably does not hold the duty. Chosen on eval/gold_dev.jsonl only: with
#: the gold department as filter the best score was ≥ 0.733 for all 90 in-scope
#: non-department questions, with a random other department ≤ 0.618.
WEAK_FILTERED_SCORE = 0.65

#: Question words that say what is asked (who, duty, safety) rather than about what;
#: a clause need not contain them to answer the question.
GENERIC_WORDS: frozenset[str] = frozenset(
    """安全 生产 安全生产 安全检查 检查 监管 监督 管理 安全管理 安全监管 监督管理 负责 职责 责任 部门 单位 机构 工作
    问题 事项 方面 哪个 哪些 什么 谁 管 归 由 是 的 了 吗 呢 呀 啊 归口 主管 牵头 哪家 哪里 找 问 应该 应当 需要 可以
    如何 怎么 怎样 规定 条款 相关 有关 情况 查 管理部门 主管部门 监管部门 负责部门 到底 还是 分别 谁来管 谁管
    谁查 来查 把关 明确 不清 涉及 这块 干什么 抓 组织 所有""".split()
)

_ITEM_MARKER = re.compile(r"（[^（）]+）")
_CJK = re.compile(r"[\u3400-\u9fff]")
_CORRECTION_NOTE = "已按同音纠正："

_ROUTE_LABELS = {
    "citation": "按条款编号定位",
    "department": "按部门列出职责",
    "search": "语义检索",
}

# English QueryError message (as raised by retriever.search) → Chinese, first match wins.
_ERROR_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"query is empty"), lambda m: "请输入问题，例如：电动车充电归哪个部门管？"),
    (re.compile(r"query is (\d+) characters long; the limit is (\d+)"),
     lambda m: f"问题有 {m.group(1)} 个字，最多 {m.group(2)} 个字。请一次只问一个问题。"),
    (re.compile(r"control characters or binary"), lambda m: "问题中有控制字符或二进制数据，请只输入普通文字。"),
    (re.compile(r"mis-decoded"), lambda m: "问题看起来是乱码，请重新输入文字。"),
    (re.compile(r"no words to search for"),
     lambda m: "问题中没有可检索的文字（只有标点或符号），请用文字提问，例如：网吧的安全检查归哪个部门？"),
    (re.compile(r"unknown department '(.*)'"),
     lambda m: f"没有名为「{m.group(1)}」的部门。请从列表中选择部门，或清除筛选。"),
    (re.compile(r"must be text"), lambda m: "请输入文字问题。"),
)
_ERROR_FALLBACK = "无法检索这个问题，请换一种说法再试。"


# ------------------------------------------------------------------ the rules


def chinese_error(error: QueryError) -> str:
    """The staff-facing Chinese message for a :class:`QueryError` (the API keeps English)."""
    for pattern, message in _ERROR_PATTERNS:
        match = pattern.search(error.message)
        if match:
            return message(match)
    return _ERROR_FALLBACK


@dataclass(frozen=True)
class Caveats:
    """What the page must say before an answer can be trusted.

    Attributes:
        weak_filter: a department filter is on and its best match scores below
            :data:`WEAK_FILTERED_SCORE`.
        unsupported: the question has topic words and the top department's clauses
            mention none of them (neither a word nor a lexicon term it stands for):
            the department rests on no matched term of the question.
        unmentioned: topic words that no clause of the whole corpus mentions (学校食堂的
            **食品安全**): the regulation does not address that part of the question.
    """

    weak_filter: bool = False
    unsupported: bool = False
    unmentioned: tuple[str, ...] = ()

    @property
    def doubtful(self) -> bool:
        """True when the departments must not be presented as the responsible ones."""
        return self.weak_filter or self.unsupported


def assess_answer(
    answer: Answer,
    department: str | None,
    topics: Mapping[str, Sequence[str]],
    mentioned: Callable[[str], bool],
    named_departments: Sequence[str] = (),
) -> Caveats:
    """The warning rule: when is an answer's department not to be trusted?

    Args:
        answer: the engine's answer.
        department: the department filter in force, or None.
        topics: the question's topic words (:func:`question_topics`), each with the
            lexicon terms it stands for (``网吧`` → ``互联网上网服务经营场所``).
        mentioned: whether any clause of the corpus contains a term.
        named_departments: the departments the question names; when the answer's top
            department is one of them, the topic checks are skipped (it was asked for).

    Returns:
        The caveats. Citation and department-list answers get none (they are asked for
        by number or by department), nor does an out-of-scope answer (it says so already).
    """
    if not answer.in_scope or answer.route != "search" or not answer.hits:
        return Caveats()
    weak = department is not None and answer.hits[0].score < WEAK_FILTERED_SCORE
    if not answer.departments or answer.departments[0].department in named_departments or not topics:
        return Caveats(weak_filter=weak)
    supporting = set(answer.departments[0].clauses)
    texts = [hit.clause.text.lower() for hit in answer.hits if hit.clause.id in supporting]

    def covered(word: str, stands_for: Sequence[str], within: Callable[[str], bool]) -> bool:
        return any(within(term.lower()) for term in (word, *stands_for))

    unsupported = not any(
        covered(word, terms, lambda t: any(t in text for text in texts)) for word, terms in topics.items()
    )
    unmentioned = tuple(word for word, terms in topics.items() if not covered(word, terms, mentioned))
    return Caveats(weak_filter=weak, unsupported=unsupported, unmentioned=unmentioned)


def question_topics(analysis: QueryAnalysis, expand: Callable[[str], Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """The question's topic words, each with the lexicon terms it stands for.

    Topic words are the engine's query words minus :data:`GENERIC_WORDS`, single
    characters, numbers and the departments the question names; none for a question
    mostly not in Chinese.
    """
    if len(_CJK.findall(analysis.text)) * 3 < len(analysis.text):
        return {}  # an English question: its words cannot be looked for in Chinese clauses
    named = [name.lower() for name in analysis.departments]
    topics: dict[str, tuple[str, ...]] = {}
    for word in analysis.words:
        lowered = word.lower()
        if lowered in GENERIC_WORDS or len(word) < 2 or re.fullmatch(r"[\W\d_]+", word):
            continue
        if any(lowered in name or name in lowered for name in named):
            continue
        topics[word] = tuple(expand(word))
    return topics


# ------------------------------------------------------------------ plain text


def _department_label(clause: Clause) -> str:
    return responsible(clause) or "总则/附则（无具体部门）"


def citation_text(clause: Clause) -> str:
    """``《title》第X条第（Y）项 · department：text``: a citation that stands on its own."""
    title = f"《{clause.title}》" if clause.title else ""
    return f"{title}{clause.citation} · {_department_label(clause)}：{clause.text}"


def copy_all_text(answer: Answer, caveat_lines: Sequence[str], lookup: Callable[[str], Clause | None]) -> str:
    """The answer and its citations as plain text (no technical meta line)."""
    lines = [f"问题：{answer.query}", *caveat_lines]
    if not answer.in_scope:
        lines.append(OUT_OF_SCOPE_MESSAGE)
    elif answer.departments:
        label = "可能相关的部门" if caveat_lines else "负责部门"
        lines.append(f"{label}：" + "、".join(d.department for d in answer.departments))
        lines.append("依据：")
        for dep in answer.departments:
            for clause_id in dep.clauses:
                clause = lookup(clause_id)
                if clause is not None:
                    lines.append(citation_text(clause))
    else:
        lines.append("相关条款：")
        lines.extend(citation_text(hit.clause) for hit in answer.hits)
    return "\n".join(lines)


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


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def render_notice(text: str, kind: str = "warning", *, extra: str = "") -> str:
    """A boxed notice (``kind``: ``warning``, ``error``, ``info``); ``extra`` is trusted markup."""
    return f'<div class="dr-notice dr-{kind}">{html.escape(text)}{extra}</div>'


def render_error(message: str) -> str:
    """The bad-input notice (``message`` is already the Chinese text)."""
    return (f'<div class="dr-notice dr-error" data-kind="error"><strong>无法检索：</strong>'
            f"{html.escape(message)}</div>")


def render_article(clauses: Sequence[Clause], focus_id: str | None = None) -> str:
    """A whole article, its clauses in order, the chosen one highlighted."""
    if not clauses:
        return '<p class="dr-empty">没有这条条款。</p>'
    first = clauses[0]
    items: list[str] = []
    for clause in clauses:
        focus = ' class="dr-focus"' if clause.id == focus_id else ""
        current = ' aria-current="true"' if clause.id == focus_id else ""
        items.append(f"<li{focus}{current}>{html.escape(_item_marker(clause))}{html.escape(clause.text)}</li>")
    return (
        '<div class="dr-article">'
        f'<p class="dr-article-head">{html.escape(first.title)} · {html.escape(_article_heading(first))} · '
        f"{html.escape(_department_label(first))}</p>"
        f"<ol>{''.join(items)}</ol></div>"
    )


def _article_heading(clause: Clause) -> str:
    """第X条, cut from the citation so that it matches the corpus wording."""
    citation = clause.citation
    return citation[: citation.index("条") + 1] if "条" in citation else citation


def _item_marker(clause: Clause) -> str:
    """（Y） of 第X条第（Y）项, or "" for an article without items."""
    match = _ITEM_MARKER.search(clause.citation)
    return match.group(0) if match and clause.item is not None else ""


def _copy_button(text: str, label: str = "复制引用", what: str = "") -> str:
    # The name read out starts with the visible label (WCAG 2.5.3), then says what is copied.
    hidden = f'<span class="dr-sr">：{html.escape(what)}</span>' if what else ""
    return (f'<button type="button" class="dr-small" data-copy="{_attr(text)}">'
            f'<span class="dr-copy-label">{html.escape(label)}</span>{hidden}</button>')


def _citation(clause: Clause, article: Sequence[Clause]) -> str:
    """A citation that opens its whole article in place."""
    return (
        f'<details class="dr-cite" data-clause-id="{_attr(clause.id)}">'
        f"<summary>{html.escape(clause.citation)}</summary>{render_article(article, clause.id)}</details>"
    )


@dataclass(frozen=True)
class _View:
    """Everything one rendered result needs."""

    answer: Answer
    department: str | None
    caveats: Caveats
    corrections: tuple[tuple[str, str], ...]
    article: Callable[[str], list[Clause]]
    lookup: Callable[[str], Clause | None]


def _caveat_lines(view: _View) -> list[str]:
    lines: list[str] = []
    caveats = view.caveats
    if caveats.weak_filter and view.department:
        best = view.answer.hits[0].score if view.answer.hits else 0.0
        lines.append(f"在{view.department}的条款中没有找到与问题相符的条款（最高相关度 {best:.3f}）："
                     "下面的部门和条款可能不对，请清除筛选再查。")
    if caveats.unsupported:
        lines.append("所引条款没有出现问题中的关键词：下面的部门只是最接近的结果，不一定负责这件事，请核实。")
    if caveats.unmentioned:
        words = "、".join(f"「{w}」" for w in caveats.unmentioned)
        lines.append(f"本规定的条款中没有提到{words}：下面的答案不涉及这一部分，请另行核实。")
    return lines


def render_result(view: _View) -> str:
    """One whole result: the question restated, notices, the answer, the clause cards."""
    answer = view.answer
    parts = [f'<p class="dr-asked"><span class="dr-label">问题</span>{html.escape(answer.query)}</p>']
    if view.department:
        parts.append(render_notice(
            f"已按{view.department}筛选", "info",
            extra=' <button type="button" class="dr-small" data-action="clear-filter">清除筛选</button>'))
    for wrong, right in view.corrections:
        parts.append(render_notice(f"已按「{right}」检索，原文「{wrong}」", "info"))
    for note in answer.notes:
        if not note.startswith(_CORRECTION_NOTE):
            parts.append(render_notice(note, "info"))
    caveat_lines = _caveat_lines(view)
    for line in caveat_lines:
        parts.append(render_notice(line, "warning"))
    if not answer.in_scope:
        parts.append(render_notice(OUT_OF_SCOPE_MESSAGE, "warning"))

    parts.append('<section class="dr-answer" aria-labelledby="dr-answer-title">')
    if answer.in_scope and answer.departments:
        title = "可能相关的部门（未确认）" if view.caveats.doubtful else "负责部门"
        parts.append(f'<h2 id="dr-answer-title">{title}</h2><ol class="dr-depts">')
        for dep in answer.departments:
            cites = []
            for clause_id in dep.clauses:
                clause = view.lookup(clause_id)
                if clause is not None:
                    cites.append(_citation(clause, view.article(clause_id)))
            copy = "\n".join(citation_text(c) for c in (view.lookup(i) for i in dep.clauses) if c is not None)
            parts.append(
                f'<li><p class="dr-dept-line"><span class="dr-dept">{html.escape(dep.department)}</span>'
                f'{_copy_button(copy, "复制引用", dep.department)}</p>'
                f'<div class="dr-cites"><span class="dr-label">依据</span>{"".join(cites)}</div></li>'
            )
        parts.append("</ol>")
    elif answer.in_scope:
        parts.append('<h2 id="dr-answer-title">相关规定</h2>'
                     '<p class="dr-empty">条款未指明具体负责部门，请参阅下列条款。</p>')
    else:
        parts.append('<h2 id="dr-answer-title">没有直接的答案</h2>')
    shown = [hit.clause.id for hit in answer.hits]
    parts.append(
        '<div class="dr-tools">'
        f'{_copy_button(copy_all_text(answer, caveat_lines, view.lookup), "复制全部")}'
        f"{_render_feedback(answer.hits, shown)}</div></section>"
    )
    parts.append(_render_hits(answer, view.article))
    meta = [f"检索方式：{_ROUTE_LABELS.get(answer.route, answer.route)}"]
    if answer.expansions:
        meta.append("扩展词：" + "、".join(answer.expansions[:8]))
    parts.append(f'<p class="dr-meta">{html.escape("；".join(meta))}</p>')
    return "".join(parts)


def _render_feedback(hits: Sequence[Hit], shown: Sequence[str]) -> str:
    options = "".join(
        f'<label class="dr-option"><input type="radio" name="dr-right" value="{_attr(hit.clause.id)}">'
        f"{html.escape(hit.clause.citation)} · {html.escape(_department_label(hit.clause))}</label>"
        for hit in hits
    )
    return (
        f'<div class="dr-feedback" data-ids="{_attr(" ".join(shown))}">'
        '<span class="dr-label" id="dr-fb-q">这个回答有帮助吗？</span>'
        '<button type="button" class="dr-small" data-verdict="up" aria-describedby="dr-fb-q">✓ 有帮助</button>'
        '<button type="button" class="dr-small" data-verdict="down" aria-describedby="dr-fb-q">✗ 没帮助</button>'
        '<fieldset class="dr-pick" hidden><legend>哪一条是对的？（可选）</legend>'
        f'{options}<label class="dr-option"><input type="radio" name="dr-right" value="">都不对</label>'
        '<button type="button" class="dr-small" data-action="send-down">提交</button></fieldset>'
        '<p class="dr-thanks" role="status"></p></div>'
    )


def _render_hits(answer: Answer, article: Callable[[str], list[Clause]]) -> str:
    if not answer.hits:
        return '<p class="dr-empty">没有找到相关条款。</p>'
    cards: list[str] = []
    group = None
    for hit in answer.hits:
        clause = hit.clause
        reference = hit.nearest_only or not answer.in_scope
        badge = '<span class="dr-badge">参考</span>' if reference else ""
        if hit.group and hit.group != group and not reference:
            group = hit.group
            cards.append(f'<h3 class="dr-group">{html.escape(GROUP_LABELS.get(group, group))}</h3>')
        document = answer.document(clause.document) if "#" in clause.id else None
        if document is not None:
            badge += f'<span class="dr-badge">{html.escape(document.short_name)}</span>'
        cards.append(
            f'<article class="dr-card{" dr-ref" if reference else ""}" data-clause-id="{_attr(clause.id)}">'
            '<div class="dr-card-head">'
            f'<span class="dr-rank" aria-label="第 {hit.rank} 条结果">{hit.rank}</span>'
            f'<span class="dr-dept">{html.escape(_department_label(clause))}</span>{badge}'
            f'<span class="dr-score">相关度 {hit.score:.3f}</span>'
            "</div>"
            f'<p class="dr-text">{highlight(clause.text, hit.matched_terms)}</p>'
            '<div class="dr-card-foot">'
            f"{_citation(clause, article(clause.id))}"
            f"{_copy_button(citation_text(clause), '复制引用', clause.citation)}"
            "</div></article>"
        )
    title = "最接近的条款（仅供参考）" if not answer.in_scope else "相关条款"
    return f'<section class="dr-hits" aria-label="{title}"><h2>{title}</h2>{"".join(cards)}</section>'


# --------------------------------------------------------------------------- app


def _asset(name: str) -> str:
    """A file of ``retriever/data`` (the page's CSS and script live there, not in Python strings)."""
    return resources.files("retriever").joinpath("data", name).read_text(encoding="utf-8")


#: The page's style sheet (explicit colours: every pair passes WCAG AA contrast).
UI_CSS = _asset("ui.css")

#: The page's script, run by Gradio as the block's ``js_on_load`` (``element`` and ``server`` in scope).
UI_JS = _asset("ui.js")


def _shell(departments: Sequence[str], documents: Sequence[Document] = ()) -> str:
    """The static page: heading, form, examples and history, result region, footer."""
    options = "".join(f'<option value="{_attr(d)}"></option>' for d in departments)
    document_filter = ""
    if len(documents) > 1:
        choices = "".join(f'<option value="{_attr(d.id)}">{html.escape(d.short_name)}</option>' for d in documents)
        document_filter = ('<div class="dr-filter"><label for="dr-document">法规筛选</label>'
                           f'<select id="dr-document" name="doc"><option value="">全部法规</option>{choices}'
                           '</select></div>')
    examples = "".join(
        f'<li><button type="button" data-example="{_attr(q)}">{html.escape(q)}</button></li>'
        for q in EXAMPLE_QUESTIONS
    )
    return f"""<div class="dr-page" data-history="{HISTORY_SIZE}">
<header><h1>安全生产职责检索</h1><p class="dr-lead">输入问题，查找负责的部门及其依据条款。</p></header>
<form id="dr-form" class="dr-form" role="search" aria-label="检索问题">
<label class="dr-field-label" for="dr-query">问题</label>
<textarea id="dr-query" name="q" rows="2" maxlength="{MAX_QUESTION_CHARS}" autofocus
 placeholder="例如：网吧的安全检查归哪个部门？" aria-describedby="dr-count"></textarea>
<span id="dr-count" class="dr-count">0/{MAX_QUESTION_CHARS}</span>
<div class="dr-row">
<div class="dr-filter"><label for="dr-department">部门筛选（可输入名称缩小范围，留空为全部）</label>
<input id="dr-department" name="dept" list="dr-department-list" autocomplete="off" placeholder="全部部门"></div>
<datalist id="dr-department-list">{options}</datalist>
{document_filter}
<button type="submit" id="dr-submit" class="dr-primary">检索</button>
</div>
</form>
<details class="dr-more" id="dr-more" open><summary>示例问题与最近的问题</summary>
<h2 class="dr-sub">示例问题（点击即检索）</h2><ul class="dr-chips" id="dr-examples">{examples}</ul>
<h2 class="dr-sub">最近的问题</h2><p id="dr-history-empty" class="dr-empty">还没有。</p>
<ul class="dr-chips" id="dr-history-list"></ul>
<button type="button" class="dr-small" id="dr-history-clear" data-action="clear-history" hidden>清空最近的问题</button>
</details>
<p id="dr-status" class="dr-status" role="status"></p>
<div id="dr-result" class="dr-result" aria-live="polite" aria-label="检索结果"></div>
<footer class="dr-footer">给开发者：<a href="/docs">HTTP 接口说明（/docs）</a></footer>
</div>"""


def build_ui(searcher: Searcher, feedback: FeedbackStore | None = None) -> gr.Blocks:
    """The Gradio Blocks app over ``searcher`` (mount it, or ``.launch(css=UI_CSS)``).

    Args:
        searcher: the engine.
        feedback: where verdicts go (default: ``feedback.sqlite`` in the index root).
    """
    store = feedback or FeedbackStore(feedback_path(searcher.index.root))
    version = index_version(searcher.manifest)
    departments = searcher.departments()
    corpus_text = "\n".join(clause.text.lower() for clause in searcher.clauses)

    def mentioned(term: str) -> bool:
        return term.lower() in corpus_text

    def lookup(clause_id: str) -> Clause | None:
        try:
            return searcher.clause(clause_id)
        except KeyError:
            return None

    def ui_search(payload: dict[str, Any]) -> dict[str, Any]:
        """Search and render one result: ``{ok, html, summary}``."""
        query = str(payload.get("q", "")) if isinstance(payload, dict) else ""
        department = str(payload.get("dept", "")).strip() if isinstance(payload, dict) else ""
        document = str(payload.get("doc", "")).strip() if isinstance(payload, dict) else ""
        try:
            answer = searcher.search(query[:MAX_QUESTION_CHARS * 2], DEFAULT_K, department=department or None,
                                     document=document if document in searcher.documents else None)
        except QueryError as error:
            message = chinese_error(error)
            return {"ok": False, "html": render_error(message), "summary": f"无法检索：{message}"}
        analysis = searcher.analyze(query.strip())  # what the engine read: corrections, words
        caveats = assess_answer(answer, department or None, question_topics(analysis, searcher.lexicon.expand),
                                mentioned, analysis.departments)
        view = _View(answer=answer, department=department or None, caveats=caveats,
                     corrections=tuple((c.wrong, c.right) for c in analysis.corrections),
                     article=searcher.article, lookup=lookup)
        if not answer.in_scope:
            summary = "没有直接回答这个问题的条款"
        elif answer.departments:
            label = "可能相关的部门" if caveats.doubtful else "负责部门"
            summary = f"{label}：" + "、".join(d.department for d in answer.departments)
        else:
            summary = f"找到 {len(answer.hits)} 条相关条款"
        return {"ok": True, "html": render_result(view), "summary": summary}

    def ui_feedback(payload: dict[str, Any]) -> dict[str, Any]:
        """Store a verdict from the page: ``{ok, message}``."""
        if not isinstance(payload, dict):
            return {"ok": False, "message": "反馈格式不对。"}
        question = payload.get("q")
        if not isinstance(question, str) or not question.strip() or len(question) > MAX_QUESTION_CHARS:
            return {"ok": False, "message": "反馈缺少问题，请重新检索后再试。"}
        ids = payload.get("ids") or []
        chosen = payload.get("chosen") or None
        if not isinstance(ids, list) or not all(isinstance(i, str) and lookup(i) for i in ids):
            return {"ok": False, "message": "反馈里的条款不在索引中，请重新检索后再试。"}
        if chosen is not None and (not isinstance(chosen, str) or chosen not in ids):
            return {"ok": False, "message": "请选择本次结果中的一条条款。"}
        chosen_clause = lookup(chosen) if chosen else None
        try:
            store.add(Feedback(question=question, answer_ids=tuple(ids),
                               verdict=payload.get("verdict"),  # type: ignore[arg-type]  # checked by add
                               chosen=chosen, chosen_department=chosen_clause.department if chosen_clause else None,
                               created=now_utc(), index_version=version))
        except ValueError:
            return {"ok": False, "message": "反馈不完整，请重新检索后再试。"}
        return {"ok": True, "message": "已记录，谢谢！"}

    with gr.Blocks(title="安全生产职责检索", analytics_enabled=False) as demo:
        gr.HTML(_shell(departments, searcher.document_list()), js_on_load=UI_JS,
                server_functions=[ui_search, ui_feedback], elem_id="dr-app", padding=False, container=False,
                apply_default_css=False)
    return demo


