"""Retention and data-subject rights: age out transcripts, export or erase one customer.

Retention, per tenant (`tenants.retention_days`, `retention_mode`):
- `anonymise` (the default mode): message texts keep only their PII-masked form, the link to
  the customer is cut (and a customer left with no conversation is deleted), and turn events
  lose their text. Intents, decisions, sentiment and timings stay, so analytics still add up.
- `delete`: the conversation, its messages and its turn events are deleted.
Each run handles conversations last updated before the cutoff, in batches, each batch its own
transaction, so it can run beside live traffic and resume after a crash. Runs are idempotent.

Data-subject requests: `export_customer` returns everything kefu holds about one customer as
JSON-ready data; `erase_customer` removes their texts and contact fields but keeps the rows
analytics count (conversations, turn events without text).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from kefu.analytics.models import ConversationFact, TurnFact
from kefu.config import Settings
from kefu.conversations.models import (
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    Role,
    Ticket,
    TurnEvent,
)
from kefu.db.base import utcnow
from kefu.errors import InvalidInput, NotFound
from kefu.handoff.models import Handoff, Rating
from kefu.privacy import audit
from kefu.privacy.audit import Actor
from kefu.privacy.crypto import blind_index, derive_index_key
from kefu.privacy.pii import PiiDetector
from kefu.privacy.rules import pack_detector
from kefu.tenants.models import Tenant

MODES = ("anonymise", "delete")
ERASED = "[erased]"
# What a turn event keeps once its text is gone: enough for every analytics figure.
_KEPT_UNDERSTANDING = (
    "language",
    "script",
    "faq_outcome",
    "intent",
    "intent_confidence",
    "intent_ranking",
    "sentiment",
    "faq",
)


@dataclass
class PurgeResult:
    tenant: str
    mode: str
    conversations: int = 0
    messages: int = 0
    customers: int = 0
    cutoff: datetime | None = None
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "mode": self.mode,
            "conversations": self.conversations,
            "messages": self.messages,
            "customers": self.customers,
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "skipped": self.skipped,
        }


def set_policy(session: Session, tenant: Tenant, days: int | None, mode: str) -> dict[str, Any]:
    if days is not None and not 1 <= days <= 36500:
        raise InvalidInput(
            "retention days must be 1-36500, or empty to keep forever", code="invalid_retention"
        )
    if mode not in MODES:
        raise InvalidInput(
            f"retention mode must be one of {', '.join(MODES)}", code="invalid_retention"
        )
    before = {"days": tenant.retention_days, "mode": tenant.retention_mode}
    tenant.retention_days = days
    tenant.retention_mode = mode
    return before


def strip_understanding(understanding: dict[str, Any] | None) -> dict[str, Any]:
    kept = {k: v for k, v in (understanding or {}).items() if k in _KEPT_UNDERSTANDING}
    kept["redacted"] = True
    return kept


def _anonymise_conversations(
    session: Session, ids: list[uuid.UUID], erase: bool, pii: PiiDetector | None = None
) -> int:
    """Replace texts (masked, or the erased marker), strip turn events. Returns messages done."""
    messages = session.scalars(select(Message).where(Message.conversation_id.in_(ids))).all()
    for message in messages:
        # Bot replies echo the customer's data now (names, corrected ids, booking cards and
        # ride lists in the payload): masked too, and their rich payloads dropped.
        message.text = ERASED if erase else (pii or pack_detector()).mask(message.text)
        if message.role is Role.BOT:
            message.payload = None
    # A survey comment is free text the customer wrote.
    for rating in session.scalars(
        select(Rating).where(Rating.conversation_id.in_(ids), Rating.comment.is_not(None))
    ):
        rating.comment = ERASED if erase else (pii or pack_detector()).mask(rating.comment or "")
    for event in session.scalars(select(TurnEvent).where(TurnEvent.conversation_id.in_(ids))):
        if not (event.understanding or {}).get("redacted"):
            event.understanding = strip_understanding(event.understanding)
    # The analytics rollups keep the masked words of unanswered questions (knowledge gaps) and
    # which conversations were one customer's: both go too; the counts stay.
    session.execute(
        update(TurnFact)
        .where(TurnFact.conversation_id.in_(ids))
        .values(text_masked=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(ConversationFact)
        .where(ConversationFact.conversation_id.in_(ids))
        .values(customer_id=None)
        .execution_options(synchronize_session=False)
    )
    # The dialogue state holds slot values the customer typed (phone, ids, descriptions).
    # (No in-session sync: evaluating "dialogue = NULL" in Python would compare ciphertext.)
    session.execute(
        update(Conversation)
        .where(Conversation.id.in_(ids))
        .values(dialogue=None)
        .execution_options(synchronize_session=False)
    )
    return len(messages)


def _drop_orphan_customers(session: Session, customer_ids: set[uuid.UUID]) -> int:
    dropped = 0
    for cid in customer_ids:
        still = session.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.customer_id == cid)
        )
        if not still:
            session.execute(delete(Customer).where(Customer.id == cid))
            dropped += 1
    return dropped


def purge_tenant(
    sessions: sessionmaker[Session],
    tenant_id: int,
    now: datetime | None = None,
    batch: int = 200,
    progress: Callable[[int], None] | None = None,
    pii: PiiDetector | None = None,
) -> PurgeResult:
    """Apply the tenant's retention policy once. `sessions` must be system sessions."""
    now = now or utcnow()
    with sessions() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("tenant not found", code="tenant_not_found")
        result = PurgeResult(tenant.slug, tenant.retention_mode)
        if tenant.retention_days is None:
            result.skipped = "no retention period set"
            return result
        cutoff = now - timedelta(days=tenant.retention_days)
        mode = tenant.retention_mode
    result.cutoff = cutoff
    last: uuid.UUID | None = None
    while True:
        with sessions.begin() as session:
            stmt = (
                select(Conversation.id, Conversation.customer_id)
                .where(Conversation.tenant_id == tenant_id, Conversation.updated_at < cutoff)
                .order_by(Conversation.id)
                .limit(batch)
                # Row locks (PostgreSQL): a customer message can't commit into a conversation
                # while its batch is being anonymised; it waits, then finds it closed (409).
                .with_for_update()
            )
            if mode == "anonymise":
                # Anonymised conversations keep no customer link (and are closed, so they get
                # no new messages): that is how a rerun skips them.
                stmt = stmt.where(Conversation.customer_id.is_not(None))
            if last is not None:
                stmt = stmt.where(Conversation.id > last)
            rows = session.execute(stmt).all()
            if not rows:
                break
            ids = [r[0] for r in rows]
            customers = {r[1] for r in rows if r[1] is not None}
            last = ids[-1]
            if mode == "delete":
                session.execute(delete(TurnEvent).where(TurnEvent.conversation_id.in_(ids)))
                session.execute(delete(Ticket).where(Ticket.conversation_id.in_(ids)))
                session.execute(delete(Rating).where(Rating.conversation_id.in_(ids)))
                session.execute(delete(Handoff).where(Handoff.conversation_id.in_(ids)))
                # Replies point at the message they answer: drop the links, then the rows.
                session.execute(
                    update(Message).where(Message.conversation_id.in_(ids)).values(reply_to_id=None)
                )
                result.messages += (
                    session.scalar(
                        select(func.count())
                        .select_from(Message)
                        .where(Message.conversation_id.in_(ids))
                    )
                    or 0
                )
                session.execute(delete(Message).where(Message.conversation_id.in_(ids)))
                session.execute(delete(Conversation).where(Conversation.id.in_(ids)))
            else:
                result.messages += _anonymise_conversations(session, ids, False, pii)
                session.execute(
                    update(Conversation)
                    .where(Conversation.id.in_(ids))
                    .values(
                        customer_id=None,
                        status=ConversationStatus.CLOSED,
                        closed_at=func.coalesce(Conversation.closed_at, now),
                    )
                )
            result.customers += _drop_orphan_customers(session, customers)
            result.conversations += len(ids)
            audit.record(
                session,
                Actor.system("retention"),
                f"retention.{mode}",
                tenant_id=tenant_id,
                target_type="conversations",
                detail={"count": len(ids), "cutoff": cutoff.isoformat()},
            )
        if progress is not None:
            progress(len(ids))
    return result


