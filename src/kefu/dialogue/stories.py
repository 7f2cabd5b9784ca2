"""Conversation tests ("stories"): a customer says -> kefu replies with which response, intent,
slots and backend calls. The format and the checking; `kefu.stories` runs them for real.

```yaml
stories:
  - name: refund an overcharged ride (zh)
    customer: c-1001          # the operator's customer id (omit: an anonymous visitor)
    language: zh
    backend: {fail: {request_refund: timeout}}   # optional: make operations fail
    turns:
      - say: 上次骑车扣费不对，帮我退款
        expect: {flow: bike.refund_ride, responses: [bike.refund.which_ride]}
      - say: 第二个
        expect: {slots: {ride_id: R202611230001}}
      - restart: true         # the server restarts here: the next turn must carry on
```
`expect` keys (all optional): decision, reason, intent, flow, faq, responses (exactly the
responses said, in order: response names, `faq:<id>`, `fallback`, `clarify`), calls (actions
run, in order), errors (actions that failed), slots (filled this turn, with values), contains /
not_contains (text), handoff (bool), ticket (a kefu-side ticket was kept), status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kefu.backends.base import ErrorKind
from kefu.knowledge.pack import PackError, parse_side_file, read_source


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expect(_Strict):
    decision: str | None = None
    reason: str | None = None
    intent: str | None = None
    flow: str | None = None
    faq: str | None = None
    responses: list[str] | None = None
    calls: list[str] | None = None
    errors: list[str] | None = None
    slots: dict[str, Any] | None = None
    contains: list[str] = Field(default_factory=list)
    not_contains: list[str] = Field(default_factory=list)
    handoff: bool | None = None
    ticket: bool | None = None
    status: str | None = None


class StoryTurn(_Strict):
    say: str | None = None
    expect: Expect = Expect()
    restart: bool = False

    @model_validator(mode="after")
    def _one(self) -> StoryTurn:
        if (self.say is None) == (not self.restart):
            raise ValueError("a turn either says something or restarts the server")
        return self


class BackendFaults(_Strict):
    fail: dict[str, ErrorKind] = Field(default_factory=dict)  # operation -> error kind


class Story(_Strict):
    name: str
    customer: str | None = None
    language: Literal["zh", "en"] = "zh"
    backend: BackendFaults = BackendFaults()
    turns: list[StoryTurn] = Field(min_length=1)


class StoryFile(_Strict):
    stories: list[Story]


def load_stories(path: Path) -> list[Story]:
    return parse_side_file(
        read_source(path), str(path), StoryFile, "a stories file is a mapping with `stories`"
    ).stories


def story_paths(path: Path | None = None) -> list[Path]:
    """Story files under `path` (a file or a folder); default: every bundled skill's."""
    if path is None:
        path = Path(__file__).resolve().parent.parent / "skills"
    if path.is_file():
        return [path]
    if not path.exists():
        raise PackError([f"{path}: no such file or folder"])
    return sorted(
        p for p in path.rglob("*.yaml") if "stories" in p.name or "stories" in p.parent.name
    )


def said(replies: list[tuple[str, dict[str, Any]]]) -> list[str]:
    names = []
    for _, payload in replies:
        if "response" in payload:
            names.append(payload["response"])
        elif "faq" in payload:
            names.append(f"faq:{payload['faq']}")
        else:
            names.append(str(payload.get("kind", "text")))
    return names


def check(expect: Expect, observed: dict[str, Any]) -> list[str]:
    """Every way `observed` (one turn) differs from `expect`, as readable sentences."""
    problems: list[str] = []

    def differ(key: str, want: Any, got: Any) -> None:
        if want is not None and want != got:
            problems.append(f"{key}: expected {want!r}, got {got!r}")

    differ("decision", expect.decision, observed["decision"])
    differ("reason", expect.reason, observed["reason"])
    differ("intent", expect.intent, observed["intent"])
    differ("flow", expect.flow, observed["flow"])
    differ("faq", expect.faq, observed["faq"])
    differ("responses", expect.responses, observed["responses"])
    differ("calls", expect.calls, observed["calls"])
    differ("errors", expect.errors, observed["errors"])
    differ("handoff", expect.handoff, observed["handoff"])
    differ("ticket", expect.ticket, observed["ticket"])
    differ("status", expect.status, observed["status"])
    for name, value in (expect.slots or {}).items():
        got = observed["slots"].get(name, "<not filled>")
        if got != value:
            problems.append(f"slot {name}: expected {value!r}, got {got!r}")
    text = observed["text"]
    for needle in expect.contains:
        if needle not in text:
            problems.append(f"reply should contain {needle!r}")
    for needle in expect.not_contains:
        if needle in text:
            problems.append(f"reply should not contain {needle!r}")
    return problems
