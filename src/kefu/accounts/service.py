"""Accounts, sign-in sessions and API keys: creation, verification, revocation.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile) and
rehashed on sign-in when those parameters change. Session and API-key secrets are random
256-bit tokens; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kefu.accounts.models import Account, ApiKey, ConsoleSession
from kefu.accounts.permissions import (
    API_KEY_SCOPES,
    AccountRole,
    Permission,
    permissions_of,
)
from kefu.db.base import utcnow
from kefu.errors import Conflict, InvalidInput, NotFound, Unauthorized

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the account doesn't exist, so "no such user" and "wrong password"
    take equally long and timing doesn't reveal which usernames exist. Made on first use: an
    argon2 hash costs ~0.1 s, too much for every process start."""
    return _hasher.hash(secrets.token_urlsafe(16))


USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256  # argon2 takes any length; the cap keeps hostile bodies cheap
API_KEY_PREFIX = "kefu_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in account or an integration's API key."""

    tenant_id: int
    kind: str  # "account" | "api_key"
    id: int
    name: str
    role: AccountRole | None
    permissions: frozenset[Permission]
    session_token: str | None = None  # for the CSRF check of cookie sessions

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def check_password_policy(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"password must be at least {MIN_PASSWORD} characters", code="weak_password"
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"password over {MAX_PASSWORD} characters", code="invalid_password")


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _hasher.hash(password)


# -- accounts ------------------------------------------------------------------------------


def create_account(
    session: Session,
    tenant_id: int,
    username: str,
    password: str,
    role: AccountRole | str,
    display_name: str = "",
) -> Account:
    if not USERNAME.match(username or ""):
        raise InvalidInput(
            "username: 2-64 letters, digits or . _ @ -, starting with a letter or digit",
            code="invalid_username",
        )
    try:
        role = AccountRole(role)
    except ValueError:
        roles = ", ".join(r.value for r in AccountRole)
        raise InvalidInput(f"unknown role {role!r} (one of {roles})", code="invalid_role") from None
    taken = session.scalar(
        select(Account.id).where(Account.tenant_id == tenant_id, Account.username == username)
    )
    if taken is not None:
        raise Conflict(f"username {username!r} is taken", code="username_taken")
    account = Account(
        tenant_id=tenant_id,
        username=username,
        display_name=display_name[:200],
        password_hash=hash_password(password),
        role=role,
        active=True,
    )
    session.add(account)
    session.flush()
    return account


def get_account(session: Session, tenant_id: int, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None or account.tenant_id != tenant_id:
        raise NotFound("account not found", code="account_not_found")
    return account


def list_accounts(session: Session, tenant_id: int) -> Sequence[Account]:
    return session.scalars(
        select(Account).where(Account.tenant_id == tenant_id).order_by(Account.id)
    ).all()


def update_account(
    session: Session,
    account: Account,
    *,
    role: AccountRole | str | None = None,
    active: bool | None = None,
    password: str | None = None,
    display_name: str | None = None,
) -> list[str]:
    """Apply changes; return the names of the fields that changed (for the audit log).
    Deactivating an account or changing its password or role signs it out everywhere."""
    losing_admin = (
        account.role is AccountRole.ADMIN
        and account.active
        and ((role is not None and AccountRole(role) is not AccountRole.ADMIN) or active is False)
    )
    if losing_admin and _active_admins(session, account.tenant_id) <= 1:
        raise Conflict(
            "this is the tenant's last active admin: make another admin first",
            code="last_admin",
        )
    changed = []
    if role is not None and AccountRole(role) != account.role:
        account.role = AccountRole(role)
        changed.append("role")
    if active is not None and active != account.active:
        account.active = active
        changed.append("active")
    if password is not None:
        account.password_hash = hash_password(password)
        changed.append("password")
    if display_name is not None and display_name != account.display_name:
        account.display_name = display_name[:200]
        changed.append("display_name")
    if {"role", "active", "password"} & set(changed):
        revoke_sessions(session, account.id)
    return changed


def _active_admins(session: Session, tenant_id: int) -> int:
    return len(
        session.scalars(
            select(Account.id).where(
                Account.tenant_id == tenant_id,
                Account.role == AccountRole.ADMIN,
                Account.active.is_(True),
            )
        ).all()
    )


def account_exists(session: Session, tenant_id: int, username: str) -> bool:
    return (
        session.scalar(
            select(Account.id).where(Account.tenant_id == tenant_id, Account.username == username)
        )
        is not None
    )


def authenticate(session: Session, tenant_id: int, username: str, password: str) -> Account:
    """The account, if the password is right and the account active; Unauthorized otherwise
    (one message for every failure, so it doesn't confirm which usernames exist)."""
    failure = Unauthorized("wrong username or password", code="invalid_credentials")
    if not isinstance(password, str) or len(password) > MAX_PASSWORD:
        raise failure
    account = session.scalar(
        select(Account).where(Account.tenant_id == tenant_id, Account.username == username)
    )
    try:
        _hasher.verify(account.password_hash if account else _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise failure from None
    if account is None or not account.active:
        raise failure
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    account.last_login_at = utcnow()
    return account


# -- sessions --------------------------------------------------------------------------------


def open_session(
    session: Session,
    account: Account,
    ttl: timedelta,
    ip: str | None = None,
    user_agent: str | None = None,
) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            tenant_id=account.tenant_id,
            account_id=account.id,
            token_hash=_sha256(token),
            expires_at=utcnow() + ttl,
            ip=ip,
            user_agent=(user_agent or "")[:200] or None,
        )
    )
    session.flush()
    return token


