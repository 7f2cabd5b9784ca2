"""Imports every table so `Base.metadata` is complete (for Alembic and tests)."""

from kefu.conversations.models import Conversation, Customer, Message, TurnEvent
from kefu.db.base import Base
from kefu.knowledge.models import KnowledgeEntryRow, KnowledgePackRow
from kefu.tenants.models import Tenant

__all__ = [
    "Base",
    "Conversation",
    "Customer",
    "KnowledgeEntryRow",
    "KnowledgePackRow",
    "Message",
    "Tenant",
    "TurnEvent",
]
