"""Key rotation: re-encrypt stored values under the primary key, beside live traffic.

Every column typed `EncryptedText` is found in the metadata, so a new encrypted column is
rotated without touching this file. Rows are taken in primary-key order, a batch at a time,
each batch its own short transaction that locks only its own rows; servers keep serving.
A batch selects rows "not yet under the primary key" (or legacy plaintext, or missing their
blind index), so an interrupted run resumes by running it again, and a finished one is a no-op.
Each row is updated only if it still holds the value that was read, so a row a server changed
meanwhile is never overwritten: the batch is read again instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Engine,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    column,
    func,
    literal,
    or_,
    select,
    table,
    update,
)

from kefu.db.base import Base
from kefu.db.engine import READ_ONLY
from kefu.privacy.crypto import (
    PREFIX,
    V1,
    EncryptedText,
    EncryptionError,
    Keyring,
    blind_index,
    key_id_of,
    keyring_of,
)

DEFAULT_BATCH = 500
# (column, rows done, rows to do when it started) after each committed batch.
ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EncryptedColumn:
    table: Table
    column: Column[Any]
    type: EncryptedText

    @property
    def name(self) -> str:
        """The name bound into its ciphertexts, e.g. "messages.text"."""
        return self.type.column


def encrypted_columns() -> list[EncryptedColumn]:
    """Every encrypted column of every table kefu defines."""
    import kefu.db.models  # noqa: F401 - registers every table on Base.metadata

    return [
        EncryptedColumn(t, c, c.type)
        for t in Base.metadata.sorted_tables
        for c in t.columns
        if isinstance(c.type, EncryptedText)
    ]


@dataclass
class ColumnRotation:
    column: str
    rotated: int = 0  # values (re-)encrypted under the primary key
    indexed: int = 0  # blind indexes filled for rows that had none


@dataclass
class KeyUsage:
    """How many stored values of one column are under each key."""

    column: str
    by_key: dict[str, int] = field(default_factory=dict)
    plaintext: int = 0  # legacy rows, not yet encrypted
    unknown: int = 0  # under a key this keyring doesn't hold


class _Raw:
    """A plain-TEXT view of one encrypted column: rotation reads and writes ciphertext."""

    def __init__(self, enc: EncryptedColumn) -> None:
        (pk,) = enc.table.primary_key.columns
        self.index_name = enc.type.blind_index
        columns = [column(pk.name, pk.type), column(enc.column.name, Text())]
        if self.index_name:
            columns.append(column(self.index_name, String()))
        self.t = table(enc.table.name, *columns)
        self.pk = self.t.c[pk.name]
        self.value = self.t.c[enc.column.name]
        self.index = self.t.c[self.index_name] if self.index_name else None

    def starts(self, prefix: str) -> ColumnElement[bool]:
        # substr, not LIKE: key ids may hold '_', a LIKE wildcard.
        return func.substr(self.value, 1, len(prefix)) == literal(prefix)

    def stale(self, primary: str) -> ColumnElement[bool]:
        todo = and_(self.value.is_not(None), ~self.starts(f"{V1}{primary}:"))
        if self.index is not None:
            todo = or_(todo, and_(self.value.is_not(None), self.index.is_(None)))
        return todo


def rotate(
    engine: Engine, *, batch_size: int = DEFAULT_BATCH, progress: ProgressFn | None = None
) -> list[ColumnRotation]:
    """Bring every encrypted value under the engine keyring's primary key; fill missing
    blind indexes. Safe to interrupt and to run again."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    keyring = keyring_of(engine)
    primary = keyring.primary  # fixed for the run, even if the key file changes meanwhile
    return [
        _rotate_column(engine, keyring, primary, enc, batch_size, progress)
        for enc in encrypted_columns()
    ]


def _rotate_column(
    engine: Engine,
    keyring: Keyring,
    primary: str,
    enc: EncryptedColumn,
    batch_size: int,
    progress: ProgressFn | None,
) -> ColumnRotation:
    raw = _Raw(enc)
    stale = raw.stale(primary)
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        total = conn.execute(select(func.count()).select_from(raw.t).where(stale)).scalar_one()
    values: dict[str, Any] = {raw.value.name: bindparam("b_new")}
    if raw.index is not None:
        values[raw.index.name] = bindparam("b_index")
    # Compare-and-set: a row changed since it was read is left alone and read again.
    put = (
        update(raw.t)
        .where(raw.pk == bindparam("b_pk"), raw.value == bindparam("b_old"))
        .values(values)
    )
    result = ColumnRotation(enc.name)
    done, last = 0, None
    while True:
        query = select(*raw.t.c).where(stale).order_by(raw.pk).limit(batch_size)
        if last is not None:
            query = query.where(raw.pk > last)
        batch = ColumnRotation(enc.name)
        with engine.begin() as conn:
            rows = conn.execute(query).all()
            if not rows:
                break
            changes = [_change(keyring, primary, enc.name, raw, row, batch) for row in rows]
            written = conn.execute(put, changes).rowcount
        if written == len(rows) or not engine.dialect.supports_sane_multi_rowcount:
            last = rows[-1][0]
            done += len(rows)
            result.rotated += batch.rotated
            result.indexed += batch.indexed
        # else a server changed a row meanwhile: read the same range again.
        if progress is not None:
            progress(enc.name, done, max(total, done))
    return result


def _change(
    keyring: Keyring, primary: str, name: str, raw: _Raw, row: Any, result: ColumnRotation
) -> dict[str, Any]:
    pk, old = row[0], row[1]
    try:
        plain = keyring.decrypt(old, name)
    except EncryptionError as exc:
        raise EncryptionError(f"{exc.message} (row {raw.pk.name}={pk})") from None
    new = old
    if key_id_of(old) != primary:
        new = keyring.encrypt(plain, name, key_id=primary)
        result.rotated += 1
    change = {"b_pk": pk, "b_old": old, "b_new": new}
    if raw.index is not None:
        change["b_index"] = row[2] or blind_index(keyring, plain)
        result.indexed += row[2] is None
    return change


def key_usage(engine: Engine) -> list[KeyUsage]:
    """Per encrypted column, how many values each key holds (full scans: an admin query)."""
    keyring = keyring_of(engine)
    usages = []
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        for enc in encrypted_columns():
            raw = _Raw(enc)
            present = raw.value.is_not(None)
            counts = [
                func.coalesce(func.sum(case((raw.starts(f"{V1}{kid}:"), 1), else_=0)), 0)
                for kid in keyring.key_ids
            ]
            legacy = func.coalesce(
                func.sum(case((and_(present, ~raw.starts(PREFIX)), 1), else_=0)), 0
            )
            row = conn.execute(select(func.count(raw.value), legacy, *counts)).one()
            total, plaintext, by_key = (
                row[0],
                row[1],
                dict(zip(keyring.key_ids, row[2:], strict=True)),
            )
            usages.append(
                KeyUsage(enc.name, by_key, plaintext, total - plaintext - sum(by_key.values()))
            )
    return usages
