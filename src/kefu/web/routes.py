"""The chat page at `/`, rendered in the visitor's language (`?lang=` or Accept-Language)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kefu.i18n import LANGUAGES, catalog, pick_language
from kefu.runtime import Runtime

router = APIRouter(include_in_schema=False)
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def page_language(
    request: Request,
    lang: Annotated[str | None, Query(max_length=8)] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> str:
    """`?lang=` when it is one kefu speaks, else the browser's preference, else the default."""
    if lang in LANGUAGES:
        return lang
    runtime: Runtime = request.app.state.runtime
    return pick_language(accept_language, runtime.settings.default_language)


@router.get("/", response_class=HTMLResponse)
def chat_page(request: Request, lang: Annotated[str, Depends(page_language)]) -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime
    chosen = lang
    other = "en" if chosen == "zh" else "zh"
    html = _templates.get_template("chat.html").render(
        lang=chosen,
        other=other,
        t=catalog(chosen),
        max_chars=runtime.settings.max_message_chars,
    )
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": "default-src 'self'; "
            "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
            "connect-src 'self' ws: wss:"
        },
    )


_STATIC = Path(__file__).resolve().parent / "static"
# Strings the console's scripts need (`console.<key>`, passed as `<key>` with "_" for ".").
# fmt: off
_CONSOLE_KEYS = (
    "sign_in_failed", "too_many", "none", "error", "reveal", "hide",
    "role.customer", "role.bot", "role.agent", "role.system",
    "account.admin", "account.supervisor", "account.agent", "account.analyst",
    "status.online", "status.away", "status.offline",
    "notify_on", "notify_denied", "notify_sound_only",
    "visitor", "waiting", "position", "with_me", "with_agent", "dur.s", "dur.m", "dur.h",
    "conv.bot", "conv.waiting_agent", "conv.with_agent", "conv.closed",
    "priority.urgent", "priority.high", "priority.vip", "priority.normal",
    "reason.safety", "reason.human_request", "reason.anger", "reason.negative", "reason.fallbacks",
    "reason.verification_failed", "reason.waiting_agent", "reason.faq",
    "take", "take_over", "transfer_pick", "agents", "teams",
    "taken", "transferred", "handed_back", "closed_done",
    "none_canned", "alert.queued", "alert.assigned",
    "no_summary", "field.wants", "field.intent", "field.flow", "field.topic",
    "field.reason", "field.priority", "field.verified", "field.tier", "field.fallbacks",
    "field.name", "field.phone", "field.language", "field.deposit_cents", "field.balance_cents",
    "field.slots", "yes", "no",
    "mood.turn", "mood.positive", "mood.neutral", "mood.negative", "mood.angry",
    "no_profile", "recent.rides", "recent.bookings", "none_recent",
    "err.forbidden", "err.not_yours", "err.no_handoff", "err.conversation_closed", "err.agent_full",
    "err.conversation_not_found", "err.network",
)
# fmt: on
# Scripts and styles only from kefu itself; the console never runs inline code and may not
# be framed (clickjacking).
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def console_page_response(html: str) -> HTMLResponse:
    """A signed-in console page (agent, admin, analytics): strict CSP, never framed or cached."""
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": CONSOLE_CSP,
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
        },
    )


@router.get("/console", response_class=HTMLResponse)
def console_page(lang: Annotated[str, Depends(page_language)]) -> HTMLResponse:
    """The agent and admin console (sign-in, conversations, transcripts)."""
    chosen = lang
    t = catalog(chosen)
    strings = {key.replace(".", "_"): t[f"console.{key}"] for key in _CONSOLE_KEYS}
    html = _templates.get_template("console.html").render(lang=chosen, t=t, strings=strings)
    return console_page_response(html)


# The admin page's scripts get every `admin.*` string (as `<key>` with "_" for ".", the prefix
# dropped), the console's that the helpers both pages share use, and the day names.
# fmt: off
_ADMIN_SHARED = (
    "error", "sign_in_failed", "too_many", "err.forbidden", "err.network", "yes", "no", "cancel",
    "account.admin", "account.supervisor", "account.agent", "account.analyst",
    "status.online", "status.away", "status.offline",
    "mood.positive", "mood.neutral", "mood.negative", "mood.angry",
)
# fmt: on
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@functools.cache
def admin_strings(lang: str) -> dict[str, str]:
    t = catalog(lang)
    strings = {key.replace(".", "_"): t[f"console.{key}"] for key in _ADMIN_SHARED}
    strings.update({f"day_{day}": t[f"handoff.day.{day}"] for day in _DAYS})
    for key, text in t.items():
        if key.startswith("admin."):
            strings[key.removeprefix("admin.").replace(".", "_")] = text
    return strings


@router.get("/admin", response_class=HTMLResponse)
def admin_page(lang: Annotated[str, Depends(page_language)]) -> HTMLResponse:
    """The admin console: knowledge base, try it, intents and training, conversation review,
    settings; each section shown to the accounts whose permissions allow it."""
    html = _templates.get_template("admin.html").render(
        lang=lang, t=catalog(lang), strings=admin_strings(lang)
    )
    return console_page_response(html)


