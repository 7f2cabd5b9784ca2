"""Imports every table so `Base.metadata` is complete (for Alembic and tests)."""

import kefu.backends.demo.models  # noqa: F401 - the demo operator's tables
from kefu.accounts.models import Account, ApiKey, ConsoleSession
from kefu.conversations.models import Conversation, Customer, Message, Ticket, TurnEvent
from kefu.db.base import Base
from kefu.knowledge.models import KnowledgeEntryRow, KnowledgePackRow
from kefu.privacy.audit import AuditEvent
from kefu.tenants.models import Tenant

__all__ = [
    "Account",
    "ApiKey",
    "AuditEvent",
    "Base",
    "ConsoleSession",
    "Conversation",
    "Customer",
    "KnowledgeEntryRow",
    "KnowledgePackRow",
    "Message",
    "Tenant",
    "Ticket",
    "TurnEvent",
]
