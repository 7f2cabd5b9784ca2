"""Flows: multi-turn procedures written in YAML (`skills/*/flows.yaml`), validated here.

A flow is a list of steps, each doing exactly one thing:

- `ask: <slot>`: fill a slot from the customer's answer (`entity` type(s), `choices` with
  synonyms, `options` computed from earlier results, `yes_no`, or free `text`), with `prompt`,
  `reprompt`, `validate` (an expression over `value`) and `max_tries` (then a person is offered);
  skipped when the slot is already filled (e.g. from the message that started the flow);
- `call: <action>`: run an action (`backend.<method>` or a skill's Python action) with `args`
  (expressions) and `save` its result under a name;
- `branch: [{if: <expr>, goto: <step>}, ...]` with `else: <step>`;
- `say: <response>`: reply with a response template;
- `flow: <name>`: run another flow, then carry on here;
- `handoff: <reason>`: hand the conversation to a person;
- `end: <outcome>` (resolved, cancelled, failed): finish, optionally saying something first.

Every step may name its `next` step; by default the next one in the list follows. Expressions
are Jinja2 expressions (sandboxed) over `slots`, saved results, `customer`, `profile`,
`verified` and `lang`. `load_flows` checks the structure (pydantic); `check_flows` checks what
refers to what (steps, responses, actions, entity types, intents) and reports every problem as
'file:line: flow <name> step <id>: message'.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kefu.knowledge.pack import Localized, PackError, Problems, parse_side_file, read_source

NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
STEP_KINDS = ("ask", "call", "branch", "say", "flow", "handoff", "end")
TEXT_SLOT = "text"  # takes the whole message
YES_NO = "yes_no"
Outcome = Literal["resolved", "cancelled", "failed", "handed_off"]

EXPRESSIONS = SandboxedEnvironment()


def _last4(value: Any) -> str | None:
    """The last four letters/digits of an answer like "后四位是 0001" (order-number tails)."""
    found = re.findall(r"[A-Za-z0-9]", str(value or ""))
    return "".join(found[-4:]).upper() if len(found) >= 4 else None


def _hhmm(value: Any) -> str | None:
    """ "14:00" from a time entity ("14:00") or a datetime one ("2026-11-25T14:00:00+08:00")."""
    found = re.search(r"(\d{2}):(\d{2})", str(value or ""))
    return f"{found[1]}:{found[2]}" if found else None


def _otp(value: Any) -> str | None:
    """A six-digit one-time code in an answer like "验证码是 246810"."""
    found = re.search(r"(?<!\d)(\d{6})(?!\d)", str(value or ""))
    return found[1] if found else None


EXPRESSIONS.filters["last4"] = _last4
EXPRESSIONS.filters["otp"] = _otp
EXPRESSIONS.filters["hhmm"] = _hhmm


@cache
def compile_expression(source: str) -> Any:
    return EXPRESSIONS.compile_expression(source, undefined_to_none=True)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Options(_Strict):
    """Choices computed at run time: `items` (an expression giving a list), each shown with
    the `title` response (rendered with `item`) and filling the slot with `value` (expression)."""

    items: str
    title: str
    value: str
    limit: int = Field(default=5, ge=1, le=10)
    auto_single: bool = True  # one item: choose it without asking


class Synonyms(_Strict):
    zh: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)

    def get(self, lang: str) -> list[str]:
        return self.zh if lang == "zh" else self.en


class Branch(_Strict):
    if_: str = Field(alias="if")
    goto: str


class Step(_Strict):
    id: str
    ask: str | None = None
    call: str | None = None
    branch: list[Branch] | None = None
    say: str | None = None
    flow: str | None = None
    handoff: str | None = None
    end: Outcome | None = None
    # ask
    entity: list[str] = Field(default_factory=list)
    choices: dict[str, Synonyms] | None = None  # value -> synonyms
    options: Options | None = None
    prompt: str | None = None
    reprompt: str | None = None
    validate_: str | None = Field(default=None, alias="validate")
    max_tries: int = Field(default=3, ge=1, le=10)
    # call
    args: dict[str, str | int | float | bool] = Field(default_factory=dict)  # str: expression
    save: str | None = None
    on_error: str | None = None  # a step; default: apologise, open a ticket and end
    # branch
    else_: str | None = Field(default=None, alias="else")
    # ask / say / end / handoff: the response to say (end and handoff: optional)
    priority: Literal["normal", "high", "urgent"] = "normal"  # handoff
    next: str | None = None

    @field_validator("entity", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not re.match(r"^[a-z][a-z0-9_]{0,63}$", value):
            raise ValueError("step ids are lower-case letters, digits and _ (e.g. ask_ride)")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if self.say is not None and (self.handoff is not None or self.end is not None):
            kinds.remove("say")  # "say this, then hand off / end"
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise ValueError(f"a step does exactly one of {', '.join(STEP_KINDS)} (found: {found})")
        if self.ask is not None:
            if self.prompt is None:
                raise ValueError("an ask step needs a prompt (a response name)")
            if not (self.entity or self.choices or self.options):
                raise ValueError(
                    "an ask step needs entity (a type, yes_no or text), choices or options"
                )
        if self.branch is not None and self.else_ is None:
            raise ValueError("a branch needs an else step")
        for source in self.expressions():
            try:
                compile_expression(source)
            except TemplateSyntaxError as exc:
                raise ValueError(f"bad expression {source!r}: {exc.message}") from None
        return self

    @property
    def kind(self) -> str:
        if self.handoff is not None:
            return "handoff"  # "say, then hand off": the say is part of the handoff
        if self.end is not None:
            return "end"
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)

    def expressions(self) -> Iterable[str]:
        yield from (v for v in self.args.values() if isinstance(v, str))
        if self.validate_:
            yield self.validate_
        if self.options:
            yield self.options.items
            yield self.options.value
        for b in self.branch or ():
            yield b.if_

    def targets(self) -> Iterable[str]:
        for b in self.branch or ():
            yield b.goto
        for target in (self.else_, self.next, self.on_error):
            if target:
                yield target

    def responses(self) -> Iterable[str]:
        for key in (self.prompt, self.reprompt, self.say):
            if key:
                yield key
        if self.options:
            yield self.options.title


class Triggers(_Strict):
    intents: list[str] = Field(default_factory=list)
    faq: list[str] = Field(default_factory=list)  # an FAQ match on these starts the flow


class Flow(_Strict):
    name: str
    description: Localized
    triggers: Triggers = Triggers()
    # Acts on the customer's account: for an anonymous visitor an FAQ match answers with the
    # entry's text instead of starting the flow (an intent still starts it, to explain).
    needs_customer: bool = False
    steps: list[Step] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("flow names look like pack.flow_name")
        return value

    def index(self, step_id: str) -> int:
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        raise KeyError(step_id)

    def step(self, step_id: str) -> Step:
        return self.steps[self.index(step_id)]

    def after(self, step_id: str) -> str | None:
        """The step that follows `step_id` when it names no `next`."""
        i = self.index(step_id)
        step = self.steps[i]
        if step.next:
            return step.next
        return self.steps[i + 1].id if i + 1 < len(self.steps) else None


class FlowPack(_Strict):
    pack: str
    version: int = 1
    flows: list[Flow]


def _structure(pack: FlowPack) -> Problems:
    problems: Problems = []
    for f, flow in enumerate(pack.flows):
        ids = [s.id for s in flow.steps]
        for s, step in enumerate(flow.steps):
            if ids.count(step.id) > 1 and ids.index(step.id) != s:
                problems.append((("flows", f, "steps", s, "id"), f"step id {step.id!r} repeats"))
            for target in step.targets():
                if target not in ids:
                    problems.append(
                        (("flows", f, "steps", s), f"goes to {target!r}, which is not a step")
                    )
    return problems


def parse_flows(text: str, source: str) -> FlowPack:
    try:
        return parse_side_file(text, source, FlowPack, "a flows file is a mapping", _structure)
    except PackError as exc:
        raise PackError([_named(p, text) for p in exc.problems]) from None


_WHERE = re.compile(r"\bflows\.(\d+)(?:\.steps\.(\d+))?")


def _named(problem: str, text: str) -> str:
    """'flows.0.steps.2.ask' -> 'flow bike.refund step ask_ride: ask': people know their flows
    by name, not by position."""
    match = _WHERE.search(problem)
    if not match:
        return problem
    try:
        data = yaml.safe_load(text)
        flow = data["flows"][int(match[1])]
        where = f"flow {flow.get('name', match[1])}"
        if match[2] is not None:
            where += f" step {flow['steps'][int(match[2])].get('id', match[2])}"
    except (yaml.YAMLError, LookupError, TypeError, AttributeError):
        return problem
    return problem[: match.start()] + where + problem[match.end() :]


def load_flows(path: Path) -> FlowPack:
    return parse_flows(read_source(path), str(path))


def default_flow_paths() -> list[Path]:
    skills = Path(__file__).resolve().parent.parent / "skills"
    return sorted(skills.glob("*/flows.yaml"))


def line_of(path: Path, flow: str, step: str | None) -> int:
    """The line of a flow's step in its file (for cross-reference errors)."""
    lines = read_source(path).splitlines()
    start = next(
        (i for i, ln in enumerate(lines) if re.search(rf"name:\s*{re.escape(flow)}\s*$", ln)), 0
    )
    if step is None:
        return start + 1
    for i in range(start, len(lines)):
        if re.search(rf"id:\s*{re.escape(step)}\s*$", lines[i]):
            return i + 1
    return start + 1


__all__ = [
    "TEXT_SLOT",
    "YES_NO",
    "Flow",
    "FlowPack",
    "PackError",
    "Step",
    "compile_expression",
    "default_flow_paths",
    "line_of",
    "load_flows",
    "parse_flows",
]
