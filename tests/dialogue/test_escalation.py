"""Escalation rules: business hours, sustained anger and negativity, repeated fallbacks, VIPs,
safety words (minors, threats), explicit requests, priorities and after-hours messages. The
pipeline runs with a scripted understander (intent and sentiment from tables, text normalised
for real) and the bundled skills; no trained model is needed."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError

from kefu.backends.base import CustomerProfile
from kefu.dialogue import escalation
from kefu.dialogue.escalation import (
    DEFAULT_RULES,
    PRIORITIES,
    BusinessHours,
    EscalationRules,
    safety_word,
)
from kefu.dialogue.pipeline import Pipeline
from kefu.dialogue.skills import load_skills
from kefu.dialogue.state import HISTORY, DialogueState
from kefu.dialogue.turns import ConversationState, DecisionKind, TurnResult
from kefu.text.normalize import normalize_aligned
from kefu.understanding.parse import Lang, Parse
from kefu.understanding.sentiment import Sentiment
from tests.dialogue.test_pipeline import knowledge
from tests.dialogue.test_policy import ENTITIES, Backend

ANGRY = Sentiment("negative", 0.05, {"anger": 3.0}, {"anger": "strong"})
NEGATIVE = Sentiment("negative", 0.08)
GLUM = Sentiment("negative", 0.3)  # negative, but not strongly
CALM = Sentiment("neutral", 0.5)
SHANGHAI_SAT_NOON = dt.datetime(2026, 11, 28, 4, 0, tzinfo=dt.UTC)  # Saturday 12:00 local
SHANGHAI_MON_10 = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)  # Monday 10:00 local
OFFICE = BusinessHours(weekly={d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")})


class Felt:
    """An Understander whose intent and sentiment come from tables; no FAQ matches."""

    def __init__(
        self, intents: dict[str, str] | None = None, moods: dict[str, Sentiment] | None = None
    ) -> None:
        self.intents = intents or {}
        self.moods = moods or {}

    def parse(self, text: str, language_hint: Lang) -> Parse:
        intent = self.intents.get(text)
        return Parse(
            text=text,
            normalized=normalize_aligned(text).text,
            language=language_hint,
            intent=intent,
            intent_confidence=0.9 if intent else 0.0,
            entities=ENTITIES.extract(text, dt.datetime.now(dt.UTC)),
            sentiment=self.moods.get(text, CALM),
        )


@dataclass
class Rider(Backend):
    def customer_profile(self, customer: str) -> CustomerProfile:
        return CustomerProfile(customer=customer, name="王小明", language="zh")


@dataclass
class Vip(Backend):
    def customer_profile(self, customer: str) -> CustomerProfile:
        return CustomerProfile(customer=customer, name="Emily", language="en", tier="vip")


MOODS = {
    "气死我了": ANGRY,
    "垃圾服务": ANGRY,
    "你们太差了": NEGATIVE,
    "一直扣钱": NEGATIVE,
    "还是不行": NEGATIVE,
    "有点失望": GLUM,
    "B654321 气死我了": ANGRY,
}


def pipeline(backend: Any = None) -> Pipeline:
    understander = Felt({"报修": "bike.report_fault"}, MOODS)
    return Pipeline(understander, knowledge(), None, load_skills(), backend or Rider())


def chat(
    p: Pipeline,
    *texts: str,
    status: str = "bot",
    rules: EscalationRules | None = None,
    now: dt.datetime | None = None,
    state: str | None = None,
) -> list[TurnResult]:
    state = state or DialogueState(customer="c-1").to_json()
    results = []
    for text in texts:
        result = p.handle(text, ConversationState(status, "zh", state, rules=rules, now=now))
        state = result.state
        results.append(result)
    return results


# -- business hours -------------------------------------------------------------------------


def test_business_hours_are_stored_in_one_canonical_form() -> None:
    hours = BusinessHours.model_validate(
        {"weekly": {"tue": ["14:00-18:00", "9:00 - 12:00"], "mon": ["09:00-24:00"]}}
    )
    assert hours.weekly == {"mon": ["09:00-24:00"], "tue": ["09:00-12:00", "14:00-18:00"]}
    assert hours.timezone == "Asia/Shanghai"
    again = BusinessHours.model_validate(json.loads(hours.model_dump_json()))
    assert again == hours


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"timezone": "Mars/Olympus", "weekly": {}}, "unknown time zone 'Mars/Olympus'"),
        ({"timezone": "../../etc/passwd", "weekly": {}}, "unknown time zone"),
        ({"weekly": {"mon": ["0900-1800"]}}, "is not a span like '09:00-21:00'"),
        ({"weekly": {"mon": ["25:00-26:00"]}}, "doesn't exist"),
        ({"weekly": {"mon": ["09:60-10:00"]}}, "doesn't exist"),
        ({"weekly": {"mon": ["22:00-02:00"]}}, "past midnight over two days"),
        ({"weekly": {"mon": ["09:00-09:00"]}}, "ends before it starts"),
        ({"weekly": {"mon": ["09:00-12:00", "11:00-13:00"]}}, "mon: spans overlap at 11:00"),
        ({"weekly": {"monday": ["09:00-12:00"]}}, "'mon'"),
        ({"weekly": {"mon": ["09:00-12:00"]}, "holidays": []}, "Extra inputs"),
        ({"weekly": {}, "closed_dates": ["2026-13-01"]}, "date"),
    ],
)
def test_bad_business_hours_say_what_is_wrong(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        BusinessHours.model_validate(data)
    assert message in str(raised.value)


def test_open_exactly_from_the_start_until_just_before_the_end() -> None:
    monday = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)  # 08:00 in Shanghai
    at = lambda h, m, s=0: monday + dt.timedelta(hours=h - 8, minutes=m, seconds=s)  # noqa: E731
    assert not OFFICE.is_open(at(8, 59, 59))
    assert OFFICE.is_open(at(9, 0))
    assert OFFICE.is_open(at(17, 59, 59))
    assert not OFFICE.is_open(at(18, 0))
    assert not OFFICE.is_open(SHANGHAI_SAT_NOON)  # a day missing is closed


def test_hours_are_local_to_the_time_zone() -> None:
    utc_1am = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)  # Mon 09:00 Shanghai, Sun in NY
    new_york = OFFICE.model_copy(update={"timezone": "America/New_York"})
    assert OFFICE.is_open(utc_1am) and not new_york.is_open(utc_1am)
    assert new_york.is_open(dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.UTC))  # 10:00 in NY
    assert OFFICE.is_open(dt.datetime(2026, 11, 30, 1, 0))  # naive: taken as UTC
    # Across a change to summer time: 09:00 local is 13:00 UTC in July, 14:00 in January.
    assert new_york.is_open(dt.datetime(2026, 7, 6, 13, 0, tzinfo=dt.UTC))
    assert not new_york.is_open(dt.datetime(2026, 1, 5, 13, 0, tzinfo=dt.UTC))


def test_closed_dates_and_a_day_to_midnight() -> None:
    hours = BusinessHours(weekly={"mon": ["00:00-24:00"]}, closed_dates=[dt.date(2026, 12, 7)])
    assert hours.is_open(dt.datetime(2026, 11, 30, 15, 59, tzinfo=dt.UTC))  # Mon 23:59 local
    assert not hours.is_open(dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC))  # Tue 00:00
    assert not hours.is_open(dt.datetime(2026, 12, 7, 4, 0, tzinfo=dt.UTC))  # a holiday


def test_hours_are_described_in_the_customers_language() -> None:
    daily = BusinessHours(weekly={d: ["09:00-21:00"] for d in escalation.DAYS})
    assert daily.describe("zh") == "每天 09:00-21:00"
    assert daily.describe("en") == "Daily 09:00-21:00"
    week = BusinessHours(
        weekly={**OFFICE.weekly, "sat": ["10:00-12:00", "13:00-16:00"], "mon": ["09:00-17:00"]}
    )
    assert week.describe("en") == (
        "Mon 09:00-17:00; Tue-Fri 09:00-18:00; Sat 10:00-12:00, 13:00-16:00"
    )
    assert week.describe("zh") == (
        "周一 09:00-17:00；周二至周五 09:00-18:00；周六 10:00-12:00、13:00-16:00"
    )
    assert BusinessHours(weekly={}).describe("zh")  # never an empty "(hours: )"


# -- the rules' settings --------------------------------------------------------------------


def test_every_setting_has_a_default_and_round_trips_as_json() -> None:
    assert EscalationRules.model_validate({}) == DEFAULT_RULES
    assert DEFAULT_RULES.anger_turns == 2 and DEFAULT_RULES.anger_window == 3
    assert DEFAULT_RULES.fallbacks == 3 and DEFAULT_RULES.vip_fallbacks == 1
    assert DEFAULT_RULES.business_hours is None
    rules = EscalationRules(business_hours=OFFICE, vip_tiers=[" Gold ", "VIP"])
    assert rules.vip_tiers == ["gold", "vip"]
    assert EscalationRules(vip_tiers=["金卡 会员"]).vip_tiers == ["金卡 会员"]  # printable
    assert EscalationRules.model_validate(json.loads(rules.model_dump_json())) == rules


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"anger_turns": 4, "anger_window": 3}, "anger_turns (4) can't be more than anger_window"),
        ({"anger_window": HISTORY + 1}, f"less than or equal to {HISTORY}"),
        ({"negative_below": 0.9}, "less than or equal to 0.5"),
        ({"fallbacks": -1}, "greater than or equal to 0"),
        ({"vip_tiers": [""]}, "a tier is 1-32 printable characters"),
        ({"vip_tiers": ["x" * 33]}, "a tier is 1-32 printable characters"),
        ({"vip_tiers": ["g\u0000"]}, "a tier is 1-32 printable characters"),  # JSONB refuses NUL
        ({"vip_tiers": ["gold\nvip"]}, "a tier is 1-32 printable characters"),
        ({"angry_turns": 2}, "Extra inputs are not permitted"),
        ({"business_hours": {"weekly": {"mon": ["9-5"]}}}, "business_hours.weekly"),
    ],
)
def test_bad_rules_say_what_is_wrong(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        EscalationRules.model_validate(data)
    assert message in str(raised.value)


def test_priorities_rank_urgent_high_vip_normal() -> None:
    assert PRIORITIES == ("urgent", "high", "vip", "normal")
    assert [escalation.priority(p, vip=True) for p in PRIORITIES] == [
        "urgent",
        "high",
        "vip",
        "vip",
    ]
    assert escalation.priority("normal", vip=False) == "normal"
    assert escalation.priority("nonsense", vip=False) == "normal"
    assert escalation.fallback_limit(DEFAULT_RULES, vip=True) == 1
    assert escalation.fallback_limit(EscalationRules(vip_fallbacks=0), vip=True) == 3
    assert escalation.fallback_limit(EscalationRules(fallbacks=0, vip_fallbacks=0), vip=True) == 0


# -- sustained anger and negativity ---------------------------------------------------------


def test_one_angry_message_gets_an_apology_not_a_person() -> None:
    (result,) = chat(pipeline(), "气死我了")
    assert not result.wants_handoff and result.trace["handoff"] is None
    assert result.trace["tone"] == "upset"
    assert result.replies[-1].payload["quick_replies"][-1]["action"] == "handoff"


def test_anger_in_two_of_three_turns_hands_over_with_high_priority() -> None:
    first, calm, second = chat(pipeline(), "气死我了", "asdf", "垃圾服务")
    assert not first.wants_handoff and not calm.wants_handoff
    assert second.decision.kind is DecisionKind.HANDOFF and second.decision.reason == "anger"
    assert second.trace["handoff"] == {"reason": "anger", "priority": "high", "skill": None}
    assert second.trace["responses"] == ["common.handoff.anger"]
    assert second.replies[0].payload["kind"] == "handoff"


def test_anger_outside_the_window_does_not_count() -> None:
    *_, last = chat(pipeline(), "气死我了", "hello", "hi", "垃圾服务")
    assert not last.wants_handoff


def test_the_anger_rule_can_be_turned_off_or_tightened() -> None:
    off = EscalationRules(anger_turns=0)
    assert not any(r.wants_handoff for r in chat(pipeline(), "气死我了", "垃圾服务", rules=off))
    once = EscalationRules(anger_turns=1, anger_window=1)
    (result,) = chat(pipeline(), "气死我了", rules=once)
    assert result.decision.reason == "anger"


def test_three_strongly_negative_turns_in_a_row_hand_over() -> None:
    results = chat(pipeline(), "你们太差了", "一直扣钱", "还是不行")
    assert [r.wants_handoff for r in results] == [False, False, True]
    assert results[-1].trace["handoff"]["reason"] == "negative"
    assert results[-1].trace["handoff"]["priority"] == "high"
    assert results[-1].trace["responses"] == ["common.handoff.negative"]


def test_mildly_negative_or_interrupted_negativity_does_not() -> None:
    rules = EscalationRules(fallbacks=0)  # these messages all fall back
    glum = chat(pipeline(), "你们太差了", "有点失望", "还是不行", rules=rules)
    assert not glum[-1].wants_handoff
    broken = chat(pipeline(), "你们太差了", "asdf", "一直扣钱", "还是不行", rules=rules)
    assert not broken[-1].wants_handoff


def test_an_angry_answer_to_a_flows_question_lets_the_flow_go_on() -> None:
    """An upset customer giving the detail the flow asked for (a complaint's, a bike code) is
    being helped: the flow takes it, and anger escalates when a message doesn't answer."""
    _, _, answered = chat(pipeline(), "气死我了", "报修", "B654321 气死我了")
    assert answered.decision.reason == "slot" and not answered.wants_handoff
    *_, unanswered = chat(pipeline(), "气死我了", "报修", "垃圾服务")
    assert unanswered.decision.reason == "anger"
    assert unanswered.trace["handoff"]["skill"] == "bike"  # the flow it was in
    assert DialogueState.from_json(unanswered.state).frames == []


def test_each_turns_mood_is_kept_long_enough_for_the_rules() -> None:
    results = chat(pipeline(), "气死我了", "你们太差了", "asdf", *["hi"] * HISTORY)
    history = DialogueState.from_json(results[2].state).history
    assert [h["mood"] for h in history if "mood" in h] == ["angry", "negative", "neutral"]
    assert history[1]["positive"] == 0.08
    last = DialogueState.from_json(results[-1].state)
    assert sorted({h["turn"] for h in last.history}) == list(
        range(last.turn - HISTORY + 1, last.turn + 1)
    )


def test_a_state_stored_before_moods_were_recorded_still_loads() -> None:
    old = {"turn": 4, "fallbacks": 1, "history": [{"turn": 4, "decision": "answer"}, "junk"]}
    state = DialogueState.from_json(json.dumps(old))
    assert state.turn == 4 and not state.leave_message
    assert state.history == [{"turn": 4, "decision": "answer"}]
    (result,) = chat(pipeline(), "垃圾服务", state=json.dumps(old))
    assert not result.wants_handoff  # the old turns had no mood: one angry turn


# -- fallbacks and VIPs ---------------------------------------------------------------------


def test_a_third_fallback_in_a_row_hands_over() -> None:
    _, second, third = chat(pipeline(), "asdf", "qwer", "zxcv")
    assert second.decision.reason == "fallback_repeated" and not second.wants_handoff
    assert third.decision.kind is DecisionKind.HANDOFF and third.decision.reason == "fallbacks"
    assert third.trace["handoff"] == {"reason": "fallbacks", "priority": "normal", "skill": None}
    assert third.trace["responses"] == ["common.handoff.fallbacks"]
    assert DialogueState.from_json(third.state).fallbacks == 0


def test_a_vip_gets_a_person_after_one_fallback_with_vip_priority() -> None:
    (result,) = chat(pipeline(Vip()), "asdf")
    assert result.decision.reason == "fallbacks"
    assert result.trace["handoff"]["priority"] == "vip"
    assert "valued members" in result.replies[0].text  # Emily's profile says English


def test_a_vips_other_handoffs_rank_as_vip_but_never_above_urgent_or_high() -> None:
    (asked,) = chat(pipeline(Vip()), "转人工")
    assert asked.trace["handoff"]["priority"] == "vip"
    (hurt,) = chat(pipeline(Vip()), "我被车撞了")
    assert hurt.trace["handoff"]["priority"] == "urgent"
    *_, angry = chat(pipeline(Vip()), "气死我了", "垃圾服务")
    assert angry.trace["handoff"]["priority"] == "high"


def test_custom_vip_tiers() -> None:
    rules = EscalationRules(vip_tiers=["basic"])  # the fake backend's customers are basic
    (result,) = chat(pipeline(), "转人工", rules=rules)
    assert result.trace["handoff"]["priority"] == "vip"


# -- explicit requests, safety words --------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["agent", "Agent!", "human", "human please", "人工", "人工。", "转人工", "转\u200b人工"]
)
def test_asking_for_a_person(text: str) -> None:
    (result,) = chat(pipeline(), text)
    assert result.decision.reason == "human_request"
    handoff = {"reason": "human_request", "priority": "normal", "skill": None}
    assert result.trace["handoff"] == handoff


