"""The operator backend a deployment is configured with (KEFU_BACKEND)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from kefu.config import Settings
from kefu.errors import KefuError


def make_backend(settings: Settings, engine: Engine) -> Any:
    """The configured `OperatorBackend`, or None when flows run without one (they then say
    the operator's system can't be reached and keep a ticket)."""
    if settings.backend == "none":
        return None
    if settings.backend == "demo":
        from kefu.backends.demo.backend import DemoBackend

        return DemoBackend(engine)
    if settings.backend_config is None:
        raise KefuError(
            "KEFU_BACKEND=http needs KEFU_BACKEND_CONFIG: the YAML file describing your API "
            "(see docs/backends.md)",
            code="backend_config_missing",
        )
    from kefu.backends.http import HttpBackend

    return HttpBackend.from_file(settings.backend_config)
