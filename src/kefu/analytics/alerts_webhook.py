"""Hot-topic alerts posted to the operator's webhook, each spike once.

The server's job queue runs it in two steps: `record_due` (the `analytics.alerts` job) and
`deliver`, one post per `webhook.hot_topic` job, which raises `WebhookFailed` on a failed post so
the queue retries it with backoff. `check_and_notify` does both at once (the CLI): it detects
the current spikes (`alerts.hot_topics`, the last 24 hours), records each new one in `SentAlert`
(key kind:value:day:hour, unique per tenant, so concurrent checks claim a spike once) and POSTs
it. States: pending -> sending (claimed by one check, `attempted_at`) -> sent or failed. A failed
post keeps its attempts and last error and is retried by the next checks, up to MAX_ATTEMPTS,
while it is less than RETRY_WINDOW old; one left `sending` by a check that died is taken again
after SENDING_LEASE. In `check_and_notify`, network errors never raise.

The body is JSON, `{"type": "kefu.hot_topic", "tenant": slug, "topic": {...}, "dashboard_url"}`,
with counts, place names, intent ids and up to 10 conversation ids (to open in the dashboard or
the console), never message text. With a secret, the header
`X-Kefu-Signature: sha256=<hex>` is the HMAC-SHA256 of the raw body with it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import ColumnElement, Engine, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kefu.analytics.alerts import HotTopic, SpikeRules, hot_topics
from kefu.analytics.filters import Filters
from kefu.analytics.models import SentAlert
from kefu.config import Settings
from kefu.db.engine import make_session_factory
from kefu.tenants.models import Tenant

log = logging.getLogger(__name__)

EVENT_TYPE = "kefu.hot_topic"
SIGNATURE_HEADER = "X-Kefu-Signature"
MAX_ATTEMPTS = 5
RETRY_WINDOW = timedelta(hours=24)  # an older unsent spike is news no longer
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
SENDING_LEASE = timedelta(minutes=5)  # far beyond the longest post (timeout <= 60 s)


def sign(body: bytes, secret: str) -> str:
    """The X-Kefu-Signature value for `body`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes posted (and signed): compact, sorted keys, UTF-8."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def build_payload(tenant: str, topic: HotTopic, dashboard_url: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": EVENT_TYPE, "tenant": tenant, "topic": topic.as_dict()}
    if dashboard_url:
        payload["dashboard_url"] = dashboard_url
    return payload


def check_and_notify(
    engine: Engine,
    tenant_id: int,
    tz: ZoneInfo,
    settings: Settings,
    *,
    now: datetime | None = None,
    client: httpx.Client | None = None,
) -> list[SentAlert]:
    """Detect the current spikes (the 24 hours up to `now`, default: now) and post the new ones
    (and retry failed ones) to the configured webhook. Returns the alerts posted by this call,
    sent or failed; nothing when no webhook is configured."""
    url = settings.analytics_webhook_url
    if not url:
        return []
    now = now or datetime.now(UTC)
    due = record_due(engine, tenant_id, tz, settings, now=now)
    if not due:
        return []
    writer = make_session_factory(engine, tenant_id=tenant_id)
    secret = settings.analytics_webhook_secret
    own_client = client is None
    http = client or httpx.Client(timeout=settings.analytics_webhook_timeout_s)
    posted: list[SentAlert] = []
    try:
        for alert in due:
            if not _claim(writer, alert, now):
                continue  # another check is posting it
            error = _post(http, url, alert.payload, secret.get_secret_value() if secret else None)
            posted.append(_finish(writer, alert, error))
    finally:
        if own_client:
            http.close()
    return posted


def record_due(
    engine: Engine, tenant_id: int, tz: ZoneInfo, settings: Settings, *, now: datetime
) -> list[SentAlert]:
    """Record the new spikes as pending alerts; return every alert due for a post (new,
    failed with attempts left, or left `sending` by a post that died)."""
    reader = make_session_factory(engine, read_only=True, tenant_id=tenant_id)
    writer = make_session_factory(engine, tenant_id=tenant_id)
    with reader() as session:
        slug = session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
        today = now.astimezone(tz).date()
        topics = hot_topics(
            session,
            tenant_id,
            Filters(today - timedelta(days=1), today),
            now=now,
            tz=tz,
            rules=SpikeRules.from_settings(settings),
        )
        known = set(
            session.scalars(
                select(SentAlert.key).where(
                    SentAlert.tenant_id == tenant_id, SentAlert.key.in_([t.key for t in topics])
                )
            )
        )
    for topic in topics:
        if topic.key not in known:
            payload = build_payload(slug or "", topic, settings.analytics_dashboard_url)
            _record(writer, tenant_id, topic, payload, now)

    with reader() as session:
        return list(
            session.scalars(
                select(SentAlert)
                .where(
                    SentAlert.tenant_id == tenant_id,
                    _claimable(now),
                    SentAlert.attempts < MAX_ATTEMPTS,
                    SentAlert.created_at >= now - RETRY_WINDOW,
                )
                .order_by(SentAlert.id)
            )
        )


