"""Analytics for the dashboard and the operator's BI tools: the same numbers as JSON, or any
table as CSV (`format=csv`). Everything reads the rollups (`kefu.analytics.refresh`), which the
server brings up to date every `KEFU_ANALYTICS_REFRESH_SECONDS`; `refreshed_at` says when."""

from __future__ import annotations

import csv
import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from kefu.accounts.permissions import Permission
from kefu.accounts.service import Principal
from kefu.analytics import alerts, metrics
from kefu.analytics.filters import Filters
from kefu.analytics.refresh import data_version, refresh, refreshed_at
from kefu.api.auth import TenantReadSession, allowed
from kefu.api.deps import RuntimeDep
from kefu.api.schemas import ErrorOut
from kefu.db.base import utcnow
from kefu.knowledge.tabular_cells import cell_out
from kefu.understanding.embeddings import Embedder, EmbedderUnavailable, make_embedder

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 422, 429)
}
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}
Reader = Annotated[Principal, allowed(Permission.ANALYTICS_READ)]
Dim = Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")]
Format = Annotated[Literal["json", "csv"], Query(description="csv: the table as a CSV file")]


def filters(
    runtime: RuntimeDep,
    since: Annotated[date | None, Query(description="First local day (YYYY-MM-DD)")] = None,
    until: Annotated[date | None, Query(description="Last local day, inclusive")] = None,
    skill: Dim = None,
    channel: Dim = None,
    language: Annotated[Literal["zh", "en"] | None, Query()] = None,
) -> Filters:
    return Filters.of(ZoneInfo(runtime.settings.timezone), since, until, skill, channel, language)


FiltersDep = Annotated[Filters, Depends(filters)]


class Table(BaseModel):
    filters: dict[str, str | None]
    timezone: str
    refreshed_at: datetime | None
    columns: list[str]
    rows: list[dict[str, Any]]
    total: int | None = Field(None, description="Drill-down: how many match in all.")


def _table(
    session: Session,
    principal: Principal,
    runtime: RuntimeDep,
    f: Filters,
    rows: list[dict[str, Any]],
    columns: list[str],
    fmt: str,
    name: str,
    total: int | None = None,
) -> Table | Response:
    if fmt == "csv":
        return csv_response(columns, rows, f"kefu-{name}-{f.since}-{f.until}.csv")
    return Table(
        filters=f.as_dict(),
        timezone=runtime.settings.timezone,
        refreshed_at=refreshed_at(session, principal.tenant_id),
        columns=columns,
        rows=rows,
        total=total,
    )


