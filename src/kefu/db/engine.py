"""Engine and session factory with the per-database settings kefu relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

READ_ONLY = "kefu_read_only"


def normalize_url(url: str) -> str:
    """Route plain postgresql:// URLs to psycopg 3, the driver kefu ships with."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    # A database that stops answering must turn into fast 503s, not requests hanging on a
    # connect: psycopg waits this long for a new connection, the pool this long for a free one.
    # TCP keepalives: a database host that vanishes without closing its connections is noticed
    # in about a minute instead of the system's two hours.
    connect_args = {
        "connect_timeout": 3,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        **kwargs.pop("connect_args", {}),
    }
    # No ping before each checkout: it was a round trip per transaction, two per message. A
    # database restart costs instead one 503 (Retry-After) per process: the first error on a
    # dead connection invalidates the whole pool, and the retry gets fresh connections.
    # Connections are recycled before idle timeouts of proxies and firewalls can cut them.
    return create_engine(
        url,
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_size=10,
        max_overflow=20,
        pool_timeout=3,
        connect_args=connect_args,
        **kwargs,
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below own transactions (pysqlite's are deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front (IMMEDIATE): a deferred transaction that later writes
        # can fail with SQLITE_BUSY at once instead of waiting its turn. Readers stay deferred,
        # so WAL lets them run alongside a writer.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_session_factory(
    engine: Engine,
    read_only: bool = False,
    *,
    tenant_id: int | None = None,
    system: bool = False,
) -> sessionmaker[Session]:
    """Sessions for writing, or (read_only) for reading without taking SQLite's write lock.

    Say whose data they touch (`kefu.db.tenancy`): one tenant's (`tenant_id`), or all of them
    for maintenance (`system=True`); sessions with neither refuse tenant-scoped queries."""
    import kefu.db.tenancy  # noqa: F401  (installs the session events)

    if tenant_id is not None and system:
        raise ValueError("a session factory is either for one tenant or for the system")
    info: dict[str, object] = {"tenant_id": tenant_id} if tenant_id is not None else {}
    if system:
        info["system"] = True
    options = {READ_ONLY: True} if read_only else None
    return sessionmaker(engine, expire_on_commit=False, execution_options=options, info=info)
