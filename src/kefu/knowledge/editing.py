"""Editing the knowledge base one entry at a time (the admin console), versioned.

Every write, here or by an import, appends a `KnowledgeVersion` (who, when, what the entry became)
and bumps the tenant's knowledge revision, so running servers answer with it within seconds and
any version can be looked at, compared and brought back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kefu.db.base import utcnow
from kefu.errors import Conflict, InvalidInput, NotFound
from kefu.knowledge.models import KnowledgeEntryRow, KnowledgePackRow, KnowledgeVersion
from kefu.knowledge.pack import LANGS, KnowledgeEntry, Lang, Variable, template_problem
from kefu.knowledge.service import pack_variables
from kefu.tenants.models import Tenant

# Entries edited in the console without a pack of their own go here.
CONSOLE_PACK = "console"
# Ids the admin API's own routes use (/v1/admin/knowledge/export, .../import).
RESERVED_IDS = frozenset({"export", "import"})


@dataclass(frozen=True)
class Editor:
    """Who made a change: a console account, or the CLI / kefu itself (account_id None)."""

    name: str
    account_id: int | None = None


KEFU = Editor("kefu")


@dataclass(frozen=True)
class StoredEntry:
    entry: KnowledgeEntry
    pack: str
    version: int
    updated_at: datetime


def record_version(
    session: Session,
    tenant_id: int,
    entry_id: str,
    action: str,
    data: dict[str, Any] | None,
    pack: str,
    editor: Editor,
) -> int:
    """Append the entry's next version; returns its number."""
    current = session.scalar(
        select(func.max(KnowledgeVersion.version)).where(
            KnowledgeVersion.tenant_id == tenant_id, KnowledgeVersion.entry_id == entry_id
        )
    )
    version = (current or 0) + 1
    session.add(
        KnowledgeVersion(
            tenant_id=tenant_id,
            entry_id=entry_id,
            version=version,
            action=action,
            data=data,
            pack=pack,
            account_id=editor.account_id,
            actor=editor.name[:200],
        )
    )
    return version


def bump_revision(session: Session, tenant_id: int) -> None:
    session.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(knowledge_revision=Tenant.knowledge_revision + 1)
    )


def latest_versions(session: Session, tenant_id: int) -> dict[str, int]:
    rows = session.execute(
        select(KnowledgeVersion.entry_id, func.max(KnowledgeVersion.version))
        .where(KnowledgeVersion.tenant_id == tenant_id)
        .group_by(KnowledgeVersion.entry_id)
    )
    return {entry_id: version for entry_id, version in rows}


def _search_text(entry: KnowledgeEntry) -> str:
    parts = [entry.id, entry.skill, *entry.tags]
    for lang in LANGS:
        parts += [*entry.questions(lang), entry.answer.get(lang), *entry.keywords.get(lang)]
    return "\n".join(parts).casefold()


def list_entries(
    session: Session,
    tenant_id: int,
    *,
    query: str = "",
    skill: str | None = None,
    tag: str | None = None,
    pack: str | None = None,
) -> list[StoredEntry]:
    """Every entry (enabled or not) matching all the filters; `query` is a case-insensitive
    substring of the id, questions, similar questions, keywords or answers."""
    packs = {
        p.id: p.name
        for p in session.scalars(
            select(KnowledgePackRow).where(KnowledgePackRow.tenant_id == tenant_id)
        )
    }
    versions = latest_versions(session, tenant_id)
    needle = query.strip().casefold()
    found = []
    for row in session.scalars(
        select(KnowledgeEntryRow)
        .where(KnowledgeEntryRow.tenant_id == tenant_id)
        .order_by(KnowledgeEntryRow.entry_id)
    ):
        entry = KnowledgeEntry.model_validate(row.data)
        if skill and entry.skill != skill:
            continue
        if tag and tag not in entry.tags:
            continue
        if pack and packs[row.pack_id] != pack:
            continue
        if needle and needle not in _search_text(entry):
            continue
        found.append(
            StoredEntry(entry, packs[row.pack_id], versions.get(row.entry_id, 0), row.updated_at)
        )
    return found


def _row(
    session: Session, tenant_id: int, entry_id: str, lock: bool = False
) -> KnowledgeEntryRow | None:
    """`lock`: hold the row until the transaction ends (PostgreSQL's FOR UPDATE; SQLite's
    write transactions are serial anyway), so two editors can't both pass the version check."""
    stmt = select(KnowledgeEntryRow).where(
        KnowledgeEntryRow.tenant_id == tenant_id, KnowledgeEntryRow.entry_id == entry_id
    )
    return session.scalar(stmt.with_for_update() if lock else stmt)


