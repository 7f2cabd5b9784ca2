"""Per-conversation locks, so one conversation's messages are handled strictly one at a time.

`LocalLocks` serves a single process. `RedisLocks` (used when KEFU_REDIS_URL is set) extends the
guarantee across worker processes and hosts.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import redis

from kefu.errors import NotReady

# Longest a turn may hold the lock before it is considered dead: well past the database's own
# lock wait (SQLite busy_timeout, 30 s), so a slow turn is never overtaken by the next one.
LOCK_TIMEOUT_S = 120
WAIT_TIMEOUT_S = 30


class ConversationLocks(Protocol):
    def lock(self, conversation_id: uuid.UUID) -> AbstractContextManager[None]: ...


class LocalLocks:
    """Striped locks: bounded memory however many conversations there are."""

    def __init__(self, stripes: int = 1024) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]

    @contextmanager
    def lock(self, conversation_id: uuid.UUID) -> Iterator[None]:
        with self._locks[zlib.crc32(conversation_id.bytes) % len(self._locks)]:
            yield


class RedisLocks:
    def __init__(self, client: redis.Redis, prefix: str = "kefu:conv-lock:") -> None:
        self.client = client
        self.prefix = prefix

    @contextmanager
    def lock(self, conversation_id: uuid.UUID) -> Iterator[None]:
        lock = self.client.lock(
            f"{self.prefix}{conversation_id}",
            timeout=LOCK_TIMEOUT_S,
            blocking_timeout=WAIT_TIMEOUT_S,
            thread_local=False,
        )
        try:
            acquired = lock.acquire()
        except redis.RedisError as exc:
            raise NotReady(f"conversation lock unavailable: {exc}") from exc
        if not acquired:
            raise NotReady("conversation is busy; try again")
        try:
            yield
        finally:
            # An expired lock is already someone else's: nothing to undo.
            with contextlib.suppress(redis.RedisError):
                lock.release()
