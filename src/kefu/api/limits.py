"""Request body size limit, enforced while reading so a huge body is never held in memory."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def frame_limit(max_message_chars: int) -> int:
    """Largest body for a message of the allowed length: a JSON \\uXXXX escape takes six
    characters per character of text, plus room for the other fields."""
    return max_message_chars * 6 + 4096


# Admin bodies bigger than a chat message: an FAQ entry (two 4,000-character answers and its
# questions), and a knowledge-base file to import.
LARGER_BODIES: tuple[tuple[str, int], ...] = (
    ("/v1/admin/knowledge/import", 10 * 1024 * 1024),
    ("/v1/admin/", 256 * 1024),
)


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        larger: tuple[tuple[str, int], ...] = LARGER_BODIES,
    ) -> None:
        """`larger`: (path prefix, limit) pairs, first match wins, for routes that take more
        than a message."""
        self.app = app
        self.max_bytes = max_bytes
        self.larger = larger

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.larger:
            if path.startswith(prefix):
                return max(limit, self.max_bytes)
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > max_bytes:
                await self._reject(send, max_bytes)
                return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    # FastAPI re-raises HTTPException from body reading (other errors become a
                    # generic 400), and the app's handler renders it as JSON.
                    raise HTTPException(413, f"request body over {max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, send: Send, max_bytes: int) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "payload_too_large",
                    "message": f"request body over {max_bytes} bytes",
                }
            },
            separators=(",", ":"),
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
