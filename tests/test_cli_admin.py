"""`kefu tenants|accounts|audit|retention|customers`: in-process against a temporary data dir.
Every change lands in the audit log as done by `cli:<user>`; bad input is one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kefu.cli import app
from kefu.config import Settings
from kefu.runtime import Runtime
from tests.knowledge.test_pack import GOOD

runner = CliRunner()
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KEFU_LOAD_DEFAULT_KNOWLEDGE", "false")
    for name in ("KEFU_DATABASE_URL", "KEFU_REDIS_URL", "KEFU_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return tmp_path / "var"


def _ok(*args: str, stdin: str | None = None) -> str:
    res = runner.invoke(app, list(args), input=stdin)
    assert res.exit_code == 0, res.output
    return res.stdout


def _fails(*args: str, stdin: str | None = None) -> str:
    res = runner.invoke(app, list(args), input=stdin)
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    return res.stderr


def test_accounts_and_the_audit_trail(tmp_path: Path) -> None:
    _ok("accounts", "create", "alice", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    listed = json.loads(_ok("accounts", "list", "--json"))
    assert [(a["username"], a["role"]) for a in listed] == [("alice", "admin")]
    assert "taken" in _fails(
        "accounts", "create", "alice", "--role", "agent", "--password-stdin", stdin=PASSWORD
    )
    assert "unknown role" in _fails(
        "accounts", "create", "bob", "--role", "root", "--password-stdin", stdin=PASSWORD
    )
    assert "at least" in _fails(
        "accounts", "create", "bob", "--role", "agent", "--password-stdin", stdin="short"
    )
    assert "last active admin" in _fails("accounts", "set", "alice", "--role", "analyst")
    _ok("accounts", "create", "bob", "--role", "agent", "--password-stdin", stdin=PASSWORD)
    _ok("accounts", "set", "bob", "--role", "analyst")
    key = _ok("accounts", "api-key", "bi", "--scope", "analytics:read").strip()
    assert key.startswith("kefu_")
    pack = tmp_path / "demo.yaml"
    pack.write_text(GOOD, encoding="utf-8")
    _ok("kb", "import", str(pack))
    events = [json.loads(line) for line in _ok("audit", "--json").splitlines()]
    actions = [e["action"] for e in events]
    assert actions[:5] == [
        "knowledge.import",
        "api_key.create",
        "account.update",
        "account.create",
        "account.create",
    ]
    assert all(e["actor"]["name"].startswith("cli:") for e in events)
    assert [
        e["action"]
        for e in map(json.loads, _ok("audit", "--action", "account.", "--json").splitlines())
    ] == [
        "account.update",
        "account.create",
        "account.create",
    ]
    assert "not a date" in _fails("audit", "--since", "yesterday-ish")
    assert "no audit events" in runner.invoke(app, ["audit", "--action", "nothing."]).stderr


def test_tenants(tmp_path: Path) -> None:
    _ok("tenants", "create", "acme", "--name", "ACME Bikes")
    assert "acme" in _ok("tenants", "list")
    assert "exists" in _fails("tenants", "create", "acme")
    assert "slug" in _fails("tenants", "create", "Bad Slug!")
    assert "no tenant" in _fails("accounts", "list", "--tenant", "nope")


def test_retention_and_customer_requests(tmp_path: Path) -> None:
    runtime = Runtime.build(Settings())
    try:
        conv = runtime.conversations.start(customer_external_id="rider-7", customer_name="张三")
        runtime.conversations.post(conv.id, "我的电话13812345678")
    finally:
        runtime.close()
    exported = json.loads(_ok("customers", "export", "rider-7"))
    assert exported["customer"]["display_name"] == "张三"
    assert "13812345678" in exported["conversations"][0]["messages"][0]["text"]
    assert "no customer" in _fails("customers", "export", "nobody")
    out_file = tmp_path / "rider.json"
    _ok("customers", "export", "rider-7", "--out", str(out_file))
    assert json.loads(out_file.read_text(encoding="utf-8"))["customer"]["external_id"] == "rider-7"
    assert "erased customer" in _ok("customers", "erase", "rider-7", "--yes")
    assert "no customer" in _fails("customers", "erase", "rider-7", "--yes")
    assert "--days N or --forever" in _fails("retention", "set")
    _ok("retention", "set", "--days", "30")
    assert "30 days" in _ok("tenants", "list")
    assert "default" in _ok("retention", "run")
    assert "mode" in _fails("retention", "set", "--days", "5", "--mode", "shred")
