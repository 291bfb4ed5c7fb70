"""Milvus on milvus-lite: the store (dense, BM25, hybrid, filters, remove, reopen) and the engine over it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from retriever.candidates import FaissCandidates, Query
from retriever.search import Searcher
from retriever.stores.base import STORE_ENV, Filters, Store, StoreRecord, store_uri

pytest.importorskip("pymilvus", reason="the Milvus store needs pymilvus: pip install -e '.[milvus]'")
pytest.importorskip("milvus_lite", reason="tests run on milvus-lite: pip install -e '.[milvus]'")

from retriever.stores.milvus import MilvusStore, client_uri, filter_expression, term_words
from retriever.stores.milvus_candidates import MilvusCandidates
from retriever.stores.select import candidate_source, collection_name, whole_clause_units

from .conftest import SEEDS, FakeEmbedder

CLAUSES = [
    ("law#1", "law", ("应急管理部门",), "", "县级以上人民政府应急管理部门负责安全生产监督管理"),
    ("law#2", "law", ("消防救援机构",), "", "消防救援机构负责消防监督检查，查处消防违法行为"),
    ("law#3", "law", ("住房城乡建设主管部门",), "", "住房城乡建设主管部门负责建筑施工安全的监督管理"),
    ("sh#1", "sh", ("交通运输主管部门",), "上海市", "交通运输主管部门负责道路运输安全和危险货物运输"),
    ("sh#2", "sh", ("消防救援机构", "应急管理部门"), "上海市", "消防救援机构和应急管理部门负责烟花爆竹消防安全"),
]


def records(embedder: FakeEmbedder) -> list[StoreRecord]:
    vectors = embedder.encode_clauses([c[4] for c in CLAUSES])
    return [StoreRecord(key=i, clause=c[0], document=c[1], departments=c[2], region=c[3], text=c[4], vector=v)
            for i, (c, v) in enumerate(zip(CLAUSES, vectors, strict=True))]


@pytest.fixture
def store(tmp_path: Path, fake_embedder: FakeEmbedder) -> MilvusStore:
    opened = MilvusStore.open(str(tmp_path / "clauses.db"), dimension=fake_embedder.dimension)
    opened.add(records(fake_embedder))
    opened.save()
    return opened


def test_is_a_store(store: MilvusStore) -> None:
    assert isinstance(store, Store)
    assert store.size == len(CLAUSES)


def test_dense_top_k_is_exact_inner_product(store: MilvusStore, fake_embedder: FakeEmbedder) -> None:
    query = fake_embedder.encode_queries(["消防监督检查"])[0]
    found = store.top_dense(query, 3)
    vectors = fake_embedder.encode_clauses([c[4] for c in CLAUSES])
    expected = np.argsort(-(vectors @ query), kind="stable")[:3]
    assert found.keys.tolist() == expected.tolist()
    np.testing.assert_allclose(found.scores, (vectors @ query)[expected], rtol=1e-4)


def test_bm25_uses_jieba_and_scores_are_positive(store: MilvusStore) -> None:
    found = store.top_lexical("消防监督", 5)
    assert found.keys[0] == 1  # 消防 twice and 监督: the fire-inspection clause
    assert set(found.keys.tolist()) <= {0, 1, 2, 4}  # clauses with 消防 or 监督 only
    assert (found.scores > 0).all()  # milvus-lite returns them negated; the store turns them back
    assert list(found.scores) == sorted(found.scores, reverse=True)
    assert len(store.top_lexical("   ", 5)) == 0


def test_filters_apply_inside_retrieval(store: MilvusStore, fake_embedder: FakeEmbedder) -> None:
    query = fake_embedder.encode_queries(["消防安全"])[0]
    shanghai = store.top_dense(query, 5, Filters(regions=("上海市",)))
    assert sorted(shanghai.keys.tolist()) == [3, 4]
    fire = store.top_lexical("安全", 5, Filters(departments=("消防救援机构",)))
    assert sorted(fire.keys.tolist()) == [4]  # clause 1 has no 安全 token
    assert sorted(store.top_dense(query, 5, Filters(documents=("law",), departments=("应急管理部门",))).keys) == [0]


def test_hybrid_rrf(store: MilvusStore, fake_embedder: FakeEmbedder) -> None:
    query = "烟花爆竹消防安全"
    found = store.hybrid(fake_embedder.encode_queries([query])[0], query, 3)
    assert found.keys[0] == 4
    # RRF with k=60 over two rankings: the best possible fused score is 2 / (60 + 1).
    assert found.scores[0] == pytest.approx(2 / 61, rel=1e-4)
    filtered = store.hybrid(fake_embedder.encode_queries([query])[0], query, 3, Filters(documents=("law",)))
    assert set(filtered.keys.tolist()) <= {0, 1, 2}


def test_remove_document_and_reopen(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    path = str(tmp_path / "clauses.db")
    store = MilvusStore.open(path, dimension=fake_embedder.dimension)
    store.add(records(fake_embedder))
    store.save()
    assert store.remove_document("sh") == 2
    store.save()
    store.close()
    reopened = MilvusStore.open(path, dimension=fake_embedder.dimension)
    assert reopened.size == 3
    assert set(reopened.top_lexical("消防", 5).keys.tolist()) == {1}
    reopened.close()
    with pytest.raises(ValueError, match="holds 64-d vectors, not 32-d"):
        MilvusStore.open(path, dimension=32)


def test_uris(monkeypatch: pytest.MonkeyPatch) -> None:
    assert client_uri("milvus://db.internal:19530") == "http://db.internal:19530"
    assert client_uri("https://x.example:443") == "https://x.example:443"
    assert client_uri("index/clauses.db") == "index/clauses.db"
    assert client_uri("milvus-lite:index/clauses.db") == "index/clauses.db"
    with pytest.raises(ValueError, match="unknown Milvus store URI"):
        client_uri("ftp://host")
    with pytest.raises(ValueError, match="empty Milvus store URI"):
        client_uri(" ")
    monkeypatch.setenv(STORE_ENV, "milvus://h:19530")
    assert store_uri(None) == "milvus://h:19530"
    assert store_uri("x.db") == "x.db"
    monkeypatch.delenv(STORE_ENV)
    assert store_uri(None) is None


def test_filter_expression_quotes_values() -> None:
    assert filter_expression(None) == ""
    assert filter_expression(Filters()) == ""
    expression = filter_expression(Filters(documents=('a"b',), departments=("消防救援机构",), regions=("上海市",)))
    assert expression == ('document in ["a\\"b"] and region in ["上海市"] and '
                          'array_contains_any(departments, ["消防救援机构"])')


# ----- the engine on a Milvus store: build --store, MilvusCandidates, candidate_source ---------------------

ENGINE_QUERIES = ("网吧的安全检查归哪个部门？", "光伏电站安全由谁负责？", "危险化学品运输车辆的监管",
                  "燃气管道的安全监管", "校车安全管理")


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The seed built twice with the fake embedder: FAISS only, and FAISS + a milvus-lite store."""
    from retriever.lexicon import load_lexicon
    from retriever.segment import Segmenter
    from retriever.store import build_index

    lexicon = load_lexicon()
    folder = tmp_path_factory.mktemp("milvus-builds")
    for name, store in (("faiss", None), ("milvus", str(folder / "milvus" / "clauses.db"))):
        build_index(SEEDS, folder / name, FakeEmbedder(), lexicon, Segmenter(lexicon.user_words()), store=store)
    return folder / "faiss", folder / "milvus"


