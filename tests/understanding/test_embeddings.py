from __future__ import annotations

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
