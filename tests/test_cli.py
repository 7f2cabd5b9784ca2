"""The `kefu` command, run in-process with Typer's runner against a temporary data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kefu import __version__
from kefu.cli import app
from tests.knowledge.test_pack import GOOD

runner = CliRunner()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    for name in ("KEFU_DATABASE_URL", "KEFU_REDIS_URL", "KEFU_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "var"


def test_version() -> None:
    res = runner.invoke(app, ["version"])
    assert res.exit_code == 0 and __version__ in res.stdout


def test_config_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("KEFU_DATABASE_URL", "postgresql://kefu:hunter2@db/kefu")
    res = runner.invoke(app, ["config", "--json"])
    assert res.exit_code == 0, res.output
    assert "hunter2" not in res.stdout and "k" * 40 not in res.stdout
    data = json.loads(res.stdout)
    assert data["port"] == 8000


def test_config_with_bad_setting_is_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_PORT", "not-a-port")
    res = runner.invoke(app, ["config"])
    assert res.exit_code == 1
    assert "invalid setting port" in res.stderr and "Traceback" not in res.output


def test_db_upgrade_is_idempotent(data_dir: Path) -> None:
    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0 and "applied" in first.stdout
    assert (data_dir / "kefu.db").exists()
    second = runner.invoke(app, ["db", "upgrade"])
    assert "up to date" in second.stdout


def test_db_upgrade_with_unreachable_database_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    res = runner.invoke(app, ["db", "upgrade"])
    assert res.exit_code == 1 and "database" in res.stderr and "Traceback" not in res.output


def test_kb_import_export_round_trip(tmp_path: Path) -> None:
    pack = tmp_path / "demo.yaml"
    pack.write_text(GOOD, encoding="utf-8")
    res = runner.invoke(app, ["kb", "import", str(pack)])
    assert res.exit_code == 0, res.output
    assert "demo: 1 created, 0 updated" in res.stdout
    again = runner.invoke(app, ["kb", "import", str(pack)])
    assert "demo: 0 created, 0 updated" in again.stdout
    for name in ("out.yaml", "out.json"):
        res = runner.invoke(app, ["kb", "export", str(tmp_path / name), "--pack", "demo"])
        assert res.exit_code == 0, res.output
        back = runner.invoke(app, ["kb", "import", "--dry-run", str(tmp_path / name)])
        assert "valid: 1 pack(s), 1 entries" in back.stdout


def test_kb_import_reports_line_precise_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("    skill: bike\n", ""), encoding="utf-8")
    res = runner.invoke(app, ["kb", "import", str(bad)])
    assert res.exit_code == 1
    assert f"{bad}:6: entries.0.skill: Field required" in res.stderr
    assert "Traceback" not in res.output


def test_kb_import_rejects_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    res = runner.invoke(app, ["kb", "import", str(tmp_path / "x.txt")])
    assert res.exit_code == 1 and ".yaml" in res.stderr
    res = runner.invoke(app, ["kb", "import", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 1 and "no such file" in res.stderr


def test_chat_answers_in_terminal() -> None:
    res = runner.invoke(app, ["chat"], input="押金怎么退？\n/quit\n")
    assert res.exit_code == 0, res.output
    assert "kefu " in res.stdout and "押金" in res.stdout


def test_chat_as_a_demo_customer_acts_on_their_account() -> None:
    # The first chat seeds the demo operator; its deposit flow then knows 王小明's deposit.
    res = runner.invoke(app, ["chat", "--customer", "c-1001"], input="押金怎么退？\n/quit\n")
    assert res.exit_code == 0, res.output
    assert "seeded the demo operator" in res.stdout
    assert "199.00元" in res.stdout and "确认退押金" in res.stdout  # the amount and a button


def test_kb_import_refuses_duplicates_across_files(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(GOOD, encoding="utf-8")
    res = runner.invoke(
        app, ["kb", "import", "--dry-run", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]
    )
    assert res.exit_code == 1
    assert "more than one file" in res.stderr and "more than one pack" in res.stderr


def test_kb_reimport_that_would_break_kept_entries_is_refused(tmp_path: Path) -> None:
    pack = tmp_path / "demo.yaml"
    pack.write_text(GOOD, encoding="utf-8")
    assert runner.invoke(app, ["kb", "import", str(pack)]).exit_code == 0
    # The new file drops the entry and the variable it uses: the stored entry would break.
    other = GOOD.replace("demo.deposit", "demo.other").replace("{{ hotline }}", "us")
    other = other.replace('  hotline: "400-000-0000"\n', "  unused: x\n")
    pack.write_text(other, encoding="utf-8")
    res = runner.invoke(app, ["kb", "import", str(pack)])
    assert res.exit_code == 1 and "demo.deposit" in res.stderr and "would break" in res.stderr


def test_kb_export_does_not_create_or_seed_a_database(data_dir: Path) -> None:
    res = runner.invoke(app, ["kb", "export", "-"])
    assert res.exit_code == 1 and "kefu db upgrade" in res.stderr
