"""Rule-based FAQ matching: exact, keyword and n-gram similarity, one score.

Character n-grams handle Chinese without a tokeniser and English with typos (see ngram.py). The
score of an entry is the best of: 1.0 for an exact question match; the cosine similarity to its
closest question; and a blend of cosine and keyword coverage, so keywords can only help.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kefu.knowledge.pack import LANGS, KnowledgeEntry
from kefu.text.language import detect_language, detect_script
from kefu.text.normalize import key_of, match_key, normalize, normalize_aligned
from kefu.text.signals import emoji_in
from kefu.text.tokenize import Tokenizer
from kefu.understanding.ngram import NgramIndex, faq_terms
from kefu.understanding.parse import FaqCandidate, Lang, MatchMethod, Parse

KEYWORD_WEIGHT = 0.5
TOP_K = 3


@dataclass(frozen=True, slots=True)
class _Keywords:
    entry: int
    terms: tuple[str, ...]


class FaqMatcher:
    """Implements `Understander` over a fixed set of entries; build a new one to change them."""

    def __init__(self, entries: Sequence[KnowledgeEntry]) -> None:
        self.entries = [e for e in entries if e.enabled]
        self._question_entry: list[int] = []
        self._questions: list[str] = []
        self._exact: dict[str, int] = {}
        self._keywords: list[_Keywords] = []
        for index, entry in enumerate(self.entries):
            for lang in LANGS:
                for question in entry.questions(lang):
                    self._questions.append(question)
                    self._question_entry.append(index)
                    self._exact.setdefault(match_key(question), index)
                terms = tuple(normalize(k) for k in entry.keywords.get(lang) if normalize(k))
                if terms:
                    self._keywords.append(_Keywords(index, terms))
        self._entry_of = np.asarray(self._question_entry, dtype=np.int64)
        # Each distinct keyword is tested once per message, whatever number of entries use it.
        self._term_groups: dict[str, list[int]] = {}
        for group, kw in enumerate(self._keywords):
            for term in set(kw.terms):
                self._term_groups.setdefault(term, []).append(group)
        # The packs' keywords seed the segmenter's dictionary, so domain terms stay whole.
        self.tokenizer = Tokenizer(
            kw for entry in self.entries for kw in (*entry.keywords.zh, *entry.keywords.en)
        )
        self._index = NgramIndex([match_key(q) for q in self._questions], faq_terms)

    def parse(self, text: str, language_hint: Lang) -> Parse:
        aligned = normalize_aligned(text)
        return Parse(
            text=text,
            normalized=aligned.text,
            language=detect_language(aligned.text) or language_hint,
            faq=self.match(text),
            script=detect_script(aligned.text),
            tokens=self.tokenizer.tokenize(aligned),
            emoji=emoji_in(text),
        )

    @property
    def questions(self) -> list[tuple[str, str]]:
        """(entry id, question) for every indexed question, in index order."""
        return [
            (self.entries[e].id, q)
            for e, q in zip(self._question_entry, self._questions, strict=True)
        ]

    def match(
        self, text: str, top_k: int = TOP_K, exclude: int | None = None
    ) -> tuple[FaqCandidate, ...]:
        """Best entries for `text`. `exclude` hides one indexed question (leave-one-out)."""
        if not self.entries:
            return ()
        normalized = normalize(text)
        key = key_of(normalized)
        if not key:
            return ()
        scores: dict[int, tuple[float, MatchMethod, str]] = {}
        exact = self._exact.get(key)
        if exact is not None and (exclude is None or self._questions[exclude] != text):
            scores[exact] = (1.0, "exact", text)

        cosine = np.zeros(len(self.entries))
        best_question = np.zeros(len(self.entries), dtype=np.int64)
        if self._questions:
            sims = self._index.similarity(key, exclude)
            # Best question per entry: questions are grouped by entry, so reduce by segment.
            order = np.lexsort((-sims, self._entry_of))
            first = np.unique(self._entry_of[order], return_index=True)[1]
            best = order[first]
            cosine[self._entry_of[best]] = sims[best]
            best_question[self._entry_of[best]] = best

        hits: dict[int, int] = {}
        for term, groups in self._term_groups.items():
            if term in normalized:
                for group in groups:
                    hits[group] = hits.get(group, 0) + 1
        coverage = np.zeros(len(self.entries))
        for group, count in hits.items():
            kw = self._keywords[group]
            coverage[kw.entry] = max(coverage[kw.entry], count / len(kw.terms))
        blended = (1 - KEYWORD_WEIGHT) * cosine + KEYWORD_WEIGHT * coverage

        for index in np.argsort(-np.maximum(cosine, blended))[: top_k + 1]:
            i = int(index)
            if i in scores:
                continue
            method: MatchMethod = "keyword" if blended[i] > cosine[i] else "similarity"
            score = float(max(blended[i], cosine[i]))
            if score <= 0:
                continue
            scores[i] = (min(score, 0.99), method, self._questions[int(best_question[i])])

        ranked = sorted(scores.items(), key=lambda item: -item[1][0])[:top_k]
        return tuple(FaqCandidate(self.entries[i].id, round(s, 4), m, q) for i, (s, m, q) in ranked)