@pytest.mark.parametrize(
    "text", ["I'm an agent of change", "is the human resources team in?", "人工智能是什么"]
)
def test_bare_words_count_only_as_the_whole_message(text: str) -> None:
    (result,) = chat(pipeline(), text)
    assert result.decision.reason != "human_request"


@pytest.mark.parametrize(
    "text",
    [
        "我家孩子骑车摔伤了",
        "有个小孩偷偷扫码骑走了你们的车",
        "未成年人骑着电单车上了马路",
        "孩子被锁夹到手了",
        "my kid is missing",
        "a minor was hit by one of your scooters",
        "my daughter is riding one of your bikes on the highway",
        "房东威胁要报复我",
        "他说要打我",
        "the host threatened me",
        "he made threats against my family",
        "I think there is a hidden camera in the room",
        "屋里有煤气泄漏的味道",
        # a child harmed, lost or in danger: the child is the one it happens to
        "孩子从车上摔下来了",
        "孩子被车撞了",
        "孩子不见了",
        "孩子走丢了",
        "找不到孩子了",
        "孩子摔了",
        "我儿子撞到了头",
        "我儿子摔倒了，头在流血",
        "女儿在马路上被电动车撞倒了",
        "孩子卡在电梯里了",
        "孩子的手被车门夹到了",
        "孩子摔伤了，保险能赔吗",  # reported, then a question
        "孩子晕倒了怎么办",
        "my son fell off the bike",
        "my child is hurt",
        "my daughter is bleeding",
        "my child is hurt, what should I do?",
        "can you help? my kid is missing",
        "I can't find my son anywhere",
        "we lost track of our kids at the station",
        "my daughter was hit by a scooter",
        "my son's fallen off the scooter",
        "my toddler is trapped in the car",
        "my kid got stuck in the elevator",
        # threats and accidents
        "someone threatened to kill me",
        "the host tried to kill me",
        "有人说要杀了我",
        "I'm trapped in the lift",
        "this is an emergency",
        "Emergency!",
        "I had an accident on the bike",
        "骑车出了车祸",
    ],
)
def test_minors_in_danger_and_threats_are_safety_matters(text: str) -> None:
    assert safety_word(normalize_aligned(text).text), text
    (result,) = chat(pipeline(), text)
    assert result.trace["handoff"]["priority"] == "urgent"


