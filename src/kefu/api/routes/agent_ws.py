"""The agent console's WebSocket: inbox events for the whole team, and the live messages and
typing of the conversations the agent watches (texts PII-masked, as in the console).

Signed in with the console's session cookie. Browsers send cookies on cross-site WebSocket
handshakes too, so the Origin must be this server (cross-site WebSocket hijacking).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from kefu.accounts import service as accounts
from kefu.accounts.permissions import Permission
from kefu.api.auth import SESSION_COOKIE
from kefu.api.streams import MessageStream
from kefu.errors import KefuError
from kefu.handoff import reads
from kefu.realtime import channels
from kefu.realtime.bus import Subscription
from kefu.runtime import Runtime

router = APIRouter()
log = logging.getLogger("kefu.api")
POLICY_VIOLATION = 1008
MAX_WATCHED = 50
TYPING_EVERY_S = 1.0
HEARTBEAT_S = 30.0  # well inside routing.PRESENCE
FORWARD_RETRY_S = 0.5


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: it sends no cookies on its own
    host = websocket.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") == host


def _principal(runtime: Runtime, token: str | None) -> accounts.Principal:
    if not token:
        raise KefuError("sign in first", code="not_signed_in")
    with runtime.system_sessions() as session:
        principal = accounts.principal_for_session(session, token)
    if not principal.can(Permission.HANDOFF_WORK):
        raise KefuError("this needs the handoff:work permission", code="forbidden")
    if principal.tenant_id != runtime.tenant.id:
        raise KefuError("this server's live chat serves another tenant", code="wrong_tenant")
    return principal


@router.websocket("/v1/agent/ws")
async def agent_socket(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    if not _same_origin(websocket):
        await websocket.close(code=POLICY_VIOLATION, reason="cross-origin socket refused")
        return
    try:
        principal = await run_in_threadpool(
            _principal, runtime, websocket.cookies.get(SESSION_COOKIE)
        )
    except KefuError as exc:
        await websocket.close(code=POLICY_VIOLATION, reason=f"{exc.code}: {exc.message}"[:120])
        return
    await websocket.accept()
    session = AgentSession(websocket, runtime, principal.id, websocket.cookies[SESSION_COOKIE])
    tasks: list[asyncio.Task[None]] = []
    try:
        await session.subscription.ready()
        tasks.append(asyncio.create_task(session.forward()))
        tasks.append(asyncio.create_task(session.heartbeat()))
        await session.receive()
    except WebSocketDisconnect:
        return
    finally:
        for task in tasks:
            task.cancel()
        session.subscription.close()


class AgentSession:
    def __init__(self, websocket: WebSocket, runtime: Runtime, account_id: int, token: str) -> None:
        self.websocket = websocket
        self.token = token
        self.runtime = runtime
        self.account_id = account_id
        self.tenant_id = runtime.tenant.id
        self.subscription: Subscription = runtime.bus.subscribe(channels.inbox(self.tenant_id))
        self.streams: dict[str, MessageStream] = {}
        self.send_lock = asyncio.Lock()
        self.typed_at: dict[str, float] = {}

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.websocket.send_json(frame)

    async def receive(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text") or ""
            try:
                frame = json.loads(raw) if 0 < len(raw) <= 1000 else None
            except ValueError:
                frame = None
            if not isinstance(frame, dict):
                await self.send(_error("invalid_frame", "send small JSON objects"))
                continue
            kind = frame.get("type")
            cid = _conversation_id(frame.get("conversation_id"))
            if kind not in ("watch", "unwatch", "typing") or cid is None:
                await self.send(
                    _error("invalid_frame", "type watch|unwatch|typing with a conversation_id")
                )
                continue
            if kind == "watch":
                await self.watch(cid, frame.get("after"))
            elif kind == "unwatch":
                self.unwatch(cid)
            else:
                await self.typing(cid)

    async def watch(self, cid: uuid.UUID, after: Any) -> None:
        key = str(cid)
        if key not in self.streams and len(self.streams) >= MAX_WATCHED:
            await self.send(_error("too_many_watched", f"watch at most {MAX_WATCHED}"))
            return
        try:
            conv = await run_in_threadpool(self.runtime.conversations.get, cid)
        except KefuError as exc:
            await self.send(_error(exc.code, exc.message))
            return
        cursor = after if isinstance(after, int) and 0 <= after < 2**31 else conv.last_seq
        self.streams[key] = stream = MessageStream(
            self.websocket,
            self.runtime.conversations,
            cid,
            cursor,
            lambda m: _json(reads.message_out(self.runtime, m)),
            extra={"conversation_id": key},
        )
        stream.lock = self.send_lock  # one socket, one order of frames
        self.subscription.add(channels.conversation(self.tenant_id, cid))
        await self.subscription.ready()
        await stream.catch_up()

    def unwatch(self, cid: uuid.UUID) -> None:
        if self.streams.pop(str(cid), None) is not None:
            self.subscription.remove(channels.conversation(self.tenant_id, cid))

    async def typing(self, cid: uuid.UUID) -> None:
        """The customer sees "agent is typing" only from the agent who owns the chat."""
        key = str(cid)
        now = time.monotonic()
        if now - self.typed_at.get(key, 0.0) < TYPING_EVERY_S:
            return
        self.typed_at[key] = now
        if await run_in_threadpool(self.runtime.handoffs.owner_of, cid) != self.account_id:
            return
        self.runtime.bus.publish(
            channels.conversation(self.tenant_id, cid),
            {"type": "typing", "role": "agent", "conversation_id": key},
        )

    async def heartbeat(self) -> None:
        """Presence: while the console is connected, routing knows the agent is there. The
        sign-in is checked again each time: a signed-out, deactivated or demoted account's
        socket is closed."""
        while True:
            try:
                await run_in_threadpool(_principal, self.runtime, self.token)
            except KefuError as exc:
                await self.websocket.close(
                    code=POLICY_VIOLATION, reason=f"{exc.code}: {exc.message}"[:120]
                )
                return
            except Exception:  # the database may be briefly away: try again next beat
                log.warning("agent session check failed", exc_info=True)
            try:
                await run_in_threadpool(self.runtime.handoffs.touch, self.account_id)
            except Exception:  # presence is best effort
                log.warning("agent presence update failed", exc_info=True)
            await asyncio.sleep(HEARTBEAT_S)

    async def forward(self) -> None:
        while True:
            try:
                event = await self.subscription.get()
            except (RuntimeError, asyncio.CancelledError):  # closed
                return
            try:
                await self.handle(event)
            except (WebSocketDisconnect, asyncio.CancelledError):
                return
            except Exception:  # e.g. the database briefly away: catch up on the next event
                log.exception("forwarding to agent socket failed; continuing")
                await asyncio.sleep(FORWARD_RETRY_S)

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "inbox":
            await self.send(event)
            return
        if kind == "resync":
            for watched in list(self.streams.values()):
                await watched.catch_up()
            await self.send({"type": "inbox", "event": "resync", "conversation_id": None})
            return
        stream = self.streams.get(str(event.get("conversation_id")))
        if stream is None:
            return
        if kind == "message":
            await stream.catch_up()
        elif kind == "typing" and event.get("role") == "customer":
            await self.send(event)
        elif kind in ("status", "queue"):
            await self.send({**event, "conversation_id": str(stream.conversation_id)})


def _conversation_id(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _json(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": message}}
