"""Every bad input gets a 4xx JSON error `{"error": {"code", "message"}}`, never a 5xx."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from kefu.conversations import tokens
from tests.conftest import start


def assert_error(res: object, status: int, code: str) -> None:
    assert res.status_code == status, res.text  # type: ignore[attr-defined]
    body = res.json()  # type: ignore[attr-defined]
    assert body["error"]["code"] == code
    assert body["error"]["message"]


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "\u200b\u200b"])
def test_empty_or_whitespace_text_is_rejected(client: TestClient, text: str) -> None:
    conv, auth = start(client)
    res = client.post(f"/v1/conversations/{conv}/messages", json={"text": text}, headers=auth)
    assert_error(res, 422, "empty_text")


def test_text_over_limit_is_rejected(client: TestClient) -> None:
    conv, auth = start(client)
    res = client.post(
        f"/v1/conversations/{conv}/messages", json={"text": "好" * 2001}, headers=auth
    )
    assert_error(res, 422, "text_too_long")
    assert "2000" in res.json()["error"]["message"]


def test_huge_body_is_rejected_before_parsing(client: TestClient) -> None:
    conv, auth = start(client)
    res = client.post(
        f"/v1/conversations/{conv}/messages",
        content=b'{"text": "' + b"a" * 5_000_000 + b'"}',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert_error(res, 413, "payload_too_large")


def test_malformed_json_is_rejected(client: TestClient) -> None:
    conv, auth = start(client)
    res = client.post(
        f"/v1/conversations/{conv}/messages",
        content=b'{"text": "hi",',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert_error(res, 400, "invalid_json")


@pytest.mark.parametrize(
    "body", [{"text": 5}, {"texts": "hi"}, ["hi"], {"text": "hi", "client_message_id": 3}]
)
def test_wrong_shape_is_rejected(client: TestClient, body: object) -> None:
    conv, auth = start(client)
    res = client.post(f"/v1/conversations/{conv}/messages", json=body, headers=auth)
    assert_error(res, 422, "invalid_request")


def test_overlong_client_message_id_is_rejected(client: TestClient) -> None:
    conv, auth = start(client)
    res = client.post(
        f"/v1/conversations/{conv}/messages",
        json={"text": "hi", "client_message_id": "x" * 129},
        headers=auth,
    )
    assert_error(res, 422, "invalid_client_message_id")


def test_wrong_content_type_is_rejected(client: TestClient) -> None:
    conv, auth = start(client)
    res = client.post(
        f"/v1/conversations/{conv}/messages",
        content=b"text=hi",
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(res, 415, "unsupported_media_type")


def test_unknown_conversation_is_404(client: TestClient) -> None:
    _, auth = start(client)
    for conv in ("not-a-uuid", "../../etc/passwd"):
        res = client.get(f"/v1/conversations/{conv}", headers=auth)
        assert res.status_code == 404, conv
        assert res.json()["error"]["code"] in ("conversation_not_found", "not_found")
    # A correctly signed token for an id that was never created (e.g. deleted data).
    ghost = uuid.uuid4()
    settings = client.app.state.runtime.settings  # type: ignore[attr-defined]
    token = tokens.issue(ghost, settings.tenant, settings.signing_key, timedelta(hours=1))
    res = client.post(
        f"/v1/conversations/{ghost}/messages",
        json={"text": "hi"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_error(res, 404, "conversation_not_found")


def test_unknown_conversation_without_valid_token_reveals_nothing(client: TestClient) -> None:
    _, auth = start(client)
    assert_error(client.get(f"/v1/conversations/{uuid.uuid4()}"), 401, "missing_token")
    assert_error(client.get(f"/v1/conversations/{uuid.uuid4()}", headers=auth), 403, "wrong_token")


def test_expired_token_is_401(client: TestClient) -> None:
    conv, _ = start(client)
    settings = client.app.state.runtime.settings  # type: ignore[attr-defined]
    token = tokens.issue(uuid.UUID(conv), settings.tenant, settings.signing_key, timedelta(-1))
    res = client.get(f"/v1/conversations/{conv}", headers={"Authorization": f"Bearer {token}"})
    assert_error(res, 401, "token_expired")


def test_missing_token_is_401(client: TestClient) -> None:
    conv, _ = start(client)
    assert_error(client.get(f"/v1/conversations/{conv}"), 401, "missing_token")


def test_garbage_token_is_401(client: TestClient) -> None:
    conv, _ = start(client)
    res = client.get(f"/v1/conversations/{conv}", headers={"Authorization": "Bearer abc.def.ghi"})
    assert_error(res, 401, "invalid_token")


def test_token_of_another_conversation_is_403(client: TestClient) -> None:
    conv_a, _ = start(client)
    _, auth_b = start(client)
    res = client.post(f"/v1/conversations/{conv_a}/messages", json={"text": "hi"}, headers=auth_b)
    assert_error(res, 403, "wrong_token")


def test_bad_create_body_is_rejected(client: TestClient) -> None:
    assert_error(client.post("/v1/conversations", json={"language": "fr"}), 422, "invalid_request")
    res = client.post(
        "/v1/conversations", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert_error(res, 400, "invalid_json")


def test_unknown_route_and_method_are_json_errors(client: TestClient) -> None:
    assert_error(client.get("/v1/nope"), 404, "not_found")
    assert_error(client.delete("/v1/conversations"), 405, "method_not_allowed")


def test_bad_paging_is_rejected(client: TestClient) -> None:
    conv, auth = start(client)
    res = client.get(f"/v1/conversations/{conv}/messages?limit=100000", headers=auth)
    assert_error(res, 422, "invalid_request")


def test_paging_cursor_beyond_any_sequence_is_refused(client: TestClient) -> None:
    conv, auth = start(client)
    for after in (2**31, 10**20):
        res = client.get(f"/v1/conversations/{conv}/messages?after={after}", headers=auth)
        assert_error(res, 422, "invalid_request")
    ok = client.get(f"/v1/conversations/{conv}/messages?after={2**31 - 1}", headers=auth)
    assert ok.status_code == 200 and ok.json()["messages"] == []


def test_control_characters_in_customer_fields_are_refused(client: TestClient) -> None:
    for field in ("external_id", "name"):
        res = client.post("/v1/conversations", json={"customer": {field: "a\u0000b"}})
        assert_error(res, 422, "invalid_request")


def test_chunked_body_over_limit_is_413(client: TestClient) -> None:
    conv, auth = start(client)

    def chunks() -> object:
        yield b'{"text": "'
        for _ in range(100):
            yield b"a" * 10_000
        yield b'"}'

    res = client.post(
        f"/v1/conversations/{conv}/messages",
        content=chunks(),  # type: ignore[arg-type]
        headers={**auth, "Content-Type": "application/json"},
    )
    assert_error(res, 413, "payload_too_large")


def test_deeply_nested_json_is_invalid_json(client: TestClient) -> None:
    conv, auth = start(client)
    res = client.post(
        f"/v1/conversations/{conv}/messages",
        content=b"[" * 5000 + b"]" * 5000,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert res.status_code in (400, 422)
    assert res.json()["error"]["code"] in ("invalid_json", "invalid_request")
