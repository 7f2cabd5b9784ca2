"""Live handoff: the only code that changes handoffs, agents and ratings.

Every write is one transaction under the conversation's lock (the same lock customer messages
take, so a hand-back never races a customer's turn); events for live clients are published
after the commit, as notifications: clients read the messages themselves from the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kefu.accounts.models import Account
from kefu.accounts.permissions import Permission, permissions_of
from kefu.conversations import repository
from kefu.conversations.models import Conversation, ConversationStatus, Message, Role
from kefu.conversations.service import ConversationService
from kefu.db.base import utcnow
from kefu.dialogue.state import DialogueState
from kefu.errors import Conflict, InvalidInput
from kefu.handoff import routing
from kefu.handoff.core import MAX_COMMENT, HandoffCore, name_of
from kefu.handoff.models import (
    DEFAULT_CAPACITY,
    Agent,
    AgentStatus,
    Handoff,
    HandoffStatus,
    Rating,
)
from kefu.handoff.summary import snapshot
from kefu.observability import metrics
from kefu.realtime import channels
from kefu.realtime.bus import EventBus
from kefu.text.normalize import clean_display


class HandoffService(HandoffCore):
    def __init__(self, conversations: ConversationService, bus: EventBus) -> None:
        super().__init__(conversations, bus)
        conversations.after_close.append(self.customer_closed)

    def _inbox(self, event: str, conversation_id: uuid.UUID, agent_id: int | None = None) -> None:
        # Every handoff event passes here once, after its commit: the place to count them.
        metrics.handoff_event(event)
        super()._inbox(event, conversation_id, agent_id)

    # -- agents ----------------------------------------------------------------------------

    def agent(self, account_id: int) -> Agent:
        """The account's agent profile, made with defaults on first use."""
        with self.sessions.begin() as session:
            agent = session.get(Agent, account_id)
            if agent is None:
                agent = Agent(account_id=account_id, tenant_id=self.tenant_id)
                session.add(agent)
                try:
                    session.flush()
                except IntegrityError:
                    session.rollback()
                    agent = session.get(Agent, account_id)
                    assert agent is not None
            session.expunge(agent)
        return agent

    def set_status(self, account_id: int, status: AgentStatus) -> Agent:
        self.agent(account_id)
        with self.sessions.begin() as session:
            agent = session.get(Agent, account_id)
            assert agent is not None
            agent.status = status
            agent.status_at = agent.seen_at = utcnow()
            session.flush()
            session.expunge(agent)
        if status is AgentStatus.OFFLINE:
            self._release(account_id)
        self.bus.publish(
            channels.inbox(self.tenant_id),
            {"type": "inbox", "event": "agent_status", "agent_id": account_id, "status": status},
        )
        if status is AgentStatus.ONLINE:
            self.route()
        self.publish_queue_all()  # the estimate depends on who is online
        return agent

    def _release(self, account_id: int) -> None:
        """An agent who goes offline hands their chats back to the queue (in their place),
        rather than leaving customers with a silent bot and nobody to answer."""
        now = utcnow()
        with self.routing_transaction() as session:
            mine = session.scalars(
                select(Handoff).where(
                    Handoff.status == HandoffStatus.ASSIGNED, Handoff.agent_id == account_id
                )
            ).all()
            released = [h.conversation_id for h in mine]
            for handoff in mine:
                routing.requeue(session, handoff, now)
                self._system(session, handoff.conversation_id, "live.transferred")
        for cid in released:
            self._notify_messages(cid)
            self._status(cid, ConversationStatus.WAITING_AGENT, None)
            self._inbox("queued", cid)
        if released:
            self.route()

    def touch(self, account_id: int) -> None:
        """The agent is here (their console's socket, or an action). One who was away long
        enough to be skipped by routing gets waiting customers again."""
        now = utcnow()
        with self.sessions.begin() as session:
            agent = session.get(Agent, account_id)
            if agent is None:
                return
            returning = agent.status is AgentStatus.ONLINE and (
                agent.seen_at is None or agent.seen_at < now - routing.PRESENCE
            )
            agent.seen_at = now
        if returning:
            self.route()

    def update_agent(
        self,
        account_id: int,
        capacity: int | None = None,
        skills: Sequence[str] | None = None,
        languages: Sequence[str] | None = None,
        teams: Sequence[str] | None = None,
    ) -> Agent:
        self.agent(account_id)
        with self.sessions.begin() as session:
            agent = session.get(Agent, account_id)
            assert agent is not None
            if capacity is not None:
                agent.capacity = capacity
            if skills is not None:
                agent.skills = sorted(set(skills))
            if languages is not None:
                agent.languages = sorted(set(languages))
            if teams is not None:
                agent.teams = sorted(set(teams))
            session.flush()
            session.expunge(agent)
        self.route()
        return agent

    def agents(self) -> list[tuple[Agent, str, int]]:
        """Every active account that may serve customers (whether or not it has opened the
        console yet), with its profile, name and active chats."""
        with self.reads() as session:
            active = routing.active_counts(session)
            rows = session.execute(
                select(Account, Agent)
                .outerjoin(Agent, Agent.account_id == Account.id)
                .where(Account.active.is_(True))
                .order_by(Account.username)
            ).all()
            return [
                (
                    agent
                    or Agent(
                        account_id=acc.id,
                        tenant_id=acc.tenant_id,
                        skills=[],
                        languages=[],
                        teams=[],
                        status=AgentStatus.OFFLINE,
                        capacity=DEFAULT_CAPACITY,
                    ),
                    name_of(acc),
                    active.get(acc.id, 0),
                )
                for acc, agent in rows
                if Permission.HANDOFF_WORK in permissions_of(acc.role)
            ]

    def active_of(self, account_id: int) -> int:
        with self.reads() as session:
            return routing.active_counts(session).get(account_id, 0)

    # -- an agent's actions ----------------------------------------------------------------

    def take(self, account_id: int, conversation_id: uuid.UUID, override: bool = False) -> Handoff:
        """Take a queued customer, or take over from the bot. `override` (a supervisor) may
        also take a chat another agent owns."""
        agent = self.agent(account_id)
        self.touch(account_id)
        previous: int | None = None
        # Under the routing lock: the capacity check and the assignment can't interleave with
        # another take or a routing run.
        with self.conversations.locks.lock(conversation_id), self.routing_transaction() as session:
            conv = self._conversation(session, conversation_id, lock=True)
            if conv.status is ConversationStatus.CLOSED:
                raise Conflict("the conversation is closed", code="conversation_closed")
            handoff = self._open(session, conversation_id)
            if handoff is not None and handoff.status is HandoffStatus.ASSIGNED:
                if handoff.agent_id == account_id:
                    session.expunge(handoff)
                    return handoff
                if not override:
                    raise Conflict("another agent has this conversation", code="not_yours")
                previous = handoff.agent_id
            active = routing.active_counts(session).get(account_id, 0)
            if active >= agent.capacity and not override:
                raise Conflict(
                    f"you already have {active} chats (your capacity is {agent.capacity})",
                    code="agent_full",
                )
            now = utcnow()
            if handoff is None:
                handoff = Handoff(
                    tenant_id=self.tenant_id,
                    conversation_id=conversation_id,
                    status=HandoffStatus.QUEUED,
                    reason="agent_takeover",
                    priority="normal",
                    rank=routing.rank_of("normal"),
                    language=conv.language,
                    requested_at=now,
                    summary=snapshot(DialogueState.from_json(conv.dialogue), None),
                )
                session.add(handoff)
                session.flush()
            routing.assign(session, handoff, account_id, now)
            name = name_of(session.get(Account, account_id))
            self._system(session, conversation_id, "live.joined", agent=account_id)
            session.flush()
            session.expunge(handoff)
        self._notify_messages(conversation_id)
        self._status(conversation_id, ConversationStatus.WITH_AGENT, name)
        self._inbox("assigned", conversation_id, account_id)
        if previous is not None:
            self.route()
        self.publish_queue_all()
        return handoff

    def reply(
        self,
        account_id: int,
        conversation_id: uuid.UUID,
        text: str,
        client_message_id: str | None = None,
    ) -> Message:
        text = self.conversations.validate(text, client_message_id)
        with self.conversations.locks.lock(conversation_id), self.sessions.begin() as session:
            handoff = self._owned(session, account_id, conversation_id)
            conn = session.connection()
            if client_message_id is not None:
                found = repository.find_by_client_id(conn, conversation_id, client_message_id)
                if found is not None:
                    existing = session.get(Message, found)
                    assert existing is not None
                    if existing.role is not Role.AGENT or existing.author_id != account_id:
                        # Someone else's message: never hand it back (it isn't masked).
                        raise Conflict(
                            "client_message_id is already used by another message",
                            code="client_message_id_taken",
                        )
                    session.expunge(existing)
                    return existing
            reserved = repository.reserve(conn, self.tenant_id, conversation_id, 1)
            if reserved is None:
                raise Conflict("the conversation is closed", code="conversation_closed")
            name = name_of(session.get(Account, account_id))
            message = repository.insert_message(
                conn,
                tenant_id=self.tenant_id,
                conversation_id=conversation_id,
                seq=reserved.last_seq,
                role=Role.AGENT,
                text=text,
                payload={"agent": name},
                client_message_id=client_message_id,
                author_id=account_id,
            )
            if handoff.first_reply_at is None:
                handoff.first_reply_at = message.created_at
        self._notify_messages(conversation_id)
        return message

    def transfer(
        self,
        account_id: int,
        conversation_id: uuid.UUID,
        to_agent: int | None = None,
        team: str | None = None,
        override: bool = False,
    ) -> Handoff:
        if (to_agent is None) == (team is None):
            raise InvalidInput("transfer to one agent_id or one team", code="invalid_transfer")
        if to_agent is not None:
            self.agent(to_agent)
        with self.conversations.locks.lock(conversation_id), self.routing_transaction() as session:
            handoff = self._owned(session, account_id, conversation_id, override)
            now = utcnow()
            if to_agent is not None:
                self._check_target(session, to_agent, now, override)
                routing.assign(session, handoff, to_agent, now)
                self._system(session, conversation_id, "live.joined", agent=to_agent)
                name = name_of(session.get(Account, to_agent))
            else:
                handoff.status = HandoffStatus.QUEUED
                handoff.agent_id = None
                handoff.team = team
                handoff.requested_at = now  # waits again, from now
                session.get(Conversation, conversation_id).status = (  # type: ignore[union-attr]
                    ConversationStatus.WAITING_AGENT
                )
                self._system(session, conversation_id, "live.transferred")
                name = None
            session.flush()
            session.expunge(handoff)
        self._notify_messages(conversation_id)
        status = ConversationStatus.WITH_AGENT if to_agent else ConversationStatus.WAITING_AGENT
        self._status(conversation_id, status, name)
        self._inbox("transferred", conversation_id, to_agent)
        self.route()
        self.publish_queue(conversation_id)
        return handoff

    def _check_target(self, session: Session, agent_id: int, now: datetime, override: bool) -> None:
        """A colleague may receive a chat when online, present and with a free seat (a
        supervisor may overrule the seat count, not absence)."""
        target = next(
            (a for a in routing.available(session, now) if a.account_id == agent_id), None
        )
        if target is None:
            raise Conflict("that agent is not online", code="agent_offline")
        active = routing.active_counts(session).get(agent_id, 0)
        if active >= target.capacity and not override:
            raise Conflict(
                f"that agent already has {active} chats (capacity {target.capacity})",
                code="agent_full",
            )

    def hand_back(
        self, account_id: int, conversation_id: uuid.UUID, override: bool = False
    ) -> Handoff:
        """The bot answers again."""
        with self.conversations.locks.lock(conversation_id), self.sessions.begin() as session:
            handoff = self._owned(session, account_id, conversation_id, override)
            handoff.status = HandoffStatus.RETURNED
            handoff.ended_at = utcnow()
            conv = self._conversation(session, conversation_id)
            conv.status = ConversationStatus.BOT
            conv.updated_at = handoff.ended_at
            self._system(session, conversation_id, "live.returned")
            session.flush()
            session.expunge(handoff)
        self._notify_messages(conversation_id)
        self._status(conversation_id, ConversationStatus.BOT, None)
        self._inbox("returned", conversation_id)
        self.route()
        return handoff

    def close(self, account_id: int, conversation_id: uuid.UUID, override: bool = False) -> Handoff:
        """End the chat; the customer is asked to rate it."""
        with self.conversations.locks.lock(conversation_id), self.sessions.begin() as session:
            handoff = self._owned(session, account_id, conversation_id, override)
            now = utcnow()
            handoff.status = HandoffStatus.CLOSED
            handoff.ended_at = now
            self._system(session, conversation_id, "live.closed", survey=True)
            conv = self._conversation(session, conversation_id)
            conv.status = ConversationStatus.CLOSED
            conv.closed_at = conv.updated_at = now
            session.flush()
            session.expunge(handoff)
        self._notify_messages(conversation_id)
        self._status(conversation_id, ConversationStatus.CLOSED, None)
        self._inbox("closed", conversation_id)
        self.route()
        return handoff

    def customer_closed(self, conversation_id: uuid.UUID) -> None:
        """The customer ended the conversation: its open handoff ends too."""
        with self.sessions.begin() as session:
            handoff = self._open(session, conversation_id)
            if handoff is None:
                return
            handoff.status = HandoffStatus.CLOSED
            handoff.ended_at = utcnow()
        self._inbox("closed", conversation_id)
        self.route()

    def rate(self, conversation_id: uuid.UUID, score: int, comment: str | None) -> Rating:
        if not 1 <= score <= 5:
            raise InvalidInput("score must be 1-5", code="invalid_score")
        if comment is not None:
            comment = clean_display(comment) or None
            if comment and len(comment) > MAX_COMMENT:
                raise InvalidInput(
                    f"comment is {len(comment)} characters; the limit is {MAX_COMMENT}",
                    code="comment_too_long",
                )
        with self.sessions.begin() as session:
            self._conversation(session, conversation_id)
            if self._open(session, conversation_id) is not None:
                # The survey comes when the chat ends; a rating now would pre-empt it.
                raise Conflict(
                    "the chat with a person is still going on; rate it when it ends",
                    code="chat_in_progress",
                )
            last = session.scalars(
                select(Handoff)
                .where(Handoff.conversation_id == conversation_id)
                .order_by(Handoff.id.desc())
                .limit(1)
            ).first()
            rating = Rating(
                tenant_id=self.tenant_id,
                conversation_id=conversation_id,
                handoff_id=last.id if last else None,
                agent_id=last.agent_id if last else None,
                score=score,
                comment=comment,
            )
            session.add(rating)
            try:
                session.flush()
            except IntegrityError:
                raise Conflict(
                    "this conversation has already been rated", code="already_rated"
                ) from None
            session.expunge(rating)
        return rating
