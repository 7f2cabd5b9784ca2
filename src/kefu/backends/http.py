"""`HttpBackend`: the `OperatorBackend` that calls an operator's REST API, described in YAML
(`http_config`): one endpoint per operation and a field mapping from the operator's JSON to
kefu's models.

Every failure is a `BackendError` naming the operation; no httpx exception escapes. Calls are
logged at DEBUG with operation, status and milliseconds, never with bodies or filled-in URLs
(they hold customers' ids and personal data).
"""

from __future__ import annotations

import logging
import os
import ssl
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from kefu.backends import base
from kefu.backends.base import BackendError
from kefu.backends.http_config import (
    MISSING,
    PLACEHOLDER,
    FieldSpec,
    OperationSpec,
    OperatorApiConfig,
    as_text,
    dig,
    fill,
    load_config,
    map_key,
    nested_model,
    scaled,
    wants_int,
)
from kefu.knowledge.pack import PackError

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_BOOL = TypeAdapter(bool)


class HttpBackend:
    name = "http"

    def __init__(self, config: OperatorApiConfig, *, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        headers = dict(config.headers)
        if config.auth is not None:
            secret = (os.environ if env is None else env).get(config.auth.value_env)
            if not secret:  # load_config checked it, but the environment may have changed
                raise PackError([f"auth.value_env: {config.auth.value_env} is not set or empty"])
            headers[config.auth.header] = config.auth.prefix + secret
        verify: ssl.SSLContext | bool = config.verify_tls is not False
        if isinstance(config.verify_tls, str):
            try:
                verify = ssl.create_default_context(cafile=config.verify_tls)
            except (OSError, ssl.SSLError) as exc:
                raise PackError([f"verify_tls: cannot load {config.verify_tls}: {exc}"]) from None
        self._zone = ZoneInfo(config.timezone)
        # One pooled, thread-safe client per backend; redirects would hide a wrong base_url.
        self._client = httpx.Client(headers=headers, timeout=config.timeout_s, verify=verify)

    @classmethod
    def from_file(cls, path: Path | str, *, env: Mapping[str, str] | None = None) -> HttpBackend:
        return cls(load_config(Path(path), env), env=env)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self) -> dict[str, bool]:
        """Every protocol operation, and whether the config implements it."""
        return self.config.configured()

    # -- the protocol ---------------------------------------------------------------------
    def customer_profile(self, customer: str) -> base.CustomerProfile:
        return self._one("customer_profile", base.CustomerProfile, customer=customer)

    def verify_identity(self, customer: str, phone: str, order_last4: str) -> bool:
        args = {"customer": customer, "phone": phone, "order_last4": order_last4}
        return self._bool("verify_identity", **args)

    def send_code(self, customer: str) -> str:
        return self._str("send_code", customer=customer)

    def check_code(self, customer: str, code: str) -> bool:
        return self._bool("check_code", customer=customer, code=code)

    def rides(self, customer: str, limit: int = 10) -> list[base.Ride]:
        return self._many("rides", base.Ride, customer=customer, limit=limit)

    def bike_status(self, code: str) -> base.Bike:
        return self._one("bike_status", base.Bike, code=code)

    def nearby_stations(self, place: str, limit: int = 3) -> list[base.Station]:
        return self._many("nearby_stations", base.Station, place=place, limit=limit)

    def report_fault(
        self, customer: str, bike_code: str, fault: str, place: str | None = None
    ) -> base.Ticket:
        args = {"customer": customer, "bike_code": bike_code, "fault": fault, "place": place}
        return self._one("report_fault", base.Ticket, **args)

    def request_refund(self, customer: str, ride_id: str, reason: str) -> base.RefundDecision:
        args = {"customer": customer, "ride_id": ride_id, "reason": reason}
        return self._one("request_refund", base.RefundDecision, **args)

    def refund_deposit(self, customer: str) -> base.RefundDecision:
        return self._one("refund_deposit", base.RefundDecision, customer=customer)

    def unlock_help(self, customer: str, bike_code: str) -> base.UnlockResult:
        return self._one("unlock_help", base.UnlockResult, customer=customer, bike_code=bike_code)

    def create_ticket(self, customer: str, kind: str, summary: str) -> base.Ticket:
        args = {"customer": customer, "kind": kind, "summary": summary}
        return self._one("create_ticket", base.Ticket, **args)

    def bookings(self, customer: str) -> list[base.Booking]:
        return self._many("bookings", base.Booking, customer=customer)

    def booking(self, booking_id: str) -> base.Booking:
        return self._one("booking", base.Booking, booking_id=booking_id)

    def checkin_guide(self, booking_id: str, language: str) -> base.CheckinGuide:
        args = {"booking_id": booking_id, "language": language}
        return self._one("checkin_guide", base.CheckinGuide, **args)

    def door_code(self, booking_id: str) -> str:
        return self._str("door_code", booking_id=booking_id)

    def route_to_listing(self, listing_id: str, origin: str | None, language: str) -> base.Route:
        args = {"listing_id": listing_id, "origin": origin, "language": language}
        return self._one("route_to_listing", base.Route, **args)

    def change_booking(
        self, booking_id: str, change: Literal["early_checkin", "late_checkout"], time: str
    ) -> base.ChangeDecision:
        args = {"booking_id": booking_id, "change": change, "time": time}
        return self._one("change_booking", base.ChangeDecision, **args)

    def cancel_booking(self, booking_id: str) -> base.CancelDecision:
        return self._one("cancel_booking", base.CancelDecision, booking_id=booking_id)

    # -- results ----------------------------------------------------------------------------
    def _one(self, operation: str, model: type[M], **args: Any) -> M:
        spec, data = self._call(operation, args)
        return self._build(operation, spec, model, _select(operation, data, spec.item))

    def _many(self, operation: str, model: type[M], **args: Any) -> list[M]:
        spec, data = self._call(operation, args)
        items = _select(operation, data, spec.items)
        if not isinstance(items, list):
            where = spec.items or "the response"
            raise BackendError("bad_response", f"{where} is not a list", operation=operation)
        return [self._build(operation, spec, model, item, f"[{i}]") for i, item in enumerate(items)]

    def _bool(self, operation: str, **args: Any) -> bool:
        value, source = self._scalar(operation, args)
        try:
            return _BOOL.validate_python(value)
        except ValidationError:
            why = f"result (from {source!r}): expected true or false, got {_kind(value)}"
            raise BackendError("bad_response", why, operation=operation) from None

    def _str(self, operation: str, **args: Any) -> str:
        value, source = self._scalar(operation, args)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # door codes sent as numbers
        if isinstance(value, str) and value:
            return value
        why = f"result (from {source!r}): expected text, got {_kind(value)}"
        raise BackendError("bad_response", why, operation=operation)

    def _scalar(self, operation: str, args: dict[str, Any]) -> tuple[Any, str]:
        spec, data = self._call(operation, args)
        assert spec.result is not None  # load_config requires it for bool and str operations
        item = _select(operation, data, spec.item)
        value = self._value(operation, "result", spec.result, item, as_int=False, inner=None)
        return (None if value is MISSING else value), spec.result.path or "const"

    def _build(
        self, operation: str, spec: OperationSpec, model: type[M], item: Any, at: str = ""
    ) -> M:
        raw = item if spec.fields is None else self._fields(operation, model, spec.fields, item)
        if not isinstance(raw, dict):
            why = f"expected an object{at} for {model.__name__}, got {_kind(raw)}"
            raise BackendError("bad_response", why, operation=operation)
        try:
            return self._utc(model.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            fs = (spec.fields or {}).get(str(first["loc"][0])) if first["loc"] else None
            source = f" (from {fs.path!r})" if fs is not None and fs.path else ""
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            why = f"{model.__name__}{at}.{loc}{source}: {first['msg']}{more}"
            raise BackendError("bad_response", why, operation=operation) from None

    def _fields(
        self, operation: str, model: type[BaseModel], fields: dict[str, FieldSpec], item: Any
    ) -> Any:
        if not isinstance(item, dict):
            return item  # _build reports it
        out: dict[str, Any] = {}
        for name, fs in fields.items():
            annotation = model.model_fields[name].annotation
            inner = nested_model(annotation) if fs.fields is not None else None
            value = self._value(operation, name, fs, item, wants_int(annotation), inner)
            if value is not MISSING:
                out[name] = value
        return out

    def _value(
        self,
        operation: str,
        name: str,
        fs: FieldSpec,
        item: Any,
        as_int: bool,
        inner: type[BaseModel] | None,
    ) -> Any:
        if fs.is_const:
            return fs.const
        assert fs.path is not None
        value = dig(item, fs.path)
        if fs.map is not None and value is not MISSING:
            value = fs.map.get(map_key(value), value)
        if value is None or value is MISSING:  # null means "not set": the model default applies
            return fs.default if fs.has_default else MISSING
        if fs.scale is not None:
            value = _scaled(operation, name, fs.path, value, fs.scale, as_int)
        if fs.each is not None:
            each = fs.each
            value = [dig(v, each) for v in value] if isinstance(value, list) else value
        if fs.fields is not None and inner is not None:
            value = self._fields(operation, inner, fs.fields, value)
        return value

    def _utc(self, model: M) -> M:
        """Timestamps as aware UTC, as base.py promises; naive ones are in config.timezone."""
        changes: dict[str, Any] = {}
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, datetime):
                aware = value if value.tzinfo else value.replace(tzinfo=self._zone)
                changes[name] = aware.astimezone(UTC)
            elif isinstance(value, BaseModel):
                changes[name] = self._utc(value)
        return model.model_copy(update=changes) if changes else model

    # -- HTTP ------------------------------------------------------------------------------
    def _call(self, operation: str, args: dict[str, Any]) -> tuple[OperationSpec, Any]:
        spec = self.config.operations.get(operation)
        if spec is None:
            why = f"operation {operation} is not configured"
            raise BackendError("unavailable", why, operation=operation)
        values = {
            k: spec.args[k].map.get(map_key(v), v) if k in spec.args else v for k, v in args.items()
        }
        path = PLACEHOLDER.sub(lambda m: quote(as_text(values[m[1]]), safe=""), spec.path)
        params = {k: v for k, t in spec.query.items() if (v := fill(t, values)) not in (None, "")}
        headers = {k: as_text(fill(t, values)) for k, t in spec.headers.items()}
        if spec.idempotent:  # one key for every attempt: the operator applies the call once
            headers[self.config.idempotency_header] = uuid.uuid4().hex
        if self._client.is_closed:
            raise BackendError("unavailable", "the backend is closed", operation=operation)
        try:
            request = self._client.build_request(
                spec.method,
                self.config.base_url + path,
                params=params,
                headers=headers,
                json=None if spec.body is None else fill(spec.body, values),
            )
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:  # e.g. non-ASCII header
            why = f"cannot build {spec.method} {spec.path}: {type(exc).__name__}"
            raise BackendError("unavailable", why, operation=operation) from None
        response = self._send(operation, spec, request)
        if not response.content:
            return spec, None
        try:
            return spec, response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            why = f"the answer to {spec.method} {spec.path} is not JSON ({kind})"
            raise BackendError("bad_response", why, operation=operation) from None

    def _send(self, operation: str, spec: OperationSpec, request: httpx.Request) -> httpx.Response:
        cfg = self.config
        started = time.monotonic()
        deadline = started + cfg.deadline_s if cfg.deadline_s is not None else float("inf")
        attempt = 0
        while True:
            attempt += 1
            timeout = min(cfg.timeout_s, max(deadline - time.monotonic(), 0.001))
            request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
            sent = time.monotonic()
            try:
                response = self._client.send(request)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                outcome: int | str = type(exc).__name__
                error = _transport_error(operation, spec, exc)
                # A refused connection never reached the operator: retrying cannot repeat it.
                unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                retry = spec.retry_safe or unsent
            else:
                outcome = response.status_code
                if response.is_success:
                    _log(operation, spec, outcome, sent, attempt)
                    return response
                error = self._status_error(operation, spec, response, attempt)
                retry = outcome in RETRY_STATUSES and spec.retry_safe
            _log(operation, spec, outcome, sent, attempt)
            pause = cfg.backoff_s * 2 ** (attempt - 1)
            if not retry or attempt > cfg.retries or time.monotonic() + pause >= deadline:
                raise error
            time.sleep(pause)

    def _status_error(
        self, operation: str, spec: OperationSpec, response: httpx.Response, attempt: int
    ) -> BackendError:
        status = response.status_code
        said = self._operator_message(response)
        where = f"HTTP {status} from {spec.method} {spec.path}"
        if status in (401, 403):
            why = f"the operator rejected kefu's credentials ({where}); check 'auth' in the config"
            return BackendError("unavailable", why, operation=operation)
        if status in (404, 410):
            why = f"{said or 'not found'} ({where})"
            return BackendError("not_found", why, operation=operation)
        if status in (400, 409, 422):
            why = f"the operator refused ({where}): {said or 'no reason given'}"
            return BackendError("refused", why, operation=operation)
        tries = f" after {attempt} attempts" if attempt > 1 else ""
        if status == 429:
            why = f"the operator is rate-limiting kefu ({where}{tries})"
        elif status >= 500:
            why = f"the operator's API failed ({where}{tries})"
        else:  # 3xx (redirects are not followed) and unusual 4xx: the config doesn't fit the API
            why = f"unexpected {where}; check base_url and the operation's path and method"
        return BackendError("unavailable", why, operation=operation)

    def _operator_message(self, response: httpx.Response) -> str:
        try:
            data = response.json()
        except ValueError:
            plain = response.headers.get("content-type", "").startswith("text/plain")
            return response.text.strip()[:300] if plain else ""
        for path in self.config.error_message:
            value = dig(data, path)
            if isinstance(value, str) and value.strip():
                return value.strip()[:300]
        return ""


