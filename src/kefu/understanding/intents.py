"""Intent classification: a linear model over [sentence embedding ; lexical TF-IDF].

Trained with scikit-learn (imported only in `train_intents`), run in numpy: prediction is one
matrix-vector product over the embedding plus a gather over the message's known terms. The
softmax is temperature-scaled on held-out examples so `confidence` means what it says, and
an out-of-scope threshold is learned on the same held-out part. Artifacts are versioned
directories (`model.npz` + `meta.json`, and the training examples when the caller gives them)
that load in milliseconds.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kefu.errors import KefuError
from kefu.text.normalize import match_key
from kefu.understanding.embeddings import Embedder
from kefu.understanding.features import TfidfVocabulary, lexical_terms

FORMAT = 1
EXAMPLES_FILE = "examples.jsonl.gz"  # the (text, label) pairs a model was trained on
Progress = Callable[[str, float], None]  # (stage, fraction done)
Floats = npt.NDArray[np.float32]


class ModelError(KefuError):
    code = "model_error"


@dataclass(frozen=True, slots=True)
class IntentPrediction:
    label: str | None  # None: out of scope
    confidence: float  # calibrated probability of the top label
    ranking: tuple[tuple[str, float], ...]  # top labels with probabilities


@dataclass(frozen=True)
class IntentConfig:
    """Hyperparameters, chosen on dev splits (see docs/benchmarks.md), never on test."""

    dense_weight: float = 1.0  # scale of the embedding block against the unit-norm TF-IDF block
    c: float = 10.0  # inverse regularisation of the logistic regression
    # Terms seen in fewer examples are dropped. None: 1 below 5,000 examples, else 2 (on
    # BANKING77 80/20 min_df 2 kept accuracy and halved training time and L-BFGS memory; on
    # SMP2017's 2,299 examples rare terms still helped, by 0.3 points on dev).
    min_df: int | None = None
    holdout: float = 0.1  # share held out to fit the temperature and the OOS threshold
    max_iter: int = 300
    seed: int = 0


@dataclass
class IntentModel:
    labels: list[str]
    vocabulary: TfidfVocabulary
    dense: Floats  # (dim, labels)
    sparse: Floats  # (terms, labels)
    bias: Floats  # (labels,)
    embedder: str
    dense_weight: float
    temperature: float = 1.0
    threshold: float = 0.0  # below this confidence the message is out of scope
    oos_label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unsaved"))

    def logits(self, text: str, vector: Floats) -> Floats:
        cols, weights = self.vocabulary.row(lexical_terms(match_key(text)))
        out = self.bias + (self.dense_weight * vector) @ self.dense
        if len(cols):
            out = out + weights @ self.sparse[cols]
        return out.astype(np.float32)

    def probabilities(self, text: str, vector: Floats) -> Floats:
        z = self.logits(text, vector) / self.temperature
        z = np.exp(z - z.max())
        probs: Floats = (z / z.sum()).astype(np.float32)
        return probs

    def predict(self, text: str, vector: Floats, top: int = 3) -> IntentPrediction:
        probs = self.probabilities(text, vector)
        order = np.argsort(-probs)[:top]
        ranking = tuple((self.labels[i], round(float(probs[i]), 4)) for i in order)
        best, confidence = ranking[0]
        if best == self.oos_label or confidence < self.threshold:
            return IntentPrediction(None, confidence, ranking)
        return IntentPrediction(best, confidence, ranking)

    def save(
        self,
        directory: Path,
        *,
        make_current: bool = True,
        examples: Sequence[tuple[str, str]] | None = None,
    ) -> Path:
        """Write a new versioned artifact under `directory`; returns its folder. With
        `make_current=False` it is only kept (a refused retraining candidate), not served.
        `examples`, the (text, label) pairs it was trained on, are stored beside it (see
        `saved_examples`) so a later retraining can compare training sets fairly."""
        weights = hashlib.sha256(self.sparse.tobytes() + self.dense.tobytes())
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        directory.mkdir(parents=True, exist_ok=True)
        for attempt in range(100):
            # The same data trained twice in one second gives the same weights: salt the
            # digest until the name is free (a refused candidate and its forced retry).
            digest = weights.copy()
            digest.update(str(attempt).encode() if attempt else b"")
            version = stamp + "-" + digest.hexdigest()[:8]
            target = directory / version
            try:
                target.mkdir(exist_ok=False)
                break
            except FileExistsError:
                continue
        else:
            raise ModelError(f"cannot find a free version name under {directory}")
        np.savez(
            target / "model.npz",
            dense=self.dense,
            sparse=self.sparse,
            bias=self.bias,
            idf=self.vocabulary.idf,
        )
        meta = {
            **self.meta,
            "format": FORMAT,
            "kind": "intent",
            "version": version,
            "labels": self.labels,
            "terms": list(self.vocabulary.terms),
            "embedder": self.embedder,
            "dense_weight": self.dense_weight,
            "temperature": self.temperature,
            "threshold": self.threshold,
            "oos_label": self.oos_label,
        }
        if examples is not None:
            with gzip.open(target / EXAMPLES_FILE, "wt", encoding="utf-8") as file:
                for text, label in examples:
                    row = {"text": text, "label": label}
                    file.write(json.dumps(row, ensure_ascii=False) + "\n")
        # meta.json last but the pointer: a folder with it is complete.
        (target / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        if make_current:
            _point_to(directory, version)
        self.meta = {k: v for k, v in meta.items() if k not in ("terms", "labels")}
        return target

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        """Load an artifact folder, or the current version of a models directory."""
        path = _resolve(path)
        try:
            meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"no intent model at {path}: run `kefu train`") from None
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the intent model at {path}: {exc}") from None
        if (
            not isinstance(meta, dict)
            or meta.get("format") != FORMAT
            or meta.get("kind") != "intent"
        ):
            raise ModelError(f"{path} is not a kefu intent model of format {FORMAT}")
        try:
            arrays = np.load(path / "model.npz")  # allow_pickle stays off: no code in models
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelError(f"cannot read the intent model at {path}: {exc}") from None
        terms = meta.pop("terms")
        labels = meta.pop("labels")
        return cls(
            labels=labels,
            vocabulary=TfidfVocabulary({t: i for i, t in enumerate(terms)}, arrays["idf"]),
            dense=arrays["dense"],
            sparse=arrays["sparse"],
            bias=arrays["bias"],
            embedder=meta["embedder"],
            dense_weight=meta["dense_weight"],
            temperature=meta["temperature"],
            threshold=meta["threshold"],
            oos_label=meta.get("oos_label"),
            meta=meta,
        )


def _resolve(path: Path) -> Path:
    """An artifact folder as given, or the current version's of a models directory."""
    if (path / "current").is_file():
        return path / (path / "current").read_text(encoding="utf-8").strip()
    return path


