"""Emotions (anger, anxiety/urgency, satisfaction) from a lexicon with rules, zh and en.

No labelled, redistributable emotion data exists for customer service in both languages, so
this is kefu's own lexicon (models/emotion_lexicon.yaml, Apache-2.0): longest-match terms,
intensifiers and softeners in a short window before a term, negation (which removes a hit, or
turns negated satisfaction into half-weight anger: 不满意, "not happy"), emoji, and boosts for
"!!", "???" and ALL-CAPS words. A score of 1 is a weak signal, 2 a strong one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from importlib import resources
from typing import Any, TypeVar

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: faster

EMOTIONS = ("anger", "anxiety", "satisfaction")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9\u3400-\u4dbf\u4e00-\u9fff]")
_TOKEN_ANY_CASE = re.compile(_TOKEN.pattern, re.IGNORECASE)
_ASCII = re.compile(r"^[\x00-\x7f]+$")
_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
_CLAUSE_END = frozenset("，。！？；、,.!?;:：…~～\n")
_WINDOW = 3  # characters (zh) or words (en) before a term where modifiers count
_MAX_MULTIPLIER = 2.5
Hit = tuple[str, float]  # emotion, weight
Seq = TypeVar("Seq", str, list[str])


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _hits(
    seq: Seq, lookup: Callable[[Seq], Hit | None], longest: int
) -> Iterator[tuple[int, int, Hit, Seq]]:
    """Lexicon hits in a string (zh, by character) or a token list (en): longest first, left
    to right, not overlapping; each with the window before it (up to _WINDOW units, not
    across a clause end) where modifiers and negators count."""
    i, n = 0, len(seq)
    while i < n:
        for length in range(min(longest, n - i), 0, -1):
            hit = lookup(seq[i : i + length])
            if hit:
                break
        else:
            i += 1
            continue
        start = i
        while start > 0 and seq[start - 1] not in _CLAUSE_END and i - start < _WINDOW:
            start -= 1
        yield i, length, hit, seq[start:i]
        i += length


class EmotionScorer:
    def __init__(self, lexicon: Mapping[str, Any]) -> None:
        self.levels = {k: float(v) for k, v in lexicon["levels"].items()}
        modifiers = lexicon["modifiers"]
        self.boosts = {k: float(v) for k, v in modifiers["boosts"].items()}
        zh, en = modifiers["zh"], modifiers["en"]
        self.zh_modifiers = {
            str(k): float(v)
            for part in ("intensifiers", "diminishers")
            for k, v in zh[part].items()
        }
        self.en_modifiers = {
            tuple(_tokens(str(k))): float(v)
            for part in ("intensifiers", "diminishers")
            for k, v in en[part].items()
        }
        self.zh_negators = tuple(str(x) for x in zh["negators"])
        self.en_negators = frozenset(str(x) for x in en["negators"])
        self.negated_to: dict[str, str | None] = {
            e: spec.get("negated_to") for e, spec in lexicon["emotions"].items()
        }
        self.zh_terms: dict[str, tuple[str, float]] = {}
        self.en_terms: dict[tuple[str, ...], tuple[str, float]] = {}
        for emotion, spec in lexicon["emotions"].items():
            for lang in ("zh", "en"):
                for term, weight in spec[lang].items():
                    key = unicodedata.normalize("NFKC", str(term)).lower()
                    if lang == "zh" and not _ASCII.match(key):
                        self.zh_terms[key] = (emotion, float(weight))
                    else:  # ASCII terms are whole words, in either table
                        self.en_terms[tuple(_tokens(key))] = (emotion, float(weight))
        self.zh_longest = max(map(len, self.zh_terms), default=1)
        self.en_longest = max(map(len, self.en_terms), default=1)
        self.emoji = {
            e: {str(k): float(w) for k, w in table.items()} for e, table in lexicon["emoji"].items()
        }
        self.examples: dict[str, list[dict[str, Any]]] = dict(lexicon.get("tests", {}))

    @classmethod
    def default(cls) -> EmotionScorer:
        source = resources.files("kefu.understanding").joinpath("models/emotion_lexicon.yaml")
        return cls(yaml.load(source.read_text(encoding="utf-8"), Loader=_LOADER))

    def _add(self, scores: dict[str, float], emotion: str, weight: float, negated: bool) -> None:
        if not negated:
            scores[emotion] += weight
        elif (target := self.negated_to.get(emotion)) is not None:
            scores[target] += 0.5 * weight

    def _scan_zh(self, text: str, scores: dict[str, float]) -> None:
        for _, _, (emotion, weight), window in _hits(text, self.zh_terms.get, self.zh_longest):
            multiplier = 1.0
            for modifier, factor in self.zh_modifiers.items():
                if modifier in window:
                    multiplier *= factor
            negated = bool(window) and any(
                window.endswith(x) or window[:-1].endswith(x) for x in self.zh_negators
            )
            self._add(scores, emotion, weight * min(multiplier, _MAX_MULTIPLIER), negated)

    def _scan_en(self, raw: str, lower: str, scores: dict[str, float]) -> None:
        tokens = _tokens(lower)
        raw_tokens = _TOKEN_ANY_CASE.findall(raw)
        lookup = self.en_terms.get
        hits = _hits(tokens, lambda words: lookup(tuple(words)), self.en_longest)
        for j, length, (emotion, weight), window in hits:
            multiplier = 1.0
            for modifier, factor in self.en_modifiers.items():
                size = len(modifier)
                if (
                    tuple(window[-size:]) == modifier
                    or tuple(window[-size - 1 :][:size]) == modifier
                ):
                    multiplier *= factor
            negated = any(x in self.en_negators or x.endswith("n't") for x in window)
            span = " ".join(raw_tokens[j : j + length]) if len(raw_tokens) == len(tokens) else ""
            if sum(c.isalpha() for c in span) >= 3 and span.isupper():
                weight *= self.boosts.get("en_caps_hit", 1.0)
            self._add(scores, emotion, weight * min(multiplier, _MAX_MULTIPLIER), negated)

    def score(self, text: str) -> dict[str, float]:
        raw = unicodedata.normalize("NFKC", text[:1000])  # emotion shows early; cap the work
        lower = raw.lower()
        scores = dict.fromkeys(self.negated_to, 0.0)
        self._scan_zh(lower, scores)
        self._scan_en(raw, lower, scores)
        for emotion, table in self.emoji.items():
            for symbol, weight in table.items():
                if symbol in raw:
                    scores[emotion] += weight * raw.count(symbol)
        urgent = ("anger", "anxiety")
        if "!!" in raw:  # NFKC folds ！ to !
            for e in urgent:
                scores[e] *= self.boosts["exclaim_multi"]
        if "???" in raw:
            for e in urgent:
                scores[e] *= self.boosts["question_multi"]
        if _CAPS_WORD.search(raw) and re.search(r"[a-z]", raw):
            for e in urgent:
                scores[e] *= self.boosts["en_all_caps"]
        return {e: round(s, 3) for e, s in scores.items()}

    def level(self, score: float) -> str | None:
        if score >= self.levels["strong"]:
            return "strong"
        if score >= self.levels["weak"]:
            return "weak"
        return None
