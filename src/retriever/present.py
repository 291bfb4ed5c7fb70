"""Turn answers into the one JSON shape and the one text layout every shell uses.

The CLI (``--json``), the HTTP API and the UI all format through these functions,
so ``retriever search --json`` and ``POST /v1/search`` return the same document.
"""

from __future__ import annotations

import math
from typing import Any

from retriever.records import Answer, Clause, Document, Hit

#: Group labels of a library answer: the duty list's clauses, then their legal basis.
GROUP_LABELS = {"duty": "直接职责", "basis": "法律依据", "related": "其他相关条款"}


def cite(clause: Clause, document: Document | None = None) -> str:
    """The citation of a clause: ``第十条第二款``, or ``《安全生产法》第十条第二款`` with its document."""
    return f"《{document.short_name}》{clause.citation}" if document is not None else clause.citation


def responsible(clause: Clause) -> str | None:
    """The body a clause makes responsible: its heading department, else the first body its text names."""
    return clause.department or (clause.departments[0] if clause.departments else None)


def document_to_dict(document: Document) -> dict[str, Any]:
    """The public fields of a document."""
    return {
        "id": document.id,
        "title": document.title,
        "short_name": document.short_name,
        "role": document.role,
        "level": document.level,
        "region": document.region,
        "version_date": document.version_date,
        "superseded_by": document.superseded_by,
        "source": document.source,
        "format": document.format,
        "header": list(document.header),
    }


def clause_to_dict(clause: Clause, document: Document | None = None) -> dict[str, Any]:
    """The public fields of a clause (``document`` adds its name to the citation)."""
    return {
        "id": clause.id,
        "citation": cite(clause, document),
        "department": responsible(clause),
        "departments": list(clause.departments or ((clause.department,) if clause.department else ())),
        "text": clause.text,
        "document": clause.document,
        "document_title": clause.title,
        "chapter": clause.chapter,
        "section": clause.section,
        "article": clause.article,
        "paragraph": clause.paragraph,
        "item": clause.item,
    }


def hit_to_dict(hit: Hit, document: Document | None = None) -> dict[str, Any]:
    """A ranked clause as ``{id, citation, department, text, score, ...}``."""
    return {
        "id": hit.clause.id,
        "citation": cite(hit.clause, document),
        "department": responsible(hit.clause),
        "text": hit.clause.text,
        "score": round(hit.score, 6),
        "rank": hit.rank,
        "matched_terms": list(hit.matched_terms),
        "nearest_only": hit.nearest_only,
        "document": hit.clause.document,
        "group": hit.group,
    }


def _library_document(answer: Answer, clause: Clause) -> Document | None:
    """The clause's document when the answer comes from a library (ids carry ``doc#``)."""
    return answer.document(clause.document) if "#" in clause.id else None


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """The search result document shared by ``--json`` and ``/v1/search``."""
    return {
        "query": answer.query,
        "in_scope": answer.in_scope,
        "route": answer.route,
        "region": answer.region,
        "notes": list(answer.notes),
        "departments": [
            {"department": d.department, "score": round(d.score, 6), "clauses": list(d.clauses)}
            for d in answer.departments
        ],
        "hits": [hit_to_dict(hit, _library_document(answer, hit.clause)) for hit in answer.hits],
        "documents": [{"id": d.id, "title": d.title, "short_name": d.short_name, "role": d.role,
                       "region": d.region} for d in answer.documents],
    }


def format_answer(answer: Answer, *, width: int = 100) -> str:
    """A human-readable answer: departments first, then the cited clauses."""
    lines: list[str] = [f"问题：{answer.query}", *answer.notes]
    if not answer.in_scope:
        where = "库内法规" if any("#" in hit.clause.id for hit in answer.hits) else "本规定"
        lines.append(f"⚠ {where}中没有直接回答这个问题的条款；以下仅为最接近的条款，供参考。")
    elif answer.departments:
        lines.append("负责部门：")
        for rank, dep in enumerate(answer.departments, start=1):
            lines.append(f"  {rank}. {dep.department}（依据：{'、'.join(dep.clauses)}）")
    basis = [hit for hit in answer.hits if hit.group == "basis"]
    if answer.in_scope and basis:
        cited = "、".join(cite(h.clause, _library_document(answer, h.clause)) for h in basis[:3])
        lines.append(f"法律依据：{cited}")
    lines.append("相关条款：")
    group = None
    for hit in answer.hits:
        if hit.group and hit.group != group:
            group = hit.group
            lines.append(f" {GROUP_LABELS.get(group, group)}：")
        document = _library_document(answer, hit.clause)
        department = responsible(hit.clause) or (document.short_name if document else "总则/附则")
        text = hit.clause.text
        if len(text) > width:
            text = text[: width - 1] + "…"
        lines.append(f"  [{hit.rank}] {hit.clause.id} {cite(hit.clause, document)} · {department} · {hit.score:.3f}")
        lines.append(f"      {text}")
    return "\n".join(lines)


