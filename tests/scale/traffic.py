"""Customer traffic with acknowledgement bookkeeping, for the fault tests.

The client contract the tests hold kefu to: a client sends each message with its own
`client_message_id`, and after a connection error, a timeout, a 5xx or a 429 it sends the same
message again with the SAME id (after Retry-After, capped here to keep tests short), until kefu
acknowledges it: 201 (stored now) or 200 (stored by an earlier attempt). Then kefu must have
stored it exactly once, with the bot's reply.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

QUESTIONS = ("押金怎么退？", "开不了锁怎么办", "几点可以入住？", "How do I get my deposit back?")
ACKED = (200, 201)


@dataclass
class Attempt:
    client: int
    cmid: str  # "" for a probe that is not a message (e.g. /readyz)
    url: str
    started: float  # time.monotonic()
    ended: float
    status: int | None  # None: no HTTP answer (connection refused or reset, timeout)
    error: str = ""  # the error code of a JSON error body, or the transport exception
    retry_after: str | None = None
    last_seq: int = 0  # acknowledged: the seq of the turn's last message

    @property
    def latency(self) -> float:
        return self.ended - self.started


@dataclass
class Conversation:
    id: str
    token: str
    acked: dict[str, float] = field(default_factory=dict)  # client_message_id -> when
    last_seq: dict[str, int] = field(default_factory=dict)  # ... -> its turn's last seq
    pending: set[str] = field(default_factory=set)  # sent, not acknowledged (yet)
    refused: set[str] = field(default_factory=set)  # a 4xx other than 429: never retried

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Traffic:
    """One conversation per client thread; each sends message after message, spreading them
    over `urls` in turn as a load balancer would, and on a connection error tries the next."""

    def __init__(
        self,
        urls: list[str],
        clients: int = 4,
        pause: float = 0.05,
        timeout: float = 10.0,
        retry_cap: float = 0.5,
    ) -> None:
        self.urls, self.clients, self.pause = urls, clients, pause
        self.timeout, self.retry_cap = timeout, retry_cap
        self.conversations: list[Conversation] = []
        self.attempts: list[Attempt] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._finish_by = float("inf")
        self._threads: list[threading.Thread] = []

    def open(self) -> None:
        """Start every client's conversation (before `start`, so sockets can watch them)."""
        for n in range(self.clients):
            url = self.urls[n % len(self.urls)]
            res = httpx.post(f"{url}/v1/conversations", json={"language": "zh"}, timeout=30)
            assert res.status_code == 201, res.text
            self.conversations.append(Conversation(res.json()["id"], res.json()["token"]))

    def start(self) -> None:
        if not self.conversations:
            self.open()
        for n in range(self.clients):
            thread = threading.Thread(target=self._client, args=(n,), name=f"client-{n}")
            thread.start()
            self._threads.append(thread)

    def stop(self, finish_within: float = 30.0) -> None:
        """Stop sending new messages; each client keeps resending the one it has in flight
        for up to `finish_within` seconds (what is still unacknowledged then stays pending)."""
        self._finish_by = time.monotonic() + finish_within
        self._stopping.set()
        for thread in self._threads:
            thread.join(finish_within + 5)
        self._threads = []

    def _client(self, n: int) -> None:
        with httpx.Client(timeout=self.timeout) as http:
            sent = 0
            while not self._stopping.is_set():
                sent += 1
                text = QUESTIONS[(n + sent) % len(QUESTIONS)]
                self.deliver(http, n, f"c{n}-m{sent}", text, turn=n + sent)
                time.sleep(self.pause)

    def deliver(self, http: httpx.Client, n: int, cmid: str, text: str, turn: int = 0) -> bool:
        """Send one message of client `n` until acknowledged, refused (4xx) or past the finish
        deadline; True when acknowledged. `turn` picks the URL to try first."""
        conv = self.conversations[n]
        with self._lock:
            conv.pending.add(cmid)
        while time.monotonic() < self._finish_by:
            url = self.urls[turn % len(self.urls)]
            attempt = self._post(http, n, url, conv, cmid, text)
            if attempt.status in ACKED:
                with self._lock:
                    conv.pending.discard(cmid)
                    conv.acked[cmid] = attempt.ended
                    conv.last_seq[cmid] = attempt.last_seq
                return True
            if attempt.status is None:
                turn += 1  # that process may be gone: the next one
                time.sleep(0.05)
            elif attempt.status >= 500 or attempt.status == 429:
                wait = float(attempt.retry_after or 0.2) if _number(attempt.retry_after) else 0.2
                time.sleep(min(wait, self.retry_cap))
            else:
                with self._lock:
                    conv.pending.discard(cmid)
                    conv.refused.add(cmid)
                return False
        return False

    def _post(
        self, http: httpx.Client, n: int, url: str, conv: Conversation, cmid: str, text: str
    ) -> Attempt:
        started = time.monotonic()
        try:
            res = http.post(
                f"{url}/v1/conversations/{conv.id}/messages",
                json={"text": text, "client_message_id": cmid},
                headers=conv.auth,
                # Never past the finish deadline: `stop` returns in time.
                timeout=max(0.5, min(self.timeout, self._finish_by - started)),
            )
        except httpx.TransportError as exc:
            attempt = Attempt(n, cmid, url, started, time.monotonic(), None, type(exc).__name__)
        else:
            attempt = Attempt(
                n, cmid, url, started, time.monotonic(), res.status_code,
                _error_code(res), res.headers.get("retry-after"), _last_seq(res),
            )  # fmt: skip
        with self._lock:
            self.attempts.append(attempt)
        return attempt

    def send_one_more(self, n: int, text: str = "谢谢") -> bool:
        """One more message in client `n`'s conversation (after `stop`), delivered as usual."""
        self._finish_by = time.monotonic() + 30
        with httpx.Client(timeout=self.timeout) as http:
            return self.deliver(http, n, f"c{n}-last", text)

    def acked_between(self, start: float, end: float) -> int:
        with self._lock:
            return sum(start <= at <= end for c in self.conversations for at in c.acked.values())

    def acks(self, n: int) -> list[tuple[float, int]]:
        """Client `n`'s acknowledgements: (when, the turn's last seq), in order."""
        with self._lock:
            conv = self.conversations[n]
            return sorted((at, conv.last_seq[cmid]) for cmid, at in conv.acked.items())

    def between(self, start: float, end: float) -> list[Attempt]:
        """Attempts made entirely within [start, end]."""
        with self._lock:
            return [a for a in self.attempts if a.started >= start and a.ended <= end]

    def summary(self) -> str:
        with self._lock:
            statuses = Counter(a.status or a.error for a in self.attempts)
        acked = sum(len(c.acked) for c in self.conversations)
        pending = sum(len(c.pending) for c in self.conversations)
        return f"acked {acked}, pending {pending}, attempts by status {dict(statuses)}"