@pytest.mark.parametrize(
    "text",
    [
        "儿童座椅的车在哪",
        "can my child ride?",
        "小孩可以骑车吗",
        "孩子骑车需要什么条件",
        "how old must kids be to ride?",
        "is there a child seat on the e-bikes",
        "there's a minor scratch on the bike",
        "my kid lost his card",
        "打我电话就行",
        "晚上被打扰了，隔壁很吵",
        "这价格简直是抢劫",
        # everyday words with a child who isn't harmed, figures of speech
        "My son can't find the QR code on the bike",
        "my daughter is stuck on the payment page",
        "my kids fell asleep, can I extend the booking?",
        "This app is going to kill me, the unlock never works",
        "I'm trapped in an auto-renew subscription",
        "孩子把手机摔了，订单还能查吗",
        "我儿子的账号卡住了，登录不了",
        "孩子摔了手机",
        "孩子的手机不见了",
        "孩子晕车，能退票吗",
        "孩子卡在家里上网课",
        "I lost my kid's card",
        "my son's ticket is missing",
        "my son crashed the app",
        "what's the emergency contact for the hotel front desk",
        "What should I do in an emergency?",
        "I booked the wrong date by accident",
        # questions that only imagine harm
        "can kids get hurt on e-bikes?",
        "If my child gets hurt, does insurance cover it?",
        "孩子骑车容易摔倒吗",
        "如果孩子摔倒了怎么办",
    ],
)
def test_ordinary_questions_are_not_safety_matters(text: str) -> None:
    assert safety_word(normalize_aligned(text).text) is None, text


