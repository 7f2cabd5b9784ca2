"""SIGTERM drains: a request in flight when the server is told to stop is answered (and its
message stored), open WebSockets are closed with 1012 "service restart" so clients reconnect
elsewhere, and the server then exits by itself. With one process and with a pre-forking master
and two workers (which also loads the models once, before forking)."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from kefu.testing import Server


def _slow_body(payload: dict[str, str], sent_half: threading.Event) -> Iterator[bytes]:
    body = json.dumps(payload).encode()
    yield body[:10]
    sent_half.set()
    time.sleep(3.0)  # the server gets SIGTERM meanwhile
    yield body[10:]


async def _socket_close_code(url: str, opened: threading.Event) -> int | None:
    async with websockets.connect(url) as ws:
        opened.set()
        try:
            while True:
                await asyncio.wait_for(ws.recv(), timeout=30)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


@pytest.mark.timeout(180)
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_requests_in_flight_and_closes_sockets_for_a_reconnect(
    tmp_path: Path, postgres_url: str, redis_url: str, workers: int
) -> None:
    server = Server(
        tmp_path / "var",
        workers=workers,
        KEFU_DATABASE_URL=postgres_url,
        KEFU_REDIS_URL=redis_url,
        KEFU_SHUTDOWN_GRACE_SECONDS="20",
    )
    server.start(timeout=120)
    try:
        conv = httpx.post(f"{server.url}/v1/conversations", json={"language": "zh"}).json()
        auth = {"Authorization": f"Bearer {conv['token']}", "Content-Type": "application/json"}
        ws_url = (
            f"ws://127.0.0.1:{server.port}/v1/conversations/{conv['id']}/ws?token={conv['token']}"
        )
        opened, codes = threading.Event(), []
        watcher = threading.Thread(
            target=lambda: codes.append(asyncio.run(_socket_close_code(ws_url, opened)))
        )
        watcher.start()
        assert opened.wait(30)

        sent_half = threading.Event()
        answers: list[httpx.Response | httpx.HTTPError] = []
        payload = {"text": "押金怎么退？", "client_message_id": "in-flight-1"}

        def post() -> None:
            try:
                answers.append(
                    httpx.post(
                        f"{server.url}/v1/conversations/{conv['id']}/messages",
                        content=_slow_body(payload, sent_half),
                        headers=auth,
                        timeout=60,
                    )
                )
            except httpx.HTTPError as exc:
                answers.append(exc)

        poster = threading.Thread(target=post)
        poster.start()
        assert sent_half.wait(30)
        # A connection still in the listen queue when the listener closes is lost with any
        # server: give the worker a moment to accept this one before it is told to stop.
        time.sleep(1.0)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        poster.join(60)
        watcher.join(60)
        # Exited by itself (uvicorn re-raises the SIGTERM it handled once it has drained).
        assert server.proc.wait(60) in (0, -signal.SIGTERM)
        answer = answers[0]
        assert isinstance(answer, httpx.Response), answer
        assert answer.status_code == 201, answer.text
        assert answer.json()["replies"], "the message in flight was answered"
        assert codes == [1012]
    finally:
        server.stop()

    server.start(timeout=120)  # the message is stored, once
    try:
        got = httpx.get(
            f"{server.url}/v1/conversations/{conv['id']}/messages",
            headers={"Authorization": f"Bearer {conv['token']}"},
        ).json()["messages"]
        assert [m["client_message_id"] for m in got if m["role"] == "customer"] == ["in-flight-1"]
    finally:
        server.stop()
