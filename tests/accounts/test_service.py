"""Accounts, sessions and API keys at the service level."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kefu.accounts import service as accounts
from kefu.accounts.permissions import (
    API_KEY_SCOPES,
    ROLE_PERMISSIONS,
    AccountRole,
    Permission,
)
from kefu.db.base import utcnow
from kefu.errors import Conflict, InvalidInput, Unauthorized
from kefu.runtime import Runtime

PASSWORD = "correct horse battery"


def test_passwords_are_argon2_hashed_and_verified(runtime: Runtime) -> None:
    tid = runtime.tenant.id
    with runtime.sessions_for(tid).begin() as session:
        account = accounts.create_account(session, tid, "alice", PASSWORD, "agent")
        assert account.password_hash.startswith("$argon2id$")
        assert PASSWORD not in account.password_hash
    with runtime.sessions_for(tid).begin() as session:
        assert accounts.authenticate(session, tid, "alice", PASSWORD).username == "alice"
        for user, pw in (("alice", "wrong password"), ("nobody", PASSWORD)):
            with pytest.raises(Unauthorized) as caught:
                accounts.authenticate(session, tid, user, pw)
            assert caught.value.message == "wrong username or password"


def test_bad_account_input_is_refused_clearly(runtime: Runtime) -> None:
    tid = runtime.tenant.id
    with runtime.sessions_for(tid).begin() as session:
        with pytest.raises(InvalidInput, match="at least"):
            accounts.create_account(session, tid, "bob", "short", "agent")
        with pytest.raises(InvalidInput, match="unknown role"):
            accounts.create_account(session, tid, "bob", PASSWORD, "root")
        with pytest.raises(InvalidInput, match="username"):
            accounts.create_account(session, tid, "<script>", PASSWORD, "agent")
        accounts.create_account(session, tid, "bob", PASSWORD, "agent")
        with pytest.raises(Conflict):
            accounts.create_account(session, tid, "bob", PASSWORD, "agent")


def test_sessions_expire_revoke_and_follow_role_changes(runtime: Runtime) -> None:
    tid = runtime.tenant.id
    with runtime.sessions_for(tid).begin() as session:
        account = accounts.create_account(session, tid, "carol", PASSWORD, "agent")
        token = accounts.open_session(session, account, timedelta(hours=1))
        short = accounts.open_session(session, account, timedelta(seconds=-1))
    with runtime.system_sessions() as session:
        principal = accounts.principal_for_session(session, token)
        assert principal.role is AccountRole.AGENT and principal.can(Permission.PII_READ)
        with pytest.raises(Unauthorized, match="expired"):
            accounts.principal_for_session(session, short)
        with pytest.raises(Unauthorized):
            accounts.principal_for_session(session, "forged")
    with runtime.sessions_for(tid).begin() as session:
        account = accounts.get_account(session, tid, account.id)
        assert accounts.update_account(session, account, role="analyst") == ["role"]
    with runtime.system_sessions() as session, pytest.raises(Unauthorized):
        accounts.principal_for_session(session, token)  # a role change signs out


def test_csrf_token_is_bound_to_the_session() -> None:
    key = "k" * 40
    token = accounts.csrf_token("session-a", key)
    assert accounts.csrf_valid("session-a", key, token)
    assert not accounts.csrf_valid("session-b", key, token)
    assert not accounts.csrf_valid("session-a", key, None)


def test_api_keys_are_hashed_scoped_and_revocable(runtime: Runtime) -> None:
    tid = runtime.tenant.id
    with runtime.sessions_for(tid).begin() as session:
        key, secret = accounts.create_api_key(session, tid, "bi", ["analytics:read"])
        assert secret.startswith("kefu_") and key.secret_hash not in secret
        with pytest.raises(InvalidInput, match="can't be given"):
            accounts.create_api_key(session, tid, "bad", ["accounts:manage"])
        with pytest.raises(InvalidInput, match="unknown scope"):
            accounts.create_api_key(session, tid, "bad", ["everything"])
        _, expired_secret = accounts.create_api_key(
            session, tid, "old", ["analytics:read"], expires_at=utcnow() - timedelta(days=1)
        )
    with runtime.system_sessions.begin() as session:
        principal = accounts.principal_for_api_key(session, secret)
        assert principal.permissions == {Permission.ANALYTICS_READ}
        with pytest.raises(Unauthorized, match="invalid"):
            accounts.principal_for_api_key(session, secret[:-2] + "xx")
        with pytest.raises(Unauthorized, match="expired"):
            accounts.principal_for_api_key(session, expired_secret)
    with runtime.sessions_for(tid).begin() as session:
        accounts.revoke_api_key(session, tid, key.id)
    with runtime.system_sessions() as session, pytest.raises(Unauthorized, match="revoked"):
        accounts.principal_for_api_key(session, secret)


def test_permission_matrix_shape() -> None:
    assert ROLE_PERMISSIONS[AccountRole.ADMIN] == frozenset(Permission)
    assert Permission.PII_READ not in ROLE_PERMISSIONS[AccountRole.ANALYST]
    assert Permission.ACCOUNTS_MANAGE not in API_KEY_SCOPES
    for role in AccountRole:
        assert ROLE_PERMISSIONS[role] <= ROLE_PERMISSIONS[AccountRole.ADMIN]
