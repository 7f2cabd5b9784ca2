"""The demo operator's shared-lodging side of `OperatorBackend` (mixed into `DemoBackend`).

Policies; the `reason` codes are the ones the skills' templates explain (times are local,
Asia/Shanghai, "HH:MM"):

- change_booking early_checkin: before 12:00 -> `too_early`; the listing occupied the night
  before -> `fully_booked`; else approved, `free` for vip (or when the time is no earlier than
  the usual check-in) or `fee` of 50 CNY, and the booking's check-in moves.
  late_checkout: after 14:00 -> `too_late`; another guest arriving that day ->
  `fully_booked`; else the same fee rule and the check-out moves. A cancelled or completed
  booking (or an early check-in once checked in) -> `not_changeable`. A time that isn't
  HH:MM, or an unknown change, is `BackendError("refused")`.
- cancel_booking: already cancelled -> `already_cancelled`; checked in or completed ->
  `not_cancellable`; over 48 h before check-in -> `full_refund`; 24-48 h -> `partial_refund`
  (50%); under 24 h -> `no_refund` (still cancelled).
- checkin_guide and door_code refuse (`BackendError("refused")`) for a cancelled or completed
  booking; route_to_listing knows each city's airports and stations, and gives the last leg
  for any other origin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, Engine, bindparam, select, update

from kefu.backends.base import (
    BackendError,
    Booking,
    CancelDecision,
    ChangeDecision,
    CheckinGuide,
    Route,
)
from kefu.backends.demo.models import BOOKINGS, CUSTOMERS, LISTINGS, AnyRow
from kefu.backends.demo.policy import local_day, local_time, next_local_day, start_of_local_day

EARLIEST_CHECKIN = "12:00"
LATEST_CHECKOUT = "14:00"
CHANGE_FEE_CENTS = 5000
_TIME = re.compile(r"\s*(\d{1,2})\s*[:：.]\s*(\d{2})\s*|\s*(\d{1,2})\s*")

_BOOKING_COLUMNS = (
    *BOOKINGS.c,
    LISTINGS.c.name.label("listing_name"),
    LISTINGS.c.address_zh,
    LISTINGS.c.address_en,
    LISTINGS.c.check_in_from,
    LISTINGS.c.check_out_by,
    CUSTOMERS.c.language,
    CUSTOMERS.c.tier,
)
_JOINED = BOOKINGS.join(LISTINGS).join(CUSTOMERS)
_BOOKING = (
    select(*_BOOKING_COLUMNS)
    .select_from(_JOINED)
    .where(BOOKINGS.c.booking_id == bindparam("booking_id"))
)
_BOOKING_LOCKED = _BOOKING.with_for_update(of=BOOKINGS)
_BOOKINGS_OF = (
    select(*_BOOKING_COLUMNS)
    .select_from(_JOINED)
    .where(BOOKINGS.c.customer_id == bindparam("customer"))
)
_CUSTOMER_EXISTS = select(CUSTOMERS.c.id).where(CUSTOMERS.c.id == bindparam("customer"))
_GUIDE = (
    select(
        BOOKINGS.c.status,
        LISTINGS.c.guide,
        LISTINGS.c.wifi,
        LISTINGS.c.check_in_from,
        LISTINGS.c.check_out_by,
    )
    .select_from(BOOKINGS.join(LISTINGS))
    .where(BOOKINGS.c.booking_id == bindparam("booking_id"))
)
_DOOR = select(BOOKINGS.c.status, BOOKINGS.c.door_code).where(
    BOOKINGS.c.booking_id == bindparam("booking_id")
)
_LISTING = select(
    LISTINGS.c.listing_id, LISTINGS.c.address_zh, LISTINGS.c.address_en, LISTINGS.c.routes
).where(LISTINGS.c.listing_id == bindparam("listing_id"))
# Another live booking of the listing overlapping [since, until).
_OCCUPIED = (
    select(BOOKINGS.c.booking_id)
    .where(
        BOOKINGS.c.listing_id == bindparam("listing_id"),
        BOOKINGS.c.booking_id != bindparam("booking_id"),
        BOOKINGS.c.status != "cancelled",
        BOOKINGS.c.check_in < bindparam("until", type_=BOOKINGS.c.check_in.type),
        BOOKINGS.c.check_out > bindparam("since", type_=BOOKINGS.c.check_out.type),
    )
    .limit(1)
)
_SET_BOOKING = update(BOOKINGS).where(BOOKINGS.c.booking_id == bindparam("b_booking_id"))


def _booking_key(value: str) -> str:
    return value.strip().upper()


def _listing_key(value: str) -> str:
    """L-10001, l10001 and L 10001 are the same listing."""
    match = re.fullmatch(r"\s*[Ll]\s*-?\s*(\d{5})\s*", value)
    return f"L-{match[1]}" if match else value.strip()


def parse_time(value: str) -> str | None:
    """ "9:30", "09：30" or "14" -> "09:30" / "14:00"; None when it isn't a time of day."""
    match = _TIME.fullmatch(value)
    if match is None:
        return None
    hours = int(match[1] or match[3])
    minutes = int(match[2] or 0)
    if hours > 23 or minutes > 59:
        return None
    return f"{hours:02d}:{minutes:02d}"


