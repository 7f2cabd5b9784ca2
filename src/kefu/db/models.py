"""Imports every table so `Base.metadata` is complete (for Alembic and tests)."""

import kefu.backends.demo.models  # noqa: F401 - the demo operator's tables
from kefu.accounts.models import Account, ApiKey, ConsoleSession
from kefu.analytics.models import ConversationFact, RefreshState, SentAlert, TurnFact
from kefu.conversations.models import Conversation, Customer, Message, Ticket, TurnEvent
from kefu.db.base import Base
from kefu.handoff.models import Agent, CannedResponse, Handoff, Rating
from kefu.knowledge.models import (
    IntentRow,
    KnowledgeEntryRow,
    KnowledgePackRow,
    KnowledgeVersion,
    TrainingRun,
    TurnReview,
)
from kefu.privacy.audit import AuditEvent
from kefu.tenants.models import Tenant

__all__ = [
    "Account",
    "Agent",
    "ApiKey",
    "AuditEvent",
    "Base",
    "CannedResponse",
    "ConsoleSession",
    "Conversation",
    "ConversationFact",
    "Customer",
    "Handoff",
    "IntentRow",
    "KnowledgeEntryRow",
    "KnowledgePackRow",
    "KnowledgeVersion",
    "Message",
    "Rating",
    "RefreshState",
    "SentAlert",
    "Tenant",
    "Ticket",
    "TrainingRun",
    "TurnEvent",
    "TurnFact",
    "TurnReview",
]