def purge_all(
    sessions: sessionmaker[Session],
    now: datetime | None = None,
    batch: int = 200,
    pii: PiiDetector | None = None,
) -> list[PurgeResult]:
    with sessions() as session:
        tenant_ids = list(session.scalars(select(Tenant.id).order_by(Tenant.id)))
    return [purge_tenant(sessions, tid, now, batch, pii=pii) for tid in tenant_ids]


# -- data-subject rights ---------------------------------------------------------------------


@dataclass
class Export:
    customer: dict[str, Any]
    conversations: list[dict[str, Any]] = field(default_factory=list)


def find_customer(session: Session, tenant_id: int, customer: str, settings: Settings) -> uuid.UUID:
    """A customer by kefu id, or by the operator's own id for them (found by blind index)."""
    try:
        cid = uuid.UUID(customer)
    except ValueError:
        pass
    else:
        return get_customer(session, tenant_id, cid).id
    digest = blind_index(derive_index_key(settings.signing_key), customer)
    found = session.scalar(
        select(Customer.id).where(
            Customer.tenant_id == tenant_id, Customer.external_id_hash == digest
        )
    )
    if found is None:
        raise NotFound(
            f"no customer with id or external id {customer!r}", code="customer_not_found"
        )
    return found


def get_customer(session: Session, tenant_id: int, customer_id: uuid.UUID) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.tenant_id != tenant_id:
        raise NotFound("customer not found", code="customer_not_found")
    return customer


