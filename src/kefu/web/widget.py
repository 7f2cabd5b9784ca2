"""The embeddable chat widget: its script (`/widget.js`), its public config, the tenant's widget
settings (admin), and the CORS that lets other sites' pages call the customer API.

The script's own `src` origin is the kefu it talks to; see docs/widget.md.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from kefu.accounts.permissions import Permission
from kefu.accounts.service import Principal
from kefu.api.auth import TenantReadSession, TenantSession, allowed, set_tenant_setting
from kefu.api.deps import RuntimeDep, require_json
from kefu.api.schemas import ErrorOut
from kefu.config import Settings
from kefu.errors import Forbidden, NotFound
from kefu.i18n import catalog
from kefu.tenants.models import Tenant

router = APIRouter()
log = logging.getLogger("kefu.web")

_STATIC = Path(__file__).resolve().parent / "static"
# The served script is widget.js with widget-ui.js put in its closure and widget.css in a string.
_UI_SLOT = "/* @include widget-ui.js */"
_CSS_SLOT = '"__KEFU_WIDGET_CSS__"'
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 413, 415, 422, 429)
}


# -- settings -------------------------------------------------------------------------------


def _one_line(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if not value.isprintable():
        raise ValueError("must be one line without control characters")
    return value


def _paragraph(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if not value.replace("\n", " ").isprintable():
        raise ValueError("must not contain control characters other than line breaks")
    return value


class Title(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zh: Annotated[str | None, Field(max_length=60), AfterValidator(_one_line)] = None
    en: Annotated[str | None, Field(max_length=60), AfterValidator(_one_line)] = None


class Greeting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zh: Annotated[str | None, Field(max_length=500), AfterValidator(_paragraph)] = None
    en: Annotated[str | None, Field(max_length=500), AfterValidator(_paragraph)] = None


def parse_origin(value: str) -> str:
    """`https://shop.example[:port]`, lower-cased, without a trailing slash; else ValueError."""
    raw = value.strip().rstrip("/")
    parts = urlsplit(raw)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
        or not raw.isprintable()
        or " " in raw
    ):
        raise ValueError(f"{value!r} is not an origin like https://shop.example")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def _origins(values: list[str]) -> list[str]:
    return list(dict.fromkeys(parse_origin(v) for v in values))  # normalised, no repeats


def _logo(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or not value.isprintable() or " " in value:
        raise ValueError("must be an https:// URL (or empty for no logo)")
    return value


class WidgetSettings(BaseModel):
    """The tenant's widget defaults. A script tag's data-* attributes override them."""

    model_config = ConfigDict(extra="forbid")
    title: Title = Field(default_factory=Title, description="Panel title per language")
    greeting: Greeting = Field(
        default_factory=Greeting, description="First bot bubble per language; not stored"
    )
    color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$"), AfterValidator(str.lower)] = (
        "#1677ff"
    )
    position: Literal["right", "left"] = "right"
    logo_url: Annotated[str, Field(max_length=2000), AfterValidator(_logo)] = ""
    allowed_origins: Annotated[
        list[Annotated[str, Field(max_length=300)]],
        Field(max_length=100, description="Pages allowed to show the widget; empty: any"),
        AfterValidator(_origins),
    ] = Field(default_factory=list)


DEFAULTS = WidgetSettings()


def stored_settings(tenant: Tenant) -> WidgetSettings:
    if not tenant.widget:
        return DEFAULTS
    try:
        return WidgetSettings.model_validate(tenant.widget)
    except ValidationError as exc:  # written by an older kefu, or by hand: don't break pages
        log.warning("ignoring invalid widget settings of tenant %s: %s", tenant.slug, exc)
        return DEFAULTS


# -- the script -----------------------------------------------------------------------------


@functools.cache
def _script() -> bytes:
    """One script from the packaged files, built once per process."""
    js = (_STATIC / "widget.js").read_text(encoding="utf-8")
    ui = (_STATIC / "widget-ui.js").read_text(encoding="utf-8")
    css = (_STATIC / "widget.css").read_text(encoding="utf-8")
    assert js.count(_UI_SLOT) == 1 and js.count(_CSS_SLOT) == 1
    return js.replace(_UI_SLOT, ui).replace(_CSS_SLOT, json.dumps(css)).encode()


@router.get("/widget.js", include_in_schema=False)
def widget_script() -> Response:
    return Response(
        _script(),
        media_type="text/javascript; charset=utf-8",
        # Other sites load it: a page that isolates itself (COEP) still may.
        headers={
            "Cache-Control": "public, max-age=300",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


# -- the public config ----------------------------------------------------------------------


class WidgetConfig(BaseModel):
    tenant: str
    lang: Literal["zh", "en"]
    title: str
    greeting: str
    color: str
    position: Literal["right", "left"]
    logo_url: str
    max_chars: int
    strings: dict[str, str] = Field(description="The widget's UI text in `lang`")


@functools.cache
def widget_strings(lang: str) -> dict[str, str]:
    return {k[7:]: v for k, v in catalog(lang).items() if k.startswith("widget.")}


@router.get("/v1/widget/config", response_model=WidgetConfig, responses=ERRORS, tags=["widget"])
def widget_config(
    runtime: RuntimeDep,
    tenant: Annotated[str, Query(min_length=1, max_length=64, description="data-tenant")],
    lang: Annotated[Literal["zh", "en"] | None, Query()] = None,
    origin: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """What the widget shows, in one language: the tenant's settings over the defaults, the UI
    strings and the message limit. Public; refused (403) to pages outside allowed_origins."""
    if tenant != runtime.tenant.slug:
        raise NotFound(
            f"no tenant {tenant!r} here: this kefu serves one tenant; check data-tenant",
            code="tenant_not_found",
        )
    with runtime.sessions_for(runtime.tenant.id, read_only=True)() as session:
        row = session.get(Tenant, runtime.tenant.id)
        assert row is not None
        settings = stored_settings(row)
    if settings.allowed_origins and origin is not None:
        try:
            page = parse_origin(origin)
        except ValueError:
            page = origin[:100]  # "null" (a sandboxed frame, a file:// page): never listed
        if page not in settings.allowed_origins:
            raise Forbidden(
                f"the page's origin {page} may not show this widget: add it to "
                "allowed_origins (PUT /v1/admin/widget)",
                code="origin_not_allowed",
            )
    chosen = lang or runtime.settings.default_language
    strings = widget_strings(chosen)
    body = WidgetConfig(
        tenant=tenant,
        lang=chosen,
        title=getattr(settings.title, chosen) or strings["title"],
        greeting=getattr(settings.greeting, chosen) or strings["greeting"],
        color=settings.color,
        position=settings.position,
        logo_url=settings.logo_url,
        max_chars=runtime.settings.max_message_chars,
        strings=strings,
    )
    # Settings changes should show at once. (The answer depends on the page's Origin too:
    # CustomerCors adds `Vary: Origin` to every answer on this path.)
    return Response(
        body.model_dump_json(), media_type="application/json", headers={"Cache-Control": "no-cache"}
    )


# -- the admin settings ---------------------------------------------------------------------

SettingsAdmin = Annotated[Principal, allowed(Permission.SETTINGS_MANAGE)]


@router.get("/v1/admin/widget", response_model=WidgetSettings, responses=ERRORS, tags=["settings"])
def get_widget(principal: SettingsAdmin, session: TenantReadSession) -> WidgetSettings:
    tenant = session.get(Tenant, principal.tenant_id)
    assert tenant is not None
    return stored_settings(tenant)


@router.put(
    "/v1/admin/widget",
    response_model=WidgetSettings,
    responses=ERRORS,
    dependencies=[Depends(require_json)],
    tags=["settings"],
)
def put_widget(
    body: WidgetSettings, principal: SettingsAdmin, session: TenantSession, request: Request
) -> WidgetSettings:
    """The chat widget's title, greeting, colour, position, logo and the sites that may embed
    it. Pages pick it up on their next load."""
    set_tenant_setting(session, principal, request, "widget", body.model_dump(mode="json"))
    return body


# -- CORS for the customer API --------------------------------------------------------------

CORS_PATHS = re.compile(r"^/(v1/conversations(/.*)?|v1/widget/config|widget\.js)$")


class CustomerCors:
    """CORS on the customer API and the widget's config only: they authenticate with bearer
    tokens, never cookies, so another site's page gains nothing a script of its own couldn't
    do. Console, agent and admin routes (cookie sessions) stay same-origin: no CORS headers,
    so browsers refuse other sites' reads, and preflights for their writes fail."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
            expose_headers=["Retry-After"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and CORS_PATHS.match(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def install_cors(app: FastAPI, settings: Settings) -> None:
    """Call last: the outermost middleware, so rate-limit refusals (429) carry CORS headers
    too and the widget can read their Retry-After."""
    app.add_middleware(CustomerCors, origins=settings.widget_origins)
