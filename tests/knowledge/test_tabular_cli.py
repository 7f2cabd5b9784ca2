"""`kefu kb import/export` with spreadsheets, run in-process against a temporary data dir."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from kefu.cli import app
from tests.knowledge.test_pack import GOOD

runner = CliRunner()
HEADER = "id,pack,skill,question_zh,question_en,answer_zh,answer_en,valid_from\r\n"
GOOD_ROW = "demo.helmet,demo,bike,要戴头盔吗,Helmet?,请致电 {{ hotline }},Call {{ hotline }},\r\n"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    for name in ("KEFU_DATABASE_URL", "KEFU_REDIS_URL", "KEFU_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "var"


def write_csv(path: Path, *rows: str) -> Path:
    path.write_bytes(("\ufeff" + HEADER + "".join(rows)).encode("utf-8"))
    return path


def import_yaml_pack(tmp_path: Path) -> None:
    (tmp_path / "demo.yaml").write_text(GOOD, encoding="utf-8")
    res = runner.invoke(app, ["kb", "import", str(tmp_path / "demo.yaml")])
    assert res.exit_code == 0, res.output


def test_bad_csv_row_is_reported_with_its_row_and_nothing_is_imported(tmp_path: Path) -> None:
    bad = write_csv(
        tmp_path / "bad.csv",
        GOOD_ROW.replace("{{ hotline }}", "us"),
        "Bad Id,demo,bike,问,q,答,a,2025-13-01\r\n",
    )
    res = runner.invoke(app, ["kb", "import", str(bad)])
    assert res.exit_code == 1
    assert f"error: {bad}: row 3: id: must be lower-case" in res.stderr
    assert f"error: {bad}: row 3: valid_from: '2025-13-01' is not a date" in res.stderr
    assert "Traceback" not in res.output
    export = runner.invoke(app, ["kb", "export", "-"])
    assert export.exit_code == 0 and "demo.helmet" not in export.stdout  # all or nothing


def test_csv_answers_use_the_stored_variables(tmp_path: Path) -> None:
    import_yaml_pack(tmp_path)
    sheet = write_csv(tmp_path / "more.csv", GOOD_ROW)
    res = runner.invoke(app, ["kb", "import", "--dry-run", str(sheet)])
    assert res.exit_code == 0 and "valid: 1 pack(s), 1 entries" in res.stdout
    res = runner.invoke(app, ["kb", "import", str(sheet)])
    assert res.exit_code == 0 and "demo: 1 created, 0 updated" in res.stdout
    res = runner.invoke(app, ["kb", "export", "--pack", "demo", "--format", "yaml"])
    assert "hotline: 400-000-0000" in res.stdout  # the CSV kept the pack's variables
    assert "demo.deposit" in res.stdout and "demo.helmet" in res.stdout


def test_dry_run_on_a_new_database_has_no_stored_variables(tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "new.csv", GOOD_ROW)
    res = runner.invoke(app, ["kb", "import", "--dry-run", str(sheet)])
    assert res.exit_code == 1
    assert "row 2: answer_zh: answer uses undefined variable(s): hotline" in res.stderr


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "yaml", "json"])
def test_export_then_import_round_trip(tmp_path: Path, fmt: str) -> None:
    import_yaml_pack(tmp_path)
    target = tmp_path / f"kb.{fmt}"
    res = runner.invoke(
        app, ["kb", "export", "--pack", "demo", "--format", fmt, "--out", str(target)]
    )
    assert res.exit_code == 0, res.output
    assert f"wrote 1 entries in 1 pack(s) to {target}" in res.stdout
    res = runner.invoke(app, ["kb", "import", str(target)])
    assert res.exit_code == 0, res.output
    assert "demo: 0 created, 0 updated" in res.stdout  # nothing changed on the way


def test_export_format_from_the_file_name_and_positional_file(tmp_path: Path) -> None:
    import_yaml_pack(tmp_path)
    res = runner.invoke(app, ["kb", "export", str(tmp_path / "kb.xlsx")])
    assert res.exit_code == 0, res.output
    book = load_workbook(tmp_path / "kb.xlsx", read_only=True)
    assert book.sheetnames == ["faq", "variables"]


def test_export_to_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import_yaml_pack(tmp_path)
    res = runner.invoke(app, ["kb", "export", "--format", "csv", "--pack", "demo"])
    assert res.exit_code == 0 and res.stdout_bytes.startswith(b"\xef\xbb\xbfid,pack,")
    res = runner.invoke(app, ["kb", "export", "--format", "xlsx", "--out", "-"])  # piped
    assert res.exit_code == 0 and res.stdout_bytes.startswith(b"PK\x03\x04")
    load_workbook(io.BytesIO(res.stdout_bytes), read_only=True)
    monkeypatch.setattr("kefu.cli._stdout_is_terminal", lambda: True)
    res = runner.invoke(app, ["kb", "export", "--format", "xlsx"])
    assert res.exit_code == 1 and "--out FILE" in res.stderr and not res.stdout_bytes


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "ods"], "unknown format 'ods'"),
        (["--format", "csv", "--out", "kb.xlsx"], "--format csv does not match"),
        (["kb.yaml", "--out", "other.yaml"], "give the output file once"),
        (["kb.txt"], "use a .yaml, .yml, .json, .csv or .xlsx file"),
    ],
)
def test_export_refuses_bad_arguments(args: list[str], message: str) -> None:
    res = runner.invoke(app, ["kb", "export", *args])
    assert res.exit_code == 1 and message in res.stderr and "Traceback" not in res.output


def test_import_of_a_damaged_workbook_is_one_clear_line(tmp_path: Path) -> None:
    broken = tmp_path / "kb.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    res = runner.invoke(app, ["kb", "import", "--dry-run", str(broken), str(tmp_path / "no.csv")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"error: {broken}: not a readable .xlsx workbook" in res.stderr
    assert f"{tmp_path / 'no.csv'}: no such file" in res.stderr
