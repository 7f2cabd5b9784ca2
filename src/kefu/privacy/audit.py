"""The audit log: who did what, when, from where. Append-only.

Rows are only ever inserted: kefu has no code path that updates or deletes them, and the
database refuses to (triggers created by migration 0004 on SQLite and PostgreSQL), so a
compromised console account can't cover its tracks through kefu. Details never hold PII in the
clear: callers pass ids and masked values.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, ForeignKey, Index, String, Table, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from kefu.db.base import Base, BigId, Json, UTCDateTime, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_tenant_at", "tenant_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # NULL for deployment-wide events (key rotation, retention across tenants).
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(16))  # account | api_key | cli | system
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any] | None] = mapped_column(Json)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))


@dataclass(frozen=True)
class Actor:
    type: str
    id: str | None
    name: str
    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def cli(cls) -> Actor:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls("cli", None, f"cli:{user}")

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls("system", None, name)


_table = cast(Table, AuditEvent.__table__)


def record(
    db: Session | Connection,
    actor: Actor,
    action: str,
    *,
    tenant_id: int | None,
    target_type: str | None = None,
    target_id: object = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event inside the caller's transaction, so the event and the change it
    describes commit (or roll back) together."""
    values = {
        "tenant_id": tenant_id,
        "at": utcnow(),
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_name": actor.name[:200],
        "action": action,
        "target_type": target_type,
        "target_id": None if target_id is None else str(target_id)[:128],
        "detail": detail,
        "ip": actor.ip,
        "user_agent": actor.user_agent[:200] if actor.user_agent else None,
    }
    db.execute(insert(_table).values(**values))


def query(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    target_id: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
    deployment_wide: bool = False,
) -> Sequence[AuditEvent]:
    """Newest first. `action` matches a prefix ("auth." finds every sign-in event).
    `deployment_wide` lists the events of no tenant (key changes); needs a system session."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if deployment_wide:
        stmt = stmt.where(AuditEvent.tenant_id.is_(None))
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    if actor:
        stmt = stmt.where(AuditEvent.actor_name == actor)
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
    if target_id:
        stmt = stmt.where(AuditEvent.target_id == target_id)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    return session.scalars(stmt).all()


def as_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "tenant_id": event.tenant_id,
        "actor": {"type": event.actor_type, "id": event.actor_id, "name": event.actor_name},
        "action": event.action,
        "target": {"type": event.target_type, "id": event.target_id},
        "detail": event.detail,
        "ip": event.ip,
        "user_agent": event.user_agent,
    }


__all__ = ["Actor", "AuditEvent", "as_dict", "query", "record"]
