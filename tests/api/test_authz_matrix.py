"""The authorisation matrix: every console/admin endpoint x every role (and an API key, and
nobody) x own/other tenant, with the expected status. A route added without a row here fails
`test_every_route_is_in_the_matrix`."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from kefu.accounts import service as accounts
from kefu.accounts.models import Account, ApiKey
from kefu.accounts.permissions import API_KEY_SCOPES, ROLE_PERMISSIONS, AccountRole, Permission
from kefu.api.app import create_app
from kefu.config import Settings
from kefu.conversations.models import (
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    Role,
    TurnEvent,
)
from kefu.db.base import utcnow
from kefu.handoff.models import CannedResponse, Handoff, HandoffStatus
from kefu.knowledge import editing, intent_store
from kefu.knowledge.intents import IntentSpec
from kefu.knowledge.models import TrainingRun
from kefu.knowledge.pack import KnowledgeEntry, Localized, LocalizedList
from kefu.runtime import Runtime, prepare_database
from kefu.tenants.models import Tenant

PASSWORD = "correct horse battery"
P = Permission


@dataclass(frozen=True)
class World:
    app: FastAPI
    runtime: Runtime
    own: dict[str, Any]  # ids of rows in the caller's tenant
    other: dict[str, Any]  # ids of rows in the other tenant
    api_key: str  # an API key of the caller's tenant with every scope a key may have


def _seed_tenant(runtime: Runtime, tid: int, tag: str) -> dict[str, Any]:
    with runtime.system_sessions.begin() as session:
        customer = Customer(tenant_id=tid, external_id=f"ext-{tag}", display_name="张三")
        session.add(customer)
        session.flush()
        conv = Conversation(tenant_id=tid, customer_id=customer.id, language="zh")
        session.add(conv)
        session.flush()
        session.add(
            Message(
                tenant_id=tid,
                conversation_id=conv.id,
                seq=1,
                role=Role.CUSTOMER,
                text="我的手机 13812345678",
            )
        )
        ids: dict[str, Any] = {"conversation": str(conv.id), "customer": str(customer.id)}
        for role in AccountRole:
            account = accounts.create_account(session, tid, f"{role.value}-{tag}", PASSWORD, role)
            ids[role.value] = account.id
        key, _ = accounts.create_api_key(session, tid, f"victim-{tag}", ["analytics:read"])
        ids["api_key"] = key.id
        ids["entry"] = _entry(session, tid, f"authz.{tag}")
        intent_store.save_intent(
            session,
            tid,
            IntentSpec(name=f"authz.{tag}", examples=LocalizedList(zh=["例子"])),
            create=True,
        )
        ids["intent"] = f"authz.{tag}"
        ids["turn"] = _turn(session, tid, conv.id)
        run = TrainingRun(tenant_id=tid, status="failed", stage="done", error="seeded")
        session.add(run)
        session.flush()
        ids["run"] = run.id
    return ids


def _entry(session: Session, tid: int, entry_id: str) -> str:
    entry = KnowledgeEntry(
        id=entry_id,
        skill="common",
        question=Localized(zh="问题", en="question"),
        answer=Localized(zh="回答", en="answer"),
    )
    editing.save_entry(session, tid, entry, editing.KEFU, create=True)
    return entry_id


def _turn(session: Session, tid: int, conv: uuid.UUID) -> int:
    message = Message(
        tenant_id=tid,
        conversation_id=conv,
        seq=int(uuid.uuid4().int % 1_000_000) + 10,
        role=Role.CUSTOMER,
        text="这个问题没人懂",
    )
    session.add(message)
    session.flush()
    event = TurnEvent(
        tenant_id=tid,
        conversation_id=conv,
        message_id=message.id,
        language="zh",
        decision="fallback",
        understanding={},
        latency_ms=1.0,
    )
    session.add(event)
    session.flush()
    return event.id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("authz")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data / "var",
        database_url=f"sqlite:///{data / 'kefu.db'}",
        rate_limit_ip="100000/minute",
        login_attempts="1000/minute",
    )
    prepare_database(settings)
    runtime = Runtime.build(settings)
    with runtime.system_sessions.begin() as session:
        other = Tenant(slug="other", name="Other")
        session.add(other)
        session.flush()
        other_id = other.id
    own = _seed_tenant(runtime, runtime.tenant.id, "own")
    theirs = _seed_tenant(runtime, other_id, "other")
    with runtime.system_sessions.begin() as session:
        _, api_key = accounts.create_api_key(
            session,
            runtime.tenant.id,
            "integration",
            [p.value for p in API_KEY_SCOPES],
        )
    yield World(create_app(settings, runtime), runtime, own, theirs, api_key)
    runtime.close()


# (method, path, permission, body, ok status, target) - `target` names the row the path
# points at ("" for collection routes); for the other tenant, such a route must answer 404.
Body = Callable[[dict[str, Any]], Any]
ENDPOINTS: list[tuple[str, str, Permission | None, Body | None, int, str]] = [
    ("GET", "/v1/auth/me", None, None, 200, ""),
    ("GET", "/v1/accounts", P.ACCOUNTS_MANAGE, None, 200, ""),
    (
        "POST",
        "/v1/accounts",
        P.ACCOUNTS_MANAGE,
        lambda ids: {
            "username": f"new-{uuid.uuid4().hex[:8]}",
            "password": PASSWORD,
            "role": "agent",
        },
        201,
        "",
    ),
    (
        "PATCH",
        "/v1/accounts/{analyst}",
        P.ACCOUNTS_MANAGE,
        lambda ids: {"display_name": "x"},
        200,
        "analyst",
    ),
    ("GET", "/v1/api-keys", P.API_KEYS_MANAGE, None, 200, ""),
    (
        "POST",
        "/v1/api-keys",
        P.API_KEYS_MANAGE,
        lambda ids: {"name": "k", "scopes": ["analytics:read"]},
        201,
        "",
    ),
    ("DELETE", "/v1/api-keys/{api_key}", P.API_KEYS_MANAGE, None, 204, "api_key"),
    ("GET", "/v1/console/conversations", P.CONVERSATIONS_READ, None, 200, ""),
    (
        "GET",
        "/v1/console/conversations/{conversation}",
        P.CONVERSATIONS_READ,
        None,
        200,
        "conversation",
    ),
    (
        "GET",
        "/v1/console/conversations/{conversation}?reveal=true",
        P.PII_READ,
        None,
        200,
        "conversation",
    ),
    ("GET", "/v1/audit", P.AUDIT_READ, None, 200, ""),
    ("GET", "/v1/admin/retention", P.SETTINGS_MANAGE, None, 200, ""),
    ("PUT", "/v1/admin/retention", P.SETTINGS_MANAGE, lambda ids: {"days": None}, 200, ""),
    ("POST", "/v1/admin/retention/run", P.SETTINGS_MANAGE, None, 200, ""),
    ("GET", "/v1/admin/customers/{customer}/export", P.CUSTOMERS_EXPORT, None, 200, "customer"),
    ("POST", "/v1/admin/customers/{customer}/erase", P.CUSTOMERS_ERASE, None, 200, "customer"),
    ("GET", "/v1/admin/escalation", P.SETTINGS_MANAGE, None, 200, ""),
    ("GET", "/v1/admin/widget", P.SETTINGS_MANAGE, None, 200, ""),
    ("PUT", "/v1/admin/widget", P.SETTINGS_MANAGE, lambda ids: {"color": "#0a7f5a"}, 200, ""),
    ("PUT", "/v1/admin/escalation", P.SETTINGS_MANAGE, lambda ids: {"fallbacks": 4}, 200, ""),
    # Live chat: accounts only (an API key can't be granted handoff:work).
    ("GET", "/v1/agent/me", P.HANDOFF_WORK, None, 200, ""),
    ("PUT", "/v1/agent/me/status", P.HANDOFF_WORK, lambda ids: {"status": "away"}, 200, ""),
    ("GET", "/v1/agent/agents", P.HANDOFF_WORK, None, 200, ""),
    (
        "PUT",
        "/v1/agent/agents/{agent}",
        P.HANDOFF_MANAGE,
        lambda ids: {"capacity": 4},
        200,
        "agent",
    ),
    ("GET", "/v1/agent/inbox?view=all", P.HANDOFF_WORK, None, 200, ""),
    ("GET", "/v1/agent/conversations/{conversation}", P.HANDOFF_WORK, None, 200, "conversation"),
    (
        "GET",
        "/v1/agent/conversations/{conversation}/suggestions",
        P.HANDOFF_WORK,
        None,
        200,
        "conversation",
    ),
    ("GET", "/v1/agent/canned", P.HANDOFF_WORK, None, 200, ""),
    (
        "POST",
        "/v1/agent/canned",
        P.HANDOFF_MANAGE,
        lambda ids: {"title": uuid.uuid4().hex[:8], "language": "zh", "text": "您好"},
        201,
        "",
    ),
    ("DELETE", "/v1/agent/canned/{canned}", P.HANDOFF_MANAGE, None, 204, "canned"),
    ("POST", "/v1/agent/conversations/{owned}/take", P.HANDOFF_WORK, None, 200, "owned"),
    (
        "POST",
        "/v1/agent/conversations/{owned}/messages",
        P.HANDOFF_WORK,
        lambda ids: {"text": "您好"},
        201,
        "owned",
    ),
    ("POST", "/v1/agent/conversations/{owned}/handback", P.HANDOFF_WORK, None, 200, "owned"),
    ("POST", "/v1/agent/conversations/{owned}/close", P.HANDOFF_WORK, None, 200, "owned"),
    (
        "POST",
        "/v1/agent/conversations/{owned}/transfer",
        P.HANDOFF_WORK,
        lambda ids: {"team": "night"},
        200,
        "owned",
    ),
    # The admin console: knowledge base, intents, "try it", conversation review.
    ("GET", "/v1/admin/knowledge", P.KNOWLEDGE_READ, None, 200, ""),
    ("GET", "/v1/admin/knowledge/export?format=yaml", P.KNOWLEDGE_READ, None, 200, ""),
    (
        "POST",
        "/v1/admin/knowledge",
        P.KNOWLEDGE_WRITE,
        lambda ids: {
            "id": f"new.{uuid.uuid4().hex[:8]}",
            "skill": "common",
            "question": {"zh": "问", "en": "q"},
            "answer": {"zh": "答", "en": "a"},
        },
        201,
        "",
    ),
    ("GET", "/v1/admin/knowledge/{entry}", P.KNOWLEDGE_READ, None, 200, "entry"),
    (
        "PUT",
        "/v1/admin/knowledge/{entry}",
        P.KNOWLEDGE_WRITE,
        lambda ids: {
            "id": ids["entry"],
            "skill": "common",
            "question": {"zh": "问题", "en": "question"},
            "answer": {"zh": "回答", "en": "answer"},
        },
        200,
        "entry",
    ),
    ("DELETE", "/v1/admin/knowledge/{entry}", P.KNOWLEDGE_WRITE, None, 204, "entry"),
    ("GET", "/v1/admin/knowledge/{entry}/history", P.KNOWLEDGE_READ, None, 200, "entry"),
    (
        "POST",
        "/v1/admin/knowledge/{entry}/revert",
        P.KNOWLEDGE_WRITE,
        lambda ids: {"version": 1},
        200,
        "entry",
    ),
    (
        "POST",
        "/v1/admin/knowledge/import?filename=kb.json",
        P.KNOWLEDGE_WRITE,
        lambda ids: {
            "pack": "authz-import",
            "entries": [
                {
                    "id": "authz.imported",
                    "skill": "common",
                    "question": {"zh": "导入的问题", "en": "imported"},
                    "answer": {"zh": "答", "en": "a"},
                }
            ],
        },
        200,
        "",
    ),
    ("GET", "/v1/admin/training", P.KNOWLEDGE_WRITE, None, 200, ""),
    ("GET", "/v1/admin/training/{run}", P.KNOWLEDGE_WRITE, None, 200, "run"),
    ("GET", "/v1/admin/intents", P.KNOWLEDGE_READ, None, 200, ""),
    (
        "POST",
        "/v1/admin/intents",
        P.KNOWLEDGE_WRITE,
        lambda ids: {"name": f"new.i{uuid.uuid4().hex[:8]}", "examples": {"zh": ["例"]}},
        201,
        "",
    ),
    (
        "PUT",
        "/v1/admin/intents/{intent}",
        P.KNOWLEDGE_WRITE,
        lambda ids: {"examples": {"zh": ["例子", "例句"]}},
        200,
        "intent",
    ),
    ("DELETE", "/v1/admin/intents/{intent}", P.KNOWLEDGE_WRITE, None, 204, "intent"),
    ("POST", "/v1/admin/try", P.KNOWLEDGE_READ, lambda ids: {"text": "押金怎么退"}, 200, ""),
    ("GET", "/v1/admin/review?filter=fallback", P.CONVERSATIONS_READ, None, 200, ""),
    (
        "POST",
        "/v1/admin/review/{turn}",
        P.KNOWLEDGE_WRITE,
        lambda ids: {"intent": ids["intent"]},
        200,
        "turn",
    ),
    *[
        ("GET", f"/v1/analytics/{name}", P.ANALYTICS_READ, None, 200, "")
        for name in (
            "summary",
            "volume?by=hour",
            "trend",
            "handoff-reasons",
            "satisfaction",
            "intents?kind=faq",
            "flows",
            "flow-steps?flow=bike.report_broken",
            "conversations?reason=human_request",
            "hot-topics",
            "gaps",
        )
    ],
    ("POST", "/v1/analytics/refresh", P.ANALYTICS_READ, None, 200, ""),
]
# Routes outside the matrix, and why.
NOT_IN_MATRIX = {
    ("POST", "/v1/auth/login"): "public: signing in",
    ("POST", "/v1/auth/logout"): "any session; tested in test_console_auth.py",
    ("POST", "/v1/admin/training"): "trains a model; roles and keys in test_training_api.py",
    ("POST", "/v1/admin/training/{run}/promote"): "roles and keys in test_training_api.py",
    ("GET", "/v1/widget/config"): "public: the embedded widget reads it",
}
CALLERS = ["nobody", *[r.value for r in AccountRole], "api_key"]


def _client(world: World, caller: str) -> tuple[TestClient, dict[str, str]]:
    client = TestClient(world.app)
    if caller == "nobody":
        return client, {}
    if caller == "api_key":
        return client, {"Authorization": f"Bearer {world.api_key}"}
    res = client.post("/v1/auth/login", json={"username": f"{caller}-own", "password": PASSWORD})
    assert res.status_code == 200, res.text
    return client, {"X-CSRF-Token": res.json()["csrf_token"]}


def _permissions(caller: str) -> frozenset[Permission]:
    if caller == "nobody":
        return frozenset()
    if caller == "api_key":
        return API_KEY_SCOPES
    return ROLE_PERMISSIONS[AccountRole(caller)]


def _ids(endpoint: tuple[Any, ...]) -> str:
    return f"{endpoint[0]} {endpoint[1]}"


# Collection routes have no "other tenant" target: test_lists_stay_in_tenant covers them.
CASES = [
    pytest.param(endpoint, caller, tenant, id=f"{_ids(endpoint)}-{caller}-{tenant}")
    for endpoint in ENDPOINTS
    for caller in CALLERS
    for tenant in ("own", "other")
    if tenant == "own" or endpoint[5]
]


@pytest.mark.parametrize(("endpoint", "caller", "tenant"), CASES)
def test_matrix(world: World, endpoint: tuple[Any, ...], caller: str, tenant: str) -> None:
    method, template, permission, body, ok, target = endpoint
    ids = world.own if tenant == "own" else world.other
    if method in ("DELETE", "POST") and target:
        # Destructive routes get a fresh target each time, so order doesn't matter.
        ids = {**ids, **_fresh_target(world, target, ids, caller)}
    path = template.format(**ids)
    client, headers = _client(world, caller)
    with client:
        res = client.request(method, path, headers=headers, json=body(ids) if body else None)
    if caller == "nobody":
        expected = 401
    elif permission is not None and permission not in _permissions(caller):
        expected = 403
    elif tenant == "other":
        expected = 404
    else:
        expected = ok
    assert res.status_code == expected, f"{caller} {method} {path}: {res.text}"
    if res.status_code >= 400:
        assert set(res.json()["error"]) >= {"code", "message"}


def _fresh_target(world: World, target: str, ids: dict[str, Any], caller: str) -> dict[str, Any]:
    with world.runtime.system_sessions.begin() as session:
        if target in ("entry", "intent", "turn"):
            tid = session.get(Account, ids["admin"]).tenant_id  # type: ignore[union-attr]
            fresh = f"authz.{uuid.uuid4().hex[:8]}"
            if target == "entry":
                return {"entry": _entry(session, tid, fresh)}
            if target == "intent":
                spec = IntentSpec(name=fresh, examples=LocalizedList(zh=["例子"]))
                intent_store.save_intent(session, tid, spec, create=True)
                return {"intent": fresh}
            conv = Conversation(tenant_id=tid, language="zh")
            session.add(conv)
            session.flush()
            return {"turn": _turn(session, tid, conv.id)}
        if target == "canned":
            tid = session.get(Account, ids["admin"]).tenant_id  # type: ignore[union-attr]
            canned = CannedResponse(tenant_id=tid, title=uuid.uuid4().hex, language="zh", text="x")
            session.add(canned)
            session.flush()
            return {"canned": canned.id}
        if target == "owned":
            # A conversation in a live chat with the caller (when the caller is an account).
            tid = session.get(Account, ids["admin"]).tenant_id  # type: ignore[union-attr]
            conv = Conversation(tenant_id=tid, language="zh", status=ConversationStatus.WITH_AGENT)
            session.add(conv)
            session.flush()
            owner = ids.get(caller) if caller in {r.value for r in AccountRole} else None
            session.add(
                Handoff(
                    tenant_id=tid,
                    conversation_id=conv.id,
                    status=HandoffStatus.ASSIGNED,
                    reason="human_request",
                    priority="normal",
                    rank=3,
                    language="zh",
                    agent_id=owner,
                    requested_at=utcnow(),
                    assigned_at=utcnow(),
                )
            )
            return {"owned": str(conv.id)}
        if target == "api_key":
            tid = session.get(ApiKey, ids["api_key"]).tenant_id  # type: ignore[union-attr]
            key, _ = accounts.create_api_key(session, tid, "victim", ["analytics:read"])
            return {"api_key": key.id}
        if target == "customer":
            tid = session.get(Customer, uuid.UUID(ids["customer"])).tenant_id  # type: ignore[union-attr]
            customer = Customer(tenant_id=tid, external_id=uuid.uuid4().hex, display_name="李四")
            session.add(customer)
            session.flush()
            return {"customer": str(customer.id)}
    return {}


@pytest.mark.parametrize("caller", ["admin", "api_key"])
def test_lists_stay_in_tenant(world: World, caller: str) -> None:
    client, headers = _client(world, caller)
    with client:
        convs = client.get("/v1/console/conversations", headers=headers).json()
        assert world.other["conversation"] not in {c["id"] for c in convs}
        assert world.own["conversation"] in {c["id"] for c in convs}
        audit = client.get("/v1/audit?limit=500", headers=headers).json()
        with world.runtime.system_sessions() as session:
            own_tid = session.scalar(
                select(Account.tenant_id).where(Account.id == world.own["admin"])
            )
        assert {e["tenant_id"] for e in audit} <= {own_tid}
        if caller == "admin":
            names = {a["username"] for a in client.get("/v1/accounts", headers=headers).json()}
            assert "admin-own" in names and not any(n.endswith("-other") for n in names)


def test_every_route_is_in_the_matrix(world: World) -> None:
    covered = {
        (m, p.split("?")[0].replace("{owned}", "{conversation}")) for m, p, *_ in ENDPOINTS
    } | set(NOT_IN_MATRIX)
    public_prefixes = ("/v1/conversations", "/healthz", "/readyz", "/docs", "/openapi", "/redoc")
    names = {
        "account_id": "analyst",
        "key_id": "api_key",
        "conversation_id": "conversation",
        "customer_id": "customer",
        "agent_id": "agent",
        "canned_id": "canned",
        "entry_id": "entry",
        "name": "intent",
        "turn_id": "turn",
        "run_id": "run",
    }
    # The OpenAPI document lists every route in the schema (FastAPI's `app.routes` holds
    # included routers, not their routes, so walking it found nothing to check).
    paths = world.app.openapi()["paths"]
    assert len(paths) > 30
    missing = []
    for path, operations in paths.items():
        if path.startswith(public_prefixes):
            continue
        template = path
        for name, target in names.items():
            template = template.replace("{" + name + "}", "{" + target + "}")
        for method in operations:
            if (method.upper(), template) not in covered:
                missing.append(f"{method.upper()} {path}")
    assert not missing, f"add these to the authorisation matrix: {missing}"
