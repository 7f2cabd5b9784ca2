"""`kefu analytics summary` and `refresh`, in process against a temporary SQLite file filled by
`kefu demo simulate`: the terminal shows the same numbers as the API, over any date range."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kefu.cli import app

runner = CliRunner()


@pytest.fixture
def database(cli_database: str) -> str:
    return cli_database


def test_summary_reports_what_was_simulated(database: str, tmp_path: Path) -> None:
    ledger_file = tmp_path / "ledger.json"
    sim = ["demo", "simulate", "-n", "60", "--days", "5", "--seed", "4", "--json"]
    made = runner.invoke(app, [*sim, "--ledger", str(ledger_file)])
    assert made.exit_code == 0, made.output
    ledger = json.loads(ledger_file.read_text("utf-8"))
    days = sorted({c["local_day"] for c in ledger["conversations"]})
    args = ["analytics", "summary", "--since", days[0], "--until", days[-1], "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout.strip().splitlines()[-1])
    totals = ledger["totals"]
    assert report["conversations"] == totals["conversations"] == 60
    assert report["messages"] == totals["messages"]
    assert report["satisfaction"]["count"] == totals["ratings"]
    assert report["handoff_rate"] == round(totals["handoffs"] / 60, 4)
    # No intent model is trained here, so FAQ entries carry the traffic.
    assert report["top_faq"] and isinstance(report["knowledge_gaps"], list)

    one_day = runner.invoke(app, ["analytics", "summary", "--since", days[-1], "--json"])
    only = [c for c in ledger["conversations"] if c["local_day"] == days[-1]]
    assert json.loads(one_day.stdout.strip().splitlines()[-1])["conversations"] == len(only)

    table = runner.invoke(app, ["analytics", "summary", "--since", days[0]])
    assert table.exit_code == 0, table.output
    assert "automated resolution" in table.stdout and "handoff rate" in table.stdout
    again = runner.invoke(app, ["analytics", "refresh", "--full"])
    assert again.exit_code == 0 and "recomputed 60 conversations" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-05-02", "--until", "2026-05-01"], "is after until"),
        (["--since", "2026-13-01"], "does not match"),
        (["--since", "2020-01-01", "--until", "2026-01-01"], "at most"),
    ],
)
def test_bad_ranges_are_one_clear_line(database: str, args: list[str], message: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    res = runner.invoke(app, ["analytics", "summary", *args])
    assert res.exit_code != 0
    assert message in res.output and "Traceback" not in res.output
