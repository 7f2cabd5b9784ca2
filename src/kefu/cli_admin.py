"""Administration commands: tenants, accounts, API keys, audit log, retention, customers.

Registered on the main app by cli.py. Every change is written to the audit log as done by
`cli:<os user>`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kefu.config import Settings
from kefu.errors import InvalidInput, NotFound

tenants_app = typer.Typer(
    help="Tenants (operators served by this deployment).", no_args_is_help=True
)
accounts_app = typer.Typer(help="Console accounts and API keys.", no_args_is_help=True)
retention_app = typer.Typer(help="Transcript retention.", no_args_is_help=True)
customers_app = typer.Typer(
    help="Data-subject requests: export or erase one customer.", no_args_is_help=True
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

TenantOpt = Annotated[
    str | None, typer.Option("--tenant", help="Tenant slug (default: KEFU_TENANT).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@contextmanager
def _database() -> Iterator[tuple[Settings, sessionmaker[Session]]]:
    from kefu.runtime import open_engine

    settings = Settings()
    engine = open_engine(settings)
    try:
        from kefu.db.engine import make_session_factory

        yield settings, make_session_factory(engine, system=True)
    finally:
        engine.dispose()


def _tenant_id(session: Session, slug: str | None, settings: Settings) -> int:
    """The tenant's id. The deployment's own tenant is created on first use, so an admin can
    be made before the first `kefu serve`."""
    from kefu.tenants.models import Tenant
    from kefu.tenants.service import ensure_tenant

    slug = slug or settings.tenant
    if slug == settings.tenant:
        return ensure_tenant(session, slug).id
    tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        raise NotFound(f"no tenant {slug!r} (kefu tenants list)")
    return tenant_id


def _actor() -> Any:
    from kefu.privacy.audit import Actor

    return Actor.cli()


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"--{name}: not a date or time ({value!r}); use 2026-11-24 or 2026-11-24T08:00"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- tenants -------------------------------------------------------------------------------


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants."""
    from kefu.tenants.models import Tenant

    with _database() as (_, sessions), sessions() as session:
        table = Table("id", "slug", "name", "retention")
        for t in session.scalars(select(Tenant).order_by(Tenant.id)):
            days = f"{t.retention_days} days, {t.retention_mode}" if t.retention_days else "forever"
            table.add_row(str(t.id), t.slug, t.name, days)
        out.print(table)


