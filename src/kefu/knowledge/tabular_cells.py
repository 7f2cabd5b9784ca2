"""Spreadsheet cells in and out, for `tabular.py`: reading CSV (any encoding Excel writes) and
XLSX into rows, turning a cell into clean text, guarding against formula injection, and
collecting problems with the row number the user sees in Excel (header = row 1)."""

from __future__ import annotations

import csv
import datetime
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from kefu.knowledge.pack import PackError

MAX_ROWS = 10_000
MAX_CELL = 32_767  # Excel's own cell limit: anything longer was already cut off by Excel
MAX_PROBLEMS = 50

# Invisible noise from copy-paste: dropped. A zero-width joiner is kept after an emoji, where it
# builds one glyph (👨‍👩‍👧).
_ZERO_WIDTH = re.compile(
    "[\u200b\u200c\u2060\u180e\ufeff]|(?<![\U00010000-\U0010ffff\u2600-\u27bf\ufe0f])\u200d"
)
# Control characters (tab and line breaks aside), bidi overrides that can disguise text, and what
# XML can't hold: refused on import, dropped on export, so that every export imports again.
REFUSED = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff\ud800-\udfff]"
)
# A cell a spreadsheet would run as a formula (or one hiding it behind a tab/CR) gets a leading
# quote on export; so does a cell that starts with a quote, so that removing it is unambiguous.
_GUARDED = ("=", "+", "-", "@", "\t", "\r", "'")


def cell_out(text: str) -> str:
    """Text as written to a CSV/XLSX cell: safe to open in a spreadsheet."""
    text = REFUSED.sub("", text)
    return "'" + text if text.startswith(_GUARDED) else text


@dataclass(frozen=True)
class TableProblem:
    """One problem in a spreadsheet. `row` is what Excel shows (header = 1), None for the whole
    file; `sheet` is set for the "variables" sheet."""

    row: int | None
    column: str | None
    message: str
    sheet: str | None = None

    def __str__(self) -> str:
        where = f"{self.sheet} sheet " if self.sheet else ""
        where += f"row {self.row}: " if self.row is not None else ""
        return f"{where}{self.column + ': ' if self.column else ''}{self.message}"


class TableError(PackError):
    """A spreadsheet that can't be imported. `problems` are strings such as
    'row 7: answer_zh: answer uses undefined variable(s): town' (at most MAX_PROBLEMS, then
    '... and K more problem(s)'); `details` holds the same as TableProblem objects."""

    def __init__(
        self, found: Sequence[TableProblem], total: int | None = None, prefix: str = ""
    ) -> None:
        self.details = list(found[:MAX_PROBLEMS])
        lines = [f"{prefix}{p}" for p in self.details]
        more = (len(found) if total is None else total) - len(self.details)
        if more > 0:
            lines.append(f"{prefix}... and {more} more problem(s)")
        super().__init__(lines)


class Problems:
    """Every problem found, kept up to MAX_PROBLEMS and counted beyond."""

    def __init__(self, prefix: str) -> None:
        self.found: list[TableProblem] = []
        self.total = 0
        self.prefix = prefix

    def add(self, row: int | None, column: str | None, msg: str, sheet: str | None = None) -> None:
        self.total += 1
        if len(self.found) < MAX_PROBLEMS:
            self.found.append(TableProblem(row, column, msg, sheet))

    def fail(self, row: int | None, column: str | None, msg: str) -> TableError:
        self.add(row, column, msg)
        return self.error()

    def error(self) -> TableError:
        return TableError(self.found, self.total, self.prefix)

    def check(self) -> None:
        if self.total:
            raise self.error()


class Formula(str):
    """An XLSX formula cell: refused, since the sheet holds a formula rather than text."""


Rows = list[list[Any]]


def filled(value: Any) -> bool:
    return value is not None and (not isinstance(value, str) or value.strip() != "")


def _collect(rows_in: Iterable[list[Any]], problems: Problems) -> Rows:
    rows: Rows = []
    entries = 0
    try:
        for row in rows_in:
            rows.append(row)
            if len(rows) > 1 and any(filled(v) for v in row):
                entries += 1
            # Styled but empty rows count too, past a point: don't read a million of them.
            if entries > MAX_ROWS or len(rows) > 10 * MAX_ROWS:
                raise problems.fail(len(rows), None, f"more than {MAX_ROWS} rows: split the file")
    except csv.Error as exc:
        raise problems.fail(len(rows) + 1, None, f"malformed CSV: {exc}") from None
    return rows


def _decode(data: bytes) -> str | None:
    encodings = ["utf-8-sig", "gb18030"]  # Chinese Excel saves plain "CSV" as GB18030
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text"
        encodings.insert(0, "utf-16")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def read_csv(data: bytes, known: Sequence[str], problems: Problems) -> Rows:
    text = _decode(data)
    if text is None:
        raise problems.fail(None, None, "not UTF-8 (or GB18030) text: save it as CSV UTF-8")
    if not text.strip():
        raise problems.fail(None, None, "the file is empty")
    first = text.split("\n", 1)[0]
    # Excel writes ';' in some locales and tabs as "Unicode text": take what splits the header.
    delimiter = max(",;\t", key=lambda d: sum(c.strip().lower() in known for c in first.split(d)))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    return _collect(reader, problems)