def _baseline(session: Session, tenant_id: int, row: KnowledgeEntryRow, latest: int) -> None:
    """An entry stored before versions existed (kefu before 0.1's admin console) gets its
    current content as version 1 before its first change, so that change can be undone."""
    if latest:
        return
    pack = session.get_one(KnowledgePackRow, row.pack_id)
    record_version(session, tenant_id, row.entry_id, "baseline", row.data, pack.name, KEFU)


def get_entry(session: Session, tenant_id: int, entry_id: str) -> StoredEntry:
    row = _row(session, tenant_id, entry_id)
    if row is None:
        raise NotFound(f"no FAQ entry {entry_id!r}", code="entry_not_found")
    pack = session.get_one(KnowledgePackRow, row.pack_id)
    version = latest_versions(session, tenant_id).get(entry_id, 0)
    return StoredEntry(KnowledgeEntry.model_validate(row.data), pack.name, version, row.updated_at)


def _pack_row(session: Session, tenant_id: int, name: str) -> KnowledgePackRow:
    row = session.scalar(
        select(KnowledgePackRow).where(
            KnowledgePackRow.tenant_id == tenant_id, KnowledgePackRow.name == name
        )
    )
    if row is None:
        row = KnowledgePackRow(tenant_id=tenant_id, name=name, variables={})
        session.add(row)
        session.flush()
    return row


def _check_templates(entry: KnowledgeEntry, variables: dict[str, Variable]) -> None:
    problems = []
    for lang in LANGS:
        problem = template_problem(entry.answer.get(lang), variables, lang)
        if problem:
            problems.append(f"answer.{lang}: {problem}")
    if problems:
        raise InvalidInput("; ".join(problems), code="invalid_template")


def save_entry(
    session: Session,
    tenant_id: int,
    entry: KnowledgeEntry,
    editor: Editor,
    *,
    pack: str | None = None,
    expected_version: int | None = None,
    create: bool = False,
    action: str | None = None,
) -> StoredEntry:
    """Create (`create`) or replace an entry. `expected_version`: the version the editor
    started from; a newer one means someone else saved meanwhile (409, nothing lost)."""
    if entry.id in RESERVED_IDS:
        raise InvalidInput(f"id: {entry.id!r} is reserved; choose another", code="reserved_id")
    row = _row(session, tenant_id, entry.id, lock=True)
    if create and row is not None:
        raise Conflict(f"an FAQ entry {entry.id!r} already exists", code="entry_exists")
    if not create and row is None:
        raise NotFound(f"no FAQ entry {entry.id!r}", code="entry_not_found")
    latest = latest_versions(session, tenant_id).get(entry.id, 0)
    if expected_version is not None and row is not None and expected_version != latest:
        raise Conflict(
            f"entry {entry.id!r} was changed by someone else (version {latest}); "
            "reload it and apply your edit again",
            code="stale_version",
        )
    if row is not None:
        _baseline(session, tenant_id, row, latest)
    if row is not None and pack is None:
        pack_row = session.get_one(KnowledgePackRow, row.pack_id)
    else:
        pack_row = _pack_row(session, tenant_id, pack or CONSOLE_PACK)
    _check_templates(entry, pack_variables(pack_row))
    data = entry.model_dump(mode="json")
    if row is None:
        row = KnowledgeEntryRow(
            tenant_id=tenant_id,
            pack_id=pack_row.id,
            entry_id=entry.id,
            skill=entry.skill,
            data=data,
            enabled=entry.enabled,
        )
        try:
            with session.begin_nested():  # another editor creating the same id at this moment
                session.add(row)
                session.flush()
        except IntegrityError:
            raise Conflict(
                f"an FAQ entry {entry.id!r} already exists", code="entry_exists"
            ) from None
    else:
        row.pack_id, row.skill, row.data = pack_row.id, entry.skill, data
        row.enabled, row.updated_at = entry.enabled, utcnow()
    version = record_version(
        session,
        tenant_id,
        entry.id,
        action or ("create" if create else "update"),
        data,
        pack_row.name,
        editor,
    )
    bump_revision(session, tenant_id)
    session.flush()
    return StoredEntry(entry, pack_row.name, version, row.updated_at)


