"""Knowledge-gap clustering: planted topics come back as clusters among real customer questions,
the output is deterministic with stable ids, hostile text is only text, each cluster carries a
draft FAQ entry the admin API accepts, and `gap_clusters` reads the rollups on SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from kefu.analytics.filters import Filters
from kefu.analytics.gaps import (
    DRAFT_ANSWER,
    MAX_TEXT,
    GapItem,
    cluster_gaps,
    direction_of,
    gap_clusters,
    score_clusters,
)
from kefu.analytics.models import ConversationFact, TurnFact
from kefu.api.routes.knowledge import EntryCreate
from kefu.conversations.models import Conversation
from kefu.knowledge.intents import bundled_examples
from kefu.knowledge.pack import ENTRY_ID, KnowledgeEntry
from kefu.runtime import Runtime
from kefu.understanding.embeddings import Embedder, EmbedderUnavailable, make_embedder
from tests.analytics.gap_topics import PLANTED
from tests.conftest import IN_CI

TODAY = date(2026, 11, 24)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    """The bundled sentence encoder (a pinned dependency): missing, the tests fail in CI."""
    try:
        return make_embedder("use-multilingual")
    except EmbedderUnavailable as exc:
        if IN_CI:
            pytest.fail(f"the sentence encoder is part of the install: {exc}")
        pytest.skip(str(exc))


def items_of(texts: list[str], days: int = 14, lang: str = "en") -> list[GapItem]:
    return [
        GapItem(i + 1, f"c{i // 2}", text, lang, TODAY - timedelta(days=i % days), "fallback")
        for i, text in enumerate(texts)
    ]


def planted_items() -> list[GapItem]:
    return items_of([t for texts in PLANTED.values() for t in texts])


def test_planted_topics_are_recovered_among_real_customer_questions(embedder: Embedder) -> None:
    """The noise: 800 of the bundled packs' intent examples, customer questions from the same
    domain (bike, lodging). That is harder than real gap traffic (kefu answers those, so they
    are never gaps): a planted topic close to a bundled intent (child seats, parking) may
    merge with it, hence lower bars than on the simulator's gaps or on unrelated questions
    (bench/analytics_gaps.py --noise with ../shared/data's train splits: purity 0.98, recall
    0.96, every topic its own cluster)."""
    rng = random.Random(7)
    texts = rng.sample([text for text, _ in bundled_examples()], 800)
    texts += [t for topic in PLANTED.values() for t in topic]
    rng.shuffle(texts)
    items = items_of(texts)
    clusters = cluster_gaps(items, today=TODAY, embedder=embedder)
    scores = score_clusters(clusters, PLANTED, items)
    # The encoder is an int8 ONNX model, whose vectors differ slightly with the CPU's
    # instructions: on an Intel Xeon this scored purity >= 0.8 and 7 of 8 topics on their own;
    # on an AMD EPYC with AVX2 only, 0.72 and 6 of 8 (two topics merge), recall 0.97.
    assert scores["purity"] >= 0.7, scores
    assert scores["recall"] >= 0.8, scores
    assert scores["own_cluster"] >= len(PLANTED) - 2, scores


def test_without_an_embedder_terms_alone_still_find_the_topics() -> None:
    items = planted_items()
    scores = score_clusters(cluster_gaps(items, today=TODAY), PLANTED, items)
    assert scores["purity"] >= 0.9 and scores["own_cluster"] == len(PLANTED), scores
    assert scores["recall"] >= 0.7, scores


def test_clusters_are_deterministic_whatever_the_order(embedder: Embedder) -> None:
    items = planted_items()
    first = cluster_gaps(items, today=TODAY, embedder=embedder)
    shuffled = list(items)
    random.Random(3).shuffle(shuffled)
    again = cluster_gaps(shuffled, today=TODAY, embedder=embedder)
    assert [c.as_dict() for c in first] == [c.as_dict() for c in again]
    ids = [c.id for c in first]
    assert len(set(ids)) == len(ids) and all(i.startswith("gap-") for i in ids)
    # The same questions on other turns and days: same clusters, same ids.
    moved = [it._replace(turn_id=it.turn_id + 1000, local_day=TODAY) for it in items]
    assert sorted(c.id for c in cluster_gaps(moved, today=TODAY, embedder=embedder)) == sorted(ids)


def test_a_cluster_describes_its_questions(embedder: Embedder) -> None:
    texts = PLANTED["invoice_zh"]
    items = [
        GapItem(i + 1, f"c{i % 4}", t, "zh", TODAY - timedelta(days=i % 3), "clarify", "bike")
        for i, t in enumerate(texts)
    ]
    since = TODAY - timedelta(days=5)
    (cluster,) = cluster_gaps(items, today=TODAY, since=since, embedder=embedder)
    assert cluster.size == len(texts) and cluster.conversations == 4
    assert cluster.languages == {"zh": len(texts)} and cluster.reasons == {"clarify": len(texts)}
    assert "发票" in cluster.label
    assert 1 <= len(cluster.questions) <= 5 and len(set(cluster.questions)) == len(
        cluster.questions
    )
    assert set(cluster.questions) <= set(texts)
    assert [d for d, _ in cluster.daily] == [TODAY - timedelta(days=n) for n in range(5, -1, -1)]
    assert sum(n for _, n in cluster.daily) == cluster.size
    assert (cluster.first_day, cluster.last_day) == (TODAY - timedelta(days=2), TODAY)
    assert cluster.direction == "rising"  # nothing in the first three days of the range
    assert set(cluster.sample_conversations) == {"c0", "c1", "c2", "c3"}
    assert sorted(cluster.turn_ids) == [it.turn_id for it in items]


def test_the_draft_is_an_entry_the_admin_api_accepts(embedder: Embedder) -> None:
    items = [
        GapItem(i + 1, f"c{i}", t, "zh" if i % 2 else "en", TODAY, "fallback", "lodging")
        for i, t in enumerate(PLANTED["wheelchair_en"])
    ]
    (cluster,) = cluster_gaps(items, today=TODAY, embedder=embedder)
    draft = cluster.draft
    entry = KnowledgeEntry.model_validate(draft)
    EntryCreate.model_validate({**draft, "pack": "console"})
    assert ENTRY_ID.match(entry.id) and entry.id.startswith("draft.wheelchair")
    assert entry.skill == "lodging" and entry.tags == ["draft", "knowledge-gap"]
    assert not entry.enabled  # saved unedited, it never answers a customer
    assert entry.answer.zh == DRAFT_ANSWER["zh"] and entry.answer.en == DRAFT_ANSWER["en"]
    assert entry.question.en == cluster.questions[0]
    assert entry.question.zh == entry.question.en  # nobody asked in Chinese: to translate
    assert set(entry.similar.en) <= set(PLANTED["wheelchair_en"]) and entry.similar.en
    assert entry.question.en not in entry.similar.en and not entry.similar.zh


def test_empty_and_meaningless_input_gives_no_clusters() -> None:
    assert cluster_gaps([], today=TODAY) == []
    assert cluster_gaps(items_of(["???", "……", " ", "\u200b\u200b"]), today=TODAY) == []
    lonely = items_of(["how do I get an invoice", "可以带宠物入住吗"])
    assert cluster_gaps(lonely, today=TODAY) == []  # below the minimum size: noise


def test_hostile_text_is_clustered_as_text() -> None:
    long = "我想问一下发票怎么开" + "啊" * 3990
    texts = [
        "<script>alert('invoice')</script> how do I get an invoice",
        "how do I get an invoice'; DROP TABLE analytics_turns; --",
        "how\u200b do I get an\u200d invoice\ufeff",
        "ＨＯＷ ＤＯ Ｉ ＧＥＴ ＡＮ ＩＮＶＯＩＣＥ？",
        "how do I get an invoice",
        long,
        "发票怎么开",
        "怎么开发票？",
        "發票怎麼開",
    ]
    clusters = cluster_gaps(items_of(texts), today=TODAY, min_size=2)
    shown = [q for c in clusters for q in c.questions]
    assert all(len(q) <= MAX_TEXT for q in shown)
    assert all("\u200b" not in q and "\ufeff" not in q for q in shown)
    by_turn = {t: c for c in clusters for t in c.turn_ids}
    # Width, case and invisible characters fold away: one question, one cluster.
    assert len({by_turn[t].id for t in (3, 4, 5)}) == 1 and by_turn[3].size >= 3
    assert by_turn[7].id == by_turn[9].id  # traditional folds to simplified
    for cluster in clusters:
        KnowledgeEntry.model_validate(cluster.draft)


def test_trend_compares_the_later_half_with_the_earlier() -> None:
    assert direction_of([]) == direction_of([4]) == "steady"
    assert direction_of([0, 0, 1, 3, 4]) == "rising"
    assert direction_of([5, 2, 9, 1, 0]) == "falling"
    assert direction_of([2, 3, 0, 3, 2]) == "steady"
    assert direction_of([0, 1]) == "steady"  # too few to call it a rise


def test_only_the_most_recent_items_are_clustered(embedder: Embedder) -> None:
    old = items_of(PLANTED["pet_zh"], lang="zh")
    old = [it._replace(local_day=TODAY - timedelta(days=60)) for it in old]
    new = [it._replace(turn_id=it.turn_id + 100) for it in items_of(PLANTED["helmet_zh"], 1)]
    clusters = cluster_gaps(old + new, today=TODAY, embedder=embedder, max_items=len(new))
    assert [sorted(c.turn_ids) for c in clusters] == [sorted(it.turn_id for it in new)]
    capped = cluster_gaps(old + new, today=TODAY, embedder=embedder, max_distinct=len(new))
    assert {t for c in capped for t in c.turn_ids} == {it.turn_id for it in new}


def test_score_clusters_measures_purity_and_recall() -> None:
    planted = {"a": ["alpha one", "alpha two", "alpha three"], "b": ["beta one", "beta two"]}
    items = items_of([*planted["a"], *planted["b"], "noise x", "noise y"])
    (base,) = cluster_gaps(items_of(["same question"] * 3), today=TODAY)
    a_cluster = dataclasses.replace(base, turn_ids=(1, 2))
    mixed = dataclasses.replace(base, turn_ids=(3, 4, 6, 7))
    scores = score_clusters([a_cluster, mixed], planted, items)
    # mixed holds a3, b1 and two noise items: its majority is noise.
    assert scores["clustered_planted"] == 4 and scores["purity"] == 2 / 4
    assert scores["per_topic"] == {"a": 2 / 3, "b": 1 / 2}
    assert scores["own_cluster"] == 1 and scores["noise_in_topics"] == 0.0


def add_gap_turns(runtime: Runtime, rows: list[dict[str, Any]]) -> list[str]:
    """Conversations with their fact rows and one turn fact per row (fields override)."""
    tenant = runtime.tenant.id
    now = datetime(2026, 11, 24, 8, tzinfo=UTC)
    ids: list[str] = []
    with runtime.sessions.begin() as session:
        for _ in range(4):
            conv = Conversation(tenant_id=tenant, language="zh", channel="web")
            session.add(conv)
            session.flush()
            ids.append(str(conv.id))
            session.add(
                ConversationFact(
                    conversation_id=conv.id, tenant_id=tenant, customer_id=None, started_at=now,
                    local_day=TODAY, local_hour=8, skill="bike", channel="web", language="zh",
                    status="open", ended_at=None, closed=False, messages=2, customer_messages=1,
                    bot_messages=1, agent_messages=0, turns=1, answered=0, fallbacks=1,
                    clarifications=0, negative_turns=0, sentiment_sum=0.0,
                    bot_first_response_ms=None, handle_ms=None, handed_off=False,
                    handoff_reason=None, agent_first_response_ms=None, agent_handle_ms=None,
                    returned_24h=False, resolved_first_contact=False, automated=False,
                    rating=None, flow=None, flow_outcome=None, flow_last_step=None,
                )
            )  # fmt: skip
        session.flush()
        for i, row in enumerate(rows):
            fields: dict[str, Any] = {
                "turn_event_id": i + 1, "tenant_id": tenant,
                "conversation_id": uuid.UUID(ids[i % 4]), "created_at": now,
                "local_day": TODAY, "local_hour": 8, "skill": "bike", "channel": "web",
                "language": "zh", "decision": "fallback", "reason": None, "intent": None,
                "faq_entry_id": None, "confidence": 0.2, "polarity": 0, "place": None,
                "gap": True, "text_masked": None,
            }  # fmt: skip
            session.add(TurnFact(**{**fields, **row}))
    return ids


def test_gap_clusters_reads_the_gap_turns_in_the_filter_range(
    runtime: Runtime, embedder: Embedder
) -> None:
    invoice = PLANTED["invoice_zh"][:6]
    rows: list[dict[str, Any]] = [{"text_masked": t} for t in invoice]
    rows[1]["decision"] = "clarify"
    rows[2].update(decision="answer", confidence=0.3)  # low confidence
    rows += [{"text_masked": t, "local_day": TODAY - timedelta(days=40)} for t in invoice]
    rows += [{"text_masked": t, "gap": False} for t in PLANTED["pet_zh"][:5]]
    rows += [{"text_masked": t, "language": "en"} for t in PLANTED["parking_en"][:5]]
    rows += [{"text_masked": None}] * 3  # a gap without its text: nothing to cluster
    ids = add_gap_turns(runtime, rows)
    filters = Filters(TODAY - timedelta(days=6), TODAY, language="zh")
    with runtime.sessions() as session:
        clusters = gap_clusters(session, runtime.tenant.id, filters, today=TODAY, embedder=embedder)
    (cluster,) = clusters
    assert sorted(cluster.turn_ids) == list(range(1, 7))
    assert cluster.reasons == {"clarify": 1, "fallback": 4, "low_confidence": 1}
    assert cluster.conversations == 4 and set(cluster.sample_conversations) <= set(ids)
    assert cluster.daily[0][0] == filters.since and cluster.daily[-1] == (TODAY, 6)
    assert cluster.draft["skill"] == "bike"
    with runtime.sessions() as session:
        everyone = gap_clusters(
            session,
            runtime.tenant.id,
            Filters(TODAY - timedelta(days=60), TODAY),
            today=TODAY,
            embedder=embedder,
        )
    assert sorted(c.size for c in everyone) == [5, 12]
