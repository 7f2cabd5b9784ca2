"""encrypted message texts and customer contact fields; customers found by blind index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 07:00:00

The encrypted columns become TEXT (a ciphertext is longer than its value). Existing rows stay
readable as legacy plaintext until `kefu keys rotate` encrypts them. The external id can no
longer be unique by value, so (tenant_id, external_id_hash) takes over; the hashes of existing
customers are filled here when the engine carries a keyring (kefu's own commands install one),
else by `kefu keys rotate`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_UNIQUE = "uq_customers_tenant_id_external_id"
NEW_UNIQUE = "uq_customers_tenant_id_external_id_hash"

_customers = sa.table(
    "customers",
    sa.column("id", sa.Uuid()),
    sa.column("external_id", sa.Text()),
    sa.column("external_id_hash", sa.String(64)),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite(encrypted=True)
    else:
        with op.batch_alter_table("customers") as batch:
            batch.add_column(sa.Column("external_id_hash", sa.String(length=64), nullable=True))
            batch.drop_constraint(OLD_UNIQUE, type_="unique")
            batch.alter_column("external_id", type_=sa.Text(), existing_type=sa.String(128))
            batch.alter_column("display_name", type_=sa.Text(), existing_type=sa.String(200))
    _fill_blind_indexes()
    if op.get_bind().dialect.name != "sqlite":
        op.create_unique_constraint(NEW_UNIQUE, "customers", ["tenant_id", "external_id_hash"])


def downgrade() -> None:
    # Values already encrypted stay encrypted (kefu before 0003 can't read them); on
    # PostgreSQL an external id ciphertext longer than 128 characters stops the downgrade.
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite(encrypted=False)
        return
    with op.batch_alter_table("customers") as batch:
        batch.drop_constraint(NEW_UNIQUE, type_="unique")
        batch.alter_column("display_name", type_=sa.String(200), existing_type=sa.Text())
        batch.alter_column("external_id", type_=sa.String(128), existing_type=sa.Text())
        batch.drop_column("external_id_hash")
        batch.create_unique_constraint(OLD_UNIQUE, ["tenant_id", "external_id"])


def _rebuild_on_sqlite(encrypted: bool) -> None:
    """SQLite can't drop a UNIQUE constraint in place, and batch mode's copy-and-rename drops
    `customers` while conversations reference it, which fails with foreign keys on (and
    `PRAGMA foreign_keys` can't change inside the migration's transaction). So: keep a copy,
    drop the table with foreign-key checks deferred to commit, recreate it under its own name
    and copy the rows back, which satisfies the conversations' references again."""
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute("CREATE TABLE _customers_0003 AS SELECT * FROM customers")
    op.drop_index("ix_customers_tenant_id", table_name="customers")
    op.drop_table("customers")
    extra = [sa.Column("external_id_hash", sa.String(length=64), nullable=True)]
    unique = sa.UniqueConstraint("tenant_id", "external_id_hash", name=NEW_UNIQUE)
    if not encrypted:
        extra = []
        unique = sa.UniqueConstraint("tenant_id", "external_id", name=OLD_UNIQUE)
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.Text() if encrypted else sa.String(length=128), nullable=True),
        sa.Column("display_name", sa.Text() if encrypted else sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *extra,
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_customers_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        unique,
    )
    op.create_index("ix_customers_tenant_id", "customers", ["tenant_id"], unique=False)
    columns = "id, tenant_id, external_id, display_name, created_at"
    op.execute(f"INSERT INTO customers ({columns}) SELECT {columns} FROM _customers_0003")
    op.execute("DROP TABLE _customers_0003")


def _fill_blind_indexes() -> None:
    from kefu.privacy.crypto import blind_index, find_keyring

    bind = op.get_bind()
    keyring = find_keyring(bind.dialect)
    if keyring is None or keyring.index_key is None:
        return  # `kefu keys rotate` fills them
    rows = bind.execute(
        sa.select(_customers.c.id, _customers.c.external_id).where(
            _customers.c.external_id.is_not(None)
        )
    ).all()
    updates = [
        {
            "b_id": cid,
            "b_hash": blind_index(keyring, keyring.decrypt(value, "customers.external_id")),
        }
        for cid, value in rows
    ]
    if updates:
        bind.execute(
            sa.update(_customers)
            .where(_customers.c.id == sa.bindparam("b_id"))
            .values(external_id_hash=sa.bindparam("b_hash")),
            updates,
        )
