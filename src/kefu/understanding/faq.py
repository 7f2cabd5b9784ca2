"""FAQ matching over a set of knowledge entries, on the hybrid index (see retrieval.py).

`FaqMatcher` keeps the entries' order, the domain dictionary for the segmenter and the index;
`upsert` and `remove` change one entry in place, so an edit needs no rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from kefu.knowledge.pack import KnowledgeEntry
from kefu.text.normalize import normalize_aligned
from kefu.text.tokenize import Tokenizer
from kefu.understanding.embeddings import Embedder
from kefu.understanding.parse import FaqCandidate
from kefu.understanding.retrieval import Fusion, HybridFaqIndex, Outcome

TOP_K = 3


class FaqMatcher:
    def __init__(
        self,
        entries: Sequence[KnowledgeEntry],
        embedder: Embedder | None = None,
        fusion: Fusion | None = None,
    ) -> None:
        self.entries = {e.id: e for e in entries if e.enabled}
        # The packs' keywords seed the segmenter's dictionary, so domain terms stay whole.
        self.tokenizer = Tokenizer(
            kw for entry in self.entries.values() for kw in (*entry.keywords.zh, *entry.keywords.en)
        )
        self.index = HybridFaqIndex(
            self.tokenizer, embedder, fusion or Fusion.default_for(embedder)
        )
        for entry in self.entries.values():
            self.index.upsert(entry)

    @property
    def fusion(self) -> Fusion:
        return self.index.fusion

    def upsert(self, entry: KnowledgeEntry) -> None:
        if entry.enabled:
            self.entries[entry.id] = entry
        else:
            self.entries.pop(entry.id, None)
        self.index.upsert(entry)

    def remove(self, entry_id: str) -> None:
        self.entries.pop(entry_id, None)
        self.index.remove(entry_id)

    @property
    def questions(self) -> list[tuple[int, str, str]]:
        """(row, entry id, question) for every indexed question."""
        return self.index.questions()

    def match(
        self,
        text: str,
        top_k: int = TOP_K,
        exclude: int | None = None,
        vector: npt.NDArray[np.float32] | None = None,
    ) -> tuple[FaqCandidate, ...]:
        """Best entries for `text`. `exclude` hides one indexed question row (leave-one-out)."""
        if not normalize_aligned(text).text.strip():
            return ()
        return self.index.rank(text, top_k, vector, () if exclude is None else (exclude,))

    def outcome(self, candidates: Sequence[FaqCandidate]) -> Outcome:
        return self.index.fusion.outcome(candidates)
