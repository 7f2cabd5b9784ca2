"""Abuse protection: rate limits, slow-client timeouts and security headers.

Limits are counted with the `limits` library's moving window, in process memory in an embedded
deployment and in Redis when `redis_url` is set, so several workers share one budget. Counting
happens before any work is done for the request; an over-limit caller gets 429 with Retry-After
and everybody else is served as usual. If Redis fails, limits fail open (logged): an outage of
the counter must not become an outage of the service.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import math
import time
from collections.abc import Iterable
from typing import Literal

import anyio
import anyio.to_thread
from fastapi import FastAPI
from limits import RateLimitItem, parse_many
from limits.errors import ConfigurationError, StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kefu.api.errors import TooManyRequests, error_body
from kefu.config import Settings
from kefu.errors import KefuError

log = logging.getLogger("kefu.api")

Rule = Literal["ip", "customer", "api_key"]
EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})
TRY_AGAIN_LATER = 1013  # WebSocket close code for "overloaded, come back later"

MESSAGES: dict[str, str] = {
    "ip": "too many requests from this address",
    "customer": "too many messages in this conversation",
    "api_key": "too many requests with this API key",
    "login": "too many failed sign-ins",
}


def parse_limit(setting: str, value: str) -> tuple[RateLimitItem, ...]:
    """Parse a limit setting such as '600/minute' or '10/second; 600/minute'; a typo stops
    the start-up with the setting's name instead of surfacing on the first request."""
    try:
        items = tuple(parse_many(value))
    except ValueError:
        items = ()
    if not items or any(item.amount < 1 for item in items):
        raise KefuError(
            f"invalid setting {setting}={value!r}: use 'N/second|minute|hour|day' with N >= 1, "
            "e.g. '600/minute' or '10/second; 600/minute'",
            code="invalid_setting",
        )
    return items


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(setting: str, values: Iterable[str]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values)
    except ValueError as exc:
        raise KefuError(
            f"invalid setting {setting}: {exc} (use IP addresses or CIDR networks)",
            code="invalid_setting",
        ) from None


def _storage(settings: Settings) -> Storage:
    if not settings.redis_url:
        return MemoryStorage()
    try:
        storage = storage_from_string(
            settings.redis_url,
            key_prefix=f"kefu:{settings.tenant}:limits",
            wrap_exceptions=True,
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
        )
    except ConfigurationError as exc:
        raise KefuError(
            f"invalid setting redis_url for rate limits: {exc}", code="invalid_setting"
        ) from None
    assert isinstance(storage, Storage)
    return storage


