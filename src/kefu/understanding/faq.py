"""FAQ matching over a set of knowledge entries, on the hybrid index (see retrieval.py).

`FaqMatcher` keeps the entries' order, the domain dictionary for the segmenter and the index;
`upsert` and `remove` change one entry in place, so an edit needs no rebuild.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from kefu.knowledge.pack import LANGS, KnowledgeEntry
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
        stored: Mapping[str, tuple[str, bytes]] | None = None,
    ) -> None:
        """`stored`: question vectors kept with the entries, by entry id (key, float32 bytes);
        those still valid are used, the others computed and left in `fresh_vectors`."""
        self.entries = {e.id: e for e in entries if e.enabled}
        # Entries answered only on some days: filtered per message, so a notice starts and
        # stops on its dates without anyone rebuilding the index.
        self.dated = {e.id for e in self.entries.values() if e.valid_from or e.valid_until}
        self.embedder = embedder
        self.fresh_vectors: dict[str, tuple[str, bytes]] = {}
        # The packs' keywords seed the segmenter's dictionary, so domain terms stay whole.
        self.tokenizer = Tokenizer(
            kw for entry in self.entries.values() for kw in (*entry.keywords.zh, *entry.keywords.en)
        )
        self.index = HybridFaqIndex(self.tokenizer, embedder, fusion)
        for entry in self.entries.values():
            self._index_entry(entry, (stored or {}).get(entry.id))

    def _index_entry(self, entry: KnowledgeEntry, stored: tuple[str, bytes] | None) -> None:
        if self.embedder is None:
            self.index.upsert(entry)
            return
        questions = [q for lang in LANGS for q in entry.questions(lang)]
        key = vectors_key(self.embedder.name, questions)
        if stored is not None and stored[0] == key:
            vectors = np.frombuffer(stored[1], dtype=np.float32).reshape(len(questions), -1)
            self.index.upsert(entry, vectors)
            return
        vectors = self.embedder.embed(questions)
        self.index.upsert(entry, vectors)
        self.fresh_vectors[entry.id] = (key, np.ascontiguousarray(vectors, np.float32).tobytes())

    @property
    def fusion(self) -> Fusion:
        return self.index.fusion

    def upsert(self, entry: KnowledgeEntry) -> None:
        self.dated.discard(entry.id)
        if entry.enabled:
            self.entries[entry.id] = entry
            if entry.valid_from or entry.valid_until:
                self.dated.add(entry.id)
            self._index_entry(entry, None)
        else:
            self.entries.pop(entry.id, None)
            self.index.remove(entry.id)

    def remove(self, entry_id: str) -> None:
        self.entries.pop(entry_id, None)
        self.dated.discard(entry_id)
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
        today: dt.date | None = None,
    ) -> tuple[FaqCandidate, ...]:
        """Best entries for `text`. `exclude` hides one indexed question row (leave-one-out).
        `today`: leave out entries not valid on that day (see `KnowledgeEntry.valid_on`)."""
        if not normalize_aligned(text).text.strip():
            return ()
        excluded = () if exclude is None else (exclude,)
        if today is None or not self.dated:
            return self.index.rank(text, top_k, vector, excluded)
        invalid = {i for i in self.dated if not self.entries[i].valid_on(today)}
        return self.index.rank(text, top_k, vector, excluded, invalid)

    def outcome(self, candidates: Sequence[FaqCandidate]) -> Outcome:
        return self.index.fusion.outcome(candidates)


def vectors_key(encoder: str, questions: Sequence[str]) -> str:
    """Identifies stored vectors: the encoder and the exact questions, in order."""
    digest = hashlib.sha256("\x1f".join([encoder, *questions]).encode("utf-8"))
    return digest.hexdigest()
