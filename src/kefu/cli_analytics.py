"""`kefu analytics`: the dashboard's headline numbers in the terminal, and the rollup refresh."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from kefu.cli_admin import JsonOpt, TenantOpt, _database, _tenant_id, out

analytics_app = typer.Typer(
    help="Service analytics: resolution, handoffs, satisfaction, intents, knowledge gaps.",
    no_args_is_help=True,
)

DateOpt = Annotated[
    datetime | None,
    typer.Option(formats=["%Y-%m-%d"], help="A local day, YYYY-MM-DD (KEFU_TIMEZONE)."),
]


def _refresh(engine: Any, tenant_id: int, tz: ZoneInfo, full: bool) -> int:
    from kefu.analytics.refresh import refresh
    from kefu.cli_nlu import progress_bar

    with progress_bar() as update:
        return refresh(
            engine,
            tenant_id,
            tz,
            full=full,
            progress=lambda done, total: update("refresh", done / total if total else 1.0),
        )


@analytics_app.command("refresh")
def refresh_command(
    full: Annotated[bool, typer.Option("--full", help="Recompute everything.")] = False,
    tenant: TenantOpt = None,
) -> None:
    """Bring the rollups up to date (the server also does it every minute)."""
    with _database() as (settings, sessions):
        with sessions.begin() as session:
            tid = _tenant_id(session, tenant, settings)
        engine = sessions.kw["bind"]
        count = _refresh(engine, tid, ZoneInfo(settings.timezone), full)
    out.print(f"recomputed {count} conversations")


@analytics_app.command("summary")
def summary_command(
    since: DateOpt = None,
    until: DateOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
    top: Annotated[int, typer.Option(min=1, max=100, help="How many intents and gaps.")] = 5,
) -> None:
    """Conversations, messages, automated resolution, handoff rate, satisfaction, top intents
    and knowledge-gap clusters over a date range (default: the last 30 days)."""
    from kefu.analytics import metrics
    from kefu.analytics.filters import Filters
    from kefu.analytics.gaps import gap_clusters

    with _database() as (settings, sessions):
        tz = ZoneInfo(settings.timezone)
        f = Filters.of(tz, _day(since), _day(until))  # a bad range fails before any work
        with sessions.begin() as session:
            tid = _tenant_id(session, tenant, settings)
        _refresh(sessions.kw["bind"], tid, tz, False)
        with sessions() as session:
            numbers = metrics.summary(session, tid, f)
            intents = metrics.top(session, tid, f, "intent", top)
            faqs = metrics.top(session, tid, f, "faq", top)
            gaps = gap_clusters(
                session, tid, f, today=datetime.now(tz).date(), embedder=_embedder(settings)
            )[:top]
    report = {
        "filters": f.as_dict(),
        "timezone": settings.timezone,
        **numbers,
        "top_intents": intents,
        "top_faq": faqs,
        "knowledge_gaps": [
            {"id": g.id, "size": g.size, "trend": g.direction, "questions": list(g.questions)}
            for g in gaps
        ],
    }
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, default=str) + "\n")
        return
    _print(report)


def _embedder(settings: Any) -> Any:
    from kefu.understanding.embeddings import EmbedderUnavailable, make_embedder

    try:
        return make_embedder(settings.embedder)
    except EmbedderUnavailable:
        return None  # terms alone still cluster


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _print(r: dict[str, Any]) -> None:
    f = r["filters"]
    table = Table("metric", "value", title=f"kefu, {f['since']} to {f['until']} ({r['timezone']})")
    sat = r["satisfaction"]
    rows = [
        ("conversations", str(r["conversations"])),
        ("messages", str(r["messages"])),
        ("automated resolution", _pct(r["automated_resolution_rate"])),
        ("first-contact resolution", _pct(r["first_contact_resolution_rate"])),
        ("handoff rate", _pct(r["handoff_rate"])),
        ("fallback rate", _pct(r["fallback_rate"])),
        (
            "satisfaction",
            "-" if sat["average"] is None else f"{sat['average']:.2f} / 5 ({sat['count']} ratings)",
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    for title, key in (("top intents", "top_intents"), ("top FAQ entries", "top_faq")):
        if r[key]:
            t = Table(title, "turns", "share", title=title)
            for row in r[key]:
                t.add_row(row["key"], str(row["turns"]), _pct(row["share"]))
            out.print(t)
    if r["knowledge_gaps"]:
        t = Table("questions", "size", "trend", title="knowledge gaps (kefu could not answer)")
        for gap in r["knowledge_gaps"]:
            t.add_row(" / ".join(gap["questions"][:3]), str(gap["size"]), gap["trend"])
        out.print(t)
    else:
        out.print("no knowledge gaps in this range")
