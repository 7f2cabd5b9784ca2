"""The chat page at `/`, rendered in the visitor's language (`?lang=` or Accept-Language)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kefu.i18n import LANGUAGES, catalog, pick_language
from kefu.runtime import Runtime

router = APIRouter(include_in_schema=False)
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


@router.get("/", response_class=HTMLResponse)
def chat_page(
    request: Request,
    lang: Annotated[str | None, Query(max_length=8)] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime
    chosen = (
        lang
        if lang in LANGUAGES
        else pick_language(accept_language, runtime.settings.default_language)
    )
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
