"""Knowledge packs as spreadsheets (CSV and XLSX, one row per FAQ entry) for the admin console
and `kefu kb import/export`, next to the YAML/JSON pack format.

The rules are in docs/knowledge-packs.md ("Spreadsheets"): the header row names the columns (any
order, any case); list cells hold one item per line; CSV carries no variables, XLSX carries them
in a "variables" sheet. Every problem names the row the user sees in Excel (header = row 1).
Cell-level reading lives in `tabular_cells.py`.
"""

from __future__ import annotations

import datetime
import io
import re
from collections.abc import Mapping, Sequence
from keyword import iskeyword
from pathlib import Path, PurePath
from typing import Any, Literal

from pydantic import ValidationError

from kefu.knowledge.pack import (
    LANGS,
    KnowledgeEntry,
    KnowledgePack,
    Lang,
    Localized,
    PackError,
    Variable,
    dump_packs,
    load_packs,
    parse_packs,
    template_problem,
)
from kefu.knowledge.tabular_cells import (
    MAX_CELL,
    MAX_PROBLEMS,
    MAX_ROWS,
    Problems,
    TableError,
    TableProblem,
    cell_out,
    header,
    read_csv,
    read_xlsx,
    records,
)

__all__ = [
    "COLUMNS", "MAX_CELL", "MAX_PROBLEMS", "MAX_ROWS", "SUFFIXES", "Format", "TableError",
    "TableProblem", "detect_format", "export_csv", "export_table", "export_xlsx", "export_yaml",
    "load_file", "parse_table",
]  # fmt: skip

Format = Literal["csv", "xlsx", "yaml", "json"]

COLUMNS: tuple[str, ...] = (
    "id", "pack", "skill", "tags", "question_zh", "question_en", "similar_zh", "similar_en",
    "keywords_zh", "keywords_en", "answer_zh", "answer_en", "action", "enabled", "valid_from",
    "valid_until",
)  # fmt: skip
REQUIRED = ("id", "pack", "skill", "question_zh", "question_en", "answer_zh", "answer_en")
VARIABLE_COLUMNS = ("pack", "name", "value_zh", "value_en")
FAQ_SHEET, VARIABLES_SHEET = "faq", "variables"
TRUE = frozenset({"true", "yes", "y", "1", "是"})
FALSE = frozenset({"false", "no", "n", "0", "否"})
_PLAIN_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# ISO, plus year-first with slashes or dots and no zero padding: what Excel makes of a CSV date.
_DATE = re.compile(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})$")

# ---- export ----------------------------------------------------------------------------------


def _entry_cells(pack: str, e: KnowledgeEntry) -> list[Any]:
    cells = [
        e.id, pack, e.skill, "\n".join(e.tags), e.question.zh, e.question.en,
        "\n".join(e.similar.zh), "\n".join(e.similar.en), "\n".join(e.keywords.zh),
        "\n".join(e.keywords.en), e.answer.zh, e.answer.en, e.action or "",
        "true" if e.enabled else "false",
    ]  # fmt: skip
    return [cell_out(c) for c in cells] + [e.valid_from, e.valid_until]


def export_csv(packs: Sequence[KnowledgePack]) -> bytes:
    """Every entry as CSV: UTF-8 with a BOM (so Excel reads the Chinese), CRLF rows. No
    variables: a CSV import uses the pack's stored ones."""
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for pack in packs:
        for entry in pack.entries:
            cells = _entry_cells(pack.pack, entry)
            writer.writerow([c.isoformat() if isinstance(c, datetime.date) else c for c in cells])
    return buf.getvalue().encode("utf-8-sig")


