"""What the agent sees when they pick up a chat, so the customer never repeats themselves.

`snapshot` is stored with the handoff for analytics and holds no PII (intents, flows, slot
names, moods). `summarize` is the live view for the agent: it adds the slot values the
customer gave (masked) and the turn-by-turn record of what the bot tried.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kefu.dialogue.state import DialogueState
from kefu.privacy.pii import PiiDetector

# Answers to identity checks (an order's last four digits, a one-time code): never shown.
SECRET_SLOTS = frozenset({"last4", "code", "otp", "password", "pin"})


def _shown(name: str, value: str, pii: PiiDetector) -> str:
    return "****" if name in SECRET_SLOTS else pii.mask(value)


def mood_of(sentiment: Mapping[str, Any] | None) -> str:
    """One word per turn for the agent: angry, negative, neutral or positive."""
    if not sentiment:
        return "neutral"
    levels = sentiment.get("levels") or {}
    if levels.get("anger") in ("weak", "strong"):
        return "angry"
    polarity = sentiment.get("polarity")
    return polarity if polarity in ("negative", "positive") else "neutral"


def _wants(ds: DialogueState, turns: list[dict[str, Any]]) -> str | None:
    if ds.active is not None:
        return ds.active.flow
    for turn in reversed(turns):
        for key in ("flow", "faq", "intent"):
            if turn.get(key) and not str(turn[key]).startswith("common.human"):
                return str(turn[key])
    if ds.topic is not None:
        return ds.topic.id
    return None


def snapshot(ds: DialogueState, wanted: Mapping[str, Any] | None) -> dict[str, Any]:
    """PII-free: stored with the handoff row, read by analytics."""
    history = ds.history
    return {
        "reason": (wanted or {}).get("reason"),
        "priority": (wanted or {}).get("priority"),
        "skill": (wanted or {}).get("skill"),
        "flow": ds.active.flow if ds.active else (wanted or {}).get("flow"),
        "topic": ds.topic.id if ds.topic else None,
        "slots": sorted({*ds.handed_over, *(name for f in ds.frames for name in f.slots)}),
        "turns": ds.turn,
        "fallbacks": ds.fallbacks,
        "tried": [
            {k: h.get(k) for k in ("turn", "decision", "reason", "intent", "faq", "flow")}
            for h in history
        ],
        "moods": [h.get("mood") for h in history if h.get("mood")],
    }


def summarize(
    ds: DialogueState,
    events: Iterable[Mapping[str, Any]],
    pii: PiiDetector,
    handoff: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The agent's summary. `events`: the conversation's turn events, oldest first, as dicts
    with turn, decision, reason, intent, faq, flow and sentiment."""
    turns = [dict(e) for e in events]
    slots: dict[str, str] = {}
    for name, value in ds.handed_over.items():
        slots[name] = _shown(name, value, pii)
    for frame in ds.frames:
        for name, slot in frame.slots.items():
            slots[name] = _shown(name, slot.text or str(slot.value), pii)
    tried = []
    for turn in turns:
        what = turn.get("faq") or turn.get("flow") or turn.get("intent")
        tried.append(
            {
                "turn": turn.get("turn"),
                "decision": turn.get("decision"),
                "reason": turn.get("reason"),
                "what": what,
            }
        )
    return {
        "wants": _wants(ds, turns),
        "intent": next((t["intent"] for t in reversed(turns) if t.get("intent")), None),
        "flow": ds.active.flow if ds.active else (handoff or {}).get("flow"),
        "topic": ds.topic.id if ds.topic else None,
        "slots": slots,
        "tried": tried,
        "sentiment": [{"turn": t.get("turn"), "mood": mood_of(t.get("sentiment"))} for t in turns],
        "fallbacks": sum(1 for t in turns if t.get("decision") == "fallback"),
        "reason": (handoff or {}).get("reason"),
        "priority": (handoff or {}).get("priority"),
        "verified": ds.verified,
        "tier": (ds.profile or {}).get("tier"),
    }