def _query(searcher: Searcher, text: str) -> Query:
    """The engine's query for ``text`` in full mode, as ``Searcher._retrieve`` builds it."""
    analysis = searcher.analyze(text)
    expansion = tuple(t for t in searcher.segmenter.tokens(" ".join(analysis.expansions)) if t not in analysis.tokens)
    return Query(vector=searcher.embedder.encode_queries([analysis.text])[0], tokens=analysis.tokens,
                 text=analysis.text, expansion=expansion, expansion_weight=0.3 if expansion else 0.0)


def test_build_fills_the_store_and_records_it(builds: tuple[Path, Path]) -> None:
    from retriever.store import load_index

    faiss_only, milvus = builds
    assert "store" not in load_index(faiss_only).manifest  # no --store: no change at all
    index = load_index(milvus)
    entry = index.manifest["store"]
    assert entry == {"kind": "milvus", "uri": str((milvus / "clauses.db").resolve()),
                     "collection": collection_name(index.clauses, FakeEmbedder.model_id, "terms"),
                     "count": len(index.clauses), "dimension": FakeEmbedder.dimension, "unit": "clause",
                     "lexical": "terms"}
    assert entry["count"] == 298
    assert isinstance(candidate_source(index), MilvusCandidates)
    assert isinstance(candidate_source(load_index(faiss_only)), FaissCandidates)