def _language(language: str) -> Literal["zh", "en"]:
    return "zh" if language.lower().startswith("zh") else "en"


def _booking(row: AnyRow) -> Booking:
    address = row.address_en if row.language == "en" else row.address_zh
    return Booking(
        booking_id=row.booking_id,
        listing_id=row.listing_id,
        listing_name=row.listing_name,
        address=address,
        check_in=row.check_in,
        check_out=row.check_out,
        guests=row.guests,
        status=row.status,
        total_cents=row.total_cents,
    )


class DemoLodging:
    _engine: Engine
    _reader: Engine
    _clock: Callable[[], datetime]

    def bookings(self, customer: str) -> list[Booking]:
        now = self._clock()
        with self._reader.connect() as conn:
            rows = conn.execute(_BOOKINGS_OF, {"customer": customer}).all()
            if not rows and conn.execute(_CUSTOMER_EXISTS, {"customer": customer}).first() is None:
                raise BackendError("not_found", f"no customer {customer!r}", operation="bookings")
        # The next stay first: live stays soonest first, then the rest newest first.
        live = [r for r in rows if r.status in ("confirmed", "checked_in") and r.check_out > now]
        rest = [r for r in rows if r not in live]
        live.sort(key=lambda r: r.check_in)
        rest.sort(key=lambda r: r.check_in, reverse=True)
        return [_booking(r) for r in (*live, *rest)]

    def booking(self, booking_id: str) -> Booking:
        with self._reader.connect() as conn:
            return _booking(self._booking_row(conn, booking_id, "booking"))

    def checkin_guide(self, booking_id: str, language: str) -> CheckinGuide:
        key = _booking_key(booking_id)
        with self._reader.connect() as conn:
            row = conn.execute(_GUIDE, {"booking_id": key}).first()
        if row is None:
            raise BackendError("not_found", f"no booking {booking_id!r}", operation="checkin_guide")
        if row.status in ("cancelled", "completed"):
            raise BackendError("refused", f"booking is {row.status}", operation="checkin_guide")
        return CheckinGuide(
            booking_id=key,
            check_in_from=row.check_in_from,
            check_out_by=row.check_out_by,
            steps=row.guide[_language(language)],
            wifi=row.wifi,
        )

    def door_code(self, booking_id: str) -> str:
        with self._reader.connect() as conn:
            row = conn.execute(_DOOR, {"booking_id": _booking_key(booking_id)}).first()
        if row is None:
            raise BackendError("not_found", f"no booking {booking_id!r}", operation="door_code")
        if row.status in ("cancelled", "completed"):
            raise BackendError("refused", f"booking is {row.status}", operation="door_code")
        return str(row.door_code)

    def route_to_listing(self, listing_id: str, origin: str | None, language: str) -> Route:
        with self._reader.connect() as conn:
            row = conn.execute(_LISTING, {"listing_id": _listing_key(listing_id)}).first()
        if row is None:
            raise BackendError(
                "not_found", f"no listing {listing_id!r}", operation="route_to_listing"
            )
        lang = _language(language)
        route = row.routes.get((origin or "").strip()) or row.routes[""]
        return Route(
            listing_id=row.listing_id,
            address=row.address_en if lang == "en" else row.address_zh,
            directions=route[lang],
            map_url=route.get("map_url"),
        )

    def change_booking(
        self, booking_id: str, change: Literal["early_checkin", "late_checkout"], time: str
    ) -> ChangeDecision:
        op = "change_booking"
        wanted = parse_time(time)
        if wanted is None:
            raise BackendError("refused", f"not a time of day: {time!r} (HH:MM)", operation=op)
        if change not in ("early_checkin", "late_checkout"):
            raise BackendError("refused", f"unknown change {change!r}", operation=op)
        with self._engine.begin() as conn:
            row = self._booking_row(conn, booking_id, op, lock=True)
            early = change == "early_checkin"
            if row.status not in ("confirmed", "checked_in") or (
                early and row.status != "confirmed"
            ):
                return ChangeDecision(approved=False, reason="not_changeable")
            if early and wanted < EARLIEST_CHECKIN:
                return ChangeDecision(approved=False, reason="too_early")
            if not early and wanted > LATEST_CHECKOUT:
                return ChangeDecision(approved=False, reason="too_late")
            if early:  # the night before must be free
                since = until = start_of_local_day(row.check_in)
                usual = wanted >= row.check_in_from
                moved = {"check_in": local_time(local_day(row.check_in), wanted)}
            else:  # nobody may arrive that day
                since, until = row.check_out, next_local_day(row.check_out)
                usual = wanted <= row.check_out_by
                moved = {"check_out": local_time(local_day(row.check_out), wanted)}
            if usual:
                return ChangeDecision(approved=True, reason="free", new_time=wanted)
            params = {"listing_id": row.listing_id, "booking_id": row.booking_id}
            if conn.execute(_OCCUPIED, {**params, "since": since, "until": until}).first():
                return ChangeDecision(approved=False, reason="fully_booked")
            conn.execute(_SET_BOOKING.values(**moved), {"b_booking_id": row.booking_id})
        fee = 0 if row.tier == "vip" else CHANGE_FEE_CENTS
        return ChangeDecision(
            approved=True, reason="fee" if fee else "free", fee_cents=fee, new_time=wanted
        )

    def cancel_booking(self, booking_id: str) -> CancelDecision:
        with self._engine.begin() as conn:
            row = self._booking_row(conn, booking_id, "cancel_booking", lock=True)
            if row.status == "cancelled":
                return CancelDecision(cancelled=False, reason="already_cancelled")
            if row.status in ("checked_in", "completed"):
                return CancelDecision(cancelled=False, reason="not_cancellable")
            ahead = row.check_in - self._clock()
            if ahead > timedelta(hours=48):
                refund, reason = row.total_cents, "full_refund"
            elif ahead >= timedelta(hours=24):
                refund, reason = row.total_cents // 2, "partial_refund"
            else:
                refund, reason = 0, "no_refund"
            conn.execute(
                _SET_BOOKING.values(status="cancelled", refunded_cents=refund),
                {"b_booking_id": row.booking_id},
            )
        return CancelDecision(cancelled=True, refund_cents=refund, reason=reason)

    def _booking_row(
        self, conn: Connection, booking_id: str, op: str, *, lock: bool = False
    ) -> AnyRow:
        statement = _BOOKING_LOCKED if lock else _BOOKING
        row = conn.execute(statement, {"booking_id": _booking_key(booking_id)}).first()
        if row is None:
            raise BackendError("not_found", f"no booking {booking_id!r}", operation=op)
        return row
