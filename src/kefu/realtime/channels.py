"""Bus channel names, in one place: what a subscriber listens to and a publisher sends on."""

from __future__ import annotations

import uuid


def conversation(tenant_id: int, conversation_id: uuid.UUID | str) -> str:
    """Everything live about one conversation: new messages (as notifications only: sockets
    read the messages after their last `seq` from the database), typing, status, queue."""
    return f"conv:{tenant_id}:{conversation_id}"


def inbox(tenant_id: int) -> str:
    """The agents' shared view: handoffs queued, assigned, transferred, returned, closed."""
    return f"inbox:{tenant_id}"
