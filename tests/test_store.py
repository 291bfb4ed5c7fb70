"""The index folder: manifest contents, each mismatch's message, atomic rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retriever.errors import IndexMissingError, IndexStateError
from retriever.lexicon import Lexicon, load_lexicon
from retriever.segment import Segmenter
from retriever.store import CURRENT, FORMAT_VERSION, build_index, clause_units, load_index, read_manifest

from .conftest import FakeEmbedder


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return load_lexicon()


@pytest.fixture(scope="module")
def segmenter(lexicon: Lexicon) -> Segmenter:
    return Segmenter(lexicon.user_words())


@pytest.fixture
def built(tmp_path: Path, seeds_copy: Path, lexicon: Lexicon, segmenter: Segmenter) -> Path:
    root = tmp_path / "index"
    build_index(seeds_copy, root, FakeEmbedder(), lexicon, segmenter)
    return root


def _load(root: Path, seeds: Path, lexicon: Lexicon, segmenter: Segmenter, model_id: str = FakeEmbedder.model_id):
    return load_index(root, seeds_dir=seeds, lexicon=lexicon, segmenter=segmenter, model_id=model_id)


def test_manifest_records_what_was_built(built: Path, seeds_copy: Path, lexicon: Lexicon,
                                         segmenter: Segmenter) -> None:
    _, manifest = read_manifest(built)
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model"] == {"id": FakeEmbedder.model_id, "dimension": FakeEmbedder.dimension}
    assert manifest["lexicon"]["checksum"] == lexicon.checksum
    assert manifest["counts"]["clauses"] == 298
    assert manifest["counts"]["documents"] == 1
    assert set(manifest["files"]) >= {"clauses.jsonl", "units.json", "dense.faiss"}
    assert any(name.startswith("bm25/") for name in manifest["files"])
    assert (built / CURRENT).is_symlink()
    index = _load(built, seeds_copy, lexicon, segmenter)
    assert len(index.clauses) == 298
    assert index.dense.size == len(index.units) == manifest["counts"]["units"]


def test_sentence_units_point_back_to_their_clause(built: Path, seeds_copy: Path, lexicon: Lexicon,
                                                   segmenter: Segmenter) -> None:
    index = _load(built, seeds_copy, lexicon, segmenter)
    units = clause_units(index.clauses)
    assert len(units) > len(index.clauses)
    row = next(r for r, c in enumerate(index.clauses) if c.id == "13.1")
    pieces = [u.text for u in units if u.clause == row]
    assert len(pieces) >= 3  # the whole item and its sentences
    assert all(p.startswith("自治区应急管理厅职责：") for p in pieces)


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError) as info:
        load_index(tmp_path / "nothing")
    assert "no index in" in info.value.message
    assert "retriever build" in info.value.hint


def test_stale_seeds(built: Path, seeds_copy: Path, lexicon: Lexicon, segmenter: Segmenter) -> None:
    seed = next(seeds_copy.glob("*.txt"))
    seed.write_text(seed.read_text(encoding="utf-8") + "\n第六十一条 新增。\n", encoding="utf-8")
    with pytest.raises(IndexStateError, match=rf"stale: the seeds .* changed .*{seed.name} changed"):
        _load(built, seeds_copy, lexicon, segmenter)
    (seeds_copy / "new.txt").write_text("第一条 新文件。\n", encoding="utf-8")
    with pytest.raises(IndexStateError, match=r"new\.txt added"):
        _load(built, seeds_copy, lexicon, segmenter)


def test_model_mismatch(built: Path, seeds_copy: Path, lexicon: Lexicon, segmenter: Segmenter) -> None:
    with pytest.raises(IndexStateError, match="built with model 'fake/char-bigram-64', but 'other' is requested"):
        _load(built, seeds_copy, lexicon, segmenter, model_id="other")


def test_lexicon_changed(built: Path, seeds_copy: Path, lexicon: Lexicon, segmenter: Segmenter, tmp_path: Path) -> None:
    source = Path(lexicon.source)
    edited = tmp_path / "lexicon.toml"
    edited.write_text(source.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    with pytest.raises(IndexStateError, match=r"lexicon .* changed since it was built"):
        _load(built, seeds_copy, load_lexicon(edited), segmenter)


def test_unknown_format(built: Path, seeds_copy: Path, lexicon: Lexicon, segmenter: Segmenter) -> None:
    path = (built / CURRENT).resolve() / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format_version"] = 99
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexStateError, match=rf"format version 99 .* not the supported version {FORMAT_VERSION}"):
        _load(built, seeds_copy, lexicon, segmenter)


def test_corrupt_manifest(built: Path, seeds_copy: Path, lexicon: Lexicon, segmenter: Segmenter) -> None:
    ((built / CURRENT).resolve() / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexStateError, match=r"manifest .* is corrupt") as info:
        _load(built, seeds_copy, lexicon, segmenter)
    assert "retriever build" in info.value.hint


def test_missing_and_corrupt_files(built: Path, seeds_copy: Path, lexicon: Lexicon, segmenter: Segmenter) -> None:
    folder = (built / CURRENT).resolve()
    (folder / "dense.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexStateError, match=r"dense\.faiss is corrupt"):
        _load(built, seeds_copy, lexicon, segmenter)
    (folder / "units.json").unlink()
    with pytest.raises(IndexStateError, match=r"units\.json is missing"):
        _load(built, seeds_copy, lexicon, segmenter)


class ExplodingEmbedder(FakeEmbedder):
    """Fails halfway through encoding, like a build killed mid-way (another model: the cache has none of it)."""

    model_id = "fake/exploding"

    def encode_clauses(self, texts):  # type: ignore[no-untyped-def]
        if self.calls >= 2:
            raise RuntimeError("interrupted")
        return super().encode_clauses(texts)


def test_interrupted_build_leaves_old_index_usable(built: Path, seeds_copy: Path, lexicon: Lexicon,
                                                   segmenter: Segmenter) -> None:
    before = (built / CURRENT).resolve()
    with pytest.raises(RuntimeError, match="interrupted"):
        build_index(seeds_copy, built, ExplodingEmbedder(), lexicon, segmenter)
    assert (built / CURRENT).resolve() == before
    assert len(_load(built, seeds_copy, lexicon, segmenter).clauses) == 298


def test_interrupted_write_leaves_no_partial_build(built: Path, seeds_copy: Path, lexicon: Lexicon,
                                                   segmenter: Segmenter, monkeypatch: pytest.MonkeyPatch) -> None:
    import retriever.store as store

    before = (built / CURRENT).resolve()

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "_write_json_durably", fail)
    with pytest.raises(OSError, match="disk full"):
        build_index(seeds_copy, built, FakeEmbedder(), lexicon, segmenter)
    assert (built / CURRENT).resolve() == before
    assert [p.name for p in (built / "builds").iterdir()] == [before.name]
    assert len(_load(built, seeds_copy, lexicon, segmenter).clauses) == 298


def test_rebuild_replaces_and_cleans_up(built: Path, seeds_copy: Path, lexicon: Lexicon, segmenter: Segmenter) -> None:
    before = (built / CURRENT).resolve()
    build_index(seeds_copy, built, FakeEmbedder(), lexicon, segmenter)
    after = (built / CURRENT).resolve()
    assert after != before
    assert not before.exists()
    assert [p.name for p in (built / "builds").iterdir()] == [after.name]


def test_a_law_item_is_also_embedded_with_its_lead_in() -> None:
    from retriever.records import Clause

    item = Clause(id="24.1", document="law", title="某法", chapter="", article=24, item=1, department=None,
                  text="安全投入符合安全生产要求；", citation="第二十四条第（一）项",
                  lead_in="企业取得安全生产许可证，应当具备下列安全生产条件：")
    duty = Clause(id="18.1", document="seed", title="细则", chapter="", article=18, item=1, department="自治区公安厅",
                  text="负责道路交通安全管理。", citation="第十八条第（一）项", lead_in="自治区公安厅职责：")
    texts = [u.text for u in clause_units([item, duty])]
    assert texts == ["安全投入符合安全生产要求；",
                     "企业取得安全生产许可证，应当具备下列安全生产条件：安全投入符合安全生产要求；",
                     "自治区公安厅职责：负责道路交通安全管理。"]
