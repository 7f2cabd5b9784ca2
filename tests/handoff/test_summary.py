"""The agent's summary: what the customer told the flows survives the handoff (masked), moods
per turn, what the bot tried; the stored snapshot holds no PII."""

from __future__ import annotations

from kefu.dialogue.state import DialogueState, Frame, Slot
from kefu.handoff.summary import mood_of, snapshot, summarize
from kefu.privacy.rules import pack_detector


def test_slots_given_to_a_flow_reach_the_agent_masked_and_the_snapshot_has_names_only() -> None:
    ds = DialogueState(turn=3)
    ds.frames.append(
        Frame(
            "bike.fault",
            "confirm",
            slots={
                "bike": Slot("B123456", 1, "车号B123456"),
                "phone": Slot("+8613812345678", 2, "13812345678"),
            },
        )
    )
    ds.history = [
        {"turn": 1, "decision": "flow", "flow": "bike.fault", "mood": "negative"},
        {"turn": 2, "decision": "flow", "flow": "bike.fault", "mood": "angry"},
    ]
    ds.keep_for_agent()  # what a handoff does before it drops the flows
    ds.frames.clear()
    wanted = {"reason": "anger", "priority": "high", "skill": "bike"}
    events = [
        {"turn": 1, "decision": "flow", "flow": "bike.fault",
         "sentiment": {"polarity": "negative"}},
        {"turn": 2, "decision": "handoff", "reason": "anger",
         "sentiment": {"polarity": "negative", "levels": {"anger": "strong"}}},
    ]  # fmt: skip
    summary = summarize(DialogueState.from_json(ds.to_json()), events, pack_detector(), wanted)
    assert summary["slots"]["bike"] == "车号B123456"
    assert "13812345678" not in summary["slots"]["phone"]
    assert [s["mood"] for s in summary["sentiment"]] == ["negative", "angry"]
    assert summary["wants"] == "bike.fault" and summary["reason"] == "anger"
    stored = snapshot(ds, wanted)
    assert stored["slots"] == ["bike", "phone"] and "13812345678" not in str(stored)
    assert stored["moods"] == ["negative", "angry"]


def test_moods() -> None:
    assert mood_of(None) == "neutral"
    assert mood_of({"polarity": "positive"}) == "positive"
    assert mood_of({"polarity": "negative", "levels": {"anger": "weak"}}) == "angry"