def export_customer(session: Session, tenant_id: int, customer_id: uuid.UUID) -> dict[str, Any]:
    """Everything kefu holds about one customer, decrypted: their own data, for them."""
    customer = get_customer(session, tenant_id, customer_id)
    conversations = session.scalars(
        select(Conversation)
        .where(Conversation.customer_id == customer.id)
        .order_by(Conversation.created_at)
    ).all()
    out: dict[str, Any] = {
        "customer": {
            "id": str(customer.id),
            "external_id": customer.external_id,
            "display_name": customer.display_name,
            "created_at": customer.created_at.isoformat(),
        },
        "conversations": [],
        "exported_at": utcnow().isoformat(),
    }
    for conv in conversations:
        messages = session.scalars(
            select(Message).where(Message.conversation_id == conv.id).order_by(Message.seq)
        ).all()
        turns = {
            t.message_id: t
            for t in session.scalars(select(TurnEvent).where(TurnEvent.conversation_id == conv.id))
        }
        out["conversations"].append(
            {
                "id": str(conv.id),
                "status": conv.status.value,
                "language": conv.language,
                "channel": conv.channel,
                "created_at": conv.created_at.isoformat(),
                "closed_at": conv.closed_at.isoformat() if conv.closed_at else None,
                "rating": next(
                    (
                        {"score": r.score, "comment": r.comment}
                        for r in session.scalars(
                            select(Rating).where(Rating.conversation_id == conv.id)
                        )
                    ),
                    None,
                ),
                "messages": [
                    {
                        "seq": m.seq,
                        "role": m.role.value,
                        "text": m.text,
                        "created_at": m.created_at.isoformat(),
                        **(
                            {
                                "understood_as": {
                                    "intent": turns[m.id].intent,
                                    "decision": turns[m.id].decision,
                                    "sentiment": (turns[m.id].understanding or {}).get("sentiment"),
                                }
                            }
                            if m.id in turns
                            else {}
                        ),
                    }
                    for m in messages
                ],
            }
        )
    return out


def erase_customer(session: Session, tenant_id: int, customer_id: uuid.UUID) -> dict[str, int]:
    """Remove one customer's texts and contact fields; keep what analytics count."""
    customer = get_customer(session, tenant_id, customer_id)
    ids = list(
        session.scalars(select(Conversation.id).where(Conversation.customer_id == customer.id))
    )
    messages = _anonymise_conversations(session, ids, erase=True) if ids else 0
    customer.external_id = None
    customer.display_name = None
    customer.external_id_hash = None
    return {"conversations": len(ids), "messages": messages}
