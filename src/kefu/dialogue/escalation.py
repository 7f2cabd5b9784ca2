"""Escalation rules: when the bot hands a conversation to a person, and how urgently.

A tenant's settings are one `EscalationRules` (JSON in `tenants.escalation`; None means
`DEFAULT_RULES`). The pipeline asks, in its policy order:
- `safety_word`: someone may be hurt or in danger (the lexicon, plus a child in harm's way);
- `sustained`: anger in `anger_turns` of the last `anger_window` turns, or `negative_turns`
  strongly negative turns in a row;
- `fallback_limit`: fallbacks in a row before a person takes over (fewer for a VIP);
- `priority` and `skill_of`: where the handoff goes in the queue, and to whom;
- `BusinessHours.is_open`: outside them the customer may leave a message instead.
The rules are functions of the settings, the message and the dialogue history (no database, no
clock); `hand_off`, `route` and `take_message` apply them to a turn.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kefu.config import known_timezone
from kefu.dialogue import context as ctx
from kefu.dialogue.runner import FlowRunner, Turn
from kefu.dialogue.state import HISTORY, DialogueState
from kefu.i18n import t
from kefu.understanding.parse import Parse

PRIORITIES = ("urgent", "high", "vip", "normal")  # queue order: rank = index
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Upset = Literal["anger", "negative"]
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
# A question about children ("can my child ride?", "孩子骑车需要什么条件") asks about the rules;
# only a report of one riding is a safety matter.
_ASKS = re.compile(
    r"[?？]|吗|什么|怎么|怎样|如何|能不能|能否|可不可以|可以|是否|会不会|是不是|允许|几岁|多大|年龄|哪"
    r"|^(?:can|could|may|is|are|do|does|how|what|where|when|why|should|will)\b"
    r"|\b(?:allowed|age limit|minimum age|how old)\b"
)
# A question that only imagines a child's harm, in the clause that names it: "如果…", "万一…",
# "…容易摔倒吗", "if my child gets hurt…", "can kids get hurt…", "does insurance cover…".
_IMAGINES = re.compile(
    r"如果|万一|要是|假如|假设|假使|若是|是否会|会不会|会(?![员议儿])|可能|容易|避免|防止|预防|保险|理赔|赔付"
    r"|\b(?:if|in case|whether|unless|avoid|prevent|insurance|insured|covers?|covered|risks?"
    r"|safe)\b"
    r"|\b(?:can|could|might|may|will|would)\s+(?:\S+\s+){0,3}?(?:get|be|fall|go)\b"
)
_IMAGINES_AFTER = re.compile(r"[^,.!?;，。！？；]{0,6}?的话")  # "孩子摔倒的话怎么办"
_CLAUSE = re.compile(r"[,.!?;，。！？；]")
_CJK = "\u4e00-\u9fff"
# Between a child and what happened to it: nothing of the child's ("孩子的账号", "孩子把手机").
_ZH_GAP = r"[^的把将\s,.!?;，。！？；]{0,10}?"
_EN_GAP = (
    r"(?:['’]s)?(?:\s+(?:just|has|had|have|was|were|is|are|got|been|also|then|accidentally"
    r"|suddenly|now))*\s+"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _span(text: str) -> tuple[int, int]:
    """ "09:00-21:00" -> (start, end) in minutes of the day; "24:00" ends a day."""
    m = _SPAN.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a span like '09:00-21:00'")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"{text!r} has a time that doesn't exist (00:00 to 24:00)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start >= end:
        raise ValueError(
            f"{text!r} ends before it starts; split a span past midnight over two days "
            "('22:00-24:00' and '00:00-02:00')"
        )
    return start, end


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class BusinessHours(_Strict):
    """When people answer. A day missing from `weekly` (or with no spans) is closed."""

    timezone: str = "Asia/Shanghai"  # IANA name
    weekly: dict[Day, list[str]]  # "09:00-21:00" spans, local time
    closed_dates: list[date] = Field(default_factory=list, max_length=366)  # holidays

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return known_timezone(value)

    @field_validator("weekly")
    @classmethod
    def _spans(cls, value: dict[Day, list[str]]) -> dict[Day, list[str]]:
        normal: dict[Day, list[str]] = {}
        for day in DAYS:  # canonical order and form: "9:00 - 21:00" is stored "09:00-21:00"
            if day not in value:
                continue
            if len(value[day]) > 8:
                raise ValueError(f"{day}: at most 8 spans a day")
            spans = sorted(_span(s) for s in value[day])
            for (_, end), (start, _) in pairwise(spans):
                if start < end:
                    raise ValueError(f"{day}: spans overlap at {_hhmm(start)}")
            normal[day] = [f"{_hhmm(a)}-{_hhmm(b)}" for a, b in spans]
        return normal

    def is_open(self, now: datetime) -> bool:
        """Are people at work at `now` (a naive time is taken as UTC, as kefu stores them)?"""
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        local = now.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.closed_dates:
            return False
        minute = local.hour * 60 + local.minute + local.second / 60
        spans = self.weekly.get(DAYS[local.weekday()], [])
        return any(start <= minute < end for start, end in map(_span, spans))

    def describe(self, lang: str) -> str:
        """ "每天 09:00-21:00" / "Mon-Fri 09:00-18:00; Sat 10:00-16:00": runs of days with
        the same spans, for telling a customer when to come back."""
        runs: list[tuple[list[Day], list[str]]] = []
        for index, day in enumerate(DAYS):
            spans = self.weekly.get(day) or []
            if not spans:
                continue
            if runs and runs[-1][1] == spans and runs[-1][0][-1] == DAYS[index - 1]:
                runs[-1][0].append(day)
            else:
                runs.append(([day], spans))
        parts = []
        for days, spans in runs:
            if len(days) == len(DAYS):
                label = t("handoff.hours.daily", lang)
            elif len(days) == 1:
                label = t(f"handoff.day.{days[0]}", lang)
            else:
                first, last = (t(f"handoff.day.{d}", lang) for d in (days[0], days[-1]))
                label = t("handoff.hours.days", lang, first=first, last=last)
            joined = t("handoff.hours.and", lang).join(spans)
            parts.append(t("handoff.hours.group", lang, days=label, spans=joined))
        return t("handoff.hours.separator", lang).join(parts) or t("handoff.hours.none", lang)


class EscalationRules(_Strict):
    """One tenant's escalation settings. A count of 0 turns its rule off."""

    # Upset (anger weak or strong) in this many of the last `anger_window` turns: priority high.
    anger_turns: int = Field(2, ge=0, le=HISTORY)
    anger_window: int = Field(3, ge=1, le=HISTORY)
    # This many strongly negative turns in a row (p(positive) <= negative_below): high.
    negative_turns: int = Field(3, ge=0, le=HISTORY)
    negative_below: float = Field(0.15, ge=0.0, le=0.5)
    # This many fallbacks in a row: a person takes over (the button is offered at 2 regardless).
    fallbacks: int = Field(3, ge=0, le=20)
    # Tiers of the operator's customer profile that count as VIP (compared in lower case).
    vip_tiers: list[str] = Field(default_factory=lambda: ["vip", "gold", "platinum"], max_length=20)
    vip_fallbacks: int = Field(1, ge=0, le=20)  # a VIP's fallbacks before a person
    business_hours: BusinessHours | None = None  # None: staffed around the clock

    @field_validator("vip_tiers")
    @classmethod
    def _tiers(cls, value: list[str]) -> list[str]:
        tiers = [tier.strip().lower() for tier in value]
        # Printable only: a NUL or other control character can't be stored in JSONB.
        if any(not tier or len(tier) > 32 or not tier.isprintable() for tier in tiers):
            raise ValueError("a tier is 1-32 printable characters")
        return tiers

    @model_validator(mode="after")
    def _window(self) -> EscalationRules:
        if self.anger_turns > self.anger_window:
            raise ValueError(
                f"anger_turns ({self.anger_turns}) can't be more than anger_window "
                f"({self.anger_window}): it counts upset turns among the last anger_window"
            )
        return self


