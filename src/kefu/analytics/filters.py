"""The dashboard's filters: a date range in the deployment's time zone and three dimensions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_

from kefu.analytics.models import ConversationFact, TurnFact
from kefu.errors import InvalidInput

DEFAULT_DAYS = 30
MAX_DAYS = 366 * 3


@dataclass(frozen=True)
class Filters:
    since: date
    until: date  # inclusive
    skill: str | None = None
    channel: str | None = None
    language: str | None = None

    @classmethod
    def of(
        cls,
        tz: ZoneInfo,
        since: date | None = None,
        until: date | None = None,
        skill: str | None = None,
        channel: str | None = None,
        language: str | None = None,
        *,
        today: date | None = None,
    ) -> Filters:
        """Defaults: the last 30 days up to today (the deployment's today)."""
        today = today or datetime.now(tz).date()
        until = until or (today if since is None else max(today, since))
        since = since or until - timedelta(days=DEFAULT_DAYS - 1)
        if since > until:
            raise InvalidInput(f"since ({since}) is after until ({until})", code="invalid_range")
        if (until - since).days >= MAX_DAYS:
            raise InvalidInput(f"a range is at most {MAX_DAYS} days", code="invalid_range")
        return cls(since, until, skill or None, channel or None, language or None)

    @property
    def days(self) -> list[date]:
        return [self.since + timedelta(days=n) for n in range((self.until - self.since).days + 1)]

    def conversations(self) -> ColumnElement[bool]:
        return self._clause(ConversationFact)

    def turns(self) -> ColumnElement[bool]:
        return self._clause(TurnFact)

    def _clause(self, table: type[ConversationFact] | type[TurnFact]) -> ColumnElement[bool]:
        parts = [table.local_day >= self.since, table.local_day <= self.until]
        if self.skill:
            parts.append(table.skill == self.skill)
        if self.channel:
            parts.append(table.channel == self.channel)
        if self.language:
            parts.append(table.language == self.language)
        return and_(*parts)

    def as_dict(self) -> dict[str, str | None]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "skill": self.skill,
            "channel": self.channel,
            "language": self.language,
        }
