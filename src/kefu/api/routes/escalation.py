"""The tenant's escalation rules (when the bot hands over, business hours): read and set."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from kefu.accounts.permissions import Permission
from kefu.accounts.service import Principal
from kefu.api.auth import TenantReadSession, TenantSession, allowed, set_tenant_setting
from kefu.api.deps import RuntimeDep, require_json
from kefu.api.schemas import ErrorOut
from kefu.dialogue.escalation import DEFAULT_RULES, EscalationRules
from kefu.tenants.models import Tenant

router = APIRouter(tags=["settings"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 413, 415, 422, 429)
}
SettingsAdmin = Annotated[Principal, allowed(Permission.SETTINGS_MANAGE)]


@router.get("/v1/admin/escalation", response_model=EscalationRules, responses=ERRORS)
def get_escalation(principal: SettingsAdmin, session: TenantReadSession) -> EscalationRules:
    tenant = session.get(Tenant, principal.tenant_id)
    assert tenant is not None
    return EscalationRules.model_validate(tenant.escalation) if tenant.escalation else DEFAULT_RULES


@router.put(
    "/v1/admin/escalation",
    response_model=EscalationRules,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def put_escalation(
    body: EscalationRules,
    principal: SettingsAdmin,
    session: TenantSession,
    request: Request,
    runtime: RuntimeDep,
) -> EscalationRules:
    """When the bot hands over to a person, and the hours people are there. Takes effect
    within seconds on every server process."""
    set_tenant_setting(session, principal, request, "escalation", body.model_dump(mode="json"))
    runtime.handoffs.forget_rules()
    return body