MAX_XLSX_EXPANDED = 200 * 2**20  # 5,000 long entries take about 10 MB of sheet XML


def read_xlsx(data: bytes, main: str, other: str, problems: Problems) -> tuple[Rows, Rows | None]:
    """The rows of sheet `main` (else the first sheet that isn't `other`) and of `other`."""
    from openpyxl import load_workbook  # type: ignore[import-untyped]  # ships no type hints

    # An .xlsx is a zip: refuse one that expands to more than a real knowledge base could (a
    # zip bomb of a few hundred KB can hold gigabytes of sheet XML).
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise problems.fail(None, None, "not a readable .xlsx workbook") from None
    if expanded > MAX_XLSX_EXPANDED:
        raise problems.fail(
            None,
            None,
            f"the workbook expands to {expanded // 2**20} MB; at most "
            f"{MAX_XLSX_EXPANDED // 2**20} MB is read",
        )
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:  # openpyxl raises many kinds on a damaged or foreign file
        raise problems.fail(None, None, "not a readable .xlsx workbook") from None
    try:
        sheets = {ws.title.strip().lower(): ws for ws in book.worksheets}
        candidates = [ws for name, ws in sheets.items() if name != other]
        if not candidates:
            raise problems.fail(None, None, f'the workbook has no "{main}" sheet')
        second = sheets.get(other)
        return _sheet_rows(sheets.get(main, candidates[0]), problems), (
            None if second is None else _sheet_rows(second, problems)
        )
    except TableError:
        raise
    except Exception:  # sheets are parsed lazily: damage shows up here
        raise problems.fail(None, None, "not a readable .xlsx workbook") from None
    finally:
        book.close()


def _sheet_rows(ws: Any, problems: Problems) -> Rows:
    rows = ws.iter_rows(max_col=64)  # read-only mode: streamed, blank rows included
    return _collect(
        ([Formula(c.value) if c.data_type == "f" else c.value for c in row] for row in rows),
        problems,
    )


def cell_text(
    value: Any, row: int, column: str, problems: Problems, sheet: str | None = None
) -> str | None:
    """A cell as clean text, or None after reporting why it can't be used: the export's quote
    removed, zero-width characters dropped, line breaks as \\n."""
    if isinstance(value, Formula):
        problems.add(row, column, "a formula: type the text itself", sheet)
        return None
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, datetime.datetime):
        text = value.date().isoformat() if value.time() == datetime.time() else value.isoformat()
    else:
        text = str(value)
    if len(text) > MAX_CELL:
        problems.add(row, column, f"longer than {MAX_CELL} characters", sheet)
        return None
    if text.startswith("'") and text[1:].startswith(_GUARDED):
        text = text[1:]
    text = _ZERO_WIDTH.sub("", text)
    bad = REFUSED.search(text)
    if bad:
        problems.add(row, column, f"contains control character U+{ord(bad[0]):04X}", sheet)
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def letter(index: int) -> str:
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    return str(get_column_letter(index + 1))


def header(
    rows: Rows, known: Sequence[str], required: Sequence[str], problems: Problems, sheet: str | None
) -> dict[str, int] | None:
    """Column name -> index, or None (problems reported) when a required column is missing."""
    if not rows or not any(filled(v) for v in rows[0]):
        problems.add(1, None, "the header row is empty", sheet)
        return None
    columns: dict[str, int] = {}
    for index, value in enumerate(rows[0]):
        name = (cell_text(value, 1, letter(index), problems, sheet) or "").strip()
        if not name:
            continue
        if name.lower() not in known:
            problems.add(1, name, f"unknown column (columns: {', '.join(known)})", sheet)
        elif name.lower() in columns:
            problems.add(1, name, "column appears twice", sheet)
        else:
            columns[name.lower()] = index
    missing = [name for name in required if name not in columns]
    for name in missing:
        problems.add(1, name, "required column missing", sheet)
    return None if missing else columns


def records(
    rows: Rows, columns: dict[str, int], problems: Problems, sheet: str | None = None
) -> Iterator[tuple[int, dict[str, str | None], dict[str, Any]]]:
    """(row number, column -> clean text or None if refused, column -> raw cell) for each row
    with something in it; blank rows are skipped but keep their numbers."""
    named = {i for i, v in enumerate(rows[0]) if filled(v)}  # unknown ones were reported
    for number, cells in enumerate(rows[1:], start=2):
        if not any(filled(v) for v in cells):
            continue
        extra = [i for i, v in enumerate(cells) if i not in named and filled(v)]
        if extra:
            problems.add(number, letter(extra[0]), "a cell in a column without a header", sheet)
        raw = {name: cells[i] if i < len(cells) else None for name, i in columns.items()}
        clean = {
            name: cell_text(value, number, name, problems, sheet) for name, value in raw.items()
        }
        yield number, clean, raw
