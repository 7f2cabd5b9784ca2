"""The chat page at `/`, rendered in the visitor's language (`?lang=` or Accept-Language)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

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
_CONSOLE_KEYS = (
    "sign_in_failed",
    "too_many",
    "none",
    "error",
    "reveal",
    "hide",
    "role.customer",
    "role.bot",
    "role.agent",
    "role.system",
)
# Scripts and styles only from kefu itself; the console never runs inline code and may not
# be framed (clickjacking).
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


@router.get("/console", response_class=HTMLResponse)
def console_page(lang: Annotated[str, Depends(page_language)]) -> HTMLResponse:
    """The agent and admin console (sign-in, conversations, transcripts)."""
    chosen = lang
    t = catalog(chosen)
    strings = {key.replace(".", "_"): t[f"console.{key}"] for key in _CONSOLE_KEYS}
    html = _templates.get_template("console.html").render(lang=chosen, t=t, strings=strings)
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": CONSOLE_CSP,
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
        },
    )


@functools.cache
def _asset(name: str) -> bytes:
    return (_STATIC / name).read_bytes()  # packaged files: read once per process


@router.get("/console/{name}")
def console_asset(name: str) -> Response:
    media = {"console.js": "text/javascript", "console.css": "text/css"}.get(name)
    if media is None:
        return Response(status_code=404)
    return Response(
        _asset(name),
        media_type=f"{media}; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )
