"""Hot topics: an intent or a place (a station, a shop) suddenly asked about far more than usual.

The rule, per hourly bucket (local day and hour) of the current window and per key (an intent id,
or the first `place` entity of a turn):

- count: conversations with at least one turn on that key in that hour (not turns, so one
  customer repeating themselves is not a spike);
- expected: the key's mean count at the same hour of day over the baseline days before the
  bucket's day (only days with any traffic count, so a new deployment isn't measured against
  empty days), at least `min_expected`, so a key never seen before needs `min_ratio` x that;
- score: the Poisson surprise -log10 P(X >= count | mean = expected);
- flagged when count >= `min_count`, count >= `min_ratio` x expected, score >= `min_score` (so
  at small counts, where 3x is noise, it takes more: 9 against an expected 2, 6 against 1), and
  the baseline has at least `min_baseline_days` days of traffic. Topics are ranked by score.

`detect_spikes` is the rule alone (no I/O, deterministic); `hot_topics` reads the counts from
`TurnFact` with GROUP BY queries and adds the detail of each flagged bucket. Posting alerts to a
webhook lives in `alerts_webhook`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, distinct, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from kefu.analytics.filters import Filters
from kefu.analytics.models import ConversationFact, TurnFact

if TYPE_CHECKING:
    from kefu.config import Settings

Kind = Literal["intent", "place"]
KINDS: tuple[Kind, ...] = ("intent", "place")
MAX_SAMPLES = 10
WINDOW_HOURS = 24


@dataclass(frozen=True)
class SpikeRules:
    min_count: int = 5  # conversations in the hour
    min_ratio: float = 3.0  # times the expected count
    min_expected: float = 1.0  # floor of the expected count
    min_score: float = 3.0  # Poisson surprise: P(X >= count) <= 0.1 %
    baseline_days: int = 7
    min_baseline_days: int = 3  # fewer days of history: no verdict

    @classmethod
    def from_settings(cls, settings: Settings) -> SpikeRules:
        return cls(
            min_count=settings.analytics_spike_min_count,
            min_ratio=settings.analytics_spike_min_ratio,
            baseline_days=settings.analytics_baseline_days,
        )


class Bucket(NamedTuple):
    kind: Kind
    value: str
    day: date
    hour: int


@dataclass(frozen=True)
class HotTopic:
    kind: Kind
    value: str
    day: date  # local
    hour: int  # local, 0-23
    count: int
    expected: float
    ratio: float
    score: float
    intent: str | None = None  # for a place: the most frequent intent of those turns
    conversations: tuple[str, ...] = ()  # up to MAX_SAMPLES, earliest first
    breakdown: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # skill/channel/...

    @property
    def key(self) -> str:
        """Identifies the spike for deduplication: kind:value:day:hour."""
        return f"{self.kind}:{self.value}:{self.day.isoformat()}:{self.hour:02d}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "value": self.value,
            "intent": self.intent,
            "day": self.day.isoformat(),
            "hour": self.hour,
            "count": self.count,
            "expected": self.expected,
            "ratio": self.ratio,
            "score": self.score,
            "conversations": list(self.conversations),
            "breakdown": {name: dict(counts) for name, counts in self.breakdown.items()},
        }


def poisson_surprise(count: int, expected: float) -> float:
    """-log10 P(X >= count) for X ~ Poisson(expected), computed in log space so large counts
    don't underflow to infinity."""
    if count <= 0:
        return 0.0
    lam = max(expected, 1e-9)
    log_lam = math.log(lam)
    if count <= lam:  # not in the tail: 1 - P(X < count) is accurate enough
        below = sum(math.exp(k * log_lam - lam - math.lgamma(k + 1)) for k in range(count))
        return round(-math.log10(max(1.0 - below, 1e-300)), 3)
    # Tail = pmf(count) * (1 + lam/(count+1) + lam^2/((count+1)(count+2)) + ...): converges fast.
    log_pmf = count * log_lam - lam - math.lgamma(count + 1)
    total, term, k = 1.0, 1.0, count
    while term > 1e-12 * total and k < count + 10_000:
        k += 1
        term *= lam / k
        total += term
    return round(-(log_pmf + math.log(total)) / math.log(10), 3)


def detect_spikes(
    current: Mapping[Bucket, int],
    baseline: Mapping[Bucket, int],
    data_days: Collection[date],
    rules: SpikeRules = SpikeRules(),
) -> list[HotTopic]:
    """The buckets of `current` whose count is well above the same hour on the baseline days
    (`baseline` holds the counts of those earlier buckets; missing ones are 0). `data_days` are
    the days with any traffic. Sorted by score, then count, then key: deterministic."""
    days = set(data_days)
    found: list[HotTopic] = []
    for bucket, count in current.items():
        if count < rules.min_count:
            continue
        history = [
            bucket.day - timedelta(days=n)
            for n in range(1, rules.baseline_days + 1)
            if bucket.day - timedelta(days=n) in days
        ]
        if len(history) < rules.min_baseline_days:
            continue
        total = sum(baseline.get(bucket._replace(day=day), 0) for day in history)
        expected = max(total / len(history), rules.min_expected)
        score = poisson_surprise(count, expected)
        if count < rules.min_ratio * expected or score < rules.min_score:
            continue
        found.append(
            HotTopic(
                kind=bucket.kind,
                value=bucket.value,
                day=bucket.day,
                hour=bucket.hour,
                count=count,
                expected=round(expected, 3),
                ratio=round(count / expected, 2),
                score=score,
            )
        )
    found.sort(key=lambda t: (-t.score, -t.count, t.kind, t.value, t.day, t.hour))
    return found


# -- reading the counts ------------------------------------------------------------------------


def current_window(filters: Filters, now: datetime, tz: ZoneInfo) -> list[tuple[date, int]]:
    """The hours to inspect: the last 24 up to `now` when the range reaches today, else the
    range's last day; never before the range's first day. Oldest first."""
    local = now.astimezone(tz)
    if filters.until >= local.date():
        end = (local.date(), local.hour)
        hours = []
        day, hour = end
        for _ in range(WINDOW_HOURS):
            hours.append((day, hour))
            day, hour = (day, hour - 1) if hour else (day - timedelta(days=1), 23)
        hours.reverse()
    else:
        hours = [(filters.until, h) for h in range(24)]
    return [(d, h) for d, h in hours if d >= filters.since]


def _column(kind: Kind) -> InstrumentedAttribute[str | None]:
    return TurnFact.intent if kind == "intent" else TurnFact.place


def _hours_clause(hours: Iterable[tuple[date, int]]) -> ColumnElement[bool]:
    by_day: dict[date, list[int]] = {}
    for day, hour in hours:
        by_day.setdefault(day, []).append(hour)
    return or_(
        *(
            and_(TurnFact.local_day == day, TurnFact.local_hour.in_(sorted(hs)))
            for day, hs in sorted(by_day.items())
        )
    )


def hot_topics(
    session: Session,
    tenant_id: int,
    filters: Filters,
    *,
    now: datetime,
    tz: ZoneInfo,
    rules: SpikeRules | None = None,
    limit: int = 50,
) -> list[HotTopic]:
    """Spikes in the latest hours of `filters`' range (`current_window`), against the
    `rules.baseline_days` before them, with the filters' skill, channel and language."""
    rules = rules or SpikeRules()
    window = current_window(filters, now, tz)
    if not window:
        return []
    first, last = window[0][0], window[-1][0]
    history_start = first - timedelta(days=rules.baseline_days)
    # The filters' dimensions over the whole span read (the baseline may precede the range).
    span = dataclasses.replace(filters, since=history_start, until=last).turns()
    scope = and_(TurnFact.tenant_id == tenant_id, span)
    conversations = func.count(distinct(TurnFact.conversation_id))

    current: dict[Bucket, int] = {}
    for kind in KINDS:
        column = _column(kind)
        rows = session.execute(
            select(column, TurnFact.local_day, TurnFact.local_hour, conversations)
            .where(scope, column.is_not(None), _hours_clause(window))
            .group_by(column, TurnFact.local_hour, TurnFact.local_day)
            .having(conversations >= rules.min_count)
        )
        for value, day, hour, count in rows:
            current[Bucket(kind, str(value), day, int(hour))] = int(count)
    if not current:
        return []

    # Days with any traffic, from the smaller conversations table.
    days_scope = dataclasses.replace(filters, since=history_start, until=last).conversations()
    data_days = set(
        session.scalars(
            select(ConversationFact.local_day)
            .where(ConversationFact.tenant_id == tenant_id, days_scope)
            .where(ConversationFact.local_day < last)
            .group_by(ConversationFact.local_day)
        )
    )
    baseline: dict[Bucket, int] = {}
    for kind in KINDS:
        values = sorted({b.value for b in current if b.kind == kind})
        if not values:
            continue
        column = _column(kind)
        hours = sorted({b.hour for b in current if b.kind == kind})
        rows = session.execute(
            select(column, TurnFact.local_day, TurnFact.local_hour, conversations)
            .where(
                scope,
                TurnFact.local_day < last,
                column.in_(values),
                TurnFact.local_hour.in_(hours),
            )
            .group_by(column, TurnFact.local_hour, TurnFact.local_day)
        )
        for value, day, hour, count in rows:
            baseline[Bucket(kind, str(value), day, int(hour))] = int(count)

    spikes = detect_spikes(current, baseline, data_days, rules)[:limit]
    return [_detailed(session, scope, topic) for topic in spikes]


def _detailed(session: Session, scope: ColumnElement[bool], topic: HotTopic) -> HotTopic:
    """The bucket's sample conversations, breakdown and (for a place) leading intent."""
    column = _column(topic.kind)
    where = and_(
        scope,
        column == topic.value,
        TurnFact.local_day == topic.day,
        TurnFact.local_hour == topic.hour,
    )
    first_seen = func.min(TurnFact.created_at)
    samples = session.execute(
        select(TurnFact.conversation_id, first_seen)
        .where(where)
        .group_by(TurnFact.conversation_id)
        .order_by(first_seen, TurnFact.conversation_id)
        .limit(MAX_SAMPLES)
    ).all()
    # Skill, channel and language are the conversation's: each conversation is in one group.
    groups = session.execute(
        select(
            TurnFact.skill,
            TurnFact.channel,
            TurnFact.language,
            func.count(distinct(TurnFact.conversation_id)),
        )
        .where(where)
        .group_by(TurnFact.skill, TurnFact.channel, TurnFact.language)
    ).all()
    breakdown: dict[str, dict[str, int]] = {}
    for position, name in enumerate(("skill", "channel", "language")):
        counts: dict[str, int] = {}
        for row in groups:
            counts[str(row[position])] = counts.get(str(row[position]), 0) + int(row[3])
        breakdown[name] = dict(sorted(counts.items()))
    leading = topic.value
    if topic.kind == "place":  # the intent of most of those turns; ties: the first by name
        turns = func.count()
        leading = session.scalar(
            select(TurnFact.intent)
            .where(where, TurnFact.intent.is_not(None))
            .group_by(TurnFact.intent)
            .order_by(turns.desc(), TurnFact.intent)
            .limit(1)
        )
    return dataclasses.replace(
        topic,
        intent=leading,
        conversations=tuple(str(cid) for cid, _ in samples),
        breakdown=breakdown,
    )