def delete_entry(
    session: Session,
    tenant_id: int,
    entry_id: str,
    editor: Editor,
    *,
    expected_version: int | None = None,
    action: str = "delete",
) -> int:
    row = _row(session, tenant_id, entry_id, lock=True)
    if row is None:
        raise NotFound(f"no FAQ entry {entry_id!r}", code="entry_not_found")
    latest = latest_versions(session, tenant_id).get(entry_id, 0)
    if expected_version is not None and expected_version != latest:
        raise Conflict(
            f"entry {entry_id!r} was changed by someone else (version {latest})",
            code="stale_version",
        )
    _baseline(session, tenant_id, row, latest)
    pack = session.get_one(KnowledgePackRow, row.pack_id)
    session.delete(row)
    version = record_version(session, tenant_id, entry_id, action, None, pack.name, editor)
    bump_revision(session, tenant_id)
    session.flush()
    return version


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class VersionView:
    version: int
    action: str
    actor: str
    account_id: int | None
    created_at: datetime
    pack: str
    data: dict[str, Any] | None
    changes: list[Change]  # against the version before it


def _flatten(data: dict[str, Any] | None) -> dict[str, Any]:
    """`question.zh`-style keys, so a diff names the field a person edited."""
    flat: dict[str, Any] = {}
    for key, value in (data or {}).items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                flat[f"{key}.{sub}"] = inner
        else:
            flat[key] = value
    return flat


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Change]:
    old, new = _flatten(before), _flatten(after)
    return [
        Change(key, old.get(key), new.get(key))
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def history(session: Session, tenant_id: int, entry_id: str) -> list[VersionView]:
    """The entry's versions, newest first, each with what it changed."""
    rows = session.scalars(
        select(KnowledgeVersion)
        .where(KnowledgeVersion.tenant_id == tenant_id, KnowledgeVersion.entry_id == entry_id)
        .order_by(KnowledgeVersion.version)
    ).all()
    if not rows:
        raise NotFound(f"no history for FAQ entry {entry_id!r}", code="entry_not_found")
    views = []
    previous: dict[str, Any] | None = None
    for row in rows:
        views.append(
            VersionView(
                row.version,
                row.action,
                row.actor,
                row.account_id,
                row.created_at,
                row.pack,
                row.data,
                diff(previous, row.data),
            )
        )
        previous = row.data
    return views[::-1]


def revert(
    session: Session, tenant_id: int, entry_id: str, version: int, editor: Editor
) -> StoredEntry | None:
    """Make version `version` current again, as a new version (history is never rewritten).
    Returns the entry, or None when that version was a deletion."""
    target = session.scalar(
        select(KnowledgeVersion).where(
            KnowledgeVersion.tenant_id == tenant_id,
            KnowledgeVersion.entry_id == entry_id,
            KnowledgeVersion.version == version,
        )
    )
    if target is None:
        raise NotFound(f"FAQ entry {entry_id!r} has no version {version}", code="version_not_found")
    exists = _row(session, tenant_id, entry_id) is not None
    if target.data is None:
        if exists:
            delete_entry(session, tenant_id, entry_id, editor, action="revert")
        return None
    entry = KnowledgeEntry.model_validate(target.data)
    return save_entry(
        session,
        tenant_id,
        entry,
        editor,
        pack=target.pack,
        create=not exists,
        action="revert",
    )


def add_similar(
    session: Session, tenant_id: int, entry_id: str, text: str, lang: Lang, editor: Editor
) -> StoredEntry:
    """Teach an entry another way of asking (from a reviewed conversation turn)."""
    text = " ".join(text.split())  # one line: list cells in CSV/Excel hold one item per line
    stored = get_entry(session, tenant_id, entry_id)
    entry = stored.entry
    if text in entry.questions(lang):
        return stored
    similar = entry.similar.model_copy(update={lang: [*entry.similar.get(lang), text]})
    updated = entry.model_copy(update={"similar": similar})
    return save_entry(session, tenant_id, updated, editor, action="review")


def remove_similar(
    session: Session, tenant_id: int, entry_id: str, text: str, lang: Lang, editor: Editor
) -> None:
    """Take back a similar question a review added (the verdict changed); a no-op when the
    entry is gone or no longer has it."""
    text = " ".join(text.split())
    row = _row(session, tenant_id, entry_id)
    if row is None:
        return
    entry = KnowledgeEntry.model_validate(row.data)
    if text not in entry.similar.get(lang):
        return
    kept = [q for q in entry.similar.get(lang) if q != text]
    updated = entry.model_copy(update={"similar": entry.similar.model_copy(update={lang: kept})})
    save_entry(session, tenant_id, updated, editor, action="review")