DEFAULT_RULES = EscalationRules()


def rank(priority: str) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES) - 1


def is_vip(rules: EscalationRules, profile: Mapping[str, Any] | None) -> bool:
    tier = (profile or {}).get("tier")
    return isinstance(tier, str) and tier.lower() in rules.vip_tiers


def priority(wanted: str | None, vip: bool) -> str:
    """The queue priority: urgent and high stay; a VIP's ordinary handoff is ranked `vip`."""
    level = wanted if wanted in PRIORITIES else "normal"
    return "vip" if vip and rank(level) >= rank("vip") else str(level)


def fallback_limit(rules: EscalationRules, vip: bool) -> int:
    """Fallbacks in a row before a person takes over; 0: never."""
    limits = [n for n in (rules.fallbacks, rules.vip_fallbacks if vip else 0) if n]
    return min(limits, default=0)


def after_fallbacks(rules: EscalationRules, state: DialogueState) -> str | None:
    """The priority of a handoff after `state.fallbacks` in a row, or None: not yet."""
    vip = is_vip(rules, state.profile)
    limit = fallback_limit(rules, vip)
    if limit and state.fallbacks >= limit:
        return "vip" if vip else "normal"
    return None


def wants_person(parse: Parse) -> bool:
    """An explicit request for a person: "转人工" or "talk to a human" anywhere, "人工" or
    "agent" as the whole message, or the intent or FAQ entry for it."""
    top, norm = parse.top, parse.normalized
    return bool(
        ctx.mentions("human", norm)
        or ctx.whole("human_bare", norm)
        or parse.intent == "common.human_agent"
        or (
            top is not None
            and top.entry_id == "common.human_agent"
            and parse.faq_outcome == "answer"
        )
    )


