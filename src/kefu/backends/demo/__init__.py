"""The demo operator: bike sharing and shared lodging in kefu's own database (`demo_*` tables).

`models` holds the tables, `city` the fixed facts of the demo city (Beijing's stations, the
listings), `seed` fills the tables deterministically and `backend` serves them through
`OperatorBackend`. Nothing here is tenant data: it stands in for an outside operator's system.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kefu.backends.demo.backend import DemoBackend
    from kefu.backends.demo.seed import seed

__all__ = ["DemoBackend", "seed"]


def __getattr__(name: str) -> Any:
    # Lazy: kefu.db.models imports the tables, and must not pull in the backend with them.
    if name == "DemoBackend":
        from kefu.backends.demo.backend import DemoBackend

        return DemoBackend
    if name == "seed":
        from kefu.backends.demo.seed import seed

        return seed
    raise AttributeError(name)