def ip_bucket(ip: str) -> str:
    """IPv6 clients are counted per /64, the block one subscriber usually holds; counting single
    addresses would let one host rotate through 2**64 of them."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]  # not an IP (a test client, a Unix socket peer): count it as it is
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


def retry_after(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))


class Protection:
    """Parsed limits and their shared counter, built once per app from settings."""

    def __init__(self, settings: Settings) -> None:
        self.rules: dict[str, tuple[RateLimitItem, ...]] = {
            "ip": parse_limit("rate_limit_ip", settings.rate_limit_ip),
            "customer": parse_limit("rate_limit_customer", settings.rate_limit_customer),
            "api_key": parse_limit("rate_limit_api_key", settings.rate_limit_api_key),
        }
        self.proxies = _networks("trusted_proxies", settings.trusted_proxies)
        self.storage = _storage(settings)
        self.remote = settings.redis_url is not None
        base = self.storage.base_exceptions
        self._storage_errors: tuple[type[Exception], ...] = (
            (StorageError, *(base if isinstance(base, tuple) else (base,)))
            if self.remote
            else (StorageError,)
        )
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.login = LoginThrottle(self, parse_limit("login_attempts", settings.login_attempts))
        self._warned_at = 0.0

    # -- counting ---------------------------------------------------------------------------

    def hit(self, rule: Rule, key: str) -> int | None:
        """Count one request; None when allowed, else the seconds to wait before retrying."""
        try:
            for item in self.rules[rule]:
                if not self.limiter.hit(item, rule, key):
                    return retry_after(self.limiter.get_window_stats(item, rule, key).reset_time)
        except self._storage_errors as exc:
            self._storage_failed(exc)
        return None

    async def ahit(self, rule: Rule, key: str) -> int | None:
        """`hit` for async code: Redis round trips go to a worker thread, off the event loop;
        memory counting is microseconds and stays inline."""
        if self.remote:
            return await anyio.to_thread.run_sync(self.hit, rule, key)
        return self.hit(rule, key)

    def enforce(self, rule: Rule, key: str) -> None:
        """Count one request; raise TooManyRequests (429) when over the limit."""
        if (wait := self.hit(rule, key)) is not None:
            raise TooManyRequests(MESSAGES[rule], retry_after=wait)

    def _storage_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at > 60:  # once a minute, not once a request
            self._warned_at = now
            log.warning("rate-limit storage failed, limits are off until it recovers: %s", exc)

    # -- who is asking ----------------------------------------------------------------------

    def _trusted(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self.proxies)

    def client_ip(self, scope: Scope) -> str:
        """The socket's peer; behind a trusted proxy, the nearest X-Forwarded-For hop that is
        not itself a trusted proxy (hops further left are whatever the client claimed)."""
        client = scope.get("client")
        peer = str(client[0]) if client else "unknown"
        if not self.proxies or not self._trusted(peer):
            return peer
        forwarded = b",".join(v for k, v in scope.get("headers", ()) if k == b"x-forwarded-for")
        hops = [h.strip() for h in forwarded.decode("latin-1").split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer

    def close(self) -> None:
        if isinstance(self.storage, MemoryStorage):
            self.storage.timer.cancel()
        elif self.remote:
            client = getattr(self.storage, "storage", None)
            if client is not None and hasattr(client, "close"):
                client.close()


class LoginThrottle:
    """Sign-in attempts per account and failed ones per IP (`login_attempts`).

    An account's attempt is counted before the password is checked, so parallel requests
    can't all slip past the check while the (slow) verification runs; a success clears the
    account's count, so a user who types the password right is never slowed down. The per-IP
    count holds failures only (an office behind one address signs in many times) and stops
    one address guessing across many accounts."""

    def __init__(self, protection: Protection, items: tuple[RateLimitItem, ...]) -> None:
        self.protection = protection
        self.items = items

    @staticmethod
    def _keys(username: str, ip: str) -> tuple[tuple[str, str], tuple[str, str]]:
        # Hashed: a name is attacker-chosen text of any length, and Alice == alice.
        account = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
        return ("login-account", account), ("login-ip", ip_bucket(ip))

    def check(self, username: str, ip: str) -> None:
        """Count this attempt against the account; raise TooManyRequests when the account or
        the address has no attempts left."""
        limiter = self.protection.limiter
        (account_rule, account), (ip_rule, address) = self._keys(username, ip)
        try:
            for item in self.items:
                if not limiter.test(item, ip_rule, address):
                    wait = retry_after(limiter.get_window_stats(item, ip_rule, address).reset_time)
                    raise TooManyRequests(MESSAGES["login"], retry_after=wait)
            for item in self.items:
                if not limiter.hit(item, account_rule, account):
                    stats = limiter.get_window_stats(item, account_rule, account)
                    raise TooManyRequests(
                        MESSAGES["login"], retry_after=retry_after(stats.reset_time)
                    )
        except self.protection._storage_errors as exc:
            self.protection._storage_failed(exc)

    def failed(self, username: str, ip: str) -> None:
        """Count a failure against the address (the account's attempt is already counted)."""
        _, (rule, key) = self._keys(username, ip)
        try:
            for item in self.items:
                self.protection.limiter.hit(item, rule, key)
        except self.protection._storage_errors as exc:
            self.protection._storage_failed(exc)

    def succeeded(self, username: str, ip: str) -> None:
        """Forget the account's failures; the address's stay, or one valid account would
        reset an attacker's budget for guessing the others."""
        (rule, key), _ = self._keys(username, ip)
        try:
            for item in self.items:
                self.protection.limiter.clear(item, rule, key)
        except self.protection._storage_errors as exc:
            self.protection._storage_failed(exc)


# -- entry points for routes ----------------------------------------------------------------


def protection_of(app_or_conn: FastAPI | HTTPConnection) -> Protection:
    app = app_or_conn.app if isinstance(app_or_conn, HTTPConnection) else app_or_conn
    protection: Protection = app.state.protection
    return protection


def client_ip(conn: HTTPConnection) -> str:
    """The caller's address as the limits see it (proxy-aware); for LoginThrottle."""
    return protection_of(conn).client_ip(conn.scope)


def check_api_key(app_or_request: FastAPI | HTTPConnection, key_id: str) -> None:
    """Count one request for an API key; raise TooManyRequests (429) over `rate_limit_api_key`.
    Does Redis I/O when configured: call it from a sync dependency (FastAPI runs those on the
    thread pool)."""
    protection_of(app_or_request).enforce("api_key", key_id)


def rate_limited_frame(retry_after: int) -> dict[str, object]:
    """The WebSocket's answer to a frame over the customer limit; the socket stays open."""
    return {
        "type": "error",
        "error": {
            "code": TooManyRequests.code,
            "message": f"{MESSAGES['customer']}; retry in {retry_after} s",
            "retry_after": retry_after,
        },
    }


# -- ASGI middleware ------------------------------------------------------------------------


class IpRateLimit:
    """`rate_limit_ip` on every HTTP request and WebSocket handshake, probes excepted."""

    def __init__(self, app: ASGIApp, protection: Protection) -> None:
        self.app = app
        self.protection = protection

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        ip = self.protection.client_ip(scope)
        scope.setdefault("state", {})["client_ip"] = ip  # request.state.client_ip, for audits
        if scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        wait = await self.protection.ahit("ip", ip_bucket(ip))
        if wait is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await send_json(send, 429, rate_limited_body("ip", wait), retry_after=wait)
        else:
            await receive()  # websocket.connect
            reason = f"rate_limited: retry in {wait} s"
            await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": reason})


def rate_limited_body(rule: str, wait: int) -> dict[str, object]:
    exc = TooManyRequests(MESSAGES[rule], retry_after=wait)
    return error_body(exc.code, exc.message, retry_after=wait)


async def send_json(
    send: Send, status: int, body: dict[str, object], retry_after: int | None = None
) -> None:
    raw = json.dumps(body, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(raw))]
    if retry_after is not None:
        headers.append((b"retry-after", b"%d" % retry_after))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