def skill_of(skills: Iterable[str | None]) -> str | None:
    """The first skill that routes to specialists ("bike", "lodging"): `common` is everyone's."""
    return next((s for s in skills if s and s != "common"), None)


def sustained(
    rules: EscalationRules,
    history: Iterable[Mapping[str, Any]],
    turn: int,
    now: Mapping[str, Any],
) -> Upset | None:
    """Has the customer been upset long enough that a person should take over? `history`
    holds earlier turns' `mood` and `positive` (`tone.feelings`); `now` is this turn's. Only
    an upset turn escalates: a calm one after an agent handed back doesn't re-open old anger."""
    moods: dict[int, Mapping[str, Any]] = {
        h["turn"]: h for h in history if isinstance(h.get("turn"), int) and "mood" in h
    }
    moods[turn] = now
    mood = now.get("mood")

    def last(n: int) -> list[Mapping[str, Any]]:
        return [moods.get(k, {}) for k in range(turn - n + 1, turn + 1)]

    def strongly_negative(entry: Mapping[str, Any]) -> bool:
        score = entry.get("positive")
        return (
            entry.get("mood") in ("angry", "negative")
            and isinstance(score, int | float)
            and score <= rules.negative_below
        )

    if rules.anger_turns and mood == "angry":
        angry = sum(1 for e in last(rules.anger_window) if e.get("mood") == "angry")
        if angry >= rules.anger_turns:
            return "anger"
    if rules.negative_turns and all(map(strongly_negative, last(rules.negative_turns))):
        return "negative"
    return None


