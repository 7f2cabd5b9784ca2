"""The clock every stored timestamp comes from. The wall clock, unless the traffic simulator
(kefu.analytics.simulate) sets a simulated one for its thread. No dependencies, so any layer
(understanding included) can read the time without reaching into the database layer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

# What utcnow() reads in this thread: none is the wall clock; the traffic simulator sets a
# simulated one (per thread, so its workers each keep their own time).
_local = threading.local()


def utcnow() -> datetime:
    """Now, in UTC: every timestamp kefu stores comes from here (column defaults included)."""
    clock: Callable[[], datetime] | None = getattr(_local, "clock", None)
    return clock() if clock is not None else datetime.now(UTC)


class SimulatedClock:
    """A clock the caller moves. Each read also moves it by `tick`, so writes made one after
    the other get increasing times (a bot reply lands a few ticks after its question)."""

    def __init__(self, start: datetime, tick: timedelta = timedelta(0)) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs a timezone-aware start")
        self.now = start.astimezone(UTC)
        self.tick = tick

    def __call__(self) -> datetime:
        now = self.now
        self.now = now + self.tick
        return now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("naive datetime given to the simulated clock")
        self.now = when.astimezone(UTC)


@contextmanager
def simulated_clock(start: datetime, tick: timedelta = timedelta(0)) -> Iterator[SimulatedClock]:
    """Make utcnow() read a simulated clock in this thread until the block ends (work this
    thread hands to others keeps the wall clock)."""
    previous, clock = getattr(_local, "clock", None), SimulatedClock(start, tick)
    _local.clock = clock
    try:
        yield clock
    finally:
        _local.clock = previous
