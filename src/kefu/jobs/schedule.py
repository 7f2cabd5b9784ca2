"""Periodic jobs: each is enqueued once per interval, however many kefu processes run.

Every process runs this loop. With Redis, a process claims an interval's slot with
`SET key NX EX` before enqueuing, so one of them enqueues it; alone (embedded mode), the process
simply enqueues. A slot that couldn't be claimed or enqueued (Redis restarting) is tried again
on the next tick, so a short outage delays a job rather than skipping it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

log = logging.getLogger("kefu.jobs")
TICK_S = 1.0


@dataclass(frozen=True)
class Periodic:
    job: str
    interval_s: float
    args: tuple[object, ...] = ()


class Schedule:
    def __init__(
        self,
        entries: list[Periodic],
        send: Callable[..., None],
        client: redis.Redis | None,
        *,
        first_delay_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.entries = [e for e in entries if e.interval_s > 0]
        self.send, self.client, self.clock = send, client, clock
        self.first_delay_s = first_delay_s
        self._done: dict[str, int] = {}  # job -> the last slot this process saw through
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        if not self.entries or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="kefu-job-schedule", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        # After a start, leave the server a moment before the first run (as before the queue).
        if self._stop.wait(min(self.first_delay_s, *(e.interval_s for e in self.entries))):
            return
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(TICK_S)

    def tick(self) -> list[str]:
        """Enqueue each job whose current slot is unclaimed; returns the jobs enqueued."""
        sent = []
        now = self.clock()
        for entry in self.entries:
            slot = int(now // entry.interval_s)
            if self._done.get(entry.job) == slot:
                continue
            try:
                if self._claim(entry, slot):
                    self.send(entry.job, *entry.args)
                    sent.append(entry.job)
                self._done[entry.job] = slot
                if self._failing:
                    log.warning("job schedule: enqueuing works again")
                    self._failing = False
            except redis.RedisError as exc:
                self._release(entry, slot)
                if not self._failing:
                    log.warning("job schedule: can't enqueue %s (%s); retrying", entry.job, exc)
                    self._failing = True
        return sent

    def _key(self, entry: Periodic, slot: int) -> str:
        return f"kefu-jobs:slot:{entry.job}:{':'.join(map(str, entry.args))}:{slot}"

    def _claim(self, entry: Periodic, slot: int) -> bool:
        if self.client is None:
            return True
        ttl = max(1, int(entry.interval_s * 2))
        return bool(self.client.set(self._key(entry, slot), "1", nx=True, ex=ttl))

    def _release(self, entry: Periodic, slot: int) -> None:
        if self.client is not None:
            with contextlib.suppress(redis.RedisError):  # else it expires by itself
                self.client.delete(self._key(entry, slot))
