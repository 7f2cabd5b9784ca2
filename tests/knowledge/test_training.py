"""Retraining behind the evaluation gate: the split and the protocol (what each compared model
trains on), a run's life (progress, result, the bot reloaded, the live model trained on all the
examples and storing them), a worse training set refused and put live by force or by hand, a
current model without stored examples, one run at a time, failures recorded, and `kefu train`
saving the same kind of model."""

from __future__ import annotations

import gzip
import random
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner

from kefu.cli import app
from kefu.config import Settings
from kefu.db.base import utcnow
from kefu.errors import Conflict, Forbidden, NotFound
from kefu.knowledge.evaluation_gate import (
    EVAL_BUCKETS,
    MIN_EXAMPLES,
    SPLIT_ID,
    Scores,
    judge,
    protocol,
    split_examples,
    split_hash,
)
from kefu.knowledge.intents import OUT_OF_SCOPE, IntentSpec
from kefu.knowledge.models import IntentRow, TrainingRun
from kefu.knowledge.training import TrainingService
from kefu.runtime import Runtime, prepare_database
from kefu.understanding.embeddings import Embedder, make_embedder
from kefu.understanding.intents import (
    EXAMPLES_FILE,
    IntentModel,
    ModelError,
    current_version,
    saved_examples,
    train_intents,
)

KEYWORDS = {"t.refund": "退款", "t.unlock": "开锁", "t.invoice": "发票"}
FILLERS = ["谢谢", "麻烦了", "急", "在吗", "快点", "请问", "好吗", "帮帮我", "现在", "今天"]


def small_intents() -> dict[str, list[str]]:
    """Three easy intents and out-of-scope chatter, 20 examples each: trains in milliseconds."""
    data = {
        label: [f"我要{kw}{filler}{n}" for n in range(2) for filler in FILLERS]
        for label, kw in KEYWORDS.items()
    }
    data[OUT_OF_SCOPE] = [f"今天天气{filler}{n}" for n in range(2) for filler in FILLERS]
    return data


def use_intents(runtime: Runtime, intents: dict[str, list[str]]) -> None:
    """Replace the tenant's intents (the bundled ones would take seconds to train)."""
    with runtime.sessions.begin() as session:
        session.execute(delete(IntentRow))
        for name, texts in intents.items():
            data = IntentSpec(name=name, examples={"zh": texts, "en": []}).model_dump(mode="json")
            session.add(IntentRow(tenant_id=runtime.tenant.id, name=name, pack="test", data=data))


def service(runtime: Runtime, embedder: Embedder | None = None, **kwargs: Any) -> TrainingService:
    encoder = embedder or make_embedder(runtime.settings.embedder)  # the process's shared one
    return TrainingService(
        runtime.sessions_for,
        runtime.tenant.id,
        runtime.settings.effective_models_dir,
        lambda: encoder,
        on_promoted=lambda: runtime.conversations.bot.refresh(force=True),
        **kwargs,
    )


def finish(training: TrainingService, runtime: Runtime, run_id: int) -> TrainingRun:
    training.wait(run_id, timeout=60)
    run = training.get(runtime.tenant.id, run_id)
    assert run.status != "running"
    return run


def served_version(runtime: Runtime) -> str | None:
    intents = getattr(runtime.conversations.bot.pipeline.understander, "intents", None)
    return intents.version if intents is not None else None


# -- the split --------------------------------------------------------------------------------


def test_the_split_is_deterministic_and_keeps_small_labels_whole() -> None:
    examples = [(f"example {n}", "big") for n in range(60)]
    examples += [(f"small {n}", "small") for n in range(MIN_EXAMPLES - 1)]
    first = split_examples(examples)
    again = split_examples(list(reversed(examples)))
    assert set(first.evaluation) == set(again.evaluation) and first.evaluation
    assert {label for _, label in first.evaluation} == {"big"}
    assert first.held_out_labels == ("big",)
    assert set(first.train) | set(first.evaluation) == set(examples)
    # Another label's examples don't move this one's.
    more = split_examples([*examples, *((f"other {n}", "other") for n in range(30))])
    assert {ex for ex in more.evaluation if ex[1] == "big"} == set(first.evaluation)
    # Which side an example is on is its hash's business alone.
    assert all(split_hash(text, label) % EVAL_BUCKETS == 0 for text, label in first.evaluation)


def test_a_small_label_hashed_whole_into_evaluation_keeps_most_for_training() -> None:
    unlucky = [t for t in (f"t{n}" for n in range(500)) if split_hash(t, "x") % EVAL_BUCKETS == 0]
    examples = [(text, "x") for text in unlucky[:MIN_EXAMPLES]]
    split = split_examples(examples)
    assert len(split.evaluation) == MIN_EXAMPLES // 2 and len(split.train) > len(split.evaluation)


