"""Flows act through the HTTP backend exactly as through the demo one: the bundled flows
against a real local HTTP server playing an operator's API (tests/backends/operator_api.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kefu.backends.http import HttpBackend
from kefu.dialogue.pipeline import Pipeline
from kefu.dialogue.skills import load_skills
from kefu.dialogue.state import DialogueState
from kefu.dialogue.turns import ConversationState
from tests.backends.operator_api import OperatorApi
from tests.backends.test_http import ENV, example
from tests.dialogue.test_pipeline import knowledge
from tests.dialogue.test_policy import Scripted

INTENTS = {
    "帮我查一下我的预订": "lodging.booking_lookup",
    "骑行扣费不对，帮我退款": "bike.refund_ride",
    "附近有车吗": "bike.nearby_bikes",
}


@pytest.fixture
def api() -> Iterator[OperatorApi]:
    with OperatorApi() as server:
        yield server


@pytest.fixture
def pipeline(api: OperatorApi) -> Iterator[Pipeline]:
    with HttpBackend(example(api), env=ENV) as backend:
        yield Pipeline(Scripted(INTENTS), knowledge(), None, load_skills(), backend)


def chat(pipeline: Pipeline, *texts: str) -> list[object]:
    state = DialogueState(customer="C1001").to_json()
    results = []
    for text in texts:
        result = pipeline.handle(text, ConversationState("bot", "zh", state))
        state = result.state
        results.append(result)
    return results


def test_a_booking_looked_up_over_http(pipeline: Pipeline) -> None:
    (result,) = chat(pipeline, "帮我查一下我的预订")
    assert result.trace["responses"] == ["lodging.booking_card"]  # type: ignore[attr-defined]
    assert "国贸 Loft" in result.replies[0].text  # type: ignore[attr-defined]


def test_a_refund_flow_over_http(pipeline: Pipeline, api: OperatorApi) -> None:
    first, second, third = chat(pipeline, "骑行扣费不对，帮我退款", "第二个", "扣多了")
    assert first.trace["responses"] == ["bike.refund.which_ride"]  # type: ignore[attr-defined]
    assert second.trace["slots"] == {"ride_id": "T9001"}  # type: ignore[attr-defined]
    assert third.trace["actions"][0]["action"] == "backend.request_refund"  # type: ignore[attr-defined]
    assert "error" not in third.trace["actions"][0]  # type: ignore[attr-defined]
    assert any("/trips/T9001/refunds" in seen.path for seen in api.seen)


def test_an_operator_timeout_gives_a_ticket_not_silence(api: OperatorApi) -> None:
    api.fault(delay_s=5.0, times=None, match="/nearby")
    config = example(api, timeout_s=0.2, retries=0, deadline_s=0.5)
    with HttpBackend(config, env=ENV) as backend:
        pipeline = Pipeline(Scripted(INTENTS), knowledge(), None, load_skills(), backend)
        _, result = chat(pipeline, "附近有车吗", "朝阳门")
    assert result.trace["actions"][0]["error"] == "timeout"  # type: ignore[attr-defined]
    (ticket,) = result.effects  # type: ignore[attr-defined]
    assert ticket["reason"] == "backend_timeout"
    assert ticket["ticket_id"] in result.replies[-1].text  # type: ignore[attr-defined]
