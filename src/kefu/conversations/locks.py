"""Per-conversation locks, so one conversation's messages are handled strictly one at a time.

`LocalLocks` serves a single process. `RedisLocks` (used when KEFU_REDIS_URL is set) extends the
guarantee across worker processes and hosts. While Redis is unreachable, `FallbackLocks` takes the
same lock in PostgreSQL (a session advisory lock), so customers keep being answered in order
during a Redis restart instead of getting 503s.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import redis
from redis.exceptions import LockError
from redis.lock import Lock
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from kefu.errors import NotReady

log = logging.getLogger("kefu.locks")

# A Redis lock is a lease: its holder renews it every RENEW_EVERY_S while the turn runs, so a
# slow turn keeps it, and a process that dies (SIGKILL, out of memory) frees its conversations
# within LEASE_S instead of blocking them.
LEASE_S = 10
RENEW_EVERY_S = 3
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


class LockServiceDown(NotReady):
    """The lock service itself is unreachable (not merely: the conversation is busy)."""


class RedisLocks:
    def __init__(self, client: redis.Redis, prefix: str = "kefu:conv-lock:") -> None:
        self.client = client
        self.prefix = prefix
        self._held: dict[int, Lock] = {}
        self._guard = threading.Lock()
        self._closed = threading.Event()
        self._keeper: threading.Thread | None = None

    @contextmanager
    def lock(self, conversation_id: uuid.UUID) -> Iterator[None]:
        lock = self.client.lock(
            f"{self.prefix}{conversation_id}",
            timeout=LEASE_S,
            blocking_timeout=WAIT_TIMEOUT_S,
            thread_local=False,
        )
        try:
            acquired = lock.acquire()
        except redis.RedisError as exc:
            raise LockServiceDown(f"conversation lock unavailable: {exc}") from exc
        if not acquired:
            raise NotReady("conversation is busy; try again")
        with self._guard:
            self._held[id(lock)] = lock
            if self._keeper is None:
                self._keeper = threading.Thread(
                    target=self._renew, name="kefu-lock-keeper", daemon=True
                )
                self._keeper.start()
        try:
            yield
        finally:
            with self._guard:
                self._held.pop(id(lock), None)
            # An expired lock is already someone else's: nothing to undo.
            with contextlib.suppress(redis.RedisError, LockError):
                lock.release()

    def _renew(self) -> None:
        """One thread per process renews every lease held longer than RENEW_EVERY_S (most
        turns take milliseconds, so this is rarely any work)."""
        while not self._closed.wait(RENEW_EVERY_S):
            with self._guard:
                held = list(self._held.values())
            for lock in held:
                try:
                    lock.reacquire()
                except LockError:  # expired or taken (Redis restarted?): no longer exclusive
                    log.warning("conversation lock %s lost its lease mid-turn", lock.name)
                except redis.RedisError as exc:
                    log.warning("conversation lock %s not renewed: %s", lock.name, exc)

    def close(self) -> None:
        self._closed.set()


# The two-key form of PostgreSQL's advisory locks: its own key space, apart from the one-key
# lock that serialises database preparation (kefu.runtime).
_PG_NAMESPACE = 0x6B66  # "kf"


class DatabaseLocks:
    """Per-conversation locks in PostgreSQL: a session advisory lock held on a pooled
    connection for the turn. Costs a connection per turn in flight, hence only a fallback, and
    at most `holders` at once per process, so the turns themselves still find connections in
    the pool (10 + 20 overflow)."""

    def __init__(self, engine: Engine, holders: int = 8) -> None:
        self.engine = engine
        self._slots = threading.BoundedSemaphore(holders)

    @contextmanager
    def lock(self, conversation_id: uuid.UUID) -> Iterator[None]:
        key = int.from_bytes(conversation_id.bytes[:4], "big", signed=True)
        params = {"ns": _PG_NAMESPACE, "key": key}
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        if not self._slots.acquire(timeout=WAIT_TIMEOUT_S):
            raise NotReady("conversation is busy; try again")
        try:
            conn = self._take(params, deadline)
            try:
                yield  # the turn's own errors pass through unchanged
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), params)
                    conn.commit()
                except SQLAlchemyError:
                    # Still holding the lock, maybe: this connection must not go back to the
                    # pool (a broken connection releases its locks by itself).
                    conn.invalidate()
                conn.close()
        finally:
            self._slots.release()

    def _take(self, params: dict[str, int], deadline: float) -> Connection:
        conn: Connection | None = None
        try:
            conn = self.engine.connect()
            while not conn.execute(text("SELECT pg_try_advisory_lock(:ns, :key)"), params).scalar():
                conn.commit()
                if time.monotonic() > deadline:
                    conn.close()
                    raise NotReady("conversation is busy; try again")
                time.sleep(0.01)
            conn.commit()
            return conn
        except SQLAlchemyError as exc:
            if conn is not None:
                conn.close()
            raise NotReady(f"conversation lock unavailable: {exc}") from exc


class FallbackLocks:
    """`primary` (Redis) while it answers; `fallback` (the database) while it doesn't.

    Around the switch, a turn holding one kind of lock may overlap one holding the other for
    the same conversation; messages of one conversation still get distinct sequence numbers
    (a unique key), so the cost is at worst a retried message, never a lost or doubled one."""

    def __init__(self, primary: ConversationLocks, fallback: ConversationLocks) -> None:
        self.primary, self.fallback = primary, fallback
        self._down_since: float | None = None

    @contextmanager
    def lock(self, conversation_id: uuid.UUID) -> Iterator[None]:
        held = contextlib.ExitStack()
        try:
            held.enter_context(self.primary.lock(conversation_id))
            if self._down_since is not None:
                log.warning("conversation locks: Redis is back; using it again")
                self._down_since = None
        except LockServiceDown as exc:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("conversation locks: %s; using the database until it is back", exc)
            held.enter_context(self.fallback.lock(conversation_id))
        with held:
            yield

    def close(self) -> None:
        close = getattr(self.primary, "close", None)
        if close is not None:
            close()
