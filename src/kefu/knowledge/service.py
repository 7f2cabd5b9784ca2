"""The only code that writes knowledge: import packs, export them, load them for answering."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import TypeAdapter
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kefu.db.base import utcnow
from kefu.knowledge.bank import KnowledgeBase, PackInfo
from kefu.knowledge.models import KnowledgeEntryRow, KnowledgePackRow
from kefu.knowledge.pack import (
    LANGS,
    KnowledgeEntry,
    KnowledgePack,
    PackError,
    Variable,
    default_pack_paths,
    load_pack,
    template_problem,
)
from kefu.tenants.models import Tenant

if TYPE_CHECKING:
    from kefu.knowledge.editing import Editor

_VARIABLES = TypeAdapter(dict[str, Variable])


@dataclass(frozen=True)
class ImportResult:
    pack: str
    created: int
    updated: int


def pack_variables(row: KnowledgePackRow) -> dict[str, Variable]:
    return _VARIABLES.validate_python(row.variables)


def import_pack(
    session: Session, tenant: Tenant, pack: KnowledgePack, editor: Editor | None = None
) -> ImportResult:
    """Upsert a pack and its entries by id; entries not in the file are left as they are.
    Each created or changed entry gets a new version by `editor` (default: kefu itself)."""
    from kefu.knowledge.editing import KEFU, bump_revision, latest_versions, record_version

    editor = editor or KEFU
    row = session.scalar(
        select(KnowledgePackRow).where(
            KnowledgePackRow.tenant_id == tenant.id, KnowledgePackRow.name == pack.pack
        )
    )
    variables = {
        k: (v if isinstance(v, str) else v.model_dump()) for k, v in pack.variables.items()
    }
    if row is not None:
        _check_kept_entries(session, row, pack)
    if row is None:
        row = KnowledgePackRow(tenant_id=tenant.id, name=pack.pack, variables=variables)
        session.add(row)
    row.version, row.variables, row.updated_at = pack.version, variables, utcnow()
    session.flush()

    existing = {
        r.entry_id: r
        for r in session.scalars(
            select(KnowledgeEntryRow).where(
                KnowledgeEntryRow.tenant_id == tenant.id,
                KnowledgeEntryRow.entry_id.in_([e.id for e in pack.entries]),
            )
        )
    }
    versioned = latest_versions(session, tenant.id)
    created = updated = 0
    for entry in pack.entries:
        data = entry.model_dump(mode="json")
        current = existing.get(entry.id)
        if current is None:
            session.add(
                KnowledgeEntryRow(
                    tenant_id=tenant.id,
                    pack_id=row.id,
                    entry_id=entry.id,
                    skill=entry.skill,
                    data=data,
                    enabled=entry.enabled,
                )
            )
            created += 1
        elif current.data != data or current.pack_id != row.id:
            if current.entry_id not in versioned:  # stored before versions: keep what it was
                old_pack = session.get_one(KnowledgePackRow, current.pack_id).name
                record_version(
                    session, tenant.id, entry.id, "baseline", current.data, old_pack, KEFU
                )
            current.pack_id, current.skill, current.data = row.id, entry.skill, data
            current.enabled, current.updated_at = entry.enabled, utcnow()
            updated += 1
        else:
            continue
        record_version(session, tenant.id, entry.id, "import", data, pack.pack, editor)
    bump_revision(session, tenant.id)
    session.flush()
    return ImportResult(pack.pack, created, updated)


def _check_kept_entries(session: Session, row: KnowledgePackRow, pack: KnowledgePack) -> None:
    """Entries already stored in this pack but absent from the file stay; refuse an import whose
    new variables would break their answers."""
    incoming = {e.id for e in pack.entries}
    problems = []
    kept_rows = session.scalars(
        select(KnowledgeEntryRow).where(KnowledgeEntryRow.pack_id == row.id)
    )
    for kept in kept_rows:
        if kept.entry_id in incoming:
            continue
        entry = KnowledgeEntry.model_validate(kept.data)
        for lang in LANGS:
            problem = template_problem(entry.answer.get(lang), pack.variables, lang)
            if problem:
                problems.append(
                    f"pack {pack.pack!r}: stored entry {entry.id!r} ({lang}) would break: {problem}"
                )
    if problems:
        raise PackError(problems)


def has_knowledge(session: Session, tenant: Tenant) -> bool:
    return (
        session.scalar(
            select(KnowledgeEntryRow.id).where(KnowledgeEntryRow.tenant_id == tenant.id).limit(1)
        )
        is not None
    )


def seed_defaults(session: Session, tenant: Tenant) -> list[ImportResult]:
    """Load the bundled packs into an empty knowledge base; do nothing if it has entries."""
    if has_knowledge(session, tenant):
        return []
    return [import_pack(session, tenant, load_pack(path)) for path in default_pack_paths()]


def export_packs(session: Session, tenant: Tenant) -> list[KnowledgePack]:
    packs = session.scalars(
        select(KnowledgePackRow)
        .where(KnowledgePackRow.tenant_id == tenant.id)
        .order_by(KnowledgePackRow.name)
    ).all()
    out = []
    for pack in packs:
        rows = session.scalars(
            select(KnowledgeEntryRow)
            .where(KnowledgeEntryRow.pack_id == pack.id)
            .order_by(KnowledgeEntryRow.id)
        )
        out.append(
            KnowledgePack.model_validate(
                {
                    "pack": pack.name,
                    "version": pack.version,
                    "variables": pack.variables,
                    "entries": [r.data for r in rows],
                }
            )
        )
    return out


def load_knowledge(session: Session, tenant: Tenant) -> KnowledgeBase:
    packs = {
        p.id: PackInfo(p.name, pack_variables(p))
        for p in session.scalars(
            select(KnowledgePackRow).where(KnowledgePackRow.tenant_id == tenant.id)
        )
    }
    rows: Iterable[KnowledgeEntryRow] = session.scalars(
        select(KnowledgeEntryRow)
        .where(KnowledgeEntryRow.tenant_id == tenant.id, KnowledgeEntryRow.enabled.is_(True))
        .order_by(KnowledgeEntryRow.id)
    )
    entries = []
    vectors: dict[str, tuple[str, bytes]] = {}
    for r in rows:
        entries.append((KnowledgeEntry.model_validate(r.data), packs[r.pack_id]))
        if r.vectors is not None and r.vectors_key:
            vectors[r.entry_id] = (r.vectors_key, r.vectors)
    return KnowledgeBase(entries, revision=tenant.knowledge_revision, vectors=vectors)


def store_vectors(session: Session, tenant: Tenant, vectors: dict[str, tuple[str, bytes]]) -> None:
    """Keep freshly computed question vectors with their entries (see KnowledgeEntryRow)."""
    for entry_id, (key, blob) in vectors.items():
        session.execute(
            update(KnowledgeEntryRow)
            .where(KnowledgeEntryRow.tenant_id == tenant.id, KnowledgeEntryRow.entry_id == entry_id)
            .values(vectors=blob, vectors_key=key)
        )
