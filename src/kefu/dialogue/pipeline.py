"""The answer pipeline: normalise -> understand -> decide -> respond.

Policy for the rule-based bot: answer the best FAQ when its score clears the threshold, hand over
when the answer is a handoff entry, otherwise fall back to a reply saying what the bot can do.
While a human agent owns the conversation the bot stays silent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kefu.i18n import has, t
from kefu.knowledge.bank import KnowledgeBase
from kefu.understanding.parse import Lang, Parse, Understander


class DecisionKind(StrEnum):
    ANSWER = "answer"
    HANDOFF = "handoff"
    FALLBACK = "fallback"
    SILENT = "silent"  # a human agent owns the conversation


@dataclass(frozen=True, slots=True)
class ConversationState:
    status: str  # kefu.conversations.models.ConversationStatus value
    language: Lang


@dataclass(frozen=True, slots=True)
class Decision:
    kind: DecisionKind
    entry_id: str | None = None
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TurnResult:
    parse: Parse
    decision: Decision
    replies: tuple[Reply, ...]
    latency_ms: float

    @property
    def wants_handoff(self) -> bool:
        return self.decision.kind is DecisionKind.HANDOFF


class Pipeline:
    def __init__(self, understander: Understander, knowledge: KnowledgeBase, threshold: float):
        self.understander = understander
        self.knowledge = knowledge
        self.threshold = threshold

    def handle(self, text: str, state: ConversationState) -> TurnResult:
        started = time.perf_counter()
        parse = self.understander.parse(text, state.language)
        decision = self.decide(parse, state)
        replies = self.respond(decision, parse.language, state)
        return TurnResult(parse, decision, replies, (time.perf_counter() - started) * 1000)

    def decide(self, parse: Parse, state: ConversationState) -> Decision:
        if state.status == "with_agent":
            return Decision(DecisionKind.SILENT)
        top = parse.top
        if top is None or top.score < self.threshold or top.entry_id not in self.knowledge.entries:
            return Decision(DecisionKind.FALLBACK, score=top.score if top else None)
        entry = self.knowledge.entries[top.entry_id]
        kind = DecisionKind.HANDOFF if entry.action == "handoff" else DecisionKind.ANSWER
        return Decision(kind, entry.id, top.score)

    def respond(
        self, decision: Decision, lang: Lang, state: ConversationState
    ) -> tuple[Reply, ...]:
        if decision.kind is DecisionKind.SILENT:
            return ()
        if decision.kind is DecisionKind.FALLBACK:
            # Skills without a catalog description are left out rather than shown as raw keys.
            described = [f"skill.{s}" for s in self.knowledge.skills if has(f"skill.{s}", lang)]
            if not described:
                return (Reply(t("fallback.plain", lang), {"kind": "fallback"}),)
            topics = t("topics.separator", lang).join(t(key, lang) for key in described)
            return (Reply(t("fallback", lang, topics=topics), {"kind": "fallback"}),)
        assert decision.entry_id is not None
        if decision.kind is DecisionKind.HANDOFF and state.status == "waiting_agent":
            return (Reply(t("handoff.already_waiting", lang), {"kind": "handoff"}),)
        text = self.knowledge.render(decision.entry_id, lang)
        return (Reply(text, {"kind": decision.kind.value, "faq": decision.entry_id}),)