def export_xlsx(packs: Sequence[KnowledgePack]) -> bytes:
    """A workbook: sheet "faq" (bold frozen header, dates as date cells) and sheet "variables"
    (pack, name, value_zh, value_en; value_en blank: one value for both languages)."""
    from openpyxl import Workbook  # type: ignore[import-untyped]  # ships no type hints
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
    from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    book = Workbook(write_only=True)  # streams rows: 5,000 entries take well under a second
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")

    def sheet(name: str, names: Sequence[str], widths: Sequence[int]) -> Any:
        ws = book.create_sheet(name)
        ws.freeze_panes = "A2"
        for index, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(index)].width = width
        cells = [WriteOnlyCell(ws, value=name) for name in names]
        for cell in cells:
            cell.font = bold
        ws.append(cells)
        return ws

    def wrapped(ws: Any, value: Any) -> Any:
        if not (isinstance(value, str) and "\n" in value):
            return value
        cell = WriteOnlyCell(ws, value=value)  # so Excel shows one item per line
        cell.alignment = wrap
        return cell

    faq = sheet(FAQ_SHEET, COLUMNS, (24, 14, 10, 14, 30, 30, 30, 30, 16, 16, 40, 40, 9, 8, 12, 12))
    for pack in packs:
        for entry in pack.entries:
            faq.append([wrapped(faq, c) for c in _entry_cells(pack.pack, entry)])
    variables = sheet(VARIABLES_SHEET, VARIABLE_COLUMNS, (14, 20, 30, 30))
    for pack in packs:
        for name, value in pack.variables.items():
            zh, en = (value, "") if isinstance(value, str) else (value.zh, value.en)
            variables.append([cell_out(pack.pack), cell_out(name), cell_out(zh), cell_out(en)])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def export_yaml(packs: Sequence[KnowledgePack]) -> bytes:
    return dump_packs(list(packs), "yaml").encode("utf-8")


def export_table(packs: Sequence[KnowledgePack], fmt: Format) -> bytes:
    """The packs as a file in `fmt`."""
    if fmt == "csv":
        return export_csv(packs)
    if fmt == "xlsx":
        return export_xlsx(packs)
    return dump_packs(list(packs), fmt).encode("utf-8")


SUFFIXES: dict[str, Format] = {
    ".csv": "csv", ".xlsx": "xlsx", ".yaml": "yaml", ".yml": "yaml", ".json": "json",
}  # fmt: skip


def detect_format(filename: str | None, data: bytes) -> Format:
    """The upload's format: from its content where that is certain (an XLSX is a zip), else
    from its extension. PackError for an old .xls or an unknown kind of file."""
    name = filename or "upload"
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if data.startswith(b"\xd0\xcf\x11\xe0"):  # OLE2: an Excel 97-2003 .xls
        raise PackError([f"{name}: an old .xls workbook: save it as .xlsx (or CSV UTF-8)"])
    suffix = PurePath(name).suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if data.lstrip().startswith((b"{", b"[")):
        return "json"
    raise PackError([f"{name}: unknown kind of file: use .csv, .xlsx, .yaml, .yml or .json"])


# ---- import ----------------------------------------------------------------------------------


