"""Knowledge-base files through the admin API: export in CSV, Excel and YAML, import them back,
and a file with a bad row changes nothing and names the row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from kefu.accounts.permissions import AccountRole
from kefu.runtime import Runtime
from tests.api.test_knowledge_admin import Admin
from tests.conftest import start
from tests.handoff.test_live import make_account, say

HEADER = "id,pack,skill,question_zh,question_en,answer_zh,answer_en\n"


@pytest.fixture
def admin(client: TestClient, runtime: Runtime) -> Iterator[Admin]:
    make_account(runtime, "laowang", AccountRole.ADMIN)
    with TestClient(client.app) as own:
        yield Admin(own, "laowang")


def upload(admin: Admin, name: str, data: bytes, expect: int = 200) -> dict[str, object]:
    res = admin.client.post(
        f"/v1/admin/knowledge/import?filename={name}",
        content=data,
        headers={**admin.headers, "Content-Type": "application/octet-stream"},
    )
    assert res.status_code == expect, res.text
    body: dict[str, object] = res.json()
    return body


def test_a_csv_with_a_bad_row_names_it_and_changes_nothing(admin: Admin) -> None:
    rows = (
        HEADER
        + "ops.one,ops,bike,第一个问题,first,答一,one\n"
        + "Bad Id,ops,bike,第二个问题,second,答二,two\n"
        + "ops.three,ops,bike,第三个问题,third,,three\n"
    )
    error = upload(admin, "faq.csv", rows.encode(), expect=422)["error"]
    assert isinstance(error, dict) and error["code"] == "invalid_pack"
    problems = error["problems"]
    assert any(p.startswith("row 3: id:") for p in problems), problems
    assert any(p.startswith("row 4: answer_zh:") for p in problems), problems
    assert admin.admin("GET", "/knowledge?q=第一个问题")["total"] == 0


def test_exports_import_back_and_an_import_answers_at_once(
    client: TestClient, admin: Admin
) -> None:
    body = (
        HEADER
        + "ops.lost,ops,bike,落在车筐里的雨伞去哪找,lost umbrella,"
        + "请联系失物招领。,Ask lost and found.\n"
    )
    result = upload(admin, "faq.csv", body.encode("utf-8-sig"))
    assert result == {"created": 1, "updated": 0, "packs": ["ops"]}
    conv, headers = start(client, language="zh")
    assert say(client, conv, headers, "落在车筐里的雨伞去哪找")["replies"][0]["text"] == (
        "请联系失物招领。"
    )
    assert admin.admin("GET", "/knowledge/ops.lost/history")[0]["actor"] == "laowang"

    total = admin.admin("GET", "/knowledge?limit=1")["total"]
    for fmt in ("csv", "xlsx", "yaml"):
        res = admin.client.get(f"/v1/admin/knowledge/export?format={fmt}", headers=admin.headers)
        assert res.status_code == 200 and "attachment" in res.headers["content-disposition"]
        if fmt == "csv":
            lines = list(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))
            assert len(lines) == total + 1 and lines[0][0] == "id"
        if fmt == "xlsx":
            sheet = load_workbook(io.BytesIO(res.content), read_only=True)["faq"]
            assert sum(1 for _ in sheet.iter_rows()) == total + 1
        again = upload(admin, f"kb.{fmt}", res.content)
        assert again["created"] == 0 and again["updated"] == 0, (fmt, again)


def test_bad_uploads(admin: Admin) -> None:
    assert upload(admin, "faq.csv", b"", expect=422)["error"]["code"] == "empty_file"  # type: ignore[index]
    assert upload(admin, "faq.xlsx", b"not a workbook", expect=422)["error"]["problems"]  # type: ignore[index]
    assert upload(admin, "faq.doc", b"x", expect=422)
    res = admin.client.post(
        "/v1/admin/knowledge/import?filename=big.csv",
        content=b"x" * (10 * 1024 * 1024 + 1),
        headers=admin.headers,
    )
    assert res.status_code == 413
    assert (
        admin.client.get("/v1/admin/knowledge/export?format=doc", headers=admin.headers).status_code
        == 422
    )
