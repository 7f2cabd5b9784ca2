"""Issue 9: a conversation whose turns alternate between two worker processes behaves exactly
like one on a single process. Every bundled story that can run over HTTP runs through two
`kefu serve` processes on one PostgreSQL database and Redis (turns alternating between them),
then through one of them alone: both ways every story passes, and the bot says the same words.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kefu.config import Settings
from kefu.dialogue.stories import Story, load_stories, story_paths
from kefu.stories_http import HttpStoryRunner, StoryRun, excluded_reason
from kefu.testing import Server

KEY = "identity-key-shared-with-the-operators-app"
STORIES = [story for path in story_paths() for story in load_stories(path)]
ELIGIBLE = [story for story in STORIES if excluded_reason(story, KEY) is None]
# Every client here is 127.0.0.1, and both runs send ~1000 requests within a couple of minutes.
UNLIMITED = {"KEFU_RATE_LIMIT_IP": "1000000/minute", "KEFU_RATE_LIMIT_CUSTOMER": "1000000/minute"}


@pytest.fixture
def servers(
    tmp_path: Path, postgres_url: str, redis_url: str, trained_models: Path
) -> Iterator[tuple[Server, Server]]:
    env = {
        "KEFU_DATABASE_URL": postgres_url,
        "KEFU_REDIS_URL": redis_url,
        "KEFU_MODELS_DIR": str(trained_models),
        "KEFU_CUSTOMER_IDENTITY_KEY": KEY,
        # Background jobs would only compete for the two cores.
        "KEFU_ANALYTICS_REFRESH_SECONDS": "0",
        "KEFU_RETENTION_INTERVAL_MINUTES": "0",
        **UNLIMITED,
    }
    # The same data dir: the same secret and encryption keys, as processes of one deployment.
    pair = (Server(tmp_path / "var", **env), Server(tmp_path / "var", **env))
    try:
        for server in pair:  # one after the other: the first migrates and seeds
            server.start(timeout=90)
        yield pair
    finally:
        for server in pair:
            server.stop()


def _restarter(*servers: Server, took: list[float]) -> Callable[[str], None]:
    """Restart the server that takes the next message: a fresh process answers mid-flow."""

    def restart(url: str) -> None:
        server = next(s for s in servers if s.url == url)
        server.stop()
        took.append(server.start(timeout=90))

    return restart


def _run_all(runner: HttpStoryRunner, stories: list[Story]) -> list[StoryRun]:
    try:
        return [runner.run(story) for story in stories]
    finally:
        runner.close()


def _failures(runs: list[StoryRun]) -> str:
    return "\n".join(
        f"{run.story.name}:\n  " + "\n  ".join(run.problems) for run in runs if not run.passed
    )


def test_only_fault_injecting_stories_are_left_out() -> None:
    # Injecting backend failures needs the backend in the test's process; every other story
    # (restarts, one-time codes, signed customers) runs against the servers.
    left_out = [s for s in STORIES if s not in ELIGIBLE]
    assert ELIGIBLE and all(s.backend.fail for s in left_out)


@pytest.mark.timeout(420)
def test_stories_alternating_between_two_workers_pass_and_match_one_worker(
    tmp_path: Path, postgres_url: str, servers: tuple[Server, Server]
) -> None:
    one, two = servers
    # The runner reads what the API doesn't return from the shared database: the servers' keys.
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        database_url=postgres_url,
    )
    started, restarts = time.perf_counter(), list[float]()
    alternating = _run_all(
        HttpStoryRunner(
            [one.url, two.url],
            settings,
            identity_key=KEY,
            restart=_restarter(one, two, took=restarts),
        ),
        ELIGIBLE,
    )
    halfway = time.perf_counter()
    # Restarts skipped here (each costs a server start): the alternating run did them, and
    # tests/dialogue/test_stories.py restarts in process.
    single = _run_all(HttpStoryRunner([one.url], settings, identity_key=KEY), ELIGIBLE)
    print(
        f"{len(ELIGIBLE)} of {len(STORIES)} stories: alternating {halfway - started:.1f} s "
        f"({len(restarts)} restarts, {sum(restarts):.1f} s), "
        f"one process {time.perf_counter() - halfway:.1f} s"
    )

    assert not _failures(alternating), "across two workers:\n" + _failures(alternating)
    assert not _failures(single), "on one worker:\n" + _failures(single)
    for run in alternating:  # it really did change process between turns
        if len(run.servers) > 1:
            assert set(run.servers) == {one.url, two.url}, run.story.name
    for two_ways, one_way in zip(alternating, single, strict=True):
        assert two_ways.replies == one_way.replies, two_ways.story.name
        assert two_ways.observed == one_way.observed, two_ways.story.name
    assert restarts and sum(run.skipped_restarts for run in alternating) == 0
