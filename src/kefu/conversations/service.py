"""The conversation service: start conversations and handle customer messages.

A message is stored first (its own transaction), then answered, then its replies and turn event
are stored together. A per-conversation lock makes one conversation's messages go through this
one at a time: each is stored and answered before the next is stored. (Locks are not FIFO: of
two messages sent at the same instant, either may go first.) A retry with the same
`client_message_id` returns what was stored; if the first attempt died before answering, the
retry answers it (its replies then follow any messages stored in between).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kefu.conversations import repository
from kefu.conversations.engine import AnswerEngine
from kefu.conversations.locks import ConversationLocks
from kefu.conversations.models import (
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    Role,
    TurnEvent,
)
from kefu.db.base import utcnow
from kefu.dialogue.escalation import EscalationRules
from kefu.dialogue.state import DialogueState
from kefu.dialogue.turns import ConversationState, TurnResult
from kefu.errors import Conflict, InvalidInput, NotFound
from kefu.observability import logs, metrics
from kefu.privacy.crypto import blind_index, keyring_of
from kefu.privacy.pii import PiiDetector
from kefu.privacy.redact import redact_understanding
from kefu.privacy.rules import pack_detector
from kefu.realtime import channels
from kefu.realtime.bus import EventBus, LocalBus
from kefu.text.normalize import clean_display

MAX_CLIENT_ID = 128
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Posted:
    message: Message
    replies: Sequence[Message]
    status: ConversationStatus
    duplicate: bool


class ConversationService:
    def __init__(
        self,
        db: Engine,
        sessions: sessionmaker[Session],
        reads: sessionmaker[Session],
        tenant_id: int,
        bot: AnswerEngine,
        locks: ConversationLocks,
        max_chars: int,
        default_language: str,
        pii: PiiDetector | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.db = db
        self.sessions = sessions
        self.reads = reads
        self.tenant_id = tenant_id
        self.bot = bot
        self.locks = locks
        self.max_chars = max_chars
        self.default_language = default_language
        self.pii = pii or pack_detector()
        self.bus: EventBus = bus or LocalBus()
        # Called with every turn's full result (story tests).
        self.observers: list[Callable[[TurnResult], None]] = []
        # Run inside the transaction that stores a turn (the handoff queue entry), with the
        # conversation's status after the turn.
        self.turn_hooks: list[
            Callable[[Connection, Message, TurnResult, ConversationStatus], None]
        ] = []
        # Run after a turn is stored (routing a queued customer to an agent).
        self.after_turn: list[Callable[[Posted, TurnResult], None]] = []
        self.after_close: list[Callable[[uuid.UUID], None]] = []
        # The tenant's escalation rules for each turn (None: the defaults).
        self.rules: Callable[[], EscalationRules | None] = lambda: None

    # -- reads ---------------------------------------------------------------------------

    def get(self, conversation_id: uuid.UUID) -> Conversation:
        with self.reads() as session:
            return self._get(session, conversation_id)

    def messages(
        self, conversation_id: uuid.UUID, after_seq: int = 0, limit: int = 100
    ) -> list[Message]:
        with self.reads() as session:
            self._get(session, conversation_id)
            return list(
                session.scalars(
                    select(Message)
                    .where(
                        Message.tenant_id == self.tenant_id,
                        Message.conversation_id == conversation_id,
                        Message.seq > after_seq,
                    )
                    .order_by(Message.seq)
                    .limit(limit)
                )
            )

    def _get(
        self, session: Session, conversation_id: uuid.UUID, lock: bool = False
    ) -> Conversation:
        conv = session.get(Conversation, conversation_id, with_for_update=lock)
        if conv is None or conv.tenant_id != self.tenant_id:
            raise NotFound("conversation not found", code="conversation_not_found")
        return conv

    # -- writes --------------------------------------------------------------------------

    def start(
        self,
        language: str | None = None,
        channel: str = "web",
        customer_external_id: str | None = None,
        customer_name: str | None = None,
        customer_verified: bool = True,
        client_key: str | None = None,
    ) -> Conversation:
        """`customer_verified`: the caller vouches for the id (a signed claim, the operator's
        own CLI or server); only then may flows act on that account. `client_key` makes the
        start idempotent: the same key (for the same customer) returns the same conversation."""
        key_hash = hashlib.sha256(client_key.encode()).hexdigest() if client_key else None
        by_key = select(Conversation).where(
            Conversation.tenant_id == self.tenant_id, Conversation.client_key_hash == key_hash
        )
        # The external id is stored encrypted: customers are found by its blind index.
        digest = (
            blind_index(keyring_of(self.db), customer_external_id) if customer_external_id else None
        )
        by_digest = select(Customer).where(
            Customer.tenant_id == self.tenant_id, Customer.external_id_hash == digest
        )
        with self.sessions.begin() as session:
            if key_hash and (known := session.scalar(by_key)) is not None:
                return self._same_customer(session, known, digest)
            customer = session.scalar(by_digest) if digest else None
            if customer is None:
                customer = Customer(
                    tenant_id=self.tenant_id,
                    external_id=customer_external_id,
                    external_id_hash=digest,
                    display_name=customer_name,
                )
                try:
                    with session.begin_nested():  # a concurrent start may create it first
                        session.add(customer)
                except IntegrityError:
                    customer = session.scalars(by_digest).one()
            conv = Conversation(
                tenant_id=self.tenant_id,
                customer_id=customer.id,
                language=language or self.default_language,
                channel=channel,
                # The flows act for this customer at the operator's backend.
                dialogue=DialogueState(
                    customer=customer_external_id if customer_verified else None,
                    name=customer_name,
                ).to_json(),
                client_key_hash=key_hash,
            )
            try:
                with session.begin_nested():  # a concurrent start with the same key won
                    session.add(conv)
            except IntegrityError:
                if not key_hash:
                    raise
                return self._same_customer(session, session.scalars(by_key).one(), digest)
        return conv

    @staticmethod
    def _same_customer(session: Session, conv: Conversation, digest: str | None) -> Conversation:
        owner = session.get(Customer, conv.customer_id) if conv.customer_id else None
        if (owner.external_id_hash if owner else None) != digest:
            raise Conflict(
                "client_key already started a conversation for another customer",
                code="client_key_reused",
            )
        return conv

    def close(self, conversation_id: uuid.UUID) -> Conversation:
        with self.locks.lock(conversation_id), self.sessions.begin() as session:
            conv = self._get(session, conversation_id, lock=True)
            closing = conv.status is not ConversationStatus.CLOSED
            if closing:
                conv.status = ConversationStatus.CLOSED
                conv.closed_at = conv.updated_at = utcnow()
        if closing:
            for hook in self.after_close:
                hook(conversation_id)
            self.bus.publish(
                channels.conversation(self.tenant_id, conversation_id),
                {
                    "type": "status",
                    "status": "closed",
                    "agent": None,
                    "conversation_id": str(conversation_id),
                },
            )
        return conv

    def post(
        self, conversation_id: uuid.UUID, text: str, client_message_id: str | None = None
    ) -> Posted:
        # Log lines of this turn carry the conversation id, and only those: a job thread or a
        # test's main thread goes on to other work afterwards.
        token = logs.conversation_id.set(str(conversation_id))
        try:
            return self._post(conversation_id, text, client_message_id)
        finally:
            logs.conversation_id.reset(token)

    def _post(self, conversation_id: uuid.UUID, text: str, client_message_id: str | None) -> Posted:
        text = self.validate(text, client_message_id)
        rules = self.rules()  # before any transaction: a cold cache reads the database
        with self.locks.lock(conversation_id):
            try:
                stored = self._store_customer_message(
                    conversation_id, text, client_message_id, rules
                )
            except IntegrityError:
                # Another process stored the same client_message_id first: it is a retry.
                stored = self._store_customer_message(
                    conversation_id, text, client_message_id, rules
                )
            if isinstance(stored, Posted):
                return stored
            message, state = stored
            result = self.bot.pipeline.handle(message.text, state)
            posted = self._store_turn(message, result)
            for observe in self.observers:
                observe(result)
        if not posted.duplicate:
            metrics.message_answered(result.decision.kind.value, result.latency_ms / 1000)
            self.notify(conversation_id)
            for hook in self.after_turn:
                try:
                    hook(posted, result)
                except Exception:  # the turn is stored; a live update can be caught up
                    logger.exception("after-turn hook failed for %s", conversation_id)
        return posted

    def notify(self, conversation_id: uuid.UUID) -> None:
        """Tell live clients the conversation has new messages (they read them from the
        database after the last `seq` they have, so a lost notice loses nothing)."""
        self.bus.publish(
            channels.conversation(self.tenant_id, conversation_id),
            {"type": "message", "conversation_id": str(conversation_id)},
        )

    def validate(self, text: str, client_message_id: str | None) -> str:
        """The text as stored (cleaned), or InvalidInput: for customers' and agents' messages."""
        if not isinstance(text, str):
            raise InvalidInput("text must be a string", code="invalid_text")
        cleaned = clean_display(text)
        if not cleaned:
            raise InvalidInput("text must not be empty or only whitespace", code="empty_text")
        if len(cleaned) > self.max_chars:
            raise InvalidInput(
                f"text is {len(cleaned)} characters; the limit is {self.max_chars}",
                code="text_too_long",
            )
        if client_message_id is not None and not (
            0 < len(client_message_id) <= MAX_CLIENT_ID and client_message_id.isprintable()
        ):
            raise InvalidInput(
                f"client_message_id must be 1-{MAX_CLIENT_ID} printable characters",
                code="invalid_client_message_id",
            )
        return cleaned

    def _store_customer_message(
        self,
        conversation_id: uuid.UUID,
        text: str,
        client_message_id: str | None,
        rules: EscalationRules | None = None,
    ) -> Posted | tuple[Message, ConversationState]:
        # The common case runs on a bare connection; a retry or an error takes the ORM path.
        with self.db.begin() as conn:
            found = client_message_id is not None and repository.find_by_client_id(
                conn, conversation_id, client_message_id
            )
            reserved = (
                None if found else repository.reserve(conn, self.tenant_id, conversation_id, 1)
            )
            if reserved is not None:
                message = repository.insert_message(
                    conn,
                    tenant_id=self.tenant_id,
                    conversation_id=conversation_id,
                    seq=reserved.last_seq,
                    role=Role.CUSTOMER,
                    text=text,
                    client_message_id=client_message_id,
                )
                return message, ConversationState(
                    reserved.status.value,
                    reserved.language,  # type: ignore[arg-type]
                    reserved.dialogue,
                    rules=rules,
                )
        with self.sessions.begin() as session:
            if found:
                assert client_message_id is not None
                return self._stored(session, conversation_id, client_message_id, rules)
            self._get(session, conversation_id)  # raises NotFound if it doesn't exist
            raise Conflict("conversation is closed; start a new one", code="conversation_closed")

    def _stored(
        self,
        session: Session,
        conversation_id: uuid.UUID,
        client_message_id: str,
        rules: EscalationRules | None = None,
    ) -> Posted | tuple[Message, ConversationState]:
        """A retry: the stored turn, or the stored message still to be answered."""
        conv = self._get(session, conversation_id, lock=True)
        existing = session.scalars(
            select(Message).where(
                Message.conversation_id == conversation_id,
                Message.client_message_id == client_message_id,
            )
        ).one()
        if self._answered(session, existing):
            return Posted(existing, self._replies(session, existing), conv.status, duplicate=True)
        return existing, ConversationState(
            conv.status.value,
            conv.language,  # type: ignore[arg-type]
            conv.dialogue,
            rules=rules,
        )

    def _answered(self, session: Session, message: Message) -> bool:
        return (
            session.scalar(select(TurnEvent.id).where(TurnEvent.message_id == message.id))
            is not None
        )

    def _replies(self, session: Session, message: Message) -> list[Message]:
        return list(
            session.scalars(
                select(Message)
                .where(
                    Message.conversation_id == message.conversation_id,
                    Message.reply_to_id == message.id,
                )
                .order_by(Message.seq)
            )
        )

    def _store_turn(self, message: Message, result: TurnResult) -> Posted:
        try:
            return self._insert_turn(message, result)
        except IntegrityError:
            # Another process (no shared lock) answered this message first: return its turn.
            with self.reads() as session:
                conv = self._get(session, message.conversation_id)
                return Posted(message, self._replies(session, message), conv.status, True)

    def _insert_turn(self, message: Message, result: TurnResult) -> Posted:
        count = len(result.replies)
        with self.db.begin() as conn:
            reserved = repository.reserve(
                conn,
                self.tenant_id,
                message.conversation_id,
                count,
                language=result.parse.language,
                handoff=result.wants_handoff,
                dialogue=result.state,
            )
            if reserved is None:  # closed while we were answering: keep the answer anyway
                reserved = repository.reserve_closed(conn, message.conversation_id, count)
            first = reserved.last_seq - count + 1
            replies = [
                repository.insert_message(
                    conn,
                    tenant_id=self.tenant_id,
                    conversation_id=message.conversation_id,
                    seq=first + offset,
                    role=Role.BOT,
                    text=reply.text,
                    payload=reply.payload or None,
                    reply_to_id=message.id,
                )
                for offset, reply in enumerate(result.replies)
            ]
            decision = result.decision
            repository.insert_turn(
                conn,
                tenant_id=self.tenant_id,
                conversation_id=message.conversation_id,
                message_id=message.id,
                language=result.parse.language,
                decision=decision.kind.value,
                reason=decision.reason or None,
                intent=result.parse.intent,
                faq_entry_id=decision.entry_id,
                score=decision.score,
                # Turn events feed analytics and are not encrypted: PII masked here.
                understanding={
                    **redact_understanding(result.parse.summary(), message.text, self.pii),
                    "dialogue": result.event(),
                },
                latency_ms=round(result.latency_ms, 3),
            )
            for effect in result.effects:
                if effect.get("kind") == "ticket":
                    repository.insert_ticket(
                        conn,
                        id=effect["ticket_id"],
                        tenant_id=self.tenant_id,
                        conversation_id=message.conversation_id,
                        message_id=message.id,
                        topic=effect["topic"],
                        reason=effect["reason"],
                        detail=effect.get("detail"),
                    )
            for hook in self.turn_hooks:
                hook(conn, message, result, reserved.status)
            return Posted(message, replies, reserved.status, duplicate=False)
