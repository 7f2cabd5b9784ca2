"""`kefu agents`: who serves customers live, with which skills, languages, teams and capacity.

(Agents switch their own status online/away/offline in the console.)
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from kefu.cli_admin import JsonOpt, TenantOpt, _actor, _database, _tenant_id, out
from kefu.errors import InvalidInput, NotFound

agents_app = typer.Typer(help="Live-chat agents: skills, languages, teams, capacity.")

ListOpt = Annotated[
    str | None, typer.Option(help="Comma-separated; an empty string clears (= any).")
]


def _split(value: str | None, name: str) -> list[str] | None:
    if value is None:
        return None
    items = sorted({v.strip() for v in value.split(",") if v.strip()})
    if any(len(v) > 64 for v in items):
        raise InvalidInput(f"--{name}: each value is at most 64 characters")
    return items


@agents_app.command("list")
def agents_list(tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """Accounts that may serve customers, with their live-chat settings."""
    from kefu.accounts.models import Account
    from kefu.accounts.permissions import Permission, permissions_of
    from kefu.handoff.models import DEFAULT_CAPACITY, Agent

    with _database() as (settings, sessions), sessions() as session:
        tid = _tenant_id(session, tenant, settings)
        rows = session.execute(
            select(Account, Agent)
            .outerjoin(Agent, Agent.account_id == Account.id)
            .where(Account.tenant_id == tid, Account.active.is_(True))
            .order_by(Account.username)
        ).all()
        data = [
            {
                "username": account.username,
                "role": account.role.value,
                "status": agent.status.value if agent else "offline",
                "capacity": agent.capacity if agent else DEFAULT_CAPACITY,
                "skills": agent.skills if agent else [],
                "languages": agent.languages if agent else [],
                "teams": agent.teams if agent else [],
            }
            for account, agent in rows
            if Permission.HANDOFF_WORK in permissions_of(account.role)
        ]
    if as_json:
        out.print_json(json.dumps(data))
        return
    table = Table("username", "role", "status", "capacity", "skills", "languages", "teams")
    for row in data:
        table.add_row(
            str(row["username"]),
            str(row["role"]),
            str(row["status"]),
            str(row["capacity"]),
            ",".join(row["skills"]) or "any",  # type: ignore[arg-type]
            ",".join(row["languages"]) or "any",  # type: ignore[arg-type]
            ",".join(row["teams"]) or "-",  # type: ignore[arg-type]
        )
    out.print(table)


@agents_app.command("set")
def agents_set(
    username: str,
    tenant: TenantOpt = None,
    capacity: Annotated[
        int | None, typer.Option(min=1, max=50, help="Chats at the same time.")
    ] = None,
    skills: ListOpt = None,
    languages: ListOpt = None,
    teams: ListOpt = None,
) -> None:
    """Set an agent's capacity, skills (e.g. bike,lodging), languages (zh,en) and teams."""
    from kefu.accounts.models import Account
    from kefu.accounts.permissions import Permission, permissions_of
    from kefu.handoff.models import Agent
    from kefu.privacy import audit

    langs = _split(languages, "languages")
    if langs and set(langs) - {"zh", "en"}:
        raise InvalidInput("--languages: zh and/or en")
    with _database() as (settings, sessions), sessions.begin() as session:
        tid = _tenant_id(session, tenant, settings)
        account = session.scalar(
            select(Account).where(Account.tenant_id == tid, Account.username == username)
        )
        if account is None:
            raise NotFound(f"no account {username!r}")
        if Permission.HANDOFF_WORK not in permissions_of(account.role):
            raise InvalidInput(
                f"{username} is a {account.role.value}: only agents, "
                "supervisors and admins serve customers"
            )
        agent = session.get(Agent, account.id)
        if agent is None:
            agent = Agent(account_id=account.id, tenant_id=tid, skills=[], languages=[], teams=[])
            session.add(agent)
        changed = {}
        for name, value in (
            ("capacity", capacity),
            ("skills", _split(skills, "skills")),
            ("languages", langs),
            ("teams", _split(teams, "teams")),
        ):
            if value is not None:
                setattr(agent, name, value)
                changed[name] = value
        audit.record(
            session,
            _actor(),
            "agent.update",
            tenant_id=tid,
            target_type="account",
            target_id=account.id,
            detail={"changed": changed},
        )
    out.print(f"{username}: changed {', '.join(changed) or 'nothing'}")
