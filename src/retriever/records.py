"""Typed records shared by every stage: Document, Clause, Hit, DepartmentAnswer, Answer.

Data flows one way (parse → segment → embed → index → search → present/evaluate);
each stage hands the next one of these frozen records, never a bare tuple or dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: Department recorded for 第七条, the duties every department shares.
SHARED_DEPARTMENT = "各部门（共同职责）"

#: What a document is, for ranking by specificity: a duty list assigns duties to named
#: departments (like the seed), a law is a national or local law or regulation, an
#: implementing rule details how a law is applied.
Role = Literal["duty_list", "law", "implementing_rule"]
ROLES: tuple[Role, ...] = ("duty_list", "law", "implementing_rule")

#: How far a document applies: the whole country, a province (or autonomous region,
#: or municipality directly under the central government), or a city or county.
Level = Literal["national", "provincial", "city", "unknown"]
LEVELS: tuple[Level, ...] = ("national", "provincial", "city", "unknown")

#: Search pipelines, from the simplest to the complete engine.
Mode = Literal["bm25", "dense", "hybrid", "full"]
MODES: tuple[Mode, ...] = ("bm25", "dense", "hybrid", "full")


@dataclass(frozen=True)
class Document:
    """One regulation in the library.

    Attributes:
        id: the file stem (``安全生产法(2021-06-10)``, ``000_0181f60559a07f58``); gold sets
            and clause ids depend on it.
        title: the title taken from the text (``中华人民共和国安全生产法``).
        short_name: the name people cite it by (``安全生产法``).
        level: national / provincial / city, from the title and issuer.
        region: the place the title names (``北京市``, ``深圳经济特区``, ``新疆维吾尔自治区``),
            or None for national documents.
        version_date: ISO date of this version (from the file name or the header), or None.
        role: duty list, law or implementing rule (inferred; ``library.toml`` overrides).
        header: the lines before the body: subtitle, adoption, amendment, effective dates.
        source: the file's path relative to the library folder.
        format: ``txt``, ``md``, ``docx`` or ``pdf``.
        sha256: checksum of the file's bytes.
        superseded_by: the id of a newer version of the same regulation in the library.
        priority: an explicit ranking nudge from ``library.toml`` (0 by default).
    """

    id: str
    title: str
    short_name: str
    level: Level = "unknown"
    region: str | None = None
    version_date: str | None = None
    role: Role = "law"
    header: tuple[str, ...] = ()
    source: str = ""
    format: str = "txt"
    sha256: str = ""
    superseded_by: str | None = None
    priority: int = 0


@dataclass(frozen=True)
class Clause:
    """The unit of retrieval: one numbered item, or a whole article without items.

    Attributes:
        id: ``"18.7"`` for 第十八条（七）, ``"59"`` for an article without items,
            prefixed ``"<document>#"`` when several documents are loaded.
        document: the document id (the seed file's stem).
        title: the document's title (its ``# `` heading line).
        chapter: the chapter heading, e.g. ``"第二章 各部门安全生产职责"``.
        section: the section (节) heading within the chapter, e.g. ``"第一节 一般规定"``, or ``""``.
        article: the article number (第十八条 → 18).
        item: the item number (（七） → 7), or None for an article without items.
        department: the department named in the article heading
            (``"自治区公安厅"``), :data:`SHARED_DEPARTMENT` for shared duties,
            or None for a general article.
        text: the clause text, whitespace-trimmed, without the item marker.
        citation: ``"第十八条第（七）项"`` or ``"第五十九条"``.
        paragraph: the paragraph (款) number within the article when the article has
            several paragraphs (第十条第二款 → 2), else None.
        departments: every body the clause makes responsible: the heading department
            for duty lists, the bodies named in the text for laws (``department`` is
            the first of them).
    """

    id: str
    document: str
    title: str
    chapter: str
    article: int
    item: int | None
    department: str | None
    text: str
    citation: str
    paragraph: int | None = None
    departments: tuple[str, ...] = ()
    lead_in: str = ""
    section: str = ""


@dataclass(frozen=True)
class Hit:
    """One ranked clause in an answer.

    Attributes:
        clause: the clause found.
        score: the final score (higher is better; comparable within one answer).
        rank: 1-based position in the answer.
        matched_terms: query terms (after expansion) that occur in the clause text.
        nearest_only: True when the query is out of scope and this is only the
            nearest clause, not an answer.
        group: in a library answered from a duty list, ``"duty"`` for the duty-list clauses
            the answer rests on, ``"basis"`` for law clauses shown as their legal basis,
            ``"related"`` for other duty-list clauses; ``""`` otherwise.
    """

    clause: Clause
    score: float
    rank: int
    matched_terms: tuple[str, ...] = ()
    nearest_only: bool = False
    group: str = ""


@dataclass(frozen=True)
class DepartmentAnswer:
    """A department ranked by the evidence of its clauses among the hits."""

    department: str
    score: float
    clauses: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """What a search returns: the departments first, then the clauses.

    Attributes:
        query: the query as given.
        normalized_query: the query after cleaning and Traditional→Simplified.
        route: how it was answered: ``"citation"`` (a direct reference such as
            第三十三条第五项), ``"department"`` (a question about one department's
            duties) or ``"search"`` (ranked retrieval).
        in_scope: False when nothing in the corpus answers the question.
        departments: departments ranked, each with its supporting clause ids.
        hits: the ranked clauses (marked ``nearest_only`` when out of scope).
        detected_departments: departments the query names (by name or alias).
        expansions: lexicon terms added to the query.
        mode: the pipeline that produced the answer.
        notes: what the user should know about how the query was read.
        documents: the documents the hits come from (for citations with their names).
        region: the region the question was answered for, or None.
    """

    query: str
    normalized_query: str
    route: Literal["citation", "department", "search"]
    in_scope: bool
    departments: tuple[DepartmentAnswer, ...]
    hits: tuple[Hit, ...]
    detected_departments: tuple[str, ...] = ()
    expansions: tuple[str, ...] = ()
    mode: Mode = "full"
    notes: tuple[str, ...] = field(default=())
    documents: tuple[Document, ...] = ()
    region: str | None = None

    def document(self, document_id: str) -> Document | None:
        """The record of one of the answer's documents, or None."""
        return next((d for d in self.documents if d.id == document_id), None)
