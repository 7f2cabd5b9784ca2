"""Common actions: identity verification with a lock-out, forgetting slots, personal notes."""

from __future__ import annotations

from typing import Any

from kefu.backends.base import BackendError
from kefu.dialogue.actions import ActionContext, action

MAX_VERIFY_FAILURES = 3


@action("common.verify")
def verify(ctx: ActionContext, phone: str, last4: str) -> dict[str, Any]:
    """Check phone + order tail with the operator; after three failures the conversation is
    locked out of self-service verification (a person takes over)."""
    customer = ctx.state.customer
    if not customer or _locked(ctx):
        return {"verified": False, "locked": True}
    backend = ctx.need_backend("verify_identity")
    return _outcome(ctx, bool(backend.verify_identity(customer, str(phone), str(last4))))


@action("common.verify_code")
def verify_code(ctx: ActionContext, phone: str, code: str) -> dict[str, Any]:
    """The one-time code the operator sent (backend.send_code) instead of an order number."""
    customer = ctx.state.customer
    if not customer or _locked(ctx):
        return {"verified": False, "locked": True}
    backend = ctx.need_backend("check_code")
    return _outcome(ctx, bool(backend.check_code(customer, str(code))))


def _locked(ctx: ActionContext) -> bool:
    """Locked out in this conversation: no more guesses reach the operator, even if the
    customer starts the flow again. (Locking the account itself across conversations is the
    operator's call: its verify_identity may refuse.)"""
    return int((ctx.state.profile or {}).get("verify_failures", 0)) >= MAX_VERIFY_FAILURES


def _outcome(ctx: ActionContext, ok: bool) -> dict[str, Any]:
    if ok:
        ctx.state.verified = True
        return {"verified": True, "locked": False}
    failures = int((ctx.state.profile or {}).get("verify_failures", 0)) + 1
    ctx.state.profile = {**(ctx.state.profile or {}), "verify_failures": failures}
    return {"verified": False, "locked": failures >= MAX_VERIFY_FAILURES}


@action("common.forget")
def forget(ctx: ActionContext, names: list[str]) -> None:
    frame = ctx.state.active
    if frame is not None:
        for name in names:
            frame.slots.pop(name, None)


@action("common.personal_notes")
def personal_notes(ctx: ActionContext) -> dict[str, str] | None:
    """Something worth telling a returning rider: the bike of their last ride was faulty and
    has been repaired since ("你上次骑行的B128000车况已经修复")."""
    if not ctx.state.customer or ctx.backend is None:
        return None
    try:
        for ride in ctx.backend.rides(ctx.state.customer, limit=3):
            bike = ctx.backend.bike_status(ride.bike_code)
            if bike.repaired_at is not None and bike.repaired_at > ride.started_at:
                return {"bike": bike.code}
    except BackendError:
        return None  # a greeting never fails for want of a note
    return None
