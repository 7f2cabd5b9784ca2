"""The numeric half of knowledge-gap clustering: questions to vectors, average-linkage
clustering under a distance threshold, and the terms that label a cluster.

Similarity is a weighted sum of two cosines: TF-IDF over kefu's own FAQ terms
(`kefu.understanding.ngram.faq_terms` over `match_key`, so full-width, zero-width and
traditional characters fold as in the pipeline; Chinese character bigrams and jieba words,
English words and character 3-4 grams, function words left out) and, when the deployment's
sentence encoder is passed, its vectors, which see paraphrases and cross Chinese and English.
No fixed number of clusters: the threshold decides, so a new gap shows up as a new cluster.
scipy (a scikit-learn dependency, imported when first needed) does the linkage.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import rjieba
from scipy.sparse import csr_matrix

from kefu.text.language import detect_script
from kefu.understanding.embeddings import Embedder
from kefu.understanding.ngram import _EN_STOP, faq_terms

# Average cosine distance under which two groups of questions are one gap. Tuned on the
# planted topics of tests/analytics/test_gaps.py and bench/analytics_gaps.py.
DEFAULT_THRESHOLD = 0.74
TFIDF_THRESHOLD = 0.9  # without an embedder (TF-IDF only)
# Share of the similarity that comes from sentence vectors when there are some: they see
# paraphrases, the terms keep clusters on one subject.
EMBEDDING_WEIGHT = 0.7
# ... and across Chinese and English, where terms can't match, the sentence vectors alone,
# discounted: unrelated questions in two languages should not look closer than in one.
CROSS_WEIGHT = 0.8
Vectors = npt.NDArray[np.float64]
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_ZH_STOP = frozenset(
    (  # noqa: SIM905 - a word list reads best as text
        "什么 怎么 怎么办 怎样 哪里 哪儿 多少 多久 可以 能不能 是不是 有没有 为什么 请问 你们 "
        "我们 他们 一下 一个 现在 今天 已经 还是 还有 就是 这个 那个 需要 知道 不能 没有 自己"
    ).split()
)
# More function words than the FAQ matcher drops: in a cluster's label "we" or "have" says
# nothing about the subject.
_EN_GROUP_STOP = _EN_STOP | frozenset(
    (  # noqa: SIM905 - a word list reads best as text
        "we us our ours they them their he she his her any some have has had get got need want "
        "there here then than so not no if as by from up about into out just also very much "
        "many should shall may might must does doing done was were been being am"
    ).split()
)
_BLOCK = 512  # rows of the similarity matrix computed at once (bounds temporary memory)


@functools.cache
def _jieba() -> rjieba.Jieba:
    return rjieba.Jieba()  # loads its dictionary: ~0.4 s, so not at import


def terms_of(key: str) -> Counter[str]:
    """FAQ terms of a match key, for grouping rather than matching: Chinese character bigrams
    and jieba words ("j"), English words and character 3-4 grams. Single Chinese characters
    and function words (here and in `_ZH_STOP`) are left out: they join questions that only
    share their grammar (什么, 哪里, how long)."""
    terms: Counter[str] = Counter()
    for term, tf in faq_terms(key).items():
        if term[0] == "z" and (len(term) == 2 or term[1:] in _ZH_STOP):
            continue
        if term[0] in "cw" and term[1:].strip() in _EN_GROUP_STOP:
            continue
        terms[term] += tf
    for word in key.split():
        if _HAN.search(word):
            for piece in _jieba().cut(word):
                if len(piece) >= 2 and _HAN.search(piece) and piece not in _ZH_STOP:
                    terms["j" + piece] += 1
    return terms


def vectorise(keys: Sequence[str]) -> tuple[csr_matrix, list[str]]:
    """L2-normalised TF-IDF rows (sublinear tf, smooth idf) and the column terms.

    Terms that occur in one text only are dropped after the norm is taken: they make two texts
    no more alike, and dropping them keeps the matrix small."""
    counts = [terms_of(key) for key in keys]
    df: Counter[str] = Counter(t for c in counts for t in c)
    n = len(keys)
    idf = {t: math.log((1 + n) / (1 + d)) + 1 for t, d in df.items()}
    shared = sorted(t for t, d in df.items() if d > 1)
    column = {t: i for i, t in enumerate(shared)}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for row, grams in enumerate(counts):
        weights = {t: (1 + math.log(tf)) * idf[t] for t, tf in grams.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        for t, w in weights.items():
            col = column.get(t)
            if col is not None:
                rows.append(row)
                cols.append(col)
                vals.append(w / norm)
    matrix = csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)), shape=(n, len(shared)))
    return matrix, shared


@dataclass(frozen=True)
class Features:
    """Each text as TF-IDF terms and, when an embedder is given, a sentence vector; their
    similarity is the weighted sum of the two cosines (`weight` on the sentence vectors)."""

    tfidf: csr_matrix
    terms: list[str]
    dense: Vectors | None = None
    weight: float = 0.0
    script: npt.NDArray[np.int8] | None = None  # 1 Chinese, 2 English, 0 mixed or neither

    @classmethod
    def of(cls, keys: Sequence[str], embedder: Embedder | None = None) -> Features:
        tfidf, terms = vectorise(keys)
        if embedder is None or not keys:
            return cls(tfidf, terms)
        dense = np.asarray(embedder.embed(list(keys)), dtype=np.float64)
        codes = {"zh": 1, "en": 2}
        script = np.fromiter(
            (codes.get(detect_script(k) or "", 0) for k in keys), dtype=np.int8, count=len(keys)
        )
        return cls(tfidf, terms, dense, EMBEDDING_WEIGHT, script)

    @property
    def size(self) -> int:
        return int(self.tfidf.shape[0])

    def similarity(self, rows: slice | list[int], to: slice | list[int]) -> Vectors:
        """Cosine similarities, rows x `to`."""
        sims = np.asarray((self.tfidf[rows] @ self.tfidf[to].T).toarray(), dtype=np.float64)
        if self.dense is None:
            return sims
        dense = self.dense[rows] @ self.dense[to].T
        mixed = self.weight * dense + (1.0 - self.weight) * sims
        if self.script is None:
            return mixed
        a, b = self.script[rows][:, None], self.script[to][None, :]
        across = (a != b) & (a > 0) & (b > 0)
        return np.where(across, CROSS_WEIGHT * dense, mixed)

    def centroid_sims(self, rows: list[int], weights: Vectors) -> Vectors:
        """Each row's similarity to the (weighted) mean of `rows`."""
        w = weights / max(float(weights.sum()), 1.0)
        sub = self.tfidf[rows]
        sims = np.asarray(sub @ np.asarray(sub.T @ w).ravel(), dtype=np.float64).ravel()
        if self.dense is None:
            return sims
        dense = self.dense[rows]
        return self.weight * (dense @ (dense.T @ w)) + (1.0 - self.weight) * sims


