"""The YAML that points `HttpBackend` at an operator's REST API, validated when it is loaded
with line-precise errors (`PackError`: 'file:line: where: message'), so a typo never waits for
a customer's call to show up.

    base_url: https://api.example-operator.com/v2
    auth: {header: Authorization, value_env: OPERATOR_API_TOKEN, prefix: "Bearer "}
    operations:
      bike_status:
        path: /bikes/{code}
        item: bike
        fields: {code: bikeNo, state: {path: status, map: {BROKEN: fault}}, ...}

The format, key by key, is in docs/backends.md; docs/examples/operator-api.yaml is complete.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from kefu.backends import base
from kefu.config import known_timezone
from kefu.knowledge.pack import Problems, parse_side_file, read_source

Scalar = str | int | float | bool | None
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # an RFC 9110 token
_DOTTED = re.compile(r"^(\.|[^.]+(\.[^.]+)*)$")  # "a.b.0.c", or "." for the object itself


@dataclass(frozen=True)
class Operation:
    """One `OperatorBackend` method as the config sees it: its arguments and what it returns."""

    args: tuple[str, ...]
    result: type[Any]  # a base.py model, bool or str
    many: bool = False

    @property
    def scalar(self) -> bool:
        return self.result in (bool, str)


# Mirrors base.OperatorBackend; tests/backends/test_http.py checks the two agree.
OPERATIONS: dict[str, Operation] = {
    "customer_profile": Operation(("customer",), base.CustomerProfile),
    "verify_identity": Operation(("customer", "phone", "order_last4"), bool),
    "send_code": Operation(("customer",), str),
    "check_code": Operation(("customer", "code"), bool),
    "rides": Operation(("customer", "limit"), base.Ride, many=True),
    "bike_status": Operation(("code",), base.Bike),
    "nearby_stations": Operation(("place", "limit"), base.Station, many=True),
    "report_fault": Operation(("customer", "bike_code", "fault", "place"), base.Ticket),
    "request_refund": Operation(("customer", "ride_id", "reason"), base.RefundDecision),
    "refund_deposit": Operation(("customer",), base.RefundDecision),
    "unlock_help": Operation(("customer", "bike_code"), base.UnlockResult),
    "create_ticket": Operation(("customer", "kind", "summary"), base.Ticket),
    "bookings": Operation(("customer",), base.Booking, many=True),
    "booking": Operation(("booking_id",), base.Booking),
    "checkin_guide": Operation(("booking_id", "language"), base.CheckinGuide),
    "door_code": Operation(("booking_id",), str),
    "route_to_listing": Operation(("listing_id", "origin", "language"), base.Route),
    "change_booking": Operation(("booking_id", "change", "time"), base.ChangeDecision),
    "cancel_booking": Operation(("booking_id",), base.CancelDecision),
}
OPTIONAL_ARGS = frozenset({"place", "origin"})  # may be None: never in a URL path


def map_key(value: Any) -> str:
    """How `map` keys and response values are compared: YAML `true` and JSON true agree."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def as_text(value: Any) -> str:
    """A value inside a string template or URL: None is empty, booleans are JSON's."""
    return "" if value is None else map_key(value)


def fill(template: Any, values: Mapping[str, Any]) -> Any:
    """A template with its {placeholders} filled; "{limit}" alone keeps the value's JSON type."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole:
            return values[whole[1]]
        return PLACEHOLDER.sub(
            lambda m: "" if values[m[1]] is None else str(values[m[1]]), template
        )
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    return template


MISSING: Any = object()  # what dig() finds at a path that isn't there


@cache
def _steps(path: str) -> tuple[str, ...]:
    return () if path == "." else tuple(path.split("."))


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path ("data.items.0.id"; "." is `data` itself), or MISSING."""
    for step in _steps(path):
        if isinstance(data, dict):
            data = data.get(step, MISSING)
        elif isinstance(data, list) and step.isdigit() and int(step) < len(data):
            data = data[int(step)]
        else:
            return MISSING
        if data is MISSING:
            return MISSING
    return data