class SlowClientTimeout:
    """A request body must arrive within `slow_client_timeout_s` of the request's start, so a
    client trickling bytes can't hold a worker; it gets 408 and the connection is closed.
    (Slow headers are the server's to time out; see docs/configuration.md.)"""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = anyio.current_time() + self.timeout_s
        complete = False

        async def timed_receive() -> Message:
            nonlocal complete
            if complete:  # body done: later receives wait for a disconnect, legitimately long
                return await receive()
            with anyio.move_on_after(deadline - anyio.current_time()):
                message = await receive()
                complete = message["type"] != "http.request" or not message.get("more_body")
                return message
            # Raised like BodyLimit's 413: FastAPI re-raises it and the app renders JSON.
            raise HTTPException(
                408,
                f"request body not received within {self.timeout_s:g} s",
                headers={"Connection": "close"},
            )

        await self.app(scope, timed_receive, send)


# -- security headers -----------------------------------------------------------------------

COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)
PAGE_CSP = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'self'"
)
CONSOLE_CSP = PAGE_CSP.replace("frame-ancestors 'self'", "frame-ancestors 'none'")
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# Swagger UI and ReDoc as FastAPI serves them: CDN assets and an inline bootstrap script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
NO_FRAMES = "frame-ancestors 'none'"


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


class SecurityHeaders:
    """Headers every response gets; HTML pages a CSP unless they set their own (the chat page
    does); the console may never be framed; credentialed JSON is never cached."""

    def __init__(self, app: ASGIApp, docs_paths: Iterable[str]) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        console = path == "/console" or path.startswith("/console/")
        default_csp = DOCS_CSP if path in self.docs_paths else PAGE_CSP
        credentialed = any(k in (b"authorization", b"cookie") for k, _ in scope["headers"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS:
                    headers.setdefault(name, value)
                media = headers.get("content-type", "").split(";")[0].strip().lower()
                csp = headers.get("content-security-policy")
                if csp is None and media == "text/html":
                    csp = headers["Content-Security-Policy"] = default_csp
                elif csp is None and _is_json(media):
                    csp = headers["Content-Security-Policy"] = API_CSP
                if console:
                    headers["X-Frame-Options"] = "DENY"
                    if csp is None:
                        headers["Content-Security-Policy"] = CONSOLE_CSP
                    elif "frame-ancestors" not in csp:
                        headers["Content-Security-Policy"] = f"{csp.rstrip('; ')}; {NO_FRAMES}"
                    elif NO_FRAMES not in csp:
                        # The page allows some framing: a second policy narrows it (both apply).
                        headers.append("Content-Security-Policy", NO_FRAMES)
                if credentialed and _is_json(media):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, settings: Settings) -> Protection:
    """Build the protection from settings (bad limits stop the start-up here) and wrap the app.
    Call after the app's other middleware: the last added runs first, so headers go on every
    response, including 429s, and a limited request is refused before its body is read."""
    protection = Protection(settings)
    app.state.protection = protection
    app.add_middleware(SlowClientTimeout, timeout_s=settings.slow_client_timeout_s)
    app.add_middleware(IpRateLimit, protection=protection)
    docs = (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    app.add_middleware(SecurityHeaders, docs_paths=[p for p in docs if p])
    return protection
