"""A flow whose turns alternate between two `kefu serve` processes behaves like one process:
the dialogue state lives in the database, not in a worker's memory. Also: a flow interrupted
by a server restart resumes at the same step."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import httpx

from kefu.testing import Server

KEY = "identity-key-shared-with-the-operators-app"
IDENTITY = {"KEFU_CUSTOMER_IDENTITY_KEY": KEY}
# The operator's server signs the customer id: only then may flows act on the account.
SIGNED = {
    "external_id": "c-1001",
    "signature": hmac.new(KEY.encode(), b"c-1001", hashlib.sha256).hexdigest(),
}

TURNS = [
    ("B123456 刹车坏了", "bike.fault.ask_place"),
    ("在国贸", "bike.fault.confirm"),
    ("不是B123456，是B654321", "bike.fault.confirm"),
    ("对", "bike.fault.reported"),
]


def _start(server: Server, customer: dict[str, str]) -> dict[str, str]:
    res = httpx.post(
        f"{server.url}/v1/conversations", json={"language": "zh", "customer": customer}
    )
    assert res.status_code == 201, res.text
    data: dict[str, str] = res.json()
    return data


def _post(server: Server, conv: dict[str, str], text: str) -> dict[str, object]:
    res = httpx.post(
        f"{server.url}/v1/conversations/{conv['id']}/messages",
        json={"text": text},
        headers={"Authorization": f"Bearer {conv['token']}"},
        timeout=10,
    )
    assert res.status_code == 201, res.text
    data: dict[str, object] = res.json()
    return data


def _responses(reply: dict[str, object]) -> list[str]:
    return [r["payload"].get("response", "") for r in reply["replies"]]  # type: ignore[attr-defined, index]


def test_turns_alternating_between_two_workers(
    tmp_path: Path, db_url: str, trained_models: Path
) -> None:
    env = {"KEFU_DATABASE_URL": db_url, "KEFU_MODELS_DIR": str(trained_models), **IDENTITY}
    one = Server(tmp_path / "var", **env)
    two = Server(tmp_path / "var", **env)  # same data dir: the same secret key
    one.start(timeout=60)  # the first start seeds the demo operator
    two.start(timeout=60)
    try:
        conv = _start(one, SIGNED)
        for n, (text, response) in enumerate(TURNS):
            reply = _post((one, two)[n % 2], conv, text)
            assert response in _responses(reply), (text, reply)
        assert "B654321" in str(reply["replies"])  # the corrected code was reported
    finally:
        one.stop()
        two.stop()


def test_a_flow_resumes_at_the_same_step_after_a_restart(
    tmp_path: Path, trained_models: Path
) -> None:
    server = Server(tmp_path / "var", KEFU_MODELS_DIR=str(trained_models), **IDENTITY)
    server.start(timeout=60)
    try:
        conv = _start(server, SIGNED)
        first = _post(server, conv, "骑行费用扣错了，帮我退款")
        assert _responses(first) == ["bike.refund.which_ride"]
    finally:
        server.stop()
    server.start(timeout=60)
    try:
        second = _post(server, conv, "第二个")
        assert _responses(second) == ["bike.refund.ask_reason"]
        third = _post(server, conv, "锁不上")
        assert _responses(third) == ["bike.refund.approved"]
    finally:
        server.stop()


def test_an_unsigned_customer_id_is_linked_but_not_acted_on(
    tmp_path: Path, trained_models: Path
) -> None:
    server = Server(tmp_path / "var", KEFU_MODELS_DIR=str(trained_models), **IDENTITY)
    server.start(timeout=60)
    try:
        claimed = _start(server, {"external_id": "c-1001"})
        reply = _post(server, claimed, "门锁密码是多少")
        # Anyone can claim an id: without the signature kefu won't open that account.
        assert "4821" not in str(reply) and "BK20261124001" not in str(reply)
        forged = httpx.post(
            f"{server.url}/v1/conversations",
            json={"customer": {"external_id": "c-1001", "signature": "0" * 64}},
        )
        assert forged.status_code == 401
        assert forged.json()["error"]["code"] == "invalid_customer_signature"
    finally:
        server.stop()
