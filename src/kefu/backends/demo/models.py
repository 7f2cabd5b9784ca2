"""The demo operator's tables: a stand-in for an outside system, so they have no `tenant_id`.

Every table is prefixed `demo_`. Ids are the operator's own strings (`c-1001`, `B123456`,
`R202611230001`, `BK20261124001`, `L-10001`, `T10000001`), so they are the primary keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias, cast

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Table
from sqlalchemy.engine import Row
from sqlalchemy.orm import Mapped, mapped_column

from kefu.db.base import Base, Json, UTCDateTime


class DemoPlace(Base):
    """A named point in the demo city: bike stations, and landmarks people ask about."""

    __tablename__ = "demo_places"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(100))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    is_station: Mapped[bool] = mapped_column(Boolean)


class DemoCustomer(Base):
    __tablename__ = "demo_customers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    language: Mapped[str] = mapped_column(String(2))
    tier: Mapped[str] = mapped_column(String(8))
    deposit_cents: Mapped[int] = mapped_column(Integer)
    balance_cents: Mapped[int] = mapped_column(Integer)
    pass_order_id: Mapped[str | None] = mapped_column(String(16))  # monthly pass: DD + 12 digits
    pass_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DemoBike(Base):
    __tablename__ = "demo_bikes"
    # nearby_stations counts available bikes per station: covering, so it never reads rows.
    __table_args__ = (
        Index(
            "ix_demo_bikes_station_state", "station", "state", "no_signal", "type", "battery_pct"
        ),
    )

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    type: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(10))
    battery_pct: Mapped[int | None] = mapped_column(Integer)
    station: Mapped[str | None] = mapped_column(ForeignKey("demo_places.name"))
    rider: Mapped[str | None] = mapped_column(ForeignKey("demo_customers.id"))
    no_signal: Mapped[bool] = mapped_column(Boolean)  # the lock can't be reached remotely
    last_fault: Mapped[str | None] = mapped_column(String(200))
    repaired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DemoRide(Base):
    __tablename__ = "demo_rides"
    __table_args__ = (Index("ix_demo_rides_customer_started", "customer_id", "started_at"),)

    ride_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("demo_customers.id"))
    bike_code: Mapped[str] = mapped_column(ForeignKey("demo_bikes.code"))
    bike_type: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    start_place: Mapped[str | None] = mapped_column(String(64))
    end_place: Mapped[str | None] = mapped_column(String(64))
    distance_km: Mapped[float] = mapped_column(Float)
    climb_m: Mapped[float] = mapped_column(Float)
    fare_cents: Mapped[int] = mapped_column(Integer)
    refunded_cents: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))


class DemoListing(Base):
    __tablename__ = "demo_listings"

    listing_id: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    city: Mapped[str] = mapped_column(String(16))
    address_zh: Mapped[str] = mapped_column(String(200))
    address_en: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    nightly_cents: Mapped[int] = mapped_column(Integer)
    max_guests: Mapped[int] = mapped_column(Integer)
    check_in_from: Mapped[str] = mapped_column(String(5))  # local time, "15:00"
    check_out_by: Mapped[str] = mapped_column(String(5))
    wifi: Mapped[str | None] = mapped_column(String(100))
    guide: Mapped[dict[str, Any]] = mapped_column(Json)  # {"zh": [steps], "en": [steps]}
    # {origin or "": {"zh": [...], "en": [...], "map_url": ...}}; "" is the way from anywhere.
    routes: Mapped[dict[str, Any]] = mapped_column(Json)


class DemoBooking(Base):
    __tablename__ = "demo_bookings"
    __table_args__ = (Index("ix_demo_bookings_listing_check_in", "listing_id", "check_in"),)

    booking_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("demo_customers.id"), index=True)
    listing_id: Mapped[str] = mapped_column(ForeignKey("demo_listings.listing_id"))
    check_in: Mapped[datetime] = mapped_column(UTCDateTime)
    check_out: Mapped[datetime] = mapped_column(UTCDateTime)
    guests: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    total_cents: Mapped[int] = mapped_column(Integer)
    refunded_cents: Mapped[int] = mapped_column(Integer)
    door_code: Mapped[str] = mapped_column(String(8))


class DemoTicket(Base):
    __tablename__ = "demo_tickets"

    ticket_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("demo_customers.id"))
    kind: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(12))
    eta_hours: Mapped[int | None] = mapped_column(Integer)
    bike_code: Mapped[str | None] = mapped_column(String(8))
    ride_id: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DemoCode(Base):
    """The one-time code last sent to a customer (send_code / check_code)."""

    __tablename__ = "demo_codes"

    customer_id: Mapped[str] = mapped_column(ForeignKey("demo_customers.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(6))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer)


# A result row of any shape (Core statements built once, so untyped columns).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

# Core handles for the backend's prebuilt statements and the seed's bulk inserts.
PLACES = cast(Table, DemoPlace.__table__)
CUSTOMERS = cast(Table, DemoCustomer.__table__)
BIKES = cast(Table, DemoBike.__table__)
RIDES = cast(Table, DemoRide.__table__)
LISTINGS = cast(Table, DemoListing.__table__)
BOOKINGS = cast(Table, DemoBooking.__table__)
TICKETS = cast(Table, DemoTicket.__table__)
CODES = cast(Table, DemoCode.__table__)
# Parents first: insert in this order, delete in reverse.
ALL_TABLES = (PLACES, CUSTOMERS, BIKES, RIDES, LISTINGS, BOOKINGS, TICKETS, CODES)
