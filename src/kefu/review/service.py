"""Conversation review: find the turns kefu handled poorly and record what they should have been.

A verdict names the right FAQ entry (the customer's words become one of its similar questions at
once) and/or the right intent (a training example for the next retraining). Texts are PII-masked
before anyone sees or keeps them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import and_, select, true
from sqlalchemy.orm import Session, aliased

from kefu.accounts.models import Account
from kefu.conversations.models import Message, Role, TurnEvent
from kefu.errors import InvalidInput, NotFound
from kefu.handoff.models import Rating
from kefu.knowledge import editing, intent_store
from kefu.knowledge.editing import Editor
from kefu.knowledge.models import TurnReview
from kefu.knowledge.pack import Lang
from kefu.privacy.pii import PiiDetector
from kefu.text.language import detect_language
from kefu.text.normalize import normalize

Filter = Literal["low_confidence", "fallback", "negative", "low_rating", "handoff"]
FILTERS: tuple[Filter, ...] = ("low_confidence", "fallback", "negative", "low_rating", "handoff")
LOW_SCORE = 0.6  # an FAQ answer or offer below this retrieval score is worth a look
LOW_INTENT = 0.5  # a recognised intent below this confidence, likewise
LOW_RATING = 2  # ratings of 1-2 (of 5)
SCAN = 5000  # most recent turns looked at per request: review is about recent traffic


class Verdict(BaseModel):
    intent: str | None
    entry_id: str | None
    by: int | None  # the reviewer's account
    by_name: str | None  # their display name or username (None once the account is gone)
    at: datetime


class ReviewItem(BaseModel):
    """A turn as review shows it (also the API's response body)."""

    turn_id: int
    conversation_id: uuid.UUID
    created_at: datetime
    language: str
    text: str
    reply: str | None
    decision: str
    reason: str | None
    intent: str | None
    intent_confidence: float | None
    faq_entry_id: str | None
    score: float | None
    sentiment: str | None
    rating: int | None
    handoff: bool
    review: Verdict | None
    tags: list[Filter]


def _tags(event: TurnEvent, rating: int | None) -> tuple[Filter, ...]:
    understanding = event.understanding or {}
    confidence = understanding.get("intent_confidence")
    sentiment = (understanding.get("sentiment") or {}).get("polarity")
    tags: list[Filter] = []
    weak_answer = event.decision == "answer" and event.score is not None and event.score < LOW_SCORE
    weak_intent = bool(understanding.get("intent")) and (confidence or 1.0) < LOW_INTENT
    if event.decision == "clarify" or weak_answer or weak_intent:
        tags.append("low_confidence")
    if event.decision == "fallback":
        tags.append("fallback")
    if sentiment == "negative":
        tags.append("negative")
    if rating is not None and rating <= LOW_RATING:
        tags.append("low_rating")
    if event.decision == "handoff":
        tags.append("handoff")
    return tuple(tags)


def find_turns(
    session: Session,
    tenant_id: int,
    pii: PiiDetector,
    *,
    filters: Iterable[Filter] = (),
    reviewed: Literal["false", "true", "all"] = "false",
    offset: int = 0,
    limit: int = 50,
    turn_id: int | None = None,
) -> tuple[int, list[ReviewItem]]:
    """Recent turns matching any of `filters` (none: every turn), newest first; `turn_id`:
    that one turn only."""
    wanted = set(filters)
    reply = aliased(Message)
    only = TurnEvent.id == turn_id if turn_id is not None else true()
    rows = session.execute(
        select(TurnEvent, Message.text, Rating.score, TurnReview)
        .join(Message, Message.id == TurnEvent.message_id)
        .outerjoin(Rating, Rating.conversation_id == TurnEvent.conversation_id)
        .outerjoin(
            TurnReview,
            and_(TurnReview.turn_event_id == TurnEvent.id, TurnReview.tenant_id == tenant_id),
        )
        .where(TurnEvent.tenant_id == tenant_id, TurnEvent.decision != "silent", only)
        .order_by(TurnEvent.id.desc())
        .limit(SCAN)
    ).all()
    matched = []
    for event, text, rating, review in rows:
        tags = _tags(event, rating)
        if wanted and not wanted.intersection(tags):
            continue
        if (reviewed == "false" and review is not None) or (reviewed == "true" and review is None):
            continue
        matched.append((event, text, rating, review, tags))
    page = matched[offset : offset + limit]
    replies: dict[int, str] = {}
    if page:
        for reply_to, body in session.execute(
            select(reply.reply_to_id, reply.text)
            .where(
                reply.reply_to_id.in_([e.message_id for e, *_ in page]),
                reply.role == Role.BOT,
            )
            .order_by(reply.seq)
        ):
            if reply_to is not None:
                replies.setdefault(reply_to, body)
    names = _names(session, {r.account_id for *_, r, _ in page if r and r.account_id})
    items = [
        ReviewItem(
            turn_id=event.id,
            conversation_id=event.conversation_id,
            created_at=event.created_at,
            language=event.language,
            text=pii.mask(text),
            reply=pii.mask(replies[event.message_id]) if event.message_id in replies else None,
            decision=event.decision,
            reason=event.reason,
            intent=event.intent,
            intent_confidence=(event.understanding or {}).get("intent_confidence"),
            faq_entry_id=event.faq_entry_id,
            score=event.score,
            sentiment=((event.understanding or {}).get("sentiment") or {}).get("polarity"),
            rating=rating,
            handoff=event.decision == "handoff",
            review=_verdict(review, names),
            tags=list(tags),
        )
        for event, text, rating, review, tags in page
    ]
    return len(matched), items


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(Account.id, Account.display_name, Account.username).where(Account.id.in_(ids))
    )
    return {id_: display or username for id_, display, username in rows}


