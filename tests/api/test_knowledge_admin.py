"""The admin console's knowledge API on SQLite and PostgreSQL: entries created, edited and
deleted take effect at once and are versioned (who, when, diff, revert); validity dates; two
editors can't silently overwrite each other; "try it" shows what kefu understood."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from kefu.accounts.permissions import AccountRole
from kefu.runtime import Runtime
from tests.conftest import start
from tests.handoff.test_live import PASSWORD, Agent, make_account, say

QUESTION = "共享单车可以带宠物吗"


def entry(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "bike.pets",
        "skill": "bike",
        "tags": ["pets-policy"],
        "question": {"zh": QUESTION, "en": "Can I take my pet on a bike?"},
        "similar": {"zh": ["骑车能带狗吗"], "en": ["can my dog ride with me"]},
        "answer": {
            "zh": "可以，小型宠物请放在车筐里。",
            "en": "Yes, small pets ride in the basket.",
        },
    }
    body.update(changes)
    return body


class Admin(Agent):
    def admin(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        res = self.client.request(method, "/v1/admin" + path, json=body, headers=self.headers)
        assert res.status_code == expect, res.text
        return res.json() if res.content else None


@pytest.fixture
def admin(client: TestClient, runtime: Runtime) -> Iterator[Admin]:
    make_account(runtime, "laowang", AccountRole.ADMIN)
    with TestClient(client.app) as own:
        yield Admin(own, "laowang")


def test_an_entry_answers_at_once_and_every_change_is_versioned(
    client: TestClient, admin: Admin
) -> None:
    conv, headers = start(client, language="zh")
    created = admin.admin("POST", "/knowledge", entry(), expect=201)
    assert created["version"] == 1 and created["pack"] == "console"
    turn = say(client, conv, headers, QUESTION)
    assert turn["replies"][0]["text"] == "可以，小型宠物请放在车筐里。"

    edited = entry(answer={"zh": "可以，但宠物须装笼。", "en": "Yes, in a carrier."})
    updated = admin.admin("PUT", "/knowledge/bike.pets", {**edited, "expected_version": 1})
    assert updated["version"] == 2
    assert say(client, conv, headers, QUESTION)["replies"][0]["text"] == "可以，但宠物须装笼。"

    history = admin.admin("GET", "/knowledge/bike.pets/history")
    assert [v["version"] for v in history] == [2, 1]
    assert history[0]["actor"] == "laowang" and history[0]["action"] == "update"
    changed = {c["field"]: c for c in history[0]["changes"]}
    assert set(changed) == {"answer.zh", "answer.en"}
    assert changed["answer.zh"]["before"] == "可以，小型宠物请放在车筐里。"

    reverted = admin.admin("POST", "/knowledge/bike.pets/revert", {"version": 1})
    assert reverted["entry"]["version"] == 3
    assert say(client, conv, headers, QUESTION)["replies"][0]["text"].startswith("可以，小型宠物")

    admin.admin("DELETE", "/knowledge/bike.pets?expected_version=3", expect=204)
    assert "车筐" not in say(client, conv, headers, QUESTION)["replies"][0]["text"]
    admin.admin("GET", "/knowledge/bike.pets", expect=404)
    restored = admin.admin("POST", "/knowledge/bike.pets/revert", {"version": 3})
    assert restored["entry"]["version"] == 5
    assert [v["action"] for v in admin.admin("GET", "/knowledge/bike.pets/history")] == [
        "revert",
        "delete",
        "revert",
        "update",
        "create",
    ]


def test_a_stale_edit_is_refused_not_lost(admin: Admin) -> None:
    admin.admin("POST", "/knowledge", entry(), expect=201)
    admin.admin("PUT", "/knowledge/bike.pets", {**entry(tags=["a"]), "expected_version": 1})
    stale = admin.admin(
        "PUT", "/knowledge/bike.pets", {**entry(tags=["b"]), "expected_version": 1}, expect=409
    )
    assert stale["error"]["code"] == "stale_version"
    assert admin.admin("GET", "/knowledge/bike.pets")["tags"] == ["a"]


def test_search_filters_and_the_bundled_entries_have_history(admin: Admin) -> None:
    page = admin.admin("GET", "/knowledge?limit=5")
    assert page["total"] > 20 and len(page["items"]) == 5
    assert {"bike", "lodging", "common"} <= set(page["skills"])
    first = page["items"][0]
    assert first["version"] == 1
    assert admin.admin("GET", f"/knowledge/{first['id']}/history")[0]["action"] == "import"
    admin.admin("POST", "/knowledge", entry(), expect=201)
    found = admin.admin("GET", "/knowledge?q=小型宠物")
    assert [e["id"] for e in found["items"]] == ["bike.pets"]
    assert admin.admin("GET", "/knowledge?q=DOG")["total"] >= 1
    assert admin.admin("GET", "/knowledge?tag=pets-policy&skill=bike")["total"] == 1
    assert admin.admin("GET", "/knowledge?tag=pets-policy&skill=lodging")["total"] == 0


def test_validity_dates_limit_when_an_entry_answers(
    client: TestClient, runtime: Runtime, admin: Admin
) -> None:
    # Days are the deployment's (KEFU_TIMEZONE), not UTC's: at 00:30 in Shanghai UTC is still
    # on the day before.
    today = dt.datetime.now(ZoneInfo(runtime.settings.timezone)).date()
    later = (today + dt.timedelta(days=10)).isoformat()
    admin.admin("POST", "/knowledge", entry(valid_from=later), expect=201)
    conv, headers = start(client, language="zh")
    assert "车筐" not in say(client, conv, headers, QUESTION)["replies"][0]["text"]
    admin.admin(
        "PUT",
        "/knowledge/bike.pets",
        entry(valid_from=today.isoformat(), valid_until=today.isoformat()),
    )
    assert "车筐" in say(client, conv, headers, QUESTION)["replies"][0]["text"]
    bad = admin.admin(
        "PUT",
        "/knowledge/bike.pets",
        entry(valid_from=later, valid_until=today.isoformat()),
        expect=422,
    )
    assert "valid_until" in bad["error"]["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (entry(id="Bad Id"), "id"),
        (entry(answer={"zh": "{{ nope }}", "en": "x"}), "nope"),
        (entry(answer={"zh": "", "en": "x"}), "answer"),
        (entry(action="refund"), "action"),
        (entry(question={"zh": "x" * 5000, "en": "x"}), "question"),
        ({**entry(), "extra": 1}, "extra"),
    ],
)
def test_bad_entries_get_clear_errors(admin: Admin, body: dict[str, Any], fragment: str) -> None:
    error = admin.admin("POST", "/knowledge", body, expect=422)["error"]
    assert fragment in error["message"]


def test_duplicates_mismatches_and_missing_entries(admin: Admin) -> None:
    admin.admin("POST", "/knowledge", entry(), expect=201)
    assert admin.admin("POST", "/knowledge", entry(), expect=409)["error"]["code"] == "entry_exists"
    mismatch = admin.admin("PUT", "/knowledge/bike.other", entry(), expect=422)
    assert mismatch["error"]["code"] == "id_mismatch"
    admin.admin("PUT", "/knowledge/nope", entry(id="nope"), expect=404)
    admin.admin("DELETE", "/knowledge/nope", expect=404)
    admin.admin("POST", "/knowledge/bike.pets/revert", {"version": 9}, expect=404)


def test_roles(client: TestClient, runtime: Runtime, admin: Admin) -> None:
    make_account(runtime, "ana", AccountRole.ANALYST)
    make_account(runtime, "xiaoli", AccountRole.AGENT)
    with TestClient(client.app) as one, TestClient(client.app) as two:
        analyst, agent = Admin(one, "ana"), Admin(two, "xiaoli")
        assert analyst.admin("GET", "/knowledge?limit=1")["total"] > 0
        analyst.admin("POST", "/knowledge", entry(), expect=403)
        analyst.admin("POST", "/try", {"text": "hi"})
        agent.admin("POST", "/knowledge", entry(), expect=403)
        agent.admin("POST", "/review/1", {"intent": "x"}, expect=403)


def test_try_it_shows_what_kefu_understood_without_storing(
    client: TestClient, runtime: Runtime, admin: Admin
) -> None:
    shown = admin.admin("POST", "/try", {"text": "押金怎么退？", "language": "zh"})
    assert shown["decision"] in {"answer", "flow", "clarify"}
    assert shown["replies"] and shown["faq"]
    top = shown["faq"][0]
    assert top["entry_id"] and 0 <= top["score"] <= 1 and top["question"]
    assert "sentiment" in shown and "entities" in shown and "intent_ranking" in shown
    angry = admin.admin("POST", "/try", {"text": "你们太垃圾了，气死我了，明天下午三点前给我退钱"})
    assert angry["sentiment"] is None or angry["sentiment"]["polarity"] == "negative"
    assert any(e["text"] == "明天下午三点" for e in angry["entities"]), angry["entities"]
    from sqlalchemy import func, select

    from kefu.conversations.models import Message

    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0
    assert admin.admin("POST", "/try", {"text": ""}, expect=422)
    assert admin.admin("POST", "/try", {"text": "a\x00b"}, expect=422)


def test_an_entry_stored_before_versions_gets_a_baseline_before_its_first_change(
    runtime: Runtime, admin: Admin
) -> None:
    """Deployments upgraded from before the admin console: their entries have no history, and
    their first edit or delete must still be undoable."""
    from sqlalchemy import delete

    from kefu.knowledge.models import KnowledgeVersion

    with runtime.sessions.begin() as session:  # as a database migrated from 0009 looks
        session.execute(delete(KnowledgeVersion))
    original = admin.admin("GET", "/knowledge/bike.helmet")
    assert original["version"] == 0
    admin.admin("DELETE", "/knowledge/bike.helmet?expected_version=0", expect=204)
    history = admin.admin("GET", "/knowledge/bike.helmet/history")
    assert [(v["version"], v["action"]) for v in history] == [(2, "delete"), (1, "baseline")]
    restored = admin.admin("POST", "/knowledge/bike.helmet/revert", {"version": 1})["entry"]
    assert restored["answer"] == original["answer"] and restored["version"] == 3


def test_reserved_ids_and_bounded_numbers(admin: Admin) -> None:
    for reserved in ("export", "import"):
        error = admin.admin("POST", "/knowledge", entry(id=reserved), expect=422)["error"]
        assert error["code"] == "reserved_id"
    admin.admin("POST", "/knowledge/bike.helmet/revert", {"version": 2**40}, expect=422)
    admin.admin("DELETE", f"/knowledge/bike.helmet?expected_version={2**40}", expect=422)
    too_many = entry(similar={"zh": ["问"] * 5001, "en": []})
    assert "similar" in admin.admin("POST", "/knowledge", too_many, expect=422)["error"]["message"]


def test_try_it_answers_only_for_the_served_tenant(
    client: TestClient, runtime: Runtime, admin: Admin
) -> None:
    from kefu.accounts import service as accounts
    from kefu.tenants.models import Tenant

    with runtime.system_sessions.begin() as session:
        other = Tenant(slug="other", name="Other")
        session.add(other)
        session.flush()
        accounts.create_account(session, other.id, "otheradmin", PASSWORD, AccountRole.ADMIN)
    with TestClient(client.app) as theirs:
        res = theirs.post(
            "/v1/auth/login",
            json={"username": "otheradmin", "password": PASSWORD, "tenant": "other"},
        )
        assert res.status_code == 200, res.text
        headers = {"X-CSRF-Token": res.json()["csrf_token"]}
        refused = theirs.post("/v1/admin/try", json={"text": "押金怎么退"}, headers=headers)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "wrong_tenant"
