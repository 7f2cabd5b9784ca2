"""Retraining the intent model from the database's intents, behind an evaluation gate.

The model a run saves is trained on all the examples. Whether it goes live is decided by
comparing training sets under one protocol (`kefu.knowledge.evaluation_gate`): a model is
trained on the new examples and one on those of the model in service (every saved model stores
its examples), both without the held-out part E of the new examples, and both are scored on E.
The new model goes live only when its training set is not worse (or when forced); a refused one
is kept on disk so it can be put live by hand. Runs are rows in `training_runs`, so every worker
shows the same progress; the work itself is `run_training`, a plain function: the server hands
it to the job queue (`dispatch`, see kefu.jobs), or without one runs it on a thread.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from kefu.db.base import utcnow
from kefu.errors import Conflict, Forbidden, KefuError, NotFound, NotReady
from kefu.knowledge.evaluation_gate import (
    Examples,
    Scores,
    check_examples,
    compare,
    embed_once,
    evaluation_meta,
    judge,
    position,
    score_model,
    within,
)
from kefu.knowledge.intent_store import training_examples
from kefu.knowledge.intents import OUT_OF_SCOPE
from kefu.knowledge.models import TrainingRun
from kefu.tenants.models import Tenant
from kefu.understanding.embeddings import Embedder
from kefu.understanding.intents import (
    IntentConfig,
    IntentModel,
    ModelError,
    current_version,
    saved_examples,
    switch_current,
    train_intents,
)

logger = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=30)  # a run still "running" after this was interrupted
PROGRESS_EVERY = 0.3  # seconds between progress writes within a stage
RECENT_RUNS = 20
# Where each stage ends in the run's overall progress (it starts where the previous one ends),
# from a run on the bundled intents (3.7 s): embedding 0.55 s, the two models compared 1.8 s,
# the model saved (warm-started on more examples) 1.2 s.
STAGE_ENDS = {"loading": 0.02, "embedding": 0.16, "comparing": 0.64, "evaluating": 0.66}
STAGE_ENDS |= {"training": 0.99, "saving": 1.0}


class _RunProgress:
    """Writes the run's stage and overall progress: on every stage change, and within a stage
    at most every PROGRESS_EVERY seconds (each write is a small transaction)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        run_id: int,
        observer: Callable[[str, float], None] | None,
    ) -> None:
        self._sessions, self._run_id, self._observer = sessions, run_id, observer
        self._stage, self._done, self._written = "", 0.0, 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        at = position(STAGE_ENDS, stage, fraction)
        if at is not None:
            self._done = max(self._done, at)
        now = time.monotonic()
        if stage == self._stage and now - self._written < PROGRESS_EVERY:
            return
        self._stage, self._written = stage, now
        with self._sessions.begin() as session:
            session.execute(
                update(TrainingRun)
                .where(TrainingRun.id == self._run_id, TrainingRun.status == "running")
                .values(stage=stage, progress=round(self._done, 4))
            )
        if self._observer is not None:
            self._observer(stage, self._done)


def _finish(sessions: sessionmaker[Session], run_id: int, **values: Any) -> None:
    with sessions.begin() as session:
        values["finished_at"] = utcnow()
        session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(**values))


def _current(folder: Path) -> tuple[str | None, Examples | None]:
    """The version in service and the examples it was trained on (None: unknown)."""
    if current_version(folder) is None:
        return None, None
    try:
        version = IntentModel.load(folder).version
    except ModelError as exc:  # a broken model in service: anything beats it
        logger.warning("cannot read the current intent model: %s", exc.message)
        return None, None
    try:
        return version, saved_examples(folder)
    except ModelError as exc:  # it serves, but can't be compared with
        logger.warning("%s", exc.message)
        return version, None