def _verdict(review: TurnReview | None, names: dict[int, str]) -> Verdict | None:
    if review is None:
        return None
    return Verdict(
        intent=review.intent,
        entry_id=review.entry_id,
        by=review.account_id,
        by_name=names.get(review.account_id) if review.account_id else None,
        at=review.created_at,
    )


def mark(
    session: Session,
    tenant_id: int,
    pii: PiiDetector,
    turn_id: int,
    editor: Editor,
    *,
    intent: str | None = None,
    entry_id: str | None = None,
) -> TurnReview:
    """Record the verdict on a turn (a second verdict replaces the first). With `entry_id` the
    masked text joins that entry's similar questions now; with `intent` it is training data."""
    if not intent and not entry_id:
        raise InvalidInput("name the right intent, the right FAQ entry, or both")
    found = session.execute(
        select(TurnEvent, Message.text)
        .join(Message, Message.id == TurnEvent.message_id)
        .where(TurnEvent.tenant_id == tenant_id, TurnEvent.id == turn_id)
    ).one_or_none()
    if found is None:
        raise NotFound(f"no turn {turn_id}", code="turn_not_found")
    event, raw = found
    if intent and intent not in intent_store.intent_names(session, tenant_id):
        raise InvalidInput(f"intent: no intent {intent!r}", code="intent_not_found")
    text = pii.mask(raw).strip()
    # The words' own language: a conversation's reply language is sticky ("refund" typed in a
    # Chinese conversation is an English question).
    detected = detect_language(normalize(text)) or event.language
    language: Lang = "zh" if detected == "zh" else "en"
    review = session.scalar(
        select(TurnReview).where(
            TurnReview.tenant_id == tenant_id, TurnReview.turn_event_id == turn_id
        )
    )
    if review is not None and review.entry_id and review.entry_id != entry_id:
        # A changed verdict: the words leave the entry the first verdict taught them to.
        lang: Lang = "zh" if review.language == "zh" else "en"
        editing.remove_similar(session, tenant_id, review.entry_id, review.text, lang, editor)
    if entry_id:
        editing.add_similar(session, tenant_id, entry_id, text, language, editor)
    if review is None:
        review = TurnReview(tenant_id=tenant_id, turn_event_id=turn_id, text=text)
        session.add(review)
    review.text, review.language = text, language
    review.intent, review.entry_id, review.account_id = intent, entry_id, editor.account_id
    session.flush()
    return review
