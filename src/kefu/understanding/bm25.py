"""An incremental BM25 index: add or remove one document without rebuilding the others.

Not `rank_bm25` or `bm25s`: both build a static index (a knowledge edit would mean a rebuild)
and `rank_bm25` scores every document in Python per query term. Postings here are per term,
so a query touches only documents that share a term with it, and document frequencies are
read at query time, so an edit is visible to the next query.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import numpy.typing as npt


class Bm25Index:
    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._postings: dict[str, dict[int, int]] = {}
        self._lengths: dict[int, int] = {}
        self._total = 0
        # Per term: its documents and their length-normalised tf factors, as arrays. Built on
        # first use and dropped on any edit (the average length moves); queries far outnumber
        # edits, so a query costs one vectorised add per term.
        self._cache: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}

    def __len__(self) -> int:
        return len(self._lengths)

    def add(self, doc: int, terms: Counter[str]) -> None:
        if doc in self._lengths:
            raise ValueError(f"document {doc} is already indexed")
        for term, tf in terms.items():
            self._postings.setdefault(term, {})[doc] = tf
        length = sum(terms.values())
        self._lengths[doc] = length
        self._total += length
        self._cache.clear()

    def remove(self, doc: int, terms: Counter[str]) -> None:
        for term in terms:
            posting = self._postings.get(term)
            if posting is not None:
                posting.pop(doc, None)
                if not posting:
                    del self._postings[term]
        self._total -= self._lengths.pop(doc, 0)
        self._cache.clear()

    def idf(self, term: str) -> float:
        df = len(self._postings.get(term, ()))
        n = len(self._lengths)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def _factors(self, term: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        cached = self._cache.get(term)
        if cached is None:
            posting = self._postings.get(term, {})
            avg = self._total / len(self._lengths) or 1.0
            docs = np.fromiter(posting.keys(), np.int64, len(posting))
            tf = np.fromiter(posting.values(), np.float64, len(posting))
            lengths = np.fromiter((self._lengths[d] for d in posting), np.float64, len(posting))
            factors = tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * lengths / avg))
            cached = self._cache[term] = (docs, factors)
        return cached

    def scores(self, query: Counter[str], size: int) -> npt.NDArray[np.float64]:
        """BM25 of every document id below `size` for `query`, divided by the score a document
        made of exactly the query's terms would get (so ~1 means 'all of it')."""
        out = np.zeros(size)
        if not self._lengths or not query:
            return out
        norm = 0.0
        for term in query:
            idf = self.idf(term)
            norm += idf
            if term in self._postings:
                docs, factors = self._factors(term)
                out[docs] += idf * factors  # a term occurs once per document: no duplicates
        if norm > 0:
            out /= norm
        return out
