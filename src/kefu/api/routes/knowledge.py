"""The knowledge base in the admin console: entries, their history, import and export.

Every write commits, then rebuilds this process's bot before answering, so the next customer
message is answered with it; other processes notice the knowledge revision within seconds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from kefu.accounts.permissions import Permission
from kefu.accounts.service import Principal
from kefu.api.auth import TenantReadSession, allowed, audited
from kefu.api.deps import RuntimeDep, require_json
from kefu.api.schemas import ErrorOut
from kefu.errors import InvalidData, InvalidInput
from kefu.knowledge import editing
from kefu.knowledge.editing import Editor, StoredEntry
from kefu.knowledge.pack import KnowledgeEntry, PackError
from kefu.runtime import Runtime
from kefu.tenants.models import Tenant

router = APIRouter(prefix="/v1/admin/knowledge", tags=["knowledge"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429)
}
Reader = Annotated[Principal, allowed(Permission.KNOWLEDGE_READ)]
Writer = Annotated[Principal, allowed(Permission.KNOWLEDGE_WRITE)]
FORMATS = {"csv": "text/csv", "xlsx": None, "yaml": "application/yaml"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_VERSION = 2**31 - 1  # a version number is a 32-bit integer column


class EntryIn(KnowledgeEntry):
    """An FAQ entry as the console edits it: the pack format's fields, validated by the same
    model as a pack file's entries."""

    def entry(self) -> KnowledgeEntry:
        return KnowledgeEntry.model_validate(
            self.model_dump(include=set(KnowledgeEntry.model_fields))
        )


class EntryCreate(EntryIn):
    pack: str | None = Field(None, min_length=1, max_length=64)


class EntryUpdate(EntryIn):
    expected_version: int | None = Field(
        None,
        ge=0,
        le=MAX_VERSION,
        description="The version you loaded: a newer one means someone else saved (409).",
    )


class EntryOut(EntryIn):
    model_config = ConfigDict(extra="ignore")

    pack: str
    version: int
    updated_at: dt.datetime

    @classmethod
    def of(cls, stored: StoredEntry) -> EntryOut:
        return cls.model_validate(
            {
                **stored.entry.model_dump(),
                "pack": stored.pack,
                "version": stored.version,
                "updated_at": stored.updated_at,
            }
        )


class EntryPage(BaseModel):
    total: int
    items: list[EntryOut]
    skills: list[str]
    tags: list[str]


class ChangeOut(BaseModel):
    field: str
    before: Any
    after: Any


class VersionOut(BaseModel):
    version: int
    action: str
    actor: str
    created_at: dt.datetime
    pack: str
    data: dict[str, Any] | None
    changes: list[ChangeOut]


class RevertIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, le=MAX_VERSION)


class Reverted(BaseModel):
    entry: EntryOut | None
    deleted: bool


class Imported(BaseModel):
    created: int
    updated: int
    packs: list[str]


def editor_of(principal: Principal) -> Editor:
    return Editor(principal.name, principal.id if principal.kind == "account" else None)


@contextmanager
def knowledge_write(runtime: Runtime, principal: Principal) -> Iterator[Session]:
    """A transaction on the caller's tenant; once committed, this process's bot is rebuilt
    (when it serves that tenant), so the change answers the very next message."""
    with runtime.sessions_for(principal.tenant_id).begin() as session:
        yield session
    if principal.tenant_id == runtime.tenant.id:
        runtime.conversations.bot.refresh(force=True)


