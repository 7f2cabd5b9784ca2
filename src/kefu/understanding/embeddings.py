"""Sentence embeddings behind one protocol, so models can be swapped by configuration.

Today: `HashedNgramEmbedder`, the model-free backend (hashed word and character n-gram terms,
the same terms the FAQ index uses), and `CachedEmbedder`, an LRU cache for any backend. Model
backends (a bundled multilingual encoder, user-supplied ONNX) come next; see
docs/decisions/0001-sentence-embeddings.md for the measurements behind the choice.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from kefu.text.normalize import match_key
from kefu.understanding.ngram import faq_terms

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Texts in, one L2-normalised float32 row per text out."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class HashedNgramEmbedder:
    """Model-free: terms hashed into `dim` buckets with a stable hash (crc32), sublinear tf.
    Works for any language the normaliser handles, costs no memory for a vocabulary."""

    def __init__(self, dim: int = 2048) -> None:
        if dim < 8:
            raise ValueError("dim must be at least 8")
        self.name = f"hashed-ngram-{dim}"
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for term, tf in faq_terms(match_key(text)).items():
                bucket = zlib.crc32(term.encode("utf-8"))
                sign = (
                    1.0 if bucket & 0x80000000 else -1.0
                )  # signed hashing halves collisions' bias
                out[row, bucket % self.dim] += sign * (1.0 + math.log(tf))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


class CachedEmbedder:
    """LRU cache in front of any embedder; a batch encodes only the texts it hasn't seen."""

    def __init__(self, inner: Embedder, size: int = 10_000) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.size = size
        self._cache: OrderedDict[str, Vectors] = OrderedDict()

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for row, text in enumerate(texts):
            cached = self._cache.get(text)
            if cached is None:
                missing.setdefault(text, []).append(row)
            else:
                self._cache.move_to_end(text)
                out[row] = cached
        if missing:
            fresh = self.inner.embed(list(missing))
            for (text, rows), vector in zip(missing.items(), fresh, strict=True):
                out[rows] = vector
                self._cache[text] = vector
                if len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        return out
