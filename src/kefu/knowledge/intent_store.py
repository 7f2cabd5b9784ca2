"""Intents and their examples in the database: seeded from the bundled packs, edited in the admin
console, grown by conversation review; what retraining learns from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kefu.db.base import utcnow
from kefu.errors import Conflict, NotFound
from kefu.knowledge.intents import OUT_OF_SCOPE, IntentSpec, default_intent_paths, load_intents
from kefu.knowledge.models import IntentRow, TurnReview
from kefu.knowledge.pack import LANGS, LocalizedList

CONSOLE_PACK = "console"


@dataclass(frozen=True)
class StoredIntent:
    spec: IntentSpec
    pack: str
    reviewed: int  # examples that come from reviewed conversation turns
    updated_at: datetime


def seed_intents(session: Session, tenant_id: int) -> int:
    """Copy the bundled intents into an empty table; returns how many were added."""
    has_any = session.scalar(select(IntentRow.id).where(IntentRow.tenant_id == tenant_id).limit(1))
    if has_any is not None:
        return 0
    merged: dict[str, tuple[str, IntentSpec]] = {}
    for path in default_intent_paths():
        loaded = load_intents(path)
        for spec in loaded.intents:
            if spec.name in merged:  # out_of_scope: every pack adds its own examples
                pack, known = merged[spec.name]
                examples = LocalizedList(
                    zh=[*known.examples.zh, *spec.examples.zh],
                    en=[*known.examples.en, *spec.examples.en],
                )
                merged[spec.name] = (pack, known.model_copy(update={"examples": examples}))
            else:
                merged[spec.name] = (loaded.pack, spec)
    for name, (pack, spec) in merged.items():
        session.add(
            IntentRow(tenant_id=tenant_id, name=name, pack=pack, data=spec.model_dump(mode="json"))
        )
    session.flush()
    return len(merged)


def _reviewed_counts(session: Session, tenant_id: int) -> dict[str, int]:
    rows = session.execute(
        select(TurnReview.intent, func.count())
        .where(TurnReview.tenant_id == tenant_id, TurnReview.intent.is_not(None))
        .group_by(TurnReview.intent)
    )
    return {name: count for name, count in rows if name}


def list_intents(session: Session, tenant_id: int) -> list[StoredIntent]:
    reviewed = _reviewed_counts(session, tenant_id)
    return [
        StoredIntent(
            IntentSpec.model_validate(row.data), row.pack, reviewed.get(row.name, 0), row.updated_at
        )
        for row in session.scalars(
            select(IntentRow).where(IntentRow.tenant_id == tenant_id).order_by(IntentRow.name)
        )
    ]


def _row(session: Session, tenant_id: int, name: str) -> IntentRow | None:
    return session.scalar(
        select(IntentRow).where(IntentRow.tenant_id == tenant_id, IntentRow.name == name)
    )


def get_intent(session: Session, tenant_id: int, name: str) -> StoredIntent:
    row = _row(session, tenant_id, name)
    if row is None:
        raise NotFound(f"no intent {name!r}", code="intent_not_found")
    reviewed = _reviewed_counts(session, tenant_id).get(name, 0)
    return StoredIntent(IntentSpec.model_validate(row.data), row.pack, reviewed, row.updated_at)


def save_intent(
    session: Session, tenant_id: int, spec: IntentSpec, *, create: bool, pack: str | None = None
) -> StoredIntent:
    row = _row(session, tenant_id, spec.name)
    if create and row is not None:
        raise Conflict(f"an intent {spec.name!r} already exists", code="intent_exists")
    if not create and row is None:
        raise NotFound(f"no intent {spec.name!r}", code="intent_not_found")
    data = spec.model_dump(mode="json")
    if row is None:
        row = IntentRow(tenant_id=tenant_id, name=spec.name, pack=pack or CONSOLE_PACK, data=data)
        session.add(row)
    else:
        row.data, row.updated_at = data, utcnow()
    session.flush()
    return get_intent(session, tenant_id, spec.name)


def delete_intent(session: Session, tenant_id: int, name: str) -> None:
    row = _row(session, tenant_id, name)
    if row is None:
        raise NotFound(f"no intent {name!r}", code="intent_not_found")
    session.delete(row)
    session.flush()


def intent_names(session: Session, tenant_id: int) -> set[str]:
    return set(session.scalars(select(IntentRow.name).where(IntentRow.tenant_id == tenant_id)))


def training_examples(session: Session, tenant_id: int) -> list[tuple[str, str]]:
    """(text, label) pairs: every intent's examples, then the reviewed turns marked with an
    intent that still exists (their text is already PII-masked), without repeats."""
    examples: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()

    def add(text: str, label: str) -> None:
        if (text, label) not in seen:
            seen.add((text, label))
            examples.append((text, label))

    names = set()
    for row in session.scalars(
        select(IntentRow).where(IntentRow.tenant_id == tenant_id).order_by(IntentRow.name)
    ):
        spec = IntentSpec.model_validate(row.data)
        names.add(spec.name)
        for lang in LANGS:
            for text in spec.examples.get(lang):
                add(text, spec.name)
    for text, label in session.execute(
        select(TurnReview.text, TurnReview.intent)
        .where(TurnReview.tenant_id == tenant_id, TurnReview.intent.is_not(None))
        .order_by(TurnReview.id)
    ):
        if label in names:
            add(text, label)
    return examples


__all__ = [
    "OUT_OF_SCOPE",
    "StoredIntent",
    "delete_intent",
    "get_intent",
    "intent_names",
    "list_intents",
    "save_intent",
    "seed_intents",
    "training_examples",
]
