"""Milvus store on milvus-lite: dense, BM25 (jieba analyzer), hybrid, filters, remove, reopen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retriever.stores.base import STORE_ENV, Filters, Store, StoreRecord, store_uri

pytest.importorskip("pymilvus", reason="the Milvus store needs pymilvus: pip install -e '.[milvus]'")
pytest.importorskip("milvus_lite", reason="tests run on milvus-lite: pip install -e '.[milvus]'")

from retriever.stores.milvus import MilvusStore, client_uri, filter_expression

from .conftest import FakeEmbedder

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
