"""`DemoBackend`: the demo operator's bike-sharing side of `OperatorBackend`, over the `demo_*`
tables (lodging is in `lodging.py`). Every call is one or two prebuilt Core statements on an
indexed key; writes run in one transaction (SQLite takes its write lock up front).

Policies; the `reason` codes are the ones the skills' templates explain:

- request_refund: a ride that isn't the customer's is `not_found`. Already refunded ->
  `already_refunded`; still riding -> `ride_in_progress`; started over 30 days ago ->
  `too_old`. When the fare looks wrong (over 3x what the tariff gives for the distance at the
  bike's usual speed, or over 3 h for under 1 km: the lock didn't close) it is approved as
  `overcharged` for fare - expected, back in 3 days (1 for vip), and the ride is marked
  refunded. Anything else is `needs_review` with a `refund` ticket for a person.
- refund_deposit: no deposit -> `no_deposit`; a ride under way -> `ride_in_progress`; else the
  whole deposit, `deposit_refunded`, in 3 days (vip 1), and the deposit becomes 0.
- unlock_help: broken, in repair or retired -> `bike_fault`; someone else's ride -> `in_use`;
  negative balance -> `low_balance`; unreachable lock -> `no_signal`; else unlocked, and the
  bike is in use by the customer.
- report_fault: a `fault` ticket (eta 2 h for vip, 4 h otherwise); the bike is out of service.
- verify_identity: the phone (E.164, with or without +86) and the last four characters of one
  of their ride ids, booking ids or monthly-pass order id. send_code / check_code: a 6-digit
  code valid once for 10 minutes, void after 5 wrong tries.
Unknown ids, malformed ones included, are `BackendError("not_found")`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, false, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from kefu.backends.base import (
    BackendError,
    Bike,
    CustomerProfile,
    RefundDecision,
    Ride,
    Station,
    Ticket,
    UnlockResult,
)
from kefu.backends.demo.city import distance_km
from kefu.backends.demo.lodging import DemoLodging
from kefu.backends.demo.models import (
    BIKES,
    BOOKINGS,
    CODES,
    CUSTOMERS,
    PLACES,
    RIDES,
    TICKETS,
    AnyRow,
)
from kefu.backends.demo.policy import expected_fare_cents, mask_phone, to_e164
from kefu.db.base import utcnow
from kefu.db.engine import READ_ONLY

REFUND_WINDOW = timedelta(days=30)
CODE_TTL = timedelta(minutes=10)
CODE_TRIES = 5
FAULT_STATES = ("fault", "in_repair", "retired")

_CUSTOMER = select(CUSTOMERS).where(CUSTOMERS.c.id == bindparam("customer"))
_CUSTOMER_LOCKED = _CUSTOMER.with_for_update()
_RIDES = (
    select(RIDES)
    .where(RIDES.c.customer_id == bindparam("customer"))
    .order_by(RIDES.c.started_at.desc(), RIDES.c.ride_id.desc())
    .limit(bindparam("limit"))
)
_RIDE_LOCKED = select(RIDES).where(RIDES.c.ride_id == bindparam("ride_id")).with_for_update()
_RIDING = (
    select(RIDES.c.ride_id)
    .where(RIDES.c.customer_id == bindparam("customer"), RIDES.c.status == "riding")
    .limit(1)
)
_MARK_REFUNDED = (
    update(RIDES)
    .where(RIDES.c.ride_id == bindparam("b_ride_id"))
    .values(refunded_cents=bindparam("b_amount"), status="refunded")
)
_NO_DEPOSIT = (
    update(CUSTOMERS).where(CUSTOMERS.c.id == bindparam("b_customer")).values(deposit_cents=0)
)
_BIKE_COLUMNS = (
    BIKES.c.code,
    BIKES.c.type,
    BIKES.c.state,
    BIKES.c.battery_pct,
    BIKES.c.station.label("place"),
    BIKES.c.last_fault,
    BIKES.c.repaired_at,
    BIKES.c.rider,
    BIKES.c.no_signal,
)
_BIKE = select(*_BIKE_COLUMNS).where(BIKES.c.code == bindparam("code"))
_BIKE_LOCKED = _BIKE.with_for_update()
_SET_BIKE = update(BIKES).where(BIKES.c.code == bindparam("b_code"))
_PLACE = select(PLACES.c.lat, PLACES.c.lon).where(PLACES.c.name == bindparam("name"))
_STATIONS = select(PLACES.c.name, PLACES.c.lat, PLACES.c.lon).where(PLACES.c.is_station)
_AVAILABLE = (
    select(BIKES.c.station, BIKES.c.type, func.count(), func.max(BIKES.c.battery_pct))
    .where(
        BIKES.c.station.in_(bindparam("names", expanding=True)),
        BIKES.c.state == "available",
        BIKES.c.no_signal == false(),  # can't be unlocked: not worth walking to
    )
    .group_by(BIKES.c.station, BIKES.c.type)
)
_ORDER_IDS = (
    select(RIDES.c.ride_id)
    .where(RIDES.c.customer_id == bindparam("customer"))
    .union_all(select(BOOKINGS.c.booking_id).where(BOOKINGS.c.customer_id == bindparam("customer")))
)
_LAST_TICKET = select(func.max(TICKETS.c.ticket_id))
_CODE = select(CODES).where(CODES.c.customer_id == bindparam("customer"))
_DROP_CODE = delete(CODES).where(CODES.c.customer_id == bindparam("b_customer"))
_CODE_MISS = (
    update(CODES)
    .where(CODES.c.customer_id == bindparam("b_customer"))
    .values(attempts=CODES.c.attempts + 1)
)


def _key(value: str) -> str:
    """Ids as customers type them: stray spaces, lower case."""
    return value.strip().upper()


def _bike(row: AnyRow) -> Bike:
    return Bike.model_validate(dict(row._mapping))


class DemoBackend(DemoLodging):
    """The demo operator. `fixed_code` makes send_code send that code (tests, demos); `clock`
    is "now" for every policy (tests move it)."""

    name = "demo"

    def __init__(
        self,
        engine: Engine,
        *,
        fixed_code: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        # Reads don't take SQLite's write lock (kefu.db.engine).
        self._reader = engine.execution_options(**{READ_ONLY: True})
        self._fixed_code = fixed_code
        self._clock = clock
        self._stations: list[tuple[str, float, float]] = []

    # -- customers and identity ---------------------------------------------------------

    def customer_profile(self, customer: str) -> CustomerProfile:
        with self._reader.connect() as conn:
            row = self._customer(conn, customer, "customer_profile")
        return CustomerProfile(
            customer=row.id,
            name=row.name,
            phone=row.phone,
            language=row.language,
            tier=row.tier,
            deposit_cents=row.deposit_cents,
            balance_cents=row.balance_cents,
        )

    def verify_identity(self, customer: str, phone: str, order_last4: str) -> bool:
        with self._reader.connect() as conn:
            row = self._customer(conn, customer, "verify_identity")
            last4 = order_last4.strip().upper()
            if to_e164(phone) != row.phone or len(last4) != 4:
                return False
            orders = [*conn.execute(_ORDER_IDS, {"customer": row.id}).scalars(), row.pass_order_id]
        return any(order[-4:].upper() == last4 for order in orders if order)

    def send_code(self, customer: str) -> str:
        code = self._fixed_code or f"{secrets.randbelow(10**6):06d}"
        with self._engine.begin() as conn:
            row = self._customer(conn, customer, "send_code")
            conn.execute(_DROP_CODE, {"b_customer": row.id})
            conn.execute(
                insert(CODES),
                {
                    "customer_id": row.id,
                    "code": code,
                    "expires_at": self._clock() + CODE_TTL,
                    "attempts": 0,
                },
            )
        return mask_phone(row.phone)

    def check_code(self, customer: str, code: str) -> bool:
        with self._engine.begin() as conn:
            sent = conn.execute(_CODE, {"customer": customer}).first()
            if sent is None:
                self._customer(conn, customer, "check_code")
                return False
            if sent.expires_at <= self._clock():
                conn.execute(_DROP_CODE, {"b_customer": customer})
                return False
            if not hmac.compare_digest(sent.code.encode(), code.strip().encode()):
                if sent.attempts + 1 >= CODE_TRIES:
                    conn.execute(_DROP_CODE, {"b_customer": customer})
                else:
                    conn.execute(_CODE_MISS, {"b_customer": customer})
                return False
            conn.execute(_DROP_CODE, {"b_customer": customer})  # once only
            return True

    # -- bikes and rides ----------------------------------------------------------------

    def rides(self, customer: str, limit: int = 10) -> list[Ride]:
        with self._reader.connect() as conn:
            rows = conn.execute(_RIDES, {"customer": customer, "limit": max(limit, 0)}).all()
            if not rows:
                self._customer(conn, customer, "rides")
        return [Ride.model_validate(dict(r._mapping)) for r in rows]

    def bike_status(self, code: str) -> Bike:
        with self._reader.connect() as conn:
            return _bike(self._bike(conn, code, "bike_status"))

    def nearby_stations(self, place: str, limit: int = 3) -> list[Station]:
        with self._reader.connect() as conn:
            here = conn.execute(_PLACE, {"name": place.strip()}).first()
            if here is None:
                raise BackendError(
                    "not_found", f"unknown place {place!r}", operation="nearby_stations"
                )
            if not self._stations:  # stations don't move: read them once
                self._stations = [(s.name, s.lat, s.lon) for s in conn.execute(_STATIONS)]
            stations = sorted(
                (distance_km(here.lat, here.lon, lat, lon), name)
                for name, lat, lon in self._stations
            )[: max(0, min(limit, 20))]
            counts = conn.execute(_AVAILABLE, {"names": [name for _, name in stations]}).all()
        by_station: dict[str, dict[str, Any]] = {name: {} for _, name in stations}
        for station, kind, count, battery in counts:
            by_station[station][kind] = count
            if kind == "ebike":
                by_station[station]["best_battery_pct"] = battery
        return [
            Station(name=name, distance_m=round(km * 1000), **by_station[name])
            for km, name in stations
        ]

    def report_fault(
        self, customer: str, bike_code: str, fault: str, place: str | None = None
    ) -> Ticket:
        op = "report_fault"
        with self._engine.begin() as conn:
            person = self._reporter(conn, customer)
            bike = self._bike(conn, bike_code, op, lock=True)
            station = bike.place
            if place and conn.execute(_PLACE, {"name": place.strip()}).first() is not None:
                station = place.strip()
            conn.execute(
                _SET_BIKE.values(
                    state="fault", last_fault=fault[:200], rider=None, station=station
                ),
                {"b_code": bike.code},
            )
            eta = 2 if person is not None and person.tier == "vip" else 4
            where = f" @ {place}" if place else ""
            ticket = self._new_ticket(
                conn,
                person.id if person is not None else None,
                "fault",
                f"{bike.code}: {fault}{where}",
                eta,
                bike_code=bike.code,
            )
        return Ticket(ticket_id=ticket, kind="fault", eta_hours=eta)

    def request_refund(self, customer: str, ride_id: str, reason: str) -> RefundDecision:
        op = "request_refund"
        now = self._clock()
        with self._engine.begin() as conn:
            ride = conn.execute(_RIDE_LOCKED, {"ride_id": _key(ride_id)}).first()
            if ride is None or ride.customer_id != customer:
                raise BackendError("not_found", f"no ride {ride_id!r} of theirs", operation=op)
            person = self._customer(conn, customer, op)
            if ride.status == "refunded" or ride.refunded_cents > 0:
                return RefundDecision(approved=False, reason="already_refunded")
            if ride.status == "riding" or ride.ended_at is None:
                return RefundDecision(approved=False, reason="ride_in_progress")
            if ride.started_at < now - REFUND_WINDOW:
                return RefundDecision(approved=False, reason="too_old")
            has_pass = person.pass_until is not None and person.pass_until >= ride.started_at
            expected = expected_fare_cents(ride.bike_type, ride.distance_km, has_pass=has_pass)
            hours = (ride.ended_at - ride.started_at).total_seconds() / 3600
            lock_failed = hours > 3 and ride.distance_km < 1
            if ride.fare_cents > expected and (lock_failed or ride.fare_cents > 3 * expected):
                amount = ride.fare_cents - expected
                conn.execute(_MARK_REFUNDED, {"b_ride_id": ride.ride_id, "b_amount": amount})
                return RefundDecision(
                    approved=True,
                    amount_cents=amount,
                    reason="overcharged",
                    days_to_account=1 if person.tier == "vip" else 3,
                )
            summary = f"refund {ride.ride_id} ({ride.fare_cents} cents): {reason}"
            ticket = self._new_ticket(conn, customer, "refund", summary, 24, ride_id=ride.ride_id)
        return RefundDecision(approved=False, reason="needs_review", ticket_id=ticket)

    def refund_deposit(self, customer: str) -> RefundDecision:
        with self._engine.begin() as conn:
            person = self._customer(conn, customer, "refund_deposit", lock=True)
            if person.deposit_cents <= 0:
                return RefundDecision(approved=False, reason="no_deposit")
            if conn.execute(_RIDING, {"customer": person.id}).first() is not None:
                return RefundDecision(approved=False, reason="ride_in_progress")
            conn.execute(_NO_DEPOSIT, {"b_customer": person.id})
        return RefundDecision(
            approved=True,
            amount_cents=person.deposit_cents,
            reason="deposit_refunded",
            days_to_account=1 if person.tier == "vip" else 3,
        )

    def unlock_help(self, customer: str, bike_code: str) -> UnlockResult:
        op = "unlock_help"
        with self._engine.begin() as conn:
            person = self._customer(conn, customer, op)
            bike = self._bike(conn, bike_code, op, lock=True)
            if bike.state in FAULT_STATES:
                return UnlockResult(unlocked=False, reason="bike_fault", bike=_bike(bike))
            if bike.state == "in_use" and bike.rider != person.id:
                return UnlockResult(unlocked=False, reason="in_use", bike=_bike(bike))
            if person.balance_cents < 0:
                return UnlockResult(unlocked=False, reason="low_balance", bike=_bike(bike))
            if bike.no_signal:
                return UnlockResult(unlocked=False, reason="no_signal", bike=_bike(bike))
            conn.execute(
                _SET_BIKE.values(state="in_use", rider=person.id, station=None),
                {"b_code": bike.code},
            )
            unlocked = self._bike(conn, bike.code, op)
        return UnlockResult(unlocked=True, bike=_bike(unlocked))

    def create_ticket(self, customer: str, kind: str, summary: str) -> Ticket:
        with self._engine.begin() as conn:
            person = self._reporter(conn, customer)
            # A person calls back sooner for vip customers.
            eta = 12 if person is not None and person.tier == "vip" else 24
            who = person.id if person is not None else None
            ticket = self._new_ticket(conn, who, kind[:32], summary[:1000], eta)
        return Ticket(ticket_id=ticket, kind=kind[:32], eta_hours=eta)

    # -- shared -------------------------------------------------------------------------

    def _reporter(self, conn: Connection, customer: str) -> AnyRow | None:
        """Anyone may report a broken bike or leave a request: an unknown or anonymous
        customer gets a ticket with no account on it."""
        return conn.execute(_CUSTOMER, {"customer": customer}).first()

    def _customer(self, conn: Connection, customer: str, op: str, *, lock: bool = False) -> AnyRow:
        row = conn.execute(_CUSTOMER_LOCKED if lock else _CUSTOMER, {"customer": customer}).first()
        if row is None:
            raise BackendError("not_found", f"no customer {customer!r}", operation=op)
        return row

    def _bike(self, conn: Connection, code: str, op: str, *, lock: bool = False) -> AnyRow:
        row = conn.execute(_BIKE_LOCKED if lock else _BIKE, {"code": _key(code)}).first()
        if row is None:
            raise BackendError("not_found", f"no bike {code!r}", operation=op)
        return row

    def _new_ticket(
        self,
        conn: Connection,
        customer: str | None,
        kind: str,
        summary: str,
        eta_hours: int | None,
        *,
        bike_code: str | None = None,
        ride_id: str | None = None,
    ) -> str:
        """The next T + 8 digits. Two PostgreSQL transactions may pick the same number: the
        loser retries inside a savepoint (SQLite's writers are serialised already)."""
        for _ in range(5):
            last = conn.execute(_LAST_TICKET).scalar()
            ticket_id = f"T{int(last[1:]) + 1 if last else 10_000_001}"
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(TICKETS),
                        {
                            "ticket_id": ticket_id,
                            "customer_id": customer,
                            "kind": kind,
                            "summary": summary,
                            "status": "open",
                            "eta_hours": eta_hours,
                            "bike_code": bike_code,
                            "ride_id": ride_id,
                            "created_at": self._clock(),
                        },
                    )
            except IntegrityError:
                continue
            return ticket_id
        raise BackendError("unavailable", "no free ticket number", operation="create_ticket")