# -- business hours in the conversation -----------------------------------------------------

AFTER_HOURS = EscalationRules(business_hours=OFFICE)


def test_after_hours_a_handoff_becomes_an_invitation_to_leave_a_message() -> None:
    p = pipeline()
    invited, left, later = chat(
        p, "转人工", "我的车锁不上，一直扣费", "asdf", rules=AFTER_HOURS, now=SHANGHAI_SAT_NOON
    )
    assert invited.decision.kind is DecisionKind.AFTER_HOURS
    assert invited.decision.reason == "after_hours" and not invited.wants_handoff
    assert invited.trace["handoff"] is None
    assert invited.trace["responses"] == ["common.handoff.after_hours"]
    assert "周一至周五 09:00-18:00" in invited.replies[0].text
    assert DialogueState.from_json(invited.state).leave_message

    assert left.decision.reason == "leave_message" and not left.wants_handoff
    (ticket,) = left.effects
    assert ticket["kind"] == "ticket" and ticket["ticket_id"].startswith("KF")
    assert ticket["topic"] == "leave_message" and ticket["reason"] == "after_hours"
    assert ticket["detail"] == {"skill": None}
    assert "锁不上" not in json.dumps(ticket, ensure_ascii=False)  # the row links the message
    assert ticket["ticket_id"] in left.replies[0].text
    assert not DialogueState.from_json(left.state).leave_message
    assert later.decision.reason == "fallback" and later.effects == ()