@tenants_app.command("create")
def tenants_create(
    slug: Annotated[str, typer.Argument(help="Short id: a-z, 0-9, -")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Create a tenant (an operator with its own accounts, knowledge and conversations)."""
    import re

    from kefu.privacy import audit
    from kefu.tenants.models import Tenant

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", slug):
        raise InvalidInput("slug: 1-64 of a-z, 0-9 and -, starting with a letter or digit")
    with _database() as (_, sessions), sessions.begin() as session:
        if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
            raise InvalidInput(f"tenant {slug!r} exists")
        tenant = Tenant(slug=slug, name=name or slug)
        session.add(tenant)
        session.flush()
        audit.record(
            session,
            _actor(),
            "tenant.create",
            tenant_id=tenant.id,
            target_type="tenant",
            target_id=slug,
        )
    out.print(f"created tenant {slug}")


# -- accounts --------------------------------------------------------------------------------


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = typer.prompt("password", hide_input=True)
    second = typer.prompt("repeat", hide_input=True)
    if first != second:
        raise InvalidInput("the passwords differ")
    return str(first)


@accounts_app.command("create")
def accounts_create(
    username: str,
    role: Annotated[str, typer.Option(help="admin, supervisor, agent or analyst")],
    tenant: TenantOpt = None,
    display_name: Annotated[str, typer.Option(help="Name shown in the console.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a console account (the first admin is created this way)."""
    from kefu.accounts import service as accounts
    from kefu.privacy import audit

    password = _read_password(password_stdin)
    with _database() as (settings, sessions), sessions.begin() as session:
        tid = _tenant_id(session, tenant, settings)
        account = accounts.create_account(session, tid, username, password, role, display_name)
        audit.record(
            session,
            _actor(),
            "account.create",
            tenant_id=tid,
            target_type="account",
            target_id=account.id,
            detail={"username": username, "role": role},
        )
    out.print(f"created {role} {username}")


@accounts_app.command("list")
def accounts_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """List console accounts."""
    from kefu.accounts import service as accounts

    with _database() as (settings, sessions), sessions() as session:
        rows = accounts.list_accounts(session, _tenant_id(session, tenant, settings))
        data = [
            {
                "id": a.id,
                "username": a.username,
                "role": a.role.value,
                "active": a.active,
                "last_login_at": a.last_login_at.isoformat() if a.last_login_at else None,
            }
            for a in rows
        ]
    if as_json:
        out.print_json(json.dumps(data))
        return
    table = Table("id", "username", "role", "active", "last sign-in")
    for row in data:
        table.add_row(
            str(row["id"]),
            str(row["username"]),
            str(row["role"]),
            str(row["active"]),
            str(row["last_login_at"] or "-"),
        )
    out.print(table)


@accounts_app.command("set")
def accounts_set(
    username: str,
    tenant: TenantOpt = None,
    role: Annotated[str | None, typer.Option(help="New role.")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a new password from standard input.")
    ] = False,
) -> None:
    """Change an account's role, active flag or password (signs it out everywhere)."""
    from kefu.accounts import service as accounts
    from kefu.accounts.models import Account
    from kefu.privacy import audit

    password = _read_password(True) if password_stdin else None
    with _database() as (settings, sessions), sessions.begin() as session:
        tid = _tenant_id(session, tenant, settings)
        account = session.scalar(
            select(Account).where(Account.tenant_id == tid, Account.username == username)
        )
        if account is None:
            raise NotFound(f"no account {username!r}")
        changed = accounts.update_account(
            session, account, role=role, active=active, password=password
        )
        audit.record(
            session,
            _actor(),
            "account.update",
            tenant_id=tid,
            target_type="account",
            target_id=account.id,
            detail={"changed": changed},
        )
    out.print(f"{username}: changed {', '.join(changed) or 'nothing'}")


@accounts_app.command("api-key")
def accounts_api_key(
    name: str,
    scope: Annotated[
        list[str],
        typer.Option("--scope", help="A permission, e.g. conversations:read; repeat for more."),
    ],
    tenant: TenantOpt = None,
) -> None:
    """Mint an API key for an integration; the key is printed once."""
    from kefu.accounts import service as accounts
    from kefu.privacy import audit

    with _database() as (settings, sessions), sessions.begin() as session:
        tid = _tenant_id(session, tenant, settings)
        key, secret = accounts.create_api_key(session, tid, name, scope)
        audit.record(
            session,
            _actor(),
            "api_key.create",
            tenant_id=tid,
            target_type="api_key",
            target_id=key.id,
            detail={"name": name, "scopes": key.scopes},
        )
    out.print(secret)


# -- audit -----------------------------------------------------------------------------------


def audit_command(
    since: Annotated[str | None, typer.Option(help="From this date/time (UTC if no zone).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this date/time.")] = None,
    actor: Annotated[str | None, typer.Option(help="Actor name, e.g. alice or cli:root.")] = None,
    action: Annotated[
        str | None, typer.Option(help="Action or prefix, e.g. auth. or pii.view")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target id.")] = None,
    tenant: TenantOpt = None,
    deployment: Annotated[
        bool, typer.Option("--deployment", help="Deployment-wide events (key changes) instead.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Query the audit log (newest first)."""
    from kefu.db.engine import make_session_factory
    from kefu.privacy import audit

    with _database() as (settings, sessions):
        with sessions() as session:
            tid = _tenant_id(session, tenant, settings)
        scoped = (
            sessions
            if deployment
            else make_session_factory(sessions.kw["bind"], read_only=True, tenant_id=tid)
        )
        with scoped() as session:
            events = [
                audit.as_dict(e)
                for e in audit.query(
                    session,
                    since=_parse_time(since, "since"),
                    until=_parse_time(until, "until"),
                    actor=actor,
                    action=action,
                    target_id=target,
                    limit=limit,
                    deployment_wide=deployment,
                )
            ]
    if as_json:
        for event in events:
            sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
        return
    table = Table("at", "actor", "action", "target", "from", "detail")
    for e in events:
        target_s = f"{e['target']['type'] or ''}:{e['target']['id'] or ''}".strip(":")
        table.add_row(
            e["at"][:19],
            e["actor"]["name"],
            e["action"],
            target_s,
            e["ip"] or "",
            json.dumps(e["detail"], ensure_ascii=False) if e["detail"] else "",
        )
    out.print(table)
    if not events:
        err.print("no audit events match")


# -- retention -------------------------------------------------------------------------------


@retention_app.command("set")
def retention_set(
    days: Annotated[int | None, typer.Option(help="Days to keep; omit with --forever.")] = None,
    mode: Annotated[str, typer.Option(help="anonymise or delete")] = "anonymise",
    forever: Annotated[bool, typer.Option("--forever", help="Keep transcripts forever.")] = False,
    tenant: TenantOpt = None,
) -> None:
    """Set the tenant's retention policy."""
    from kefu.privacy import audit, retention
    from kefu.tenants.models import Tenant

    if (days is None) == (not forever):
        raise InvalidInput("give --days N or --forever")
    with _database() as (settings, sessions), sessions.begin() as session:
        tid = _tenant_id(session, tenant, settings)
        row = session.get(Tenant, tid)
        assert row is not None
        before = retention.set_policy(session, row, days, mode)
        audit.record(
            session,
            _actor(),
            "settings.retention",
            tenant_id=tid,
            target_type="tenant",
            target_id=row.slug,
            detail={"before": before, "after": {"days": days, "mode": mode}},
        )
    out.print(f"retention: {f'{days} days, {mode}' if days else 'forever'}")


@retention_app.command("run")
def retention_run(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant (default: all).")] = None,
) -> None:
    """Apply every tenant's retention policy now (the server also runs it hourly)."""
    from kefu.privacy import retention

    with _database() as (settings, sessions):
        if tenant:
            with sessions.begin() as session:
                tid = _tenant_id(session, tenant, settings)
            results = [retention.purge_tenant(sessions, tid)]
        else:
            results = retention.purge_all(sessions)
    table = Table("tenant", "mode", "conversations", "messages", "customers", "note")
    for r in results:
        table.add_row(
            r.tenant,
            r.mode,
            str(r.conversations),
            str(r.messages),
            str(r.customers),
            r.skipped or (f"before {r.cutoff:%Y-%m-%d %H:%M}" if r.cutoff else ""),
        )
    out.print(table)


# -- customers ------------------------------------------------------------------------------


@customers_app.command("export")
def customers_export(
    customer: Annotated[
        str,
        typer.Argument(
            help="kefu customer id, or the operator's own id for the customer (external id)."
        ),
    ],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write here (default: stdout).")
    ] = None,
    tenant: TenantOpt = None,
) -> None:
    """Export everything kefu holds about one customer as JSON."""
    from kefu.privacy import audit, retention

    with _database() as (settings, sessions), sessions.begin() as session:
        tid = _tenant_id(session, tenant, settings)
        cid = retention.find_customer(session, tid, customer, settings)
        data = retention.export_customer(session, tid, cid)
        audit.record(
            session,
            _actor(),
            "customer.export",
            tenant_id=tid,
            target_type="customer",
            target_id=cid,
            detail={"conversations": len(data["conversations"])},
        )
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out_file is None:
        sys.stdout.write(text + "\n")
    else:
        out_file.write_text(text + "\n", encoding="utf-8")
        err.print(f"wrote {out_file}")


@customers_app.command("erase")
def customers_erase(
    customer: Annotated[str, typer.Argument(help="kefu customer id or external id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Don't ask for confirmation.")] = False,
    tenant: TenantOpt = None,
) -> None:
    """Erase one customer's messages and contact details (analytics counts stay)."""
    from kefu.privacy import audit, retention

    if not yes and not typer.confirm(f"erase everything customer {customer!r} wrote?"):
        raise typer.Exit(1)
    with _database() as (settings, sessions), sessions.begin() as session:
        tid = _tenant_id(session, tenant, settings)
        cid = retention.find_customer(session, tid, customer, settings)
        counts = retention.erase_customer(session, tid, cid)
        audit.record(
            session,
            _actor(),
            "customer.erase",
            tenant_id=tid,
            target_type="customer",
            target_id=cid,
            detail=counts,
        )
    out.print(
        f"erased customer {cid}: {counts['messages']} messages in "
        f"{counts['conversations']} conversations"
    )
