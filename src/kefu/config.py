"""Settings: the one place kefu reads its configuration.

Sources, highest priority first: keyword arguments, ``KEFU_*`` environment variables, a ``.env``
file, ``kefu.toml`` (path from ``KEFU_CONFIG_FILE``, default ``./kefu.toml``), then defaults.
The defaults run an embedded deployment: SQLite under ``./var/``, no Redis, one process.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Language = Literal["zh", "en"]

SECRET_KEY_FILE = "secret_key"
MIN_SECRET_KEY_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KEFU_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        toml_file=os.environ.get("KEFU_CONFIG_FILE", "kefu.toml"),
    )

    data_dir: Path = Field(Path("var"), description="Where the embedded database and secrets live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/kefu.db"
    )
    redis_url: str | None = Field(
        None,
        description="Optional Redis; when set, conversation locks and live events (agent "
        "replies, typing, the queue) are shared across worker processes.",
    )
    secret_key: SecretStr | None = Field(
        None, description="Signs conversation tokens; generated under data_dir if unset."
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes `kefu serve` starts (more than 1: a pre-forking server "
        "that loads the models once before the workers start; use PostgreSQL and Redis).",
    )
    shutdown_grace_seconds: float = Field(
        30.0,
        ge=0,
        le=600,
        description="On SIGTERM, how long in-flight requests may take to finish before "
        "the server stops; WebSockets are closed with 1012 so clients reconnect elsewhere.",
    )
    request_threads: int = Field(
        8,
        ge=1,
        le=64,
        description="Threads per server process for request work that blocks (database, "
        "models). More threads than cores only contend for the interpreter lock: at 40, "
        "anyio's default, a loaded 2-core server answered 19% fewer messages than at 8.",
    )
    jobs_threads: int = Field(
        1,
        ge=0,
        le=32,
        description="Background-job threads in each server process (retraining, analytics "
        "rollups, retention, alerts, webhooks); 0: this process only enqueues jobs and "
        "`kefu worker` processes run them (needs Redis).",
    )
    default_language: Language = "zh"
    max_message_chars: int = Field(2000, ge=1, le=100_000)
    tenant: str = Field("default", description="Slug of the tenant this deployment serves.")
    load_default_knowledge: bool = Field(
        True, description="Load the bundled FAQ packs into an empty knowledge base on start."
    )
    faq_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Fixed minimum FAQ score to answer; unset: thresholds learned on dev data.",
    )
    conversation_token_ttl_hours: int = Field(24 * 30, ge=1)
    embedder: str = Field(
        "use-multilingual",
        description="Sentence encoder: use-multilingual, hashed-ngram[-DIM] or "
        "onnx:MODEL.onnx[,tokenizer.json].",
    )
    timezone: str = Field(
        "Asia/Shanghai", description="Operator's time zone: what 明天 / 'tomorrow' mean."
    )
    train_on_start: bool = Field(
        True, description="`kefu serve` trains the intent model first when there is none."
    )
    models_dir: Path | None = Field(
        None, description="Trained models (intents, sentiment); default <data_dir>/models."
    )
    # -- privacy and security ------------------------------------------------------------
    encryption_keys: SecretStr | None = Field(
        None,
        description="Data encryption keys as 'KEYID:BASE64KEY[,KEYID:BASE64KEY...]', the first "
        "one encrypts; default: the key file.",
    )
    encryption_key_file: Path | None = Field(
        None, description="Key file, one 'KEYID:BASE64KEY' per line; default <data_dir>/keys."
    )
    rate_limit_ip: str = Field(
        "600/minute", description="Requests per client IP ('N/second|minute|hour')."
    )
    rate_limit_customer: str = Field(
        "30/minute", description="Messages per conversation (customer)."
    )
    rate_limit_api_key: str = Field("6000/minute", description="Requests per API key.")
    login_attempts: str = Field(
        "5/15 minutes", description="Failed sign-ins per account and per IP before a pause."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Proxy addresses whose X-Forwarded-For names the client IP.",
    )
    slow_client_timeout_s: float = Field(
        20.0, gt=0, le=600, description="Longest wait for a request body to arrive."
    )
    session_ttl_hours: int = Field(12, ge=1, le=24 * 30, description="Console sign-in lifetime.")
    retention_interval_minutes: int = Field(
        60, ge=0, le=7 * 24 * 60, description="How often the server applies retention; 0: never."
    )
    analytics_refresh_seconds: int = Field(
        60,
        ge=0,
        le=24 * 3600,
        description="How often the server brings the analytics rollups up to date; 0: never "
        "(then `kefu analytics refresh` or POST /v1/analytics/refresh does it).",
    )
    secure_cookies: bool = Field(
        False, description="Mark console cookies Secure (set when served over HTTPS)."
    )
    customer_identity_key: SecretStr | None = Field(
        None,
        description="Shared with your app's server, which signs customer ids (HMAC-SHA256) so "
        "flows may act on the customer's account; unsigned ids are only linked, not trusted.",
    )
    backend: Literal["demo", "http", "none"] = Field(
        "demo",
        description="The operator backend flows act through: demo (tables in kefu's own "
        "database, `kefu demo seed`), http (your REST API, see KEFU_BACKEND_CONFIG) or none.",
    )
    backend_config: Path | None = Field(
        None, description="YAML describing the operator's REST API (for KEFU_BACKEND=http)."
    )
    widget_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*"],
        description="Origins whose pages may call the customer API cross-origin (the chat "
        "widget): a JSON list or comma-separated, e.g. https://shop.example; *: any.",
    )

    # -- operations: metrics and logs ----------------------------------------------------
    log_format: Literal["text", "json"] = Field(
        "text",
        description="`kefu serve` log lines: text (for people) or json (one object per line, "
        "with request_id and conversation_id, for a log collector); PII masked in both.",
    )
    metrics_enabled: bool = Field(
        True, description="Serve Prometheus metrics at GET /metrics; false: 404."
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="When set, /metrics needs `Authorization: Bearer <token>` (else 401).",
    )

    # -- analytics: hot-topic alerts -----------------------------------------------------
    analytics_webhook_url: str | None = Field(
        None,
        description="POST each hot-topic spike here once (JSON); unset: no alerts are sent.",
    )
    analytics_webhook_secret: SecretStr | None = Field(
        None,
        description="Signs alert bodies: X-Kefu-Signature: sha256=<HMAC-SHA256 hex of the body>.",
    )
    analytics_webhook_timeout_s: float = Field(
        5.0, gt=0, le=60, description="Longest wait for the webhook to answer."
    )
    analytics_dashboard_url: str | None = Field(
        None, description="Link to the analytics dashboard, put in alerts as dashboard_url."
    )
    analytics_spike_min_count: int = Field(
        5, ge=1, description="A spike needs at least this many conversations in the hour."
    )
    analytics_spike_min_ratio: float = Field(
        3.0, ge=1.0, description="A spike also needs this many times the usual count for that hour."
    )
    analytics_baseline_days: int = Field(
        7, ge=3, le=90, description="Days before the hour that give its usual count."
    )

    @property
    def effective_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
        )

    @field_validator("widget_origins", mode="before")
    @classmethod
    def _origins(cls, values: Any) -> Any:
        if isinstance(values, str):  # from the environment: JSON, or "a,b" as people write it
            text = values.strip()
            values = json.loads(text) if text.startswith("[") else text.split(",")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError("must be a list of origins like https://shop.example")
        out = [v.strip().rstrip("/").lower() for v in values if v.strip()]
        # As browsers write an Origin header: no default port.
        out = [re.sub(r"^(https://.+):443$|^(http://.+):80$", r"\1\2", v) for v in out]
        for value in out:
            if value != "*" and not re.fullmatch(r"https?://[^/\s?#@]+", value):
                raise ValueError(f"{value!r} is not an origin like https://shop.example (or *)")
        return out

    @field_validator("analytics_webhook_url", "analytics_dashboard_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
            # Not echoed: a webhook URL may carry a token.
            raise ValueError("must be an http:// or https:// URL, like https://hooks.example/kefu")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return known_timezone(value)

    @field_validator("secret_key")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_LENGTH} characters")
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kefu.db').as_posix()}"

    @cached_property
    def signing_key(self) -> str:
        """The secret key; on first use without one, generate it and keep it in data_dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / SECRET_KEY_FILE
        if path.exists():
            key = path.read_text(encoding="utf-8").strip()
            if len(key) >= MIN_SECRET_KEY_LENGTH:
                return key
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # Create with 0600 from the start so the key is never world-readable.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key + "\n")
        return key

    def masked(self) -> dict[str, Any]:
        """Effective settings for display, secrets and URL passwords masked."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "secret_key":
                source = "env/config" if value is not None else f"{self.data_dir / SECRET_KEY_FILE}"
                value = f"******** ({source})"
            elif name == "database_url":
                value = mask_url(self.effective_database_url)
            elif name == "redis_url" and value:
                value = mask_url(value)
            elif name == "analytics_webhook_url" and value:
                # Webhook paths often carry a token (Slack, WeCom...): show the host only.
                parts = urlsplit(value)
                value = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/***"
            elif isinstance(value, SecretStr):
                value = "********"
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        return out


def known_timezone(value: str) -> str:
    """`value` if it names an IANA time zone; else ValueError (for pydantic validators)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name such as 'Asia/Shanghai'"
        ) from None
    return value


def mask_url(url: str) -> str:
    """Hide the password in a URL such as postgresql://user:pw@host/db."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy URL (e.g. redis://); mask between ':' and '@'
        scheme, sep, rest = url.partition("://")
        creds, at, host = rest.rpartition("@")
        if at and ":" in creds:
            user = creds.split(":", 1)[0]
            return f"{scheme}{sep}{user}:***@{host}"
        return url


def get_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
