from kefu.dialogue.state import HISTORY, DialogueState, Frame, Option, Slot, Topic


def test_round_trip() -> None:
    state = DialogueState(customer="c-1", name="Ann", verified=True)
    state.frames.append(
        Frame(
            "bike.refund_ride",
            "reason",
            {"ride_id": Slot("R1", 2, "第二个")},
            {"rides": [{"ride_id": "R1"}]},
        )
    )
    state.topic = Topic("flow", "bike.refund_ride", "退款")
    state.options = [Option("R1 12.00元", "R1")]
    state.turn = 3
    again = DialogueState.from_json(state.to_json())
    assert again == state
    assert again.active is not None and again.active.slots["ride_id"].turn == 2


def test_unreadable_state_starts_afresh() -> None:
    for raw in (None, "", "{", "[]", '{"frames": [{"nope": 1}]}'):
        assert DialogueState.from_json(raw) == DialogueState()


def test_history_is_short() -> None:
    state = DialogueState()
    for n in range(20):
        state.remember({"turn": n})
    assert [h["turn"] for h in state.history] == list(range(20 - HISTORY, 20))
