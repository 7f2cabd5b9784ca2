"""Sparse lexical features shared by the trained classifiers (intents, sentiment).

A sentence embedding captures meaning; exact surface forms (product names, "花呗", typos that
still share characters) are better caught by TF-IDF over character and word n-grams. Terms are
extracted here in plain Python so the trained models run in numpy alone: scikit-learn is only
imported to train (its import costs seconds and ~100 MB).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_WORD = re.compile(r"[a-z0-9']+|[^\sa-z0-9'\u3400-\u4dbf\u4e00-\u9fff]")


def lexical_terms(key: str, han_max: int = 3, char_min: int = 2, char_max: int = 5) -> Counter[str]:
    """Terms of a normalised text (`match_key`): Chinese character 1..han_max-grams over each
    run of Han characters; Latin words, word bigrams and character n-grams inside padded words
    (like scikit-learn's char_wb), so typos still share terms."""
    terms: Counter[str] = Counter()
    words: list[str] = []
    pos = 0
    for run in _HAN.finditer(key):
        words += _WORD.findall(key[pos : run.start()])
        chars = run.group()
        for n in range(1, han_max + 1):
            for i in range(len(chars) - n + 1):
                terms["z" + chars[i : i + n]] += 1
        words.append("\u3000")  # a Han run breaks word bigrams
        pos = run.end()
    words += _WORD.findall(key[pos:])
    previous = ""
    for word in words:
        if word == "\u3000":
            previous = ""
            continue
        terms["w" + word] += 1
        if previous:
            terms["b" + previous + " " + word] += 1
        previous = word
        if len(word) > 1:
            padded = f" {word} "
            for n in range(char_min, char_max + 1):
                for i in range(len(padded) - n + 1):
                    terms["c" + padded[i : i + n]] += 1
    return terms


@dataclass
class TfidfVocabulary:
    """Terms -> column, with smooth idf and sublinear tf; rows are L2-normalised."""

    terms: dict[str, int]
    idf: npt.NDArray[np.float32]

    @classmethod
    def fit(cls, docs: Iterable[Counter[str]], min_df: int = 1) -> TfidfVocabulary:
        df: Counter[str] = Counter()
        size = 0
        for doc in docs:
            df.update(doc.keys())
            size += 1
        kept = sorted(t for t, n in df.items() if n >= min_df)
        idf = np.array([math.log((1 + size) / (1 + df[t])) + 1 for t in kept], dtype=np.float32)
        return cls({t: i for i, t in enumerate(kept)}, idf)

    def row(self, doc: Counter[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Column indexes and L2-normalised weights of the known terms of one document."""
        cols = [self.terms[t] for t in doc if t in self.terms]
        if not cols:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        index = np.asarray(cols, dtype=np.int64)
        tf = np.asarray([doc[t] for t in doc if t in self.terms], dtype=np.float32)
        weights = ((1.0 + np.log(tf)) * self.idf[index]).astype(np.float32)
        weights /= np.linalg.norm(weights)
        return index, weights

    def matrix(self, docs: Sequence[Counter[str]]) -> object:
        """A scipy CSR matrix of the documents (training only)."""
        from scipy.sparse import csr_matrix

        indptr = [0]
        indices: list[npt.NDArray[np.int64]] = []
        data: list[npt.NDArray[np.float32]] = []
        for doc in docs:
            cols, weights = self.row(doc)
            indices.append(cols)
            data.append(weights)
            indptr.append(indptr[-1] + len(cols))
        return csr_matrix(
            (
                np.concatenate(data) if data else np.zeros(0, np.float32),
                np.concatenate(indices) if indices else np.zeros(0, np.int64),
                np.asarray(indptr),
            ),
            shape=(len(docs), len(self.terms)),
            dtype=np.float32,
        )
