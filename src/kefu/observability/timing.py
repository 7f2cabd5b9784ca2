"""Time a model's calls from outside: the models and the NLU engine stay free of metrics.

`timed(model, "intent", "predict")` is the model with `predict` timed into
`kefu_model_seconds{stage="intent"}`; everything else is forwarded to the model untouched.
The cost per call is two clock reads and one histogram observation (about a microsecond).
"""

from __future__ import annotations

import time
from typing import Any, TypeVar, cast

from kefu.observability import metrics

T = TypeVar("T")


class Timed:
    def __init__(self, target: object, stage: str, method: str) -> None:
        self._target = target
        call = getattr(target, method)
        observe = metrics.stage_observer(stage)
        clock = time.perf_counter

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return call(*args, **kwargs)
            finally:
                observe(clock() - started)

        # An instance attribute: found before __getattr__, so the timed method costs no lookup.
        self.__dict__[method] = timed_call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def __repr__(self) -> str:
        return f"Timed({self._target!r})"


def timed(target: T, stage: str, method: str) -> T:
    """`target` with `method` timed as model stage `stage` (None stays None)."""
    if target is None:
        return target
    return cast(T, Timed(target, stage, method))