def test_the_compared_models_never_train_on_an_evaluation_text() -> None:
    new = [(f"我要退款{n}", "refund") for n in range(30)] + [
        (f"开锁{n}", "unlock") for n in range(30)
    ]
    held = split_examples(new).evaluation
    text, label = held[0]
    # The older examples hold an evaluation text under another label, and spelled otherwise
    # (full-width digits, a "!"): the current side must drop both.
    wide = text.replace("0", "０").replace("1", "１") + "!"
    old = [(text, "unlock" if label == "refund" else "refund"), (wide, label), ("别的", label)]
    plan = protocol(new, old)
    assert plan.evaluation == held
    assert plan.candidate_train == [ex for ex in new if ex not in held]
    assert plan.current_train == [("别的", label)]
    assert protocol(new, None).current_train is None


def test_the_verdict() -> None:
    plan = protocol([(f"t{n}", "a") for n in range(20)] + [(f"u{n}", "b") for n in range(20)], [])
    good, bad = Scores(8, 0.9, 0.9, {"a": 0.9}), Scores(8, 0.8, 0.9, {"a": 0.7})

    def reason(candidate: Scores, current: Scores | None, version: str | None) -> str:
        return str(judge(40, plan, candidate, current, version)["reason"])

    assert reason(bad, good, "v1") == "worse" and reason(good, bad, "v1") == "not_worse"
    assert reason(Scores(8, 0.8995, 0.9, {}), good, "v1") == "not_worse"  # within WORSE_BY
    assert reason(bad, None, None) == "no_current_model"
    assert reason(bad, None, "v1") == "current_not_comparable"
    none = protocol([("a", "x"), ("b", "y")], [])
    assert judge(2, none, bad, good, "v1")["reason"] == "no_evaluation_examples"
    result = judge(40, plan, bad, None, "v1")
    unscored = {
        "accuracy": None,
        "macro_f1": None,
        "version": "v1",
        "comparable": False,
        "as_served": False,
    }
    assert result["current"] == unscored and result["examples"] == 40 and not result["worse"]
    assert result["train_examples"] + result["evaluation_examples"] == 40
    assert judge(40, plan, bad, good, "v1")["intents"] == [
        {"intent": "a", "candidate": 0.7, "current": 0.9}
    ]


def test_a_model_stores_the_examples_it_was_trained_on(tmp_path: Path) -> None:
    examples = [("退款<script>\u200b", "t.refund"), ('say "hi"\n', "t.hi")] * 3
    trained = train_intents(examples, make_embedder("hashed-ngram-64"))
    kept = trained.save(tmp_path / "intent", examples=examples)
    assert saved_examples(tmp_path / "intent") == saved_examples(kept) == examples
    bare = trained.save(tmp_path / "intent", make_current=False)
    assert saved_examples(bare) is None  # an older kefu, or --data
    (kept / EXAMPLES_FILE).write_bytes(b"not gzip")
    with pytest.raises(ModelError):
        saved_examples(kept)
    with gzip.open(kept / EXAMPLES_FILE, "wt", encoding="utf-8") as file:
        file.write('{"text": 1}\n')
    with pytest.raises(ModelError):
        saved_examples(kept)


# -- runs --------------------------------------------------------------------------------------


