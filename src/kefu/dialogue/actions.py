"""Actions: what a flow's `call` step runs.

Two kinds, one registry:
- `backend.<method>`: any `OperatorBackend` method, its result turned into JSON-safe data (so it
  can be saved in the conversation's state and used in templates);
- skill actions: Python functions in `skills/<pack>/actions.py`, registered with `@action(name)`,
  for what is more than one backend call (pick a bike type from the rider's history, mark the
  customer verified). They get an `ActionContext` and the step's arguments.

A backend failure surfaces as `BackendError`; the flow runner turns it into a clear message and a
kefu-side ticket, so the customer never sees a stack trace or silence.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from kefu.backends.base import BackendError, OperatorBackend
from kefu.dialogue.state import DialogueState

ActionFn = Callable[..., Any]
_SKILL_ACTIONS: dict[str, ActionFn] = {}
BACKEND_METHODS = tuple(
    name
    for name, member in inspect.getmembers(OperatorBackend)
    if not name.startswith("_") and inspect.isfunction(member)
)


@dataclass
class ActionContext:
    backend: OperatorBackend | None
    state: DialogueState
    language: str
    text: str  # the customer's message this turn

    def need_backend(self, operation: str) -> OperatorBackend:
        if self.backend is None:
            raise BackendError(
                "unavailable", "no operator backend is configured", operation=operation
            )
        return self.backend


def action(name: str) -> Callable[[ActionFn], ActionFn]:
    """Register a skill action: `fn(ctx: ActionContext, **args)` returning JSON-safe data."""

    def register(fn: ActionFn) -> ActionFn:
        _SKILL_ACTIONS[name] = fn
        return fn

    return register


def jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def _load_skill_actions() -> None:
    import kefu.skills as skills

    for info in pkgutil.iter_modules(skills.__path__):
        if info.ispkg:
            try:
                importlib.import_module(f"kefu.skills.{info.name}.actions")
            except ModuleNotFoundError as exc:
                if exc.name != f"kefu.skills.{info.name}.actions":
                    raise


class Actions:
    def __init__(self) -> None:
        _load_skill_actions()
        self.skill = dict(_SKILL_ACTIONS)

    def names(self) -> set[str]:
        return {f"backend.{m}" for m in BACKEND_METHODS} | set(self.skill)

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def run(self, name: str, ctx: ActionContext, args: dict[str, Any]) -> Any:
        if name.startswith("backend."):
            method = name.removeprefix("backend.")
            if method not in BACKEND_METHODS:
                raise KeyError(name)
            backend = ctx.need_backend(method)
            return jsonable(getattr(backend, method)(**args))
        return jsonable(self.skill[name](ctx, **args))
