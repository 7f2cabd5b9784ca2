"""Audit log, retention policy and data-subject requests (export, erase)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from kefu.accounts.permissions import Permission
from kefu.accounts.service import Principal
from kefu.api.auth import TenantReadSession, TenantSession, allowed, audited
from kefu.api.deps import RuntimeDep, require_json
from kefu.api.schemas import ErrorOut, Printable, as_utc
from kefu.errors import NotFound
from kefu.privacy import audit, retention
from kefu.tenants.models import Tenant

router = APIRouter(tags=["privacy"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 413, 415, 422, 429)
}
Auditor = Annotated[Principal, allowed(Permission.AUDIT_READ)]
SettingsAdmin = Annotated[Principal, allowed(Permission.SETTINGS_MANAGE)]
Exporter = Annotated[Principal, allowed(Permission.CUSTOMERS_EXPORT)]
Eraser = Annotated[Principal, allowed(Permission.CUSTOMERS_ERASE)]


class AuditOut(BaseModel):
    id: int
    at: str
    tenant_id: int | None
    actor: dict[str, Any]
    action: str
    target: dict[str, Any]
    detail: dict[str, Any] | None
    ip: str | None
    user_agent: str | None


class RetentionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int | None = Field(
        None, ge=1, le=36500, description="Keep transcripts this many days; null: forever."
    )
    mode: Literal["anonymise", "delete"] = "anonymise"


class PurgeOut(BaseModel):
    tenant: str
    mode: str
    conversations: int
    messages: int
    customers: int
    cutoff: str | None
    skipped: str | None


class EraseOut(BaseModel):
    customer_id: uuid.UUID
    conversations: int
    messages: int


def _customer_id(customer_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(customer_id)
    except ValueError:
        raise NotFound("customer not found", code="customer_not_found") from None


@router.get("/v1/audit", response_model=list[AuditOut], responses=ERRORS)
def list_audit(
    principal: Auditor,
    session: TenantReadSession,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: Annotated[Printable | None, Query(max_length=200)] = None,
    action: Annotated[Printable | None, Query(max_length=64)] = None,
    target_id: Annotated[Printable | None, Query(max_length=128)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditOut]:
    """Newest first; page with `before_id`. `action` matches a prefix (`auth.`)."""
    events = audit.query(
        session,
        since=as_utc(since),
        until=as_utc(until),
        actor=actor,
        action=action,
        target_id=target_id,
        before_id=before_id,
        limit=limit,
    )
    return [AuditOut(**audit.as_dict(e)) for e in events]


@router.get("/v1/admin/retention", response_model=RetentionPolicy, responses=ERRORS)
def get_retention(principal: SettingsAdmin, session: TenantReadSession) -> RetentionPolicy:
    tenant = session.get(Tenant, principal.tenant_id)
    assert tenant is not None
    return RetentionPolicy.model_validate(
        {"days": tenant.retention_days, "mode": tenant.retention_mode}
    )


@router.put(
    "/v1/admin/retention",
    response_model=RetentionPolicy,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def put_retention(
    body: RetentionPolicy, principal: SettingsAdmin, session: TenantSession, request: Request
) -> RetentionPolicy:
    """Set how long transcripts are kept; the scheduled job applies it (or run it now with
    POST /v1/admin/retention/run)."""
    tenant = session.get(Tenant, principal.tenant_id)
    assert tenant is not None
    before = retention.set_policy(session, tenant, body.days, body.mode)
    audited(
        session,
        principal,
        request,
        "settings.retention",
        target_type="tenant",
        target_id=tenant.slug,
        detail={"before": before, "after": body.model_dump()},
    )
    return body


@router.post("/v1/admin/retention/run", response_model=PurgeOut, responses=ERRORS)
def run_retention(principal: SettingsAdmin, runtime: RuntimeDep, request: Request) -> PurgeOut:
    """Apply the retention policy now instead of waiting for the scheduled run."""
    with runtime.sessions_for(principal.tenant_id).begin() as session:
        audited(
            session,
            principal,
            request,
            "retention.run",
            target_type="tenant",
        )
    result = retention.purge_tenant(runtime.system_sessions, principal.tenant_id, pii=runtime.pii)
    return PurgeOut(**result.as_dict())


@router.get("/v1/admin/customers/{customer_id}/export", responses=ERRORS)
def export_customer(
    customer_id: str, principal: Exporter, session: TenantSession, request: Request
) -> dict[str, Any]:
    """Everything kefu holds about one customer (data-subject access request), decrypted."""
    cid = _customer_id(customer_id)
    data = retention.export_customer(session, principal.tenant_id, cid)
    audited(
        session,
        principal,
        request,
        "customer.export",
        target_type="customer",
        target_id=cid,
        detail={"conversations": len(data["conversations"])},
    )
    return data


@router.post("/v1/admin/customers/{customer_id}/erase", response_model=EraseOut, responses=ERRORS)
def erase_customer(
    customer_id: str, principal: Eraser, session: TenantSession, request: Request
) -> EraseOut:
    """Erase one customer's texts and contact details; aggregate analytics stay intact."""
    cid = _customer_id(customer_id)
    counts = retention.erase_customer(session, principal.tenant_id, cid)
    audited(
        session,
        principal,
        request,
        "customer.erase",
        target_type="customer",
        target_id=cid,
        detail=counts,
    )
    return EraseOut(customer_id=cid, **counts)
