"""What a turn produces: the decision, the replies and the result the conversation service
stores (`Pipeline.handle` returns a `TurnResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from kefu.dialogue.escalation import DEFAULT_RULES, EscalationRules
from kefu.understanding.parse import Lang, Parse


class DecisionKind(StrEnum):
    ANSWER = "answer"
    FLOW = "flow"  # a flow asked, acted or finished
    HANDOFF = "handoff"
    FALLBACK = "fallback"
    CLARIFY = "clarify"  # offer the top candidates
    SILENT = "silent"  # a human agent owns the conversation
    AFTER_HOURS = "after_hours"  # no one to hand over to: a message is invited, or taken


@dataclass(frozen=True, slots=True)
class ConversationState:
    status: str  # kefu.conversations.models.ConversationStatus value
    language: Lang
    dialogue: str | None = None  # the stored DialogueState (JSON)
    rules: EscalationRules | None = None  # the tenant's; None: DEFAULT_RULES
    now: datetime | None = None  # for business hours; None: the clock (tests fix it)

    @property
    def escalation(self) -> EscalationRules:
        return self.rules or DEFAULT_RULES


@dataclass(frozen=True, slots=True)
class Decision:
    kind: DecisionKind
    entry_id: str | None = None
    score: float | None = None
    options: tuple[str, ...] = ()  # entry ids offered when clarifying
    reason: str = ""
    flow: str | None = None


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
    state: str | None = None  # the DialogueState to store, JSON
    effects: tuple[dict[str, Any], ...] = ()  # tickets to store with the turn
    trace: dict[str, Any] = field(default_factory=dict)  # responses, actions, slots, flow

    @property
    def wants_handoff(self) -> bool:
        return self.decision.kind is DecisionKind.HANDOFF

    def event(self) -> dict[str, Any]:
        """What the turn event records of the dialogue (slot names, not their values: PII)."""
        return {
            "reason": self.decision.reason,
            "flow": self.trace.get("flow"),
            "step": self.trace.get("step"),
            "outcome": self.trace.get("outcome"),
            "responses": self.trace.get("responses", []),
            "actions": self.trace.get("actions", []),
            "slots": sorted(self.trace.get("slots", {})),
            "tone": self.trace.get("tone"),
            "handoff": self.trace.get("handoff"),
        }
