"""FAQ matching on the hybrid index: exact, keyword and similarity matching, incremental edits,
and accuracy on held-out paraphrases of the bundled packs (leave-one-out over the similar
questions), without a model and with the default sentence encoder."""

from __future__ import annotations

import pytest

from kefu.knowledge.pack import KnowledgeEntry, default_pack_paths, load_pack, parse_pack
from kefu.understanding.embeddings import make_embedder
from kefu.understanding.faq import FaqMatcher
from tests.knowledge.test_pack import GOOD


def bundled_entries() -> list[KnowledgeEntry]:
    return [e for path in default_pack_paths() for e in load_pack(path).entries]


def test_exact_match_scores_one_after_normalisation() -> None:
    matcher = FaqMatcher(parse_pack(GOOD).entries)
    (top, *_) = matcher.match("  押金怎么退?? ")  # half-width, repeated punctuation, spaces
    assert (top.entry_id, top.method) == ("demo.deposit", "exact") and top.score >= 0.99
    (top, *_) = matcher.match("ＨＯＷ do I get my deposit back？")  # full-width letters
    assert top.method == "exact"


def test_keyword_lifts_short_messages() -> None:
    matcher = FaqMatcher(bundled_entries())
    (top, *_) = matcher.match("押金")
    assert top.entry_id.startswith("bike.deposit")


def test_empty_matcher_and_punctuation_only_text() -> None:
    assert FaqMatcher([]).match("押金") == ()
    assert FaqMatcher(parse_pack(GOOD).entries).match("？？？!!!") == ()


@pytest.mark.parametrize(("embedder", "floor"), [(None, 0.5), ("use-multilingual", 0.62)])
def test_leave_one_out_accuracy_on_bundled_packs(embedder: str | None, floor: float) -> None:
    """A similar question hidden from the bank must still find its own entry, mostly.

    A regression guard set a little under what it measures (bench/faq_calibration.py;
    docs/benchmarks.md): the rule matcher this replaced reached 48.5%."""
    matcher = FaqMatcher(bundled_entries(), make_embedder(embedder) if embedder else None)
    standard = {q for e in matcher.entries.values() for q in (e.question.zh, e.question.en)}
    cases = [(row, eid, q) for row, eid, q in matcher.questions if q not in standard]
    correct = 0
    for row, entry_id, question in cases:
        top = matcher.match(question, exclude=row)
        correct += bool(top) and top[0].entry_id == entry_id
    assert len(cases) >= 400
    assert correct / len(cases) >= floor, f"{correct}/{len(cases)}"


def test_every_bank_question_finds_its_entry() -> None:
    matcher = FaqMatcher(bundled_entries())
    for _, entry_id, question in matcher.questions:
        top = matcher.match(question)
        assert top[0].entry_id == entry_id and top[0].method == "exact", question


def test_spaces_between_chinese_characters_still_match_exactly() -> None:
    matcher = FaqMatcher(parse_pack(GOOD).entries)
    (top, *_) = matcher.match("押金 怎么 退")
    assert top.method == "exact"


def test_edits_take_effect_at_once_without_a_rebuild() -> None:
    entries = bundled_entries()
    matcher = FaqMatcher(entries, make_embedder("use-multilingual"))
    index_before = matcher.index
    new = (
        parse_pack(GOOD)
        .entries[0]
        .model_copy(
            update={
                "id": "demo.helmet",
                "question": {"zh": "头盔在哪里借", "en": "Where can I borrow a helmet?"},
                "similar": {"zh": ["可以借头盔吗"], "en": ["helmet rental"]},
                "keywords": {"zh": ["头盔"], "en": ["helmet"]},
            }
        )
    )
    matcher.upsert(new)
    assert matcher.index is index_before
    assert matcher.match("哪里能借到头盔")[0].entry_id == "demo.helmet"
    edited = new.model_copy(
        update={
            "question": {"zh": "雨衣在哪里借", "en": "Where can I borrow a raincoat?"},
            "similar": {"zh": [], "en": []},
            "keywords": {"zh": ["雨衣"], "en": ["raincoat"]},
        }
    )
    matcher.upsert(edited)
    assert matcher.match("我想借雨衣")[0].entry_id == "demo.helmet"
    assert not any(
        c.entry_id == "demo.helmet" and c.method == "exact" for c in matcher.match("头盔在哪里借")
    )
    matcher.remove("demo.helmet")
    assert all(c.entry_id != "demo.helmet" for c in matcher.match("我想借雨衣"))
    matcher.upsert(new.model_copy(update={"enabled": False}))  # disabled entries are not indexed
    assert all(c.entry_id != "demo.helmet" for c in matcher.match("头盔在哪里借"))


def test_outcomes_answer_clarify_and_none() -> None:
    matcher = FaqMatcher(bundled_entries(), make_embedder("use-multilingual"))
    assert matcher.outcome(matcher.match("押金怎么退？")) == "answer"
    assert matcher.outcome(matcher.match("今天股市怎么样")) == "none"
    assert matcher.outcome(()) == "none"