def _transport_error(operation: str, spec: OperationSpec, exc: Exception) -> BackendError:
    where = f"{spec.method} {spec.path}"
    if isinstance(exc, httpx.TimeoutException):
        why = f"the operator did not answer {where} in time ({type(exc).__name__})"
        return BackendError("timeout", why, operation=operation)
    if isinstance(exc, httpx.ConnectError):
        why = f"cannot connect to the operator's API: {exc}"
    elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        why = f"the connection dropped during {where}: {exc or type(exc).__name__}"
    else:  # only the type: some messages carry URLs (customer ids) or proxy credentials
        why = f"{where} failed: {type(exc).__name__}"
    return BackendError("unavailable", why, operation=operation)


def _log(operation: str, spec: OperationSpec, outcome: int | str, sent: float, n: int) -> None:
    if log.isEnabledFor(logging.DEBUG):
        ms = (time.monotonic() - sent) * 1000
        log.debug("%s %s %s -> %s in %.1f ms (attempt %d)", operation, spec.method, spec.path,
                  outcome, ms, n)  # fmt: skip


def _select(operation: str, data: Any, path: str | None) -> Any:
    if path is None:
        return data
    found = dig(data, path)
    if found is MISSING:
        why = f"nothing at {path!r} in the answer"
        raise BackendError("bad_response", why, operation=operation)
    return found


def _scaled(operation: str, name: str, path: str, value: Any, scale: float, as_int: bool) -> Any:
    try:
        return scaled(value, scale, as_int)
    except ValueError:
        why = f"{name} (from {path!r}): expected a number, got {_kind(value)}"
        raise BackendError("bad_response", why, operation=operation) from None


def _kind(value: Any) -> str:
    """A value's type, not the value: responses hold personal data that must not reach logs."""
    return "nothing" if value is None else type(value).__name__