def saved_examples(path: Path) -> list[tuple[str, str]] | None:
    """The examples an artifact (or a models directory's current one) was trained on, or None
    when it didn't store them (an older kefu, `kefu train --data`). Read only on demand:
    serving never needs them. Raises ModelError when the file is unreadable."""
    file = _resolve(path) / EXAMPLES_FILE
    try:
        with gzip.open(file, "rt", encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines if line.strip()]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError) as exc:  # a bad gzip stream, JSON or UTF-8
        raise ModelError(f"cannot read the training examples at {file}: {exc}") from None
    examples: list[tuple[str, str]] = []
    for n, row in enumerate(rows, 1):
        if not (
            isinstance(row, dict)
            and isinstance(row.get("text"), str)
            and isinstance(row.get("label"), str)
        ):
            raise ModelError(f'{file}: row {n} is not {{"text": ..., "label": ...}}')
        examples.append((row["text"], row["label"]))
    return examples


VERSION_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")


def _point_to(directory: Path, version: str) -> None:
    # Written last and atomically (a unique temporary name, then a rename): a reader sees the
    # old or the new model, and two writers never interleave in one file.
    pointer = directory / f"current.{uuid.uuid4().hex}.tmp"
    pointer.write_text(version + "\n", encoding="utf-8")
    pointer.replace(directory / "current")


def current_version(directory: Path) -> str | None:
    """The version `directory/current` names, or None when there is none."""
    try:
        return (directory / "current").read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def switch_current(directory: Path, version: str) -> IntentModel:
    """Serve an already saved version (a rollback, or a refused candidate put live by hand).
    The folder is loaded first, so a missing or broken one never becomes current."""
    if not VERSION_NAME.match(version):
        raise ModelError(f"not an intent model version: {version!r}")
    model = IntentModel.load(directory / version)
    _point_to(directory, version)
    return model


def _fit_temperature(logits: Floats, gold: npt.NDArray[np.int64]) -> float:
    """The temperature minimising held-out negative log-likelihood (a 1-d search)."""
    best, best_nll = 1.0, math.inf
    for t in np.exp(np.linspace(math.log(0.05), math.log(20.0), 121)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(gold)), gold]))
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def _fit_threshold(probs: Floats, gold: npt.NDArray[np.int64], oos: int | None) -> float:
    """With out-of-scope examples: the confidence cut maximising held-out accuracy (OOS counted
    as a label). Without: 0, nothing to learn from; the dialogue policy sets its own floor."""
    if oos is None or not (gold == oos).any():
        return 0.0
    top = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    best, best_acc = 0.0, -1.0
    for cut in np.unique(np.round(conf, 3)):
        predicted = np.where((conf < cut) | (top == oos), oos, top)
        acc = float(np.mean(predicted == gold))
        if acc > best_acc:
            best, best_acc = float(cut), acc
    return best


