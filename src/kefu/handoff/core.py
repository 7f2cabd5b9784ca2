"""The handoff core: queueing what the bot hands over, routing, the queue's numbers, the
tenant's escalation rules, and the helpers every live-chat action shares (system messages,
events). `HandoffService` (service.py) adds the agents and their actions.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kefu.accounts.models import Account
from kefu.conversations import repository
from kefu.conversations.models import Conversation, ConversationStatus, Message, Role
from kefu.conversations.service import ConversationService, Posted
from kefu.db.base import utcnow
from kefu.dialogue.escalation import EscalationRules
from kefu.dialogue.state import DialogueState
from kefu.dialogue.turns import TurnResult
from kefu.errors import Conflict, NotFound
from kefu.handoff import routing
from kefu.handoff.models import (
    OPEN_STATUSES,
    Handoff,
    HandoffStatus,
)
from kefu.handoff.summary import snapshot
from kefu.i18n import t
from kefu.realtime import channels
from kefu.realtime.bus import EventBus
from kefu.tenants.models import Tenant

log = logging.getLogger(__name__)
_HANDOFFS = cast(Table, Handoff.__table__)
MAX_COMMENT = 2000
RULES_TTL_S = 5.0  # a rules change reaches every process within this


def name_of(account: Account | None) -> str:
    if account is None:
        return ""
    return account.display_name or account.username


class HandoffCore:
    def __init__(self, conversations: ConversationService, bus: EventBus) -> None:
        self.conversations = conversations
        self.bus = bus
        self.tenant_id = conversations.tenant_id
        self.sessions = conversations.sessions
        self.reads = conversations.reads
        conversations.turn_hooks.append(self._queue_from_turn)
        conversations.after_turn.append(self._after_turn)
        conversations.rules = self.rules
        self._rules: tuple[float, EscalationRules | None] = (0.0, None)
        self._queued: set[int] = set()  # messages whose turn queued a handoff, until routed
        self._routing_lock = threading.RLock()

    # -- the tenant's escalation rules, cached briefly (every process reads the database) --

    def rules(self) -> EscalationRules | None:
        loaded_at, rules = self._rules
        if time.monotonic() - loaded_at < RULES_TTL_S:
            return rules
        with self.reads() as session:
            raw = session.scalar(select(Tenant.escalation).where(Tenant.id == self.tenant_id))
        try:
            rules = EscalationRules.model_validate(raw) if raw else None
        except ValueError:  # stored by an older version: defaults beat a failed turn
            log.warning("stored escalation rules are invalid; using the defaults")
            rules = None
        self._rules = (time.monotonic(), rules)
        return rules

    def forget_rules(self) -> None:
        self._rules = (0.0, None)

    # -- the bot asks for a person (inside the turn's transaction) ------------------------

    def _queue_from_turn(
        self, conn: Connection, message: Message, result: TurnResult, status: ConversationStatus
    ) -> None:
        wanted = result.trace.get("handoff") if result.wants_handoff else None
        if not wanted or status not in (
            ConversationStatus.WAITING_AGENT,
            ConversationStatus.WITH_AGENT,
        ):
            return
        priority = str(wanted.get("priority") or "normal")
        rank = routing.rank_of(priority)
        open_row = conn.execute(
            select(_HANDOFFS.c.id, _HANDOFFS.c.rank).where(
                _HANDOFFS.c.conversation_id == message.conversation_id,
                _HANDOFFS.c.status.in_([s.value for s in OPEN_STATUSES]),
            )
        ).first()
        if open_row is not None:
            if rank < open_row.rank:  # e.g. safety while queued: more urgent now
                conn.execute(
                    _HANDOFFS.update()
                    .where(_HANDOFFS.c.id == open_row.id)
                    .values(rank=rank, priority=priority, reason=str(wanted.get("reason")))
                )
                self._queued.add(message.id)
            return
        conn.execute(
            insert(_HANDOFFS).values(
                tenant_id=self.tenant_id,
                conversation_id=message.conversation_id,
                status=HandoffStatus.QUEUED.value,
                reason=str(wanted.get("reason") or "unknown")[:64],
                priority=priority,
                rank=rank,
                skill=wanted.get("skill"),
                language=result.parse.language,
                requested_at=utcnow(),
                summary=snapshot(DialogueState.from_json(result.state), wanted),
            )
        )
        self._queued.add(message.id)

    def _after_turn(self, posted: Posted, result: TurnResult) -> None:
        # Only a customer newly queued (or moved up) changes the queue: "hello?" while
        # waiting costs nothing here.
        if posted.message.id in self._queued:
            self._queued.discard(posted.message.id)
            cid = posted.message.conversation_id
            self._inbox("queued", cid)
            self.route()
            self.publish_queue(cid)

    # -- routing ---------------------------------------------------------------------------

    @contextmanager
    def routing_transaction(self) -> Iterator[Session]:
        """A transaction in which who-serves-whom may change: serialised with every other
        (a lock in this process, and PostgreSQL's advisory lock across processes), taken
        before any conversation row is locked, so no two can deadlock."""
        with self._routing_lock, self.sessions.begin() as session:
            routing.lock_routing(session, self.tenant_id)
            yield session

    def route(self) -> None:
        """Give queued customers to free agents; tell everyone concerned. Chats of an account
        that may no longer serve (deactivated, demoted) go back to the queue first."""
        now = utcnow()
        try:
            with self.routing_transaction() as session:
                orphans = routing.orphaned(session)
                lost = [h.conversation_id for h in orphans]
                for handoff in orphans:
                    routing.requeue(session, handoff, now)
                    self._system(session, handoff.conversation_id, "live.transferred")
                done = routing.route(session, self.tenant_id, now)
                names = []
                for a in done:
                    self._system(session, a.conversation_id, "live.joined", agent=a.agent_id)
                    names.append(name_of(session.get(Account, a.agent_id)))
        except IntegrityError:  # a concurrent change of the same rows: the next route wins
            log.info("routing raced another process; it will run again on the next change")
            return
        for cid in lost:
            self._notify_messages(cid)
            self._status(cid, ConversationStatus.WAITING_AGENT, None)
            self._inbox("queued", cid)
        for assignment, name in zip(done, names, strict=True):
            self._notify_messages(assignment.conversation_id)
            self._status(assignment.conversation_id, ConversationStatus.WITH_AGENT, name)
            self._inbox("assigned", assignment.conversation_id, assignment.agent_id)
        if done or lost:
            self.publish_queue_all()

    def queue(self, conversation_id: uuid.UUID) -> routing.QueueInfo:
        with self.reads() as session:
            return routing.queue_info(session, self._open(session, conversation_id), utcnow())

    def publish_queue(self, conversation_id: uuid.UUID) -> None:
        info = self.queue(conversation_id)
        if info.position is not None:
            self._publish_conv(conversation_id, {"type": "queue", **queue_json(info)})

    def publish_queue_all(self) -> None:
        """Every waiting customer's new place and wait (one snapshot of the queue)."""
        with self.reads() as session:
            snapshot = routing.QueueSnapshot(session, utcnow())
            queued = session.scalars(
                select(Handoff).where(Handoff.status == HandoffStatus.QUEUED)
            ).all()
            infos = [(h.conversation_id, snapshot.info(h)) for h in queued]
        for cid, info in infos:
            self._publish_conv(cid, {"type": "queue", **queue_json(info)})

    # -- reads -----------------------------------------------------------------------------

    def owner_of(self, conversation_id: uuid.UUID) -> int | None:
        """The agent who has the conversation now, if any."""
        with self.reads() as session:
            return session.scalar(
                select(Handoff.agent_id).where(
                    Handoff.conversation_id == conversation_id,
                    Handoff.status == HandoffStatus.ASSIGNED,
                )
            )

    def names(self, account_ids: Sequence[int]) -> dict[int, str]:
        if not account_ids:
            return {}
        with self.reads() as session:
            rows = session.scalars(select(Account).where(Account.id.in_(set(account_ids))))
            return {a.id: name_of(a) for a in rows}

    # -- helpers ---------------------------------------------------------------------------

    def _conversation(
        self, session: Session, conversation_id: uuid.UUID, lock: bool = False
    ) -> Conversation:
        conv = session.get(Conversation, conversation_id, with_for_update=lock)
        if conv is None:
            raise NotFound("conversation not found", code="conversation_not_found")
        return conv

    def _open(self, session: Session, conversation_id: uuid.UUID) -> Handoff | None:
        return session.scalars(
            select(Handoff).where(
                Handoff.conversation_id == conversation_id,
                Handoff.status.in_(OPEN_STATUSES),
            )
        ).first()

    def _open_or_fail(self, session: Session, conversation_id: uuid.UUID) -> Handoff:
        self._conversation(session, conversation_id)
        handoff = self._open(session, conversation_id)
        if handoff is None:
            raise Conflict("no person is handling this conversation", code="no_handoff")
        return handoff

    def _owned(
        self, session: Session, account_id: int, conversation_id: uuid.UUID, override: bool = False
    ) -> Handoff:
        """The open handoff, if it is this agent's (`override`: a supervisor, any)."""
        handoff = self._open_or_fail(session, conversation_id)
        if override:
            return handoff
        if handoff.status is not HandoffStatus.ASSIGNED:
            raise Conflict("take the conversation first", code="not_yours")
        if handoff.agent_id != account_id:
            raise Conflict("another agent has this conversation", code="not_yours")
        return handoff

    def _system(
        self,
        session: Session,
        conversation_id: uuid.UUID,
        key: str,
        agent: int | None = None,
        survey: bool = False,
    ) -> int:
        """A message from kefu to the customer, in their language (stored like any other)."""
        conv = self._conversation(session, conversation_id)
        conn = session.connection()
        reserved = repository.reserve(conn, self.tenant_id, conversation_id, 1)
        if reserved is None:
            reserved = repository.reserve_closed(conn, conversation_id, 1)
        name = name_of(session.get(Account, agent)) if agent is not None else ""
        payload: dict[str, Any] = {"kind": key.split(".", 1)[1]}
        if name:
            payload["agent"] = name
        if survey:
            payload["survey"] = {"scale": [1, 5]}
        repository.insert_message(
            conn,
            tenant_id=self.tenant_id,
            conversation_id=conversation_id,
            seq=reserved.last_seq,
            role=Role.SYSTEM,
            text=t(key, conv.language, agent=name),
            payload=payload,
        )
        return reserved.last_seq

    def _publish_conv(self, conversation_id: uuid.UUID, event: dict[str, Any]) -> None:
        self.bus.publish(
            channels.conversation(self.tenant_id, conversation_id),
            {**event, "conversation_id": str(conversation_id)},
        )

    def _notify_messages(self, conversation_id: uuid.UUID) -> None:
        self.conversations.notify(conversation_id)

    def _status(
        self, conversation_id: uuid.UUID, status: ConversationStatus, agent: str | None
    ) -> None:
        self._publish_conv(
            conversation_id, {"type": "status", "status": status.value, "agent": agent}
        )

    def _inbox(self, event: str, conversation_id: uuid.UUID, agent_id: int | None = None) -> None:
        """`agent_id`: who has the chat now, so a console knows a new one is its own."""
        frame: dict[str, Any] = {
            "type": "inbox",
            "event": event,
            "conversation_id": str(conversation_id),
        }
        if agent_id is not None:
            frame["agent_id"] = agent_id
        self.bus.publish(channels.inbox(self.tenant_id), frame)


def queue_json(info: routing.QueueInfo) -> dict[str, Any]:
    return {
        "position": info.position,
        "wait_seconds": info.wait_seconds,
        "agents_online": info.agents_online,
    }
