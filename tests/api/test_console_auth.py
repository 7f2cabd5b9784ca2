"""Console sign-in over HTTP: cookie flags, CSRF, sign-out, throttling, and the audit trail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kefu.accounts import service as accounts
from kefu.api.app import create_app
from kefu.config import Settings
from kefu.runtime import Runtime

PASSWORD = "correct horse battery"


@pytest.fixture
def console(settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    with runtime.sessions_for(runtime.tenant.id).begin() as session:
        accounts.create_account(session, runtime.tenant.id, "alice", PASSWORD, "admin")
    limited = settings.model_copy(update={"login_attempts": "3/15 minutes"})
    with TestClient(create_app(limited, runtime)) as client:
        yield client


def _login(client: TestClient, password: str = PASSWORD) -> dict[str, str]:
    res = client.post("/v1/auth/login", json={"username": "alice", "password": password})
    assert res.status_code == 200, res.text
    return {"X-CSRF-Token": res.json()["csrf_token"]}


def test_session_cookie_is_httponly_strict_and_csrf_guards_changes(console: TestClient) -> None:
    res = console.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    cookies = res.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("kefu_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/" in session
    csrf_cookie = next(c for c in cookies if c.startswith("kefu_csrf="))
    assert "HttpOnly" not in csrf_cookie
    csrf = {"X-CSRF-Token": res.json()["csrf_token"]}
    body = {"name": "bi", "scopes": ["analytics:read"]}
    # Reads need no token; a change without it (a forged cross-site request) is refused.
    assert console.get("/v1/api-keys").status_code == 200
    refused = console.post("/v1/api-keys", json=body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    wrong = console.post("/v1/api-keys", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    assert console.post("/v1/api-keys", json=body, headers=csrf).status_code == 201


def test_sign_out_ends_the_session_at_once(console: TestClient) -> None:
    csrf = _login(console)
    me = console.get("/v1/auth/me").json()
    assert me["name"] == "alice" and "accounts:manage" in me["permissions"]
    stolen = console.cookies.get("kefu_session")
    assert console.post("/v1/auth/logout", headers=csrf).status_code == 204
    console.cookies.set("kefu_session", stolen or "")
    res = console.get("/v1/auth/me")
    assert res.status_code == 401 and res.json()["error"]["code"] == "not_signed_in"


def test_failed_sign_ins_are_throttled_and_audited(console: TestClient, runtime: Runtime) -> None:
    # Unknown users get the same answer as wrong passwords.
    for user in ("mallory", "alice", "alice"):
        res = console.post("/v1/auth/login", json={"username": user, "password": "nope-nope"})
        assert res.status_code == 401
        assert res.json()["error"]["message"] == "wrong username or password"
    # Three failures from this address: even the right password waits now.
    blocked = console.post("/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    from kefu.privacy import audit

    with runtime.sessions_for(runtime.tenant.id)() as session:
        actions = [e.action for e in audit.query(session, action="auth.")]
    assert actions.count("auth.login_failed") == 3


def test_an_api_key_reaches_only_its_scopes(console: TestClient) -> None:
    csrf = _login(console)
    made = console.post(
        "/v1/api-keys", json={"name": "bi", "scopes": ["audit:read"]}, headers=csrf
    ).json()
    key = {"Authorization": f"Bearer {made['key']}"}
    console.cookies.clear()
    assert console.get("/v1/audit", headers=key).status_code == 200
    denied = console.get("/v1/console/conversations", headers=key)
    assert denied.status_code == 403 and "conversations:read" in denied.json()["error"]["message"]
    assert console.get("/v1/api-keys", headers=key).status_code == 403
    # Mistyped keys are refused the same way as unknown ones.
    assert console.get("/v1/audit", headers={"Authorization": "Bearer kefu_x_y"}).status_code == 401
    bad_body = console.post("/v1/auth/login", json={"username": "alice"})
    assert bad_body.status_code == 422


def test_parallel_guesses_cannot_outrun_the_throttle(console: TestClient) -> None:
    """The account's attempt is counted before the slow password check, so a burst of
    parallel guesses gets no more than `login_attempts` checked."""
    from concurrent.futures import ThreadPoolExecutor

    def guess(_: int) -> int:
        body = {"username": "alice", "password": "guess-guess"}
        return console.post("/v1/auth/login", json=body).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(guess, range(24)))
    assert codes.count(401) <= 3 and codes.count(429) >= 21 and set(codes) <= {401, 429}


def test_odd_input_gets_4xx_not_5xx(console: TestClient) -> None:
    csrf = _login(console)
    # A time without a zone is read as UTC.
    assert console.get("/v1/audit?since=2026-01-01").status_code == 200
    made = console.post(
        "/v1/api-keys",
        json={"name": "k", "scopes": ["audit:read"], "expires_at": "2030-01-01T00:00:00"},
        headers=csrf,
    )
    assert made.status_code == 201 and made.json()["expires_at"].startswith("2030-01-01T00:00")
    # Control characters (PostgreSQL can't store NUL) are refused with a message.
    for method, path, body in (
        ("POST", "/v1/auth/login", {"username": "a\u0000", "password": "x"}),
        ("POST", "/v1/api-keys", {"name": "k\u0000", "scopes": ["audit:read"]}),
        (
            "POST",
            "/v1/accounts",
            {"username": "bob", "password": PASSWORD, "role": "agent", "display_name": "B\u0000"},
        ),
        ("GET", "/v1/audit?actor=a%00", None),
    ):
        res = console.request(method, path, json=body, headers=csrf)
        assert res.status_code == 422, (path, res.text)


def test_the_last_admin_stays_an_admin_and_runs_are_audited(
    console: TestClient, runtime: Runtime
) -> None:
    csrf = _login(console)
    me = console.get("/v1/auth/me").json()
    res = console.patch(f"/v1/accounts/{me['id']}", json={"role": "agent"}, headers=csrf)
    assert res.status_code == 409 and res.json()["error"]["code"] == "last_admin"
    assert console.post("/v1/admin/retention/run", headers=csrf).status_code == 200
    from kefu.privacy import audit

    with runtime.sessions_for(runtime.tenant.id)() as session:
        events = audit.query(session, action="retention.run")
    assert [e.actor_name for e in events] == ["alice"]
