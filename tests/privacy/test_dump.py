"""A database dump taken after real conversations holds no plaintext phone number, resident ID,
or customer contact field: not in any table, not in the SQLite file's bytes, not in pg_dump."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from collections import defaultdict
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from kefu.runtime import Runtime
from tests.conftest import start

PHONE = "13812345678"
RESIDENT_ID = "11010519491231002X"  # valid check digit
EXTERNAL_ID = "crm-00424242"
NAME = "王秀英"
SECRETS = (PHONE, RESIDENT_ID, EXTERNAL_ID, NAME)


def _converse(client: TestClient) -> None:
    customer = {"external_id": EXTERNAL_ID, "name": NAME}
    conv, auth = start(client, language="zh", customer=customer)
    for i, body in enumerate(
        [
            f"你好，我的手机号是{PHONE}，押金怎么退？",
            f"身份证号 {RESIDENT_ID}，帮我查一下订单",
            f"电话 {PHONE[:3]} {PHONE[3:7]} {PHONE[7:]} 转人工",
        ]
    ):
        res = client.post(
            f"/v1/conversations/{conv}/messages",
            json={"text": body, "client_message_id": f"m{i}"},
            headers=auth,
        )
        assert res.status_code == 201, res.text
    # The same customer comes back (found by blind index), in English this time.
    conv, auth = start(client, language="en", customer=customer)
    res = client.post(
        f"/v1/conversations/{conv}/messages",
        json={"text": f"my phone is {PHONE} and my ID is {RESIDENT_ID}"},
        headers=auth,
    )
    assert res.status_code == 201, res.text


def _rows_by_table(runtime: Runtime) -> dict[str, str]:
    """Every table's rows as raw text, straight from the database (no decryption)."""
    dumped: dict[str, str] = {}
    with runtime.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            columns = ", ".join(f'"{c["name"]}"' for c in inspect(conn).get_columns(table))
            rows = conn.execute(text(f'SELECT {columns} FROM "{table}"')).all()
            dumped[table] = "\n".join(repr(tuple(str(v) for v in row)) for row in rows)
    return dumped


def _database_dump(runtime: Runtime) -> dict[str, str]:
    """Whole-database dumps: iterdump and the file bytes (with its WAL) for SQLite, pg_dump of
    the test's schema for PostgreSQL."""
    url = runtime.engine.url
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        with sqlite3.connect(path) as conn:
            dump = {"iterdump": "\n".join(conn.iterdump())}
        for file in (path, Path(f"{path}-wal")):
            if file.exists():
                dump[file.name] = file.read_bytes().decode("utf-8", errors="replace")
        return dump
    if shutil.which("pg_dump") is None:
        return {}  # the per-table SELECTs still cover every column
    with runtime.engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    plain = make_url(str(url.render_as_string(hide_password=False))).set(
        drivername="postgresql", query={}
    )
    dsn = plain.render_as_string(hide_password=False)
    res = subprocess.run(
        ["pg_dump", "--data-only", "--schema", schema, dsn],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    return {"pg_dump": res.stdout}


def _find(haystacks: dict[str, str]) -> dict[str, list[str]]:
    # Digits also count when split by spaces or dashes (a phone as typed: 138 1234 5678).
    patterns = {s: re.compile(r"[\s-]?".join(map(re.escape, s))) for s in SECRETS}
    leaks: dict[str, list[str]] = defaultdict(list)
    for where, content in haystacks.items():
        for secret, pattern in patterns.items():
            if pattern.search(content):
                leaks[where].append(secret)
    return dict(leaks)


def test_database_dump_holds_no_plaintext_personal_data(
    client: TestClient, runtime: Runtime
) -> None:
    _converse(client)
    tables = _rows_by_table(runtime)
    assert len(tables["messages"].splitlines()) >= 8  # the conversations really are stored
    leaks = _find(tables)
    assert not leaks, f"plaintext personal data in tables: {leaks}"
    dump_leaks = _find(_database_dump(runtime))
    assert not dump_leaks, f"plaintext personal data in the database dump: {dump_leaks}"
    # The API still shows the customer what they wrote.
    conv, auth = start(client, customer={"external_id": EXTERNAL_ID})
    res = client.post(
        f"/v1/conversations/{conv}/messages", json={"text": f"再说一次 {PHONE}"}, headers=auth
    )
    assert PHONE in res.json()["message"]["text"]