def test_the_invitation_lapses_when_people_are_back_or_after_half_a_day() -> None:
    p = pipeline()
    (invited,) = chat(p, "转人工", rules=AFTER_HOURS, now=SHANGHAI_SAT_NOON)
    # Monday morning, people are in: a new request is handed over, not taken as a message.
    (monday,) = chat(p, "转人工", rules=AFTER_HOURS, now=SHANGHAI_MON_10, state=invited.state)
    assert monday.wants_handoff and monday.effects == ()
    # Sunday evening, still closed but 30 hours on: a new question is answered as one.
    sunday = SHANGHAI_SAT_NOON + dt.timedelta(hours=30)
    (later,) = chat(p, "asdf", rules=AFTER_HOURS, now=sunday, state=invited.state)
    assert later.decision.reason != "leave_message" and later.effects == ()
    assert not DialogueState.from_json(later.state).leave_message
    # Within the half day, it is the message left.
    soon = SHANGHAI_SAT_NOON + dt.timedelta(hours=2)
    (left,) = chat(p, "车锁坏了", rules=AFTER_HOURS, now=soon, state=invited.state)
    assert left.decision.reason == "leave_message"


def test_a_left_message_remembers_the_skill_it_was_about() -> None:
    texts = ("报修", "转人工", "明天再说")
    *_, left = chat(pipeline(), *texts, rules=AFTER_HOURS, now=SHANGHAI_SAT_NOON)
    assert left.effects[0]["detail"] == {"skill": "bike"}


def test_after_hours_the_invitation_can_be_declined() -> None:
    _, declined = chat(pipeline(), "转人工", "算了", rules=AFTER_HOURS, now=SHANGHAI_SAT_NOON)
    assert declined.decision.reason == "leave_message_cancelled" and declined.effects == ()
    assert declined.trace["responses"] == ["common.handoff.message_cancelled"]


def test_after_hours_every_escalation_invites_a_message() -> None:
    angry = chat(pipeline(), "气死我了", "垃圾服务", rules=AFTER_HOURS, now=SHANGHAI_SAT_NOON)
    assert angry[-1].decision.reason == "after_hours"
    assert angry[-1].trace["responses"] == ["common.handoff.after_hours"]
    fallbacks = chat(pipeline(Vip()), "asdf", rules=AFTER_HOURS, now=SHANGHAI_SAT_NOON)
    assert fallbacks[-1].decision.reason == "after_hours"
    assert "Mon-Fri 09:00-18:00" in fallbacks[-1].replies[-1].text


def test_safety_after_hours_still_goes_to_a_person_at_once() -> None:
    texts = ("转人工", "我被车撞了，在流血")
    invited, hurt = chat(pipeline(), *texts, rules=AFTER_HOURS, now=SHANGHAI_SAT_NOON)
    assert invited.decision.reason == "after_hours"
    assert hurt.wants_handoff and hurt.trace["handoff"]["priority"] == "urgent"
    assert "120" in hurt.replies[0].text  # the safety reply sends them to emergency services
    assert hurt.effects == () and not DialogueState.from_json(hurt.state).leave_message