#: What an assistant should pass on when the regulation does not answer a question, so
#: that it does not invent a responsible department.
OUT_OF_SCOPE_NOTICE = (
    "本规定未涉及这个问题：没有条款直接规定它由哪个部门负责。以下仅为最接近的条款，供参考，请勿据此推断负责部门。"
)
#: The instruction closing a context block.
CONTEXT_INSTRUCTION = "请仅依据以上条款回答，并注明条款编号（如 30.6）；条款未涉及的内容，请说明“本规定未涉及”。"
#: Default and bounds of the context token budget.
DEFAULT_CONTEXT_TOKENS = 1500
MIN_CONTEXT_TOKENS = 100
MAX_CONTEXT_TOKENS = 16000


def estimate_tokens(text: str) -> int:
    """A conservative LLM token estimate: one per CJK character, one per 4 other characters.

    Common chat-model tokenizers spend 0.6–1.5 tokens on a Chinese character and about a
    quarter of a token on an ASCII character; counting each CJK character as one keeps a
    budget close without depending on any one vendor's tokenizer.
    """
    cjk = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\u3000" <= ch <= "\u303f"
              or "\uff00" <= ch <= "\uffef")
    return cjk + math.ceil((len(text) - cjk) / 4)


def department_sentence(answer: Answer) -> str:
    """One sentence naming the responsible departments with their clause ids, or the out-of-scope notice."""
    if not answer.in_scope:
        return OUT_OF_SCOPE_NOTICE
    if not answer.departments:
        return "相关条款未写明负责部门，请依据下列条款回答。"
    parts = [f"{d.department}（依据：{'、'.join(d.clauses)}）" for d in answer.departments]
    return "负责部门：" + "；".join(parts) + "。"


def format_context(answer: Answer, *, max_tokens: int = DEFAULT_CONTEXT_TOKENS) -> tuple[str, tuple[str, ...]]:
    """A RAG-ready text block: the department answer, then numbered cited clauses, within a token budget.

    Clauses are added in rank order while they fit (:func:`estimate_tokens`); the first
    clause is shortened with "…" if even it does not fit, so the block is never empty of
    evidence when there are hits.

    Args:
        answer: the search answer.
        max_tokens: the budget for the whole block.

    Returns:
        The text and the ids of the clauses it includes, in order.
    """
    head = [f"问题：{answer.query}", *answer.notes, department_sentence(answer), "依据条款："]
    tail = CONTEXT_INSTRUCTION
    used = estimate_tokens("\n".join([*head, tail])) + 2
    blocks: list[str] = []
    included: list[str] = []
    for number, hit in enumerate(answer.hits, start=1):
        clause = hit.clause
        title = f"[{number}] {clause.citation}（{clause.id}）· {clause.department or '总则/附则'}"
        if answer.hits and not answer.in_scope:
            title += " · 仅供参考"
        block = f"{title}\n{clause.text}"
        cost = estimate_tokens(block) + 1
        if used + cost > max_tokens:
            if not blocks:
                room = max_tokens - used - estimate_tokens(title) - 2
                if room > 0:
                    text = clause.text[: max(room - 1, 1)] + "…"
                    blocks.append(f"{title}\n{text}")
                    included.append(clause.id)
            break
        blocks.append(block)
        included.append(clause.id)
        used += cost
    if not blocks:
        blocks.append("（没有检索到条款）")
    return "\n".join([*head, *blocks, tail]), tuple(included)


def context_to_dict(answer: Answer, *, max_tokens: int = DEFAULT_CONTEXT_TOKENS) -> dict[str, Any]:
    """The ``"format": "context"`` document of ``/v1/search``."""
    text, included = format_context(answer, max_tokens=max_tokens)
    return {
        "query": answer.query,
        "in_scope": answer.in_scope,
        "format": "context",
        "context": text,
        "clauses": list(included),
        "departments": [d.department for d in answer.departments],
        "tokens": estimate_tokens(text),
        "max_tokens": max_tokens,
    }
