"""The answer pipeline: normalise -> understand -> decide -> respond.

Policy: answer the best FAQ when retrieval advises it (thresholds learned on development data,
or a fixed `threshold` when the operator sets one), hand over when the answer is a handoff
entry, offer the closest entries as quick replies when they are too close to call, otherwise
fall back to a reply saying what the bot can do. While a human agent owns the conversation the
bot stays silent.
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
    CLARIFY = "clarify"  # offer the top candidates
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
    options: tuple[str, ...] = ()  # entry ids offered when clarifying


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
    def __init__(
        self, understander: Understander, knowledge: KnowledgeBase, threshold: float | None
    ):
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
        known = [c for c in parse.faq if c.entry_id in self.knowledge.entries]
        if self.threshold is not None:
            outcome = "answer" if top is not None and top.score >= self.threshold else "none"
        else:
            outcome = parse.faq_outcome
        if outcome == "clarify" and len(known) > 1:
            return Decision(
                DecisionKind.CLARIFY,
                score=top.score if top else None,
                options=tuple(c.entry_id for c in known),
            )
        if top is None or outcome == "none" or top.entry_id not in self.knowledge.entries:
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
        if decision.kind is DecisionKind.CLARIFY:
            options = [
                {"title": self.knowledge.entries[i].question.get(lang), "faq": i}
                for i in decision.options
            ]
            lines = "\n".join(f"{n}. {o['title']}" for n, o in enumerate(options, 1))
            return (
                Reply(
                    t("clarify", lang, options=lines),
                    {"kind": "clarify", "quick_replies": options},
                ),
            )
        assert decision.entry_id is not None
        if decision.kind is DecisionKind.HANDOFF and state.status == "waiting_agent":
            return (Reply(t("handoff.already_waiting", lang), {"kind": "handoff"}),)
        text = self.knowledge.render(decision.entry_id, lang)
        return (Reply(text, {"kind": decision.kind.value, "faq": decision.entry_id}),)
