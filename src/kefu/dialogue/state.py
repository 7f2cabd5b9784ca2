"""The dialogue state tracker: what one conversation is in the middle of.

Per conversation: the stack of active flows (each at a step, with its filled slots and the turn
each came from, and the results of its actions), the last answered topic, the options last
offered (so "the second one" means something), a short history, and the count of consecutive
fallbacks. The state is plain JSON, stored encrypted with the conversation
(`conversations.dialogue`)
in the same transaction as the turn that produced it, so a restart or another worker process
continues exactly where this one stopped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

HISTORY = 6  # turns kept: enough for "that one" and a handoff summary, small enough to store
MAX_DEPTH = 4  # flows started by flows; more is a loop in the flow files


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
    history: list[dict[str, Any]] = field(default_factory=list)
    fallbacks: int = 0  # consecutive
    turn: int = 0
    profile: dict[str, Any] | None = None  # cached operator profile (tier, name, language)

    @property
    def active(self) -> Frame | None:
        return self.frames[-1] if self.frames else None

    def remember(self, entry: dict[str, Any]) -> None:
        self.history.append(entry)
        del self.history[:-HISTORY]

    def to_json(self) -> str:
        # default=str: an action result with a datetime or Decimal in it is stored as text
        # rather than failing the turn after its actions ran.
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"), default=str)

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
                history=list(data.get("history", [])),
                fallbacks=int(data.get("fallbacks", 0)),
                turn=int(data.get("turn", 0)),
                profile=data.get("profile"),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls()