def test_rebuild_of_the_same_seeds_keeps_the_collection(tmp_path: Path) -> None:
    from retriever.lexicon import load_lexicon
    from retriever.segment import Segmenter
    from retriever.store import build_index

    lexicon = load_lexicon()
    segmenter = Segmenter(lexicon.user_words())
    uri = str(tmp_path / "clauses.db")
    first = build_index(SEEDS, tmp_path / "index", FakeEmbedder(), lexicon, segmenter, store=uri)["store"]
    second = build_index(SEEDS, tmp_path / "index", FakeEmbedder(), lexicon, segmenter, store=uri)["store"]
    assert first == second
    store = MilvusStore.open(uri, dimension=FakeEmbedder.dimension, collection=first["collection"], create=False)
    assert store.size == 298 and store.lexical == "terms"
    store.close()


def test_candidates_match_faiss_when_n_covers_the_seed(builds: tuple[Path, Path]) -> None:
    from retriever.search import open_searcher

    searcher = open_searcher(builds[1], seeds_dir=SEEDS, embedder=FakeEmbedder())
    index = searcher.index
    milvus = searcher.candidates
    assert isinstance(milvus, MilvusCandidates)
    faiss_source = FaissCandidates(index.dense, index.lexical, index.unit_clause)
    n = len(index.clauses)
    for text in ENGINE_QUERIES:
        query = _query(searcher, text)
        ours, theirs = milvus.gather(query, n), faiss_source.gather(query, n)
        # The exact (FLAT) milvus-lite index returns every clause: the same rows as the full scan.
        assert ours.complete and ours.rows.tolist() == theirs.rows.tolist() == list(range(n))
        # Dense scores come from the index folder's units: exactly FAISS's, best over each clause's sentences.
        np.testing.assert_array_equal(ours.dense, theirs.dense)
        # Milvus's BM25 over the engine's tokens finds exactly the clauses bm25s scores above 0, the same
        # best clause, and scores within 10 % of bm25s times k1 + 1 = 2.2 (Milvus keeps that factor).
        positive = ours.bm25 > 0
        assert positive.tolist() == (theirs.bm25 > 0).tolist()
        assert np.argmax(ours.bm25) == np.argmax(theirs.bm25)
        ratio = ours.bm25[positive] / theirs.bm25[positive]
        assert 2.2 * 0.9 < ratio.min() <= ratio.max() < 2.2 * 1.1
    partial = milvus.gather(_query(searcher, ENGINE_QUERIES[0]), 20)
    assert not partial.complete and partial.bm25_floor == 0.0 and partial.dense_floor is not None
    assert 20 <= len(partial) <= 40


