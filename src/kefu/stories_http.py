"""Run conversation stories (`kefu.dialogue.stories`) against running `kefu serve` processes,
through the public API only: turn i goes to `urls[i % len(urls)]`, so with two servers every
message lands on a different process from the one before (issue 9: the dialogue state must
live in the database, not in a worker's memory).

What a story checks but the API doesn't return (decision, reason, intent, flow, actions, the
slots filled, tickets) is read from the database the servers share, as analytics would: the
turn event, the conversation's (encrypted) dialogue state and the tickets table. Nothing is
added to the public API for it.

Limits, by design of running against real servers:
- backend fault injection (`backend.fail`) needs the backend in this process: such stories are
  excluded (`excluded_reason`);
- a restart happens only if the caller gives `restart` (it controls the servers): called with
  the URL that takes the next message, so a freshly started process answers mid-flow;
  otherwise the restart is skipped and counted, and the story carries on;
- a slot's value is checked when the dialogue state still holds it after the turn; a slot the
  turn filled and whose flow then ended is checked by name only (`StoryRun.unverified`).

The demo operator is seeded as `StoryRunner` seeds it (again after every story that acted on
it), and one-time codes are pinned to `kefu.stories.OTP` in the demo codes table: servers have
no fixed-code setting.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select, update

from kefu.config import Settings
from kefu.conversations.models import Conversation, Ticket, TurnEvent
from kefu.db.engine import make_engine, make_session_factory
from kefu.dialogue.state import DialogueState
from kefu.dialogue.stories import Expect, Story, check, said
from kefu.errors import KefuError
from kefu.privacy.crypto import EncryptionError, ensure_keyring
from kefu.stories import OTP, STORY_CITY


@dataclass
class StoryRun:
    """One story over HTTP: its problems, and per message what was observed and replied."""

    story: Story
    problems: list[str] = field(default_factory=list)
    observed: list[dict[str, Any]] = field(default_factory=list)  # per message, as `observe`
    replies: list[list[str]] = field(default_factory=list)  # per message, the reply texts
    servers: list[str] = field(default_factory=list)  # per message, the URL that answered
    skipped_restarts: int = 0
    unverified: list[str] = field(default_factory=list)  # "turn 3: slot code (value not kept)"

    @property
    def passed(self) -> bool:
        return not self.problems


def excluded_reason(story: Story, identity_key: str | None = None) -> str | None:
    """Why `story` can't run over HTTP, or None."""
    if story.backend.fail:
        return "injects backend failures, which needs the backend in this process"
    if story.customer and not identity_key:
        return "needs a signed customer: no customer identity key given"
    return None


def sign(identity_key: str, customer: str) -> str:
    """What the operator's server sends as `customer.signature` (KEFU_CUSTOMER_IDENTITY_KEY)."""
    return hmac.new(identity_key.encode(), customer.encode(), hashlib.sha256).hexdigest()


