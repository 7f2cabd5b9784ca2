"""Console accounts and integration API keys (admins only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from kefu.accounts import service as accounts
from kefu.accounts.permissions import AccountRole, Permission
from kefu.accounts.service import Principal
from kefu.api.auth import TenantReadSession, TenantSession, allowed, audited
from kefu.api.deps import require_json
from kefu.api.routes.auth import AccountOut
from kefu.api.schemas import ErrorOut, Printable, as_utc

router = APIRouter(tags=["accounts"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429)
}
Admin = Annotated[Principal, allowed(Permission.ACCOUNTS_MANAGE)]
KeyAdmin = Annotated[Principal, allowed(Permission.API_KEYS_MANAGE)]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountCreate(_In):
    username: Printable = Field(min_length=2, max_length=64)
    password: str = Field(min_length=1, max_length=accounts.MAX_PASSWORD)
    role: AccountRole
    display_name: Printable = Field("", max_length=200)


class AccountPatch(_In):
    role: AccountRole | None = None
    active: bool | None = None
    password: str | None = Field(None, min_length=1, max_length=accounts.MAX_PASSWORD)
    display_name: Printable | None = Field(None, max_length=200)


class ApiKeyCreate(_In):
    name: Printable = Field(min_length=1, max_length=100)
    scopes: list[Permission] = Field(min_length=1, max_length=len(Permission))
    expires_at: Annotated[datetime | None, AfterValidator(as_utc)] = Field(
        None, description="When the key stops working; a time without a zone is UTC."
    )


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. Shown once: kefu keeps only its hash.")


@router.get("/v1/accounts", response_model=list[AccountOut], responses=ERRORS)
def list_accounts(principal: Admin, session: TenantReadSession) -> list[AccountOut]:
    return [
        AccountOut.model_validate(a) for a in accounts.list_accounts(session, principal.tenant_id)
    ]


@router.post(
    "/v1/accounts",
    status_code=201,
    response_model=AccountOut,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def create_account(
    body: AccountCreate, principal: Admin, session: TenantSession, request: Request
) -> AccountOut:
    account = accounts.create_account(
        session, principal.tenant_id, body.username, body.password, body.role, body.display_name
    )
    audited(
        session,
        principal,
        request,
        "account.create",
        target_type="account",
        target_id=account.id,
        detail={"username": account.username, "role": account.role.value},
    )
    return AccountOut.model_validate(account)


@router.patch(
    "/v1/accounts/{account_id}",
    response_model=AccountOut,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def update_account(
    account_id: RowId,
    body: AccountPatch,
    principal: Admin,
    session: TenantSession,
    request: Request,
) -> AccountOut:
    """Change role, active flag, password or name. Changing role, active or password signs
    the account out everywhere."""
    account = accounts.get_account(session, principal.tenant_id, account_id)
    changed = accounts.update_account(
        session,
        account,
        role=body.role,
        active=body.active,
        password=body.password,
        display_name=body.display_name,
    )
    if changed:
        audited(
            session,
            principal,
            request,
            "account.update",
            target_type="account",
            target_id=account.id,
            detail={
                "changed": changed,
                **({"role": account.role.value} if "role" in changed else {}),
                **({"active": account.active} if "active" in changed else {}),
            },
        )
    return AccountOut.model_validate(account)


@router.get("/v1/api-keys", response_model=list[ApiKeyOut], responses=ERRORS)
def list_api_keys(principal: KeyAdmin, session: TenantReadSession) -> list[ApiKeyOut]:
    return [
        ApiKeyOut.model_validate(k) for k in accounts.list_api_keys(session, principal.tenant_id)
    ]


@router.post(
    "/v1/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def create_api_key(
    body: ApiKeyCreate, principal: KeyAdmin, session: TenantSession, request: Request
) -> ApiKeyCreated:
    """Mint a key for an integration. The response holds the key once; store it safely."""
    key, secret = accounts.create_api_key(
        session,
        principal.tenant_id,
        body.name,
        [s.value for s in body.scopes],
        created_by=principal.id if principal.kind == "account" else None,
        expires_at=body.expires_at,
    )
    audited(
        session,
        principal,
        request,
        "api_key.create",
        target_type="api_key",
        target_id=key.id,
        detail={"name": key.name, "scopes": key.scopes},
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=secret)


@router.delete("/v1/api-keys/{key_id}", status_code=204, responses=ERRORS)
def revoke_api_key(
    key_id: RowId, principal: KeyAdmin, session: TenantSession, request: Request
) -> Response:
    """Revoke a key: it stops working at once."""
    key = accounts.revoke_api_key(session, principal.tenant_id, key_id)
    audited(
        session,
        principal,
        request,
        "api_key.revoke",
        target_type="api_key",
        target_id=key.id,
    )
    return Response(status_code=204)