def test_filters_apply_inside_milvus_and_the_mask_last(builds: tuple[Path, Path]) -> None:
    from retriever.search import open_searcher

    searcher = open_searcher(builds[1], seeds_dir=SEEDS, embedder=FakeEmbedder())
    milvus = searcher.candidates
    assert isinstance(milvus, MilvusCandidates)
    base = _query(searcher, "安全生产监督检查")
    owner = "自治区应急管理厅"
    rows = milvus.gather(replace(base, departments=(owner,)), 50).rows
    assert rows.size == 12  # every clause of that department, none other
    assert all(owner in (*searcher.clauses[r].departments, searcher.clauses[r].department) for r in rows.tolist())
    document = searcher.clauses[0].document
    assert milvus.gather(replace(base, documents=("no-such-document",)), 50).rows.size == 0
    assert milvus.gather(replace(base, documents=(document,)), 50).rows.size > 0
    allowed = np.zeros(len(searcher.clauses), dtype=bool)
    allowed[:40] = True
    masked = milvus.gather(replace(base, allowed=allowed), 298)
    assert masked.rows.size and allowed[masked.rows].all()
    with pytest.raises(ValueError, match="allowed mask has length 3"):
        milvus.gather(replace(base, allowed=np.ones(3, dtype=bool)), 10)
    with pytest.raises(ValueError, match="n >= 1"):
        milvus.gather(base, 0)


def test_store_dense_scores_use_the_clause_vectors(builds: tuple[Path, Path]) -> None:
    from retriever.search import open_searcher

    searcher = open_searcher(builds[1], seeds_dir=SEEDS, embedder=FakeEmbedder())
    local = searcher.candidates
    assert isinstance(local, MilvusCandidates)
    remote = MilvusCandidates(local.store, len(searcher.clauses), dense_scores="store")
    query = _query(searcher, ENGINE_QUERIES[0])
    got = remote.gather(query, 20)
    index = searcher.index
    whole = whole_clause_units(index.unit_clause, len(searcher.clauses))
    vectors = np.stack([index.dense._flat().reconstruct(int(u)) for u in whole[got.rows]])
    np.testing.assert_allclose(got.dense, vectors @ query.vector, rtol=1e-4, atol=1e-5)
    assert remote.gather(replace(query, vector=None), 20).dense.tolist() == [0.0] * len(
        remote.gather(replace(query, vector=None), 20))


def test_the_engine_answers_alike_on_both_stores(builds: tuple[Path, Path]) -> None:
    from retriever.search import open_searcher

    faiss_searcher = open_searcher(builds[0], seeds_dir=SEEDS, embedder=FakeEmbedder())
    milvus_searcher = open_searcher(builds[1], seeds_dir=SEEDS, embedder=FakeEmbedder())
    assert isinstance(milvus_searcher.candidates, MilvusCandidates)
    for text in ENGINE_QUERIES:
        ours = [h.clause.id for h in milvus_searcher.search(text, 10).hits]
        theirs = [h.clause.id for h in faiss_searcher.search(text, 10).hits]
        assert ours[0] == theirs[0], text
        assert len(set(ours) & set(theirs)) >= 8, (text, ours, theirs)
    department = milvus_searcher.search("安全生产监督检查", 5, department="自治区应急管理厅")
    assert len(department.hits) == 5 and all("自治区应急管理厅" in (*h.clause.departments, h.clause.department)
                                             for h in department.hits)


def test_candidate_source_refuses_what_it_cannot_serve(builds: tuple[Path, Path], tmp_path: Path) -> None:
    from retriever.errors import IndexStateError
    from retriever.search import open_searcher
    from retriever.store import load_index

    faiss_only, milvus = builds
    with pytest.raises(IndexStateError, match="built without a store"):
        candidate_source(load_index(faiss_only), str(tmp_path / "other.db"))
    with pytest.raises(IndexStateError, match="no Milvus collection"):
        candidate_source(load_index(milvus), str(tmp_path / "empty.db"))
    index = load_index(milvus)
    short = MilvusStore.open(str(tmp_path / "short.db"), dimension=FakeEmbedder.dimension,
                             collection=index.manifest["store"]["collection"], lexical="terms")
    short.add(records(FakeEmbedder()))
    short.save()
    short.close()
    with pytest.raises(IndexStateError, match="holds 5 records; the index has 298 clauses"):
        candidate_source(index, str(tmp_path / "short.db"))
    # RETRIEVER_STORE points a FAISS-only build at a store: told to build with --store.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STORE_ENV, str(tmp_path / "other.db"))
        with pytest.raises(IndexStateError, match="retriever build --store"):
            open_searcher(faiss_only, seeds_dir=SEEDS, embedder=FakeEmbedder())


