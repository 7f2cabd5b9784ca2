"""The demo operator's tariffs, time and phone rules, shared by the seed (to price rides) and
the backend (to judge refunds), so the two never disagree."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers

from kefu.backends.demo.city import TIMEZONE

LOCAL = ZoneInfo(TIMEZONE)
# Typical speeds: a ride's expected duration from its distance.
SPEED_KMH = {"standard": 12.0, "ebike": 18.0, "cargo": 9.0, "scooter": 18.0}
PASS_FREE_MIN = 120  # monthly-pass holders ride standard bikes free for the first 2 h


def fare_cents(bike_type: str, minutes: float, *, has_pass: bool = False) -> int:
    """Standard 1.5 CNY per started 30 min; e-bike and scooter 3 CNY to start plus 1 CNY per
    started 10 min; cargo 4 CNY per started 30 min. A pass makes a standard ride's first 2 h
    free."""
    minutes = max(minutes, 1.0)
    if bike_type == "standard":
        if has_pass:
            minutes -= PASS_FREE_MIN
            if minutes <= 0:
                return 0
        return 150 * math.ceil(minutes / 30)
    if bike_type == "cargo":
        return 400 * math.ceil(minutes / 30)
    return 300 + 100 * math.ceil(minutes / 10)


def expected_fare_cents(bike_type: str, distance_km: float, *, has_pass: bool = False) -> int:
    """What a ride of this distance should cost at the bike's typical speed."""
    minutes = distance_km / SPEED_KMH.get(bike_type, 12.0) * 60
    return fare_cents(bike_type, minutes, has_pass=has_pass)


def local_time(day: date, hhmm: str) -> datetime:
    """A local wall-clock time on a local day, in UTC."""
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), LOCAL).astimezone(UTC)


def local_day(moment: datetime) -> date:
    return moment.astimezone(LOCAL).date()


def start_of_local_day(moment: datetime) -> datetime:
    return local_time(local_day(moment), "00:00")


def next_local_day(moment: datetime) -> datetime:
    return local_time(local_day(moment) + timedelta(days=1), "00:00")


def to_e164(phone: str) -> str | None:
    try:
        parsed = phonenumbers.parse(phone, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """+8613812345678 -> "+86 138****5678"."""
    parsed = phonenumbers.parse(e164)
    national = str(parsed.national_number)
    return f"+{parsed.country_code} {national[:3]}****{national[-4:]}"
