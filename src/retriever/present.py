"""Turn answers into the one JSON shape and the one text layout every shell uses.

The CLI (``--json``), the HTTP API and the UI all format through these functions,
so ``retriever search --json`` and ``POST /v1/search`` return the same document.
"""

from __future__ import annotations

from typing import Any

from retriever.records import Answer, Clause, Hit


def clause_to_dict(clause: Clause) -> dict[str, Any]:
    """The public fields of a clause."""
    return {
        "id": clause.id,
        "citation": clause.citation,
        "department": clause.department,
        "text": clause.text,
        "document": clause.document,
        "chapter": clause.chapter,
        "article": clause.article,
        "item": clause.item,
    }


def hit_to_dict(hit: Hit) -> dict[str, Any]:
    """A ranked clause as ``{id, citation, department, text, score, ...}``."""
    return {
        "id": hit.clause.id,
        "citation": hit.clause.citation,
        "department": hit.clause.department,
        "text": hit.clause.text,
        "score": round(hit.score, 6),
        "rank": hit.rank,
        "matched_terms": list(hit.matched_terms),
        "nearest_only": hit.nearest_only,
    }


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """The search result document shared by ``--json`` and ``/v1/search``."""
    return {
        "query": answer.query,
        "in_scope": answer.in_scope,
        "route": answer.route,
        "notes": list(answer.notes),
        "departments": [
            {"department": d.department, "score": round(d.score, 6), "clauses": list(d.clauses)}
            for d in answer.departments
        ],
        "hits": [hit_to_dict(hit) for hit in answer.hits],
    }


def format_answer(answer: Answer, *, width: int = 100) -> str:
    """A human-readable answer: departments first, then the cited clauses."""
    lines: list[str] = [f"问题：{answer.query}", *answer.notes]
    if not answer.in_scope:
        lines.append("⚠ 本规定中没有直接回答这个问题的条款；以下仅为最接近的条款，供参考。")
    elif answer.departments:
        lines.append("负责部门：")
        for rank, dep in enumerate(answer.departments, start=1):
            lines.append(f"  {rank}. {dep.department}（依据：{'、'.join(dep.clauses)}）")
    lines.append("相关条款：")
    for hit in answer.hits:
        department = hit.clause.department or "总则/附则"
        text = hit.clause.text
        if len(text) > width:
            text = text[: width - 1] + "…"
        lines.append(f"  [{hit.rank}] {hit.clause.id} {hit.clause.citation} · {department} · {hit.score:.3f}")
        lines.append(f"      {text}")
    return "\n".join(lines)
