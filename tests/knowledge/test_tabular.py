"""Spreadsheet import/export of knowledge packs: round trips, every refusal with the row number
Excel shows, files as Excel really writes them, and the formula-injection guard."""

from __future__ import annotations

import csv
import datetime
import io
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from kefu.knowledge.pack import (
    KnowledgePack,
    PackError,
    default_pack_paths,
    load_pack,
    parse_packs,
)
from kefu.knowledge.tabular import (
    COLUMNS,
    TableError,
    detect_format,
    export_csv,
    export_table,
    export_xlsx,
    parse_table,
)

PACK = KnowledgePack.model_validate(
    {
        "pack": "demo",
        "version": 3,
        "variables": {"hotline": "400-000-0000", "city": {"zh": "河滨市", "en": "Riverside"}},
        "entries": [
            {
                "id": "demo.deposit",
                "skill": "bike",
                "tags": ["money", "押金"],
                "question": {"zh": "押金怎么退？", "en": "How do I get my deposit back?"},
                "similar": {"zh": ["退押金", "押金 退不了"], "en": ["refund deposit"]},
                "keywords": {"zh": ["押金"], "en": ["deposit"]},
                "answer": {
                    "zh": "在{{ city }}请致电 {{ hotline }}。\n第二行",
                    "en": "Call {{hotline}} in {{ city }}.",
                },
                "valid_from": "2025-01-01",
                "valid_until": "2025-12-31",
            },
            {
                "id": "demo.human",
                "skill": "common",
                "question": {"zh": "转人工", "en": "talk to a human"},
                "answer": {"zh": "=正在为您转接", "en": "-> connecting you"},
                "action": "handoff",
                "enabled": False,
            },
        ],
    }
)
HEADER = ["id", "pack", "skill", "question_zh", "question_en", "answer_zh", "answer_en"]
ROW = ["demo.a", "demo", "bike", "问题", "question", "回答", "answer"]


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8-sig", delimiter: str = ",") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n", delimiter=delimiter).writerows(rows)
    return buf.getvalue().encode(encoding)


