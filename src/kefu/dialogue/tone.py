"""Tone: an angry customer gets an apology first and a quick way to a person, not a cheerful
greeting. Responses with `upset` variants say it their own way; others get the apology."""

from __future__ import annotations

from typing import Any, Literal

from kefu.dialogue.responses import Responses
from kefu.dialogue.runner import Turn
from kefu.dialogue.turns import DecisionKind
from kefu.i18n import t
from kefu.understanding.parse import Parse

Mood = Literal["angry", "negative", "neutral", "positive"]


def mood_of(parse: Parse) -> Mood:
    """The customer's mood in this message, as the history records it for the escalation
    rules and the agent's summary."""
    s = parse.sentiment
    if s is None:
        return "neutral"
    if s.levels.get("anger") in ("weak", "strong"):
        return "angry"
    return s.polarity


def feelings(parse: Parse) -> dict[str, Any]:
    """What the history records of the customer's mood each turn: `mood`, and `positive`
    (the sentiment model's p(positive), None without a model) for the negativity rule."""
    s = parse.sentiment
    return {"mood": mood_of(parse), "positive": round(s.positive, 3) if s else None}


def tone_of(parse: Parse) -> str:
    # Anger, not mere negativity: "锁不上一直计费" or "取消预订" is bad news that deserves help,
    # not an apology ritual; "气死我了" and "我很生气" deserve the apology.
    return "upset" if mood_of(parse) == "angry" else "neutral"


def human_button(lang: str) -> dict[str, str]:
    return {"title": t("button.human", lang), "send": t("button.human", lang), "action": "handoff"}


def adapt_tone(turn: Turn, kind: DecisionKind, responses: Responses) -> None:
    """An upset customer gets an apology first and a button to a person (not when handed
    over, nor after hours, where there is no one to press it for: those say it their way)."""
    if turn.tone != "upset" or not turn.replies:
        return
    if kind in (DecisionKind.HANDOFF, DecisionKind.AFTER_HOURS):
        return
    if "common.tone.apology" in responses:
        first_text, first_payload = turn.replies[0]
        apology = responses.render("common.tone.apology", turn.lang, {}, turn=turn.state.turn).text
        if not turn.responses or not responses.has_upset(turn.responses[0]):
            gap = "" if turn.lang == "zh" else " "
            turn.replies[0] = (f"{apology}{gap}{first_text}", first_payload)
    text, payload = turn.replies[-1]
    buttons = [b for b in payload.get("quick_replies", []) if b.get("action") != "handoff"]
    turn.replies[-1] = (
        text,
        {**payload, "quick_replies": [*buttons, human_button(turn.lang)]},
    )
