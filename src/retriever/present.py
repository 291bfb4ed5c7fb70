"""Turn answers into the one JSON shape and the one text layout every shell uses.

The CLI (``--json``), the HTTP API and the UI all format through these functions,
so ``retriever search --json`` and ``POST /v1/search`` return the same document.
"""

from __future__ import annotations

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