def _number(value: str | None) -> bool:
    try:
        return value is not None and float(value) >= 0
    except ValueError:
        return False


def _last_seq(res: httpx.Response) -> int:
    if res.status_code not in ACKED:
        return 0
    try:
        turn = res.json()
        return max(int(m["seq"]) for m in [turn["message"], *turn["replies"]])
    except (ValueError, KeyError, TypeError):
        return 0


def _error_code(res: httpx.Response) -> str:
    if res.status_code < 400:
        return ""
    try:
        return str(res.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return res.text[:100]


def stored_messages(url: str, conv: Conversation) -> list[dict[str, Any]]:
    """Every stored message of the conversation, in seq order."""
    found: list[dict[str, Any]] = []
    while True:
        res = httpx.get(
            f"{url}/v1/conversations/{conv.id}/messages",
            params={"after": found[-1]["seq"] if found else 0, "limit": 500},
            headers=conv.auth,
            timeout=30,
        )
        assert res.status_code == 200, res.text
        page: list[dict[str, Any]] = res.json()["messages"]
        found += page
        if len(page) < 500:
            return found


def stored_once_problems(url: str, traffic: Traffic) -> list[str]:
    """What breaks the contract: an acknowledged message stored other than exactly once or
    without a bot reply, a pending one stored twice, a message nobody sent."""
    problems: list[str] = []
    for n, conv in enumerate(traffic.conversations):
        messages = stored_messages(url, conv)
        customers = [m for m in messages if m["role"] == "customer"]
        counts = Counter(m["client_message_id"] for m in customers)
        answered = {m["reply_to"] for m in messages if m["role"] == "bot"}
        for cmid in conv.acked:
            if counts[cmid] != 1:
                problems.append(f"client {n}: acknowledged {cmid} stored {counts[cmid]} times")
        for cmid in conv.pending:
            if counts[cmid] > 1:
                problems.append(f"client {n}: pending {cmid} stored {counts[cmid]} times")
        for m in customers:
            if m["client_message_id"] in conv.acked and m["id"] not in answered:
                problems.append(f"client {n}: {m['client_message_id']} has no bot reply")
        unknown = set(counts) - set(conv.acked) - conv.pending
        if unknown:
            problems.append(f"client {n}: stored messages nobody sent: {sorted(unknown)}")
        seqs = [m["seq"] for m in messages]
        if seqs != list(range(1, len(seqs) + 1)):
            problems.append(f"client {n}: seqs not 1..{len(seqs)}: {seqs}")
    return problems


class Subscriber:
    """A customer's WebSocket on one conversation, in a thread, keeping every message frame.
    If the socket closes it reconnects with `?after=` the last seq it has, as the chat widget
    does; `reconnect()` does the same on demand (a client that suspects it missed pushes)."""

    def __init__(self, url: str, conv: Conversation) -> None:
        self.base = url.replace("http://", "ws://")
        self.conv = conv
        self.seqs: list[int] = []  # every message frame's seq, in arrival order
        self.arrived: dict[int, float] = {}  # seq -> when it first arrived
        self.connects = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._again = threading.Event()
        self._thread = threading.Thread(target=self._run, name="subscriber", daemon=True)
        self._connected = threading.Event()

    def start(self, timeout: float = 15) -> None:
        self._thread.start()
        assert self._connected.wait(timeout), "the WebSocket did not connect"

    @property
    def last_seq(self) -> int:
        with self._lock:
            return max(self.seqs, default=0)

    def wait_for(self, seq: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.last_seq >= seq:
                return True
            time.sleep(0.05)
        return self.last_seq >= seq

    def reconnect(self) -> None:
        self._again.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            url = f"{self.base}/v1/conversations/{self.conv.id}/ws"
            url += f"?token={self.conv.token}&after={self.last_seq}"
            try:
                with connect(url, open_timeout=10) as ws:
                    self.connects += 1
                    self._connected.set()
                    self._again.clear()
                    while not self._stop.is_set() and not self._again.is_set():
                        try:
                            raw = ws.recv(timeout=0.2)
                        except TimeoutError:
                            continue
                        self._take(json.loads(raw))
            except (ConnectionClosed, OSError, TimeoutError):
                time.sleep(0.3)

    def _take(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "message":
            seq = int(frame["message"]["seq"])
            with self._lock:
                self.seqs.append(seq)
                self.arrived.setdefault(seq, time.monotonic())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
