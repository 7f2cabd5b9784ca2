"""Delivering a conversation's messages over a WebSocket: once each, in `seq` order, with
nothing lost across reconnects.

The bus only says "something new"; the messages themselves are read from the database after
the socket's cursor (the last `seq` it sent). A reconnecting client passes the last `seq` it
has (`?after=`) and gets exactly what it missed. Sends are serialised per socket, so a turn's
reply frame and a notification can't interleave out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from fastapi import WebSocket
from starlette.concurrency import run_in_threadpool

from kefu.conversations.models import Message
from kefu.conversations.service import ConversationService

PAGE = 200


class MessageStream:
    def __init__(
        self,
        websocket: WebSocket,
        conversations: ConversationService,
        conversation_id: Any,
        cursor: int,
        render: Callable[[Message], dict[str, Any]],
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.websocket = websocket
        self.conversations = conversations
        self.conversation_id = conversation_id
        self.cursor = cursor
        self.render = render
        self.extra = extra or {}  # added to every message frame (the agent's conversation_id)
        self.lock = asyncio.Lock()
        # While this socket's own message is being answered, notifications about it wait: the
        # turn frame carries those messages, and a catch-up would send them twice.
        self.pending = 0
        self.deferred = False

    @contextlib.asynccontextmanager
    async def posting(self) -> AsyncIterator[None]:
        self.pending += 1
        try:
            yield
        finally:
            self.pending -= 1
            if not self.pending and self.deferred:
                self.deferred = False
                await self.catch_up()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.lock:
            await self.websocket.send_json(frame)

    async def catch_up(self) -> None:
        """Send every stored message after the cursor, in order."""
        if self.pending:
            self.deferred = True
            return
        async with self.lock:
            await self._catch_up(until=None, skip=())

    async def _catch_up(self, until: int | None, skip: Iterable[int]) -> None:
        skipped = set(skip)
        while True:
            page = await run_in_threadpool(
                self.conversations.messages, self.conversation_id, self.cursor, PAGE
            )
            for message in page:
                if until is not None and message.seq > until:
                    return
                if message.seq not in skipped:
                    await self.websocket.send_json(
                        {"type": "message", **self.extra, "message": self.render(message)}
                    )
                self.cursor = message.seq
            if len(page) < PAGE:
                return

    async def reply(self, frame: dict[str, Any], seqs: list[int]) -> None:
        """A turn's answer to this socket: messages stored before it that the socket hasn't
        sent go first, then the turn frame; the cursor moves past the turn."""
        async with self.lock:
            if seqs and max(seqs) > self.cursor:
                await self._catch_up(until=max(seqs), skip=seqs)
            await self.websocket.send_json(frame)
            if seqs:
                self.cursor = max(self.cursor, max(seqs))