def test_cli_build_store_then_search(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from retriever.cli import main

    monkeypatch.setattr("retriever.embed.load_embedder", lambda model=None: FakeEmbedder())
    index = str(tmp_path / "index")
    result = CliRunner().invoke(main, ["build", "--index", index, "--seeds", str(SEEDS),
                                       "--store", str(tmp_path / "index" / "clauses.db")])
    assert result.exit_code == 0, result.output
    assert "Filled Milvus collection clauses_" in result.output and ": 298 clauses." in result.output
    result = CliRunner().invoke(main, ["search", "第三十三条第五项", "--index", index, "--seeds", str(SEEDS),
                                       "--json", "-k", "1"])
    assert result.exit_code == 0, result.output
    assert '"id": "33.5"' in result.output
    result = CliRunner().invoke(main, ["search", "消防", "--index", index, "--seeds", str(SEEDS),
                                       "--store", str(tmp_path / "nothing.db")])
    assert result.exit_code == 1 and "no Milvus collection" in result.output


@pytest.mark.slow
def test_real_model_milvus_lite_matches_faiss(real_searcher: Searcher, tmp_path: Path) -> None:
    """Real model, real FAISS, real jieba, real milvus-lite: the engine gives FAISS's answers."""
    import shutil

    from retriever.embedcache import CACHE_FILE
    from retriever.search import open_searcher
    from retriever.store import build_index

    root = tmp_path / "index"
    root.mkdir()
    shutil.copy(real_searcher.index.root / CACHE_FILE, root / CACHE_FILE)  # the same vectors, no re-embedding
    manifest = build_index(SEEDS, root, real_searcher.embedder, real_searcher.lexicon, real_searcher.segmenter,
                           store=str(root / "clauses.db"))
    assert manifest["counts"]["units_embedded"] == 0 and manifest["store"]["count"] == 298
    milvus = open_searcher(root, seeds_dir=SEEDS, embedder=real_searcher.embedder)
    assert isinstance(milvus.candidates, MilvusCandidates)
    for text in ENGINE_QUERIES:
        ours = milvus.search(text, 10)
        theirs = real_searcher.search(text, 10)
        assert [h.clause.id for h in ours.hits[:3]] == [h.clause.id for h in theirs.hits[:3]], text
        assert ours.in_scope == theirs.in_scope
        assert [d.department for d in ours.departments[:1]] == [d.department for d in theirs.departments[:1]]


def test_term_words_are_one_ascii_word_per_token() -> None:
    words = term_words(["消防", "消防", "fire safety", "安全生产"]).split(" ")
    assert len(words) == 4 and words[0] == words[1] and len(set(words)) == 3  # repeats kept, spaces inside kept whole
    assert all(w.isascii() and w.isalnum() and len(w) == 16 for w in words)
    assert term_words([]) == ""


def test_a_milvus_lite_file_held_by_another_process_is_reported(builds: tuple[Path, Path], tmp_path: Path) -> None:
    import subprocess
    import sys
    import textwrap

    from retriever.errors import IndexStateError
    from retriever.store import load_index

    held = str(tmp_path / "held.db")
    holder = textwrap.dedent(f"""
        import sys
        from pymilvus import MilvusClient
        client = MilvusClient({held!r})
        print("held", flush=True)
        sys.stdin.readline()
    """)
    process = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "held"
        with pytest.raises(IndexStateError, match=r"another process holds it .*milvus://host:19530"):
            candidate_source(load_index(builds[1]), held)
    finally:
        process.communicate("\n", timeout=60)
