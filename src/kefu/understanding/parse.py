"""The shared vocabulary between understanding and dialogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from kefu.text.language import Script
from kefu.text.tokenize import Token
from kefu.understanding.entities import Entity
from kefu.understanding.sentiment import Sentiment

Lang = Literal["zh", "en"]
MatchMethod = Literal["exact", "keyword", "similarity"]
FaqOutcome = Literal["answer", "clarify", "none"]


@dataclass(frozen=True, slots=True)
class FaqCandidate:
    entry_id: str
    score: float  # 0..1, comparable across methods
    method: MatchMethod
    matched: str  # the bank question that matched best


@dataclass(frozen=True, slots=True)
class Parse:
    text: str
    normalized: str
    language: Lang  # the language to reply in
    faq: tuple[FaqCandidate, ...] = ()
    faq_outcome: FaqOutcome = "none"  # what retrieval advises: answer, offer candidates, or not
    intent: str | None = None  # None: no intent, or out of scope
    intent_confidence: float = 0.0
    intent_ranking: tuple[tuple[str, float], ...] = ()
    entities: tuple[Entity, ...] = ()  # spans index `text`, the customer's original
    sentiment: Sentiment | None = None
    script: Script | None = None  # zh, en or mixed, None for neither (digits, emoji only)
    tokens: tuple[Token, ...] = ()  # spans index `text`, the customer's original
    emoji: tuple[str, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def top(self) -> FaqCandidate | None:
        return self.faq[0] if self.faq else None

    def summary(self) -> dict[str, Any]:
        """JSON-safe form stored in turn events."""
        return {
            "normalized": self.normalized,
            "language": self.language,
            "script": self.script,
            "faq_outcome": self.faq_outcome,
            "intent": self.intent,
            "intent_confidence": self.intent_confidence,
            "intent_ranking": [list(pair) for pair in self.intent_ranking],
            "entities": [e.as_dict() for e in self.entities],
            "sentiment": self.sentiment.as_dict() if self.sentiment else None,
            "tokens": [[t.text, t.start, t.end] for t in self.tokens],
            "emoji": list(self.emoji),
            "faq": [
                {"entry_id": c.entry_id, "score": c.score, "method": c.method, "matched": c.matched}
                for c in self.faq
            ],
            "extras": dict(self.extras),
        }


class Understander(Protocol):
    def parse(self, text: str, language_hint: Lang) -> Parse: ...
