"""`kefu agents list|set`: live-chat settings of accounts, with clear errors."""

from __future__ import annotations

import json

from tests.test_cli_admin import PASSWORD, _fails, _ok, data_dir  # noqa: F401 - fixture


def test_agents_set_and_list() -> None:
    _ok("accounts", "create", "xiaoli", "--role", "agent", "--password-stdin", stdin=PASSWORD)
    _ok("accounts", "create", "ana", "--role", "analyst", "--password-stdin", stdin=PASSWORD)
    assert json.loads(_ok("agents", "list", "--json")) == [
        {
            "username": "xiaoli",
            "role": "agent",
            "status": "offline",
            "capacity": 3,
            "skills": [],
            "languages": [],
            "teams": [],
        }
    ]  # the analyst serves no customers
    _ok(
        "agents",
        "set",
        "xiaoli",
        "--skills",
        "bike, lodging",
        "--languages",
        "zh",
        "--capacity",
        "5",
    )
    (row,) = json.loads(_ok("agents", "list", "--json"))
    assert (row["skills"], row["languages"], row["capacity"]) == (["bike", "lodging"], ["zh"], 5)
    _ok("agents", "set", "xiaoli", "--skills", "")  # cleared: any skill
    assert json.loads(_ok("agents", "list", "--json"))[0]["skills"] == []
    assert "no account" in _fails("agents", "set", "nobody", "--capacity", "2")
    assert "zh and/or en" in _fails("agents", "set", "xiaoli", "--languages", "fr")
    assert "analyst" in _fails("agents", "set", "ana", "--capacity", "2")
    assert "agent.update" in _ok("audit", "--action", "agent.", "--json")
