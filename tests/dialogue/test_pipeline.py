"""The answer policy, with a stub understander: thresholds, handoff, silence, fallback."""

from __future__ import annotations

from kefu.dialogue.pipeline import Pipeline
from kefu.dialogue.turns import ConversationState, DecisionKind
from kefu.knowledge.bank import KnowledgeBase, PackInfo
from kefu.knowledge.pack import parse_pack
from kefu.understanding.parse import FaqCandidate, FaqOutcome, Lang, Parse
from tests.knowledge.test_pack import GOOD


class Fixed:
    """An Understander that always returns the same candidate (or none)."""

    def __init__(self, entry_id: str | None, score: float = 0.0) -> None:
        self.faq = (FaqCandidate(entry_id, score, "similarity", "q"),) if entry_id else ()

    def parse(self, text: str, language_hint: Lang) -> Parse:
        return Parse(text=text, normalized=text, language=language_hint, faq=self.faq)


def knowledge(handoff: bool = False, skill: str = "bike") -> KnowledgeBase:
    pack = parse_pack(GOOD)
    entry = pack.entries[0].model_copy(
        update={"action": "handoff" if handoff else None, "skill": skill}
    )
    return KnowledgeBase([(entry, PackInfo("demo", pack.variables))])


BOT = ConversationState("bot", "en")


def test_answers_above_threshold_and_renders_template() -> None:
    result = Pipeline(Fixed("demo.deposit", 0.8), knowledge(), 0.65).handle("x", BOT)
    assert result.decision.kind is DecisionKind.ANSWER
    assert [r.text for r in result.replies] == ["Call 400-000-0000."]


def test_falls_back_below_threshold_listing_skills() -> None:
    result = Pipeline(Fixed("demo.deposit", 0.5), knowledge(), 0.65).handle("x", BOT)
    assert result.decision.kind is DecisionKind.FALLBACK
    assert "bike and scooter deposits" in result.replies[0].text


def test_fallback_without_described_skills_is_plain() -> None:
    result = Pipeline(Fixed(None), knowledge(skill="boats"), 0.65).handle("x", BOT)
    assert "skill." not in result.replies[0].text
    assert result.replies[0].payload == {"kind": "fallback"}


def test_handoff_entry_requests_handoff_once() -> None:
    pipeline = Pipeline(Fixed("demo.deposit", 0.9), knowledge(handoff=True), 0.65)
    assert pipeline.handle("x", BOT).wants_handoff
    waiting = pipeline.handle("x", ConversationState("waiting_agent", "zh"))
    assert waiting.replies[0].payload == {"kind": "handoff"}


def test_silent_while_with_agent() -> None:
    pipeline = Pipeline(Fixed("demo.deposit", 0.9), knowledge(), 0.65)
    result = pipeline.handle("x", ConversationState("with_agent", "zh"))
    assert result.decision.kind is DecisionKind.SILENT and result.replies == ()


def test_unknown_entry_id_falls_back() -> None:
    result = Pipeline(Fixed("gone.entry", 0.99), knowledge(), 0.65).handle("x", BOT)
    assert result.decision.kind is DecisionKind.FALLBACK


class Advised:
    """An Understander whose retrieval advises an outcome over two candidates."""

    def __init__(self, outcome: FaqOutcome) -> None:
        self.outcome = outcome

    def parse(self, text: str, language_hint: Lang) -> Parse:
        faq = (
            FaqCandidate("demo.deposit", 0.45, "similarity", "q"),
            FaqCandidate("demo.refund", 0.4, "similarity", "q"),
        )
        return Parse(text, text, language_hint, faq=faq, faq_outcome=self.outcome)


def two_entries() -> KnowledgeBase:
    pack = parse_pack(GOOD)
    second = pack.entries[0].model_copy(
        update={"id": "demo.refund", "question": {"zh": "怎么退款", "en": "How do refunds work?"}}
    )
    return KnowledgeBase([(e, PackInfo("demo", pack.variables)) for e in (pack.entries[0], second)])


def test_learned_outcome_decides_without_a_fixed_threshold() -> None:
    assert Pipeline(Advised("answer"), two_entries(), None).handle("x", BOT).decision.kind is (
        DecisionKind.ANSWER
    )
    assert Pipeline(Advised("none"), two_entries(), None).handle("x", BOT).decision.kind is (
        DecisionKind.FALLBACK
    )


def test_clarify_offers_the_candidates_as_quick_replies_in_the_reply_language() -> None:
    result = Pipeline(Advised("clarify"), two_entries(), None).handle("x", BOT)
    assert result.decision.kind is DecisionKind.CLARIFY
    (reply,) = result.replies
    assert reply.payload["kind"] == "clarify"
    titles = [o["title"] for o in reply.payload["quick_replies"]]
    assert titles == ["How do I get my deposit back?", "How do refunds work?"]
    assert "1. How do I get my deposit back?" in reply.text
    zh = Pipeline(Advised("clarify"), two_entries(), None).handle(
        "x", ConversationState("bot", "zh")
    )
    assert "怎么退款" in zh.replies[0].text


def test_a_fixed_threshold_overrides_the_learned_outcome() -> None:
    result = Pipeline(Advised("clarify"), two_entries(), 0.4).handle("x", BOT)
    assert result.decision.kind is DecisionKind.ANSWER
