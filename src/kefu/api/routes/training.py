"""Retraining the intent model from the console: start a run, watch it, and put a refused
candidate live anyway. The work is `kefu.knowledge.training`; this is its HTTP face."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from kefu.accounts.permissions import Permission
from kefu.accounts.service import Principal
from kefu.api.auth import allowed, audited
from kefu.api.deps import RuntimeDep, optional_json
from kefu.api.routes.accounts import RowId
from kefu.api.schemas import ErrorOut
from kefu.knowledge.models import TrainingRun
from kefu.knowledge.training import TrainingService

router = APIRouter(prefix="/v1/admin/training", tags=["training"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429)
}
# Reads too: a run's result names intents and scores, which is knowledge-editing business.
Editor = Annotated[Principal, allowed(Permission.KNOWLEDGE_WRITE)]
_made = threading.Lock()


def training_service(request: Request, runtime: RuntimeDep) -> TrainingService:
    """One service per app, made on first use (it keeps this process's training threads)."""
    with _made:
        service: TrainingService | None = getattr(request.app.state, "training", None)
        if service is None:
            service = runtime.training
            request.app.state.training = service
    return service


Training = Annotated[TrainingService, Depends(training_service)]


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: bool = False  # put the candidate live even if it scores worse


class ScoresOut(BaseModel):
    accuracy: float | None
    macro_f1: float | None


class CurrentOut(ScoresOut):
    version: str
    comparable: bool  # the current model kept the examples it learned, so they can be compared


class IntentF1Out(BaseModel):
    intent: str
    candidate: float | None
    current: float | None


class ResultOut(BaseModel):
    examples: int
    train_examples: int
    evaluation_examples: int
    split: str
    candidate: ScoresOut
    current: CurrentOut | None
    intents: list[IntentF1Out]  # per-intent F1 where it changed
    worse: bool
    decision: Literal["promoted", "refused"]
    reason: str


class RunOut(BaseModel):
    id: int
    status: Literal["running", "promoted", "refused", "failed"]
    stage: str
    progress: float
    forced: bool
    version: str | None
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    result: ResultOut | None

    @classmethod
    def of(cls, run: TrainingRun) -> RunOut:
        return cls(
            id=run.id,
            status=run.status,
            stage=run.stage,
            progress=run.progress,
            forced=run.forced,
            version=run.version,
            started_at=run.started_at,
            finished_at=run.finished_at,
            error=run.error,
            result=ResultOut.model_validate(run.result) if run.result else None,
        )


def _audit(principal: Principal, request: Request, action: str, **detail: Any) -> Any:
    def record(session: Session, run: TrainingRun) -> None:
        audited(
            session,
            principal,
            request,
            action,
            target_type="training_run",
            target_id=run.id,
            detail=detail or None,
        )

    return record


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunOut,
    responses=ERRORS,
    dependencies=[Depends(optional_json)],
)
def start_training(
    principal: Editor,
    training: Training,
    request: Request,
    body: Annotated[StartIn | None, Body()] = None,
) -> RunOut:
    """Retrain the intent model on the intents and reviewed examples in the database. The new
    examples and the current model's are compared under one protocol (the same held-out
    examples, left out of both); the model trained on all new examples goes live only if its
    examples score no worse (or with `force`). Poll GET /v1/admin/training/{id} for progress."""
    force = body.force if body else False
    run_id = training.start(
        principal.tenant_id,
        principal.id if principal.kind == "account" else None,
        force,
        audit=_audit(principal, request, "training.start", force=force),
    )
    return RunOut.of(training.get(principal.tenant_id, run_id))


@router.get("", response_model=list[RunOut], responses=ERRORS)
def list_training(principal: Editor, training: Training) -> list[RunOut]:
    """The 20 newest runs, newest first."""
    return [RunOut.of(run) for run in training.runs(principal.tenant_id)]


@router.get("/{run_id}", response_model=RunOut, responses=ERRORS)
def get_training(run_id: RowId, principal: Editor, training: Training) -> RunOut:
    return RunOut.of(training.get(principal.tenant_id, run_id))


@router.post("/{run_id}/promote", response_model=RunOut, responses=ERRORS)
def promote_training(
    run_id: RowId, principal: Editor, training: Training, request: Request
) -> RunOut:
    """Put this run's model live anyway (a refused candidate, or an earlier model back)."""
    run = training.promote(
        principal.tenant_id, run_id, audit=_audit(principal, request, "training.promote")
    )
    return RunOut.of(run)
