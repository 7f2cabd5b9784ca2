"""Tenant isolation in the data layer, so no ORM query can return another tenant's rows.

Every session says whose data it may touch, in `Session.info`:
- `tenant_id`: a tenant session. Every ORM SELECT, UPDATE and DELETE it runs gets
  `tenant_id = :tid` added for every table that has a `tenant_id` column (joins, relationship
  loads and `Session.get` included), and a flush refuses to write a row of another tenant.
- `system`: maintenance that spans tenants on purpose (migrations, seeding, retention, key
  rotation). Callers ask for it by name, so the exception is visible in the code.
A session with neither is refused at its first ORM statement on a tenant-scoped table: the
mistake fails loudly in tests instead of leaking rows in production.

Core statements (the per-message hot path in `conversations/repository.py`) bypass ORM events;
they filter by tenant explicitly and their tests check it.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.util import find_tables

from kefu.db.base import Base
from kefu.errors import KefuError

TENANT_ID = "tenant_id"
SYSTEM = "system"


class TenantScopeError(KefuError):
    """Code asked for tenant data without saying whose: a bug, never a user error."""

    code = "tenant_scope"


def _scoped_classes() -> tuple[type[Any], ...]:
    # Cached by the number of mapped classes: recomputed only when a model is registered.
    return _scoped_for(len(Base.registry.mappers))


@functools.lru_cache(maxsize=1)
def _scoped_for(_count: int) -> tuple[type[Any], ...]:
    return tuple(
        m.class_
        for m in Base.registry.mappers
        if isinstance(m, Mapper) and "tenant_id" in m.columns
    )


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    if any("tenant_id" in m.columns for m in state.all_mappers if isinstance(m, Mapper)):
        return True
    # `select(func.count()).select_from(Model)` names no entity: look at the tables too.
    statement = state.statement
    if not isinstance(statement, ClauseElement):
        return False
    tables = find_tables(
        statement,
        check_columns=True,
        include_aliases=True,
        include_joins=True,
        include_crud=True,
    )
    return any("tenant_id" in t.c for t in tables)


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        # Loads of an already-scoped parent: the criteria propagate through the options
        # added to the parent statement.
        return
    info = state.session.info
    tenant_id = info.get(TENANT_ID)
    if tenant_id is None:
        if info.get(SYSTEM) or not _touches_tenant_data(state):
            return
        raise TenantScopeError(
            "a session without a tenant ran a query on tenant data; use "
            "make_session_factory(engine, tenant_id=...) or system=True for maintenance"
        )
    state.statement = state.statement.options(*_criteria(tenant_id))


@functools.lru_cache(maxsize=256)
def _criteria(tenant_id: int) -> tuple[Any, ...]:
    # `tid` is a closure variable, so SQLAlchemy's lambda caching binds it as a parameter
    # instead of baking the first tenant's id into a cached statement. Built once per tenant:
    # analysing the 20-odd lambdas cost more than the rest of a small query.
    tid = tenant_id
    return tuple(
        with_loader_criteria(cls, lambda c: c.tenant_id == tid, include_aliases=True)
        for cls in _scoped_classes()
    )


@event.listens_for(Session, "before_flush")
def _check_writes(session: Session, _context: Any, _instances: Any) -> None:
    tenant_id = session.info.get(TENANT_ID)
    if tenant_id is None:
        return
    for obj in [*session.new, *session.dirty]:
        if not hasattr(obj, "tenant_id"):
            continue
        if obj.tenant_id is None and obj in session.new:
            obj.tenant_id = tenant_id
        elif obj.tenant_id != tenant_id:
            raise TenantScopeError(
                f"refusing to write a {type(obj).__name__} of tenant {obj.tenant_id} "
                f"from a session of tenant {tenant_id}"
            )