def train_intents(
    examples: Sequence[tuple[str, str]],
    embedder: Embedder,
    *,
    config: IntentConfig | None = None,
    oos_label: str | None = None,
    progress: Progress | None = None,
) -> IntentModel:
    """Train on (text, label) pairs. Raises ModelError on data that can't make a model."""
    config = config or IntentConfig()
    report = progress or (lambda stage, done: None)
    started = time.perf_counter()
    texts = [t for t, _ in examples]
    labels = sorted({label for _, label in examples})
    if len(labels) < 2:
        raise ModelError("training needs at least two intents")
    index = {label: i for i, label in enumerate(labels)}
    gold = np.asarray([index[label] for _, label in examples], dtype=np.int64)

    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    step = max(1, len(texts) // 50)
    for start in range(0, len(texts), step):
        vectors[start : start + step] = embedder.embed(texts[start : start + step])
        report("embedding", min(1.0, (start + step) / len(texts)))
    docs = [lexical_terms(match_key(t)) for t in texts]

    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegression

    # One vocabulary (from every example) and one matrix serve both fits: the held-out fit
    # only sets the temperature and threshold, and the final fit starts from its weights
    # (warm start), which about halves training time.
    min_df = config.min_df or (1 if len(texts) < 5000 else 2)
    vocabulary = TfidfVocabulary.fit(docs, min_df)
    x_all = hstack([csr_matrix(vectors * config.dense_weight), vocabulary.matrix(docs)]).tocsr()
    classifier = LogisticRegression(C=config.c, max_iter=config.max_iter, warm_start=True)

    def weights() -> tuple[Floats, Floats]:
        coef = np.asarray(classifier.coef_, dtype=np.float32)
        bias = np.asarray(classifier.intercept_, dtype=np.float32)
        if len(labels) == 2:  # a two-class fit keeps one row (class 1 vs 0); softmax needs both
            coef, bias = (
                np.stack([-coef[0] / 2, coef[0] / 2]),
                np.array([-bias[0] / 2, bias[0] / 2]),
            )
        return coef, bias

    temperature, threshold = 1.0, 0.0
    held = _holdout(gold, config.holdout, config.seed)
    if held is not None and len(set(gold[held[0]].tolist())) < len(labels):
        held = None  # a label would be missing from the first fit: no warm start possible
    if held is not None:
        train_rows, held_rows = held
        report("calibrating", 0.0)
        classifier.fit(x_all[train_rows], gold[train_rows])
        coef, bias = weights()
        logits = np.asarray(x_all[held_rows] @ coef.T, dtype=np.float32) + bias
        temperature = _fit_temperature(logits, gold[held_rows])
        z = logits / temperature
        z = np.exp(z - z.max(axis=1, keepdims=True))
        probs = (z / z.sum(axis=1, keepdims=True)).astype(np.float32)
        oos = index.get(oos_label) if oos_label else None
        threshold = _fit_threshold(probs, gold[held_rows], oos)
        report("calibrating", 1.0)
    report("training", 0.0)
    classifier.fit(x_all, gold)
    coef, bias = weights()
    model = IntentModel(
        labels=labels,
        vocabulary=vocabulary,
        dense=np.ascontiguousarray(coef[:, : embedder.dim].T),
        sparse=np.ascontiguousarray(coef[:, embedder.dim :].T),
        bias=bias,
        embedder=embedder.name,
        dense_weight=config.dense_weight,
        temperature=temperature,
        threshold=threshold,
        oos_label=oos_label if oos_label in index else None,
    )
    counts = Counter(label for _, label in examples)
    model.meta = {
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "examples": len(examples),
        "examples_per_label": dict(sorted(counts.items())),
        "config": config.__dict__,
        "train_s": round(time.perf_counter() - started, 2),
    }
    report("training", 1.0)
    return model


def _holdout(
    gold: npt.NDArray[np.int64], share: float, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """A stratified held-out part: a share of each label that has at least 4 examples."""
    if share <= 0:
        return None
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for label in np.unique(gold):
        rows = np.flatnonzero(gold == label)
        if len(rows) >= 4:
            held += rng.choice(rows, max(1, round(len(rows) * share)), replace=False).tolist()
    if len(held) < 10:
        return None
    mask = np.zeros(len(gold), dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)
