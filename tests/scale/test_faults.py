"""Faults in a scaled-out kefu (issue 9), under traffic: a worker SIGKILLed, Redis restarted,
PostgreSQL restarted. kefu runs as `kefu serve --workers 2` (tests/scale/conftest.py).

Every test holds kefu to the client contract of tests/scale/traffic.py: a client resends a
message with the SAME client_message_id after a connection error, a timeout, a 5xx or a 429,
until kefu acknowledges it (201, or 200 for a retry of a stored message); then kefu has stored
it exactly once, with the bot's reply. Redis and PostgreSQL here are private to the test.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
import redis

from tests.scale.conftest import Deployment, PostgresCluster, RedisServer
from tests.scale.traffic import Attempt, Subscriber, Traffic, stored_once_problems

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

# `deploy` comes last in each test's arguments: set up last, so kefu stops before the services.
Deploy = Callable[..., Deployment]
OUTAGE_S = 5.0  # how long Redis or PostgreSQL stays down
RECOVER_S = 10.0  # how soon after it is back kefu works as before, without a restart
PROMPT_S = 2.0  # a push that arrives within this of the message's acknowledgement is live
FAST_S = 2.0  # p95 of the answers while the database is away
FINISH_S = 20.0  # for the messages in flight when the traffic stops, to be acknowledged


def _no_server_errors(attempts: list[Attempt], allowed: frozenset[int] = frozenset()) -> None:
    bad = [a for a in attempts if a.status is not None and a.status >= 500]
    bad = [a for a in bad if a.status not in allowed]
    assert not bad, f"{len(bad)} server errors, e.g. {bad[:3]}"


@pytest.mark.timeout(150)
def test_sigkill_worker_during_burst(
    postgres_url: str, private_redis: RedisServer, deploy: Deploy
) -> None:
    """SIGKILL one worker in the middle of a burst: whatever it was doing (a turn half stored,
    a conversation lock held, a response half sent), each client's resend with the same
    client_message_id gets acknowledged (by the restarted worker or the other process), every
    acknowledged message is stored once with its reply, and every conversation goes on."""
    kefu = deploy({"KEFU_DATABASE_URL": postgres_url, "KEFU_REDIS_URL": private_redis.url})
    traffic = Traffic([kefu.url], clients=8, pause=0.0)
    traffic.start()
    try:
        time.sleep(3.0)
        killed_at = time.monotonic()
        killed = kefu.kill_worker()
        time.sleep(4.0)
    finally:
        traffic.stop(finish_within=FINISH_S)
    summary = traffic.summary()
    assert traffic.acked_between(0, killed_at) >= 8, f"no burst before the kill: {summary}"
    assert traffic.acked_between(killed_at, time.monotonic()) >= 8, f"none after: {summary}"
    assert stored_once_problems(kefu.url, traffic) == []
    stuck = {n: sorted(c.pending) for n, c in enumerate(traffic.conversations) if c.pending}
    assert not stuck, (
        f"messages never acknowledged within {FINISH_S} s of the burst: {stuck}; {summary}; "
        f"seconds left on their conversation locks in Redis: {_lock_ttls(private_redis, traffic)}"
    )
    assert not [c.refused for c in traffic.conversations if c.refused], summary
    _no_server_errors(traffic.attempts, allowed=frozenset({503}))
    pids = kefu.worker_pids()  # the master replaced the killed worker
    assert len(pids) == 2 and killed not in pids, (killed, pids)
    for n in range(traffic.clients):  # the conversations go on
        assert traffic.send_one_more(n), f"client {n}: {traffic.conversations[n]}"
    assert stored_once_problems(kefu.url, traffic) == []


def _lock_ttls(server: RedisServer, traffic: Traffic) -> dict[int, int]:
    """Diagnosis: the TTL of each stuck conversation's lock (RedisLocks' key), -2 if none."""
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    try:
        return {
            n: int(client.ttl(f"kefu:conv-lock:{c.id}"))
            for n, c in enumerate(traffic.conversations)
            if c.pending
        }
    except redis.RedisError:
        return {}
    finally:
        client.close()


@pytest.mark.timeout(150)
def test_redis_restart_during_traffic(
    postgres_url: str, private_redis: RedisServer, deploy: Deploy
) -> None:
    """Redis stops for OUTAGE_S under traffic: messages are still acknowledged (the
    conversation lock falls back to PostgreSQL), real-time pushes may lapse; once Redis is back
    pushes are live again within RECOVER_S without restarting kefu, and the customer's socket
    (kept open, or reconnected with ?after=SEQ) has every message exactly once, in order."""
    kefu = deploy({"KEFU_DATABASE_URL": postgres_url, "KEFU_REDIS_URL": private_redis.url})
    traffic = Traffic([kefu.url], clients=4, pause=0.1)
    traffic.open()
    # The socket watches client 1's conversation; either worker may serve either of them.
    watched = 1
    socket = Subscriber(kefu.url, traffic.conversations[watched])
    socket.start()
    try:
        traffic.start()
        assert socket.wait_for(2, timeout=15), f"no push before the fault: {traffic.summary()}"
        private_redis.stop()
        down = time.monotonic()
        time.sleep(OUTAGE_S)
        private_redis.start()
        up = time.monotonic()
        recovered = _wait_live(traffic, socket, watched, since=up, within=RECOVER_S + 5)
    finally:
        traffic.stop(finish_within=FINISH_S)
    summary = traffic.summary()
    during = traffic.acked_between(down, up)
    print(f"acked while Redis was down: {during}; live again {recovered} s after; {summary}")
    assert during >= traffic.clients, (
        f"message submission stopped while Redis was down ({during} acknowledged in "
        f"{OUTAGE_S} s): {summary}"
    )
    assert recovered is not None and recovered <= RECOVER_S, (
        f"real-time delivery not live again {RECOVER_S} s after Redis came back "
        f"(recovered after {recovered} s): acks {traffic.acks(watched)[-8:]}, "
        f"arrivals {sorted(socket.arrived.items())[-8:]}"
    )
    assert not [c.pending for c in traffic.conversations if c.pending], summary
    _no_server_errors(traffic.attempts, allowed=frozenset({503}))
    assert stored_once_problems(kefu.url, traffic) == []

    # The socket has every message of its conversation once, in order: kept open, or after
    # the widget's reconnect with ?after=SEQ.
    last = traffic.acks(watched)[-1][1]
    if not socket.wait_for(last, timeout=5):
        socket.reconnect()
        socket.wait_for(last, timeout=10)
    socket.close()
    assert socket.seqs == list(range(1, last + 1)), (socket.connects, socket.seqs)


def _wait_live(
    traffic: Traffic, socket: Subscriber, n: int, since: float, within: float
) -> float | None:
    """Seconds from `since` to the first acknowledgement from which on every message of
    client `n` reached the socket within PROMPT_S (at least three of them); None if that did
    not happen by `since + within`."""
    while time.monotonic() < since + within:
        time.sleep(0.25)
        acks = [(at, seq) for at, seq in traffic.acks(n) if at >= since]
        late = [i for i, (at, seq) in enumerate(acks) if not _prompt(socket, at, seq)]
        # Messages acknowledged in the last PROMPT_S may still be on their way.
        live = [a for a in acks[late[-1] + 1 if late else 0 :] if a[0] < time.monotonic() - 2]
        if len(live) >= 3:
            return round(live[0][0] - since, 2)
    return None


def _prompt(socket: Subscriber, at: float, seq: int) -> bool:
    arrived = socket.arrived.get(seq)
    if arrived is None:
        return time.monotonic() - at < PROMPT_S  # not yet late
    return arrived - at <= PROMPT_S


@pytest.mark.timeout(150)
def test_postgres_restart_during_traffic(
    private_postgres: PostgresCluster, private_redis: RedisServer, deploy: Deploy
) -> None:
    """PostgreSQL stops (-m fast) for OUTAGE_S under traffic: every request that needs it
    gets 503 database_unavailable with Retry-After, fast (p95 < FAST_S), no 500 and no hang;
    /readyz says 503. Once PostgreSQL is back kefu serves again within RECOVER_S without a
    restart, and messages acknowledged before, during (none expected) and after are stored
    once (clients resend on 503 with the same client_message_id)."""
    kefu = deploy({"KEFU_DATABASE_URL": private_postgres.url, "KEFU_REDIS_URL": private_redis.url})
    traffic = Traffic([kefu.url], clients=4, pause=0.1, retry_cap=0.3)
    traffic.open()
    conv = traffic.conversations[0]
    traffic.start()
    try:
        time.sleep(2.0)
        stopping = time.monotonic()
        private_postgres.stop("fast")
        down = time.monotonic()
        probes: list[tuple[str, httpx.Response | Exception, float]] = []
        while time.monotonic() < down + OUTAGE_S:
            probes += _probe(kefu.url, conv.id, conv.auth)
            time.sleep(0.5)
        restarting = time.monotonic()
        private_postgres.start()
        up = time.monotonic()
        while time.monotonic() < up + RECOVER_S + 5 and traffic.acked_between(up, 1e12) < 8:
            time.sleep(0.1)
        time.sleep(1.0)  # traffic after the recovery, too
    finally:
        traffic.stop(finish_within=FINISH_S)
    summary = traffic.summary()
    print(f"stop took {down - stopping:.2f} s, start {up - restarting:.2f} s; {summary}")
    assert traffic.acked_between(0, stopping) >= 4, f"no traffic before the stop: {summary}"

    # While the database was away: 503 database_unavailable with Retry-After, fast.
    outage = traffic.between(down, restarting)
    assert len(outage) >= 8, f"too few requests during the outage: {summary}"
    wrong = [a for a in outage if (a.status, a.error) != (503, "database_unavailable")]
    assert not wrong, f"{len(wrong)} of {len(outage)} not 503 database_unavailable: {wrong[:5]}"
    assert all(a.retry_after and a.retry_after.isdigit() for a in outage), outage[:5]
    latencies = sorted(a.latency for a in outage)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"outage answers: {len(outage)}, p95 {p95:.3f} s, max {latencies[-1]:.3f} s")
    assert p95 < FAST_S and latencies[-1] < 2 * FAST_S, (p95, latencies[-1])
    for what, got, latency in probes:
        assert isinstance(got, httpx.Response), (what, got)
        assert got.status_code == 503, (what, got.status_code, got.text[:200])
        assert latency < 2 * FAST_S, (what, latency)
        if what != "readyz":
            assert got.json()["error"]["code"] == "database_unavailable", (what, got.text)
            assert got.headers.get("retry-after", "").isdigit(), (what, got.headers)
    _no_server_errors(traffic.attempts, allowed=frozenset({503}))
    assert not [a for a in traffic.attempts if a.status is None], "a process stopped answering"

    # Back: kefu serves again without a restart, and nothing was stored twice or lost.
    first = min(
        (a.ended for a in traffic.attempts if a.started >= up and a.status == 201), default=None
    )
    assert first is not None and first - up <= RECOVER_S, f"no recovery: {summary}"
    stuck = {n: sorted(c.pending) for n, c in enumerate(traffic.conversations) if c.pending}
    assert not stuck, f"never acknowledged: {stuck}; {summary}"
    assert stored_once_problems(kefu.url, traffic) == []
    assert httpx.get(f"{kefu.url}/readyz", timeout=5).status_code == 200


def _probe(
    url: str, conversation_id: str, auth: dict[str, str]
) -> list[tuple[str, httpx.Response | Exception, float]]:
    """Requests that need the database, each with how long it took to answer."""
    requests = [
        ("readyz", httpx.Request("GET", f"{url}/readyz")),
        ("start", httpx.Request("POST", f"{url}/v1/conversations", json={"language": "zh"})),
        (
            "history",
            httpx.Request(
                "GET", f"{url}/v1/conversations/{conversation_id}/messages", headers=auth
            ),
        ),
    ]
    results: list[tuple[str, httpx.Response | Exception, float]] = []
    for what, request in requests:
        started = time.monotonic()
        try:
            with httpx.Client(timeout=10) as http:
                got: httpx.Response | Exception = http.send(request)
        except httpx.TransportError as exc:
            got = exc
        results.append((what, got, time.monotonic() - started))
    return results
