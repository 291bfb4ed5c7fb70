"""Query understanding, hybrid retrieval, fusion, department answer, out-of-scope signal.

Three routes answer a query:

* **citation**: 第三十三条第五项, 第33条, 33.5 → that clause (or article) first;
* **department**: 人社厅有哪些安全生产职责？ → every clause of that department;
* **search**: dense (FAISS) and BM25 (jieba tokens) rankings fused, with lexicon
  query expansion and a boost for departments the query names.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from retriever.embed import Embedder
from retriever.errors import IndexMissingError, QueryError
from retriever.lexicon import Lexicon
from retriever.parse import chinese_to_int, int_to_chinese, make_citation, make_clause_id
from retriever.records import MODES, SHARED_DEPARTMENT, Answer, Clause, DepartmentAnswer, Hit, Mode
from retriever.segment import STOPWORDS, Segmenter
from retriever.spelling import Correction, HomophoneCorrector
from retriever.store import StoredIndex
from retriever.validation import MAX_K, MAX_QUERY_CHARS, validate_query

_NUM = "零〇一二两三四五六七八九十百千\\d"
_CITATION = re.compile(
    rf"第\s*([{_NUM}]+)\s*条(?:\s*第?\s*[（(]?\s*([{_NUM}]+)\s*[）)]?\s*(?:项|款)?)?"
)
_BARE_ID = re.compile(r"(?<![\d.])(\d{1,3})\.(\d{1,2})(?![\d.])")
_ARTICLE_EN = re.compile(r"\barticle\s+(\d{1,3})(?:\s*(?:\.|item|\()\s*(\d{1,2})\)?)?", re.IGNORECASE)

# Words that, around a department name, still ask "what are all its duties".
_DEPARTMENT_FRAME = frozenset(
    """安全 生产 安全生产 职责 工作 负责 哪些 什么 主要 具体 内容 任务 责任 监管 管理 安全监管 安全管理
    有 管 干 做 包括 包含 承担 履行 一下 全部 所有 列出 列举 都 的 是 吗 呢 啥 方面 事 事情 事项 条款 规定
    duties duty responsibilities responsibility responsible what does do safety list all are the its of for
    is in on role roles""".split()
)


# Regional prefixes of department names; the rest is how people usually say the name.
_REGION_PREFIXES = ("自治区党委", "自治区", "新疆维吾尔自治区", "新疆", "国家")

# Out-of-scope cues. The regulation assigns duties to departments; it never states
# amounts, prices, rates or personal procedures. A question that asks "how much"
# without asking "who", or that has neither a "who" nor a safety/duty word, is
# answered as out of scope unless a clause is very close.
_WHO_INTENT = re.compile(
    r"谁|哪个部门|哪个单位|哪个机构|哪家|哪级|哪一级|归哪|找哪|报哪|向哪|什么部门|什么单位|什么机构|哪些部门|哪些单位|"
    r"归口|主管|牵头|\bwho\b|\bwhich\s+(?:agency|department|authority|body|office|bureau|unit|government)|"
    r"responsib|in charge|oversee|supervis"
)
_QUANTITY_INTENT = re.compile(
    r"多少|几[个天年月岁人次级块元]|比例|收费|价格|费用标准|起步价|工资|薪资|薪水|分数线|利率|税率|起征点|报销|罚款?金额|"
    r"how much|how many|\bprice|\bcost|\bfees?\b|\bwage|\bsalary|\brates?\b"
)
_DOMAIN_WORDS = re.compile(
    r"安全|事故|隐患|消防|火灾|应急|救援|监管|监督|检查|执法|审批|许可|危险|风险|防护|职责|负责|管理|细则|施行|解释|"
    r"safety|hazard|accident|\bfire|emergenc|inspect|supervis|regulat|licen[cs]|permit"
)


@dataclass(frozen=True)
class SearchSettings:
    """Knobs of the full engine (tuned on the dev split only).

    Attributes:
        rrf_k: the RRF constant for the hybrid mode.
        dense_weight / bm25_weight: weights of the normalised scores in the full mode.
        expansion_weight: weight of lexicon-expansion terms relative to query terms in BM25.
        department_boost: added to clauses of a department the query names.
        department_depth: how many top hits vote for the department answer.
        min_dense_floor: below this best cosine a query is out of scope whatever it asks.
        min_dense: with lexicon evidence only (no "who" or duty word), the best cosine
            must reach this for the query to be in scope.
        min_dense_strong: at or above this best cosine a query is in scope even without cues.
    """

    rrf_k: int = 60
    dense_weight: float = 0.6
    bm25_weight: float = 0.4
    expansion_weight: float = 0.3
    department_boost: float = 0.1
    department_depth: int = 5
    min_dense_floor: float = 0.80
    min_dense: float = 0.86
    min_dense_strong: float = 0.92


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


class Searcher:
    """Answers questions over one loaded index.

    Args:
        index: the loaded, checked index.
        embedder: the model the index was built with.
        lexicon: departments, aliases and synonyms.
        segmenter: the tokenizer the index was built with.
        settings: fusion and threshold settings.
    """

    def __init__(self, index: StoredIndex, embedder: Embedder, lexicon: Lexicon, segmenter: Segmenter,
                 settings: SearchSettings | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.lexicon = lexicon
        self.segmenter = segmenter
        self.settings = settings or SearchSettings()
        self.clauses: tuple[Clause, ...] = index.clauses
        self.manifest: dict[str, Any] = index.manifest
        self._row = {clause.id: row for row, clause in enumerate(self.clauses)}
        self._department_rows: dict[str, list[int]] = defaultdict(list)
        for row, clause in enumerate(self.clauses):
            if clause.department:
                self._department_rows[clause.department].append(row)
        self._documents = sorted({c.document for c in self.clauses})

    @cached_property
    def _corrector(self) -> HomophoneCorrector:
        vocabulary = set(self.lexicon.user_words()) | set(self._department_rows) | set(self._unlisted_names)
        for clause in self.clauses:
            vocabulary.update(self.segmenter.words(clause.text))
        return HomophoneCorrector(vocabulary, self.segmenter.is_word)

    @cached_property
    def _converter(self) -> Any:
        import opencc

        return opencc.OpenCC("t2s")

    def warm_up(self) -> None:
        """Run one query through every lazy part (jieba, OpenCC, the model) before serving."""
        self.search("电动车充电归哪个部门管？")

    # ----- lookups -------------------------------------------------------------------
    def clause(self, clause_id: str) -> Clause:
        """The clause with this id. Raises KeyError if there is none."""
        return self.clauses[self._row[clause_id]]

    def article(self, clause_id: str) -> list[Clause]:
        """Every clause of the article that ``clause_id`` belongs to, in order."""
        clause = self.clause(clause_id)
        return [c for c in self.clauses if c.document == clause.document and c.article == clause.article]

    def departments(self) -> list[str]:
        """Distinct departments in corpus order."""
        return list(self._department_rows)

    # ----- query understanding -------------------------------------------------------
    def normalize(self, text: str) -> str:
        """NFKC (full-width → half-width), Traditional → Simplified, lower-case ASCII."""
        text = unicodedata.normalize("NFKC", text)
        return str(self._converter.convert(text)).lower()

    def analyze(self, query: str) -> QueryAnalysis:
        """Normalise a validated query and find its citation, departments and expansions."""
        text, corrections = self._corrector.correct(self.normalize(query))
        return QueryAnalysis(
            text=text,
            corrections=corrections,
            tokens=tuple(self.segmenter.tokens(text)),
            words=tuple(w for w in self.segmenter.words(text) if w.lower() not in STOPWORDS),
            expansions=tuple(self.lexicon.expand(text)),
            departments=self._detect_departments(text),
            citation=_find_citation(text),
        )

    # ----- search ----------------------------------------------------------------------
    def search(self, query: str, k: int = 10, *, department: str | None = None, mode: Mode = "full") -> Answer:
        """Answer a question: departments first, then ranked clauses.

        Args:
            query: the question, in Chinese (Simplified or Traditional) or English.
            k: how many clauses to return (a department question returns all of its clauses).
            department: only return clauses of this department.
            mode: ``bm25``, ``dense``, ``hybrid`` or ``full`` (the engine).

        Raises:
            QueryError: the query, k, department or mode is invalid.
        """
        text = validate_query(query)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise QueryError(f"k must be an integer from 1 to {MAX_K}, not {k!r}.", "Ask for fewer results.")
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r}.", f"Use one of: {', '.join(MODES)}.")
        if department is not None and department not in self._department_rows:
            raise QueryError(f"unknown department {department!r}.",
                             "List the departments with GET /v1/departments or `retriever departments`.")
        analysis = self.analyze(text)
        notes = _notes(analysis)
        if mode == "full":
            if analysis.citation is not None:
                answer = self._answer_citation(query, analysis, k, department)
                if answer is not None:
                    return answer
                notes += (f"本规定中没有{make_citation(*analysis.citation)}，以下为按问题检索的结果。",)
            if department is None and self._is_department_question(analysis):
                return self._answer_department(query, analysis)
        scores, in_scope = self._retrieve(analysis, mode, department)
        answer = self._assemble(query, analysis, scores, k, mode, in_scope=in_scope, route="search")
        return answer if answer.notes == notes else replace(answer, notes=notes)

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

    def _detect_departments(self, text: str) -> tuple[str, ...]:
        """Departments the query names: lexicon names and aliases, then unlisted corpus names."""
        found = [d for d in self.lexicon.detect_departments(text) if d in self._department_rows]
        for spelling in sorted(self._unlisted_names, key=len, reverse=True):
            name = self._unlisted_names[spelling]
            if spelling in text and name not in found:
                found.append(name)
        return tuple(found)

    def _is_department_question(self, analysis: QueryAnalysis) -> bool:
        """One department named, and nothing else asked than its duties."""
        if len(analysis.departments) != 1:
            return False
        rest = analysis.text
        for name in self._mentions(analysis.text, analysis.departments[0]):
            rest = rest.replace(name, " ")
        words = [w for w in self.segmenter.words(rest) if w.lower() not in STOPWORDS]
        return all(w.lower() in _DEPARTMENT_FRAME for w in words)

    def _mentions(self, text: str, department: str) -> list[str]:
        """The spellings of ``department`` (name, aliases, English) that occur in ``text``."""
        names: list[str] = [department]
        for entry in self.lexicon.departments:
            if entry.name == department:
                names.extend((*entry.aliases, *entry.english))
        names.extend(alias for alias, owner in self._unlisted_names.items() if owner == department)
        return sorted({n.lower() for n in names if n and n.lower() in text}, key=len, reverse=True)

    def _retrieve(self, analysis: QueryAnalysis, mode: Mode, department: str | None) -> tuple[np.ndarray, bool]:
        """Clause scores for one mode (higher is better) and the in-scope signal."""
        n = len(self.clauses)
        s = self.settings
        bm25 = self.index.lexical.scores(list(analysis.tokens)) if mode != "dense" else np.zeros(n, np.float32)
        dense_query = analysis.text
        if mode == "full" and analysis.expansions:
            dense_query = f"{analysis.text} （{'，'.join(analysis.expansions)}）"
        dense = self._dense_clause_scores(dense_query) if mode != "bm25" else np.zeros(n, np.float32)
        in_scope = True
        if mode == "bm25":
            scores = bm25
        elif mode == "dense":
            scores = dense
        elif mode == "hybrid":
            scores = _rrf([dense, bm25], s.rrf_k)
        else:
            expansion_tokens = [t for t in self.segmenter.tokens(" ".join(analysis.expansions))
                                if t not in analysis.tokens]
            if expansion_tokens:
                bm25 = bm25 + s.expansion_weight * self.index.lexical.scores(expansion_tokens)
            scores = s.dense_weight * _minmax(dense) + s.bm25_weight * _minmax(bm25)
            for name in analysis.departments:
                scores[self._department_rows[name]] += s.department_boost
            in_scope = self._in_scope(analysis, dense)
        if department is not None:
            mask = np.full(n, -np.inf, dtype=np.float64)
            mask[self._department_rows[department]] = 0.0
            scores = scores + mask
        return np.asarray(scores, dtype=np.float64), in_scope

    def _dense_clause_scores(self, text: str) -> np.ndarray:
        vector = self.embedder.encode_queries([text])[0]
        unit_scores = self.index.dense.scores(vector)
        clause_scores = np.full(len(self.clauses), -1.0, dtype=np.float32)
        np.maximum.at(clause_scores, self.index.unit_clause, unit_scores)
        return clause_scores

    def _in_scope(self, analysis: QueryAnalysis, dense: np.ndarray) -> bool:
        """Whether the corpus answers the query (see the cue patterns above)."""
        best = float(dense.max()) if dense.size else 0.0
        s = self.settings
        if best < s.min_dense_floor:
            return False
        text = analysis.text
        asks_who = bool(_WHO_INTENT.search(text))
        if _QUANTITY_INTENT.search(text) and not asks_who:
            return False
        if asks_who or analysis.departments or _DOMAIN_WORDS.search(text):
            return True
        if analysis.expansions and best >= s.min_dense:
            return True
        return best >= s.min_dense_strong

    # ----- answers ----------------------------------------------------------------------
    def _answer_citation(self, query: str, analysis: QueryAnalysis, k: int,
                         department: str | None) -> Answer | None:
        article, item = analysis.citation or (0, None)
        rows: list[int] = []
        exact = False
        for document in self._documents:
            prefix = document if len(self._documents) > 1 else None
            wanted = make_clause_id(article, item, prefix)
            if wanted in self._row:
                rows.append(self._row[wanted])
                exact = True
            rows.extend(r for r, c in enumerate(self.clauses)
                        if c.document == document and c.article == article and r not in rows)
        if department is not None:
            rows = [r for r in rows if self.clauses[r].department == department]
        if not rows:
            return None
        notes = _notes(analysis)
        if item is not None and not exact:
            notes += (f"{make_citation(article, None)}没有第（{int_to_chinese(item)}）项，以下为该条的全部内容。",)
        hits = tuple(Hit(clause=self.clauses[r], score=1.0 / rank, rank=rank)
                     for rank, r in enumerate(rows[:max(k, 1)], start=1))
        return Answer(query=query, normalized_query=analysis.text, route="citation", in_scope=True,
                      departments=_department_answer(hits, len(hits)), hits=hits,
                      detected_departments=analysis.departments, expansions=analysis.expansions,
                      notes=notes)

    def _answer_department(self, query: str, analysis: QueryAnalysis) -> Answer:
        name = analysis.departments[0]
        rows = self._department_rows[name]
        hits = tuple(Hit(clause=self.clauses[r], score=1.0, rank=rank) for rank, r in enumerate(rows, start=1))
        return Answer(query=query, normalized_query=analysis.text, route="department", in_scope=True,
                      departments=(DepartmentAnswer(name, 1.0, tuple(h.clause.id for h in hits)),), hits=hits,
                      detected_departments=analysis.departments, expansions=analysis.expansions,
                      notes=_notes(analysis))

    def _assemble(self, query: str, analysis: QueryAnalysis, scores: np.ndarray, k: int, mode: Mode, *,
                  in_scope: bool, route: str) -> Answer:
        order = [int(r) for r in np.argsort(-scores, kind="stable") if np.isfinite(scores[r])][:k]
        terms = tuple(dict.fromkeys((*analysis.words, *analysis.expansions)))
        hits = tuple(
            Hit(clause=self.clauses[r], score=float(scores[r]), rank=rank,
                matched_terms=tuple(t for t in terms if len(t) > 1 and t in self.clauses[r].text.lower()),
                nearest_only=not in_scope)
            for rank, r in enumerate(order, start=1)
        )
        departments = _department_answer(hits, self.settings.department_depth) if in_scope else ()
        return Answer(query=query, normalized_query=analysis.text, route="search", in_scope=in_scope,
                      departments=departments, hits=hits, detected_departments=analysis.departments,
                      expansions=analysis.expansions, mode=mode, notes=_notes(analysis))


def _notes(analysis: QueryAnalysis) -> tuple[str, ...]:
    """What the user should know about how the query was read."""
    return tuple(f"已按同音纠正：{c.wrong} → {c.right}" for c in analysis.corrections)


def _find_citation(text: str) -> tuple[int, int | None] | None:
    """A clause reference in the query: 第三十三条第五项, 第33条, 33.5, article 33(5)."""
    for pattern in (_CITATION, _ARTICLE_EN, _BARE_ID):
        if m := pattern.search(text):
            try:
                article = chinese_to_int(m.group(1))
                item = chinese_to_int(m.group(2)) if m.group(2) else None
            except ValueError:
                continue
            if not 0 < article < 1000 or (item is not None and not 0 < item < 1000):
                continue  # no regulation numbers its articles like that
            return article, item
    return None


def _minmax(scores: np.ndarray) -> np.ndarray:
    low, high = float(scores.min()), float(scores.max())
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


def _department_answer(hits: Sequence[Hit], depth: int) -> tuple[DepartmentAnswer, ...]:
    """Rank departments by the discounted scores of their clauses among the top hits."""
    totals: dict[str, float] = defaultdict(float)
    support: dict[str, list[str]] = defaultdict(list)
    for hit in hits[:depth]:
        if hit.clause.department is None:
            continue
        # 第七条's duties bind every department, so they are weaker evidence of who is responsible.
        weight = 0.5 if hit.clause.department == SHARED_DEPARTMENT else 1.0
        totals[hit.clause.department] += weight * max(hit.score, 0.0) / math.log2(hit.rank + 1)
        support[hit.clause.department].append(hit.clause.id)
    ranked = sorted(totals, key=lambda d: -totals[d])
    # Departments with a small share of the evidence are noise in an answer, not co-owners.
    floor = _DEPARTMENT_SHARE * totals[ranked[0]] if ranked else 0.0
    return tuple(DepartmentAnswer(d, totals[d], tuple(support[d])) for d in ranked if totals[d] >= floor)


def open_searcher(
    index_dir: Path | None = None,
    *,
    seeds_dir: Path | None = None,
    model: str | None = None,
    build_if_missing: bool = False,
    embedder: Embedder | None = None,
    settings: SearchSettings | None = None,
    progress: Any = None,
    cache_size: int = 0,
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

    Raises:
        IndexStateError: the index is missing (and not built), stale or corrupt.
    """
    from retriever.embed import load_embedder
    from retriever.lexicon import load_lexicon
    from retriever.store import build_index, load_index

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
        build_index(seeds_dir, index_dir, embedder, lexicon, segmenter, progress=progress)
        index = load_index(index_dir, seeds_dir=seeds_dir, lexicon=lexicon, segmenter=segmenter,
                           model_id=embedder.model_id)
    searcher = Searcher(index, embedder, lexicon, segmenter, settings)
    if cache_size > 0:
        from retriever.cache import with_cache

        return with_cache(searcher, cache_size)
    return searcher


__all__ = ["MAX_K", "MAX_QUERY_CHARS", "QueryAnalysis", "SearchSettings", "Searcher", "open_searcher",
           "validate_query"]
