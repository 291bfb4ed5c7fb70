"""Query understanding, hybrid retrieval, fusion, department answer, out-of-scope signal.

Three routes answer a query:

* **citation**: 第三十三条第五项, 第33条, 33.5 → that clause (or article) first;
* **department**: 人社厅有哪些安全生产职责？ → every clause of that department;
* **search**: dense (FAISS) and BM25 (jieba tokens) rankings fused, with lexicon
  query expansion and a boost for departments the query names.

Search scores candidates only: the dense top-N and the BM25 top-N clauses of the allowed
documents (:mod:`retriever.candidates`; filters are applied inside retrieval), fused over their
union. With ``N`` at least the number of allowed clauses (the seed: 298 clauses, N = 300) the
union is every clause and the scores are those of a full scan, clause for clause.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from retriever.candidates import CandidateSource, FaissCandidates, Query, clause_dense
from retriever.embed import Embedder
from retriever.errors import IndexMissingError, QueryError
from retriever.intent import (
    FILLERS,
    PAPERS_STATED,
    Intent,
    figures,
    stated_about_subject,
    stated_figures,
    topic_words,
)
from retriever.lexical import LexicalIndex
from retriever.lexicon import Lexicon, has_cjk, mandarin, tidy
from retriever.parse import chinese_to_int, int_to_chinese, make_citation
from retriever.records import LEVELS, MODES, SHARED_DEPARTMENT, Answer, Clause, DepartmentAnswer, Document, Hit, Mode
from retriever.routing import (
    TIER_DUTY_LIST,
    TIER_NATIONAL,
    TIER_OTHER_REGION,
    DocumentMention,
    DocumentNames,
    applies_in,
    tier,
)
from retriever.segment import STOPWORDS, Segmenter
from retriever.spelling import Correction, HomophoneCorrector, load_corrector
from retriever.store import StoredIndex, lexical_text
from retriever.validation import MAX_K, MAX_QUERY_CHARS, validate_query

#: Above this many clauses the homophone corrector's vocabulary comes from the BM25 index.
_SEGMENT_VOCABULARY_MAX = 50_000

_NUM = "零〇一二两三四五六七八九十百千\\d"
_CITATION = re.compile(
    rf"第\s*([{_NUM}]+)\s*条(?:\s*第\s*([{_NUM}]+)\s*款)?(?:\s*第?\s*[（(]?\s*([{_NUM}]+)\s*[）)]?\s*项?)?"
)
# A request to see a cited text (帮我把原文调出来) rather than for advice or an essay about it.
_SHOW_TEXT = re.compile(r"原文|全文|原话|条文|(?:调|找|摘|列|念|贴)出来|show me|full text|wording")
# A word that is a citation or a number (第四十四条, 第38条): not what a statement is about.
_CITED_WORD = re.compile(rf"^第?[{_NUM}]+[条款项章节]$|[0-9]")
# An item named a few words after its article, a comma allowed (第三十一条卫健委职责里的第（九）项,
# 第六条，安全工作方案的第十项), but not after another article.
_LATER_ITEM = re.compile(rf"(?:(?!第\s*[{_NUM}]+\s*条)[^。.?？!！]){{0,40}}?第\s*[（(]?\s*([{_NUM}]+)\s*[）)]?\s*项")
# An article numbered in digits without 第, after a name (细则55条, 建安条例74条; not 有3条规定).
_ARABIC_ARTICLE = re.compile(r"(?<=[法例则])\s*([0-9]{1,3})\s*条(?!例)")
# 30.6 is 第三十条第（六）项; pm2.5 and v2.1 are not ids.
_BARE_ID = re.compile(r"(?<![\da-z.])(\d{1,3})\.(\d{1,2})(?![\d.])")
_ARTICLE_EN = re.compile(r"\barticle\s+(\d{1,3})(?:\s*(?:\.|item|\()\s*(\d{1,2})\)?)?", re.IGNORECASE)
# paragraph 3 of article 24, item 2 of article 10 (and article 24, paragraph 3; a point is an item).
_PART_OF_ARTICLE_EN = re.compile(
    r"\b(paragraph|item|point)\s+\(?(\d{1,2})\)?\s+of\s+article\s+(\d{1,3})\b"
    r"|\barticle\s+(\d{1,3}),?\s+(paragraph|item|point)\s+\(?(\d{1,2})\)?",
    re.IGNORECASE)

# Words that, around a department name, still ask "what are all its duties".
_DEPARTMENT_FRAME = frozenset(
    """安全 生产 安全生产 职责 工作 负责 哪些 什么 主要 具体 内容 任务 责任 监管 管理 安全监管 安全管理
    有 管 干 做 包括 包含 承担 履行 一下 全部 所有 列出 列举 都 的 是 吗 呢 啥 方面 事 事情 事项 条款 规定
    duties duty responsibilities responsibility responsible what does do safety list all are the its of for
    is in on role roles""".split()
)


# Regional prefixes of department names; the rest is how people usually say the name.
_REGION_PREFIXES = ("自治区党委", "自治区", "新疆维吾尔自治区", "新疆", "国家")

#: How many of the best candidates count towards an article's several paragraphs.
_ARTICLE_DEPTH = 20
#: How many of the best candidates a quantity question looks at for stated amounts.
_QUANTITY_DEPTH = 50


# A law clause that makes a body responsible for a field (…部门对…实施监督管理), not a penalty clause.
_SUPERVISION = re.compile(
    r"实施(?:综合)?监督管理|负责[^。；]{0,40}(?:监督管理|管理|监管)工作|主管[^。；]{0,20}工作|综合监督管理")
_PENALTY = re.compile(r"罚款|责令|吊销|处分|追究")
# A law's 法律责任 chapter (penalties) answers questions about penalties, not about duties.
_LIABILITY_CHAPTER = re.compile(r"法律责任|罚则")
@dataclass(frozen=True)
class SearchSettings:
    """Knobs of the full engine (tuned on the dev split only).

    Attributes:
        rrf_k: the RRF constant for the hybrid mode.
        dense_weight / bm25_weight: weights of the normalised scores in the full mode.
        english_dense_weight: the dense weight for a question without Chinese characters (BM25
            then matches only the lexicon's expansions), BM25 taking the rest; None: as any question.
        expansion_weight: weight of lexicon-expansion terms relative to query terms in BM25.
        department_boost: added to clauses of a department the query names.
        department_depth: how many top hits vote for the department answer.
        min_dense_floor: below this best cosine a query is out of scope whatever it asks.
        min_dense: with lexicon evidence only (no "who" or duty word), the best cosine
            must reach this for the query to be in scope.
        min_dense_strong: at or above this best cosine a query is in scope even without cues.
        named_document_boost: added to clauses of a document the question names.
        tier_boosts: added to clauses by their document's specificity for the question's
            region: the region's duty lists, its local regulations, national laws, others.
        who_tier_boosts: the same for questions that ask who is responsible (or name a
            department): there the region's duty list is the answer and a law its basis.
        tier_gate: the specificity boosts apply to clauses scoring at least this share of
            the best clause before boosts.
        who_body_boost: added, for a "who" question, to law clauses that make a body responsible.
        who_supervision_boost: added on top to law clauses that assign a body the supervision
            of a field (…部门对全国安全生产工作实施综合监督管理).
        quantity_boost: added, for a "how much / how long" question, to the best candidates
            that state that kind of amount.
        stated_depth: a "how much" question is in scope when one of this many best candidates
            (before ``quantity_boost``) states that kind of amount.
        topic_share: a "how much" question's specific words are those found in fewer than this
            share of the library's clauses; the clause stating the amount must name one of them.
        claim_depth: a statement about a named text put as a question without a citation
            (听说消防法规定…，是真的吗) is out of scope when none of its specific words (none of its
            figures' units) is in the articles of this many best candidates.
        claim_common: for such a statement, words in at least this share of the named text's
            clauses (消防安全 in 消防法) are not its specific words.
        liability_penalty: taken, for a question that does not ask about penalties, from
            clauses of a law's 法律责任 chapter.
        article_boost: up to this much is added to a law clause whose article has other
            paragraphs or items among the best candidates (a third of it per sibling, up to three).
        duty_gate / who_duty_gate: the duty list's boosts apply only when its best clause
            scores at least this share of the best law clause before boosts (for questions
            that ask who: of the best law clause that makes a body responsible); below it the
            duty list does not cover what is asked.
        basis_clauses: how many law clauses follow a duty-list answer as its legal basis.
        basis_share: a law clause is shown as the basis only when it scores at least this
            share of the best hit (a weak one stays where it ranks).
        duty_shown: at most this many duty-list clauses that score like the duty lead the
            answer before the basis (the department answer still rests on the top hits).
        duty_list_share: the department answer comes from the region's duty list when a
            duty-list clause among the top hits scores at least this share of the best.
        priority_step: added per point of a document's ``priority`` in ``library.toml``.
        duty_list_alone: a duty list's clauses keep, among themselves, the order a search of
            that list alone gives them (its own BM25 statistics and normalisation); the library
            decides only where they stand among the other documents' clauses.
        candidates: clauses each retriever (dense, BM25) contributes to fusion; at least
            the clause count makes search exact (every clause scored).
        region: the home region (default: ``RETRIEVER_REGION``, else the library's).
    """

    rrf_k: int = 60
    dense_weight: float = 0.6
    bm25_weight: float = 0.4
    english_dense_weight: float | None = 0.9
    expansion_weight: float = 0.3
    department_boost: float = 0.1
    department_depth: int = 5
    min_dense_floor: float = 0.80
    min_dense: float = 0.86
    min_dense_strong: float = 0.92
    named_document_boost: float = 0.5
    tier_boosts: tuple[float, float, float, float] = (0.05, 0.03, 0.0, 0.0)
    who_tier_boosts: tuple[float, float, float, float] = (0.4, 0.2, 0.0, 0.0)
    duty_list_share: float = 0.75
    tier_gate: float = 0.0
    duty_gate: float = 0.0
    who_duty_gate: float = 0.65
    who_body_boost: float = 0.1
    who_supervision_boost: float = 0.05
    quantity_boost: float = 0.25
    stated_depth: int = 5
    claim_depth: int = 3
    claim_common: float = 0.05
    topic_share: float = 0.03
    article_boost: float = 0.045
    liability_penalty: float = 0.1
    basis_clauses: int = 2
    duty_shown: int = 4
    basis_share: float = 0.8
    priority_step: float = 0.05
    duty_list_alone: bool = True
    candidates: int = 300
    region: str | None = None


@dataclass(frozen=True)
class QueryAnalysis:
    """What the engine understood of a query before retrieving."""

    text: str
    corrections: tuple[Correction, ...]
    tokens: tuple[str, ...]
    words: tuple[str, ...]
    expansions: tuple[str, ...]
    departments: tuple[str, ...]
    citation: tuple[int, int | None] | None
    paragraph: int | None = None
    mention: DocumentMention = field(default_factory=DocumentMention)
    #: What clauses are matched on: the text without the documents and place it names.
    topic: str = ""
    #: Whether a department is named as such (文旅厅, 消防队), not only by a topic word alias (消防).
    names_agency: bool = False
    #: What kind of answer the question asks for.
    intent: Intent = field(default_factory=Intent)

    @property
    def asks_who(self) -> bool:
        """Asks who is responsible, or names an agency (文旅厅管网吧吗) without asking for an amount
        (应急管理厅最多罚多少 asks what the law states)."""
        return self.intent.who or (self.names_agency and not self.intent.quantity)


@dataclass(frozen=True)
class _DutyList:
    """A duty list of the library, scored as if it were searched alone.

    Attributes:
        rows: its clause rows, ascending.
        lexical: BM25 over its clauses only (that list's own term statistics).
    """

    rows: np.ndarray
    lexical: LexicalIndex


class Searcher:
    """Answers questions over one loaded index.

    Args:
        index: the loaded, checked index.
        embedder: the model the index was built with.
        lexicon: departments, aliases and synonyms.
        segmenter: the tokenizer the index was built with.
        settings: fusion and threshold settings.
        candidates: where candidates come from (default: the index folder's FAISS and BM25).
    """

    def __init__(self, index: StoredIndex, embedder: Embedder, lexicon: Lexicon, segmenter: Segmenter,
                 settings: SearchSettings | None = None, candidates: CandidateSource | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.lexicon = lexicon
        self.segmenter = segmenter
        self.settings = settings or SearchSettings()
        self.clauses: tuple[Clause, ...] = index.clauses
        self.manifest: dict[str, Any] = index.manifest
        self.candidates: CandidateSource = candidates or FaissCandidates(index.dense, index.lexical,
                                                                         index.unit_clause)
        self._row = {clause.id: row for row, clause in enumerate(self.clauses)}
        self._department_rows: dict[str, list[int]] = defaultdict(list)
        self._document_rows: dict[str, list[int]] = defaultdict(list)
        # Keyed by the article part of the id: "120", or "120a" for 第一百二十条之一.
        self._article_rows: dict[tuple[str, str], list[int]] = defaultdict(list)
        # Keyed by the chapter number (第五章 → 5), for 安全生产法第五章讲什么.
        self._chapter_rows: dict[tuple[str, int], list[int]] = defaultdict(list)
        # Keyed by chapter and section (第二章第一节 → 2, 1), for 特种设备安全法第二章第一节.
        self._section_rows: dict[tuple[str, int, int], list[int]] = defaultdict(list)
        chapter_of: dict[str, int | None] = {}
        for row, clause in enumerate(self.clauses):
            self._document_rows[clause.document].append(row)
            self._article_rows[(clause.document, _article_part(clause.id))].append(row)
            if clause.chapter not in chapter_of:
                chapter_of[clause.chapter] = _find_chapter(clause.chapter)
            if (chapter := chapter_of[clause.chapter]) is not None:
                self._chapter_rows[(clause.document, chapter)].append(row)
                if clause.section and (section := _find_section(clause.section)) is not None:
                    self._section_rows[(clause.document, chapter, section)].append(row)
            for name in dict.fromkeys((*clause.departments, *((clause.department,) if clause.department else ()))):
                self._department_rows[name].append(row)
        self.documents: dict[str, Document] = {d.id: d for d in index.documents}
        for document_id in self._document_rows:
            if document_id not in self.documents:
                title = next(c.title for c in self.clauses if c.document == document_id)
                self.documents[document_id] = Document(id=document_id, title=title, short_name=title)
        self._documents = list(self._document_rows)
        self._position = {document_id: position for position, document_id in enumerate(self._documents)}
        self._row_document = np.array([self._position[c.document] for c in self.clauses], dtype=np.int64)
        # Each clause's document priority (library.toml), computed once rather than per query.
        priorities = np.array([self.documents[d].priority for d in self._documents], dtype=np.float64)
        self._row_priority = priorities[self._row_document]
        self._scopes: dict[tuple[Any, ...], _Scope] = {}
        # Per word: about the share of clauses that contain it (see _clause_share).
        self._shares: dict[str, float] = {}
        self._document_shares: dict[tuple[str, str], float] = {}
        self.home_region: str | None = (self.settings.region or os.environ.get("RETRIEVER_REGION")
                                        or index.manifest.get("library", {}).get("region") or None)

    @cached_property
    def _corrector(self) -> HomophoneCorrector:
        def vocabulary() -> set[str]:
            words = set(self.lexicon.user_words()) | set(self._department_rows) | set(self._unlisted_names)
            if len(self.clauses) > _SEGMENT_VOCABULARY_MAX:
                # A large library: its BM25 vocabulary (search-mode tokens, a superset of the
                # words) instead of segmenting every clause again, which takes minutes there.
                words.update(self.index.lexical.vocabulary())
                return words
            for clause_words in self.segmenter.words_many([clause.text for clause in self.clauses]):
                words.update(clause_words)
            return words

        # The vocabulary follows from the clauses (clauses.jsonl's checksum), the lexicon and the
        # segmenter: its pinyin tables are computed once per index and kept in the user cache.
        clauses_sha = (self.manifest.get("files") or {}).get("clauses.jsonl")
        if not isinstance(clauses_sha, str):  # an index without checksums: nothing safe to key on
            return HomophoneCorrector(vocabulary(), self.segmenter.is_word, self.segmenter.log_probability)
        source = "bm25" if len(self.clauses) > _SEGMENT_VOCABULARY_MAX else "words"
        key = "\n".join((f"vocabulary-1-{source}", clauses_sha, self.lexicon.checksum, self.segmenter.fingerprint))
        return load_corrector(key, vocabulary, self.segmenter.is_word, self.segmenter.log_probability)

    @cached_property
    def _converter(self) -> Any:
        import opencc

        return opencc.OpenCC("t2s")

    def warm_up(self) -> None:
        """Run one query through every lazy part (jieba, OpenCC, the model) before serving."""
        self.search("电动车充电归哪个部门管？")

    def preload(self) -> None:
        """Load whole what a one-off command reads piecemeal: the model's tokenizer and jieba's dictionary.

        For a long-running process (the server), about a second once. Queries are then
        tokenised by the model's own tokenizer, which works outside the GIL, instead of
        from the piece table in Python, and jieba reads a dict instead of a table memo;
        the tokens are the same either way.
        """
        load_tokenizer = getattr(self.embedder, "load_tokenizer", None)
        if callable(load_tokenizer):
            load_tokenizer()
        self.segmenter.load_dictionary()
        self._duty_lists  # noqa: B018  (built now, not on the first question)

    # ----- lookups -------------------------------------------------------------------
    def clause(self, clause_id: str) -> Clause:
        """The clause with this id. Raises KeyError if there is none."""
        return self.clauses[self._row[clause_id]]

    def article(self, clause_id: str) -> list[Clause]:
        """Every clause of the article that ``clause_id`` belongs to, in order."""
        clause = self.clause(clause_id)
        return [self.clauses[r] for r in self._article_rows[(clause.document, _article_part(clause.id))]]

    def departments(self) -> list[str]:
        """Distinct departments in corpus order."""
        return list(self._department_rows)

    @cached_property
    def _names_body(self) -> np.ndarray:
        """Per clause row: whether the clause makes a body responsible (a department or a body in its text)."""
        return np.array([bool(self._departments_of(c)) for c in self.clauses], dtype=bool)

    @cached_property
    def _assigns_supervision(self) -> np.ndarray:
        """Per clause row: whether the clause assigns a body the supervision of a field (not a penalty)."""
        return np.array([bool(c.departments) and bool(_SUPERVISION.search(c.text)) and not _PENALTY.search(c.text)
                         for c in self.clauses], dtype=bool)

    @cached_property
    def _in_liability_chapter(self) -> np.ndarray:
        """Per clause row: whether the clause is in a 法律责任 (penalties) chapter."""
        return np.array([bool(_LIABILITY_CHAPTER.search(c.chapter)) for c in self.clauses], dtype=bool)

    @cached_property
    def _row_article(self) -> np.ndarray:
        """Per clause row: an integer key of its article (the same for every clause of one article)."""
        keys: dict[tuple[str, str], int] = {}
        return np.array([keys.setdefault((c.document, _article_part(c.id)), len(keys)) for c in self.clauses],
                        dtype=np.int64)

    @cached_property
    def _duty_lists(self) -> tuple[_DutyList, ...]:
        """The library's duty lists, each with its BM25 index of its own (saved with the index)."""
        if not self.is_library:
            return ()
        lists = []
        for position, document_id in enumerate(self._documents):
            if self.documents[document_id].role != "duty_list":
                continue
            rows = np.flatnonzero(self._row_document == position).astype(np.int64)
            if not rows.size:
                continue
            lexical = self.index.duty_lexical.get(document_id)
            if lexical is None or lexical.size != rows.size:  # an index built before they were saved
                lexical = LexicalIndex.build(
                    self.segmenter.tokens_many([lexical_text(self.clauses[int(r)]) for r in rows]))
            lists.append(_DutyList(rows=rows, lexical=lexical))
        return tuple(lists)

    def _order_as_alone(self, scores: np.ndarray, rows: np.ndarray, query: Query,
                        analysis: QueryAnalysis) -> np.ndarray:
        """``scores`` with each duty list's candidates in the order a search of that list alone gives.

        The list's candidates keep the library's scores as a set (so where the list stands among
        the other documents is the library's decision); which of its clauses holds which score
        follows the single-document fusion: exact dense over all its clauses, its own BM25, min–max
        over the list, and the boost for the departments the question names.
        """
        s = self.settings
        for duty in self._duty_lists:
            present = np.flatnonzero(np.isin(rows, duty.rows, assume_unique=True))
            if present.size < 2:
                continue
            own = s.bm25_weight * _minmax(duty.lexical.weighted_scores(query.tokens, query.expansion,
                                                                       query.expansion_weight))
            if query.vector is not None:
                own = own + s.dense_weight * _minmax(clause_dense(self.index.dense, self.index.unit_clause,
                                                                  query.vector, duty.rows))
            for name in analysis.departments:
                own[np.isin(duty.rows, self._department_arrays[name], assume_unique=True)] += s.department_boost
            # Each present candidate's alone score (rows of both are ascending).
            alone = own[np.searchsorted(duty.rows, rows[present])]
            by_alone = present[np.lexsort((rows[present], -alone))]
            scores[by_alone] = np.sort(scores[present])[::-1]
        return scores

    @cached_property
    def _document_names(self) -> DocumentNames:
        """The library's document names and places, prepared once for reading questions."""
        return DocumentNames(list(self.documents.values()))

    @cached_property
    def _has_laws(self) -> bool:
        """Whether the library holds laws (which state amounts), not only duty lists."""
        return any(d.role != "duty_list" for d in self.documents.values()) and self.is_library

    @property
    def is_library(self) -> bool:
        """True when more than one document is loaded."""
        return len(self._documents) > 1

    def document_list(self) -> list[Document]:
        """The documents in library order."""
        return [self.documents[d] for d in self._documents]

    def citation(self, clause: Clause) -> str:
        """The citation of a clause, with its document's name in a library: 《安全生产法》第十条第二款."""
        if not self.is_library:
            return clause.citation
        document = self.documents.get(clause.document)
        return f"《{document.short_name if document else clause.title}》{clause.citation}"

    # ----- query understanding -------------------------------------------------------
    def normalize(self, text: str) -> str:
        """NFKC (full-width → half-width), Traditional → Simplified, Cantonese words in Mandarin, lower-case
        ASCII, typing slips tidied (:func:`~retriever.lexicon.tidy`)."""
        text = unicodedata.normalize("NFKC", text)
        return tidy(mandarin(str(self._converter.convert(text))).lower())

    def _correct(self, text: str) -> tuple[str, tuple[Correction, ...]]:
        """Homophone typos corrected, except inside the names of documents and places the question
        uses (职防法 is 职业病防治法 loosely written, not 职 + a typo 方法)."""
        corrected, corrections = self._corrector.correct(text)
        if not corrections or not self.is_library:
            return corrected, corrections
        spans = self._document_names.mentions(text).spans
        if not spans:
            return corrected, corrections
        pieces: list[str] = []
        kept: list[Correction] = []
        start = 0
        for begin, end in (*spans, (len(text), len(text))):
            if begin < start:
                continue
            piece, fixed = self._corrector.correct(text[start:begin])
            pieces += (piece, text[begin:end])
            kept += fixed
            start = end
        return "".join(pieces), tuple(kept)

    def analyze(self, query: str) -> QueryAnalysis:
        """Normalise a validated query and find its citation, departments and expansions."""
        text, corrections = self._correct(self.normalize(query))
        citation = _find_citation(text)
        mention = self._document_names.mentions(text) if self.is_library else DocumentMention()
        topic = mention.topic(text)
        departments = self._detect_departments(text)
        if citation is None and len(departments) == 1 and (found := self._department_item(text, departments[0])):
            document_id, article, item = found
            citation = (article, item, None)
            if not mention.documents:
                mention = replace(mention, documents=(document_id,))
        return QueryAnalysis(
            text=text,
            corrections=corrections,
            tokens=tuple(self.segmenter.tokens(topic)),
            words=tuple(w for w in self.segmenter.words(text) if w.lower() not in STOPWORDS),
            expansions=tuple(self.lexicon.expand(text)),
            departments=departments,
            citation=(citation[0], citation[1]) if citation else None,
            paragraph=citation[2] if citation else None,
            mention=mention,
            topic=topic,
            names_agency=self._names_an_agency(text, departments),
            intent=Intent.read(text),
        )

    # ----- search ----------------------------------------------------------------------
    def search(self, query: str, k: int = 10, *, department: str | None = None, mode: Mode = "full",
               document: str | None = None, region: str | None = None, level: str | None = None,
               include_superseded: bool = False) -> Answer:
        """Answer a question: departments first, then ranked clauses.

        Args:
            query: the question, in Chinese (Simplified or Traditional) or English.
            k: how many clauses to return (a department question returns all of its clauses).
            department: only return clauses of this department.
            mode: ``bm25``, ``dense``, ``hybrid`` or ``full`` (the engine).
            document: only return clauses of this document (an id from :meth:`document_list`).
            region: answer for this region (default: the place the question names, else the
                home region); other regions' documents are left out.
            level: only documents of this level (``national``, ``provincial``, ``city``).
            include_superseded: also search versions that a newer one in the library replaces.

        Raises:
            QueryError: the query, k, department, document, level or mode is invalid.
        """
        plan = self._plan(query, k, department=department, mode=mode, document=document, region=region,
                          level=level, include_superseded=include_superseded)
        try:
            text = next(plan)
            while True:
                text = plan.send(self.embedder.encode_queries([text])[0])
        except StopIteration as finished:
            answer: Answer = finished.value
            return answer

    async def search_async(self, query: str, k: int = 10, *, department: str | None = None, mode: Mode = "full",
                           document: str | None = None, region: str | None = None, level: str | None = None,
                           include_superseded: bool = False) -> Answer:
        """:meth:`search` for an event loop: the same answer, and the loop serves others while the model works.

        The search itself runs on the loop's thread; only the query's forward pass runs
        elsewhere (the embedder's ``submit_queries`` if it has one, else a worker thread),
        so a server needs no worker thread per search. Raises as :meth:`search` does.
        """
        plan = self._plan(query, k, department=department, mode=mode, document=document, region=region,
                          level=level, include_superseded=include_superseded)
        submit = getattr(self.embedder, "submit_queries", None)
        try:
            text = next(plan)
            while True:
                if submit is not None:
                    vectors = await asyncio.wrap_future(submit([text]))
                else:
                    vectors = await asyncio.to_thread(self.embedder.encode_queries, [text])
                text = plan.send(vectors[0])
        except StopIteration as finished:
            answer: Answer = finished.value
            return answer

    def _plan(self, query: str, k: int, *, department: str | None, mode: Mode, document: str | None,
              region: str | None, level: str | None, include_superseded: bool) -> Generator[str, np.ndarray, Answer]:
        """The search as a generator: yields the text to encode as a query, is sent its vector, returns the answer."""
        text = validate_query(query)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise QueryError(f"k must be an integer from 1 to {MAX_K}, not {k!r}.", "Ask for fewer results.")
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r}.", f"Use one of: {', '.join(MODES)}.")
        if department is not None and department not in self._department_rows:
            raise QueryError(f"unknown department {department[:100]!r}.",
                             "List the departments with GET /v1/departments or `retriever departments`.")
        if document is not None and document not in self.documents:
            raise QueryError(f"unknown document {document[:100]!r}.",
                             "List the documents with GET /v1/documents or `retriever documents`.")
        if level is not None and level not in LEVELS:
            raise QueryError(f"unknown level {level[:100]!r}.", f"Use one of: {', '.join(LEVELS)}.")
        analysis = self.analyze(text)
        scope = self._scope(analysis, document, region, level, include_superseded)
        notes = _notes(analysis) + scope.notes
        # A regulation the library does not hold: nothing here answers for it.
        unknown = bool(analysis.mention.unknown_names and not analysis.mention.documents)
        # An article, chapter, section or office the question names that the library does not have.
        missing = False
        if mode == "full" and not unknown:
            if analysis.citation is not None:
                answer = self._answer_citation(query, analysis, k, department, scope)
                if answer is not None:
                    return answer
                missing = self.is_library
                notes += (f"{'所选法规' if self.is_library else '本规定'}中没有{make_citation(*analysis.citation)}，"
                          "以下为按问题检索的结果。",)
            elif (chapter := _find_chapter(analysis.text)) is not None and (scope.named or not self.is_library):
                # 安全生产法第五章讲什么: a chapter of a named document (or of the only one);
                # 特种设备安全法第二章第一节: a section of that chapter.
                documents = scope.named or tuple(self._documents)
                section = _find_section(analysis.text)
                answer = self._answer_chapter(query, analysis, chapter, k, scope, documents, section)
                if answer is not None:
                    return answer
                missing = True
                names = "、".join(f"《{self.documents[d].short_name}》" for d in documents)
                asked = f"第{int_to_chinese(chapter)}章" + (f"第{int_to_chinese(section)}节" if section else "")
                notes += (f"{names}没有{asked}，以下为按问题检索的结果。",)
            if (office := self._unlisted_office(analysis)) is not None:
                # 自治区退役军人事务厅分工负责哪些: an office no text of the library names.
                missing = True
                notes += (f"库内法规没有写到{office}，以下为按问题检索的结果。",)
            elif department is None and document is None and self._is_department_question(analysis):
                return self._answer_department(query, analysis, scope)
        scored, in_scope = yield from self._retrieve(analysis, mode, department, scope)
        if mode == "full" and (unknown or missing):
            in_scope = False
        elif (mode == "full" and in_scope and analysis.intent.checks and analysis.citation is None
              and analysis.mention.documents
              and (unsaid := self._unsaid(analysis, self._best_articles(scored, self.settings.claim_depth),
                                          by_words=_mostly_chinese(analysis.text),
                                          within=analysis.mention.documents))):
            # 听说消防法规定每家每户都得装烟雾报警器，是真的吗: the closest articles of the text it names say
            # nothing of it. (Only for a named text, and by its words only in Chinese: 法律上真是这样吗
            # names none, and the words of a question mostly in English are not the texts'.)
            in_scope = False
            notes += (f"最相关的条款没有写到{'、'.join(unsaid[:3])}，以下仅为库内最接近的条款，供参考。",)
        history = self._history(analysis) if mode == "full" and not unknown else None
        if history:
            # 道路交通安全法是哪一年通过的: the document's header answers, the clauses follow (not the
            # date of a revision to come: 消防法下一次修订大概啥时候，新版本哪天开始施行).
            notes += (history,)
            in_scope = not analysis.intent.advice
        elif mode == "full" and analysis.intent.history and len(analysis.mention.documents) == 1:
            # 三个必须实施细则是哪一年印发的: a text whose header states no dates cannot say.
            undated = self.documents[analysis.mention.documents[0]]
            notes += (f"《{undated.short_name}》的文本没有载明通过、公布或施行的日期。",)
            in_scope = False
        answer = self._assemble(query, analysis, scored, k, mode, in_scope=in_scope, route="search", scope=scope)
        return answer if answer.notes == notes else replace(answer, notes=notes)

    def _scope(self, analysis: QueryAnalysis, document: str | None, region: str | None, level: str | None,
               include_superseded: bool) -> _Scope:
        """Which documents may answer, how specific each is, and what to tell the user about it.

        Scopes are kept per distinct question setting (a few hundred at most in practice), so a
        library of thousands of documents is walked once per setting, not once per query.
        """
        mention = analysis.mention
        key = (region or mention.region, document, level, include_superseded, mention.documents,
               mention.unknown_names, mention.level)
        cached = self._scopes.get(key)
        if cached is None:
            cached = self._compute_scope(analysis, document, region, level, include_superseded)
            if len(self._scopes) >= 1024:
                self._scopes.clear()
            self._scopes[key] = cached
        return cached

    def _compute_scope(self, analysis: QueryAnalysis, document: str | None, region: str | None,
                       level: str | None, include_superseded: bool) -> _Scope:
        mention = analysis.mention
        asked_region = region or mention.region
        effective = asked_region or self.home_region
        notes: list[str] = []
        for name in mention.unknown_names:
            if not mention.documents:
                notes.append(f"本库未收录《{name}》，以下仅为库内最接近的条款，供参考。")
        named = set(mention.documents)
        allowed = np.ones(len(self._documents), dtype=bool)
        tiers = np.full(len(self._documents), TIER_NATIONAL, dtype=np.int64)
        for position, document_id in enumerate(self._documents):
            doc = self.documents[document_id]
            tiers[position] = tier(doc, effective)
            if document is not None and document_id != document:
                allowed[position] = False
            if level is not None and doc.level != level:
                allowed[position] = False
            if doc.superseded_by and not include_superseded and document != document_id:
                allowed[position] = False
            if tiers[position] == TIER_OTHER_REGION and document_id not in named and document != document_id:
                allowed[position] = False
        if mention.level == "national" and level is None and document is None:
            allowed &= tiers == TIER_NATIONAL
        if self.is_library and effective:
            has_duty_list = any(d.role == "duty_list" for d in self.documents.values())
            local = [d for d in self.documents.values() if d.region and applies_in(d.region, effective)]
            if has_duty_list and not any(d.role == "duty_list" for d in local):
                notes.append(f"未载入{effective}的职责清单，以下按国家法律{'和当地法规' if local else ''}回答。")
        if not allowed.any():
            notes.append("没有符合所选条件的法规。")
        named_positions = np.array([self._position[d] for d in mention.documents if d in self._position],
                                   dtype=np.int64)
        return _Scope(allowed=allowed, tiers=tiers, named=tuple(mention.documents), region=effective,
                      notes=tuple(notes), named_positions=named_positions,
                      documents=() if allowed.all() else tuple(
                          d for d, ok in zip(self._documents, allowed, strict=True) if ok),
                      allowed_rows=None if allowed.all() else allowed[self._row_document])

    def _allowed_rows(self, scope: _Scope) -> np.ndarray:
        """A boolean mask over clause rows: which clauses may answer."""
        if scope.allowed_rows is None:
            return np.ones(len(self.clauses), dtype=bool)
        return scope.allowed_rows

    @cached_property
    def _department_arrays(self) -> dict[str, np.ndarray]:
        """Each department's clause rows, sorted (for membership tests over candidates)."""
        return {name: np.asarray(rows, dtype=np.int64) for name, rows in self._department_rows.items()}

    @cached_property
    def _unlisted_names(self) -> dict[str, str]:
        """Spellings of corpus departments the lexicon does not list (a new seed's departments).

        The full name, and the name without a regional prefix (自治区测试局 → 测试局) when
        that short form belongs to one department only.
        """
        listed = {d.name for d in self.lexicon.departments}
        names: dict[str, str] = {}
        short: dict[str, set[str]] = defaultdict(set)
        for name in self._department_rows:
            if name in listed or name == SHARED_DEPARTMENT:
                continue
            names[name.lower()] = name
            for prefix in _REGION_PREFIXES:
                if name.startswith(prefix) and len(name) - len(prefix) >= 2:
                    short[name[len(prefix):].lower()].add(name)
        names.update({alias: next(iter(owners)) for alias, owners in short.items()
                      if len(owners) == 1 and alias not in names})
        return names

    @cached_property
    def _unlisted_spellings(self) -> tuple[str, ...]:
        """The unlisted spellings, longest first (sorted once, not per query)."""
        return tuple(sorted(self._unlisted_names, key=len, reverse=True))

    def _detect_departments(self, text: str) -> tuple[str, ...]:
        """Departments the query names: lexicon names and aliases, then unlisted corpus names."""
        found = [d for d in self.lexicon.detect_departments(text) if d in self._department_rows]
        for spelling in self._unlisted_spellings:
            name = self._unlisted_names[spelling]
            if spelling in text and name not in found:
                found.append(name)
        return tuple(found)

    def _unlisted_office(self, analysis: QueryAnalysis) -> str | None:
        """A home-region office or a 兵团 body the question names that no text of the library names
        (自治区退役军人事务厅, 新疆生产建设兵团应急管理局), unless the question names a law."""
        if any(self.documents[d].role != "duty_list" for d in analysis.mention.documents):
            return None
        for match in _OFFICE_NAME.finditer(analysis.text):
            office = match.group(0)
            if office in self._clause_blob:
                continue
            # 自治区文旅厅 is 文旅厅 (an alias); a 兵团 body is none of the region's departments.
            known = any(office in k or (len(k) >= 3 and k in office) for k in self._department_spellings)
            if not known or "兵团" in office:
                return office
        return None

    @cached_property
    def _department_spellings(self) -> frozenset[str]:
        """Every department name and alias of the lexicon, and the names the texts use."""
        names = {n for e in self.lexicon.departments for n in (e.name, *e.aliases)}
        return frozenset(names | set(self._department_rows) | set(self._unlisted_spellings))

    def _department_item(self, text: str, department: str) -> tuple[str, int, int] | None:
        """公安厅那一条的第十三项: (document, article, item) of the one duty-list article that lists that
        department's duties, or None."""
        if (m := _DEPARTMENT_ITEM.search(text)) is None:
            return None
        rows = self._department_rows.get(department, ())
        articles = {(self.clauses[r].document, self.clauses[r].article) for r in rows
                    if self.documents[self.clauses[r].document].role == "duty_list"}
        if len(articles) != 1:
            return None
        try:
            item = chinese_to_int(m.group(1))
        except ValueError:
            return None
        document_id, article = articles.pop()
        return (document_id, article, item) if 0 < item < 1000 else None

    def _is_department_question(self, analysis: QueryAnalysis) -> bool:
        """One department named, and nothing else asked than its duties."""
        if len(analysis.departments) != 1:
            return False
        rest = analysis.text
        for name in self._mentions(analysis.text, analysis.departments[0]):
            rest = rest.replace(name, " ")
        words = [w for w in self.segmenter.words(rest) if w.lower() not in STOPWORDS]
        return all(w.lower() in _DEPARTMENT_FRAME for w in words)

    def _history(self, analysis: QueryAnalysis) -> str | None:
        """For a question about when one named regulation was adopted, amended or took effect:
        its header lines (通过, 修正, 修订, 施行), as a note."""
        if len(analysis.mention.documents) != 1 or not analysis.intent.history:
            return None
        document = self.documents[analysis.mention.documents[0]]
        if not document.header:
            return None
        return f"《{document.short_name}》：{'；'.join(document.header)}"

    def _names_an_agency(self, text: str, departments: Sequence[str]) -> bool:
        """Whether the question names a department as such (文旅厅, 消防队), not only by a topic word
        that is also one of its aliases (消防, 119): in a library a topic word does not ask who."""
        if not self.is_library:
            return bool(departments)
        return any(len(name) > 2 and not name.isdigit()
                   for department in departments for name in self._mentions(text, department))

    def _mentions(self, text: str, department: str) -> list[str]:
        """The spellings of ``department`` (name, aliases, English) that occur in ``text``."""
        names: list[str] = [department]
        for entry in self.lexicon.departments:
            if entry.name == department:
                names.extend((*entry.aliases, *entry.english))
        names.extend(alias for alias, owner in self._unlisted_names.items() if owner == department)
        return sorted({n.lower() for n in names if n and n.lower() in text}, key=len, reverse=True)

    def _retrieve(self, analysis: QueryAnalysis, mode: Mode, department: str | None,
                  scope: _Scope) -> Generator[str, np.ndarray, tuple[_Scored, bool]]:
        """Candidate clauses and their scores for one mode (higher is better), and the in-scope signal.

        A generator: it yields the dense query text and is sent its vector (see :meth:`_plan`).

        Filters (the scope's documents, ``department``) are applied inside retrieval; fusion
        (min–max, weights, boosts) runs over the candidates only.
        """
        s = self.settings
        allowed = scope.allowed_rows
        if department is not None:
            wanted = np.zeros(len(self.clauses), dtype=bool)
            wanted[self._department_arrays[department]] = True
            allowed = wanted if allowed is None else allowed & wanted
        vector = None
        if mode != "bm25":
            dense_query = analysis.text
            if mode == "full" and analysis.expansions:
                dense_query = f"{dense_query} （{'，'.join(analysis.expansions)}）"
            vector = yield dense_query
        expansion: tuple[str, ...] = ()
        if mode == "full":
            expansion = tuple(t for t in self.segmenter.tokens(" ".join(analysis.expansions))
                              if t not in analysis.tokens)
        query = Query(vector=vector, tokens=analysis.tokens if mode != "dense" else (),
                      text=analysis.topic or analysis.text,
                      expansion=expansion, expansion_weight=s.expansion_weight if expansion else 0.0,
                      documents=scope.documents, departments=(department,) if department else (), allowed=allowed)
        found = self.candidates.gather(query, s.candidates)
        rows, dense, bm25 = found.rows, found.dense, found.bm25
        in_scope = True
        if mode == "bm25":
            scores = bm25.astype(np.float64)
        elif mode == "dense":
            scores = dense.astype(np.float64)
        elif mode == "hybrid":
            scores = _rrf([dense, bm25], s.rrf_k)
        else:
            dense_weight, bm25_weight = s.dense_weight, s.bm25_weight
            if s.english_dense_weight is not None and not has_cjk(analysis.text):
                # An English question reaches Chinese text through BM25 only by the lexicon's expansions.
                dense_weight, bm25_weight = s.english_dense_weight, 1.0 - s.english_dense_weight
            scores = (dense_weight * _minmax(dense, found.dense_floor)
                      + bm25_weight * _minmax(bm25, found.bm25_floor))
            named = analysis.departments if not self.is_library or analysis.names_agency else ()
            for name in named:
                scores[np.isin(rows, self._department_arrays[name], assume_unique=True)] += s.department_boost
            if self.is_library and rows.size:
                scores = self._library_scores(scores, rows, analysis, scope, query)
        scores = np.asarray(scores, dtype=np.float64)
        if mode == "full":
            # Whether the texts state the amount asked is read before they are lifted for stating one
            # (a clause that states a period about something else is not an answer).
            # A law's article states it in any of its paragraphs (消防法第五十六条第二款: 不得收取费用);
            # a duty list's article is a department's list of duties, each clause on its own.
            top = rows[np.argsort(-scores, kind="stable")[:s.stated_depth]]
            stated = ["".join(_stating_text(c) for c in self._stating_clauses(int(r))) for r in top]
            in_scope = self._in_scope(analysis, dense, stated)
            if self.is_library and rows.size:
                scores = self._amount_scores(scores, rows, analysis)
        return _Scored(rows=rows, scores=scores), in_scope

    def _library_scores(self, scores: np.ndarray, rows: np.ndarray, analysis: QueryAnalysis, scope: _Scope,
                        query: Query) -> np.ndarray:
        """The fused scores of a library's candidates after the library's boosts.

        Specificity (the region's duty list, then local rules, then national laws), the bodies a
        law clause makes responsible for "who" questions, named documents, priorities, penalty
        chapters, several paragraphs of one article; then each duty list's own order among its
        clauses. (Stated amounts are lifted later, by :meth:`_amount_scores`, once the scope is read.)
        """
        s = self.settings
        asks_who = analysis.asks_who
        # "Who pays / who bears it" asks for a party's obligation, which laws state; the duty
        # list assigns supervision to departments.
        asks_supervisor = asks_who and not (analysis.intent.obligation and not analysis.departments)
        boosts = np.asarray(s.who_tier_boosts if asks_supervisor else s.tier_boosts, dtype=np.float64)
        positions = self._row_document[rows]
        tiers = scope.tiers[positions]
        # Specificity breaks ties between comparably relevant clauses; it does not lift
        # a duty list's clause that answers something else over the law that answers this.
        close = scores >= s.tier_gate * float(scores.max())
        amount = analysis.intent.amount
        # A duty list never states amounts: a "how much" question gets no lift to it.
        asks_amount = not asks_who and amount is not None
        if asks_amount or not self._duty_list_answers(scores, rows, tiers, asks_supervisor, scope):
            close &= tiers != TIER_DUTY_LIST
        scores = scores + np.where(close, boosts[tiers], 0.0)
        if asks_who and s.who_body_boost:
            scores = scores + s.who_body_boost * (self._names_body[rows] & (tiers != TIER_DUTY_LIST))
        if asks_who and s.who_supervision_boost:
            supervises = self._assigns_supervision[rows] & (tiers != TIER_DUTY_LIST)
            scores = scores + s.who_supervision_boost * supervises
        if scope.named_positions.size:
            scores[np.isin(positions, scope.named_positions)] += s.named_document_boost
        scores = scores + s.priority_step * self._row_priority[rows]
        if s.liability_penalty and not analysis.intent.penalty:
            # What must be done is stated in a law's duty articles, not in its penalty chapter.
            scores = scores - s.liability_penalty * self._in_liability_chapter[rows]
        if s.article_boost:
            # Several paragraphs of one article among the best: that article answers.
            near = np.argsort(-scores, kind="stable")[:_ARTICLE_DEPTH]
            keys = self._row_article[rows[near]]
            _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
            # (Not in a duty list, where an article is a department's list of duties.)
            laws = tiers[near] != TIER_DUTY_LIST
            scores[near] += s.article_boost * laws * np.minimum(counts[inverse] - 1, 3) / 3
        if s.duty_list_alone:
            scores = self._order_as_alone(scores, rows, query, analysis)
        return scores

    def _stating_clauses(self, row: int) -> list[Clause]:
        """The clauses read for what a clause states: its law article's, or the duty-list clause alone."""
        clause = self.clauses[row]
        if self.documents[clause.document].role == "duty_list":
            return [clause]
        return self.article(clause.id)

    def _amount_scores(self, scores: np.ndarray, rows: np.ndarray, analysis: QueryAnalysis) -> np.ndarray:
        """A "how much / how long" question: the best candidates that state that kind of amount are lifted."""
        states = analysis.intent.amount
        if states is None or not self.settings.quantity_boost or not self._has_laws:
            return scores
        near = np.argsort(-scores, kind="stable")[:_QUANTITY_DEPTH]
        stating = [int(i) for i in near if states.search(_stating_text(self.clauses[int(rows[i])]))]
        scores = scores.copy()
        scores[stating] += self.settings.quantity_boost
        return scores

    def _duty_list_answers(self, scores: np.ndarray, rows: np.ndarray, tiers: np.ndarray, asks_who: bool,
                           scope: _Scope) -> bool:
        """Whether the duty list's specificity boost may apply to this question.

        Not when the question names a law (安全生产法里……: that law answers, not the duty
        list), nor when the duty list's best clause scores below ``duty_gate`` (for a "who"
        question ``who_duty_gate``) times the best law clause's score before boosts: the duty
        list then does not cover the topic (跨两个县的突发事件由谁负责 is 突发事件应对法
        第十八条'). For a "who" question only law clauses that make a body responsible count:
        a law clause that names nobody does not answer "who".
        """
        if any(self.documents[self._documents[int(p)]].role != "duty_list" for p in scope.named_positions):
            return False
        duty = tiers == TIER_DUTY_LIST
        law = ~duty & self._names_body[rows] if asks_who else ~duty
        if not duty.any() or not law.any():
            return True
        gate = self.settings.who_duty_gate if asks_who else self.settings.duty_gate
        return float(scores[duty].max()) >= gate * float(scores[law].max())

    def _in_scope(self, analysis: QueryAnalysis, dense: np.ndarray, top_texts: Sequence[str] = ()) -> bool:
        """Whether the corpus answers the query (its cues are read in :mod:`retriever.intent`).

        A duty list assigns duties to departments; it never states amounts, prices, rates
        or personal procedures. A question that asks "how much" without asking "who", or
        that has neither a "who" nor a safety/duty word, is out of scope unless a clause is
        very close. Laws do state amounts (fines, deadlines, thresholds): in a library a
        "how much" question is in scope when one of the best clauses states that kind of amount
        and names one of the question's specific words (see :meth:`_topic`), if it has any.

        Args:
            top_texts: the text of each of the best candidates' articles (a duty list's clause
                alone), best first.
        """
        best = float(dense.max()) if dense.size else 0.0
        s = self.settings
        if best < s.min_dense_floor:
            return False
        intent = analysis.intent
        if intent.official or intent.never_stated or intent.standard:
            return False  # who holds an office, prices, wages and technical standards are in no safety regulation
        if intent.finance:
            return False  # 存款安不安全, 银行理财产品归谁监管: money's safety, not these regulations' safety
        if intent.other_safety:
            return False  # 等级保护测评归谁管, 医疗事故鉴定: food poisoning, drugs, nuclear safety, the environment
        if intent.advice and not intent.who:
            return False  # 灭火器怎么用, 明年会不会放开: regulations give neither advice nor forecasts
        if intent.statistic and not intent.who and not intent.history:
            return False  # 去年排名第一的是哪个市: no regulation states a statistic
        if intent.papers and not intent.who and not any(PAPERS_STATED.search(t) for t in top_texts[:1]):
            return False  # 燃气开户要带哪些材料: the best article does not list them
        claimed = figures(analysis.text) if intent.claim else frozenset()
        if claimed and not stated_figures(claimed, top_texts, self._topic(analysis)):
            return False  # 连续开4个小时就必须休息20分钟，是哪条法律规定的: no text near it states those figures
        # (When a regulation took effect is in its header: see ``_history``.)
        if intent.quantity and not intent.who and not intent.history:
            # Laws state limits and thresholds, never statistics (2023年全国火灾死了多少人).
            return (self._has_laws and not intent.statistic and intent.amount is not None
                    and stated_about_subject(intent.amount, top_texts, self._topic(analysis)))
        if intent.who or analysis.departments or intent.domain:
            return True
        if analysis.expansions and best >= s.min_dense:
            return True
        return best >= s.min_dense_strong

    def _topic(self, analysis: QueryAnalysis) -> tuple[str, ...]:
        """A Chinese question's specific words and expansions (rare in the library: not 安全生产, 企业, 单位).

        None for a question without Chinese: its expansions are how it reaches the texts at all.
        """
        if not has_cjk(analysis.text):
            return ()
        return topic_words((*analysis.words, *analysis.expansions), self._clause_share, self.settings.topic_share)

    def _clause_share(self, word: str) -> float:
        """About the share of the library's clauses that contain ``word`` (occurrences per clause)."""
        share = self._shares.get(word)
        if share is None:
            share = self._shares[word] = self._clause_blob.count(word) / max(1, len(self.clauses))
        return share

    @cached_property
    def _clause_blob(self) -> str:
        """Every clause's text in one string, for counting and finding words in the whole library."""
        return "\x00".join(c.text for c in self.clauses)

    # ----- answers ----------------------------------------------------------------------
    def _answer_citation(self, query: str, analysis: QueryAnalysis, k: int, department: str | None,
                         scope: _Scope) -> Answer | None:
        article, item = analysis.citation or (0, None)
        paragraph = analysis.paragraph
        allowed = self._allowed_rows(scope)
        documents = [d for d in self._documents if not scope.named or d in scope.named]
        # The most specific document first (the home region's duty list, then local, then national).
        documents.sort(key=lambda d: int(scope.tiers[self._position[d]]))
        exact = False
        per_document: list[list[int]] = []
        holders: list[str] = []
        for document_id in documents:
            in_article = [r for r in self._article_rows.get((document_id, str(article)), ()) if allowed[r]]
            if department is not None:
                in_article = [r for r in in_article if department in self._departments_of(self.clauses[r])]
            if not in_article:
                continue
            holders.append(document_id)
            wanted = [r for r in in_article
                      if (item is None or self.clauses[r].item == item)
                      and (paragraph is None or (self.clauses[r].paragraph or 1) == paragraph)]
            exact = exact or (bool(wanted) and (item is not None or paragraph is not None))
            per_document.append(wanted + [r for r in in_article if r not in wanted])
        if not per_document:
            return None
        # Grouped by document, most specific first, with room for every document's article within k.
        share = max(1, k // len(per_document))
        rows = [r for group in per_document for r in group[:share]]
        position = {r: (g, i) for g, group in enumerate(per_document) for i, r in enumerate(group)}
        rows = sorted(rows + [r for group in per_document for r in group[share:]][:max(0, k - len(rows))],
                      key=position.__getitem__)
        notes = _notes(analysis) + scope.notes
        if (item is not None or paragraph is not None) and not exact:
            asked = (f"第{int_to_chinese(paragraph)}款" if paragraph else "") + (
                f"第（{int_to_chinese(item)}）项" if item else "")
            notes += (f"{make_citation(article, None)}没有{asked}，以下为该条的全部内容。",)
        if len(holders) > 1:
            names = "、".join(f"《{self.documents[d].short_name}》" for d in holders[:6])
            notes += (f"多部法规都有{make_citation(article, None)}（{names}{'等' if len(holders) > 6 else ''}），"
                      "以下按法规分组列出；请在问题中写明法规名称，例如「"
                      f"{self.documents[holders[0]].short_name}{make_citation(article, None)}」。",)
        in_scope = exact or (item is None and paragraph is None)
        if in_scope and analysis.intent.advice and not _SHOW_TEXT.search(analysis.text):
            # 以…安全生产法第三条…为题，写一篇论文: the article is there, the essay is not.
            in_scope = False
            notes += ("库内法规只提供条文，不提供建议或代写文稿，以下为该条的全部内容。",)
        if in_scope and (unsaid := self._unsaid(analysis, [r for group in per_document for r in group])):
            # 矿山安全法第二十六条规定工人下井前必须做酒精检测，对吧: the article says nothing of it.
            in_scope = False
            notes += (f"{make_citation(article, None)}没有写到{'、'.join(unsaid[:3])}，以下为该条的全部内容。",)
        # An item or paragraph the article does not have is not in the library (the whole article
        # is shown, with a note, in case it was miscounted).
        return self._listing(query, analysis, rows[:max(k, 1)], scope, notes, in_scope=in_scope)

    def _document_share(self, word: str, document: str) -> float:
        """The share of ``document``'s clauses that contain ``word`` (remembered, like :meth:`_clause_share`)."""
        share = self._document_shares.get((word, document))
        if share is None:
            rows = self._document_rows.get(document, ())
            share = self._document_shares[(word, document)] = (
                sum(word in self.clauses[r].text for r in rows) / max(1, len(rows)))
        return share

    def _best_articles(self, scored: _Scored, n: int) -> list[int]:
        """The rows of the articles of the ``n`` best-scored clauses (each article once, best first)."""
        rows: list[int] = []
        for i in np.argsort(-scored.scores, kind="stable")[:n]:
            clause = self.clauses[int(scored.rows[i])]
            rows += [r for r in self._article_rows[(clause.document, _article_part(clause.id))] if r not in rows]
        return rows

    def _unsaid(self, analysis: QueryAnalysis, rows: Sequence[int], *, by_words: bool = True,
                within: Sequence[str] = ()) -> tuple[str, ...]:
        """What a statement checked against articles (``rows``: the cited ones, or the best ones of the
        text it names) claims that those articles do not say (its figures, else its words), or ``()``.

        Only for a question that puts a statement as a question (:attr:`Intent.checks`). Figures the
        statement claims are unsaid when the articles state no figure in any of their units (Chinese
        or English questions). Otherwise, for a Chinese question (and ``by_words``), its words are its
        specific words outside the names it cites (rarer in the library than ``topic_share``, as for
        amounts), less fillers (规定, 必须, 是不是), figures, places and words that ask for an amount,
        and words common in the documents it is checked ``within`` (消防安全 in 消防法 says nothing
        about what the statement claims). The articles speak of it when two of its words are found,
        or one that is at least half of its words the library has at all.
        """
        if not analysis.intent.checks:
            return ()
        texts = "".join(self.clauses[r].text for r in rows)
        # …第三十三条说使用登记证每5年要换一次: the article states no figure in years at all. (One that
        # states other figures of that unit speaks of it: 罚五万元以上 answers 最多罚两万，对吧.)
        claimed = figures(analysis.text)
        if claimed and not {unit for _, unit in claimed} & {unit for _, unit in figures(texts)}:
            return tuple(f"{value}{unit}" for value, unit in sorted(claimed))
        if not by_words or not has_cjk(analysis.text):
            return ()
        specific = topic_words(self.segmenter.words(analysis.topic or analysis.text), self._clause_share,
                               self.settings.topic_share)
        words = tuple(w for w in specific if w not in STOPWORDS and w not in FILLERS
                      and not _CITED_WORD.search(w) and not figures(w) and not self._document_names.is_place(w)
                      and not any(self._document_share(w, d) >= self.settings.claim_common for d in within))
        found = [w for w in words if w in texts]
        if not words or len(found) >= 2:
            return ()
        # One word found speaks of the statement only when few of its words are library words at all
        # (外籍员工不能当危化品仓库保管员: 出入库 is there, 员工, 保管员 and 安全管理人员 are not).
        known = [w for w in words if self._clause_share(w) > 0]
        if found and 2 * len(found) >= len(known):
            return ()
        return tuple(w for w in words if w not in found)

    def _listing(self, query: str, analysis: QueryAnalysis, rows: Sequence[int], scope: _Scope,
                 notes: tuple[str, ...], *, in_scope: bool = True) -> Answer:
        """A citation answer: ``rows`` in the order given (an article, a chapter), ranked 1, 2, …"""
        hits = tuple(Hit(clause=self.clauses[r], score=1.0 / rank, rank=rank) for rank, r in enumerate(rows, start=1))
        return Answer(query=query, normalized_query=analysis.text, route="citation", in_scope=in_scope,
                      departments=_department_answer(hits, len(hits)), hits=hits,
                      detected_departments=analysis.departments, expansions=analysis.expansions,
                      notes=notes, documents=self._documents_of(hits), region=scope.region)

    def _answer_chapter(self, query: str, analysis: QueryAnalysis, chapter: int, k: int, scope: _Scope,
                        documents: Sequence[str], section: int | None = None) -> Answer | None:
        """The clauses of that chapter (or of that section of it) of ``documents``, in order (None if
        none of them has it)."""
        allowed = self._allowed_rows(scope)
        parts = ([self._chapter_rows.get((d, chapter), []) for d in documents] if section is None
                 else [self._section_rows.get((d, chapter, section), []) for d in documents])
        rows = [r for part in parts for r in part if allowed[r]]
        if not rows:
            return None
        shown = rows[:max(k, 1)]
        first = self.clauses[rows[0]]
        more = f"，以下为前 {len(shown)} 个" if len(rows) > len(shown) else ""
        notes = _notes(analysis) + scope.notes + (
            f"《{self.documents[first.document].short_name}》{first.chapter}"
            f"{' ' + first.section if section is not None else ''}共 {len(rows)} 个条款{more}。",)
        return self._listing(query, analysis, shown, scope, notes)

    def _answer_department(self, query: str, analysis: QueryAnalysis, scope: _Scope) -> Answer:
        name = analysis.departments[0]
        allowed = self._allowed_rows(scope)
        rows = [r for r in self._department_rows[name] if allowed[r]]
        hits = tuple(Hit(clause=self.clauses[r], score=1.0, rank=rank) for rank, r in enumerate(rows, start=1))
        return Answer(query=query, normalized_query=analysis.text, route="department", in_scope=True,
                      departments=(DepartmentAnswer(name, 1.0, tuple(h.clause.id for h in hits)),), hits=hits,
                      detected_departments=analysis.departments, expansions=analysis.expansions,
                      notes=_notes(analysis) + scope.notes, documents=self._documents_of(hits), region=scope.region)

    def _departments_of(self, clause: Clause) -> tuple[str, ...]:
        return clause.departments or ((clause.department,) if clause.department else ())

    def _documents_of(self, hits: Sequence[Hit]) -> tuple[Document, ...]:
        return tuple(self.documents[d] for d in dict.fromkeys(h.clause.document for h in hits))

    def _assemble(self, query: str, analysis: QueryAnalysis, scored: _Scored, k: int, mode: Mode, *,
                  in_scope: bool, route: str, scope: _Scope) -> Answer:
        order = np.argsort(-scored.scores, kind="stable")[:k]
        terms = tuple(dict.fromkeys((*analysis.words, *analysis.expansions)))
        hits = tuple(
            Hit(clause=self.clauses[r], score=float(scored.scores[i]), rank=rank,
                matched_terms=tuple(t for t in terms if len(t) > 1 and t in self.clauses[r].text.lower()),
                nearest_only=not in_scope)
            for rank, (i, r) in enumerate(((int(i), int(scored.rows[i])) for i in order), start=1)
        )
        depth = self.settings.department_depth
        evidence = hits
        if self.is_library and in_scope:
            asks_duty = analysis.asks_who or analysis.intent.duty
            hits, evidence = self._by_specificity(hits, scope, scored, terms, k, asks_duty=asks_duty)
        departments = _department_answer(evidence, depth) if in_scope else ()
        return Answer(query=query, normalized_query=analysis.text, route="search", in_scope=in_scope,
                      departments=departments, hits=hits, detected_departments=analysis.departments,
                      expansions=analysis.expansions, mode=mode, notes=_notes(analysis) + scope.notes,
                      documents=self._documents_of(hits), region=scope.region)

    def _by_specificity(self, hits: tuple[Hit, ...], scope: _Scope, scored: _Scored, terms: tuple[str, ...],
                        k: int, *, asks_duty: bool = True) -> tuple[tuple[Hit, ...], tuple[Hit, ...]]:
        """Group hits when the region's duty list answers: its clauses are the duty, laws the basis.

        The best law clauses are always shown right after the duty, as its legal basis,
        even when the duty list's other clauses outscore them.

        Returns:
            The hits (with ``group`` set) and the hits the department answer rests on.
        """
        depth = self.settings.department_depth
        if not hits:
            return hits, hits
        best = max(h.score for h in hits[:depth])
        duty = [h for h in hits[:depth] if self._tier_of(h.clause, scope) == TIER_DUTY_LIST
                and self._departments_of(h.clause) and h.score >= self.settings.duty_list_share * best]
        top = hits[0]
        if not duty or (top is not duty[0] and (not asks_duty or (
                self._tier_of(top.clause, scope) == TIER_DUTY_LIST and not self._departments_of(top.clause)))):
            # Only a question about who does what is answered by the duty list when a law clause scores best;
            # a general article of the duty list (细则未列入的单位…) that scores best stays first.
            return hits, hits
        evidence = len(duty)
        # Further clauses of the duty list that score as well lead too, before the legal basis.
        duty += [h for h in hits[depth:] if self._tier_of(h.clause, scope) == TIER_DUTY_LIST
                 and self._departments_of(h.clause)
                 and h.score >= self.settings.duty_list_share * best][:max(0, self.settings.duty_shown - len(duty))]
        chosen = {h.clause.id for h in duty}

        def group(hit: Hit) -> str:
            if hit.clause.id in chosen:
                return "duty"
            return "related" if self._tier_of(hit.clause, scope) == TIER_DUTY_LIST else "basis"

        laws = np.flatnonzero(scope.tiers[self._row_document[scored.rows]] != TIER_DUTY_LIST)
        basis_at = laws[np.argsort(-scored.scores[laws], kind="stable")][:self.settings.basis_clauses]
        # Only a law clause close to the duty is its basis; a weak one is left where it ranks.
        basis_at = basis_at[scored.scores[basis_at] >= self.settings.basis_share * best]
        basis = [Hit(clause=self.clauses[int(scored.rows[i])], score=float(scored.scores[i]), rank=0,
                     matched_terms=tuple(t for t in terms
                                         if len(t) > 1 and t in self.clauses[int(scored.rows[i])].text.lower()))
                 for i in basis_at]
        shown = chosen | {h.clause.id for h in basis}
        ordered = [*duty, *basis, *(h for h in hits if h.clause.id not in shown)][:max(k, len(duty) + len(basis))]
        grouped = tuple(replace(h, rank=rank, group=group(h)) for rank, h in enumerate(ordered, start=1))
        return grouped, grouped[:evidence]

    def _tier_of(self, clause: Clause, scope: _Scope) -> int:
        return int(scope.tiers[self._position[clause.document]])


def _mostly_chinese(text: str) -> bool:
    """Whether Chinese characters are at least half of ``text``'s letters."""
    chinese = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return chinese >= latin


def _article_part(clause_id: str) -> str:
    """The article a clause id belongs to, without the document: ``doc#10-2`` → ``10``, ``120a.1`` → ``120a``."""
    return re.split(r"[-.]", clause_id.rpartition("#")[2], maxsplit=1)[0]


def _stating_text(clause: Clause) -> str:
    """What a clause states, with the paragraph its item follows (the fine of 第五十八条 is in its lead-in)."""
    return f"{clause.lead_in}{clause.text}" if clause.lead_in else clause.text


def _notes(analysis: QueryAnalysis) -> tuple[str, ...]:
    """What the user should know about how the query was read."""
    return tuple(f"已按同音纠正：{c.wrong} → {c.right}" for c in analysis.corrections)


def _find_citation(text: str) -> tuple[int, int | None, int | None] | None:
    """A clause reference in the query: 第三十三条第五项, 第十条第二款, 第33条, 33.5, article 33(5).

    Returns:
        ``(article, item, paragraph)``, or None.
    """
    if m := _PART_OF_ARTICLE_EN.search(text):
        kind, part, article = ((m.group(1), m.group(2), m.group(3)) if m.group(1)
                               else (m.group(5), m.group(6), m.group(4)))
        if 0 < int(article) < 1000 and 0 < int(part) < 100:
            return ((int(article), int(part), None) if kind.lower() in ("item", "point")
                    else (int(article), None, int(part)))
    text = _ARABIC_ARTICLE.sub(r"第\1条", text)  # 细则55条第8项 is 细则第55条第8项
    for pattern in (_CITATION, _ARTICLE_EN, _BARE_ID):
        if m := pattern.search(text):
            groups = m.groups()
            paragraph_text, item_text = (groups[1], groups[2]) if pattern is _CITATION else (None, groups[1])
            try:
                article = chinese_to_int(m.group(1))
                item = chinese_to_int(item_text) if item_text else None
                paragraph = chinese_to_int(paragraph_text) if paragraph_text else None
            except ValueError:
                continue
            if not 0 < article < 1000 or any(n is not None and not 0 < n < 1000 for n in (item, paragraph)):
                continue  # no regulation numbers its articles like that
            if pattern is _CITATION and item is None and (later := _LATER_ITEM.match(text, m.end())):
                # 第三十一条卫健委职责里的第（九）项: the item named a few words after its article.
                try:
                    item = chinese_to_int(later.group(1))
                except ValueError:
                    item = None
            return article, item, paragraph
    return None


_CHAPTER = re.compile(rf"第\s*([{_NUM}]+)\s*章")


# A home-region office or a 兵团 body (自治区退役军人事务厅, 新疆生产建设兵团应急管理局); committees are left out.
# (Not 自治区层面由哪个厅: an office's name has no question word or particle in it.)
_OFFICE_NAME = re.compile(r"(?:新疆生产建设兵团|兵团|新疆维吾尔自治区|新疆|自治区)"
                          r"(?:(?![哪谁由的和或及与在是各])[\u4e00-\u9fff]){2,12}?(?:厅|局)")
# An item of a department's article named by the department (公安厅那一条的第十三项, 应急管理厅那条里的第5项).
_DEPARTMENT_ITEM = re.compile(rf"(?:(?:那|这)一?条|职责)[，,]?\s*(?:里|中|底下|下面|下)?(?:的)?"
                              rf"第\s*[（(]?\s*([{_NUM}]+)\s*[）)]?\s*项")
_SECTION_NUMBER = re.compile(rf"第\s*([{_NUM}]+)\s*节")


def _find_section(text: str) -> int | None:
    """The section a query or a section heading names (第二节, ``第一节 一般规定`` → 1), or None."""
    return _division_number(_SECTION_NUMBER, text)


def _find_chapter(text: str) -> int | None:
    """The chapter a query or a clause heading names (第五章, ``第二章 各部门安全生产职责`` → 2), or None."""
    return _division_number(_CHAPTER, text)


def _division_number(pattern: re.Pattern[str], text: str) -> int | None:
    """The number of the first division ``pattern`` finds in ``text`` (1–99), or None."""
    if (m := pattern.search(text)) is None:
        return None
    try:
        number = chinese_to_int(m.group(1))
    except ValueError:
        return None
    return number if 0 < number < 100 else None


def _minmax(scores: np.ndarray, floor: float | None = None) -> np.ndarray:
    """Scores scaled to [0, 1] between ``floor`` (default: their minimum) and their maximum."""
    if scores.size == 0:
        return np.zeros(0, dtype=np.float64)
    low, high = float(scores.min()) if floor is None else min(floor, float(scores.min())), float(scores.max())
    if high - low < 1e-9:
        return np.zeros_like(scores, dtype=np.float64)
    return (scores.astype(np.float64) - low) / (high - low)


def _rrf(rankings: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Reciprocal rank fusion of several score vectors over the same clauses."""
    fused = np.zeros(len(rankings[0]), dtype=np.float64)
    for scores in rankings:
        ranks = np.empty(len(scores), dtype=np.int64)
        ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
        fused += 1.0 / (k + ranks)
    return fused


_DEPARTMENT_SHARE = 0.3


@dataclass(frozen=True)
class _Scope:
    """The documents a search may use: a mask and a specificity tier per document."""

    allowed: np.ndarray
    tiers: np.ndarray
    named: tuple[str, ...]
    region: str | None
    notes: tuple[str, ...]
    named_positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    allowed_rows: np.ndarray | None = None
    """The clause mask of ``allowed`` (``None`` when every clause may answer)."""
    documents: tuple[str, ...] = ()
    """The allowed document ids (empty when every document may answer)."""


@dataclass(frozen=True)
class _Scored:
    """Candidate clause rows (ascending) and their fused scores, aligned."""

    rows: np.ndarray
    scores: np.ndarray


def _department_answer(hits: Sequence[Hit], depth: int) -> tuple[DepartmentAnswer, ...]:
    """Rank departments by the discounted scores of their clauses among the top hits."""
    totals: dict[str, float] = defaultdict(float)
    support: dict[str, list[str]] = defaultdict(list)
    for hit in hits[:depth]:
        names = hit.clause.departments or ((hit.clause.department,) if hit.clause.department else ())
        for name in names:
            # 第七条's duties bind every department, so they are weaker evidence of who is responsible;
            # a clause that names several bodies shares its weight among them.
            weight = (0.5 if name == SHARED_DEPARTMENT else 1.0) / math.sqrt(len(names))
            totals[name] += weight * max(hit.score, 0.0) / math.log2(hit.rank + 1)
            support[name].append(hit.clause.id)
    ranked = sorted(totals, key=lambda d: -totals[d])
    # Departments with a small share of the evidence are noise in an answer, not co-owners.
    floor = _DEPARTMENT_SHARE * totals[ranked[0]] if ranked else 0.0
    return tuple(DepartmentAnswer(d, totals[d], tuple(support[d])) for d in ranked if totals[d] >= floor)


def open_searcher(
    index_dir: Path | None = None,
    *,
    seeds_dir: Path | Sequence[Path] | None = None,
    model: str | None = None,
    build_if_missing: bool = False,
    embedder: Embedder | None = None,
    settings: SearchSettings | None = None,
    progress: Any = None,
    cache_size: int = 0,
    store: str | None = None,
) -> Searcher:
    """Load (or build, if asked and missing) the index and return a ready :class:`Searcher`.

    Args:
        index_dir: the index root (default ``index/``).
        seeds_dir: the regulations the index must match (default ``seeds/``).
        model: the embedding model (default: the built-in multilingual-e5-small).
        build_if_missing: build the index when there is none (a stale one is not rebuilt).
        embedder: use this embedder instead of loading ``model`` (tests).
        settings: engine settings.
        progress: forwarded to :func:`retriever.store.build_index`.
        cache_size: if above 0, repeated questions are answered from a cache of this
            many answers (:mod:`retriever.cache`).
        store: a Milvus store URI to gather candidates from (default ``$RETRIEVER_STORE``, else
            the store the index was built with, else FAISS); see
            :func:`retriever.stores.select.candidate_source`.

    Raises:
        IndexStateError: the index is missing (and not built), stale or corrupt, or its store
            cannot be opened.
    """
    from retriever.embed import load_embedder
    from retriever.lexicon import load_lexicon
    from retriever.store import build_index, load_index
    from retriever.stores.base import store_uri
    from retriever.stores.select import candidate_source

    store = store_uri(store)
    index_dir = index_dir or Path("index")
    seeds_dir = seeds_dir or Path("seeds")
    lexicon = load_lexicon()
    segmenter = Segmenter(lexicon.user_words())
    embedder = embedder or load_embedder(model)
    try:
        index = load_index(index_dir, seeds_dir=seeds_dir, lexicon=lexicon, segmenter=segmenter,
                           model_id=embedder.model_id)
    except IndexMissingError:
        if not build_if_missing:
            raise
        build_index(seeds_dir, index_dir, embedder, lexicon, segmenter, progress=progress, store=store)
        index = load_index(index_dir, seeds_dir=seeds_dir, lexicon=lexicon, segmenter=segmenter,
                           model_id=embedder.model_id)
    searcher = Searcher(index, embedder, lexicon, segmenter, settings, candidates=candidate_source(index, store))
    if cache_size > 0:
        from retriever.cache import with_cache

        return with_cache(searcher, cache_size)
    return searcher


__all__ = ["MAX_K", "MAX_QUERY_CHARS", "QueryAnalysis", "SearchSettings", "Searcher", "open_searcher",
           "validate_query"]
