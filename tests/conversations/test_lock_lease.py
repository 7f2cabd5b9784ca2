"""Redis conversation locks are leases: renewed while a turn runs, so a slow turn keeps its
conversation, and freed soon after their process dies, so a killed worker doesn't block its
customers for long (tests/scale/test_faults.py kills one for real)."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from kefu.conversations import locks
from kefu.errors import NotReady


def test_a_slow_turn_keeps_its_lock_past_the_lease(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "LEASE_S", 1)
    monkeypatch.setattr(locks, "RENEW_EVERY_S", 0.3)
    monkeypatch.setattr(locks, "WAIT_TIMEOUT_S", 0.2)
    client = redis.Redis.from_url(redis_url)
    first, second = locks.RedisLocks(client), locks.RedisLocks(client)  # two processes
    conversation = uuid.uuid4()
    try:
        with first.lock(conversation):
            time.sleep(2.5)  # more than two leases
            with pytest.raises(NotReady, match="busy"), second.lock(conversation):
                pass
        with second.lock(conversation):  # released at once when the turn ends
            pass
    finally:
        first.close()
        second.close()
        client.close()


def test_a_dead_holders_lock_frees_itself_within_the_lease(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "LEASE_S", 1)
    monkeypatch.setattr(locks, "WAIT_TIMEOUT_S", 3)
    client = redis.Redis.from_url(redis_url)
    conversation = uuid.uuid4()
    # What a SIGKILLed worker leaves behind: a lease nobody renews or releases.
    client.set(f"kefu:conv-lock:{conversation}", "dead-worker-token", px=1000)
    live = locks.RedisLocks(client)
    started = time.monotonic()
    try:
        with live.lock(conversation):
            waited = time.monotonic() - started
        assert 0.5 < waited < 2.0, waited
    finally:
        live.close()
        client.close()
