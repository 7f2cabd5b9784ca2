from __future__ import annotations

from pathlib import Path

import pytest

from kefu.evaluation.data import (
    DataError,
    LabelledText,
    PairRow,
    count_lines,
    read_jsonl,
    read_labelled,
)
from kefu.evaluation.metrics import auc, macro_f1


def write(tmp_path: Path, text: str, name: str = "data.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_stream_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, '{"text": "退款", "label": 7}\n\n{"text": "hi", "label": "greet"}\n')
    assert read_labelled(path) == [("退款", "7"), ("hi", "greet")]  # numeric labels read as text
    assert count_lines(path) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "ok", "label": "a"}\n{"text": "x"\n', "data.jsonl:2: invalid JSON"),
        ('{"text": "ok", "label": "a"}\n{"text": "x"}\n', "data.jsonl:2: label: Field required"),
        ('{"text": "", "label": "a"}\n', "data.jsonl:1: text:"),
        ("[1, 2]\n", "data.jsonl:1:"),
    ],
)
def test_a_bad_line_is_named_by_number(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        list(read_jsonl(write(tmp_path, content), LabelledText, labels_as_text=True))


def test_not_utf8_and_missing_files_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text_a": "a", "text_b": "b", "label": 1}\n\xff\xfe\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not UTF-8"):
        list(read_jsonl(bad, PairRow))
    with pytest.raises(DataError, match="no such file"):
        list(read_jsonl(tmp_path / "nope.jsonl", PairRow))


def test_metrics() -> None:
    assert macro_f1(["a", "a", "b"], ["a", "b", "b"]) == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert auc([0.5, 0.5], [0, 1]) == pytest.approx(0.5)
