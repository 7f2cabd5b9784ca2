"""Who is calling the console and integration API, and may they?

Two kinds of caller:
- a signed-in console account: an HttpOnly, SameSite=Strict session cookie, plus an
  `X-CSRF-Token` header on every state-changing request (bound to the session), so another
  site can't make the browser act for the account;
- an integration: `Authorization: Bearer kefu_<prefix>_<secret>`, scoped and revocable.
Routes ask for a permission (`allowed(Permission.X)`), never a role; the matrix lives in
`kefu.accounts.permissions`. Every query then runs in a session scoped to the caller's tenant.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from kefu.accounts import service as accounts
from kefu.accounts.permissions import Permission
from kefu.accounts.service import API_KEY_PREFIX, Principal
from kefu.api import protection
from kefu.api.deps import RuntimeDep
from kefu.errors import Forbidden, Unauthorized
from kefu.privacy import audit
from kefu.privacy.audit import Actor
from kefu.runtime import Runtime
from kefu.tenants.models import Tenant

SESSION_COOKIE = "kefu_session"
CSRF_COOKIE = "kefu_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def client_ip(request: Request) -> str | None:
    """The caller's address, through trusted proxies (the same one rate limits use)."""
    protection = getattr(request.app.state, "protection", None)
    if protection is not None:
        return str(protection.client_ip(request.scope))
    return request.client.host if request.client else None


def actor_of(principal: Principal, request: Request) -> Actor:
    return Actor(
        principal.kind,
        str(principal.id),
        principal.name,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )


def audited(
    session: Session,
    principal: Principal,
    request: Request,
    action: str,
    *,
    target_type: str | None = None,
    target_id: object = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """An audit event by the caller, in their tenant, inside `session`'s transaction."""
    audit.record(
        session,
        actor_of(principal, request),
        action,
        tenant_id=principal.tenant_id,
        target_type=target_type,
        target_id=target_id,
        detail=detail,
    )


def _check_api_key_rate(request: Request, key_id: int) -> None:
    if getattr(request.app.state, "protection", None) is not None:
        protection.check_api_key(request, str(key_id))


def current_principal(request: Request, runtime: RuntimeDep) -> Principal:
    auth = request.headers.get("authorization", "")
    scheme, _, credential = auth.partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and credential.startswith(API_KEY_PREFIX):
        with runtime.system_sessions.begin() as session:
            principal = accounts.principal_for_api_key(session, credential)
        _check_api_key_rate(request, principal.id)
        return principal
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized(
            "sign in (POST /v1/auth/login) or send an API key as Authorization: Bearer",
            code="not_signed_in",
        )
    with runtime.system_sessions() as session:
        principal = accounts.principal_for_session(session, token)
    if request.method not in SAFE_METHODS and not accounts.csrf_valid(
        token, runtime.settings.signing_key, request.headers.get(CSRF_HEADER)
    ):
        raise Forbidden(
            "missing or wrong X-CSRF-Token header (from the sign-in response)",
            code="csrf_failed",
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def allowed(permission: Permission) -> Any:
    """`principal: Annotated[Principal, allowed(Permission.X)]`: signed in and permitted."""

    def check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(permission):
            raise Forbidden(f"this needs the {permission.value} permission", code="forbidden")
        return principal

    check.__name__ = f"allowed_{permission.name.lower()}"
    return Depends(check)


def tenant_session(principal: CurrentPrincipal, runtime: RuntimeDep) -> Iterator[Session]:
    """A read-write session that can only see the caller's tenant; commits on success."""
    with runtime.sessions_for(principal.tenant_id).begin() as session:
        yield session


def tenant_read_session(principal: CurrentPrincipal, runtime: RuntimeDep) -> Iterator[Session]:
    """A read-only session on the caller's tenant (on SQLite it takes no write lock)."""
    with runtime.sessions_for(principal.tenant_id, read_only=True)() as session:
        yield session


# scope="function": the transaction ends (commits, or rolls back on an error) before the
# response is sent, so a 2xx means the change and its audit event are stored, and no lock is
# held while a slow client reads the response.
TenantSession = Annotated[Session, Depends(tenant_session, scope="function")]
TenantReadSession = Annotated[Session, Depends(tenant_read_session, scope="function")]


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def set_tenant_setting(
    session: Session, principal: Principal, request: Request, name: str, value: dict[str, Any]
) -> None:
    """Store one of the caller's tenant's JSON settings (`escalation`, `widget`) and audit it
    as `settings.<name>` with before and after, in the same transaction."""
    tenant = session.get_one(Tenant, principal.tenant_id)
    before = getattr(tenant, name)
    setattr(tenant, name, value)
    audited(
        session,
        principal,
        request,
        f"settings.{name}",
        target_type="tenant",
        target_id=tenant.slug,
        detail={"before": before, "after": value},
    )
    session.flush()