class Counting:
    """An encoder that counts the texts it is asked to encode."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.seen: Counter[str] = Counter()

    def embed(self, texts: Sequence[str]) -> Any:
        self.seen.update(texts)
        return self.inner.embed(texts)


def examples_of(intents: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(text, label) for label, texts in intents.items() for text in texts]


def test_a_run_goes_live_with_rising_progress_and_a_result(runtime: Runtime) -> None:
    use_intents(runtime, small_intents())
    seen: list[tuple[str, str, float]] = []

    def watch(stage: str, done: float) -> None:  # what any worker's page would read now
        with runtime.sessions() as session:
            run = session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc())).first()
            assert run is not None
            seen.append((run.status, run.stage, run.progress))

    counting = Counting(make_embedder(runtime.settings.embedder))
    training = service(runtime, counting, on_progress=watch)
    run = finish(training, runtime, training.start(runtime.tenant.id, None, force=False))

    assert run.status == "promoted" and run.stage == "done" and run.progress == 1.0
    assert [status for status, _, _ in seen] == ["running"] * len(seen)
    progress = [done for _, _, done in seen]
    assert progress == sorted(progress) and progress[0] < 0.1 < 0.9 < progress[-1]
    stages = list(dict.fromkeys(stage for _, stage, _ in seen))
    assert stages == ["loading", "embedding", "comparing", "evaluating", "training", "saving"]
    result = run.result
    assert result is not None
    assert result["decision"] == "promoted" and result["reason"] == "no_current_model"
    assert result["current"] is None and result["split"] == SPLIT_ID
    assert result["examples"] == 80 and 0 < result["evaluation_examples"] < 40
    assert result["train_examples"] == 80 - result["evaluation_examples"]
    assert result["candidate"]["accuracy"] >= 0.9
    folder = runtime.settings.effective_models_dir / "intent"
    assert current_version(folder) == run.version == served_version(runtime)
    # The live model learned every example, and keeps them for the next comparison.
    model = IntentModel.load(folder)
    assert model.meta["examples"] == 80 and model.meta["evaluation"]["examples"] > 0
    assert sorted(saved_examples(folder) or []) == sorted(examples_of(small_intents()))
    assert set(counting.seen.values()) == {1}  # each text encoded once for three trainings
    assert set(counting.seen) == {text for text, _ in examples_of(small_intents())}

    # Next time the stored examples are the current side: each text still encoded once.
    more = small_intents()
    more["t.refund"].append("退款怎么还没到账")
    use_intents(runtime, more)
    counting.seen.clear()
    second = finish(training, runtime, training.start(runtime.tenant.id, None, force=False))
    assert second.result is not None and second.result["reason"] == "not_worse"
    assert second.result["current"]["comparable"] and second.result["examples"] == 81
    assert set(counting.seen.values()) == {1} and len(counting.seen) == 81


def relabelled_at_random(data: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every example outside the evaluation part gets a random wrong label (one that keeps it
    outside the evaluation part, so E and its true labels stay as they were)."""
    rng = random.Random(7)
    held = set(split_examples(examples_of(data)).evaluation)
    out: dict[str, list[str]] = {label: [] for label in data}
    for label, texts in data.items():
        for text in texts:
            wrong = [x for x in data if x != label and split_hash(text, x) % EVAL_BUCKETS]
            out[label if (text, label) in held or not wrong else rng.choice(wrong)].append(text)
    return out


def test_a_worse_candidate_is_refused_and_can_be_put_live(runtime: Runtime) -> None:
    data = small_intents()
    use_intents(runtime, data)
    training = service(runtime)
    tenant = runtime.tenant.id
    first = finish(training, runtime, training.start(tenant, None, force=False))
    assert first.status == "promoted"

    worse = relabelled_at_random(data)
    held = split_examples(examples_of(data)).evaluation
    assert set(split_examples(examples_of(worse)).evaluation) == set(held)
    use_intents(runtime, worse)

    refused = finish(training, runtime, training.start(tenant, 7, force=False))
    assert refused.status == "refused" and not refused.forced and refused.account_id == 7
    result = refused.result
    assert result is not None and result["worse"] and result["reason"] == "worse"
    assert result["current"]["version"] == first.version and result["current"]["comparable"]
    assert result["candidate"]["accuracy"] < result["current"]["accuracy"] - 0.3
    assert {row["intent"] for row in result["intents"]} >= set(KEYWORDS)
    folder = runtime.settings.effective_models_dir / "intent"
    assert current_version(folder) == first.version == served_version(runtime)
    kept = folder / str(refused.version)  # kept, to be put live by hand: trained on all
    assert IntentModel.load(kept).meta["examples"] == 80
    assert sorted(saved_examples(kept) or []) == sorted(examples_of(worse))

    forced = finish(training, runtime, training.start(tenant, None, force=True))
    assert forced.status == "promoted" and forced.forced
    assert forced.result is not None and forced.result["reason"] == "forced"
    assert current_version(folder) == forced.version == served_version(runtime)

    # By hand: the refused candidate, then back to the first model (a rollback).
    promoted = training.promote(tenant, refused.id)
    assert promoted.status == "promoted" and promoted.forced
    assert promoted.result is not None and promoted.result["reason"] == "promoted_by_hand"
    assert current_version(folder) == refused.version == served_version(runtime)
    training.promote(tenant, first.id)
    assert current_version(folder) == first.version == served_version(runtime)

    # The first model's examples are the current side again: the clean data is not worse.
    use_intents(runtime, data)
    again = finish(training, runtime, training.start(tenant, None, force=False))
    assert again.result is not None and again.result["reason"] == "not_worse"


