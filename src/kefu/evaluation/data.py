"""Streaming JSONL readers with line-precise errors, for training and evaluation files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kefu.errors import InvalidInput

Row = TypeVar("Row", bound=BaseModel)


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LabelledText(_Row):
    text: str = Field(min_length=1)
    label: str = Field(min_length=1)


class SentimentRow(_Row):
    text: str = Field(min_length=1)
    label: int = Field(ge=0, le=1)


class PairRow(_Row):
    text_a: str
    text_b: str
    label: int = Field(ge=0, le=1)


class KbRow(_Row):
    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    similar: list[str] = Field(default_factory=list)
    answer: str = ""


class FaqTestRow(_Row):
    text: str = Field(min_length=1)
    id: str | None


class DataError(InvalidInput):
    code = "invalid_data"


def _coerce_label(record: object) -> object:
    # Intent labels may be written as numbers in third-party files: read them as strings.
    if isinstance(record, dict) and isinstance(record.get("label"), int | float):
        return {**record, "label": str(record["label"])}
    return record


def count_lines(path: Path) -> int:
    """Non-blank lines, for progress bars (a fast binary pass; the file is read again)."""
    return sum(1 for line in _open(path) if line.strip())


def _open(path: Path) -> Iterator[str]:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{path}:{number}: not UTF-8 text") from None


def read_jsonl(path: Path, model: type[Row], *, labels_as_text: bool = False) -> Iterator[Row]:
    """Rows of a JSONL file, one at a time; blank lines are skipped, a bad line stops the run
    with `file:line: what is wrong`."""
    for number, line in enumerate(_open(path), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
        if labels_as_text:
            record = _coerce_label(record)
        try:
            yield model.model_validate(record)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "row"
            raise DataError(f"{path}:{number}: {where}: {first['msg']}") from None


def read_labelled(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs from a JSONL file or an intents YAML file."""
    if path.suffix.lower() in (".yaml", ".yml"):
        from kefu.knowledge.intents import load_intents

        return load_intents(path).examples()
    return [(row.text, row.label) for row in read_jsonl(path, LabelledText, labels_as_text=True)]
