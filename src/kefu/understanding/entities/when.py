"""Dates, times, ranges and stays in Chinese and English, resolved against the message time.

Why a compact rule parser instead of a library (measured on Python 3.11, this machine):
- jionlp.parse_time: Chinese only, 0.45 s / 38 MB import (jiojio pulls 150 MB on disk), 6.5 ms
  to extract times from one short message, and "下周五晚上八点到周日中午" ends before it starts;
- dateparser: no Chinese relative forms, no spans from `parse`, 1-4 ms per `search_dates`
  (2.2 s for "Friday 8pm to Sunday noon"), reads "for 3 nights" as March 24;
- ctparse: English only, 2-17 ms a message; timefhuman 0.1.5 returned "now" for every example.
None meets a 3 ms parse budget with exact spans. The rules below cover what customers write to a
rental or lodging desk; what they don't cover is listed in the tests' known-gap cases.

Conventions (values are JSON-safe strings in the message time's zone):
- date "2026-11-25"; time "15:00"; datetime "2026-11-25T15:00:00";
- date_range {"start", "end"} with an inclusive end (a stay's end is the check-out day);
- datetime_range / time_range {"start", "end"}, end an instant; duration {"value", "unit"}.
- Chinese bare weekdays (周五) are in the current Monday-Sunday week, 下周五 in the next;
  English "Friday" is the coming one (today included), "next Friday" the one in next week.
- A month-day without a year (11月30日, Nov 30) and a bare day (20号) take the nearest such date.
- A spoken hour without am/pm ("三点", "at 3") from 1 to 6 is afternoon: people booking or
  returning a bike at 3 mean 15:00. Digital times (5:30) are taken as written.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from kefu.understanding.entities.candidates import Candidate
from kefu.understanding.entities.when_atoms import PERIOD_BOUNDS
from kefu.understanding.entities.when_parts import When, atoms

_JOIN = re.compile(r"\s*(?:的|,|at|on|around|about|@)?\s*")
_RANGE = re.compile(r"\s*(?:到|至|~|-|–|—|一直到|直到|to|until|till|til|through|thru|and)\s*")
_STAY_AFTER_DATE = re.compile(r"\s*(?:开始|起)?(?:入住)?,?\s*(?:连住|住|待|呆)?\s*|\s*for\s*")
_STAY_BEFORE_DATE = re.compile(r"\s+(?:from|starting(?:\s(?:on|from))?|beginning|checking in)\s+")
_MAX_YEAR = 9000  # keep date arithmetic far from datetime's limits


def _merge(text: str, atoms: list[When]) -> list[When]:
    """Join a date, a part of the day and a clock time that follow each other (明天 下午 三点,
    tomorrow morning at 9, 8pm on Friday) into one expression."""
    merged: list[When] = []
    for atom in atoms:
        last = merged[-1] if merged else None
        joinable = (
            last is not None
            and last.duration is None
            and last.relative is None
            and atom.duration is None
            and atom.relative is None
            and _JOIN.fullmatch(text, last.end, atom.start) is not None
            and not (last.day and atom.day)
            and not (last.clock and atom.clock)
            and not (last.period and atom.period)
            and not (atom.period and last.clock and not atom.day)
        )
        if last is not None and joinable:
            last.end = atom.end
            last.day = last.day or atom.day
            last.period = last.period or atom.period
            last.clock = last.clock or atom.clock
            last.extra |= atom.extra
        else:
            merged.append(atom)
    return merged


def find_times(text: str, now: dt.datetime) -> Iterator[Candidate]:
    if now.year > _MAX_YEAR or now.year < 2:
        return
    whens = _merge(text, list(atoms(text)))
    skip = False
    for i, when in enumerate(whens):
        if skip:
            skip = False
            continue
        nxt = whens[i + 1] if i + 1 < len(whens) else None
        try:
            combined = _combine(text, when, nxt, now) if nxt is not None else None
            if combined is not None:
                skip = True
                yield combined
                continue
            single = _single(when, now)
        except (ValueError, OverflowError):  # 2月30日, or a date past datetime's range
            continue
        if single is not None:
            yield single


def _combine(text: str, a: When, b: When, now: dt.datetime) -> Candidate | None:
    """A range (A 到 B, A to B) or a stay (周五住两晚, two nights from Friday)."""
    today = now.date()
    if (
        a.plain
        and not a.clock
        and not a.period
        and b.duration
        and b.duration[1] in ("night", "day")
        and _STAY_AFTER_DATE.fullmatch(text, a.end, b.start)
    ):
        return _stay(a, b.duration[0], a.start, b.end, today)
    if (
        a.duration
        and a.duration[1] in ("night", "day")
        and b.plain
        and not b.clock
        and _STAY_BEFORE_DATE.fullmatch(text, a.end, b.start)
    ):
        return _stay(b, a.duration[0], a.start, b.end, today)
    connector = _RANGE.fullmatch(text, a.end, b.start)
    if connector is None or a.duration or b.duration or a.relative or b.relative:
        return None
    if connector.group().strip() == "and" and not text[: a.start].endswith("between "):
        return None
    if connector.group().strip() in ("-", "–", "—") and not (a.clock or b.clock or a.day):
        return None
    return _range(a, b, now)


def _stay(when: When, nights: float, start: int, end: int, today: dt.date) -> Candidate | None:
    if when.day is None or nights != int(nights) or not 1 <= nights <= 365:
        return None
    first = when.day.resolve(today)
    value = {"start": first.isoformat(), "end": (first + dt.timedelta(days=nights)).isoformat()}
    return Candidate("date_range", start, end, value, "time")


def _point(when: When, day: dt.date | None, now: dt.datetime, last: bool) -> dt.datetime | None:
    """The instant a range side stands for; a day or part of a day gives its start (or end)."""
    if day is None:
        return None
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=now.tzinfo)
    if when.clock is not None:
        hour, minute, add = when.clock.resolve(when.period)
        return midnight + dt.timedelta(days=add, hours=hour, minutes=minute)
    if when.period in PERIOD_BOUNDS:
        return midnight + dt.timedelta(hours=PERIOD_BOUNDS[when.period][1 if last else 0])
    return midnight + dt.timedelta(days=1 if last else 0)


def _range(a: When, b: When, now: dt.datetime) -> Candidate | None:
    today = now.date()
    if a.day is None and b.day is None:
        if a.clock is None or b.clock is None:
            return None
        start_h, start_m, _ = a.clock.resolve(a.period or b.clock.period or b.period)
        # "下午三点到五点": the end keeps the start's part of the day.
        end_h, end_m, _ = b.clock.resolve(b.period or a.clock.period or a.period)
        value = {"start": f"{start_h:02d}:{start_m:02d}", "end": f"{end_h:02d}:{end_m:02d}"}
        return Candidate("time_range", a.start, b.end, value, "time")
    if (a.day is not None and a.day.kind == "weekend") or (
        b.day is not None and b.day.kind == "weekend"
    ):
        return None
    first = a.day.resolve(today) if a.day else today
    second = b.day.resolve(today) if b.day else first
    if b.day is not None and second < first:
        second = b.day.bump(second)
    if b.clock is not None and b.clock.period is None and b.period is None:
        b = When(b.start, b.end, b.day, a.clock.period if a.clock else a.period, b.clock)
    timed = a.clock or a.period or b.clock or b.period
    if not timed:
        if second < first:
            return None
        value = {"start": first.isoformat(), "end": second.isoformat()}
        return Candidate("date_range", a.start, b.end, value, "time")
    start, end = _point(a, first, now, last=False), _point(b, second, now, last=True)
    if start is None or end is None:
        return None
    if end <= start and b.day is None:
        end += dt.timedelta(days=1)  # 晚上十点到两点: into the next morning
    if end <= start:
        return None
    value = {"start": _iso(start), "end": _iso(end)}
    return Candidate("datetime_range", a.start, b.end, value, "time")


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _single(when: When, now: dt.datetime) -> Candidate | None:
    today = now.date()
    if when.relative is not None:
        amount, unit = when.relative
        if unit in ("day", "week", "month"):
            days = amount * {"day": 1, "week": 7, "month": 30}[unit]
            if days != int(days):
                return None
            return Candidate(
                "date", when.start, when.end, (today + dt.timedelta(days=days)).isoformat(), "time"
            )
        minutes = amount * (60 if unit == "hour" else 1)
        moment = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=minutes)
        return Candidate("datetime", when.start, when.end, _iso(moment), "time")
    if when.duration is not None:
        amount, unit = when.duration
        value = {"value": int(amount) if amount == int(amount) else amount, "unit": unit}
        return Candidate("duration", when.start, when.end, value, "time")
    if when.day is not None and when.day.kind == "weekend":
        saturday = when.day.resolve(today)
        value = {
            "start": saturday.isoformat(),
            "end": (saturday + dt.timedelta(days=1)).isoformat(),
        }
        return Candidate("date_range", when.start, when.end, value, "time")
    if when.day is None:
        if when.clock is None:
            return None  # a part of the day alone ("晚上", "morning") is too vague
        hour, minute, _ = when.clock.resolve(when.period)
        return Candidate("time", when.start, when.end, f"{hour:02d}:{minute:02d}", "time")
    day = when.day.resolve(today)
    if when.clock is not None:
        return Candidate(
            "datetime", when.start, when.end, _iso(_point(when, day, now, False) or now), "time"
        )
    if when.period in PERIOD_BOUNDS:
        start, end = _point(when, day, now, last=False), _point(when, day, now, last=True)
        if start is None or end is None:
            return None
        value = {"start": _iso(start), "end": _iso(end)}
        return Candidate("datetime_range", when.start, when.end, value, "time")
    return Candidate("date", when.start, when.end, day.isoformat(), "time")