def principal_for_session(session: Session, token: str) -> Principal:
    """The signed-in account behind a session cookie. Role and active flag are read fresh on
    every request, so a demotion or deactivation takes effect at once."""
    row = session.execute(
        select(ConsoleSession, Account)
        .join(Account, Account.id == ConsoleSession.account_id)
        .where(ConsoleSession.token_hash == _sha256(token))
    ).one_or_none()
    if row is None:
        raise Unauthorized("not signed in", code="not_signed_in")
    console_session, account = row
    if console_session.revoked_at is not None or not account.active:
        raise Unauthorized("signed out", code="not_signed_in")
    if console_session.expires_at <= utcnow():
        raise Unauthorized("session expired; sign in again", code="session_expired")
    return principal_for_account(account, token)


def principal_for_account(account: Account, session_token: str) -> Principal:
    return Principal(
        tenant_id=account.tenant_id,
        kind="account",
        id=account.id,
        name=account.username,
        role=account.role,
        permissions=permissions_of(account.role),
        session_token=session_token,
    )


def close_session(session: Session, token: str) -> None:
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.token_hash == _sha256(token), ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_sessions(session: Session, account_id: int) -> None:
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.account_id == account_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def csrf_token(session_token: str, key: str) -> str:
    """Bound to the session, so a token from one sign-in is useless for another."""
    return hmac.new(key.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def csrf_valid(session_token: str, key: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(session_token, key), presented or "")


# -- API keys --------------------------------------------------------------------------------


def parse_scopes(scopes: Iterable[str]) -> list[Permission]:
    out = []
    for scope in scopes:
        try:
            permission = Permission(scope)
        except ValueError:
            raise InvalidInput(f"unknown scope {scope!r}", code="invalid_scope") from None
        if permission not in API_KEY_SCOPES:
            raise InvalidInput(
                f"scope {scope!r} can't be given to an API key", code="invalid_scope"
            )
        out.append(permission)
    if not out:
        raise InvalidInput("an API key needs at least one scope", code="invalid_scope")
    return sorted(set(out))


def create_api_key(
    session: Session,
    tenant_id: int,
    name: str,
    scopes: Iterable[str],
    created_by: int | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """The new key row and the key itself, shown once: only its hash is kept."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("name: 1-100 characters", code="invalid_name")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        tenant_id=tenant_id,
        name=name,
        prefix=prefix,
        secret_hash=_sha256(secret),
        scopes=[s.value for s in parse_scopes(scopes)],
        created_by=created_by,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    return key, f"{API_KEY_PREFIX}{prefix}_{secret}"


def principal_for_api_key(session: Session, presented: str) -> Principal:
    invalid = Unauthorized("invalid API key", code="invalid_api_key")
    body = presented[len(API_KEY_PREFIX) :] if presented.startswith(API_KEY_PREFIX) else ""
    prefix, _, secret = body.partition("_")
    if not prefix or not secret or len(presented) > 200:
        raise invalid
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or not hmac.compare_digest(key.secret_hash, _sha256(secret)):
        raise invalid
    now = utcnow()
    if key.revoked_at is not None:
        raise Unauthorized("API key revoked", code="api_key_revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthorized("API key expired", code="api_key_expired")
    # Hourly precision is enough to see which keys are in use, without a write per request.
    if key.last_used_at is None or now - key.last_used_at > timedelta(hours=1):
        key.last_used_at = now
    return Principal(
        tenant_id=key.tenant_id,
        kind="api_key",
        id=key.id,
        name=key.name,
        role=None,
        permissions=frozenset(Permission(s) for s in key.scopes if s in set(Permission)),
    )


def list_api_keys(session: Session, tenant_id: int) -> Sequence[ApiKey]:
    return session.scalars(
        select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.id)
    ).all()


def revoke_api_key(session: Session, tenant_id: int, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.tenant_id != tenant_id:
        raise NotFound("API key not found", code="api_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key
