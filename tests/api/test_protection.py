"""Abuse protection: rate limits, slow clients, frame sizes and security headers.

Limits don't depend on the database, so these run on SQLite only, with one runtime per module and
a fresh app (fresh counters) per test.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from starlette.types import Message
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from kefu.api.app import create_app
from kefu.api.errors import TooManyRequests
from kefu.api.limits import frame_limit
from kefu.api.protection import check_api_key, protection_of
from kefu.config import Settings
from kefu.errors import KefuError
from kefu.runtime import Runtime, prepare_database
from kefu.testing import Server, free_port
from tests.conftest import start

MakeApp = Callable[..., FastAPI]


@pytest.fixture(scope="module")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("protection")
    return Settings(
        _env_file=None,
        data_dir=data / "var",
        database_url=f"sqlite:///{data / 'kefu.db'}",
        redis_url=None,
    )


@pytest.fixture(scope="module")
def shared_runtime(base_settings: Settings) -> Iterator[Runtime]:
    prepare_database(base_settings)
    rt = Runtime.build(base_settings)
    yield rt
    rt.close()


@pytest.fixture
def make_app(base_settings: Settings, shared_runtime: Runtime) -> MakeApp:
    def make(**overrides: Any) -> FastAPI:
        return create_app(base_settings.model_copy(update=overrides), shared_runtime)

    return make


def assert_rate_limited(res: Any) -> int:
    assert res.status_code == 429, res.text
    wait = int(res.headers["retry-after"])
    assert 1 <= wait <= 60
    error = res.json()["error"]
    assert error["code"] == "rate_limited" and error["message"]
    assert error["retry_after"] == wait
    return wait


# -- per IP ----------------------------------------------------------------------------------


def test_ip_over_limit_gets_429_with_retry_after_and_json_error(make_app: MakeApp) -> None:
    with TestClient(make_app(rate_limit_ip="3/minute")) as client:
        for _ in range(3):
            assert client.post("/v1/conversations").status_code == 201
        res = client.post("/v1/conversations")
        assert_rate_limited(res)
        assert res.headers["x-content-type-options"] == "nosniff"  # headers on 429s too
        assert client.get("/").status_code == 429  # pages count as well


def test_other_addresses_behind_a_trusted_proxy_keep_being_served(make_app: MakeApp) -> None:
    app = make_app(rate_limit_ip="2/minute", trusted_proxies=["10.0.0.0/8"])
    with TestClient(app, client=("10.0.0.1", 40000)) as proxy:

        def from_ip(ip: str) -> int:
            headers = {"X-Forwarded-For": f"{ip}, 10.0.0.2"}  # client, then an inner proxy
            return proxy.post("/v1/conversations", headers=headers).status_code

        assert [from_ip("203.0.113.5") for _ in range(3)] == [201, 201, 429]
        assert from_ip("203.0.113.6") == 201
        # An IPv6 client is counted per /64, so rotating addresses in it doesn't help.
        assert [from_ip(f"2001:db8::{n}") for n in (1, 2, 3)] == [201, 201, 429]


def test_resolved_client_address_is_left_for_routes(make_app: MakeApp) -> None:
    app = make_app(trusted_proxies=["10.0.0.1"])

    @app.get("/whoami")
    def whoami(request: Request) -> dict[str, str]:
        return {"ip": request.state.client_ip}

    with TestClient(app, client=("10.0.0.1", 1)) as proxy:
        res = proxy.get("/whoami", headers={"X-Forwarded-For": "203.0.113.9"})
        assert res.json() == {"ip": "203.0.113.9"}


def test_forwarded_for_from_an_untrusted_peer_is_ignored(make_app: MakeApp) -> None:
    with TestClient(make_app(rate_limit_ip="2/minute"), client=("198.51.100.7", 1)) as client:
        codes = [
            client.post("/v1/conversations", headers={"X-Forwarded-For": f"192.0.2.{n}"})
            for n in range(3)
        ]
        assert [r.status_code for r in codes] == [201, 201, 429]


def test_health_probes_are_exempt(make_app: MakeApp) -> None:
    with TestClient(make_app(rate_limit_ip="1/minute")) as client:
        client.get("/v1/conversations/x")
        assert client.get("/v1/conversations/x").status_code == 429
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").status_code == 200


def test_websocket_handshake_over_ip_limit_is_closed(make_app: MakeApp) -> None:
    with TestClient(make_app(rate_limit_ip="1/minute")) as client:
        conv, auth = start(client)
        with (
            pytest.raises(WebSocketDisconnect) as info,
            client.websocket_connect(f"/v1/conversations/{conv}/ws", headers=auth) as ws,
        ):
            ws.receive_json()
        assert info.value.code == 1013
        assert info.value.reason.startswith("rate_limited")


# -- per customer ----------------------------------------------------------------------------


def test_messages_over_customer_limit_get_429_and_other_conversations_are_served(
    make_app: MakeApp,
) -> None:
    with TestClient(make_app(rate_limit_customer="2/minute")) as client:
        conv, auth = start(client, language="en")
        other, other_auth = start(client, language="en")
        url = f"/v1/conversations/{conv}/messages"
        # A caller without the token can't spend the conversation's budget.
        bad = {"Authorization": "Bearer nope"}
        assert client.post(url, json={"text": "hi"}, headers=bad).status_code == 401
        for n in range(2):
            assert client.post(url, json={"text": f"hi {n}"}, headers=auth).status_code == 201
        assert_rate_limited(client.post(url, json={"text": "hi again"}, headers=auth))
        res = client.post(
            f"/v1/conversations/{other}/messages", json={"text": "hi"}, headers=other_auth
        )
        assert res.status_code == 201
        # Reading is not sending: the conversation can still be fetched.
        assert client.get(f"/v1/conversations/{conv}/messages", headers=auth).status_code == 200


def test_websocket_frame_over_customer_limit_gets_error_and_keeps_socket(
    make_app: MakeApp,
) -> None:
    with TestClient(make_app(rate_limit_customer="2/minute")) as client:
        conv, auth = start(client, language="en")
        with client.websocket_connect(f"/v1/conversations/{conv}/ws", headers=auth) as ws:
            for n in range(2):
                ws.send_json({"text": f"hello {n}"})
                assert ws.receive_json()["type"] == "turn"
            for _ in range(2):  # still open: each extra frame gets its own answer
                ws.send_json({"text": "hello again"})
                frame = ws.receive_json()
                assert frame["type"] == "error"
                assert frame["error"]["code"] == "rate_limited"
                assert frame["error"]["retry_after"] >= 1
        # The socket and the HTTP route share one budget.
        url = f"/v1/conversations/{conv}/messages"
        assert_rate_limited(client.post(url, json={"text": "and"}, headers=auth))


def test_websocket_frame_over_size_limit_is_refused(make_app: MakeApp) -> None:
    app = make_app()
    with TestClient(app) as client:
        conv, auth = start(client)
        limit = frame_limit(app.state.runtime.settings.max_message_chars)
        with client.websocket_connect(f"/v1/conversations/{conv}/ws", headers=auth) as ws:
            ws.send_text("x" * (limit + 1))  # refused by size, before any parsing
            assert ws.receive_json()["error"]["code"] == "payload_too_large"
            ws.send_json({"text": "still here?"})
            assert ws.receive_json()["type"] == "turn"


# -- API keys and sign-ins -------------------------------------------------------------------


def test_api_key_check_raises_429_over_limit_per_key(make_app: MakeApp) -> None:
    app = make_app(rate_limit_api_key="2/minute")

    @app.get("/probe")
    def probe(request: Request) -> dict[str, str]:
        check_api_key(request, "key-1")
        return {"ok": "yes"}

    with TestClient(app) as client:
        assert [client.get("/probe").status_code for _ in range(2)] == [200, 200]
        assert_rate_limited(client.get("/probe"))
    check_api_key(app, "key-2")  # another key has its own budget
    with pytest.raises(TooManyRequests) as info:
        check_api_key(app, "key-1")
    assert info.value.retry_after >= 1


def test_login_throttle_counts_failures_per_account_and_per_ip(make_app: MakeApp) -> None:
    throttle = protection_of(make_app(login_attempts="3/minute")).login
    for _ in range(3):
        throttle.check("alice", "192.0.2.1")
        throttle.failed("Alice ", "192.0.2.1")  # same account, however it's typed
    with pytest.raises(TooManyRequests) as info:
        throttle.check("alice", "192.0.2.99")  # the account is paused, from anywhere
    assert 1 <= info.value.retry_after <= 60
    throttle.check("bob", "192.0.2.2")  # others are not

    throttle.succeeded("alice", "192.0.2.1")
    throttle.check("alice", "192.0.2.3")  # a successful sign-in clears the account
    with pytest.raises(TooManyRequests):
        throttle.check("carol", "192.0.2.1")  # but not the address that made the guesses

    for name in ("dave", "erin", "frank"):  # one address guessing across accounts
        throttle.failed(name, "192.0.2.50")
    with pytest.raises(TooManyRequests):
        throttle.check("grace", "192.0.2.50")


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("rate_limit_ip", "lots"),
        ("rate_limit_customer", "0/minute"),
        ("login_attempts", ""),
        ("trusted_proxies", ["proxy.internal"]),
    ],
)
def test_invalid_limit_setting_fails_at_startup_naming_it(
    make_app: MakeApp, setting: str, value: object
) -> None:
    with pytest.raises(KefuError, match=setting):
        make_app(**{setting: value})


# -- Redis -----------------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_counts_are_shared_by_two_app_instances(make_app: MakeApp, redis_url: str) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"  # fresh counters whatever the database holds
    one = make_app(redis_url=redis_url, rate_limit_ip="3/minute", tenant=tenant)
    two = make_app(redis_url=redis_url, rate_limit_ip="3/minute", tenant=tenant)
    with TestClient(one) as a, TestClient(two) as b:
        assert [a.get("/v1/conversations/x").status_code for _ in range(2)] == [404, 404]
        assert b.get("/v1/conversations/x").status_code == 404
        assert_rate_limited(b.get("/v1/conversations/x"))
        assert_rate_limited(a.get("/v1/conversations/x"))


def test_limits_fail_open_when_redis_is_down(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0", rate_limit_ip="1/minute")
    with TestClient(app) as client:
        assert [client.post("/v1/conversations").status_code for _ in range(3)] == [201] * 3
    assert "rate-limit storage failed" in caplog.text


# -- security headers ------------------------------------------------------------------------


def test_json_responses_carry_security_headers(make_app: MakeApp) -> None:
    with TestClient(make_app()) as client:
        res = client.post("/v1/conversations")
        assert res.headers["x-content-type-options"] == "nosniff"
        assert res.headers["referrer-policy"] == "no-referrer"
        assert res.headers["cross-origin-opener-policy"] == "same-origin"
        assert "camera=()" in res.headers["permissions-policy"]
        assert "frame-ancestors 'none'" in res.headers["content-security-policy"]
        assert "cache-control" not in res.headers  # no credential sent
        token = res.json()["token"]
        got = client.get(
            f"/v1/conversations/{res.json()['id']}", headers={"Authorization": f"Bearer {token}"}
        )
        assert got.headers["cache-control"] == "no-store"


def test_chat_page_keeps_its_own_csp(make_app: MakeApp) -> None:
    with TestClient(make_app()) as client:
        res = client.get("/")
        assert res.headers["x-content-type-options"] == "nosniff"
        assert "connect-src 'self' ws: wss:" in res.headers["content-security-policy"]
        assert "x-frame-options" not in res.headers


def test_console_pages_may_not_be_framed(make_app: MakeApp) -> None:
    app = make_app()

    @app.get("/console/plain", response_class=HTMLResponse)
    def plain() -> str:
        return "<p>console</p>"

    @app.get("/console/own", response_class=HTMLResponse)
    def own() -> HTMLResponse:
        return HTMLResponse("<p>x</p>", headers={"Content-Security-Policy": "default-src 'self'"})

    @app.get("/console/framable", response_class=HTMLResponse)
    def framable() -> HTMLResponse:
        policy = "default-src 'self'; frame-ancestors *"
        return HTMLResponse("<p>x</p>", headers={"Content-Security-Policy": policy})

    with TestClient(app) as client:
        for path in ("/console/plain", "/console/own", "/console/framable", "/console/missing"):
            res = client.get(path)
            assert res.headers["x-frame-options"] == "DENY", path
            policies = res.headers.get_list("content-security-policy")
            assert any("frame-ancestors 'none'" in p for p in policies), (path, policies)
        plain_csp = client.get("/console/plain").headers["content-security-policy"]
        assert "default-src 'self'" in plain_csp and "script-src" not in plain_csp
        page = client.get("/somewhere-else")  # not the console: no framing ban on pages
        assert "x-frame-options" not in page.headers


def test_swagger_ui_gets_a_csp_that_lets_it_load(make_app: MakeApp) -> None:
    with TestClient(make_app()) as client:
        csp = client.get("/docs").headers["content-security-policy"]
        assert "https://cdn.jsdelivr.net" in csp and "frame-ancestors 'none'" in csp


# -- slow clients ----------------------------------------------------------------------------


def test_request_body_not_arriving_in_time_gets_408(make_app: MakeApp) -> None:
    app = make_app(slow_client_timeout_s=0.2)
    sent: list[Message] = []

    async def trickle() -> None:
        chunks = iter([{"type": "http.request", "body": b'{"langu', "more_body": True}])

        async def receive() -> Message:
            try:
                return next(chunks)
            except StopIteration:
                await anyio.sleep(30)  # the rest never comes
                raise AssertionError("not timed out") from None

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/conversations",
            "raw_path": b"/v1/conversations",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
            "client": ("192.0.2.1", 1),
            "server": ("testserver", 80),
        }
        with anyio.fail_after(5):
            await app(scope, receive, send)

    started = time.monotonic()
    anyio.run(trickle)
    assert time.monotonic() - started < 3
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["error"]["code"] == "request_timeout"


# -- against a real server -------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(
        tmp_path_factory.mktemp("protection-server") / "var",
        KEFU_SLOW_CLIENT_TIMEOUT_S="1",
        KEFU_MAX_MESSAGE_CHARS="100",
    )
    srv.start()
    yield srv
    srv.stop()


def test_slow_client_on_a_real_server_gets_408_and_is_disconnected(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/conversations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"lang'
        )
        started = time.monotonic()
        data = b""
        while chunk := sock.recv(4096):  # the server answers, then closes
            data += chunk
    assert time.monotonic() - started < 5
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["error"]["code"] == "request_timeout"


def test_websocket_frame_over_server_limit_closes_socket(server: Server) -> None:
    conv = httpx.post(f"{server.url}/v1/conversations").json()
    url = f"ws://127.0.0.1:{server.port}/v1/conversations/{conv['id']}/ws?token={conv['token']}"
    with connect(url, max_size=None) as ws:
        ws.send(json.dumps({"text": "hi"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "turn"
        ws.send("x" * (frame_limit(100) + 1))
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009  # message too big