def test_a_current_model_without_its_examples_is_scored_as_it_serves(runtime: Runtime) -> None:
    """An older kefu's model kept no examples: the gate scores it as it serves (it may have
    learned some held-out examples, which favours it), so a worse candidate is still refused."""
    use_intents(runtime, small_intents())
    training = service(runtime)
    tenant = runtime.tenant.id
    first = finish(training, runtime, training.start(tenant, None, force=False))
    folder = runtime.settings.effective_models_dir / "intent"
    assert first.status == "promoted"
    for damage in ("missing", "broken"):  # an older kefu's model, or an unreadable file
        stored = folder / str(current_version(folder)) / EXAMPLES_FILE
        stored.unlink() if damage == "missing" else stored.write_bytes(b"\x1f\x8b broken")
        use_intents(runtime, relabelled_at_random(small_intents()))  # worse
        run = finish(training, runtime, training.start(tenant, None, force=False))
        assert run.status == "refused", run.error
        result = run.result
        assert result is not None and result["reason"] == "worse"
        assert result["current"]["comparable"] is False and result["current"]["as_served"]
        assert result["current"]["accuracy"] > result["candidate"]["accuracy"]
        assert current_version(folder) == first.version


class Gate:
    """An encoder that holds the run in its embedding stage until released."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.entered, self.release = threading.Event(), threading.Event()

    def embed(self, texts: Sequence[str]) -> Any:
        self.entered.set()
        assert self.release.wait(30)
        return self.inner.embed(texts)


def test_one_run_at_a_time_and_an_interrupted_run_fails(runtime: Runtime) -> None:
    use_intents(runtime, small_intents())
    gate = Gate(make_embedder(runtime.settings.embedder))
    training = service(runtime, gate)
    tenant = runtime.tenant.id
    run_id = training.start(tenant, None, force=False)
    assert gate.entered.wait(30)
    with pytest.raises(Conflict) as refused:
        training.start(tenant, None, force=True)
    assert refused.value.code == "training_running"
    with pytest.raises(Conflict):
        training.promote(tenant, run_id)
    gate.release.set()
    assert finish(training, runtime, run_id).status == "promoted"

    # A run whose process died: after 30 minutes it no longer blocks, and says why.
    with runtime.sessions.begin() as session:
        lost = TrainingRun(
            tenant_id=tenant, status="running", started_at=utcnow() - timedelta(minutes=31)
        )
        session.add(lost)
        session.flush()
        lost_id = lost.id
    assert training.get(tenant, lost_id).status == "failed"
    assert "interrupted" in (training.get(tenant, lost_id).error or "")
    assert [run.id for run in training.runs(tenant)] == [run_id, lost_id]  # newest first


class Broken:
    name, dim = "broken", 8

    def embed(self, texts: Sequence[str]) -> Any:
        raise RuntimeError("the encoder fell over")


def test_failures_are_recorded_not_left_running(runtime: Runtime) -> None:
    tenant = runtime.tenant.id
    use_intents(runtime, {"t.refund": ["我要退款", "退款吧"]})
    training = service(runtime)
    run = finish(training, runtime, training.start(tenant, None, force=False))
    assert run.status == "failed" and "at least two intents" in (run.error or "")
    with pytest.raises(Conflict) as nothing:
        training.promote(tenant, run.id)
    assert nothing.value.code == "nothing_to_promote"

    use_intents(runtime, small_intents())
    broken = service(runtime, Broken())
    run = finish(broken, runtime, broken.start(tenant, None, force=False))
    assert run.status == "failed" and run.error is not None
    assert "RuntimeError" in run.error and "fell over" not in run.error  # details in the log
    assert current_version(runtime.settings.effective_models_dir / "intent") is None

    with pytest.raises(NotFound):
        training.get(tenant, 999_999)
    with pytest.raises(NotFound):
        training.promote(tenant, 999_999)
    with pytest.raises(Forbidden):  # the models directory is the served tenant's
        training.start(tenant + 1, None, force=False)


# -- kefu train ----------------------------------------------------------------------------------


def test_kefu_train_learns_all_the_database_intents_and_keeps_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path / 'kefu.db'}",
        redis_url=None,
    )
    prepare_database(settings)
    runtime = Runtime.build(settings)
    try:
        use_intents(runtime, small_intents())
    finally:
        runtime.close()
    monkeypatch.setenv("KEFU_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("KEFU_DATABASE_URL", settings.effective_database_url)
    res = CliRunner().invoke(app, ["train"])
    assert res.exit_code == 0, res.output
    assert "held-out estimate" in res.stdout
    folder = settings.effective_models_dir / "intent"
    model = IntentModel.load(folder)
    assert sorted(model.labels) == sorted(small_intents())
    assert model.meta["examples"] == 80 and model.meta["evaluation"]["split"] == SPLIT_ID
    assert 0 < model.meta["evaluation"]["examples"] < 40
    assert sorted(saved_examples(folder) or []) == sorted(examples_of(small_intents()))

    # A console retraining compares with it like with one of its own.
    runtime = Runtime.build(settings)
    try:
        training = service(runtime)
        run = finish(training, runtime, training.start(runtime.tenant.id, None, force=False))
    finally:
        runtime.close()
    assert run.result is not None and run.result["reason"] == "not_worse"
    assert run.result["current"]["version"] == model.version