def _words(group: str, lang: str) -> str:
    """The group's words in `lang` as a regex alternation (longest first); a zh word ending
    in 了 ends its clause ("孩子摔了", not "孩子摔了手机")."""
    words = sorted(ctx.lexicon()[group].get(lang, ()), key=len, reverse=True)
    if lang == "zh":
        return (
            "|".join(
                re.escape(w) + (rf"(?=[啊呀吧呢哦吗]|[^{_CJK}]|$)" if w.endswith("了") else "")
                for w in words
            )
            or "(?!)"
        )
    return "|".join(re.escape(w) for w in words) or "(?!)"


def _anywhere(group: str) -> str:
    """zh words anywhere, en words as whole words."""
    return rf"(?:{_words(group, 'zh')})|(?<![a-z])(?:{_words(group, 'en')})(?![a-z])"


@cache
def _patterns() -> dict[str, re.Pattern[str]]:
    child_zh, child_en = _words("minor", "zh"), _words("minor", "en")
    return {
        "not_safety": re.compile(_anywhere("not_safety")),
        "minor_things": re.compile(_anywhere("minor_things")),
        "minor_harm": re.compile(_anywhere("minor_harm")),
        # the child, then at once what happened to it
        "minor_harm_bound": re.compile(
            rf"(?:{child_zh}){_ZH_GAP}(?:{_words('minor_harm_bound', 'zh')})"
            rf"|(?<![a-z])(?:{child_en}){_EN_GAP}(?:{_words('minor_harm_bound', 'en')})(?![a-z])"
        ),
        # nobody can find the child: the words, then the child (not the child's things)
        "minor_lost": re.compile(
            rf"(?:{_words('minor_lost', 'zh')})[^的把\s,.!?;，。！？；]{{0,3}}?(?:{child_zh})(?!的)"
            rf"|(?<![a-z])(?:{_words('minor_lost', 'en')})\s+"
            rf"(?:(?:my|our|the|a|his|her|their|little)\s+)?(?:{child_en})(?![a-z]|\s*['’])"
        ),
    }


def _imagined(text: str, harm: re.Match[str]) -> bool:
    """Is the harm only imagined, in a question ("如果孩子摔倒了怎么办", "can kids get hurt?")?
    Only the clause that names it counts: "孩子摔伤了，保险能赔吗" reports one."""
    if not _ASKS.search(text.strip()):
        return False
    clause = max((m.end() for m in _CLAUSE.finditer(text, 0, harm.start())), default=0)
    return bool(
        _IMAGINES.search(text, clause, harm.end()) or _IMAGINES_AFTER.match(text, harm.end())
    )


def safety_word(normalized: str) -> str | None:
    """What makes the message a safety matter (someone hurt or in danger), else None.

    The lexicon's `safety` words anywhere, once phrases that only say one ("emergency
    contact", "by accident": `not_safety`) are left out. A child (`minor`) comes to harm when
    the message says harm itself (`minor_harm`), an everyday word right after the child
    (`minor_harm_bound`: "孩子从车上摔下来了", "my son fell off", but not "孩子把手机摔了" or
    "my son can't find the QR code"), or that the child can't be found (`minor_lost`), unless
    a question only imagines it; or reported riding (`minor_riding`, not in a question).
    Things named after children ("儿童座椅", "child seat") are not children."""
    patterns = _patterns()
    text = patterns["not_safety"].sub(" ", normalized)
    if found := ctx.mentions("safety", text):
        return found
    text = patterns["minor_things"].sub(" ", text)
    minor = ctx.mentions("minor", text)
    if not minor:
        return None
    for group in ("minor_harm", "minor_harm_bound", "minor_lost"):
        if any(not _imagined(text, harm) for harm in patterns[group].finditer(text)):
            return minor
    if ctx.mentions("minor_riding", text) and not _ASKS.search(text.strip()):
        return minor
    return None


# -- applying them to a turn --------------------------------------------------------------