# The analytics dashboard's scripts get every `analytics.*` string (prefix dropped, "_" for "."),
# the console's the shared helpers read, and the names of handoff reasons and statuses.
# fmt: off
_ANALYTICS_SHARED = (
    *_ADMIN_SHARED, "none", "visitor",
    "role.customer", "role.bot", "role.agent", "role.system",
    "conv.bot", "conv.waiting_agent", "conv.with_agent", "conv.closed",
    "reason.safety", "reason.human_request", "reason.anger", "reason.negative", "reason.fallbacks",
    "reason.verification_failed", "reason.waiting_agent", "reason.faq",
    "err.conversation_not_found",
)
# fmt: on


@functools.cache
def analytics_strings(lang: str) -> dict[str, str]:
    t = catalog(lang)
    strings = {key.replace(".", "_"): t[f"console.{key}"] for key in _ANALYTICS_SHARED}
    strings["rejected"] = t["admin.rejected"]  # admin-util's failure() reads it
    for key, text in t.items():
        if key.startswith("analytics."):
            strings[key.removeprefix("analytics.").replace(".", "_")] = text
    return strings


@router.get("/analytics", response_class=HTMLResponse)
def analytics_page(lang: Annotated[str, Depends(page_language)]) -> HTMLResponse:
    """The analytics dashboard: filters in the address, charts with drill-down, CSV exports;
    for accounts with `analytics:read`. Chart.js is vendored (static/vendor), no CDN."""
    html = _templates.get_template("analytics.html").render(
        lang=lang, t=catalog(lang), strings=analytics_strings(lang)
    )
    return console_page_response(html)


_ANALYTICS_ASSETS = {
    "analytics.css": "text/css",
    "analytics.js": "text/javascript",
    "analytics-charts.js": "text/javascript",
    "analytics-drill.js": "text/javascript",
    "analytics-util.js": "text/javascript",
    "vendor/chart.umd.min.js": "text/javascript",
}


@router.get("/analytics/{name:path}")
def analytics_asset(name: str) -> Response:
    media = _ANALYTICS_ASSETS.get(name)  # only these names: no path is ever built from input
    if media is None:
        return Response(status_code=404)
    return Response(
        _asset(name),
        media_type=f"{media}; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


# The widget preview stands in for the operator's site: the admin form's unsaved values come as
# query parameters and go to the widget as the data-* overrides a site may set (escaped by Jinja).
# Like a site, it lets the widget load https logos and open its socket.
PREVIEW_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


@router.get("/admin/widget-preview", response_class=HTMLResponse)
def widget_preview(
    request: Request,
    lang: Annotated[str, Depends(page_language)],
    title: Annotated[str | None, Query(max_length=60)] = None,
    greeting: Annotated[str | None, Query(max_length=500)] = None,
    color: Annotated[str | None, Query(pattern=r"^#[0-9a-fA-F]{6}$")] = None,
    position: Annotated[Literal["right", "left"] | None, Query()] = None,
    logo: Annotated[str | None, Query(max_length=2000)] = None,
) -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime
    values = {
        "title": title,
        "greeting": greeting,
        "color": color,
        "position": position,
        "logo": logo,
    }
    attrs = {name: value for name, value in values.items() if value}
    html = _templates.get_template("admin-preview.html").render(
        lang=lang, t=catalog(lang), tenant=runtime.tenant.slug, attrs=attrs
    )
    return HTMLResponse(
        html, headers={"Content-Security-Policy": PREVIEW_CSP, "Cache-Control": "no-store"}
    )


_ADMIN_ASSETS = {
    "admin.css": "text/css",
    **{
        f"{name}.js": "text/javascript"
        for name in (
            "admin",
            "admin-util",
            "admin-kb",
            "admin-entry",
            "admin-try",
            "admin-intents",
            "admin-training",
            "admin-review",
            "admin-settings",
            "admin-escalation",
        )
    },
}


@router.get("/admin/{name}")
def admin_asset(name: str) -> Response:
    media = _ADMIN_ASSETS.get(name)
    if media is None:
        return Response(status_code=404)
    return Response(
        _asset(name),
        media_type=f"{media}; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@functools.cache
def _asset(name: str) -> bytes:
    return (_STATIC / name).read_bytes()  # packaged files: read once per process


@router.get("/console/{name}")
def console_asset(name: str) -> Response:
    media = {
        "console.css": "text/css",
        "console.js": "text/javascript",
        "console-util.js": "text/javascript",
        "console-inbox.js": "text/javascript",
        "console-chat.js": "text/javascript",
        "console-context.js": "text/javascript",
        "console-live.js": "text/javascript",
    }.get(name)
    if media is None:
        return Response(status_code=404)
    return Response(
        _asset(name),
        media_type=f"{media}; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )
