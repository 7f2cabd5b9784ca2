"""The traffic simulator's plan: every conversation drawn up front from the seeded generator
(when, who, what they say and when), so the same seed gives the same traffic."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kefu.analytics.simulate_script import (
    AGENT_REPLIES,
    ANGRY,
    CANCEL,
    CHANNELS,
    DETAIL,
    FLOWS,
    GAP_TOPICS,
    GREETINGS,
    HOUR_WEIGHTS,
    HUMAN,
    LANGUAGES,
    SKILLS,
    SPIKE_HOUR,
    SPIKE_TEXTS,
    THANKS,
    UNLOCK_PLACES,
    UNLOCK_TEXTS,
    WAITING,
    WEEKDAY_WEIGHTS,
    faq_questions,
)  # fmt: skip

# Scenario mix of the ordinary traffic (the spike and the returns come on top).
SCENARIOS = (
    ("faq", 0.42), ("unlock", 0.04), ("flow_done", 0.12), ("flow_abandoned", 0.08),
    ("angry", 0.07), ("human", 0.09), ("gap", 0.10), ("greeting", 0.08),
)  # fmt: skip
GAP_SKILL = {"photo_shoot": "lodging", "airport_pickup": "lodging"}  # the others: bike
SCORES = {  # rating weights for 1..5
    "happy": (0.03, 0.05, 0.12, 0.35, 0.45),
    "unhappy": (0.25, 0.25, 0.25, 0.15, 0.10),
    "angry": (0.30, 0.25, 0.20, 0.15, 0.10),
    "human": (0.05, 0.08, 0.17, 0.35, 0.35),
}
MOOD = {"flow_abandoned": "unhappy", "gap": "unhappy", "angry": "angry", "human": "human"}
SPIKE_SHARE, RETURN_SHARE = 0.01, 0.12
SLACK_S = 60.0  # on top of the planned delays: clock ticks, rounding


@dataclass
class AgentPart:
    take_after: float  # seconds the customer waits for the agent
    replies: list[tuple[float, str]]  # (delay, text)
    customer_lines: list[tuple[float, str]]  # after each reply, while with the agent
    close_after: float
    gives_up_after: float | None  # the customer leaves the queue instead


@dataclass
class Plan:
    start: datetime  # UTC
    customer: str
    scenario: str
    skill: str
    channel: str
    language: str
    messages: list[tuple[float, str]]  # (delay before it, text)
    agent: AgentPart
    close_after: float | None  # the customer ends the chat (None: just leaves)
    rating: int | None
    rating_after: float
    gap_topic: str | None = None
    return_kind: str | None = None

    def duration(self) -> float:
        """An upper bound of how long it lasts (seconds), whatever the bot does."""
        agent = self.agent
        with_agent = agent.take_after + agent.close_after
        with_agent += sum(d for d, _ in agent.replies) + sum(d for d, _ in agent.customer_lines)
        return (
            sum(d for d, _ in self.messages)
            + max(with_agent, agent.gives_up_after or 0.0)
            + (self.close_after or 0.0)
            + self.rating_after
            + SLACK_S
        )


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


def _lang_of(text: str) -> str:
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


def _think(rng: random.Random) -> float:
    return round(rng.uniform(6, 45), 3)


class _Planner:
    def __init__(
        self, rng: random.Random, seed: int, days: int, end: datetime, tz: ZoneInfo
    ) -> None:
        self.rng, self.end, self.tz = rng, end, tz
        last = end.astimezone(tz).date()
        self.days = [last - timedelta(days=k) for k in range(days - 1, -1, -1)]
        self.window_start = datetime.combine(self.days[0], datetime.min.time(), tz).astimezone(UTC)
        self.day_weights = list(
            itertools.accumulate(WEEKDAY_WEIGHTS[d.weekday()] for d in self.days)
        )
        self.hour_weights = list(itertools.accumulate(HOUR_WEIGHTS))
        self.count = 0
        self.prefix = f"sim{seed}-"  # another seed's run in the same database: other customers

    def customer(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count:07d}"

    def when(self, duration: float) -> datetime:
        """A start time: weekday- and hour-shaped, inside the window with its whole length."""
        rng, latest = self.rng, self.end - timedelta(seconds=duration)
        for _ in range(50):
            day = rng.choices(self.days, cum_weights=self.day_weights)[0]
            hour = rng.choices(range(24), cum_weights=self.hour_weights)[0]
            local = datetime.combine(day, datetime.min.time(), self.tz).replace(hour=hour)
            start = (local + timedelta(seconds=rng.uniform(0, 3600))).astimezone(UTC)
            if self.window_start <= start <= latest:
                return start
        room = max((latest - self.window_start).total_seconds(), 0.0)
        return self.window_start + timedelta(seconds=rng.uniform(0, room))

    def plan(self, scenario: str, start: datetime | None = None, **fixed: Any) -> Plan:
        rng = self.rng
        lang = fixed.get("language") or _pick(rng, LANGUAGES)
        skill = _pick(rng, SKILLS)
        messages: list[str] = []
        gap_topic = None
        if scenario == "greeting":
            skill = "common"
            messages = [
                rng.choice(GREETINGS[lang]),
                *rng.sample(faq_questions()[("common", lang)], 1),
            ]
        elif scenario == "faq":
            if rng.random() < 0.25:
                messages.append(rng.choice(GREETINGS[lang]))
            messages += rng.sample(faq_questions()[(skill, lang)], rng.randint(1, 3))
        elif scenario in ("unlock", "spike"):
            skill = "bike"
            if scenario == "spike":
                messages = [rng.choice(SPIKE_TEXTS[lang])]
            else:
                place = rng.choice(UNLOCK_PLACES[lang])
                messages = [UNLOCK_TEXTS[lang].format(place=place)]
        elif scenario in ("flow_done", "flow_abandoned"):
            skill = "bike" if rng.random() < 0.65 else "lodging"
            steps = list(rng.choice(FLOWS[skill][lang]))
            if scenario == "flow_abandoned" and len(steps) > 1:
                steps = steps[: rng.randint(1, len(steps) - 1)]
                if rng.random() < 0.35:
                    steps.append(rng.choice(CANCEL[lang]))
            messages = steps
        elif scenario == "angry":
            skill = "bike" if rng.random() < 0.6 else "lodging"
            messages = list(rng.choice(ANGRY[lang]))
            if rng.random() < 0.5:
                messages.append(rng.choice(HUMAN[lang]))
        elif scenario == "human":
            if rng.random() < 0.4:
                messages.append(rng.choice(faq_questions()[(skill, lang)]))
            messages.append(rng.choice(HUMAN[lang]))
        elif scenario == "gap":
            gap_topic = rng.choice(sorted(GAP_TOPICS))
            skill = GAP_SKILL.get(gap_topic, "bike")
            text = rng.choice(GAP_TOPICS[gap_topic])
            lang = _lang_of(text)
            messages = [rng.choice(GREETINGS[lang])] if rng.random() < 0.3 else []
            messages.append(text)
            follow = rng.random()
            if follow < 0.25:
                same = [q for q in GAP_TOPICS[gap_topic] if _lang_of(q) == lang]
                messages.append(rng.choice(same))
            elif follow < 0.6:
                messages.append(rng.choice(HUMAN[lang]))
        if scenario not in ("angry", "human", "gap", "flow_abandoned") and rng.random() < 0.45:
            messages.append(rng.choice(THANKS[lang]))
        replies = rng.sample(AGENT_REPLIES[lang], rng.randint(2, 3))
        lines = rng.sample(DETAIL[lang], rng.randint(0, len(replies) - 1))
        if rng.random() < 0.3:
            lines.insert(0, rng.choice(WAITING[lang]))
            lines = lines[: len(replies) - 1]
        agent = AgentPart(
            take_after=round(rng.uniform(15, 480), 3),
            replies=[(round(rng.uniform(10, 90), 3), r) for r in replies],
            customer_lines=[(_think(rng), line) for line in lines],
            close_after=round(rng.uniform(20, 120), 3),
            gives_up_after=round(rng.uniform(60, 600), 3) if rng.random() < 0.12 else None,
        )
        rated = rng.random() < (0.55 if scenario in ("angry", "human") else 0.2)
        mood = MOOD.get(scenario, "happy")
        plan = Plan(
            start or self.window_start,
            fixed.get("customer") or self.customer(),
            scenario,
            skill,
            fixed.get("channel") or _pick(rng, CHANNELS),
            lang,
            [(round(rng.uniform(2, 20), 3) if i == 0 else _think(rng), m)
             for i, m in enumerate(messages)],
            agent,
            round(rng.uniform(5, 90), 3) if rng.random() < 0.6 else None,
            rng.choices(range(1, 6), SCORES[mood])[0] if rated else None,
            round(rng.uniform(5, 40), 3),
            gap_topic,
            fixed.get("return_kind"),
        )  # fmt: skip
        if start is None:
            plan.start = self.when(plan.duration())
        return plan

    def spike_day(self) -> date | None:
        """The last day whose spike hour (and half an hour more) is over by the end."""
        for day in reversed(self.days):
            local = datetime.combine(day, datetime.min.time(), self.tz)
            if local.replace(hour=SPIKE_HOUR + 1, minute=30).astimezone(UTC) <= self.end:
                return day
        return None


def plan_traffic(
    seed: int, conversations: int, days: int, end: datetime, tz: ZoneInfo
) -> tuple[list[Plan], datetime, date | None]:
    """Every conversation to simulate, in order of start; the window's start; the spike day."""
    rng = random.Random(seed)
    planner = _Planner(rng, seed, days, end, tz)
    spike_day = planner.spike_day() if conversations >= 10 else None
    # At least 8: the hot-topic rule needs 6 conversations in the hour for a place never seen
    # before (kefu.analytics.alerts), so a smaller planted spike would not be one.
    n_spike = (
        min(max(8, round(conversations * SPIKE_SHARE)), conversations // 5) if spike_day else 0
    )
    n_return = int(conversations * RETURN_SHARE)
    plans = [planner.plan(_pick(rng, SCENARIOS)) for _ in range(conversations - n_spike - n_return)]
    if spike_day is not None:
        hour = datetime.combine(spike_day, datetime.min.time(), tz).replace(hour=SPIKE_HOUR)
        for _ in range(n_spike):
            start = (hour + timedelta(seconds=rng.uniform(0, 3599))).astimezone(UTC)
            plans.append(planner.plan("spike", start))
    origins = rng.sample(plans, min(n_return, len(plans)))
    for i in range(n_return):
        kind = "within_24h" if i % 2 == 0 else "after_24h"
        gap_h = rng.uniform(1, 20) if kind == "within_24h" else rng.uniform(26, 72)
        origin = origins[i] if i < len(origins) else None
        again = None
        if origin is not None:
            start = origin.start + timedelta(seconds=origin.duration(), hours=gap_h)
            again = planner.plan(
                _pick(rng, SCENARIOS), start, customer=origin.customer,
                language=origin.language, channel=origin.channel, return_kind=kind,
            )  # fmt: skip
        if again is None or again.start + timedelta(seconds=again.duration()) > end:
            again = planner.plan(_pick(rng, SCENARIOS))  # no room before the end: a new customer
        plans.append(again)
    plans.sort(key=lambda p: p.start)
    return plans, planner.window_start, spike_day