class WebhookFailed(Exception):
    """One post of an alert failed; the job queue retries it later."""


def deliver(
    engine: Engine,
    tenant_id: int,
    alert_id: int,
    settings: Settings,
    *,
    now: datetime | None = None,
    client: httpx.Client | None = None,
) -> SentAlert | None:
    """Post one alert (the job queue's webhook job): None when there is nothing to do (sent,
    out of attempts or of its window, or being posted by someone else). Raises WebhookFailed
    when the post failed, so the queue retries with backoff."""
    url = settings.analytics_webhook_url
    if not url:
        return None
    now = now or datetime.now(UTC)
    reader = make_session_factory(engine, read_only=True, tenant_id=tenant_id)
    writer = make_session_factory(engine, tenant_id=tenant_id)
    with reader() as session:
        alert = session.scalar(
            select(SentAlert).where(
                SentAlert.id == alert_id,
                _claimable(now),
                SentAlert.attempts < MAX_ATTEMPTS,
                SentAlert.created_at >= now - RETRY_WINDOW,
            )
        )
    if alert is None or not _claim(writer, alert, now):
        return None
    secret = settings.analytics_webhook_secret
    http = client or httpx.Client(timeout=settings.analytics_webhook_timeout_s)
    try:
        error = _post(http, url, alert.payload, secret.get_secret_value() if secret else None)
    finally:
        if client is None:
            http.close()
    _finish(writer, alert, error)
    if error is not None:
        raise WebhookFailed(f"hot-topic alert {alert.key}: {error}")
    return alert


def _record(
    writer: sessionmaker[Session],
    tenant_id: int,
    topic: HotTopic,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Insert the alert as pending; a concurrent check that got there first wins."""
    try:
        with writer.begin() as session:
            session.add(
                SentAlert(
                    tenant_id=tenant_id,
                    key=topic.key,
                    payload=payload,
                    status=PENDING,
                    attempts=0,
                    created_at=now,
                )
            )
    except IntegrityError:
        pass


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Not sent, and nobody posting it: pending, failed, or sending for longer than a post
    can take (its check died mid-post)."""
    return or_(
        SentAlert.status.in_((PENDING, FAILED)),
        and_(SentAlert.status == SENDING, SentAlert.attempted_at < now - SENDING_LEASE),
    )


def _claim(writer: sessionmaker[Session], alert: SentAlert, now: datetime) -> bool:
    """Mark the alert as being sent by this check, only if it is still as we read it: two
    checks at once (the server's schedule and the CLI) never post the same alert twice."""
    with writer.begin() as session:
        result = session.execute(
            update(SentAlert)
            .where(SentAlert.id == alert.id, SentAlert.attempts == alert.attempts, _claimable(now))
            .values(attempts=SentAlert.attempts + 1, status=SENDING, attempted_at=now)
            .execution_options(synchronize_session=False)
        )
        claimed = bool(getattr(result, "rowcount", 0))
    if claimed:
        alert.attempts += 1
    return claimed


def _post(http: httpx.Client, url: str, payload: dict[str, Any], secret: str | None) -> str | None:
    """POST the payload; the error as text, or None when the endpoint took it (2xx)."""
    body = encode(payload)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "kefu"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    try:
        response = http.post(url, content=body, headers=headers)
    except (httpx.HTTPError, httpx.InvalidURL, OSError, UnicodeError) as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if response.is_success:
        return None
    return f"HTTP {response.status_code}"


def _finish(writer: sessionmaker[Session], alert: SentAlert, error: str | None) -> SentAlert:
    status = SENT if error is None else FAILED
    with writer.begin() as session:
        session.execute(
            update(SentAlert)
            .where(SentAlert.id == alert.id)
            .values(status=status, last_error=error)
            .execution_options(synchronize_session=False)
        )
    alert.status, alert.last_error = status, error
    if error:
        log.warning("hot-topic alert %s: attempt %d failed: %s", alert.key, alert.attempts, error)
    return alert