def hand_off(
    turn: Turn,
    runner: FlowRunner,
    reason: str,
    priority: str,
    response: str,
    *,
    waiting: bool,
    **more: Any,
) -> None:
    """Hand the conversation to a person: the flows are dropped and the customer is told once
    (one already queued hears so, unless it is about safety, which raises the priority)."""
    turn.state.keep_for_agent()
    turn.state.frames.clear()
    turn.state.options, turn.state.options_slot = [], None
    if (waiting and reason != "safety") or response not in runner.responses:
        turn.replies.append((t("handoff.already_waiting", turn.lang), {"kind": "handoff"}))
    else:
        runner.say(turn, response, None, **more)
        text, payload = turn.replies[-1]
        turn.replies[-1] = (text, {**payload, "kind": "handoff"})
    turn.handoff = {"reason": reason, "priority": priority}


def route(
    turn: Turn,
    runner: FlowRunner,
    rules: EscalationRules,
    *,
    skill: str | None,
    waiting: bool,
    now: datetime,
) -> bool:
    """Give the turn's handoff its queue priority and skill. Outside business hours, any but a
    safety one (someone must see it; its reply says to call 120/110) becomes an invitation to
    leave a message: True then, and the turn hands off nothing."""
    handoff, ds = turn.handoff, turn.state
    assert handoff is not None
    handoff["priority"] = priority(handoff.get("priority"), is_vip(rules, ds.profile))
    handoff["skill"] = skill
    hours = rules.business_hours
    if hours is None or handoff["reason"] == "safety" or waiting or hours.is_open(now):
        ds.leave_message = False
        return False
    # Unsay what promised a person: handoff replies, and the handing-off flow step's own.
    flow = runner.flows.get(str(handoff.get("flow")))
    promised = {s.say for s in flow.steps if s.kind == "handoff" and s.say} if flow else set()
    dropped = [
        (text, payload)
        for text, payload in turn.replies
        if payload.get("kind") == "handoff" or payload.get("response") in promised
    ]
    turn.replies[:] = [r for r in turn.replies if r not in dropped]
    unsaid = {payload.get("response") for _, payload in dropped}
    turn.responses[:] = [name for name in turn.responses if name not in unsaid]
    turn.handoff = None
    ds.leave_message = True
    ds.leave_message_at = now.isoformat()
    runner.say(turn, "common.handoff.after_hours", None, hours=hours.describe(turn.lang))
    return True


LEAVE_MESSAGE_FOR = timedelta(hours=12)


def message_awaited(ds: DialogueState, rules: EscalationRules, now: datetime) -> bool:
    """Is the after-hours invitation still standing? It lapses once people are back (the
    customer can then be handed over) or after LEAVE_MESSAGE_FOR: a new question the next day
    is a new question, not the message left for the night."""
    if not ds.leave_message:
        return False
    try:
        since = datetime.fromisoformat(ds.leave_message_at or "")
    except ValueError:
        since = None  # a state stored before the time was kept: the invitation stands
    hours = rules.business_hours
    lapsed = (since is not None and now - since > LEAVE_MESSAGE_FOR) or (
        hours is not None and hours.is_open(now)
    )
    if lapsed:
        ds.leave_message, ds.leave_message_at = False, None
    return not lapsed


def take_message(turn: Turn, runner: FlowRunner, skill: str | None) -> str:
    """The message after an after-hours invitation becomes a ticket a person follows up (a
    cancel word declines). The ticket row links the stored message: the detail, which is not
    encrypted, never holds its text. Returns the decision's reason."""
    turn.state.leave_message, turn.state.leave_message_at = False, None
    if ctx.whole("cancel", turn.parse.normalized):
        runner.say(turn, "common.handoff.message_cancelled")
        return "leave_message_cancelled"
    ticket = f"KF{uuid.uuid4().hex[:8].upper()}"
    turn.effects.append(
        {
            "kind": "ticket",
            "ticket_id": ticket,
            "topic": "leave_message",
            "reason": "after_hours",
            "detail": {"skill": skill},
        }
    )
    runner.say(turn, "common.handoff.message_taken", None, ticket=ticket)
    return "leave_message"
