"""Date/time atoms turned into typed parts: `Day` (a date reference resolved against today),
`Clock` (a clock time whose am/pm may depend on the part of the day) and `When` (an expression
being assembled). See `when.py` for the conventions they implement."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kefu.understanding.entities.candidates import clear_before
from kefu.understanding.entities.numbers import to_number
from kefu.understanding.entities.when_atoms import (
    AM_PERIODS,
    ATOM,
    ATOM_KINDS,
    EN_MONTHS,
    EN_NUMBERS,
    EN_WEEKDAYS,
    NOON_PERIODS,
    PM_PERIODS,
    TRIGGER,
    UNITS,
    ZH_WEEKDAYS,
)

_SHIFT = {None: 0, "这": 0, "本": 0, "上": -1, "下": 1, "下下": 2}
_EN_SHIFT = {None: 0, "this": 0, "coming": 0, "this coming": 0, "next": 1, "last": -1}
_RDAY = {"大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0}
_RDAY |= {"明天": 1, "明日": 1, "后天": 2, "大后天": 3, "today": 0, "tomorrow": 1, "tmr": 1}
_RDAY |= {"tmrw": 1, "yesterday": -1, "the day after tomorrow": 2, "day after tomorrow": 2}
_RDAY |= {"the day before yesterday": -2}
_RDAY_PERIOD = {"今早": (0, "早上"), "今晚": (0, "晚上"), "明早": (1, "早上"), "明晚": (1, "晚上")}
_RDAY_PERIOD |= {"昨晚": (-1, "晚上"), "tonight": (0, "night")}
_NIGHT = frozenset(("晚上", "夜里", "夜间", "晚", "evening", "night"))


MAX_ATOMS = 128
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Day:
    """A date reference: `kind` says how `a, b, c` are read; resolved against today."""

    kind: str  # offset | fixed | weekday_zh | weekday_en | monthday | day | weekend
    a: int = 0
    b: int = 0
    c: int | None = None

    def resolve(self, today: dt.date) -> dt.date:
        if self.kind == "offset":
            return today + dt.timedelta(days=self.a)
        if self.kind == "fixed":
            return dt.date(self.a, self.b, self.c or 1)
        if self.kind in ("weekday_zh", "weekend"):  # a = weekday, b = weeks from this one
            monday = today - dt.timedelta(days=today.weekday())
            return monday + dt.timedelta(days=7 * self.b + self.a)
        if self.kind == "weekday_en":  # b = 0: the coming one (today included); +-1: next/last week
            if self.b == 0:
                return today + dt.timedelta(days=(self.a - today.weekday()) % 7)
            monday = today - dt.timedelta(days=today.weekday())
            return monday + dt.timedelta(days=7 * self.b + self.a)
        if self.kind == "monthday_rel":  # c = years from this one (明年1月5日)
            return dt.date(today.year + (self.c or 0), self.a, self.b)
        if self.kind == "monthday":  # a = month, b = day, c = year or None
            if self.c is not None:
                return dt.date(self.c, self.a, self.b)
            options = [_safe_date(today.year + k, self.a, self.b) for k in (-1, 0, 1)]
            return min((d for d in options if d), key=lambda d: abs((d - today).days))
        if self.kind == "day":  # a = day of month, c = month shift or None for the nearest
            shifts = (self.c,) if self.c is not None else (-1, 0, 1)
            options = [_month_day(today, k, self.a) for k in shifts]
            return min((d for d in options if d), key=lambda d: abs((d - today).days))
        raise ValueError(self.kind)

    def bump(self, day: dt.date) -> dt.date:
        """The next occurrence after `day`, for a range end written before its start."""
        if self.kind in ("weekday_zh", "weekday_en"):
            return day + dt.timedelta(days=7)
        if self.kind == "day" and self.c is None:
            return _month_day(day, 1, self.a) or day
        if self.kind == "monthday" and self.c is None:
            return _safe_date(day.year + 1, self.a, self.b) or day
        return day


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _month_day(today: dt.date, shift: int, day: int) -> dt.date | None:
    month = today.month - 1 + shift
    year, month = today.year + month // 12, month % 12 + 1
    return _safe_date(year, month, day) if day <= calendar.monthrange(year, month)[1] else None


@dataclass(frozen=True, slots=True)
class Clock:
    hour: int
    minute: int
    period: str | None = None
    spoken: bool = True  # "三点", "at 3": am/pm is guessed; "5:30" is taken as written

    def resolve(self, period: str | None) -> tuple[int, int, int]:
        """(hour, minute, days to add) once the part of the day is known."""
        hour, period = self.hour, self.period or period
        if hour == 24:
            return 0, self.minute, 1
        if period in PM_PERIODS and hour < 12:
            hour += 12
        elif period in _NIGHT and hour == 12:
            return 0, self.minute, 1  # 晚上十二点: midnight at the end of that day
        elif period in NOON_PERIODS and hour < 6:
            hour += 12
        elif period in AM_PERIODS and hour == 12:
            hour = 0
        elif period is None and self.spoken and 1 <= hour <= 6:
            hour += 12
        return hour, self.minute, 0


@dataclass(slots=True)
class When:
    start: int
    end: int
    day: Day | None = None
    period: str | None = None
    clock: Clock | None = None
    duration: tuple[float, str] | None = None  # (value, unit) of "3 nights", "2小时"
    relative: tuple[float, str] | None = None  # "in 2 hours" (+), "3天前" (-)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def plain(self) -> bool:
        return (
            self.duration is None
            and self.relative is None
            and self.day is not None
            and (self.day.kind != "weekend")
        )


def _count(text: str) -> float | None:
    text = text.strip()
    if text.startswith("half") or text == "半":
        return 0.5
    if text in EN_NUMBERS:
        return EN_NUMBERS[text]
    value = to_number(text)
    return float(value) if value is not None else None


def _unit(text: str) -> str | None:
    return UNITS.get(text) or UNITS.get(text.rstrip("s"))


def _atom(match: re.Match[str]) -> When | None:
    kind = next(k for k in ATOM_KINDS if match[f"k_{k}"] is not None)
    atom = When(match.start(), match.end())
    g = match.group
    if kind in ("rel_zh", "rel_en", "rel_en2"):
        n = _count(g("zr_n") or g("er_n") or g("er2_n"))
        unit = _unit(g("zr_u") or g("er_u") or g("er2_u"))
        back = (g("zr_dir") or "").endswith("前") or g("er2_dir") == "ago"
        if n is None or unit is None or unit == "night" or n > 1000:
            return None
        atom.relative = (-n if back else n, unit)
    elif kind == "iso":
        atom.day = Day("fixed", int(g("iso_y")), int(g("iso_m")), int(g("iso_d")))
    elif kind == "md_zh":
        day = _count(g("zm_d"))
        if day is None:
            return None
        if g("zm_mr"):
            shift = 1 if g("zm_mr").startswith("下") else -1 if g("zm_mr").startswith("上") else 0
            atom.day = Day("day", int(day), 0, shift)
        else:
            month = _count(g("zm_m"))
            if month is None:
                return None
            if g("zm_yr"):
                years = {"今年": 0, "明年": 1, "去年": -1}[g("zm_yr")]
                atom.day = Day("monthday_rel", int(month), int(day), years)
            else:
                year = int(g("zm_y")) if g("zm_y") else None
                atom.day = Day("monthday", int(month), int(day), year)
    elif kind == "md_en":
        month = EN_MONTHS[g("em_mon") or g("em_mon2")]
        written = g("em_y") or g("em_y2")
        day_of = int(g("em_d") or g("em_d2"))
        atom.day = Day("monthday", month, day_of, int(written) if written else None)
    elif kind == "slash":
        written = g("sl_y")
        atom.day = Day(
            "monthday", int(g("sl_m")), int(g("sl_d")), int(written) if written else None
        )
    elif kind in ("rday_zh", "rday_en"):
        word = g("zrd") or g("erd")
        if word in _RDAY_PERIOD:
            offset, atom.period = _RDAY_PERIOD[word]
        else:
            offset = _RDAY[word]
        atom.day = Day("offset", offset)
    elif kind == "weekday_zh":
        atom.day = Day("weekday_zh", ZH_WEEKDAYS[g("zw_d")], _SHIFT[g("zw_p")])
    elif kind == "weekday_en":
        name, prefix = g("ew_d"), g("ew_p")
        if prefix is None and name in ("sat", "sun", "mon", "wed"):
            return None  # "I sat", "the sun": too common as words
        atom.day = Day("weekday_en", EN_WEEKDAYS[name[:3]], _EN_SHIFT[prefix])
    elif kind in ("weekend_zh", "weekend_en"):
        prefix = g("zwe_p") or g("ewe_p")
        atom.day = Day("weekend", 5, _SHIFT.get(prefix, _EN_SHIFT.get(prefix, 0)))
    elif kind == "time_en":
        atom.clock = _clock_en(match)
    elif kind == "time_zh":
        atom.clock = _clock_zh(match)
        if atom.clock is None:
            return None
    elif kind in ("period_zh", "period_en"):
        word = g("zp") or g("ep")
        if word in ("中午",):
            atom.clock = Clock(12, 0, "中午", spoken=False)
        elif word in ("午夜",):
            atom.clock = Clock(24, 0, None, spoken=False)
        else:
            atom.period = word
    elif kind in ("dur_zh", "dur_en"):
        n = _count(g("zu_n") or g("ed_n"))
        unit = _unit(g("zu_u") or g("ed_u"))
        if n is None or unit is None or n <= 0 or n > 1000:
            return None
        if g("zu_u") == "月" and not g("zu_g"):
            return None  # "3月" is March, "3个月" three months
        if g("ed_n") in ("a", "an") and unit not in ("hour", "night", "week"):
            return None  # "a day", "a minute" are mostly idioms
        atom.duration = (n, unit)
    elif kind == "day_zh":
        day = _count(g("zd_d"))
        if day is None or not 1 <= day <= 31:
            return None
        atom.day = Day("day", int(day))
    return atom if atom.clock is None or atom.clock.hour <= 24 else None


def _clock_en(match: re.Match[str]) -> Clock | None:
    g = match.group
    if g("et_n"):
        return Clock(24 if g("et_n") == "midnight" else 12, 0, None, spoken=False)
    if g("et_h"):
        period = "pm" if g("et_ap").startswith("p") else "am"
        hour = int(g("et_h"))
        return Clock(hour, int(g("et_m") or 0), period) if 1 <= hour <= 12 else None
    if g("et_ev"):
        return Clock(int(g("et_ev")), int(g("et_evm") or 0), g("et_evp"))
    return Clock(int(g("et_oc") or g("et_at")), 0)


def _clock_zh(match: re.Match[str]) -> Clock | None:
    g = match.group
    period = g("zt_p")
    if g("zt_hh"):
        return Clock(int(g("zt_hh")), int(g("zt_mm")), period, spoken=False)
    hour = _count(g("zt_h"))
    if hour is None or hour != int(hour):
        return None
    minute: float | None = 0
    if g("zt_half"):
        minute = 30
    elif g("zt_q"):
        minute = 15 if g("zt_q") == "一刻" else 45
    elif g("zt_m") or g("zt_m2"):
        minute = _count(g("zt_m") or g("zt_m2"))
    if minute is None or not 0 <= minute < 60:
        return None
    # "一点" alone is usually "a little" (快一点, 有一点): only a time with more context.
    if g("zt_h") == "一" and not period and match.group() in ("一点", "一时"):
        return None
    return Clock(int(hour), int(minute), period)


def atoms(text: str) -> Iterator[When]:
    """Atoms left to right, not overlapping. The big alternation is tried only where an atom
    can start (a digit or numeral run, a letter run, a date/time keyword): trying it at every
    character costs ~40 ms on a 10k-character message, this ~2 ms."""
    resume = found = 0
    for trigger in TRIGGER.finditer(text):
        if found >= MAX_ATOMS:
            return  # a pasted calendar or an attack: keep within the time budget
        if trigger.start() < resume:
            continue
        if trigger.group()[0].isascii() and not clear_before(text, trigger.start(), _LETTERS):
            continue  # an English word must start at a word start ("within", not "in")
        match = ATOM.match(text, trigger.start())
        if match is None or match.end() == match.start():
            continue
        atom = _atom(match)
        if atom is not None:
            resume, found = match.end(), found + 1
            yield atom
