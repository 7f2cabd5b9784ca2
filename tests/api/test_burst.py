"""The loopback burst check: one client hammering a real server gets 429s with Retry-After, no
5xx, and never more than its limit, while another client keeps getting answers."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from kefu.testing import Server

CUSTOMER_LIMIT = 10
IP_LIMIT = 150
BURST_SECONDS = 3.0
THREADS = 8


def test_burst_is_limited_while_another_client_is_served(tmp_path: Path) -> None:
    server = Server(
        tmp_path / "var",
        KEFU_RATE_LIMIT_CUSTOMER=f"{CUSTOMER_LIMIT}/minute",
        KEFU_RATE_LIMIT_IP=f"{IP_LIMIT}/minute",
        # Loopback is the proxy, so X-Forwarded-For can give the two clients two addresses.
        KEFU_TRUSTED_PROXIES='["127.0.0.1"]',
    )
    server.start()
    try:
        flooder = {"X-Forwarded-For": "203.0.113.66"}
        bystander = {"X-Forwarded-For": "203.0.113.77"}
        flood = httpx.post(f"{server.url}/v1/conversations", headers=flooder).json()
        calm = httpx.post(f"{server.url}/v1/conversations", headers=bystander).json()

        statuses: Counter[int] = Counter()
        limited_by: Counter[str] = Counter()
        bad_retry_after: list[str | None] = []
        lock = threading.Lock()
        stop = threading.Event()
        body = json.dumps({"text": "押金怎么退？"})
        headers = {
            **flooder,
            "Authorization": f"Bearer {flood['token']}",
            "Content-Type": "application/json",
        }

        def hammer() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            while not stop.is_set():
                try:
                    conn.request("POST", f"/v1/conversations/{flood['id']}/messages", body, headers)
                    res = conn.getresponse()
                    payload = res.read()
                except (http.client.HTTPException, ConnectionError):
                    conn.close()  # the server may close a connection; open another
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                    continue
                with lock:
                    statuses[res.status] += 1
                    if res.status == 429:
                        retry_after = res.getheader("Retry-After")
                        if not (retry_after and retry_after.isdigit() and int(retry_after) >= 1):
                            bad_retry_after.append(retry_after)
                        limited_by[json.loads(payload)["error"]["message"].split(";")[0]] += 1
            conn.close()

        threads = [threading.Thread(target=hammer) for _ in range(THREADS)]
        for t in threads:
            t.start()
        served: list[tuple[int, float]] = []
        try:
            deadline = time.monotonic() + BURST_SECONDS
            with httpx.Client(base_url=server.url, timeout=10) as other:
                while time.monotonic() < deadline and len(served) < CUSTOMER_LIMIT // 2:
                    time.sleep(BURST_SECONDS / CUSTOMER_LIMIT)
                    sent = time.monotonic()
                    res = other.post(
                        f"/v1/conversations/{calm['id']}/messages",
                        json={"text": "How do I get my deposit back?"},
                        headers={**bystander, "Authorization": f"Bearer {calm['token']}"},
                    )
                    served.append((res.status_code, time.monotonic() - sent))
            time.sleep(max(0.0, deadline - time.monotonic()))
        finally:
            stop.set()
            for t in threads:
                t.join(10)
    finally:
        server.stop()

    assert not any(code >= 500 for code in statuses), statuses
    assert set(statuses) <= {201, 429}, statuses
    assert statuses[201] <= CUSTOMER_LIMIT, statuses  # the limit holds under concurrency
    assert statuses[429] > IP_LIMIT, statuses
    assert not bad_retry_after, bad_retry_after[:5]
    # First the conversation's budget ran out, then the address's.
    assert set(limited_by) == {
        "too many messages in this conversation",
        "too many requests from this address",
    }, limited_by
    assert [code for code, _ in served] == [201] * len(served) and len(served) >= 3, served
    assert max(seconds for _, seconds in served) < 2.0, served
