"""WebSocket face of the same exchange: send {"text", "client_message_id"}, receive the turn,
and every other message of the conversation as it is stored (docs/handoff.md).

Browsers can't set headers on a WebSocket, so the token may come as `?token=`; an
`Authorization: Bearer` header works too. Frames are handled one at a time, in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from kefu.api.deps import authorize
from kefu.api.limits import frame_limit
from kefu.api.protection import protection_of, rate_limited_frame
from kefu.api.routes.conversations import turn_out
from kefu.api.schemas import MessageCreate, MessageOut
from kefu.api.streams import MessageStream
from kefu.errors import KefuError
from kefu.realtime import channels
from kefu.realtime.bus import Subscription
from kefu.runtime import Runtime

router = APIRouter()
log = logging.getLogger("kefu.api")

POLICY_VIOLATION = 1008


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": message}}


TYPING_EVERY_S = 1.0  # typing notices a socket may send, at most


def is_typing(raw: str) -> bool:
    """`{"type": "typing"}`: a notice, not a message."""
    if len(raw) > 200 or '"typing"' not in raw:
        return False
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("type") == "typing"


def parse_after(raw: str | None, default: int) -> int:
    """`?after=SEQ`: the last message the client has; absent or invalid: only new ones."""
    if raw is None or not raw.isdigit():
        return default
    return min(int(raw), 2**31 - 1)


@router.websocket("/v1/conversations/{conversation_id}/ws")
async def conversation_socket(websocket: WebSocket, conversation_id: str) -> None:
    """Send `{"text", "client_message_id"}`, get the `turn`; meanwhile receive every other
    message of the conversation (an agent's reply, kefu's notices) as `message` frames, plus
    `typing`, `status` and `queue` frames. `?after=SEQ` replays what was missed."""
    runtime: Runtime = websocket.app.state.runtime
    token = websocket.query_params.get("token")
    auth = websocket.headers.get("authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    try:
        conv = await run_in_threadpool(authorize, runtime, conversation_id, token)
    except KefuError as exc:
        await websocket.close(code=POLICY_VIOLATION, reason=f"{exc.code}: {exc.message}"[:120])
        return
    await websocket.accept()
    channel = channels.conversation(runtime.tenant.id, conv.id)
    stream = MessageStream(
        websocket,
        runtime.conversations,
        conv.id,
        parse_after(websocket.query_params.get("after"), conv.last_seq),
        lambda m: MessageOut.of(m).model_dump(mode="json"),
    )
    subscription = runtime.bus.subscribe(channel)
    forwarder = None
    try:
        await subscription.ready()
        await stream.catch_up()  # subscribed first: nothing falls between the two
        forwarder = asyncio.create_task(_forward(subscription, stream))
        await _receive(websocket, runtime, conv.id, channel, stream)
    except WebSocketDisconnect:
        return
    finally:
        if forwarder is not None:
            forwarder.cancel()
        subscription.close()


async def _forward(subscription: Subscription, stream: MessageStream) -> None:
    """Bus events to the customer: new messages (read from the database), and the agent's
    typing, the conversation's status and the queue."""
    while True:
        try:
            event = await subscription.get()
        except (RuntimeError, asyncio.CancelledError):  # closed
            return
        try:
            kind = event.get("type")
            if kind in ("message", "resync"):
                await stream.catch_up()
            elif kind == "typing" and event.get("role") == "agent":
                await stream.send({"type": "typing", "role": "agent"})
            elif kind in ("status", "queue"):
                await stream.send(event)
        except (WebSocketDisconnect, asyncio.CancelledError):
            return  # the socket closed; the receive loop ends too
        except Exception:  # e.g. the database briefly away: catch up on the next event
            log.exception("forwarding to conversation socket %s failed", stream.conversation_id)
            await asyncio.sleep(0.5)


async def _receive(
    websocket: WebSocket,
    runtime: Runtime,
    conversation_id: uuid.UUID,
    channel: str,
    stream: MessageStream,
) -> None:
    limit = frame_limit(runtime.settings.max_message_chars)
    protection = protection_of(websocket)
    typed_at = 0.0
    while True:
        frame = await websocket.receive()
        if frame["type"] == "websocket.disconnect":
            return
        raw = frame.get("text")
        if raw is not None and is_typing(raw):
            # Typing notices are throttled, not counted as messages.
            now = time.monotonic()
            if now - typed_at >= TYPING_EVERY_S:
                typed_at = now
                runtime.bus.publish(
                    channel,
                    {"type": "typing", "role": "customer", "conversation_id": str(conversation_id)},
                )
            continue
        # Every other frame counts, malformed ones too: each costs the server work.
        if (wait := await protection.ahit("customer", str(conversation_id))) is not None:
            await stream.send(rate_limited_frame(wait))
            continue
        if raw is None:
            await stream.send(_error("invalid_frame", "send JSON as text frames"))
            continue
        if len(raw) > limit:
            await stream.send(_error("payload_too_large", f"frame over {limit} characters"))
            continue
        try:
            body = MessageCreate.model_validate(json.loads(raw))
        except json.JSONDecodeError as exc:
            await stream.send(_error("invalid_json", f"frame is not JSON: {exc.msg}"))
            continue
        except RecursionError:
            await stream.send(_error("invalid_json", "frame is nested too deeply"))
            continue
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "frame"
            await stream.send(_error("invalid_request", f"{where}: {first['msg']}"))
            continue
        async with stream.posting():
            try:
                posted = await run_in_threadpool(
                    runtime.conversations.post, conversation_id, body.text, body.client_message_id
                )
            except KefuError as exc:
                await stream.send(_error(exc.code, exc.message))
                continue
            except Exception:  # a bug: log it, tell the client, keep the socket
                log.exception("unhandled error on conversation socket %s", conversation_id)
                await stream.send(_error("internal_error", "internal error; logged"))
                continue
            seqs = [posted.message.seq, *(m.seq for m in posted.replies)]
            await stream.reply({"type": "turn", **turn_out(posted).model_dump(mode="json")}, seqs)
