"""Intents and their examples (training data for the next retraining), and "try it": what kefu
would answer to a question, with everything it understood, without storing anything."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kefu.accounts.permissions import Permission
from kefu.accounts.service import Principal
from kefu.api.auth import TenantReadSession, TenantSession, allowed, audited
from kefu.api.deps import RuntimeDep, require_json
from kefu.api.schemas import ErrorOut, Printable
from kefu.dialogue.pipeline import Pipeline
from kefu.dialogue.turns import ConversationState
from kefu.errors import Conflict, Forbidden, InvalidInput
from kefu.knowledge import intent_store
from kefu.knowledge.intents import IntentSpec
from kefu.knowledge.pack import Localized, LocalizedList
from kefu.runtime import Runtime

router = APIRouter(prefix="/v1/admin", tags=["intents"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429)
}
Reader = Annotated[Principal, allowed(Permission.KNOWLEDGE_READ)]
Writer = Annotated[Principal, allowed(Permission.KNOWLEDGE_WRITE)]
MAX_EXAMPLES = 2000  # per language and intent


class IntentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Localized | None = None
    examples: LocalizedList

    def spec(self, name: str) -> IntentSpec:
        for lang in ("zh", "en"):
            if len(self.examples.get(lang)) > MAX_EXAMPLES:
                raise InvalidInput(f"examples.{lang}: at most {MAX_EXAMPLES} examples")
        cleaned = LocalizedList(
            zh=list(dict.fromkeys(e.strip() for e in self.examples.zh)),
            en=list(dict.fromkeys(e.strip() for e in self.examples.en)),
        )
        try:
            spec = IntentSpec(name=name, description=self.description, examples=cleaned)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first.get("loc", ())) or "intent"
            raise InvalidInput(f"{loc}: {first.get('msg', 'invalid value')}") from None
        if not spec.examples.zh and not spec.examples.en:
            raise InvalidInput("examples: an intent needs at least one example")
        return spec


class IntentCreate(IntentBody):
    name: str = Field(max_length=128)
    pack: str | None = Field(None, min_length=1, max_length=64)


class IntentOut(BaseModel):
    name: str
    pack: str
    description: Localized | None
    examples: LocalizedList
    reviewed: int
    flow: str | None


def _out(runtime: Runtime, stored: intent_store.StoredIntent) -> IntentOut:
    skills = runtime.conversations.bot.pipeline.skills
    return IntentOut(
        name=stored.spec.name,
        pack=stored.pack,
        description=stored.spec.description,
        examples=stored.spec.examples,
        reviewed=stored.reviewed,
        flow=skills.flow_for_intent(stored.spec.name),
    )


@router.get("/intents", response_model=list[IntentOut], responses=ERRORS)
def list_intents(
    principal: Reader, session: TenantReadSession, runtime: RuntimeDep
) -> list[IntentOut]:
    return [_out(runtime, s) for s in intent_store.list_intents(session, principal.tenant_id)]


@router.post(
    "/intents",
    response_model=IntentOut,
    status_code=201,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def create_intent(
    body: IntentCreate,
    principal: Writer,
    session: TenantSession,
    runtime: RuntimeDep,
    request: Request,
) -> IntentOut:
    """A new intent: recognised after the next retraining."""
    spec = body.spec(body.name)
    stored = intent_store.save_intent(
        session, principal.tenant_id, spec, create=True, pack=body.pack
    )
    audited(session, principal, request, "intent.create", target_type="intent", target_id=spec.name)
    return _out(runtime, stored)


@router.put(
    "/intents/{name}",
    response_model=IntentOut,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def update_intent(
    name: str,
    body: IntentBody,
    principal: Writer,
    session: TenantSession,
    runtime: RuntimeDep,
    request: Request,
) -> IntentOut:
    stored = intent_store.save_intent(session, principal.tenant_id, body.spec(name), create=False)
    audited(session, principal, request, "intent.update", target_type="intent", target_id=name)
    return _out(runtime, stored)


@router.delete("/intents/{name}", status_code=204, responses=ERRORS)
def delete_intent(
    name: str,
    principal: Writer,
    session: TenantSession,
    runtime: RuntimeDep,
    request: Request,
) -> Response:
    flow = runtime.conversations.bot.pipeline.skills.flow_for_intent(name)
    if flow:
        raise Conflict(
            f"intent {name!r} starts the flow {flow!r}: remove it from the flow first",
            code="intent_in_use",
        )
    intent_store.delete_intent(session, principal.tenant_id, name)
    audited(session, principal, request, "intent.delete", target_type="intent", target_id=name)
    return Response(status_code=204)


class TryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Printable = Field(min_length=1, max_length=4000)
    language: Literal["zh", "en"] | None = None


class TryOut(BaseModel):
    language: str
    decision: str
    reason: str
    flow: str | None
    replies: list[dict[str, Any]]
    intent: str | None
    intent_confidence: float
    intent_ranking: list[dict[str, Any]]
    faq: list[dict[str, Any]]
    faq_outcome: str | None
    entities: list[dict[str, Any]]
    sentiment: dict[str, Any] | None
    latency_ms: float


@router.post("/try", response_model=TryOut, responses=ERRORS, dependencies=[Depends(require_json)])
def try_it(body: TryIn, principal: Reader, runtime: RuntimeDep) -> TryOut:
    """What kefu would answer to `text` as a new conversation's first message, and why.
    Nothing is stored and the operator's systems are never called (flows that would call
    them say the system is unavailable)."""
    if principal.tenant_id != runtime.tenant.id:
        raise Forbidden(
            "this server answers for another tenant; try it on the server that serves yours",
            code="wrong_tenant",
        )
    live = runtime.conversations.bot.pipeline
    dry = Pipeline(live.understander, live.knowledge, live.threshold, live.skills, backend=None)
    language = body.language or runtime.settings.default_language
    result = dry.handle(body.text, ConversationState("bot", language, None))
    parse = result.parse
    entries = live.knowledge.entries
    return TryOut(
        language=parse.language,
        decision=result.decision.kind.value,
        reason=result.decision.reason,
        flow=result.trace.get("flow"),
        replies=[{"text": r.text, "payload": r.payload} for r in result.replies],
        intent=parse.intent,
        intent_confidence=parse.intent_confidence,
        intent_ranking=[{"intent": i, "confidence": c} for i, c in parse.intent_ranking],
        faq=[
            {
                "entry_id": c.entry_id,
                "score": c.score,
                "method": c.method,
                "matched": c.matched,
                "question": entries[c.entry_id].question.get(parse.language)
                if c.entry_id in entries
                else None,
            }
            for c in parse.faq
        ],
        faq_outcome=parse.faq_outcome,
        entities=[e.as_dict() for e in parse.entities],
        sentiment=parse.sentiment.as_dict() if parse.sentiment else None,
        latency_ms=round(result.latency_ms, 2),
    )
