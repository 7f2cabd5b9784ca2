"""Run conversation stories (`kefu.dialogue.stories`) through the real thing: a fresh SQLite
database with the demo operator seeded, the trained intent model, the conversation service
(persist first), and a real restart where a story asks for one.

Used by `kefu test stories` and by pytest (`tests/dialogue/test_stories.py`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kefu.backends.base import BackendError
from kefu.config import Settings
from kefu.dialogue.stories import Story, check, said
from kefu.dialogue.turns import TurnResult
from kefu.errors import KefuError
from kefu.runtime import Runtime, prepare_database

OTP = "123456"  # the demo backend's one-time code in stories
STORY_CITY = (40, 400)  # customers, bikes: the fixtures plus a small city, re-seeded per story


class FaultyBackend:
    """Wraps a backend; the named operations raise BackendError(kind) instead."""

    def __init__(self, inner: Any, fail: dict[str, str]) -> None:
        self._inner = inner
        self._fail = fail
        self.name = getattr(inner, "name", "faulty")

    def __getattr__(self, operation: str) -> Any:
        target = getattr(self._inner, operation)
        kind = self._fail.get(operation)
        if kind is None:
            return target

        def failing(*args: Any, **kwargs: Any) -> Any:
            raise BackendError(kind, f"injected {kind}", operation=operation)  # type: ignore[arg-type]

        return failing


@dataclass
class StoryResult:
    story: Story
    problems: list[str] = field(default_factory=list)  # "turn 2 (第二个): slot ...: expected"
    turns: list[TurnResult] = field(default_factory=list)  # what each message got
    elapsed_ms: list[float] = field(default_factory=list)  # each `post`, storage included

    @property
    def passed(self) -> bool:
        return not self.problems


def train_models(models_dir: Path, settings_env: dict[str, str] | None = None) -> None:
    """Train the intent model on the bundled packs into `models_dir` (a child process, like
    `kefu serve` on first start: scikit-learn stays out of this one)."""
    import os

    env = {**os.environ, **(settings_env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "kefu", "train", "--out", str(models_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise KefuError(f"training the intent model failed:\n{done.stdout}\n{done.stderr}")


class StoryRunner:
    def __init__(self, workdir: Path | None = None, models_dir: Path | None = None) -> None:
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="kefu-stories-")
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.models_dir = models_dir or self.workdir / "models"
        self.settings = Settings(
            data_dir=self.workdir,
            database_url=f"sqlite:///{self.workdir / 'stories.db'}",
            models_dir=self.models_dir,
            backend="demo",
            train_on_start=False,
            redis_url=None,
        )
        prepare_database(self.settings)
        if not (self.models_dir / "intent" / "current").is_file():
            train_models(
                self.models_dir,
                {
                    "KEFU_DATA_DIR": str(self.workdir),
                    "KEFU_DATABASE_URL": self.settings.effective_database_url,
                },
            )
        self.runtime = Runtime.build(self.settings)
        self._results: list[TurnResult] = []

    def _backend(self, story: Story) -> Any:
        from kefu.backends.demo.backend import DemoBackend

        demo = DemoBackend(self.runtime.engine, fixed_code=OTP)
        return FaultyBackend(demo, dict(story.backend.fail)) if story.backend.fail else demo

    def _restart(self, story: Story) -> None:
        self.runtime.close()
        self.runtime = Runtime.build(self.settings)
        self._prepare(story)

    def _prepare(self, story: Story) -> None:
        service = self.runtime.conversations
        service.bot.use_backend(self._backend(story))
        service.observers[:] = [self._results.append]

    def run(self, story: Story, restarts: bool = True) -> StoryResult:
        """One story on a freshly seeded operator: stories don't see each other's refunds.
        `restarts=False` skips the story's restarts (benchmarks time turns, not start-ups)."""
        from kefu.backends.demo.seed import seed

        seed(self.runtime.engine, customers=STORY_CITY[0], bikes=STORY_CITY[1])
        result = StoryResult(story)
        self._prepare(story)
        service = self.runtime.conversations
        conv = service.start(language=story.language, customer_external_id=story.customer)
        for number, turn in enumerate(story.turns, 1):
            if turn.restart:
                if restarts:
                    self._restart(story)
                    service = self.runtime.conversations
                continue
            assert turn.say is not None
            self._results.clear()
            started = time.perf_counter()
            posted = service.post(conv.id, turn.say)
            result.elapsed_ms.append((time.perf_counter() - started) * 1000)
            result.turns.extend(self._results)
            if not self._results:
                result.problems.append(f"turn {number} ({turn.say}): no reply was produced")
                continue
            observed = observe(self._results[-1], posted.status.value)
            for problem in check(turn.expect, observed):
                result.problems.append(f"turn {number} ({turn.say}): {problem}")
        return result

    def close(self) -> None:
        self.runtime.close()
        if self._tmp is not None:
            self._tmp.cleanup()


def observe(result: TurnResult, status: str) -> dict[str, Any]:
    trace = result.trace
    return {
        "decision": result.decision.kind.value,
        "reason": result.decision.reason,
        "intent": result.parse.intent,
        "flow": trace.get("flow"),
        "faq": result.decision.entry_id,
        "responses": said([(r.text, r.payload) for r in result.replies]),
        "calls": [a["action"] for a in trace.get("actions", [])],
        "errors": [a["action"] for a in trace.get("actions", []) if "error" in a],
        "slots": dict(trace.get("slots", {})),
        "text": "\n".join(r.text for r in result.replies),
        "handoff": result.wants_handoff,
        "ticket": any(e.get("kind") == "ticket" for e in result.effects),
        "status": status,
    }