def load_file(path: Path, stored: Sequence[KnowledgePack] = ()) -> list[KnowledgePack]:
    """The packs in a file of any supported format, by its extension (`kefu kb import`).
    A spreadsheet's rows use the `stored` packs' variables and versions (see parse_table)."""
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise PackError([f"{path}: use a .yaml, .yml, .json, .csv or .xlsx file"])
    if fmt in ("yaml", "json"):
        return load_packs(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PackError([f"{path}: no such file"]) from None
    except OSError as exc:
        raise PackError([f"{path}: cannot read: {exc.strerror}"]) from None
    variables = {p.pack: p.variables for p in stored}
    versions = {p.pack: p.version for p in stored}
    return parse_table(data, fmt, variables, existing_versions=versions, source=str(path))


def parse_table(
    data: bytes,
    fmt: Format,
    existing_variables: Mapping[str, Mapping[str, Variable]] | None = None,
    *,
    existing_versions: Mapping[str, int] | None = None,
    source: str = "",
) -> list[KnowledgePack]:
    """Validated packs from an uploaded file, or PackError listing every problem: for CSV/XLSX
    a TableError, 'row N: column: message' (prefixed 'source: ' when given); for YAML/JSON
    parse_packs' 'source:line: path: message'.

    A pack's variables come from the XLSX "variables" sheet when it has rows for that pack,
    else from `existing_variables` (the stored ones; CSV carries none), so that answers using
    them validate. Its version is `existing_versions`' (spreadsheets don't carry one), else 1."""
    if fmt in ("yaml", "json"):
        name = source or f"<upload>.{fmt}"
        try:
            return parse_packs(data.decode("utf-8-sig"), name)
        except UnicodeDecodeError as exc:
            raise PackError([f"{name}: not UTF-8 text ({exc.reason})"]) from None
    problems = Problems(f"{source}: " if source else "")
    if not data.strip():
        raise problems.fail(None, None, "the file is empty")
    if fmt == "csv":
        rows, variable_rows = read_csv(data, COLUMNS, problems), None
    else:
        rows, variable_rows = read_xlsx(data, FAQ_SHEET, VARIABLES_SHEET, problems)
    columns = header(rows, COLUMNS, REQUIRED, problems, None)
    sheet_variables = _variables(variable_rows, problems) if variable_rows else {}
    if columns is None:
        raise problems.error()
    known: dict[str, dict[str, Variable]] = {}

    def variables_of(pack: str) -> dict[str, Variable]:
        if pack not in known:
            known[pack] = dict(
                sheet_variables.get(pack) or (existing_variables or {}).get(pack, {})
            )
        return known[pack]

    grouped: dict[str, list[KnowledgeEntry]] = {}
    first_row: dict[str, int] = {}
    entries = 0
    for number, cells, raw in records(rows, columns, problems):
        entries += 1
        entry = _entry(number, cells, raw, problems)
        # Ids and answers are checked on every row, valid or not, so one pass shows everything.
        pack, entry_id = (cells.get("pack") or "").strip(), (cells.get("id") or "").strip()
        if entry_id in first_row:
            problems.add(
                number, "id", f"duplicate id {entry_id!r}, also on row {first_row[entry_id]}"
            )
        elif entry_id:
            first_row[entry_id] = number
        for lang in LANGS:
            answer = cells.get(f"answer_{lang}") or ""
            problem = _answer_problem(answer, variables_of(pack), lang) if answer.strip() else None
            if problem:
                problems.add(number, f"answer_{lang}", problem)
        if entry is not None and pack:
            grouped.setdefault(pack, []).append(entry)
    for name in sheet_variables:  # a pack with variables and no entries yet
        grouped.setdefault(name, [])
    if not entries and not grouped:
        problems.add(2, None, "no entries under the header")
    problems.check()
    return [
        KnowledgePack(
            pack=name,
            version=(existing_versions or {}).get(name, 1),
            variables=variables_of(name),
            entries=found,
        )
        for name, found in grouped.items()
    ]


def _answer_problem(source: str, variables: dict[str, Variable], lang: Lang) -> str | None:
    """template_problem, with a shortcut for the usual answer (text and `{{ name }}` of declared
    variables), which can't fail: compiling 10,000 answers with Jinja takes seconds."""
    names = _PLAIN_VARIABLE.findall(source)
    if "{" not in _PLAIN_VARIABLE.sub("", source) and all(
        n in variables and not iskeyword(n) and n not in ("true", "false", "none") for n in names
    ):
        return None
    return template_problem(source, variables, lang)


def _items(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def _entry(
    number: int, cells: dict[str, str | None], raw: dict[str, Any], problems: Problems
) -> KnowledgeEntry | None:
    """One row as an entry, reporting every problem in its cells; None if it isn't one."""
    reported = {column for column, value in cells.items() if value is None}

    def text(column: str) -> str:
        return cells.get(column) or ""

    def refuse(column: str, message: str) -> None:
        problems.add(number, column, message)
        reported.add(column)

    for column in REQUIRED:
        if column not in reported and not text(column).strip():
            refuse(column, "required: the cell is empty")
    if len(text("pack").strip()) > 64:
        refuse("pack", "at most 64 characters")
    action = text("action").strip().lower()
    if action not in ("", "handoff"):
        refuse("action", f"unknown action {action!r}: use handoff, or leave it blank")
    data: dict[str, Any] = {
        "id": text("id").strip(),
        "skill": text("skill").strip(),
        "tags": _items(text("tags")),
        "question": {"zh": text("question_zh"), "en": text("question_en")},
        "similar": {"zh": _items(text("similar_zh")), "en": _items(text("similar_en"))},
        "keywords": {"zh": _items(text("keywords_zh")), "en": _items(text("keywords_en"))},
        "answer": {"zh": text("answer_zh"), "en": text("answer_en")},
        "action": "handoff" if action == "handoff" else None,
        "enabled": raw.get("enabled"),
    }
    if not isinstance(data["enabled"], bool):
        word = text("enabled").strip().lower()
        data["enabled"] = word not in FALSE
        if word and word not in TRUE | FALSE and "enabled" not in reported:
            refuse("enabled", f"{word!r} is not yes or no: use true or false (blank: true)")
    for column in ("valid_from", "valid_until"):
        data[column] = None if column in reported else _date(raw.get(column), text(column))
        if data[column] is False:
            refuse(column, f"{text(column).strip()!r} is not a date: use YYYY-MM-DD")
            data[column] = None
    try:
        entry = KnowledgeEntry.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            # ('question', 'zh') -> question_zh, ('similar', 'en', 2) -> similar_en, () -> dates
            column = "_".join(p for p in error["loc"][:2] if isinstance(p, str)) or "valid_until"
            if column not in reported:
                refuse(column, error["msg"].removeprefix("Value error, "))
        return None
    return entry


def _date(value: Any, text: str) -> datetime.date | Literal[False] | None:
    """A date cell or text as a date; None when blank, False when it isn't a date."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if not text.strip():
        return None
    match = _DATE.match(text.strip())
    try:
        return datetime.date(int(match[1]), int(match[3]), int(match[4])) if match else False
    except ValueError:
        return False


def _variables(rows: list[list[Any]], problems: Problems) -> dict[str, dict[str, Variable]]:
    """The "variables" sheet: pack -> name -> value (value_en blank: a plain string)."""
    sheet = VARIABLES_SHEET
    columns = header(rows, VARIABLE_COLUMNS, ("pack", "name", "value_zh"), problems, sheet)
    found: dict[str, dict[str, Variable]] = {}
    seen: dict[tuple[str, str], int] = {}
    for number, cells, _ in records(rows, columns, problems, sheet) if columns else ():
        pack, name = (cells.get("pack") or "").strip(), (cells.get("name") or "").strip()
        zh, en = cells.get("value_zh") or "", cells.get("value_en") or ""
        for column, given in (("pack", pack), ("name", name), ("value_zh", zh)):
            if not given.strip() and cells.get(column) is not None:
                problems.add(number, column, "required: the cell is empty", sheet)
        if len(pack) > 64:
            problems.add(number, "pack", "at most 64 characters", sheet)
        if not (pack and name and zh.strip()) or len(pack) > 64:
            continue
        if (pack, name) in seen:
            problems.add(number, "name", f"{name!r} is also on row {seen[pack, name]}", sheet)
        seen.setdefault((pack, name), number)
        try:
            value: Variable = Localized(zh=zh, en=en) if en.strip() else zh
        except ValidationError as exc:
            for error in exc.errors():
                problems.add(number, f"value_{error['loc'][0]}", error["msg"], sheet)
            continue
        found.setdefault(pack, {})[name] = value
    return found