def condensed_distances(features: Features) -> Vectors:
    """Condensed (scipy `pdist` layout) distances, 1 - similarity, block by block so no
    n x n matrix is ever held."""
    n = features.size
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)
    pos = 0
    for start in range(0, n, _BLOCK):
        stop = min(n, start + _BLOCK)
        sims = features.similarity(slice(start, stop), slice(start, n))
        for offset in range(stop - start):
            width = n - (start + offset) - 1
            out[pos : pos + width] = 1.0 - sims[offset, offset + 1 :]
            pos += width
    np.clip(out, 0.0, 2.0, out=out)
    return out


def cluster_labels(features: Features, threshold: float) -> npt.NDArray[np.int64]:
    """Flat cluster number per row (0-based, in order of first appearance: deterministic)."""
    from scipy.cluster.hierarchy import fcluster, linkage  # ~0.5 s to import

    n = features.size
    if n <= 1:
        return np.zeros(n, dtype=np.int64)
    tree = linkage(condensed_distances(features), method="average")
    raw = fcluster(tree, t=threshold, criterion="distance")
    renumber: dict[int, int] = {}
    return np.fromiter(
        (renumber.setdefault(int(c), len(renumber)) for c in raw), dtype=np.int64, count=n
    )


def centroid_order(
    features: Features, rows: list[int], counts: Sequence[int]
) -> tuple[list[int], Vectors]:
    """`rows` from closest to farthest from the cluster's centroid (texts weighted by how
    often they were asked), and the TF-IDF centroid. Ties: the more frequent text first."""
    w = np.asarray(counts, dtype=np.float64)
    sims = features.centroid_sims(rows, w)
    order = sorted(range(len(rows)), key=lambda k: (-round(float(sims[k]), 9), -w[k], rows[k]))
    centroid = np.asarray(features.tfidf[rows].T @ w).ravel()
    return [rows[k] for k in order], centroid


def top_terms(centroid: Vectors, terms: Sequence[str], limit: int = 3) -> list[str]:
    """Readable label terms: English and jieba words by centroid weight, skipping a term
    inside one already chosen. Empty when the questions share no such word."""
    chosen: list[str] = []
    for col in np.argsort(-centroid, kind="stable"):
        if len(chosen) >= limit or centroid[col] <= 0:
            break
        kind, word = terms[col][0], terms[col][1:]
        if kind not in ("w", "j") or any(word in c or c in word for c in chosen):
            continue
        chosen.append(word)
    return chosen
