"""TF-IDF over word and character n-gram terms with cosine similarity, as an inverted index.

Deliberately not scikit-learn's TfidfVectorizer: importing it costs ~2.5 s and ~115 MB on the
2-core target, which alone breaks kefu's 3 s start-up and 250 MB memory budgets. This index does
the same arithmetic (sublinear tf, smooth idf, L2 norm) for short texts in a few lines.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
# Function words carry no topic; their character n-grams still count, so typos of them match.
_EN_STOP = frozenset(
    (  # noqa: SIM905 - a word list reads best as text
        "i me my the a an to do does did is are was can could how what where when why it its of "
        "for on in at and or you your please im i'm would will be there this that with"
    ).split()
)


def faq_terms(key: str) -> Counter[str]:
    """Terms of an already normalised text (see `match_key`): Chinese character 1-2 grams;
    English words (minus function words) plus their padded character 3-4 grams.

    Chosen on held-out paraphrases of the bundled packs against out-of-scope messages
    (bench/faq_calibration.py): word terms beat bare character n-grams for English."""
    terms: Counter[str] = Counter()
    for word in key.split():
        if _HAN.search(word):
            for n in (1, 2):
                for i in range(len(word) - n + 1):
                    terms["z" + word[i : i + n]] += 1
            continue
        if word not in _EN_STOP:
            terms["w" + word] += 1
        padded = f" {word} "
        for n in (3, 4):
            for i in range(len(padded) - n + 1):
                terms["c" + padded[i : i + n]] += 1
    return terms


class NgramIndex:
    def __init__(self, docs: Sequence[str], analyzer: Callable[[str], Counter[str]]) -> None:
        self.analyzer = analyzer
        self.size = len(docs)
        counts = [analyzer(doc) for doc in docs]
        df: Counter[str] = Counter(g for c in counts for g in c)
        self.idf = {g: math.log((1 + self.size) / (1 + n)) + 1 for g, n in df.items()}
        postings: dict[str, list[tuple[int, float]]] = {}
        for doc_id, grams in enumerate(counts):
            weights = {g: (1 + math.log(tf)) * self.idf[g] for g, tf in grams.items()}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for g, w in weights.items():
                postings.setdefault(g, []).append((doc_id, w / norm))
        self.postings = {
            g: (
                np.fromiter((d for d, _ in p), np.int32, len(p)),
                np.fromiter((w for _, w in p), np.float64, len(p)),
            )
            for g, p in postings.items()
        }

    def similarity(self, text: str, exclude: int | None = None) -> np.ndarray:
        """Cosine similarity of `text` to every document (unknown n-grams count in the norm)."""
        scores = np.zeros(self.size)
        grams = self.analyzer(text)
        if not grams:
            return scores
        default_idf = math.log(1 + self.size) + 1  # an n-gram no document has
        weights = {g: (1 + math.log(tf)) * self.idf.get(g, default_idf) for g, tf in grams.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        for g, w in weights.items():
            posting = self.postings.get(g)
            if posting is not None:
                scores[posting[0]] += posting[1] * (w / norm)
        if exclude is not None:  # leave-one-out evaluation
            scores[exclude] = 0.0
        return scores
