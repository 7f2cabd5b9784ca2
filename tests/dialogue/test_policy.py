"""The dialogue policy's order and its safety nets, with a scripted understander and the
bundled skills (no trained model needed): each test says which intent a message has."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from kefu.backends.base import BackendError, CustomerProfile, Ticket
from kefu.dialogue.pipeline import Pipeline
from kefu.dialogue.skills import Skills, load_skills
from kefu.dialogue.state import DialogueState
from kefu.dialogue.turns import ConversationState, DecisionKind
from kefu.knowledge.entities import entity_declarations
from kefu.understanding.entities import EntityExtractor
from kefu.understanding.parse import Lang, Parse
from tests.dialogue.test_pipeline import knowledge

ENTITIES = EntityExtractor(*entity_declarations())


class Scripted:
    """An Understander whose intent comes from a table (text -> intent); no FAQ matches."""

    def __init__(self, intents: dict[str, str]) -> None:
        self.intents = intents

    def parse(self, text: str, language_hint: Lang) -> Parse:
        intent = self.intents.get(text)
        return Parse(
            text=text,
            normalized=text.lower(),
            language=language_hint,
            intent=intent,
            intent_confidence=0.9 if intent else 0.0,
            entities=ENTITIES.extract(text, dt.datetime.now(dt.UTC)),
        )


@dataclass
class Backend:
    """Just enough operator for the fault-report flow."""

    calls: list[str] = field(default_factory=list)
    fail: str | None = None

    def customer_profile(self, customer: str) -> CustomerProfile:
        return CustomerProfile(customer=customer, name="Ann", language="en")

    def nearby_stations(self, place: str, limit: int = 3) -> list[Any]:
        return []

    def report_fault(self, customer: str, bike_code: str, fault: str, place: Any = None) -> Ticket:
        self.calls.append(f"report_fault {bike_code} {fault}")
        if self.fail:
            raise BackendError(self.fail, "down", operation="report_fault")  # type: ignore[arg-type]
        return Ticket(ticket_id="T1", kind="fault")


def chat(pipeline: Pipeline, *texts: str, status: str = "bot") -> list[Any]:
    state = DialogueState(customer="c-1").to_json()
    results = []
    for text in texts:
        result = pipeline.handle(text, ConversationState(status, "zh", state))
        state = result.state
        results.append(result)
    return results


@pytest.fixture
def pipeline() -> Pipeline:
    understander = Scripted({"报修": "bike.report_fault"})
    return Pipeline(understander, knowledge(), None, load_skills(), Backend())


def test_an_intent_starts_its_flow_and_slots_fill_over_turns(pipeline: Pipeline) -> None:
    first, second = chat(pipeline, "报修", "B654321")
    assert first.decision.kind is DecisionKind.FLOW and first.decision.reason == "intent"
    assert first.trace["responses"] == ["bike.ask_code"]
    assert second.trace["slots"] == {"bike_code": "B654321"}
    assert DialogueState.from_json(second.state).active is not None


def test_safety_beats_the_active_flow(pipeline: Pipeline) -> None:
    _, safety = chat(pipeline, "报修", "我被车撞了，腿在流血")
    assert safety.decision.kind is DecisionKind.HANDOFF and safety.decision.reason == "safety"
    assert safety.trace["handoff"]["priority"] == "urgent"
    assert DialogueState.from_json(safety.state).active is None


def test_a_request_for_a_person_hands_off(pipeline: Pipeline) -> None:
    (result,) = chat(pipeline, "我要投诉，转人工")
    assert result.wants_handoff and result.decision.reason == "human_request"


def test_cancel_ends_the_flow(pipeline: Pipeline) -> None:
    _, cancelled = chat(pipeline, "报修", "算了")
    assert cancelled.decision.reason == "cancel"
    assert DialogueState.from_json(cancelled.state).frames == []


def test_a_backend_failure_keeps_a_ticket_and_says_so() -> None:
    backend = Backend(fail="timeout")
    pipeline = Pipeline(
        Scripted({"报修": "bike.report_fault"}), knowledge(), None, load_skills(), backend
    )
    *_, last = chat(pipeline, "报修", "B654321", "刹车", "国贸", "对")
    assert backend.calls == ["report_fault B654321 brake"]
    assert last.trace["responses"] == ["common.backend_error.timeout"]
    (ticket,) = last.effects
    assert ticket["kind"] == "ticket" and ticket["reason"] == "backend_timeout"
    assert ticket["ticket_id"] in last.replies[-1].text


def test_repeated_fallbacks_offer_a_person(pipeline: Pipeline) -> None:
    first, second = chat(pipeline, "asdf", "qwer")
    assert first.decision.reason == "fallback" and "quick_replies" not in first.replies[0].payload
    assert second.decision.reason == "fallback_repeated"
    assert second.replies[0].payload["quick_replies"][0]["action"] == "handoff"


def test_the_bot_is_silent_while_an_agent_owns_the_conversation(pipeline: Pipeline) -> None:
    (result,) = chat(pipeline, "报修", status="with_agent")
    assert result.decision.kind is DecisionKind.SILENT and result.replies == ()


def test_a_broken_template_costs_one_apology_not_the_conversation(pipeline: Pipeline) -> None:
    skills = load_skills()
    broken = Skills(dict(skills.flows), skills.responses, skills.actions, dict(skills.sources))
    broken.responses = type(skills.responses)([])  # every response is missing now
    bad = Pipeline(Scripted({"报修": "bike.report_fault"}), knowledge(), None, broken, Backend())
    first, after = chat(bad, "报修", "asdf")
    assert first.decision.reason == "error" and first.replies[0].payload == {"kind": "error"}
    assert DialogueState.from_json(first.state).frames == []
    assert after.decision.kind is DecisionKind.FALLBACK


def test_turn_events_record_slot_names_not_values(pipeline: Pipeline) -> None:
    _, second = chat(pipeline, "报修", "B654321")
    event = second.event()
    assert event["slots"] == ["bike_code"] and "B654321" not in str(event)
    assert event["reason"] == "slot"


def test_a_question_is_not_a_yes() -> None:
    """ "要多久才能到账？" starts with 要 but must not confirm an irreversible refund."""
    from kefu.dialogue import context

    assert context.yes_no("要多久才能到账？") is None
    assert context.yes_no("第一个") is None
    assert context.yes_no("是的，确认") is True
    assert context.yes_no("不用了") is False


def test_going_back_to_a_flow_resumes_it_instead_of_nesting_copies() -> None:
    intents = {"报修": "bike.report_fault", "附近有车吗": "bike.nearby_bikes"}
    pipeline = Pipeline(Scripted(intents), knowledge(), None, load_skills(), Backend())
    results = chat(pipeline, "报修", "附近有车吗", "报修", "附近有车吗", "报修", "附近有车吗")
    for result in results:
        assert result.replies, "every turn says something"
    stack = [f.flow for f in DialogueState.from_json(results[-1].state).frames]
    assert stack == ["bike.report_fault", "bike.nearby"]


def test_a_switched_flow_does_not_inherit_or_leak_slots() -> None:
    intents = {"报修": "bike.report_fault", "三里屯附近有车吗": "bike.nearby_bikes"}
    pipeline = Pipeline(Scripted(intents), knowledge(), None, load_skills(), Backend())
    *_, last = chat(pipeline, "报修", "三里屯附近有车吗")
    frames = DialogueState.from_json(last.state).frames
    assert "place" not in frames[0].slots  # the fault report never asked where


@dataclass
class Verifier(Backend):
    checks: int = 0

    def verify_identity(self, customer: str, phone: str, order_last4: str) -> bool:
        self.checks += 1
        return order_last4 == "0001"


def test_after_the_lock_out_no_guess_reaches_the_operator() -> None:
    from kefu.dialogue.actions import ActionContext
    from kefu.skills.common.actions import verify

    backend = Verifier()
    state = DialogueState(customer="c-1")
    ctx = ActionContext(backend, state, "zh", "")  # type: ignore[arg-type]
    for guess in ("1111", "2222", "3333"):
        assert verify(ctx, "+8613800000000", guess)["verified"] is False
    assert verify(ctx, "+8613800000000", "0001") == {"verified": False, "locked": True}
    assert backend.checks == 3 and not state.verified


def test_the_customers_own_language_decides_when_the_message_does_not(pipeline: Pipeline) -> None:
    # The conversation started in zh, but the operator knows Ann speaks English.
    (result,) = chat(pipeline, "asdf")
    assert result.parse.language == "en"
    assert DialogueState.from_json(result.state).profile == {
        "name": "Ann",
        "tier": "basic",
        "language": "en",
    }