def test_within_business_hours_handoffs_go_through() -> None:
    (result,) = chat(pipeline(), "转人工", rules=AFTER_HOURS, now=SHANGHAI_MON_10)
    assert result.wants_handoff and result.decision.reason == "human_request"


def test_the_clock_decides_when_no_time_is_given() -> None:
    never = EscalationRules(business_hours=BusinessHours(weekly={}))
    (result,) = chat(pipeline(), "转人工", rules=never)
    assert result.decision.reason == "after_hours"


# -- already waiting ------------------------------------------------------------------------


def test_a_customer_already_queued_is_not_escalated_again() -> None:
    angry = chat(pipeline(), "气死我了", "垃圾服务", status="waiting_agent")
    assert [r.trace["handoff"] for r in angry] == [None, None]
    fallbacks = chat(pipeline(), "asdf", "qwer", "zxcv", status="waiting_agent")
    assert all(r.decision.kind is DecisionKind.FALLBACK for r in fallbacks)
    (asked,) = chat(pipeline(), "转人工", status="waiting_agent")
    assert asked.replies[0].payload == {"kind": "handoff"}  # "you're in the queue"
    (closed,) = chat(
        pipeline(), "转人工", status="waiting_agent", rules=AFTER_HOURS, now=SHANGHAI_SAT_NOON
    )
    assert closed.decision.kind is DecisionKind.HANDOFF  # queued already: stays queued


def test_safety_while_queued_raises_the_priority() -> None:
    (result,) = chat(pipeline(), "有人威胁我", status="waiting_agent")
    assert result.trace["handoff"]["priority"] == "urgent"
    assert result.trace["responses"] == ["common.handoff.safety"]


# -- hostile input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "气" * 20_000,
        "a" * 50_000 + " agent",
        "\u200b\u200d\u2060\ufeff" * 1000,
        "转\u200e人\u202e工",
        "孩子" * 5000 + "骑车" * 5000,
        "💥🔥" * 3000,
        "\x00\x01\x02",
    ],
)
def test_hostile_text_does_not_crash(text: str) -> None:
    results = chat(pipeline(), text, text, rules=AFTER_HOURS, now=SHANGHAI_SAT_NOON)
    for result in results:
        assert result.replies and result.decision.reason != "error"
