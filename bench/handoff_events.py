"""Benchmark of live-chat events between worker processes, and of idle WebSockets (issue 6).

    .venv/bin/python bench/handoff_events.py [--messages N] [--conversations N] [--sockets N]
                                             [--database-url URL] [--redis-url URL]
                                             [--no-compression] [--json OUT]

(a) Event delivery across processes: two `kefu serve` workers share the database and Redis.
Each of `--conversations` customers is on worker A's WebSocket, has asked for a person and is
owned by an agent whose console socket on worker B watches every conversation. The customers
send `--messages` messages in turn, one at a time; measured: from the customer's send on A to
the `message` frame arriving on the agent's socket on B (the message is stored on A, the
notice goes through Redis, B reads the message from the database and sends it). Also: from the
send to the customer's own `turn` frame.

(b) Idle sockets: a fresh worker holds `--sockets` customer WebSockets, each past its first
frame exchange (so subscribed, caught up and in its receive loop). Measured: the worker's RSS
before and after.

URL for `--database-url`: PostgreSQL (default: the test server; the run gets a fresh schema,
dropped afterwards), `sqlite` (a temporary file) or any SQLAlchemy URL used as it is. The
customer rate limit (30 messages a minute per conversation) and the IP limit are lifted on the
bench servers (`KEFU_RATE_LIMIT_CUSTOMER`, `KEFU_RATE_LIMIT_IP`): one client sending as fast as
it can is what they stop. Targets (2 cores): delivery p95 <= 100 ms; 500 idle sockets add
<= 100 MB. Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kefu.testing import Server
from message_path import machine
from message_path import percentiles as shared_percentiles

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/15"
PASSWORD = "bench horse battery staple"
TARGETS = {"delivery p95 ms": 100.0, "idle sockets RSS growth per 500, MB": 100.0}
UNLIMITED = {"KEFU_RATE_LIMIT_CUSTOMER": "1000000/minute", "KEFU_RATE_LIMIT_IP": "1000000/minute"}
WAIT_S = 30.0
console = Console()
Frame = dict[str, Any]


def percentiles(samples: list[float]) -> dict[str, float]:
    return {**shared_percentiles(samples), "max": max(samples)}


@contextmanager
def database(url: str, tmp: Path) -> Iterator[tuple[str, str]]:
    """The URL the servers use, and how to describe it."""
    if url == "sqlite":
        yield f"sqlite:///{tmp / 'kefu.db'}", "SQLite (temporary file)"
        return
    if not url.startswith("postgresql"):
        yield url, url.split(":", 1)[0]
        return
    dsn = url.replace("postgresql+psycopg://", "postgresql://").split("?", 1)[0]
    schema = f"kefu_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        version = conn.execute("SHOW server_version").fetchone()
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}", f"PostgreSQL {version and version[0]}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def raise_open_files(wanted: int) -> int:
    """Sockets are files: lift the soft limit (servers started later inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


async def new_conversations(server: Server, count: int) -> list[dict[str, str]]:
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
        made: list[dict[str, str]] = []
        for start in range(0, count, 20):
            batch = [
                http.post("/v1/conversations", json={"language": "zh"})
                for _ in range(min(20, count - start))
            ]
            for res in await asyncio.gather(*batch):
                res.raise_for_status()
                made.append(res.json())
        return made


def customer_url(server: Server, conv: dict[str, str], after: int = 0) -> str:
    return (
        f"ws://127.0.0.1:{server.port}/v1/conversations/{conv['id']}/ws"
        f"?token={conv['token']}&after={after}"
    )


# -- (a) event delivery ------------------------------------------------------------------------


class AgentConsole:
    """The agent's socket: every `message` frame, with the time it arrived, per conversation."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: dict[str, asyncio.Queue[tuple[float, Frame]]] = {}
        self.inbox: list[Frame] = []
        self.errors: list[Frame] = []

    def queue(self, cid: str) -> asyncio.Queue[tuple[float, Frame]]:
        return self.frames.setdefault(cid, asyncio.Queue())

    async def read(self) -> None:
        async for raw in self.ws:
            arrived = time.perf_counter()
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "message":
                self.queue(frame["conversation_id"]).put_nowait((arrived, frame["message"]))
            elif kind == "inbox":
                self.inbox.append(frame)
            elif kind == "error":
                self.errors.append(frame)


class Customer:
    """A customer's socket: `turn` frames (with arrival time) and what else came."""

    def __init__(self, conv: dict[str, str], ws: ClientConnection) -> None:
        self.conv, self.ws = conv, ws
        self.turns: asyncio.Queue[tuple[float, Frame]] = asyncio.Queue()
        self.statuses: list[str] = []
        self.errors: list[Frame] = []

    async def read(self) -> None:
        async for raw in self.ws:
            arrived = time.perf_counter()
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "turn":
                self.turns.put_nowait((arrived, frame))
            elif kind == "status":
                self.statuses.append(frame["status"])
            elif kind == "error":
                self.errors.append(frame)

    async def say(self, text: str) -> tuple[float, Frame]:
        await self.ws.send(json.dumps({"text": text, "client_message_id": uuid.uuid4().hex}))
        return await asyncio.wait_for(self.turns.get(), WAIT_S)


async def delivery(
    a: Server, b: Server, conversations: int, messages: int, warmup: int, compression: bool
) -> dict[str, Any]:
    deflate = "deflate" if compression else None
    async with httpx.AsyncClient(base_url=b.url, timeout=WAIT_S) as http:
        res = await http.post("/v1/auth/login", json={"username": "bench", "password": PASSWORD})
        res.raise_for_status()
        me, csrf = res.json(), {"X-CSRF-Token": res.json()["csrf_token"]}
        # A supervisor may set their own capacity: one agent holds every conversation.
        res = await http.put(
            f"/v1/agent/agents/{me['id']}", json={"capacity": conversations}, headers=csrf
        )
        res.raise_for_status()
        res = await http.put("/v1/agent/me/status", json={"status": "online"}, headers=csrf)
        res.raise_for_status()
        cookie = {"Cookie": f"kefu_session={http.cookies['kefu_session']}"}

    convs = await new_conversations(a, conversations)
    tasks: list[asyncio.Task[None]] = []
    async with connect(
        f"ws://127.0.0.1:{b.port}/v1/agent/ws", additional_headers=cookie, compression=deflate
    ) as agent_ws:
        agent = AgentConsole(agent_ws)
        tasks.append(asyncio.create_task(agent.read()))
        customers: list[Customer] = []
        try:
            for conv in convs:
                await agent_ws.send(
                    json.dumps({"type": "watch", "conversation_id": conv["id"], "after": 0})
                )
                ws = await connect(customer_url(a, conv), compression=deflate)
                customer = Customer(conv, ws)
                customers.append(customer)
                tasks.append(asyncio.create_task(customer.read()))
                _, turn = await customer.say("转人工")
                if turn["status"] != "waiting_agent":
                    raise RuntimeError(f"no handoff: {turn}")
            # Every conversation is with the agent: its `joined` notice reached the agent.
            for customer in customers:
                queue = agent.queue(customer.conv["id"])
                while True:
                    _, message = await asyncio.wait_for(queue.get(), WAIT_S)
                    if message["role"] == "system":
                        break

            deliver: list[float] = []
            own_turn: list[float] = []
            gap: list[float] = []
            mismatched = 0
            for n in range(warmup + messages):
                customer = customers[n % len(customers)]
                queue = agent.queue(customer.conv["id"])
                text = f"第{n}条测试消息，请问押金什么时候到账"
                sent = time.perf_counter()
                turned, turn = await customer.say(text)
                while True:  # the agent's frame for this message (usually already there)
                    arrived, message = await asyncio.wait_for(queue.get(), WAIT_S)
                    if message["seq"] == turn["message"]["seq"]:
                        break
                if turn["replies"]:
                    raise RuntimeError(f"the bot answered while the agent owns the chat: {turn}")
                mismatched += message["text"] != text
                if n >= warmup:
                    deliver.append((arrived - sent) * 1000)
                    own_turn.append((turned - sent) * 1000)
                    gap.append((arrived - turned) * 1000)
        finally:
            for customer in customers:
                await customer.ws.close()
            for task in tasks:
                task.cancel()
    return {
        "conversations": conversations,
        "messages": messages,
        "warmup": warmup,
        "delivery_ms": percentiles(deliver),
        "customer_turn_ms": percentiles(own_turn),
        # When the agent's frame came, counted from the customer's own turn frame (< 0: before).
        "agent_after_turn_ms": percentiles(gap),
        "texts_changed_for_agent": mismatched,
        "agent_errors": agent.errors,
        "customer_errors": [e for c in customers for e in c.errors],
        "resyncs": sum(f.get("event") == "resync" for f in agent.inbox),
    }


# -- (b) idle sockets --------------------------------------------------------------------------


async def open_idle(server: Server, conv: dict[str, str], compression: bool) -> ClientConnection:
    """Connect and exchange a first frame: the server answers `{}` with an error frame from its
    receive loop, which it enters after subscribing and catching up."""
    ws = await connect(customer_url(server, conv), compression="deflate" if compression else None)
    await ws.send("{}")
    reply = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
    if reply.get("type") != "error":
        raise RuntimeError(f"unexpected first frame: {reply}")
    return ws


async def idle_sockets(
    a: Server, c: Server, count: int, settle: float, compression: bool
) -> dict[str, Any]:
    convs = await new_conversations(a, count + 1)  # made on A: C's memory is left alone
    started_mb = c.rss_mb()
    # One socket first, so one-time costs (code paths, imports) don't count per socket.
    first = await open_idle(c, convs.pop(), compression)
    await first.close()
    await asyncio.sleep(settle)
    before = c.rss_mb()
    sockets: list[ClientConnection] = []
    half = count // 2
    opened = time.perf_counter()
    try:
        # Half, settle, measure, then the rest: the second half's growth is the cost of one more
        # socket, without the one-time growth of the first burst (pool threads, arenas).
        for upto in (half, count):
            for start in range(len(sockets), upto, 50):
                sockets += await asyncio.gather(
                    *(
                        open_idle(c, conv, compression)
                        for conv in convs[start : min(start + 50, upto)]
                    )
                )
            await asyncio.sleep(settle)
            if upto == half:
                at_half = c.rss_mb()
        open_s = time.perf_counter() - opened - 2 * settle
        after = c.rss_mb()
        alive = sum(ws.state.name == "OPEN" for ws in sockets)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    await asyncio.sleep(settle)
    return {
        "sockets": count,
        "open": alive,
        "rss_after_start_mb": round(started_mb, 1),
        "rss_before_mb": round(before, 1),
        "rss_at_half_mb": round(at_half, 1),
        "rss_after_mb": round(after, 1),
        "rss_after_close_mb": round(c.rss_mb(), 1),
        "growth_mb": round(after - before, 1),
        "per_socket_kb": round((after - before) * 1024 / count, 1),
        "per_socket_second_half_kb": round((after - at_half) * 1024 / (count - half), 1),
        "open_all_s": round(open_s, 2),
    }


# -- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=500, help="(a) messages timed")
    parser.add_argument("--warmup", type=int, default=20, help="(a) messages not timed")
    parser.add_argument(
        "--conversations", type=int, default=5, help="(a) conversations, taking turns (<= 50)"
    )
    parser.add_argument("--sockets", type=int, default=500, help="(b) idle customer sockets")
    parser.add_argument("--settle", type=float, default=2.0, help="(b) seconds before RSS")
    parser.add_argument(
        "--database-url", default=POSTGRES_URL, help="PostgreSQL (a fresh schema), or 'sqlite'"
    )
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument(
        "--no-compression",
        action="store_true",
        help="don't offer permessage-deflate (browsers do; so does this script by default)",
    )
    parser.add_argument("--json", type=Path, help="write results as JSON here")
    args = parser.parse_args()
    if not 1 <= args.conversations <= 50:
        parser.error("--conversations: 1 to 50 (an agent's largest capacity)")
    if args.sockets < 2 or args.messages < 2:
        parser.error("--sockets and --messages: at least 2")
    compression = not args.no_compression
    files = raise_open_files(args.sockets * 2 + 256)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.gmtime()),
        "machine": machine(),
        "compression": compression,
        "open_files_limit": files,
    }
    with tempfile.TemporaryDirectory() as tmp, database(args.database_url, Path(tmp)) as db:
        url, results["database"] = db
        env = {"KEFU_DATABASE_URL": url, "KEFU_REDIS_URL": args.redis_url, **UNLIMITED}
        data = Path(tmp) / "var"  # shared: one secret key for every worker
        a, b, c = (Server(data, **env) for _ in range(3))
        try:
            a.start(timeout=120)  # migrates and seeds
            command = ["accounts", "create", "bench", "--role", "supervisor", "--password-stdin"]
            made = a.cli(*command, stdin=PASSWORD + "\n")
            if made.returncode:
                raise RuntimeError(made.stderr)
            b.start(timeout=120)
            console.print(f"(a) delivery A -> Redis -> B, {results['database']} ...")
            results["delivery"] = asyncio.run(
                delivery(a, b, args.conversations, args.messages, args.warmup, compression)
            )
            b.stop()
            c.start(timeout=120)
            console.print(f"(b) {args.sockets} idle sockets on one worker ...")
            results["idle"] = asyncio.run(
                idle_sockets(a, c, args.sockets, args.settle, compression)
            )
        finally:
            for server in (a, b, c):
                server.stop()

    d, idle = results["delivery"], results["idle"]
    measured = {
        "delivery p95 ms": d["delivery_ms"]["p95"],
        "idle sockets RSS growth per 500, MB": idle["growth_mb"] * 500 / args.sockets,
    }
    table = Table("measure", "p50", "p95", "p99", "max", title=f"kefu live events ({machine()})")
    for key, label in (
        ("delivery_ms", "customer on A -> agent on B"),
        ("customer_turn_ms", "customer's own turn"),
        ("agent_after_turn_ms", "agent frame - own turn frame"),
    ):
        p = d[key]
        table.add_row(label, *(f"{p[q]:.2f} ms" for q in ("p50", "p95", "p99", "max")))
    console.print(table)
    console.print(
        f"{d['messages']} messages (+{d['warmup']} warm-up) over {d['conversations']} "
        f"conversations; texts changed for the agent (masking): {d['texts_changed_for_agent']}; "
        f"errors: agent {len(d['agent_errors'])}, customers {len(d['customer_errors'])}; "
        f"resyncs {d['resyncs']}"
    )
    console.print(
        f"idle sockets: {idle['open']}/{idle['sockets']} open; RSS {idle['rss_after_start_mb']} MB "
        f"after start, {idle['rss_before_mb']} MB before, {idle['rss_after_mb']} MB with them "
        f"(+{idle['growth_mb']} MB, {idle['per_socket_kb']} KB each; "
        f"{idle['per_socket_second_half_kb']} KB each over the second half), "
        f"{idle['rss_after_close_mb']} MB after closing; opened in {idle['open_all_s']} s"
    )
    ok_all = True
    targets = Table("target", "measured", "limit", "met")
    for name, value in measured.items():
        ok = value <= TARGETS[name]
        ok_all &= ok
        targets.add_row(name, f"{value:.1f}", f"<= {TARGETS[name]:.0f}", "met" if ok else "MISSED")
    console.print(targets)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
