"""`kefu demo seed`: in-process against a temporary SQLite file, after `kefu db upgrade`."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from kefu.backends.demo.backend import DemoBackend
from kefu.backends.demo.models import BIKES, CUSTOMERS
from kefu.cli import app
from kefu.db.engine import make_engine

runner = CliRunner()


@pytest.fixture
def database(cli_database: str) -> str:
    return cli_database


def test_seed_fills_the_demo_city_and_reseeding_replaces_it(database: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    args = ["demo", "seed", "--customers", "20", "--bikes", "100", "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    counts = json.loads(first.stdout.strip().splitlines()[-1])
    assert (counts["customers"], counts["bikes"], counts["listings"]) == (23, 107, 13)
    again = runner.invoke(app, args)
    assert json.loads(again.stdout.strip().splitlines()[-1]) == counts
    engine = make_engine(database)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(CUSTOMERS)).scalar_one() == 23
            assert conn.execute(select(func.count()).select_from(BIKES)).scalar_one() == 107
        assert DemoBackend(engine).customer_profile("c-1001").name == "王小明"
    finally:
        engine.dispose()


def test_seed_prints_a_table_by_default(database: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    res = runner.invoke(app, ["demo", "seed", "--seed", "3", "--customers", "5", "--bikes", "20"])
    assert res.exit_code == 0, res.output
    assert "seed 3" in res.stdout and "c-1001" in res.stdout
    assert "bikes" in res.stdout and "27" in res.stdout


def test_seed_on_an_unmigrated_database_is_one_clear_line(database: str) -> None:
    res = runner.invoke(app, ["demo", "seed", "--customers", "1", "--bikes", "1"])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    assert "kefu db upgrade" in res.stderr


def test_seed_rejects_negative_sizes(database: str) -> None:
    res = runner.invoke(app, ["demo", "seed", "--bikes", "-1"])
    assert res.exit_code == 2
