"""Console sign-in: POST /v1/auth/login sets the session cookie and returns the CSRF token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from kefu.accounts import service as accounts
from kefu.accounts.models import Account
from kefu.api.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CurrentPrincipal,
    client_ip,
)
from kefu.api.deps import RuntimeDep, require_json
from kefu.api.schemas import ErrorOut, Printable
from kefu.errors import KefuError, NotFound, Unauthorized
from kefu.privacy import audit
from kefu.privacy.audit import Actor
from kefu.tenants.models import Tenant

router = APIRouter(prefix="/v1/auth", tags=["auth"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 413, 415, 422, 429)
}


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Printable = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=accounts.MAX_PASSWORD)
    tenant: Printable | None = Field(
        None, max_length=64, description="Tenant slug; default: the deployment's tenant."
    )


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    display_name: str
    role: str
    active: bool


class MeOut(BaseModel):
    kind: str
    id: int
    name: str
    role: str | None
    tenant_id: int
    permissions: list[str]
    csrf_token: str | None = None


def _me(principal: accounts.Principal, key: str) -> MeOut:
    return MeOut(
        kind=principal.kind,
        id=principal.id,
        name=principal.name,
        role=principal.role.value if principal.role else None,
        tenant_id=principal.tenant_id,
        permissions=sorted(p.value for p in principal.permissions),
        csrf_token=accounts.csrf_token(principal.session_token, key)
        if principal.session_token
        else None,
    )


def _throttle(request: Request) -> Any:
    protection = getattr(request.app.state, "protection", None)
    return getattr(protection, "login", None)


@router.post("/login", response_model=MeOut, responses=ERRORS, dependencies=[Depends(require_json)])
def login(
    body: Annotated[LoginIn, Body()], request: Request, response: Response, runtime: RuntimeDep
) -> MeOut:
    """Sign in to the console. Repeated failures for one account or one address are paused
    (429 with Retry-After)."""
    ip = client_ip(request)
    agent = request.headers.get("user-agent")
    throttle = _throttle(request)
    slug = body.tenant or runtime.settings.tenant
    if throttle is not None:
        throttle.check(f"{slug}/{body.username}", ip or "-")
    with runtime.system_sessions.begin() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
        try:
            # An unknown tenant still costs a password check (against no account), so timing
            # doesn't tell which tenant slugs exist.
            account: Account = accounts.authenticate(
                session, tenant.id if tenant else -1, body.username, body.password
            )
        except KefuError:
            failed = True
            known = tenant is not None and accounts.account_exists(
                session, tenant.id, body.username
            )
        else:
            failed = False
            token = accounts.open_session(
                session,
                account,
                runtime.session_ttl,
                ip=ip,
                user_agent=agent,
            )
            audit.record(
                session,
                Actor("account", str(account.id), account.username, ip, agent),
                "auth.login",
                tenant_id=account.tenant_id,
                target_type="account",
                target_id=account.id,
            )
    if failed:
        if throttle is not None:
            throttle.failed(f"{slug}/{body.username}", ip or "-")
        if tenant is not None:  # attempts on unknown tenants have no tenant log to go to
            with runtime.system_sessions.begin() as session:
                # Only an existing account's name is kept: what people type into the username
                # field by mistake is often a password, and this log is never deleted.
                audit.record(
                    session,
                    Actor(
                        "anonymous", None, body.username if known else "(unknown user)", ip, agent
                    ),
                    "auth.login_failed",
                    tenant_id=tenant.id,
                    target_type="account" if known else None,
                    target_id=body.username if known else None,
                )
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    if throttle is not None:
        throttle.succeeded(f"{slug}/{body.username}", ip or "-")
    key = runtime.settings.signing_key
    secure = runtime.settings.secure_cookies
    max_age = int(runtime.session_ttl.total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    # Readable by the console's script, which echoes it in X-CSRF-Token.
    response.set_cookie(
        CSRF_COOKIE,
        accounts.csrf_token(token, key),
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return _me(accounts.principal_for_account(account, token), key)


@router.post("/logout", status_code=204, responses=ERRORS)
def logout(principal: CurrentPrincipal, request: Request, runtime: RuntimeDep) -> Response:
    """End this console session (the cookie stops working at once)."""
    if principal.session_token is None:
        raise NotFound("API keys have no session to end", code="no_session")
    with runtime.system_sessions.begin() as session:
        accounts.close_session(session, principal.session_token)
        audit.record(
            session,
            Actor("account", str(principal.id), principal.name, client_ip(request)),
            "auth.logout",
            tenant_id=principal.tenant_id,
            target_type="account",
            target_id=principal.id,
        )
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/me", response_model=MeOut, responses=ERRORS)
def me(principal: CurrentPrincipal, runtime: RuntimeDep) -> MeOut:
    """Who is signed in, with what permissions (and the CSRF token for this session)."""
    return _me(principal, runtime.settings.signing_key)
