"""Tenant isolation in the data layer: a tenant session can't see or write another tenant's
rows, whatever the query; a session that says nothing about tenants is refused."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kefu.accounts import service as accounts
from kefu.accounts.models import Account
from kefu.conversations.models import Conversation, Customer, Message, Role
from kefu.db.engine import make_session_factory
from kefu.db.tenancy import TenantScopeError
from kefu.privacy import audit
from kefu.privacy.audit import Actor, AuditEvent
from kefu.runtime import Runtime
from kefu.tenants.models import Tenant


def _two_tenants(runtime: Runtime) -> tuple[int, int]:
    with runtime.system_sessions.begin() as session:
        other = Tenant(slug="other", name="Other")
        session.add(other)
        session.flush()
        for tid in (runtime.tenant.id, other.id):
            customer = Customer(tenant_id=tid, external_id=f"c-{tid}", display_name=f"n{tid}")
            session.add(customer)
            session.flush()
            conv = Conversation(tenant_id=tid, customer_id=customer.id, language="zh")
            session.add(conv)
            session.flush()
            session.add(
                Message(
                    tenant_id=tid,
                    conversation_id=conv.id,
                    seq=1,
                    role=Role.CUSTOMER,
                    text=f"hello from {tid}",
                )
            )
            accounts.create_account(session, tid, f"admin{tid}", "correct horse 1", "admin")
            audit.record(session, Actor.system(), "test.event", tenant_id=tid)
        return runtime.tenant.id, other.id


@pytest.mark.parametrize(
    "model", [Customer, Conversation, Message, Account, AuditEvent], ids=lambda m: m.__name__
)
def test_tenant_session_sees_only_its_rows(runtime: Runtime, model: type) -> None:
    own, other = _two_tenants(runtime)
    for tid in (own, other):
        with runtime.sessions_for(tid)() as session:
            rows = session.scalars(select(model)).all()
            assert rows, model
            assert {r.tenant_id for r in rows} == {tid}


def test_joins_get_and_bulk_updates_are_scoped_too(runtime: Runtime) -> None:
    own, other = _two_tenants(runtime)
    with runtime.system_sessions() as session:
        theirs = session.scalars(select(Conversation).where(Conversation.tenant_id == other)).one()
    with runtime.sessions_for(own).begin() as session:
        # A join from an own table to another: the joined side is filtered as well.
        rows = session.execute(
            select(Message.text, Conversation.id).join(
                Conversation, Conversation.id == Message.conversation_id
            )
        ).all()
        assert [r.text for r in rows] == [f"hello from {own}"]
        # Looking up the other tenant's row by primary key finds nothing.
        assert session.get(Conversation, theirs.id) is None
        # A bulk UPDATE without a tenant filter touches only own rows.
        session.execute(update(Conversation).values(channel="changed"))
    with runtime.system_sessions() as session:
        assert session.get(Conversation, theirs.id).channel == "web"  # type: ignore[union-attr]


def test_writing_another_tenants_row_is_refused(runtime: Runtime) -> None:
    own, other = _two_tenants(runtime)
    with pytest.raises(TenantScopeError), runtime.sessions_for(own).begin() as session:
        session.add(Conversation(tenant_id=other, language="zh"))


def test_new_rows_get_the_sessions_tenant(runtime: Runtime) -> None:
    own, _ = _two_tenants(runtime)
    with runtime.sessions_for(own).begin() as session:
        conv = Conversation(language="en")
        session.add(conv)
    assert conv.tenant_id == own


def test_a_session_without_a_tenant_is_refused(runtime: Runtime) -> None:
    _two_tenants(runtime)
    with Session(runtime.engine) as session, pytest.raises(TenantScopeError):
        session.scalars(select(Conversation)).all()
    with Session(runtime.engine) as session, pytest.raises(TenantScopeError):
        session.scalar(select(func.count()).select_from(Conversation))
    # Tables without tenant rows are fine, and system sessions may span tenants.
    with Session(runtime.engine) as session:
        assert session.scalars(select(Tenant)).all()
    with make_session_factory(runtime.engine, system=True)() as session:
        assert len(session.scalars(select(Conversation)).all()) == 2


def test_tenant_and_system_are_exclusive(runtime: Runtime) -> None:
    with pytest.raises(ValueError):
        make_session_factory(runtime.engine, tenant_id=1, system=True)
