"""The training API: start a retraining, watch it, promote a run; who may; what comes back when
a run is already going or the request is wrong; every write audited."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kefu.accounts import service as accounts
from kefu.knowledge.training import TrainingService
from kefu.privacy.audit import AuditEvent
from kefu.runtime import Runtime
from kefu.understanding.embeddings import make_embedder
from kefu.understanding.intents import IntentModel, current_version
from tests.knowledge.test_training import Gate, small_intents, use_intents

PASSWORD = "correct horse battery"
ROLES = ("admin", "supervisor", "agent", "analyst")


@pytest.fixture
def console(client: TestClient, runtime: Runtime) -> Iterator[TestClient]:
    use_intents(runtime, small_intents())
    with runtime.sessions.begin() as session:
        for role in ROLES:
            accounts.create_account(session, runtime.tenant.id, role, PASSWORD, role)
    yield client
    training: TrainingService | None = getattr(client.app.state, "training", None)  # type: ignore[attr-defined]
    if training is not None:
        for run in training.runs(runtime.tenant.id):
            training.wait(run.id, timeout=60)  # no thread may outlive the runtime


def sign_in(client: TestClient, role: str) -> dict[str, str]:
    res = client.post("/v1/auth/login", json={"username": role, "password": PASSWORD})
    assert res.status_code == 200, res.text
    return {"X-CSRF-Token": res.json()["csrf_token"]}


def done(client: TestClient, run_id: int, headers: dict[str, str]) -> dict[str, object]:
    client.app.state.training.wait(run_id, timeout=60)  # type: ignore[attr-defined]
    res = client.get(f"/v1/admin/training/{run_id}", headers=headers)
    assert res.status_code == 200, res.text
    body: dict[str, object] = res.json()
    return body


def test_an_admin_retrains_watches_and_promotes(console: TestClient, runtime: Runtime) -> None:
    csrf = sign_in(console, "admin")
    res = console.post("/v1/admin/training", json={"force": False}, headers=csrf)
    assert res.status_code == 202, res.text
    started = res.json()
    assert started["status"] == "running" and started["result"] is None
    assert 0.0 <= started["progress"] <= 1.0 and started["forced"] is False

    run = done(console, started["id"], csrf)
    assert run["status"] == "promoted" and run["progress"] == 1.0 and run["error"] is None
    result = run["result"]
    assert isinstance(result, dict)
    assert result["decision"] == "promoted" and result["current"] is None
    assert result["examples"] == 80 and result["evaluation_examples"] > 0
    assert result["train_examples"] == 80 - result["evaluation_examples"]
    assert set(result["candidate"]) == {"accuracy", "macro_f1"}
    folder = runtime.settings.effective_models_dir / "intent"
    assert current_version(folder) == run["version"]
    assert IntentModel.load(folder).meta["examples"] == 80  # the live model learned them all

    # A second run (no body at all) is judged against the first.
    second = console.post("/v1/admin/training", headers=csrf)
    assert second.status_code == 202, second.text
    run2 = done(console, second.json()["id"], csrf)
    assert run2["status"] == "promoted", run2
    current = run2["result"]["current"]  # type: ignore[index]
    assert current["version"] == run["version"] and current["comparable"] is True
    assert run2["result"]["reason"] == "not_worse"  # type: ignore[index]
    assert set(current) == {"accuracy", "macro_f1", "version", "comparable"}

    listed = console.get("/v1/admin/training", headers=csrf).json()
    assert [r["id"] for r in listed] == [run2["id"], run["id"]]

    back = console.post(f"/v1/admin/training/{run['id']}/promote", headers=csrf)
    assert back.status_code == 200, back.text
    assert current_version(folder) == run["version"]
    with runtime.sessions() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith("training."))
        ).all()
    assert sorted((e.action, e.target_id) for e in events) == sorted(
        [
            ("training.start", str(run["id"])),
            ("training.start", str(run2["id"])),
            ("training.promote", str(run["id"])),
        ]
    )


def test_only_knowledge_editors_may(console: TestClient, runtime: Runtime) -> None:
    assert console.get("/v1/admin/training").status_code == 401
    for role in ("agent", "analyst"):
        csrf = sign_in(console, role)
        for method, path in (
            ("GET", "/v1/admin/training"),
            ("GET", "/v1/admin/training/1"),
            ("POST", "/v1/admin/training"),
            ("POST", "/v1/admin/training/1/promote"),
        ):
            res = console.request(method, path, headers=csrf)
            assert res.status_code == 403, (role, method, path, res.text)
            assert res.json()["error"]["code"] == "forbidden"
    for role in ("supervisor", "admin"):
        assert console.get("/v1/admin/training", headers=sign_in(console, role)).json() == []
    with runtime.sessions.begin() as session:
        _, key = accounts.create_api_key(session, runtime.tenant.id, "ci", ["knowledge:write"])
        _, reader = accounts.create_api_key(session, runtime.tenant.id, "ro", ["knowledge:read"])
    assert (
        console.get("/v1/admin/training", headers={"Authorization": f"Bearer {key}"}).json() == []
    )
    refused = console.get("/v1/admin/training", headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403


def test_one_run_at_a_time_and_bad_requests(console: TestClient, runtime: Runtime) -> None:
    gate = Gate(make_embedder(runtime.settings.embedder))
    console.app.state.training = TrainingService(  # type: ignore[attr-defined]
        runtime.sessions_for,
        runtime.tenant.id,
        runtime.settings.effective_models_dir,
        lambda: gate,
    )
    csrf = sign_in(console, "supervisor")
    first = console.post("/v1/admin/training", json={}, headers=csrf)
    assert first.status_code == 202, first.text
    assert gate.entered.wait(30)
    again = console.post("/v1/admin/training", json={"force": True}, headers=csrf)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "training_running"
    busy = console.post(f"/v1/admin/training/{first.json()['id']}/promote", headers=csrf)
    assert busy.status_code == 409
    gate.release.set()
    assert done(console, first.json()["id"], csrf)["status"] == "promoted"

    assert console.get("/v1/admin/training/999999", headers=csrf).status_code == 404
    missing = console.post("/v1/admin/training/999999/promote", headers=csrf)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "training_run_not_found"
    assert console.get("/v1/admin/training/abc", headers=csrf).status_code == 422
    for body in ({"force": "perhaps"}, {"force": True, "extra": 1}, [True]):
        res = console.post("/v1/admin/training", json=body, headers=csrf)
        assert res.status_code == 422, (body, res.text)
    res = console.post(
        "/v1/admin/training", content=b"force=1", headers={**csrf, "Content-Type": "text/plain"}
    )
    assert res.status_code == 415
    assert [r["status"] for r in console.get("/v1/admin/training", headers=csrf).json()] == [
        "promoted"
    ]
