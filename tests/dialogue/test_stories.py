"""Every bundled conversation story, each a test: the real conversation service on a fresh
database with the demo operator, the trained intent model, restarts where a story asks."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from kefu.dialogue.stories import Story, load_stories, story_paths
from kefu.stories import StoryRunner

STORIES = [story for path in story_paths() for story in load_stories(path)]


def test_there_are_enough_stories_in_both_languages() -> None:
    assert len(STORIES) >= 40
    assert {s.language for s in STORIES} == {"zh", "en"}
    names = [s.name for s in STORIES]
    assert len(set(names)) == len(names), "story names must be unique"


def test_every_flow_has_a_story() -> None:
    from kefu.dialogue.skills import load_skills

    told = {t.expect.flow for s in STORIES for t in s.turns if t.expect.flow}
    # Sub-flows run inside others (their responses are checked there).
    untold = set(load_skills().flows) - told - {"lodging.pick_booking", "common.verify_identity"}
    assert not untold, f"flows without a story: {sorted(untold)}"


@pytest.fixture(scope="module")
def runner(trained_models: Path) -> Iterator[StoryRunner]:
    story_runner = StoryRunner(models_dir=trained_models)
    yield story_runner
    story_runner.close()


@pytest.mark.parametrize("story", STORIES, ids=[s.name for s in STORIES])
def test_story(runner: StoryRunner, story: Story) -> None:
    result = runner.run(story)
    assert result.passed, "\n".join(result.problems)
