"""The dialogue state tracker: what one conversation is in the middle of.

Per conversation: the stack of active flows (each at a step, with its filled slots and the turn
each came from, and the results of its actions), the last answered topic, the options last
offered (so "the second one" means something), a short history (each turn's decision and the
customer's mood, which the escalation rules read), the count of consecutive fallbacks, and
whether an after-hours message is awaited. The state is plain JSON, stored encrypted with the
conversation (`conversations.dialogue`) in the same transaction as the turn that produced it, so
a restart or another worker process continues exactly where this one stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

# Turns kept: enough for "that one", a handoff summary and the escalation rules' windows (which
# are validated against it), small enough to store.
HISTORY = 10
MAX_DEPTH = 4  # frames on the stack; flows calling flows this deep is a loop in the flow files


@dataclass(slots=True)
class Slot:
    value: Any
    turn: int  # the turn (1-based customer message number) the value came from
    text: str = ""  # what the customer wrote for it (masked when shown to agents)


@dataclass(slots=True)
class Frame:
    flow: str
    step: str
    slots: dict[str, Slot] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)  # action results, JSON-safe
    tries: int = 0  # failed answers to the current ask step
    started: int = 0  # turn
    sub: bool = False  # started by the frame below it (its `flow:` step), not a switch


@dataclass(slots=True)
class Topic:
    kind: str  # faq | flow
    id: str
    text: str  # the customer's question that led to it (for follow-ups like 那押金呢)


@dataclass(slots=True)
class Option:
    title: str
    value: str  # what choosing it fills, or the text it sends


@dataclass(slots=True)
class DialogueState:
    customer: str | None = None  # the operator's customer id, when the channel knows it
    name: str | None = None
    verified: bool = False  # identity verified in this conversation
    frames: list[Frame] = field(default_factory=list)  # a stack: the last one is active
    topic: Topic | None = None
    options: list[Option] = field(default_factory=list)
    options_slot: str | None = None  # the slot the options fill, when asked for one
    # Per turn: decision, reason, intent, faq, flow, mood (angry | negative | neutral |
    # positive) and positive (the sentiment model's p(positive)); flows' outcomes too.
    history: list[dict[str, Any]] = field(default_factory=list)
    fallbacks: int = 0  # consecutive
    turn: int = 0
    profile: dict[str, Any] | None = None  # cached operator profile (tier, name, language)
    leave_message: bool = False  # told people are away: the next message becomes a ticket
    leave_message_at: str | None = None  # when (ISO time): the invitation lapses
    # What the customer had told the flows when a person took over (slot -> what they
    # wrote), so the agent sees it after the flows are dropped.
    handed_over: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> Frame | None:
        return self.frames[-1] if self.frames else None

    @property
    def about(self) -> list[str]:
        """What the conversation is about, innermost first: the active flows, then the topic."""
        return [f.flow for f in reversed(self.frames)] + ([self.topic.id] if self.topic else [])

    def keep_for_agent(self) -> None:
        """Before the flows are dropped for a handoff: keep what the customer told them."""
        for frame in self.frames:
            for name, slot in frame.slots.items():
                self.handed_over[name] = slot.text or str(slot.value)

    def remember(self, entry: dict[str, Any]) -> None:
        # Trimmed by turn, not by entry: a turn that ends flows adds several entries, and the
        # escalation rules must still see HISTORY turns back.
        self.history.append(entry)
        oldest = entry.get("turn", self.turn) - HISTORY
        self.history[:] = [h for h in self.history if h.get("turn", oldest + 1) > oldest]

    def to_json(self) -> str:
        # default=str: an action result with a datetime or Decimal in it is stored as text
        # rather than failing the turn after its actions ran.
        return json.dumps(_plain(self), ensure_ascii=False, separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, raw: str | None) -> DialogueState:
        """A stored state; an empty or unreadable one starts afresh rather than failing the
        customer's message (a state is a convenience, the transcript is the record)."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            frames = [
                Frame(
                    flow=f["flow"],
                    step=f["step"],
                    slots={k: Slot(**v) for k, v in f.get("slots", {}).items()},
                    vars=f.get("vars", {}),
                    tries=f.get("tries", 0),
                    started=f.get("started", 0),
                    sub=bool(f.get("sub", False)),
                )
                for f in data.get("frames", [])
            ]
            topic = Topic(**data["topic"]) if data.get("topic") else None
            return cls(
                customer=data.get("customer"),
                name=data.get("name"),
                verified=bool(data.get("verified")),
                frames=frames,
                topic=topic,
                options=[Option(**o) for o in data.get("options", [])],
                options_slot=data.get("options_slot"),
                history=[
                    h
                    for h in data.get("history", [])
                    if isinstance(h, dict) and isinstance(h.get("turn", 0), int)
                ],
                fallbacks=int(data.get("fallbacks", 0)),
                turn=int(data.get("turn", 0)),
                profile=data.get("profile"),
                leave_message=bool(data.get("leave_message")),
                leave_message_at=data.get("leave_message_at"),
                handed_over=dict(data.get("handed_over") or {}),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls()


def _plain(value: Any) -> Any:
    """`dataclasses.asdict` without its deep copies (every turn serialises the state; json.dumps
    copies anyway): dataclasses become dicts, containers are walked, the rest passes as is."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