def _served_scores(
    folder: Path, evaluation: Examples, vectors: Embedder, embedder: Embedder
) -> Scores | None:
    if not evaluation:
        return None
    try:
        live = IntentModel.load(folder)
    except ModelError:
        return None
    if live.embedder != embedder.name:  # made for another encoder: its scores would mislead
        return None
    encoded = vectors.embed([text for text, _ in evaluation])
    return score_model(live, evaluation, encoded, OUT_OF_SCOPE)


def run_training(
    sessions: sessionmaker[Session],
    run_id: int,
    models_dir: Path,
    embedder: Embedder,
    *,
    on_promoted: Callable[[], None] | None = None,
    config: IntentConfig | None = None,
    on_progress: Callable[[str, float], None] | None = None,
) -> None:
    """Do run `run_id` (a `running` row of the tenant `sessions` is scoped to): compare the
    tenant's examples with those of `models_dir/intent`'s current model, train the model on
    all the examples, save it with them (live only when promoted) and record the outcome.
    Never raises: whatever goes wrong ends the run as `failed` with a readable error."""
    try:
        progress = _RunProgress(sessions, run_id, on_progress)
        with sessions() as session:
            run = session.get(TrainingRun, run_id)
            if run is None:
                raise ModelError(f"no training run {run_id}")
            forced = run.forced
            examples = training_examples(session, run.tenant_id)
        check_examples(examples)
        folder = models_dir / "intent"
        version, known = _current(folder)
        progress("loading", 1.0)
        texts = [text for text, _ in [*examples, *(known or [])]]
        vectors = embed_once(embedder, texts, progress)
        options: dict[str, Any] = {"config": config, "oos_label": OUT_OF_SCOPE}
        comparison = compare(examples, known, vectors, progress=progress, **options)
        current, as_served = comparison.current, False
        if version is not None and known is None:
            # The live model kept no examples (an older kefu, `kefu train --data`): score it as
            # it serves. It may have learned some held-out examples, which favours it: a
            # candidate that still isn't worse is safe to put live.
            current = _served_scores(folder, comparison.plan.evaluation, vectors, embedder)
            as_served = current is not None
        scores = comparison.candidate, current
        result = judge(len(examples), comparison.plan, *scores, version, as_served=as_served)
        promote = forced or not result["worse"]
        result["decision"] = "promoted" if promote else "refused"
        if promote and result["worse"]:
            result["reason"] = "forced"
        model = train_intents(examples, vectors, progress=within(progress, "training"), **options)
        model.meta["evaluation"] = evaluation_meta(comparison)
        progress("saving", 0.0)
        saved = model.save(folder, make_current=promote, examples=examples)
        progress("saving", 1.0)
        _finish(
            sessions,
            run_id,
            status=result["decision"],
            stage="done",
            progress=1.0,
            version=saved.name,
            result=result,
        )
    except KefuError as exc:
        _fail(sessions, run_id, exc.message)
        return
    except Exception as exc:  # a run must never stay "running"
        logger.exception("training run %s failed", run_id)
        _fail(sessions, run_id, f"internal error ({type(exc).__name__}); see the server log")
        return
    if promote:
        _refresh(on_promoted)


def _fail(sessions: sessionmaker[Session], run_id: int, error: str) -> None:
    try:
        _finish(sessions, run_id, status="failed", error=error[:2000])
    except Exception:  # the database is gone too: the stale rule ends it later
        logger.exception("could not record the failure of training run %s", run_id)


def _refresh(on_promoted: Callable[[], None] | None) -> None:
    """Reload the bot in this process now; other processes notice the new pointer by
    themselves, so a failure here costs seconds, not the promotion."""
    if on_promoted is None:
        return
    try:
        on_promoted()
    except Exception:  # logged; the bot reloads on its own check
        logger.exception("the bot did not reload after a promotion; it will on its next check")


Audit = Callable[[Session, TrainingRun], None]


