"""`kefu train` and `kefu eval ...` on small fixtures, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kefu.cli import app
from tests.understanding.test_intents import EXAMPLES

runner = CliRunner()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("KEFU_MODELS_DIR", raising=False)
    return tmp_path / "var"


def jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def test_eval_intent_prints_a_table_and_one_json_line(tmp_path: Path) -> None:
    train = jsonl(tmp_path / "train.jsonl", [{"text": t, "label": lab} for t, lab in EXAMPLES])
    test = jsonl(
        tmp_path / "test.jsonl",
        [
            {"text": "把钱退我", "label": "refund"},
            {"text": "bike chain fell off", "label": "fault"},
            {"text": "hello!", "label": "greet"},
            {"text": "明天天气", "label": "out_of_scope"},
        ],
    )
    res = runner.invoke(
        app,
        [
            "eval",
            "intent",
            "--train",
            str(train),
            "--test",
            str(test),
            "--json",
            "--oos-label",
            "out_of_scope",
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout.strip().splitlines()[-1])
    for key in ("accuracy", "macro_f1", "oos_recall", "train_s", "p50_ms", "p95_ms", "rss_mb"):
        assert key in result
    assert result["accuracy"] >= 0.75 and "accuracy" in res.stdout  # the table too


def test_eval_rejects_a_malformed_line_without_a_traceback(tmp_path: Path) -> None:
    train = jsonl(tmp_path / "train.jsonl", [{"text": "a", "label": "x"}, {"text": "b"}])
    res = runner.invoke(app, ["eval", "intent", "--train", str(train), "--test", str(train)])
    assert res.exit_code == 1
    assert "train.jsonl:2: label: Field required" in res.stderr
    assert "Traceback" not in res.output


def test_train_writes_a_current_versioned_model(tmp_path: Path, data_dir: Path) -> None:
    data = jsonl(tmp_path / "intents.jsonl", [{"text": t, "label": lab} for t, lab in EXAMPLES])
    res = runner.invoke(app, ["train", "--data", str(data)])
    assert res.exit_code == 0, res.output
    current = (data_dir / "models" / "intent" / "current").read_text().strip()
    assert current in res.stdout and (data_dir / "models" / "intent" / current).is_dir()