class HttpStoryRunner:
    """`settings` name the database the servers share (`database_url`) and their keys (the
    data dir's key file and secret key, or KEFU_ENCRYPTION_KEYS / KEFU_SECRET_KEY), so the
    runner can seed the demo operator and read what the checks need."""

    def __init__(
        self,
        urls: Sequence[str],
        settings: Settings,
        *,
        identity_key: str | None = None,
        restart: Callable[[str], None] | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not urls:
            raise KefuError("at least one server URL is needed")
        self.urls = [u.rstrip("/") for u in urls]
        self.identity_key = identity_key
        self.restart = restart
        self.engine = make_engine(settings.effective_database_url)
        ensure_keyring(self.engine, settings)  # the dialogue state is stored encrypted
        self.reads = make_session_factory(self.engine, read_only=True, system=True)
        self.http = httpx.Client(timeout=timeout)
        self._seeded = False  # the demo data as seeded, untouched since

    def run(self, story: Story) -> StoryRun:
        from kefu.backends.demo.seed import seed

        reason = excluded_reason(story, self.identity_key)
        if reason:
            raise KefuError(f"{story.name}: can't run over HTTP: {reason}")
        if not self._seeded:  # seeding takes most of a run's time: only when it changed
            seed(self.engine, customers=STORY_CITY[0], bikes=STORY_CITY[1])
        self._seeded = False
        run = StoryRun(story)
        # Started on the last server: with two, the first message already changes process.
        try:
            conv = self._start(self.urls[-1], story)
        except (httpx.HTTPError, KefuError) as exc:
            run.problems.append(f"starting the conversation failed: {exc}")
            return run
        sent = 0
        for number, turn in enumerate(story.turns, 1):
            if turn.restart:
                if self.restart is None:
                    run.skipped_restarts += 1
                else:
                    self.restart(self.urls[sent % len(self.urls)])
                continue
            assert turn.say is not None
            url = self.urls[sent % len(self.urls)]
            sent += 1
            where = f"turn {number} ({turn.say})"
            try:
                body = self._post(url, conv, turn.say)
            except httpx.HTTPError as exc:
                run.problems.append(f"{where}: {url} failed: {exc}")
                break
            observed, kept = self._observe(body, uuid.UUID(conv["id"]))
            if "send_code" in " ".join(observed["calls"]):
                self._pin_code()
            run.observed.append(observed)
            run.replies.append([r["text"] for r in body["replies"]])
            run.servers.append(url)
            expect = self._checkable(turn.expect, observed, kept, where, run.unverified)
            run.problems.extend(f"{where}: {p}" for p in check(expect, observed))
        # The operator's data changes only through actions (flows' calls; kefu's own tickets
        # live elsewhere): a story that ran none leaves it as seeded for the next one.
        self._seeded = len(run.observed) == sent and not any(o["calls"] for o in run.observed)
        return run

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()

    # -- the public API ---------------------------------------------------------------------

    def _start(self, url: str, story: Story) -> dict[str, str]:
        body: dict[str, Any] = {"language": story.language}
        if story.customer:
            assert self.identity_key is not None
            body["customer"] = {
                "external_id": story.customer,
                "signature": sign(self.identity_key, story.customer),
            }
        res = self.http.post(f"{url}/v1/conversations", json=body)
        if res.status_code != 201:
            raise KefuError(f"{url}: starting a conversation failed: {res.status_code} {res.text}")
        data: dict[str, str] = res.json()
        return data

    def _post(self, url: str, conv: dict[str, str], text: str) -> dict[str, Any]:
        res = self.http.post(
            f"{url}/v1/conversations/{conv['id']}/messages",
            json={"text": text, "client_message_id": uuid.uuid4().hex},
            headers={"Authorization": f"Bearer {conv['token']}"},
        )
        if res.status_code != 201:
            raise httpx.HTTPStatusError(
                f"{res.status_code} {res.text[:300]}", request=res.request, response=res
            )
        data: dict[str, Any] = res.json()
        return data

    # -- what the API doesn't say, from the shared database ---------------------------------

    def _observe(
        self, body: dict[str, Any], conversation_id: uuid.UUID
    ) -> tuple[dict[str, Any], set[str]]:
        """The turn as `kefu.stories.observe` describes it, and the slots whose values could
        be read (the rest were filled this turn but aren't in the state any more)."""
        message_id = body["message"]["id"]
        replies = [(r["text"], r["payload"] or {}) for r in body["replies"]]
        with self.reads() as session:
            event = session.scalars(
                select(TurnEvent).where(TurnEvent.message_id == message_id)
            ).one()
            ticket = session.scalar(select(Ticket.id).where(Ticket.message_id == message_id))
            try:
                raw = session.scalar(
                    select(Conversation.dialogue).where(Conversation.id == conversation_id)
                )
            except EncryptionError:  # not the servers' keys: slot values can't be read
                raw = None
        dialogue = event.understanding.get("dialogue", {})
        actions = dialogue.get("actions", [])
        state = DialogueState.from_json(raw)
        values: dict[str, Any] = {}
        for frame in state.frames:  # innermost last: a sub-flow's own value wins
            for name, slot in frame.slots.items():
                if slot.turn == state.turn:
                    values[name] = slot.value
        filled = dialogue.get("slots", [])
        observed = {
            "decision": event.decision,
            "reason": event.reason or "",
            "intent": event.intent,
            "flow": dialogue.get("flow"),
            "faq": event.faq_entry_id,
            "responses": said(replies),
            "calls": [a["action"] for a in actions],
            "errors": [a["action"] for a in actions if "error" in a],
            "slots": {name: values.get(name) for name in filled},
            "text": "\n".join(text for text, _ in replies),
            "handoff": event.decision == "handoff",
            "ticket": ticket is not None,
            "status": body["status"],
        }
        return observed, {name for name in filled if name in values}

    @staticmethod
    def _checkable(
        expect: Expect, observed: dict[str, Any], kept: set[str], where: str, notes: list[str]
    ) -> Expect:
        """`expect` without the slot values that can't be read back (filled, then dropped
        with their finished flow); the slot's name is still checked."""
        if not expect.slots:
            return expect
        slots = {}
        for name, value in expect.slots.items():
            if name in observed["slots"] and name not in kept:
                notes.append(f"{where}: slot {name} filled; its value {value!r} unreadable")
            else:
                slots[name] = value
        return expect.model_copy(update={"slots": slots})

    def _pin_code(self) -> None:
        # The demo backend sent a random code: make it the one the stories type.
        from kefu.backends.demo.models import CODES

        with self.engine.begin() as conn:
            conn.execute(update(CODES).values(code=OTP))