class TrainingService:
    """Starts, lists and promotes the runs of the tenant this process serves (the models
    directory is the server's, so only that tenant's intents may go into it)."""

    def __init__(
        self,
        sessions_for: Callable[[int], sessionmaker[Session]],
        served_tenant_id: int,
        models_dir: Path,
        embedder: Callable[[], Embedder],
        *,
        on_promoted: Callable[[], None] | None = None,
        config: IntentConfig | None = None,
        on_progress: Callable[[str, float], None] | None = None,
        dispatch: Callable[[int, int], None] | None = None,
    ) -> None:
        # dispatch(tenant_id, run_id): enqueue the run as a job, whose worker calls execute().
        self.dispatch = dispatch
        self._sessions_for = sessions_for
        self._tenant_id = served_tenant_id
        self._models_dir = models_dir
        self._embedder = embedder
        self._on_promoted = on_promoted
        self._options: dict[str, Any] = {
            "on_promoted": on_promoted,
            "config": config,
            "on_progress": on_progress,
        }
        self._threads: dict[int, threading.Thread] = {}

    def _served(self, tenant_id: int) -> sessionmaker[Session]:
        if tenant_id != self._tenant_id:
            raise Forbidden(
                "this server's bot serves another tenant: retrain from that tenant's console",
                code="wrong_tenant",
            )
        return self._sessions_for(tenant_id)

    def start(
        self, tenant_id: int, account_id: int | None, force: bool, *, audit: Audit | None = None
    ) -> int:
        """Record a new run and start it on a background thread; returns its id. Conflict
        (training_running) while another run of the tenant is running."""
        sessions = self._served(tenant_id)
        embedder = self._embedder()  # an encoder that can't load fails here, not in a run
        with sessions.begin() as session:
            # Serialise starts: PostgreSQL locks the tenant row; SQLite's write transactions
            # (BEGIN IMMEDIATE) are serial already.
            session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
            _expire_stale(session)
            running = session.scalar(
                select(TrainingRun.id).where(TrainingRun.status == "running").limit(1)
            )
            if running is not None:
                raise Conflict(
                    f"training run {running} is still running: wait for it to finish",
                    code="training_running",
                )
            run = TrainingRun(tenant_id=tenant_id, status="running", stage="queued", progress=0.0)
            run.forced, run.account_id, run.started_at = force, account_id, utcnow()
            session.add(run)
            session.flush()
            if audit is not None:
                audit(session, run)
            run_id = run.id
        if self.dispatch is not None:
            try:
                self.dispatch(tenant_id, run_id)
            except Exception as exc:  # the queue refused it: don't leave the row running
                _fail(sessions, run_id, f"could not queue the training: {exc}")
                raise NotReady(
                    "the job queue is unavailable: try again shortly", code="jobs_unavailable"
                ) from exc
            return run_id
        work = functools.partial(
            run_training, sessions, run_id, self._models_dir, embedder, **self._options
        )
        thread = threading.Thread(target=work, name=f"kefu-training-{run_id}", daemon=True)
        try:
            thread.start()
        except RuntimeError as exc:  # no thread to be had: don't leave the row running
            _fail(sessions, run_id, f"could not start the training: {exc}")
            raise
        self._threads[run_id] = thread
        return run_id

    def execute(self, tenant_id: int, run_id: int) -> None:
        """Do a queued run (the job queue's training job). The run is claimed first (queued ->
        starting, in one UPDATE), so a job delivered twice trains once, and a run no longer
        queued (done, expired, or taken by another delivery) is left alone."""
        sessions = self._served(tenant_id)
        with sessions.begin() as session:
            claimed = session.execute(
                update(TrainingRun)
                .where(
                    TrainingRun.id == run_id,
                    TrainingRun.status == "running",
                    TrainingRun.stage == "queued",
                )
                .values(stage="starting")
                .execution_options(synchronize_session=False)
            )
            if not getattr(claimed, "rowcount", 0):
                return
        run_training(sessions, run_id, self._models_dir, self._embedder(), **self._options)

    def wait(self, run_id: int, timeout: float | None = None) -> None:
        """Until the run ends: this process's thread, or a queued run's row (tests, and
        shutting down cleanly)."""
        thread = self._threads.get(run_id)
        if thread is not None:
            thread.join(timeout)
            if not thread.is_alive():
                self._threads.pop(run_id, None)
            return
        deadline = time.monotonic() + (timeout if timeout is not None else 3600)
        sessions = self._sessions_for(self._tenant_id)
        while time.monotonic() < deadline:
            with sessions() as session:
                run = session.get(TrainingRun, run_id)
                if run is None or run.status != "running":
                    return
            time.sleep(0.1)

    def runs(self, tenant_id: int, limit: int = RECENT_RUNS) -> list[TrainingRun]:
        """The newest runs first."""
        sessions = self._sessions_for(tenant_id)
        self._expire_if_stale(sessions)
        with sessions() as session:
            return list(
                session.scalars(
                    select(TrainingRun)
                    .order_by(TrainingRun.started_at.desc(), TrainingRun.id.desc())
                    .limit(limit)
                )
            )

    def get(self, tenant_id: int, run_id: int) -> TrainingRun:
        sessions = self._sessions_for(tenant_id)
        self._expire_if_stale(sessions)
        with sessions() as session:
            run = session.get(TrainingRun, run_id)
        if run is None:
            raise NotFound(f"no training run {run_id}", code="training_run_not_found")
        return run

    def promote(self, tenant_id: int, run_id: int, *, audit: Audit | None = None) -> TrainingRun:
        """Put a finished run's model live: a refused candidate ("forced"), or an earlier
        promoted one (a rollback)."""
        sessions = self._served(tenant_id)
        with sessions.begin() as session:
            session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
            _expire_stale(session)
            run = session.get(TrainingRun, run_id)
            if run is None:
                raise NotFound(f"no training run {run_id}", code="training_run_not_found")
            if session.scalar(select(TrainingRun.id).where(TrainingRun.status == "running")):
                raise Conflict(
                    "a training run is running: promote when it has finished",
                    code="training_running",
                )
            if run.status not in ("refused", "promoted") or not run.version:
                raise Conflict(
                    f"run {run_id} ended {run.status}: it has no model to put live",
                    code="nothing_to_promote",
                )
            try:
                model = IntentModel.load(self._models_dir / "intent" / run.version)
                if model.embedder != self._embedder().name:
                    raise Conflict(
                        f"run {run_id}'s model was made for the encoder {model.embedder}, "
                        "not the one this server uses",
                        code="other_encoder",
                    )
                switch_current(self._models_dir / "intent", run.version)
            except ModelError as exc:
                raise Conflict(
                    f"run {run_id}'s model can't be put live: {exc.message}", code="model_missing"
                ) from None
            if run.status == "refused":
                run.forced = True
                run.result = {
                    **(run.result or {}),
                    "decision": "promoted",
                    "reason": "promoted_by_hand",
                }
            run.status = "promoted"
            if audit is not None:
                audit(session, run)
        _refresh(self._on_promoted)
        return run

    def _expire_if_stale(self, sessions: sessionmaker[Session]) -> None:
        # Reads check first, so a page polling every second writes nothing in the normal case.
        with sessions() as session:
            stale = session.scalar(select(TrainingRun.id).where(*_stale()).limit(1))
        if stale is not None:
            with sessions.begin() as session:
                _expire_stale(session)


def _stale() -> tuple[Any, ...]:
    cutoff: datetime = utcnow() - STALE_AFTER
    return (TrainingRun.status == "running", TrainingRun.started_at < cutoff)


def _expire_stale(session: Session) -> None:
    """Runs still `running` long after they started lost their process (a restart, a crash)."""
    session.execute(
        update(TrainingRun)
        .where(*_stale())
        .values(
            status="failed",
            error="interrupted: the run did not finish within 30 minutes (the server "
            "restarted or stopped?)",
            finished_at=utcnow(),
        )
    )
