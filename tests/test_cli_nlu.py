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


def test_eval_faq_reports_top_k_and_no_answer(tmp_path: Path) -> None:
    kb = jsonl(
        tmp_path / "kb.jsonl",
        [
            {
                "id": "deposit",
                "question": "押金怎么退",
                "similar": ["退押金", "how to get deposit back"],
            },
            {
                "id": "unlock",
                "question": "开不了锁怎么办",
                "similar": ["车锁打不开", "bike won't unlock"],
            },
            {
                "id": "price",
                "question": "怎么收费",
                "similar": ["多少钱一小时", "how much per ride"],
            },
        ],
    )
    test = jsonl(
        tmp_path / "test.jsonl",
        [
            {"text": "我想退押金", "id": "deposit"},
            {"text": "锁打不开", "id": "unlock"},
            {"text": "骑一次多少钱", "id": "price"},
            {"text": "今天股市怎么样", "id": None},
        ],
    )
    res = runner.invoke(app, ["eval", "faq", "--kb", str(kb), "--test", str(test), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["top1"] >= 2 / 3 and result["top3"] == 1.0
    for key in ("no_answer_precision", "no_answer_recall", "p50_ms"):
        assert key in result
    unknown = jsonl(tmp_path / "bad.jsonl", [{"text": "x", "id": "nope"}])
    res = runner.invoke(app, ["eval", "faq", "--kb", str(kb), "--test", str(unknown)])
    assert (
        res.exit_code == 1 and "bad.jsonl:1: id 'nope' is not in the knowledge base" in res.stderr
    )


def test_eval_match_with_dev_threshold_and_with_cross_fitting(tmp_path: Path) -> None:
    pairs = [
        {"text_a": "押金怎么退", "text_b": "怎么退押金", "label": 1},
        {"text_a": "押金怎么退", "text_b": "今天天气如何", "label": 0},
        {"text_a": "how do i unlock the bike", "text_b": "bike won't unlock", "label": 1},
        {"text_a": "how do i unlock the bike", "text_b": "best pizza in town", "label": 0},
        {"text_a": "几点可以入住", "text_b": "入住时间是几点", "label": 1},
        {"text_a": "几点可以入住", "text_b": "信用卡还款", "label": 0},
    ] * 3
    data = jsonl(tmp_path / "pairs.jsonl", pairs)
    res = runner.invoke(app, ["eval", "match", "--test", str(data), "--dev", str(data), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["accuracy"] >= 0.8 and result["auc"] >= 0.8
    res = runner.invoke(app, ["eval", "match", "--test", str(data), "--folds", "3", "--json"])
    assert (
        json.loads(res.stdout.strip().splitlines()[-1])["threshold_from"] == "3-fold cross-fitting"
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text_a": "a", "text_b": "b", "label": 2}\n', encoding="utf-8")
    res = runner.invoke(app, ["eval", "match", "--test", str(bad)])
    assert res.exit_code == 1 and "bad.jsonl:1: label" in res.stderr


def test_eval_sentiment_bundled_and_trained(tmp_path: Path) -> None:
    rows = [
        {"text": "房间干净，服务热情，很满意", "label": 1},
        {"text": "非常好，下次还住", "label": 1},
        {"text": "太差了，再也不来了", "label": 0},
        {"text": "垃圾，退钱", "label": 0},
    ]
    test = jsonl(tmp_path / "test.jsonl", rows)
    res = runner.invoke(app, ["eval", "sentiment", "--test", str(test), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["model"] == "bundled" and result["accuracy"] >= 0.75
    res = runner.invoke(
        app, ["eval", "sentiment", "--train", str(test), "--test", str(test), "--json"]
    )
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["accuracy"] == 1.0 and result["unseen_examples"] == 0
    assert "macro_f1" in result


def test_eval_entities_on_the_fixture() -> None:
    fixture = Path(__file__).parent / "fixtures" / "entities_zh_en.jsonl"
    res = runner.invoke(app, ["eval", "entities", "--test", str(fixture), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["f1"] >= 0.9 and "phone" in result["per_type"]
    res = runner.invoke(app, ["eval", "entities", "--test", str(fixture), "--now", "soon"])
    assert res.exit_code == 1 and "ISO 8601" in res.stderr


def test_train_with_sentiment_data_replaces_the_bundled_model(
    tmp_path: Path, data_dir: Path
) -> None:
    from kefu.config import Settings
    from kefu.runtime import load_models
    from kefu.understanding.sentiment import SentimentModel

    intents = jsonl(tmp_path / "intents.jsonl", [{"text": t, "label": lab} for t, lab in EXAMPLES])
    reviews = jsonl(
        tmp_path / "reviews.jsonl",
        [{"text": t, "label": 1} for t in ("很好", "满意", "不错", "great")]
        + [{"text": t, "label": 0} for t in ("很差", "垃圾", "失望", "awful")],
    )
    res = runner.invoke(app, ["train", "--data", str(intents), "--sentiment", str(reviews)])
    assert res.exit_code == 0, res.output
    assert (data_dir / "models" / "sentiment.npz").is_file() and "sentiment" in res.stdout
    loaded = load_models(Settings()).sentiment
    assert loaded is not None and not loaded.route_english  # trained, not the bundled one
    assert SentimentModel.load().route_english
    bad = jsonl(tmp_path / "bad.jsonl", [{"text": "x", "label": 5}])
    res = runner.invoke(app, ["train", "--data", str(intents), "--sentiment", str(bad)])
    assert res.exit_code == 1 and "bad.jsonl:1: label" in res.stderr