def scaled(value: Any, scale: float, as_int: bool) -> int | float:
    """`value * scale` computed in decimal (yuan "12.35" -> 1235 cents); ValueError if not a
    number. Integers round half-up, like a till: 0.125 yuan is 13 cents, not banker's 12."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("not a number")
    try:
        number = Decimal(str(value).strip()) * Decimal(str(scale))
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not number.is_finite():
        raise ValueError("not a finite number")
    return int(number.quantize(Decimal(1), ROUND_HALF_UP)) if as_int else float(number)


def placeholders(template: Any) -> set[str]:
    """Every {name} in a string or anywhere inside a JSON-like body template."""
    if isinstance(template, str):
        return set(PLACEHOLDER.findall(template))
    if isinstance(template, dict):
        return set().union(*(placeholders(v) for v in template.values()))
    if isinstance(template, list):
        return set().union(*(placeholders(v) for v in template))
    return set()


def _dotted(path: str) -> str:
    if not _DOTTED.match(path):
        raise ValueError(f"{path!r} is not a dotted path like data.items.0.id")
    return path


def _text_keys(value: Any) -> Any:
    # YAML reads `{1: ..., true: ...}` with int and bool keys; compare them as text.
    return {map_key(k): v for k, v in value.items()} if isinstance(value, dict) else value


DottedPath = Annotated[str, AfterValidator(_dotted)]
ValueMap = Annotated[dict[str, Scalar], BeforeValidator(_text_keys)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """Where one kefu field comes from. A bare string is shorthand for `{path: ...}`."""

    path: DottedPath | None = None
    const: Scalar = None  # a fixed value instead of a path
    default: Scalar = None  # used when the path is missing or null
    map: ValueMap | None = None  # operator value -> kefu value; others pass through
    scale: float | None = Field(default=None, gt=0, strict=True)  # e.g. 100: yuan -> cents
    each: DottedPath | None = None  # list of objects -> list of values
    fields: dict[str, FieldSpec] | None = None  # a nested kefu model (UnlockResult.bike)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        has_const = "const" in self.model_fields_set
        if has_const == (self.path is not None):
            raise ValueError("give exactly one of 'path' and 'const'")
        options = ("default", "map", "scale", "each", "fields")
        extras = [k for k in options if k in self.model_fields_set]
        if has_const and extras:
            raise ValueError(f"'const' takes no {', '.join(extras)}")
        if self.each is not None and self.fields is not None:
            raise ValueError("give at most one of 'each' and 'fields'")
        return self

    @property
    def is_const(self) -> bool:
        return "const" in self.model_fields_set

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set


class ArgSpec(_Strict):
    map: ValueMap  # kefu value -> what the operator expects, e.g. zh -> zh-CN


class OperationSpec(_Strict):
    method: Method = "GET"
    path: str = Field(pattern=r"^/", max_length=2000)
    query: dict[str, Scalar] = Field(default_factory=dict)
    body: dict[str, Any] | list[Any] | None = None  # JSON template
    headers: dict[str, str] = Field(default_factory=dict)
    args: dict[str, ArgSpec] = Field(default_factory=dict)
    idempotent: bool = False  # POST/PATCH: retried, with one Idempotency-Key for all attempts
    item: DottedPath | None = None  # where the object is
    items: DottedPath | None = None  # where the list is
    fields: dict[str, FieldSpec] | None = None  # None: the operator already uses kefu's names
    result: FieldSpec | None = None  # bool and str operations

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def retry_safe(self) -> bool:
        """May a request that reached the operator be sent again?"""
        return self.method in ("GET", "PUT", "DELETE") or self.idempotent


class AuthSpec(_Strict):
    header: str = Field(default="Authorization", pattern=HEADER_NAME)
    value_env: str = Field(min_length=1)  # the secret lives in the environment, never here
    prefix: str = ""


class OperatorApiConfig(_Strict):
    base_url: str
    auth: AuthSpec | None = None
    headers: dict[str, str] = Field(default_factory=dict)  # static, sent on every call
    timeout_s: float = Field(default=3.0, gt=0, le=120)
    retries: int = Field(default=2, ge=0, le=10)
    backoff_s: float = Field(default=0.2, ge=0, le=30)
    deadline_s: float | None = Field(default=None, gt=0, le=600)
    timezone: str = "UTC"  # for timestamps the operator sends without an offset
    verify_tls: bool | str = True  # or a CA bundle path
    idempotency_header: str = Field(default="Idempotency-Key", pattern=HEADER_NAME)
    error_message: list[str] = Field(
        default_factory=lambda: ["message", "error.message", "error", "msg", "detail"]
    )
    operations: dict[str, OperationSpec]

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http:// or https:// URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("base_url takes no query or fragment")
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return known_timezone(value)

    def configured(self) -> dict[str, bool]:
        """Every protocol operation, and whether this config implements it."""
        return {name: name in self.operations for name in OPERATIONS}


def nested_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def wants_int(annotation: Any) -> bool:
    """Is a kefu field an integer (scaled values are rounded) rather than a float?"""
    if annotation is int:
        return True
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    args = set(typing.get_args(annotation))
    return union and int in args and float not in args


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list


def _field_problems(
    model: type[BaseModel], fields: dict[str, FieldSpec], at: tuple[Any, ...]
) -> Problems:
    problems: Problems = []
    known = model.model_fields
    for name, spec in fields.items():
        if name not in known:
            hint = difflib.get_close_matches(name, known, n=1)
            also = f" (did you mean {hint[0]!r}?)" if hint else ""
            problems.append(((*at, name), f"{model.__name__} has no field {name!r}{also}"))
            continue
        annotation = known[name].annotation
        if spec.each is not None and not _is_list(annotation):
            problems.append(((*at, name, "each"), f"{name} is not a list"))
        if spec.fields is not None:
            inner = nested_model(annotation)
            if inner is None:
                problems.append(((*at, name, "fields"), f"{name} is not an object"))
            else:
                problems += _field_problems(inner, spec.fields, (*at, name, "fields"))
    for name, info in known.items():
        if info.is_required() and name not in fields:
            problems.append((at, f"{model.__name__} needs {name!r}, which is not mapped"))
    return problems


def _operation_problems(name: str, spec: OperationSpec) -> Problems:
    op = OPERATIONS[name]
    at: tuple[Any, ...] = ("operations", name)
    problems: Problems = []
    takes = ", ".join(op.args)
    for key in ("path", "query", "body", "headers"):
        for unknown in sorted(placeholders(getattr(spec, key)) - set(op.args)):
            problems.append(((*at, key), f"{{{unknown}}} is not an argument of {name} ({takes})"))
    for optional in sorted(placeholders(spec.path) & OPTIONAL_ARGS & set(op.args)):
        problems.append(((*at, "path"), f"{{{optional}}} may be empty: pass it in query or body"))
    for arg in spec.args:
        if arg not in op.args:
            problems.append(((*at, "args", arg), f"{name} has no argument {arg!r} ({takes})"))
    if spec.body is not None and spec.method in ("GET", "DELETE"):
        problems.append(((*at, "body"), f"a {spec.method} request takes no body"))
    if op.many and spec.item is not None:
        problems.append(((*at, "item"), f"{name} returns a list: use 'items'"))
    if not op.many and spec.items is not None:
        problems.append(((*at, "items"), f"{name} returns one object: use 'item'"))
    if op.scalar:
        returns = f"{name} returns {'text' if op.result is str else 'a bool'}"
        if spec.result is None:
            problems.append((at, f"{returns}: set 'result'"))
        if spec.fields is not None:
            problems.append(((*at, "fields"), f"{returns}: use 'result'"))
    else:
        if spec.result is not None:
            problems.append(((*at, "result"), f"{name} returns an object: use 'fields'"))
        if spec.fields is not None:
            problems += _field_problems(op.result, spec.fields, (*at, "fields"))
    return problems


def _problems(config: OperatorApiConfig, env: Mapping[str, str]) -> Problems:
    problems: Problems = []
    for name, spec in config.operations.items():
        if name in OPERATIONS:
            problems += _operation_problems(name, spec)
            continue
        hint = difflib.get_close_matches(name, OPERATIONS, n=1)
        also = f"did you mean {hint[0]!r}?" if hint else f"known: {', '.join(OPERATIONS)}"
        problems.append((("operations", name), f"unknown operation {name!r}; {also}"))
    if config.auth is not None:
        value = env.get(config.auth.value_env)
        if not value:
            why = f"environment variable {config.auth.value_env} is not set or empty"
            problems.append((("auth", "value_env"), f"{why} (it holds the operator API secret)"))
        elif not (config.auth.prefix + value).isascii():
            problems.append((("auth", "value_env"), f"{config.auth.value_env} is not ASCII"))
    for header, value in config.headers.items():
        if not value.isascii():  # HTTP header values are ASCII; fail here, not on every call
            problems.append((("headers", header), "header values must be ASCII"))
    if isinstance(config.verify_tls, str) and not Path(config.verify_tls).is_file():
        problems.append((("verify_tls",), f"no CA bundle at {config.verify_tls}"))
    return problems


SHAPE = "an operator API config is a mapping with 'base_url' and 'operations'"


def parse_config(
    text: str, source: str = "<operator-api>", env: Mapping[str, str] | None = None
) -> OperatorApiConfig:
    """Validated config, or PackError. `env` (default: os.environ) must hold the auth secret."""
    environ = os.environ if env is None else env
    return parse_side_file(
        text, source, OperatorApiConfig, SHAPE, lambda config: _problems(config, environ)
    )


def load_config(path: Path, env: Mapping[str, str] | None = None) -> OperatorApiConfig:
    return parse_config(read_source(path), str(path), env)
