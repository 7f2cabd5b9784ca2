"""The seam between kefu and an operator's systems: `OperatorBackend` and the data it returns.

kefu never owns the operator's truth (rides, fares, bookings, door codes); it asks for it here.
Everything crossing the seam is a validated pydantic model, so a backend that returns nonsense
fails with `BackendError(kind="bad_response")` at the seam, not deep inside a flow.

A backend knows nothing of dialogue: it takes ids and values and returns facts and decisions.
Money is integer cents (`*_cents`) in the operator's currency; times are timezone-aware UTC.
`customer` arguments are the operator's own customer id (`Customer.external_id` in kefu).
`report_fault` and `create_ticket` also take reports from visitors kefu can't identify
(`customer` then names no account, e.g. "anonymous"): a broken bike needs fixing whoever saw it.

Failures are `BackendError` with a `kind` the dialogue layer turns into a clear message and a
kefu-side ticket: `not_found` (an id that doesn't exist), `refused` (the operator said no, with a
reason), `timeout`, `unavailable` (connection refused, 5xx) and `bad_response` (unparseable).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

BikeType = Literal["standard", "ebike", "cargo", "scooter"]
BikeState = Literal["available", "in_use", "fault", "in_repair", "retired"]
Tier = Literal["basic", "plus", "vip"]
ErrorKind = Literal["not_found", "refused", "timeout", "unavailable", "bad_response"]


class BackendError(Exception):
    def __init__(self, kind: ErrorKind, message: str, *, operation: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.operation = operation

    def __str__(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        return f"{where}{self.kind}: {self.message}"


class _Model(BaseModel):
    # Operators' APIs grow fields: ignore what kefu doesn't use rather than failing.
    model_config = ConfigDict(frozen=True, extra="ignore")


class CustomerProfile(_Model):
    customer: str
    name: str | None = None
    phone: str | None = None  # E.164
    language: Literal["zh", "en"] | None = None
    tier: Tier = "basic"
    deposit_cents: int = 0  # a refundable deposit the customer holds, 0 when none
    balance_cents: int = 0


class Place(_Model):
    name: str
    lat: float | None = None
    lon: float | None = None


class Bike(_Model):
    code: str  # B123456 / E12345
    type: BikeType
    state: BikeState
    battery_pct: int | None = Field(default=None, ge=0, le=100)  # e-bikes and scooters
    place: str | None = None
    last_fault: str | None = None
    repaired_at: datetime | None = None


class Ride(_Model):
    ride_id: str
    bike_code: str
    bike_type: BikeType
    started_at: datetime
    ended_at: datetime | None = None  # None: still riding
    start_place: str | None = None
    end_place: str | None = None
    distance_km: float = Field(default=0.0, ge=0)
    climb_m: float = Field(default=0.0, ge=0)  # total ascent: hills favour an e-bike
    fare_cents: int = Field(default=0, ge=0)
    refunded_cents: int = Field(default=0, ge=0)
    status: Literal["riding", "completed", "disputed", "refunded"] = "completed"


class Station(_Model):
    name: str
    distance_m: int = Field(ge=0)
    standard: int = Field(default=0, ge=0)  # bikes available by type
    ebike: int = Field(default=0, ge=0)
    cargo: int = Field(default=0, ge=0)
    best_battery_pct: int | None = None  # the fullest e-bike there


class Ticket(_Model):
    ticket_id: str
    kind: str  # fault, lost_item, cleaning, repair, complaint, callback...
    status: Literal["open", "in_progress", "resolved"] = "open"
    eta_hours: int | None = None  # when someone will act, if the operator promises


class RefundDecision(_Model):
    approved: bool
    amount_cents: int = Field(default=0, ge=0)
    reason: str  # a policy code the skill's templates explain: within_window, already_refunded...
    ticket_id: str | None = None  # set when a person will review it
    days_to_account: int | None = None


class UnlockResult(_Model):
    unlocked: bool  # the operator unlocked it remotely
    reason: str | None = None  # why not: bike_fault, no_signal, in_use, low_balance...
    bike: Bike | None = None


class Booking(_Model):
    booking_id: str
    listing_id: str
    listing_name: str
    address: str | None = None
    check_in: datetime
    check_out: datetime
    guests: int = Field(default=1, ge=1)
    status: Literal["confirmed", "checked_in", "completed", "cancelled"] = "confirmed"
    total_cents: int = Field(default=0, ge=0)


class CheckinGuide(_Model):
    booking_id: str
    check_in_from: str  # local time, "15:00"
    check_out_by: str
    steps: list[str]  # in the customer's language
    wifi: str | None = None


class Route(_Model):
    listing_id: str
    address: str
    directions: list[str]
    map_url: str | None = None


class ChangeDecision(_Model):
    approved: bool
    reason: str  # policy code: free, fee, fully_booked, too_late...
    fee_cents: int = Field(default=0, ge=0)
    new_time: str | None = None  # "12:00" for an early check-in / late check-out


class CancelDecision(_Model):
    cancelled: bool
    refund_cents: int = Field(default=0, ge=0)
    reason: str  # policy code: full_refund, partial_refund, no_refund, already_cancelled...


@runtime_checkable
class OperatorBackend(Protocol):
    """Everything kefu's skills ask of an operator. Every method may raise BackendError."""

    name: str

    # -- customers and identity ---------------------------------------------------------
    def customer_profile(self, customer: str) -> CustomerProfile: ...

    def verify_identity(self, customer: str, phone: str, order_last4: str) -> bool:
        """Does the phone number and the last four digits of one of their orders match?"""
        ...

    def send_code(self, customer: str) -> str:
        """Send a one-time code to the customer's phone; returns where it went, masked."""
        ...

    def check_code(self, customer: str, code: str) -> bool: ...

    # -- bikes and rides ----------------------------------------------------------------
    def rides(self, customer: str, limit: int = 10) -> list[Ride]:
        """The customer's rides, newest first."""
        ...

    def bike_status(self, code: str) -> Bike: ...

    def nearby_stations(self, place: str, limit: int = 3) -> list[Station]: ...

    def report_fault(
        self, customer: str, bike_code: str, fault: str, place: str | None = None
    ) -> Ticket: ...

    def request_refund(self, customer: str, ride_id: str, reason: str) -> RefundDecision: ...

    def refund_deposit(self, customer: str) -> RefundDecision: ...

    def unlock_help(self, customer: str, bike_code: str) -> UnlockResult: ...

    def create_ticket(self, customer: str, kind: str, summary: str) -> Ticket:
        """Anything else a person must follow up: lost items, complaints, cleaning, repair."""
        ...

    # -- lodging ------------------------------------------------------------------------
    def bookings(self, customer: str) -> list[Booking]:
        """The customer's bookings, the next stay first."""
        ...

    def booking(self, booking_id: str) -> Booking: ...

    def checkin_guide(self, booking_id: str, language: str) -> CheckinGuide: ...

    def door_code(self, booking_id: str) -> str:
        """Only ever called after identity verification (the flow enforces it)."""
        ...

    def route_to_listing(self, listing_id: str, origin: str | None, language: str) -> Route: ...

    def change_booking(
        self, booking_id: str, change: Literal["early_checkin", "late_checkout"], time: str
    ) -> ChangeDecision: ...

    def cancel_booking(self, booking_id: str) -> CancelDecision: ...