def csv_response(columns: list[str], rows: list[dict[str, Any]], filename: str) -> Response:
    """UTF-8 with a BOM (so Excel reads Chinese), text guarded against formula injection."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        value = " | ".join(str(v) for v in value)
    return cell_out(str(value))


@router.get("/summary", response_model=None, responses={**ERRORS, **CSV_RESPONSE})
def summary(
    principal: Reader,
    session: TenantReadSession,
    runtime: RuntimeDep,
    f: FiltersDep,
    format: Format = "json",
) -> dict[str, Any] | Response:
    """The headline numbers: volume, automated resolution, FCR, handoff, response and handle
    times, satisfaction, sentiment, fallback and clarification rates."""
    numbers = metrics.summary(session, principal.tenant_id, f)
    if format == "csv":
        flat = [{"metric": k, "value": v} for k, v in _flatten(numbers)]
        return csv_response(["metric", "value"], flat, f"kefu-summary-{f.since}-{f.until}.csv")
    return {
        "filters": f.as_dict(),
        "timezone": runtime.settings.timezone,
        "refreshed_at": refreshed_at(session, principal.tenant_id),
        **numbers,
    }


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            out.extend(_flatten(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _simple(
    name: str, compute: Callable[[Session, int, Filters], list[dict[str, Any]]], cols: list[str]
) -> None:
    def endpoint(
        principal: Reader,
        session: TenantReadSession,
        runtime: RuntimeDep,
        f: FiltersDep,
        format: Format = "json",
    ) -> Table | Response:
        rows = compute(session, principal.tenant_id, f)
        return _table(session, principal, runtime, f, rows, cols, format, name)

    endpoint.__name__ = name.replace("-", "_")
    endpoint.__doc__ = compute.__doc__
    router.add_api_route(
        f"/{name}",
        endpoint,
        methods=["GET"],
        response_model=Table,
        responses={**ERRORS, **CSV_RESPONSE},
    )


@router.get("/volume", response_model=Table, responses={**ERRORS, **CSV_RESPONSE})
def volume(
    principal: Reader,
    session: TenantReadSession,
    runtime: RuntimeDep,
    f: FiltersDep,
    by: Literal["day", "hour"] = "day",
    format: Format = "json",
) -> Table | Response:
    """Conversations and their messages by local day, or by hour of the day over the range."""
    rows = metrics.volume(session, principal.tenant_id, f, by)
    return _table(
        session, principal, runtime, f, rows, ["bucket", "conversations", "messages"], format, by
    )


_simple(
    "trend",
    metrics.trend,
    [
        "day",
        "conversations",
        "automated_resolution_rate",
        "handoff_rate",
        "fallback_rate",
        "satisfaction",
        "sentiment",
        "negative_share",
    ],
)
_simple("handoff-reasons", metrics.handoff_reasons, ["reason", "conversations", "share"])
_simple("satisfaction", metrics.satisfaction, ["score", "conversations", "share"])
_simple(
    "flows",
    metrics.flows,
    ["flow", "started", "completed", "completion_rate", "dropped", "top_drop_step"],
)


@router.get("/intents", response_model=Table, responses={**ERRORS, **CSV_RESPONSE})
def intents(
    principal: Reader,
    session: TenantReadSession,
    runtime: RuntimeDep,
    f: FiltersDep,
    kind: Literal["intent", "faq"] = "intent",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    format: Format = "json",
) -> Table | Response:
    """The most frequent intents, or the most answered FAQ entries."""
    rows = metrics.top(session, principal.tenant_id, f, kind, limit)
    cols = ["key", "turns", "conversations", "share"]
    return _table(session, principal, runtime, f, rows, cols, format, f"top-{kind}")


@router.get("/flow-steps", response_model=Table, responses={**ERRORS, **CSV_RESPONSE})
def flow_steps(
    principal: Reader,
    session: TenantReadSession,
    runtime: RuntimeDep,
    f: FiltersDep,
    flow: Annotated[str, Query(min_length=1, max_length=128)],
    format: Format = "json",
) -> Table | Response:
    """Where customers left one flow without finishing it."""
    rows = metrics.flow_steps(session, principal.tenant_id, f, flow)
    cols = ["step", "dropped", "share"]
    return _table(session, principal, runtime, f, rows, cols, format, "flow-steps")


@router.get("/conversations", response_model=Table, responses={**ERRORS, **CSV_RESPONSE})
def conversations(
    principal: Reader,
    session: TenantReadSession,
    runtime: RuntimeDep,
    f: FiltersDep,
    day: date | None = None,
    hour: Annotated[int | None, Query(ge=0, le=23)] = None,
    reason: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    score: Annotated[int | None, Query(ge=1, le=5)] = None,
    intent: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    faq: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    flow: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    step: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    decision: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    format: Format = "json",
) -> Table | Response:
    """Drill-down: the conversations behind a bar, a slice or a row, newest first."""
    total, rows = metrics.conversations(
        session,
        principal.tenant_id,
        f,
        day=day,
        hour=hour,
        reason=reason,
        score=score,
        intent=intent,
        faq=faq,
        flow=flow,
        step=step,
        decision=decision,
        limit=limit,
        offset=offset,
    )
    cols = [
        "id",
        "started_at",
        "skill",
        "channel",
        "language",
        "status",
        "turns",
        "handed_off",
        "rating",
    ]
    return _table(session, principal, runtime, f, rows, cols, format, "conversations", total)


# Clusters change only when the rollups do: kept per (tenant, filters, data version) so the
# dashboard pays for clustering once per change, not on every view. One computation at a time
# (it is CPU-bound and holds the GIL; a second caller waits and then finds it cached).
_GAPS: OrderedDict[tuple[Any, ...], list[dict[str, Any]]] = OrderedDict()
_GAPS_LOCK = threading.Lock()
_GAPS_COMPUTE = threading.Lock()
_GAPS_KEEP = 32


@router.get("/gaps", response_model=Table, responses={**ERRORS, **CSV_RESPONSE})
def knowledge_gaps(
    principal: Reader,
    session: TenantReadSession,
    runtime: RuntimeDep,
    f: FiltersDep,
    format: Format = "json",
) -> Table | Response:
    """Questions kefu could not answer (fallbacks, clarifications, weak answers, handoffs it
    could not place), clustered by meaning: size, trend, representative questions, sample
    conversations, and a draft FAQ entry to review and publish in the admin console."""
    tz = ZoneInfo(runtime.settings.timezone)
    today = datetime.now(tz).date()  # the trend's last day: part of what is cached
    key = (principal.tenant_id, f, today, data_version(session, principal.tenant_id))
    with _GAPS_LOCK:
        rows = _GAPS.get(key)
    if rows is None:
        rows = _cluster_once(session, principal, runtime, f, today, key)
    cols = ["id", "label", "size", "conversations", "trend", "first_day", "last_day", "questions"]
    return _table(session, principal, runtime, f, rows, cols, format, "gaps")


def _cluster_once(
    session: Session,
    principal: Principal,
    runtime: RuntimeDep,
    f: Filters,
    today: date,
    key: tuple[Any, ...],
) -> list[dict[str, Any]]:
    with _GAPS_COMPUTE:
        with _GAPS_LOCK:
            rows = _GAPS.get(key)
        if rows is None:
            # Imported here: clustering brings scipy (~15 MB) into a process only once someone
            # opens the knowledge gaps, not into every server on the message path.
            from kefu.analytics.gaps import gap_clusters

            clusters = gap_clusters(
                session,
                principal.tenant_id,
                f,
                today=today,
                embedder=_embedder(runtime.settings.embedder),
            )
            rows = [_gap_row(c.as_dict()) for c in clusters]
            with _GAPS_LOCK:
                _GAPS[key] = rows
                while len(_GAPS) > _GAPS_KEEP:
                    _GAPS.popitem(last=False)
    return rows


def _gap_row(cluster: dict[str, Any]) -> dict[str, Any]:
    cluster.pop("turn_ids", None)  # every member: too many for a table
    cluster["trend"] = cluster.pop("direction")
    return cluster


def _embedder(spec: str) -> Embedder | None:
    try:
        return make_embedder(spec)
    except EmbedderUnavailable:
        return None  # terms alone still cluster


@router.get("/hot-topics", response_model=Table, responses={**ERRORS, **CSV_RESPONSE})
def hot_topics(
    principal: Reader,
    session: TenantReadSession,
    runtime: RuntimeDep,
    f: FiltersDep,
    format: Format = "json",
) -> Table | Response:
    """Intents and places asked about far more than usual at that hour: the last 24 hours
    when the range includes today, else the range's last day."""
    tz = ZoneInfo(runtime.settings.timezone)
    found = alerts.hot_topics(
        session,
        principal.tenant_id,
        f,
        now=utcnow(),
        tz=tz,
        rules=alerts.SpikeRules.from_settings(runtime.settings),
    )
    rows = [
        {
            **{k: v for k, v in t.as_dict().items() if k not in ("conversations", "breakdown")},
            "sample_conversations": list(t.conversations),
            "breakdown": t.as_dict()["breakdown"],
        }
        for t in found
    ]
    cols = ["kind", "value", "intent", "day", "hour", "count", "expected", "ratio", "score"]
    return _table(session, principal, runtime, f, rows, cols, format, "hot-topics")


class Refreshed(BaseModel):
    conversations: int = Field(description="Conversations recomputed.")
    refreshed_at: datetime | None


@router.post("/refresh", response_model=Refreshed, responses=ERRORS)
async def refresh_now(principal: Reader, runtime: RuntimeDep) -> Refreshed:
    """Bring the rollups up to date now (the server also does it on a schedule)."""
    tz = ZoneInfo(runtime.settings.timezone)
    count = await run_in_threadpool(refresh, runtime.engine, principal.tenant_id, tz)
    with runtime.sessions_for(principal.tenant_id, read_only=True)() as session:
        return Refreshed(
            conversations=count, refreshed_at=refreshed_at(session, principal.tenant_id)
        )
