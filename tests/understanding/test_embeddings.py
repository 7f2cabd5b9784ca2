from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kefu.understanding.embeddings import CachedEmbedder, Embedder, HashedNgramEmbedder


def test_hashed_vectors_are_normalised_deterministic_and_meaningful() -> None:
    embedder: Embedder = HashedNgramEmbedder(1024)
    a, b, c, empty = embedder.embed(["押金怎么退", "退押金要多久", "几点可以入住", "？？？"])
    assert a.dtype == np.float32 and a.shape == (1024,)
    assert np.isclose(np.linalg.norm(a), 1.0) and not empty.any()
    assert float(a @ b) > float(a @ c)  # shared words bring vectors together
    assert np.array_equal(embedder.embed(["押金怎么退"])[0], a)  # stable across calls
    same = HashedNgramEmbedder(1024).embed(["押金怎麼退"])[0]  # traditional folds to simplified
    assert np.allclose(same, a)


def test_tiny_dimension_is_refused() -> None:
    with pytest.raises(ValueError):
        HashedNgramEmbedder(4)


class Counting:
    name, dim = "counting", 8

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:  # type: ignore[override]
        self.seen.extend(texts)
        return np.ones((len(texts), self.dim), dtype=np.float32)


def test_cache_encodes_each_text_once_and_evicts_oldest() -> None:
    inner = Counting()
    cached = CachedEmbedder(inner, size=2)
    assert cached.embed(["a", "b", "a"]).shape == (3, 8)
    assert inner.seen == ["a", "b"]
    cached.embed(["a", "c"])  # "b" is now the least recently used and goes
    assert inner.seen == ["a", "b", "c"]
    cached.embed(["b"])
    assert inner.seen == ["a", "b", "c", "b"]


def test_default_model_is_multilingual_and_loads_offline() -> None:
    from kefu.understanding.embeddings import UseMultilingualEmbedder

    embedder = UseMultilingualEmbedder()
    balance_zh, balance_en, checkin, blank = embedder.embed(
        ["我想查询余额", "check my balance", "几点可以入住", "   "]
    )
    assert balance_zh.shape == (512,) and np.isclose(np.linalg.norm(balance_zh), 1.0)
    assert float(balance_zh @ balance_en) > float(balance_zh @ checkin) + 0.2
    assert not blank.any()  # nothing to encode is a zero row, not noise
    long = embedder.embed(["押金" * 10_000])  # clipped, not seconds of work
    assert long.shape == (1, 512)
    # One sentence at a time: the same vector whatever batch it came in.
    assert np.array_equal(embedder.embed(["退押金", "x"])[0], embedder.embed(["退押金"])[0])


def _tiny_onnx_encoder(tmp_path: Path) -> Path:
    """A real ONNX graph (embedding lookup -> token vectors) and a WordLevel tokenizer.json."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    vocab = {"[UNK]": 0, "refund": 1, "deposit": 2, "bike": 3, "broken": 4}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    table = np.random.default_rng(0).normal(size=(len(vocab), 6)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["tokens"])],
        "tiny",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "t"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "t"]),
        ],
        [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["b", "t", 6])],
        [numpy_helper.from_array(table, "table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "encoder.onnx"
    onnx.save(model, str(path))
    return path


def test_user_onnx_encoder_is_mean_pooled_over_the_mask(tmp_path: Path) -> None:
    from kefu.understanding.embeddings import OnnxEmbedder

    embedder = OnnxEmbedder(_tiny_onnx_encoder(tmp_path))
    assert embedder.dim == 6 and embedder.name == "onnx:encoder.onnx"
    one, two = embedder.embed(["refund deposit", "refund deposit broken bike"])
    # Padding must not leak into the short sentence's mean: same as encoding it alone.
    assert np.allclose(one, embedder.embed(["refund deposit"])[0], atol=1e-6)
    assert np.isclose(np.linalg.norm(two), 1.0)
    assert embedder.embed([]).shape == (0, 6)


def test_embedder_specs_and_clear_errors(tmp_path: Path) -> None:
    from kefu.understanding.embeddings import EmbedderUnavailable, make_embedder

    assert make_embedder("hashed-ngram-64").dim == 64
    assert make_embedder("hashed-ngram-64") is make_embedder("hashed-ngram-64")  # loaded once
    model = _tiny_onnx_encoder(tmp_path)
    assert make_embedder(f"onnx:{model}").dim == 6
    with pytest.raises(EmbedderUnavailable, match="unknown embedder"):
        make_embedder("bert-from-the-hub")
    with pytest.raises(EmbedderUnavailable, match="not found"):
        make_embedder(f"onnx:{tmp_path / 'missing.onnx'}")
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(EmbedderUnavailable, match="cannot load"):
        make_embedder(f"onnx:{tmp_path / 'broken.onnx'},{tmp_path / 'tokenizer.json'}")