def xlsx_bytes(sheets: dict[str, list[list[Any]]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        ws = book.create_sheet(name)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def problems(data: bytes, fmt: Any = "csv", **kwargs: Any) -> list[str]:
    with pytest.raises(PackError) as info:
        parse_table(data, fmt, **kwargs)
    return info.value.problems


def with_row(*changes: tuple[str, str], base: list[str] | None = None) -> list[str]:
    row = list(base or ROW)
    for column, value in changes:
        row[HEADER.index(column)] = value
    return row


# ---- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "yaml", "json"])
def test_round_trip_keeps_every_field(fmt: Any) -> None:
    data = export_table([PACK], fmt)
    stored = {"demo": PACK.variables} if fmt == "csv" else None  # CSV carries no variables
    back = parse_table(data, fmt, stored, existing_versions={"demo": 3})
    assert back == [PACK]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_bundled_packs_round_trip_in_order(fmt: Any) -> None:
    packs = [load_pack(path) for path in default_pack_paths()]
    stored = {p.pack: p.variables for p in packs}
    assert parse_table(export_table(packs, fmt), fmt, stored if fmt == "csv" else None) == packs


def test_xlsx_variables_survive_without_stored_ones() -> None:
    (pack,) = parse_table(export_xlsx([PACK]), "xlsx")
    assert pack.variables == PACK.variables and pack.entries == PACK.entries
    assert pack.version == 1  # spreadsheets don't carry the version: the stored one is passed


def test_csv_is_utf8_with_bom_crlf_and_fixed_column_order() -> None:
    data = export_csv([PACK])
    assert data.startswith(b"\xef\xbb\xbfid,pack,skill,tags,")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == COLUMNS and b"\r\n" in data
    assert rows[1][COLUMNS.index("similar_zh")] == "退押金\n押金 退不了"
    assert rows[1][COLUMNS.index("valid_from")] == "2025-01-01"


def test_xlsx_layout() -> None:
    book = load_workbook(io.BytesIO(export_xlsx([PACK])))
    assert book.sheetnames == ["faq", "variables"]
    faq, variables = book["faq"], book["variables"]
    assert [c.value for c in faq[1]] == list(COLUMNS) and faq["A1"].font.b
    assert faq.freeze_panes == "A2"
    assert faq.cell(2, COLUMNS.index("valid_from") + 1).value == datetime.datetime(2025, 1, 1)
    assert [[c.value for c in row] for row in variables.iter_rows(min_row=2)] == [
        ["demo", "hotline", "400-000-0000", None],
        ["demo", "city", "河滨市", "Riverside"],
    ]


def test_formula_injection_is_guarded_and_undone() -> None:
    risky = ["=1+1", "+86 400", "-x", "@SUM(A1)", "\tlead", "'quoted", '=HYPERLINK("x")']
    base = PACK.entries[0].model_dump()
    entries = [
        {**base, "id": f"demo.r{i}", "question": {"zh": t, "en": t}} for i, t in enumerate(risky)
    ]
    pack = KnowledgePack.model_validate({**PACK.model_dump(), "entries": entries})
    rows = list(csv.reader(io.StringIO(export_csv([pack]).decode("utf-8-sig"), newline="")))
    assert [r[COLUMNS.index("question_zh")] for r in rows[1:]] == [f"'{t}" for t in risky]
    sheet = load_workbook(io.BytesIO(export_xlsx([pack])), read_only=True)["faq"]
    cells = [row[COLUMNS.index("question_zh")] for row in sheet.iter_rows(min_row=2)]
    assert all(c.data_type == "s" and c.value.startswith("'") for c in cells)  # no formulas
    for fmt in ("csv", "xlsx"):
        back = parse_table(export_table([pack], fmt), fmt, {"demo": PACK.variables})
        assert [e.question.zh for e in back[0].entries] == risky


CELL_TEXT = st.text(
    st.characters(
        blacklist_categories=("Cs", "Cc"),
        blacklist_characters="\u200b\u200c\u200d\u2060\u180e\ufeff\ufffe\uffff"
        "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    )
    | st.sampled_from(["\n", "\t", "'", "=", "+", "-", "@", ",", '"', "押", " "]),
    min_size=1,
    max_size=60,
).filter(lambda t: t.strip() != "")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=CELL_TEXT)
def test_cell_text_round_trips_through_csv_and_xlsx(text: str) -> None:
    entry = {**PACK.entries[1].model_dump(), "question": {"zh": text, "en": text}}
    pack = KnowledgePack.model_validate({"pack": "p", "entries": [entry]})
    for fmt in ("csv", "xlsx"):
        (back,) = parse_table(export_table([pack], fmt), fmt)
        assert back.entries[0].question.zh == text, fmt


# ---- files as Excel writes them --------------------------------------------------------------


def test_excel_quirks_are_accepted() -> None:
    header = ["ID", " Question_EN", "pack", "skill", "question_zh", "answer_zh", "answer_en"]
    header += ["Enabled", "valid_from", "similar_zh", ""]
    row = ["demo.a", "question", "demo", "bike", "问题", "回答", "answer", "TRUE", "2025/1/31"]
    row += ["甲\r\n乙\r\n\r\n", ""]
    for data in (
        csv_bytes([header, row]),  # "CSV UTF-8": BOM and CRLF
        csv_bytes([header, row], encoding="gb18030"),  # plain "CSV" from Chinese Excel
        csv_bytes([header, row], encoding="utf-8", delimiter=";"),  # a ';' locale
        csv_bytes([header, row], encoding="utf-16", delimiter="\t"),  # "Unicode text"
        csv_bytes([header, row, [], ["", ""]]),  # trailing blank rows
    ):
        (pack,) = parse_table(data, "csv")
        (entry,) = pack.entries
        assert entry.valid_from == datetime.date(2025, 1, 31) and entry.enabled
        assert entry.similar.zh == ["甲", "乙"] and entry.question.zh == "问题"


def test_xlsx_real_dates_booleans_and_first_sheet() -> None:
    header = [*HEADER, "valid_from", "valid_until", "enabled", "tags"]
    row = [*ROW, datetime.datetime(2025, 5, 1), datetime.date(2025, 5, 3), False, 7]
    (pack,) = parse_table(xlsx_bytes({"Sheet1": [header, row]}), "xlsx")
    entry = pack.entries[0]
    assert (entry.valid_from, entry.valid_until) == (
        datetime.date(2025, 5, 1),
        datetime.date(2025, 5, 3),
    )
    assert not entry.enabled and entry.tags == ["7"]


def test_zero_width_characters_are_dropped() -> None:
    row = with_row(("id", "\ufeffdemo.\u200ba"), ("question_zh", "问\u200b题\u2060"))
    (pack,) = parse_table(csv_bytes([HEADER, row]), "csv")
    assert pack.entries[0].id == "demo.a" and pack.entries[0].question.zh == "问题"


# ---- refusals, each with its row -------------------------------------------------------------


def test_header_problems() -> None:
    assert problems(csv_bytes([["id", "pack", "colour"], ROW[:3]])) == [
        "row 1: colour: unknown column (columns: " + ", ".join(COLUMNS) + ")",
        "row 1: skill: required column missing",
        "row 1: question_zh: required column missing",
        "row 1: question_en: required column missing",
        "row 1: answer_zh: required column missing",
        "row 1: answer_en: required column missing",
    ]
    assert problems(csv_bytes([[*HEADER, "ID"], [*ROW, "x"]])) == [
        "row 1: ID: column appears twice"
    ]


def test_row_problems_name_their_row_and_column() -> None:
    header = [*HEADER, "enabled", "action", "valid_from", "valid_until"]
    rows = [
        header,
        [*with_row(("question_en", "two\nlines")), "", "", "", ""],  # one row, two lines
        [
            *with_row(("id", "Bad Id"), ("skill", " "), ("answer_en", "{{ a")),
            "maybe",
            "escalate",
            "",
            "",
        ],
        [*with_row(("id", "demo.b")), "否", "", "2025-02-30", "someday"],
        [*with_row(("id", "demo.c")), "", "", "2025-03-02", "2025-03-01"],
        [*with_row(("id", "demo.b")), "", "", "2025-03-02", "x"],  # invalid, still a duplicate
        [],  # a blank row keeps its number
        [*with_row(("answer_zh", "{{ town }}"), ("question_en", "multi\nline")), "", "", "", ""],
    ]
    assert problems(csv_bytes(rows)) == [
        "row 3: skill: required: the cell is empty",
        "row 3: action: unknown action 'escalate': use handoff, or leave it blank",
        "row 3: enabled: 'maybe' is not yes or no: use true or false (blank: true)",
        "row 3: id: must be lower-case letters, digits, '.', '_' or '-' (max 128)",
        "row 3: answer_en: answer template error: unexpected end of template, "
        "expected 'end of print statement'.",
        "row 4: valid_from: '2025-02-30' is not a date: use YYYY-MM-DD",
        "row 4: valid_until: 'someday' is not a date: use YYYY-MM-DD",
        "row 5: valid_until: valid_until must not be before valid_from",
        "row 6: valid_until: 'x' is not a date: use YYYY-MM-DD",
        "row 6: id: duplicate id 'demo.b', also on row 4",
        "row 8: id: duplicate id 'demo.a', also on row 2",
        "row 8: answer_zh: answer uses undefined variable(s): town",
    ]


def test_answers_validate_against_the_packs_variables() -> None:
    rows = [HEADER, with_row(("answer_en", "Call {{ hotline }}."))]
    assert problems(csv_bytes(rows)) == [
        "row 2: answer_en: answer uses undefined variable(s): hotline"
    ]
    (pack,) = parse_table(csv_bytes(rows), "csv", {"demo": {"hotline": "400"}})
    assert pack.variables == {"hotline": "400"}
    sheets = {"faq": rows, "variables": [["pack", "name", "value_zh"], ["demo", "hotline", "1"]]}
    (pack,) = parse_table(xlsx_bytes(sheets), "xlsx", {"demo": {"hotline": "400"}})
    assert pack.variables == {"hotline": "1"}  # the sheet's rows replace the stored ones
    broken = [HEADER, with_row(("answer_zh", "{{ hotline.__class__ }}"))]
    assert (
        "fails to render"
        in problems(csv_bytes(broken), existing_variables={"demo": {"hotline": "1"}})[0]
    )


def test_variables_sheet_problems() -> None:
    variables = [
        ["pack", "name", "value_zh", "value_en"],
        ["demo", "a", "1", ""],
        ["demo", "a", "2", ""],
    ]
    variables.append(["demo", "", "3", ""])
    assert problems(xlsx_bytes({"faq": [HEADER, ROW], "variables": variables}), "xlsx") == [
        "variables sheet row 3: name: 'a' is also on row 2",
        "variables sheet row 4: name: required: the cell is empty",
    ]


def test_long_cells_and_control_characters_are_refused() -> None:
    rows = [
        HEADER,
        with_row(("question_zh", "问" * 4001)),
        with_row(("id", "demo.b"), ("answer_en", "x" * 40_000)),
        with_row(("id", "demo.c"), ("answer_zh", "响\x07铃")),
        with_row(("id", "demo.d"), ("question_en", "evil\u202etxt.exe")),
    ]
    assert problems(csv_bytes(rows)) == [
        "row 2: question_zh: String should have at most 4000 characters",
        "row 3: answer_en: longer than 32767 characters",
        "row 4: answer_zh: contains control character U+0007",
        "row 5: question_en: contains control character U+202E",
    ]


def test_problems_are_capped() -> None:
    rows = [HEADER] + [with_row(("id", f"Bad{i}")) for i in range(60)]
    found = problems(csv_bytes(rows))
    assert len(found) == 51 and found[0].startswith("row 2: id:")
    assert found[-1] == "... and 10 more problem(s)"
    with pytest.raises(TableError) as info:
        parse_table(csv_bytes(rows), "csv")
    assert info.value.details[1].row == 3 and info.value.details[1].column == "id"


def test_too_many_rows() -> None:
    rows = [HEADER] + [with_row(("id", f"demo.{i}")) for i in range(10_001)]
    assert problems(csv_bytes(rows)) == ["row 10002: more than 10000 rows: split the file"]


@pytest.mark.parametrize(
    ("data", "fmt", "expected"),
    [
        (b"", "csv", "the file is empty"),
        (b"\xef\xbb\xbf\r\n", "csv", "the file is empty"),
        (csv_bytes([HEADER]), "csv", "row 2: no entries under the header"),
        (b"id,pack\n\xff\xfe\xff", "csv", "not UTF-8 (or GB18030) text: save it as CSV UTF-8"),
        (b'id,pack\nx,"y\n', "csv", "row 2: malformed CSV: unexpected end of data"),
        (b'id,pack\n1,2\nx,"y"z\n', "csv", "row 3: malformed CSV: ',' expected after '\"'"),
        (b"PK\x03\x04 damaged", "xlsx", "not a readable .xlsx workbook"),
        (b"id,pack,skill\n", "xlsx", "not a readable .xlsx workbook"),
        (xlsx_bytes({"variables": [["pack"]]}), "xlsx", 'the workbook has no "faq" sheet'),
        (xlsx_bytes({"faq": [[], HEADER]}), "xlsx", "row 1: the header row is empty"),
    ],
)
def test_unreadable_files(data: bytes, fmt: Any, expected: str) -> None:
    assert problems(data, fmt)[0] == expected


def test_xlsx_formula_cells_are_refused() -> None:
    data = xlsx_bytes({"faq": [HEADER, with_row(("answer_zh", "=A1&B1"))]})
    assert problems(data, "xlsx") == ["row 2: answer_zh: a formula: type the text itself"]


def test_source_prefixes_problems_and_yaml_keeps_its_lines() -> None:
    assert problems(b"", source="faq.csv") == ["faq.csv: the file is empty"]
    yaml = export_table([PACK], "yaml").replace(b"skill: bike\n", b"")
    assert problems(yaml, "yaml", source="kb.yaml")[0].startswith("kb.yaml:")
    assert problems(b"\xff", "yaml") == ["<upload>.yaml: not UTF-8 text (invalid start byte)"]
    assert parse_table(export_table([PACK], "json"), "json") == parse_packs(
        export_table([PACK], "json").decode(), "x.json"
    )


def test_detect_format() -> None:
    assert detect_format("kb.CSV", b"id,pack") == "csv"
    assert detect_format("faq.csv", export_xlsx([PACK])) == "xlsx"  # the content is certain
    assert detect_format("kb.yml", b"pack: x") == "yaml"
    assert detect_format(None, b' [{"pack": 1}]') == "json"
    for name, data in (("old.xls", b"\xd0\xcf\x11\xe0rest"), ("notes.txt", b"hello")):
        with pytest.raises(PackError):
            detect_format(name, data)


def test_five_thousand_entries_are_fast() -> None:
    entry = PACK.entries[0].model_dump()
    many = [
        {**entry, "id": f"demo.e{i}", "question": {"zh": f"问题{i}", "en": f"q {i}"}}
        for i in range(5000)
    ]
    pack = KnowledgePack.model_validate({**PACK.model_dump(), "entries": many})
    for fmt, limit in (("csv", 3.0), ("xlsx", 8.0)):
        start = time.perf_counter()
        back = parse_table(
            export_table([pack], fmt), fmt, {"demo": PACK.variables}, existing_versions={"demo": 3}
        )
        assert time.perf_counter() - start < limit, fmt
        assert back == [pack]


def test_yaml_aliases_and_zip_bombs_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A few bytes of `*alias` or of zipped XML can stand for gigabytes: refused up front."""
    from kefu.knowledge import tabular_cells

    bomb = (
        b"pack: demo\nentries:\n"
        b"  - &e {id: a, skill: s, question: {zh: q, en: q}, answer: {zh: a, en: a}}\n"
        b"  - *e\n"
    )
    with pytest.raises(PackError) as refused:
        parse_table(bomb, "yaml")
    assert "4:" in refused.value.problems[0] and "aliases" in refused.value.problems[0]
    workbook = export_xlsx([PACK])
    monkeypatch.setattr(tabular_cells, "MAX_XLSX_EXPANDED", 1000)
    with pytest.raises(PackError) as expanded:
        parse_table(workbook, "xlsx")
    assert "expands to" in expanded.value.problems[0]
