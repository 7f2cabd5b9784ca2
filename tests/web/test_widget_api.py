"""The widget's server side over HTTP, on SQLite and PostgreSQL: the script, the public config
(settings over defaults, strings, the tenant check, allowed origins), the admin settings
(validation, permission, audit), and CORS on the customer API only, 429s included."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from kefu.accounts import service as accounts
from kefu.accounts.permissions import AccountRole
from kefu.api.app import create_app
from kefu.config import Settings
from kefu.i18n import catalog
from kefu.privacy.audit import AuditEvent
from kefu.runtime import Runtime
from tests.conftest import start

PASSWORD = "correct horse battery"
SHOP = "https://shop.example"
PREFLIGHT = {
    "Origin": SHOP,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


def sign_in(
    client: TestClient, runtime: Runtime, username: str, role: AccountRole
) -> dict[str, str]:
    with runtime.sessions_for(runtime.tenant.id).begin() as session:
        accounts.create_account(session, runtime.tenant.id, username, PASSWORD, role)
    res = client.post("/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert res.status_code == 200, res.text
    return {"X-CSRF-Token": res.json()["csrf_token"]}


def put_settings(client: TestClient, runtime: Runtime, body: dict[str, Any]) -> dict[str, Any]:
    headers = sign_in(client, runtime, "boss", AccountRole.ADMIN)
    res = client.put("/v1/admin/widget", json=body, headers=headers)
    assert res.status_code == 200, res.text
    client.post("/v1/auth/logout", headers=headers)
    client.cookies.clear()
    stored: dict[str, Any] = res.json()
    return stored


def config(client: TestClient, query: str = "tenant=default", **headers: str) -> Any:
    return client.get(f"/v1/widget/config?{query}", headers=headers)


def test_the_script_is_one_valid_javascript_file(client: TestClient) -> None:
    res = client.get("/widget.js")
    assert res.status_code == 200
    assert res.headers["content-type"] == "text/javascript; charset=utf-8"
    assert res.headers["cache-control"] == "public, max-age=300"
    assert res.headers["cross-origin-resource-policy"] == "cross-origin"
    body = res.text
    # widget-ui.js and widget.css are inside it; no placeholder is left.
    assert "@include" not in body and "__KEFU_WIDGET_CSS__" not in body
    assert "function build()" in body and ":host { all: initial; }" in body
    assert ".innerHTML" not in body and "insertAdjacentHTML" not in body  # text only
    node = shutil.which("node")
    if node is not None:  # a syntax error would hide the widget on every site
        checked = subprocess.run(
            [node, "--check", "--input-type=commonjs"],
            input=body,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr


def test_config_without_settings_is_the_defaults_in_the_language_asked(
    client: TestClient, settings: Settings
) -> None:
    for lang in ("zh", "en"):
        res = config(client, f"tenant=default&lang={lang}")
        assert res.status_code == 200, res.text
        assert res.headers["cache-control"] == "no-cache"
        body = res.json()
        strings = {k[7:]: v for k, v in catalog(lang).items() if k.startswith("widget.")}
        assert body == {
            "tenant": "default",
            "lang": lang,
            "title": strings["title"],
            "greeting": strings["greeting"],
            "color": "#1677ff",
            "position": "right",
            "logo_url": "",
            "max_chars": settings.max_message_chars,
            "strings": strings,
        }
        assert {"open", "close", "send_label", "input", "survey.title"} <= set(strings)
    assert config(client).json()["lang"] == settings.default_language
    assert config(client, "tenant=default&lang=fr").status_code == 422


def test_config_merges_the_stored_settings(client: TestClient, runtime: Runtime) -> None:
    stored = put_settings(
        client,
        runtime,
        {
            "title": {"zh": "  小店客服 "},
            "greeting": {"en": "Hello!\nAsk me anything."},
            "color": "#0A7F5A",
            "position": "left",
            "logo_url": "https://shop.example/logo.png",
        },
    )
    assert stored["color"] == "#0a7f5a" and stored["title"] == {"zh": "小店客服", "en": None}
    zh = config(client, "tenant=default&lang=zh").json()
    en = config(client, "tenant=default&lang=en").json()
    assert (zh["title"], zh["greeting"]) == ("小店客服", catalog("zh")["widget.greeting"])
    assert (en["title"], en["greeting"]) == (
        catalog("en")["widget.title"],
        "Hello!\nAsk me anything.",
    )
    for body in (zh, en):
        assert (body["color"], body["position"]) == ("#0a7f5a", "left")
        assert body["logo_url"] == "https://shop.example/logo.png"
        assert "allowed_origins" not in body  # the operator's list is nobody else's business


def test_an_unknown_tenant_is_404_with_a_reason(client: TestClient) -> None:
    res = config(client, "tenant=acme")
    assert res.status_code == 404
    error = res.json()["error"]
    assert error["code"] == "tenant_not_found" and "one tenant" in error["message"]
    assert config(client, "lang=zh").status_code == 422  # tenant is required


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # validation: no storage involved
@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"color": "red"}, "color"),
        ({"color": "#12345"}, "color"),
        ({"position": "top"}, "position"),
        ({"logo_url": "javascript:alert(1)"}, "logo_url"),
        ({"logo_url": "http://shop.example/logo.png"}, "logo_url"),
        ({"title": {"zh": "客" * 61}}, "title.zh"),
        ({"title": {"en": "x" * 100_000}}, "title.en"),
        ({"title": {"fr": "Service"}}, "title.fr"),
        ({"title": {"en": "two\nlines"}}, "title.en"),
        ({"greeting": {"zh": "您好\u0000"}}, "greeting.zh"),
        ({"allowed_origins": ["shop.example"]}, "allowed_origins"),
        ({"allowed_origins": ["https://shop.example/path"]}, "allowed_origins"),
        ({"allowed_origins": "https://shop.example"}, "allowed_origins"),
        ({"theme": "dark"}, "theme"),
    ],
)
def test_bad_settings_are_refused_with_the_field(
    client: TestClient, runtime: Runtime, body: dict[str, Any], where: str
) -> None:
    headers = sign_in(client, runtime, "boss", AccountRole.ADMIN)
    res = client.put("/v1/admin/widget", json=body, headers=headers)
    assert res.status_code == 422, res.text
    assert res.json()["error"]["message"].startswith(where)
    assert client.get("/v1/admin/widget").json()["color"] == "#1677ff"  # nothing stored


def test_settings_need_settings_manage_and_changes_are_audited(
    client: TestClient, runtime: Runtime
) -> None:
    body = {"color": "#0a7f5a", "allowed_origins": [SHOP]}
    assert client.get("/v1/admin/widget").status_code == 401
    agent = sign_in(client, runtime, "wang", AccountRole.AGENT)
    for res in (
        client.get("/v1/admin/widget"),
        client.put("/v1/admin/widget", json=body, headers=agent),
    ):
        assert res.status_code == 403 and "settings:manage" in res.json()["error"]["message"]
    client.cookies.clear()
    admin = sign_in(client, runtime, "boss", AccountRole.ADMIN)
    assert client.get("/v1/admin/widget").json()["allowed_origins"] == []
    res = client.put("/v1/admin/widget", json=body, headers=admin)
    assert res.status_code == 200 and res.json()["allowed_origins"] == [SHOP]
    assert client.get("/v1/admin/widget").json() == res.json()
    with runtime.system_sessions() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "settings.widget")
        ).one()
        assert (event.actor_name, event.target_id) == ("boss", "default")
        assert event.detail is not None
        assert event.detail["before"] is None
        assert event.detail["after"]["color"] == "#0a7f5a"


def test_allowed_origins_decide_which_pages_get_a_config(
    client: TestClient, runtime: Runtime
) -> None:
    stored = put_settings(
        client, runtime, {"allowed_origins": [SHOP, "HTTPS://App.Shop.example:443/", SHOP]}
    )
    assert stored["allowed_origins"] == [SHOP, "https://app.shop.example"]
    assert config(client, Origin=SHOP).status_code == 200
    assert config(client, Origin="https://app.shop.example").status_code == 200
    for origin in ("https://evil.example", "http://shop.example", "null"):
        res = config(client, Origin=origin)
        assert res.status_code == 403, origin
        assert res.json()["error"]["code"] == "origin_not_allowed"
        assert res.headers["access-control-allow-origin"] == "*"  # the widget can read why
    assert config(client).status_code == 200  # no Origin: same-origin or not a browser


def test_cors_on_the_customer_api_and_config_only(client: TestClient, runtime: Runtime) -> None:
    for path in ("/v1/conversations", "/v1/conversations/x/messages", "/v1/widget/config"):
        res = client.options(path, headers=PREFLIGHT)
        assert res.status_code == 200, path
        assert res.headers["access-control-allow-origin"] == "*"
        assert "POST" in res.headers["access-control-allow-methods"]
        allowed = res.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
        assert "access-control-allow-credentials" not in res.headers
    made = client.post(
        "/v1/conversations", json={"language": "en", "channel": "widget"}, headers={"Origin": SHOP}
    )
    assert made.status_code == 201 and made.json()["channel"] == "widget"
    assert made.headers["access-control-allow-origin"] == "*"
    assert made.headers["access-control-expose-headers"] == "Retry-After"
    assert config(client, Origin=SHOP).headers["access-control-allow-origin"] == "*"
    # Cookie-authenticated routes stay same-origin: no CORS answer at all.
    sign_in(client, runtime, "boss", AccountRole.ADMIN)
    for path in ("/v1/admin/widget", "/v1/admin/escalation", "/v1/auth/login", "/v1/agent/me"):
        pre = client.options(path, headers={**PREFLIGHT, "Access-Control-Request-Method": "PUT"})
        assert "access-control-allow-origin" not in pre.headers, path
    read = client.get("/v1/admin/widget", headers={"Origin": SHOP})
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers


def test_rate_limited_answers_carry_cors_headers(settings: Settings, runtime: Runtime) -> None:
    strict = settings.model_copy(update={"rate_limit_customer": "2/minute"})
    with TestClient(create_app(strict, runtime)) as client:
        cid, auth = start(client, language="en")
        headers = {**auth, "Origin": SHOP}
        codes = []
        for n in range(3):
            res = client.post(
                f"/v1/conversations/{cid}/messages", json={"text": f"hi {n}"}, headers=headers
            )
            codes.append(res.status_code)
        assert codes == [201, 201, 429]
        assert res.headers["access-control-allow-origin"] == "*"
        assert res.headers["access-control-expose-headers"] == "Retry-After"
        assert int(res.headers["retry-after"]) >= 1
    by_ip = settings.model_copy(update={"rate_limit_ip": "2/minute"})
    with TestClient(create_app(by_ip, runtime)) as client:
        codes = [config(client, Origin=SHOP).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        res = config(client, Origin=SHOP)
        assert res.headers["access-control-allow-origin"] == "*" and "retry-after" in res.headers
        # Security headers still go on every answer.
        assert res.headers["x-content-type-options"] == "nosniff"


def test_widget_origins_narrows_cors_for_the_whole_process(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    narrow = settings.model_copy(update={"widget_origins": [SHOP]})
    with TestClient(create_app(narrow, runtime)) as client:
        ok = client.options("/v1/conversations", headers=PREFLIGHT)
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == SHOP
        evil = client.options(
            "/v1/conversations", headers={**PREFLIGHT, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in evil.headers
    with pytest.raises(ValidationError, match="not an origin"):
        Settings(_env_file=None, data_dir=tmp_path, widget_origins=["shop.example"])  # type: ignore[call-arg]
    assert Settings(_env_file=None, data_dir=tmp_path).widget_origins == ["*"]  # type: ignore[call-arg]
    from_env = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        widget_origins="https://Shop.example:443/, http://localhost:3000",  # type: ignore[arg-type]
    )
    assert from_env.widget_origins == [SHOP, "http://localhost:3000"]  # as browsers write them
