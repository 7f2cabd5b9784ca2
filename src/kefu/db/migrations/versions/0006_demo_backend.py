"""the demo operator's tables (kefu.backends.demo): places, customers, bikes, rides, listings,
bookings, tickets, one-time codes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 10:00:00

They stand in for an outside operator's system, so unlike kefu's own tables they have no
tenant_id. They start empty; `kefu demo seed` fills them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "demo_places",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("is_station", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_demo_places")),
    )

    op.create_table(
        "demo_customers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("tier", sa.String(length=8), nullable=False),
        sa.Column("deposit_cents", sa.Integer(), nullable=False),
        sa.Column("balance_cents", sa.Integer(), nullable=False),
        sa.Column("pass_order_id", sa.String(length=16), nullable=True),
        sa.Column("pass_until", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demo_customers")),
    )
    op.create_index(op.f("ix_demo_customers_phone"), "demo_customers", ["phone"], unique=False)

    op.create_table(
        "demo_bikes",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("battery_pct", sa.Integer(), nullable=True),
        sa.Column("station", sa.String(length=64), nullable=True),
        sa.Column("rider", sa.String(length=32), nullable=True),
        sa.Column("no_signal", sa.Boolean(), nullable=False),
        sa.Column("last_fault", sa.String(length=200), nullable=True),
        sa.Column("repaired_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["rider"], ["demo_customers.id"], name=op.f("fk_demo_bikes_rider_demo_customers")
        ),
        sa.ForeignKeyConstraint(
            ["station"], ["demo_places.name"], name=op.f("fk_demo_bikes_station_demo_places")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_demo_bikes")),
    )
    op.create_index(
        "ix_demo_bikes_station_state",
        "demo_bikes",
        ["station", "state", "no_signal", "type", "battery_pct"],
        unique=False,
    )

    op.create_table(
        "demo_rides",
        sa.Column("ride_id", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("bike_code", sa.String(length=8), nullable=False),
        sa.Column("bike_type", sa.String(length=8), nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("ended_at", TIME, nullable=True),
        sa.Column("start_place", sa.String(length=64), nullable=True),
        sa.Column("end_place", sa.String(length=64), nullable=True),
        sa.Column("distance_km", sa.Float(), nullable=False),
        sa.Column("climb_m", sa.Float(), nullable=False),
        sa.Column("fare_cents", sa.Integer(), nullable=False),
        sa.Column("refunded_cents", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["bike_code"], ["demo_bikes.code"], name=op.f("fk_demo_rides_bike_code_demo_bikes")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["demo_customers.id"],
            name=op.f("fk_demo_rides_customer_id_demo_customers"),
        ),
        sa.PrimaryKeyConstraint("ride_id", name=op.f("pk_demo_rides")),
    )
    op.create_index(
        "ix_demo_rides_customer_started", "demo_rides", ["customer_id", "started_at"], unique=False
    )

    op.create_table(
        "demo_listings",
        sa.Column("listing_id", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("city", sa.String(length=16), nullable=False),
        sa.Column("address_zh", sa.String(length=200), nullable=False),
        sa.Column("address_en", sa.String(length=200), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("nightly_cents", sa.Integer(), nullable=False),
        sa.Column("max_guests", sa.Integer(), nullable=False),
        sa.Column("check_in_from", sa.String(length=5), nullable=False),
        sa.Column("check_out_by", sa.String(length=5), nullable=False),
        sa.Column("wifi", sa.String(length=100), nullable=True),
        sa.Column("guide", JSON, nullable=False),
        sa.Column("routes", JSON, nullable=False),
        sa.PrimaryKeyConstraint("listing_id", name=op.f("pk_demo_listings")),
        sa.UniqueConstraint("name", name=op.f("uq_demo_listings_name")),
    )

    op.create_table(
        "demo_bookings",
        sa.Column("booking_id", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("listing_id", sa.String(length=8), nullable=False),
        sa.Column("check_in", TIME, nullable=False),
        sa.Column("check_out", TIME, nullable=False),
        sa.Column("guests", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("refunded_cents", sa.Integer(), nullable=False),
        sa.Column("door_code", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["demo_customers.id"],
            name=op.f("fk_demo_bookings_customer_id_demo_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["demo_listings.listing_id"],
            name=op.f("fk_demo_bookings_listing_id_demo_listings"),
        ),
        sa.PrimaryKeyConstraint("booking_id", name=op.f("pk_demo_bookings")),
    )
    op.create_index(
        op.f("ix_demo_bookings_customer_id"), "demo_bookings", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_demo_bookings_listing_check_in",
        "demo_bookings",
        ["listing_id", "check_in"],
        unique=False,
    )

    op.create_table(
        "demo_tickets",
        sa.Column("ticket_id", sa.String(length=12), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("eta_hours", sa.Integer(), nullable=True),
        sa.Column("bike_code", sa.String(length=8), nullable=True),
        sa.Column("ride_id", sa.String(length=16), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["demo_customers.id"],
            name=op.f("fk_demo_tickets_customer_id_demo_customers"),
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_demo_tickets")),
    )

    op.create_table(
        "demo_codes",
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["demo_customers.id"],
            name=op.f("fk_demo_codes_customer_id_demo_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_demo_codes")),
    )


def downgrade() -> None:
    # Children first; dropping a table drops its indexes on both databases.
    for table in (
        "demo_codes",
        "demo_tickets",
        "demo_bookings",
        "demo_listings",
        "demo_rides",
        "demo_bikes",
        "demo_customers",
        "demo_places",
    ):
        op.drop_table(table)
