"""WebSocket face of the same exchange: send {"text", "client_message_id"}, receive the turn.

Browsers can't set headers on a WebSocket, so the token may come as `?token=`; an
`Authorization: Bearer` header works too. Frames are handled one at a time, in order.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from kefu.api.deps import authorize
from kefu.api.limits import frame_limit
from kefu.api.protection import protection_of, rate_limited_frame
from kefu.api.routes.conversations import turn_out
from kefu.api.schemas import MessageCreate
from kefu.errors import KefuError
from kefu.runtime import Runtime

router = APIRouter()
log = logging.getLogger("kefu.api")

POLICY_VIOLATION = 1008


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": message}}


@router.websocket("/v1/conversations/{conversation_id}/ws")
async def conversation_socket(websocket: WebSocket, conversation_id: str) -> None:
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
    limit = frame_limit(runtime.settings.max_message_chars)
    protection = protection_of(websocket)
    try:
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                return
            # Every frame counts, malformed ones too: each costs the server work.
            if (wait := await protection.ahit("customer", str(conv.id))) is not None:
                await websocket.send_json(rate_limited_frame(wait))
                continue
            raw = frame.get("text")
            if raw is None:
                await websocket.send_json(_error("invalid_frame", "send JSON as text frames"))
                continue
            if len(raw) > limit:
                await websocket.send_json(
                    _error("payload_too_large", f"frame over {limit} characters")
                )
                continue
            try:
                body = MessageCreate.model_validate(json.loads(raw))
            except json.JSONDecodeError as exc:
                await websocket.send_json(_error("invalid_json", f"frame is not JSON: {exc.msg}"))
                continue
            except RecursionError:
                await websocket.send_json(_error("invalid_json", "frame is nested too deeply"))
                continue
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "frame"
                await websocket.send_json(_error("invalid_request", f"{where}: {first['msg']}"))
                continue
            try:
                posted = await run_in_threadpool(
                    runtime.conversations.post, conv.id, body.text, body.client_message_id
                )
            except KefuError as exc:
                await websocket.send_json(_error(exc.code, exc.message))
                continue
            except Exception:  # a bug: log it, tell the client, keep the socket
                log.exception("unhandled error on conversation socket %s", conv.id)
                await websocket.send_json(_error("internal_error", "internal error; logged"))
                continue
            await websocket.send_json({"type": "turn", **turn_out(posted).model_dump(mode="json")})
    except WebSocketDisconnect:
        return