@router.get("", response_model=EntryPage, responses=ERRORS)
def list_entries(
    principal: Reader,
    session: TenantReadSession,
    q: Annotated[str, Query(max_length=200)] = "",
    skill: Annotated[str | None, Query(max_length=64)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    pack: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> EntryPage:
    """Search the entries: `q` matches ids, questions, similar questions, keywords, answers."""
    everything = editing.list_entries(session, principal.tenant_id)
    found = editing.list_entries(
        session, principal.tenant_id, query=q, skill=skill, tag=tag, pack=pack
    )
    return EntryPage(
        total=len(found),
        items=[EntryOut.of(s) for s in found[offset : offset + limit]],
        skills=sorted({s.entry.skill for s in everything}),
        tags=sorted({t for s in everything for t in s.entry.tags}),
    )


@router.get(
    "/export",
    responses={
        **ERRORS,
        200: {"content": {XLSX: {}, "text/csv": {}, "application/yaml": {}}},
    },
)
def export(
    principal: Reader,
    session: TenantReadSession,
    format: Annotated[Literal["csv", "xlsx", "yaml"], Query()] = "yaml",
) -> Response:
    """The whole knowledge base as a file to edit and import again."""
    from kefu.knowledge import tabular
    from kefu.knowledge.service import export_packs

    tenant = session.get_one(Tenant, principal.tenant_id)
    packs = export_packs(session, tenant)
    writer = {
        "csv": tabular.export_csv,
        "xlsx": tabular.export_xlsx,
        "yaml": tabular.export_yaml,
    }[format]
    media = FORMATS[format] or XLSX
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    return Response(
        writer(packs),
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="kefu-faq-{stamp}.{format}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/import", response_model=Imported, responses=ERRORS)
async def import_file(
    principal: Writer,
    request: Request,
    runtime: RuntimeDep,
    filename: Annotated[str, Query(min_length=1, max_length=200)],
) -> Imported:
    """Upload a CSV, Excel or YAML/JSON file as the raw request body (?filename= names it).
    Entries are created or updated by id; entries not in the file are left alone. A file
    with any problem changes nothing, and every problem is reported with its row or line."""
    data = await request.body()
    return await run_in_threadpool(_import, principal, request, runtime, filename, data)


def _import(
    principal: Principal, request: Request, runtime: Runtime, filename: str, data: bytes
) -> Imported:
    from kefu.knowledge import tabular
    from kefu.knowledge.models import KnowledgePackRow
    from kefu.knowledge.service import import_pack, pack_variables

    if not data:
        raise InvalidInput("the file is empty", code="empty_file")
    try:
        fmt = tabular.detect_format(filename, data)
    except PackError as exc:
        raise InvalidData(exc.problems, code="invalid_pack") from None
    # Parse and validate before the write transaction: on SQLite it holds the database's one
    # write lock, and customers' messages wait for it.
    with runtime.sessions_for(principal.tenant_id, read_only=True)() as session:
        stored = session.scalars(
            select(KnowledgePackRow).where(KnowledgePackRow.tenant_id == principal.tenant_id)
        ).all()
        known = {row.name: pack_variables(row) for row in stored}
        versions = {row.name: row.version for row in stored}
    try:
        packs = tabular.parse_table(data, fmt, known, existing_versions=versions)
    except PackError as exc:
        raise InvalidData(exc.problems, code="invalid_pack") from None
    with knowledge_write(runtime, principal) as session:
        tenant = session.get_one(Tenant, principal.tenant_id)
        created = updated = 0
        try:
            for pack in packs:
                result = import_pack(session, tenant, pack, editor_of(principal))
                created, updated = created + result.created, updated + result.updated
        except PackError as exc:
            raise InvalidData(exc.problems, code="invalid_pack") from None
        audited(
            session,
            principal,
            request,
            "knowledge.import",
            target_type="knowledge",
            target_id=filename,
            detail={"created": created, "updated": updated},
        )
    return Imported(created=created, updated=updated, packs=[p.pack for p in packs])


@router.get("/{entry_id}", response_model=EntryOut, responses=ERRORS)
def get_entry(entry_id: str, principal: Reader, session: TenantReadSession) -> EntryOut:
    return EntryOut.of(editing.get_entry(session, principal.tenant_id, entry_id))


@router.post(
    "",
    response_model=EntryOut,
    status_code=201,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def create_entry(
    body: EntryCreate, principal: Writer, runtime: RuntimeDep, request: Request
) -> EntryOut:
    entry = body.entry()
    with knowledge_write(runtime, principal) as session:
        stored = editing.save_entry(
            session, principal.tenant_id, entry, editor_of(principal), pack=body.pack, create=True
        )
        audited(
            session, principal, request, "knowledge.create", target_type="faq", target_id=entry.id
        )
    return EntryOut.of(stored)


@router.put(
    "/{entry_id}", response_model=EntryOut, responses=ERRORS, dependencies=[Depends(require_json)]
)
def update_entry(
    entry_id: str, body: EntryUpdate, principal: Writer, runtime: RuntimeDep, request: Request
) -> EntryOut:
    if body.id != entry_id:
        raise InvalidInput(
            f"the body's id {body.id!r} is not the entry in the path ({entry_id!r}); "
            "to rename, create the new entry and delete the old one",
            code="id_mismatch",
        )
    entry = body.entry()
    with knowledge_write(runtime, principal) as session:
        stored = editing.save_entry(
            session,
            principal.tenant_id,
            entry,
            editor_of(principal),
            expected_version=body.expected_version,
        )
        audited(
            session, principal, request, "knowledge.update", target_type="faq", target_id=entry_id
        )
    return EntryOut.of(stored)


@router.delete("/{entry_id}", status_code=204, responses=ERRORS)
def delete_entry(
    entry_id: str,
    principal: Writer,
    runtime: RuntimeDep,
    request: Request,
    expected_version: Annotated[int | None, Query(ge=0, le=MAX_VERSION)] = None,
) -> Response:
    with knowledge_write(runtime, principal) as session:
        editing.delete_entry(
            session,
            principal.tenant_id,
            entry_id,
            editor_of(principal),
            expected_version=expected_version,
        )
        audited(
            session, principal, request, "knowledge.delete", target_type="faq", target_id=entry_id
        )
    return Response(status_code=204)


@router.get("/{entry_id}/history", response_model=list[VersionOut], responses=ERRORS)
def entry_history(entry_id: str, principal: Reader, session: TenantReadSession) -> list[VersionOut]:
    """Every version of the entry, newest first: who, when, how, and what changed."""
    return [
        VersionOut(
            version=v.version,
            action=v.action,
            actor=v.actor,
            created_at=v.created_at,
            pack=v.pack,
            data=v.data,
            changes=[ChangeOut(field=c.field, before=c.before, after=c.after) for c in v.changes],
        )
        for v in editing.history(session, principal.tenant_id, entry_id)
    ]


@router.post(
    "/{entry_id}/revert",
    response_model=Reverted,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
)
def revert_entry(
    entry_id: str, body: RevertIn, principal: Writer, runtime: RuntimeDep, request: Request
) -> Reverted:
    """Bring back an earlier version (as a new version: history is never rewritten)."""
    with knowledge_write(runtime, principal) as session:
        stored = editing.revert(
            session, principal.tenant_id, entry_id, body.version, editor_of(principal)
        )
        audited(
            session,
            principal,
            request,
            "knowledge.revert",
            target_type="faq",
            target_id=entry_id,
            detail={"version": body.version},
        )
    return Reverted(entry=EntryOut.of(stored) if stored else None, deleted=stored is None)
