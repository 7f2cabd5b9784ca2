"""The rule-based FAQ matcher: exact, keyword and similarity matching, and its accuracy on
held-out paraphrases of the bundled packs (leave-one-out over the similar questions)."""

from __future__ import annotations

from kefu.knowledge.pack import KnowledgeEntry, default_pack_paths, load_pack, parse_pack
from kefu.understanding.faq import FaqMatcher
from tests.knowledge.test_pack import GOOD


def bundled_entries() -> list[KnowledgeEntry]:
    return [e for path in default_pack_paths() for e in load_pack(path).entries]


def test_exact_match_scores_one_after_normalisation() -> None:
    matcher = FaqMatcher(parse_pack(GOOD).entries)
    (top, *_) = matcher.match("  押金怎么退?? ")  # half-width, repeated punctuation, spaces
    assert (top.entry_id, top.method, top.score) == ("demo.deposit", "exact", 1.0)
    (top, *_) = matcher.match("ＨＯＷ do I get my deposit back？")  # full-width letters
    assert top.method == "exact"


def test_keyword_lifts_short_messages() -> None:
    matcher = FaqMatcher(bundled_entries())
    (top, *_) = matcher.match("押金")
    assert top.entry_id.startswith("bike.deposit")


def test_parse_detects_language() -> None:
    matcher = FaqMatcher(parse_pack(GOOD).entries)
    assert matcher.parse("deposit?", "zh").language == "en"
    assert matcher.parse("押金", "en").language == "zh"
    assert matcher.parse("123", "en").language == "en"


def test_empty_matcher_and_punctuation_only_text() -> None:
    assert FaqMatcher([]).match("押金") == ()
    assert FaqMatcher(parse_pack(GOOD).entries).match("？？？!!!") == ()


def test_leave_one_out_accuracy_on_bundled_packs() -> None:
    """A similar question, removed from the bank, must still find its own entry.

    Every third held-out question is checked (a fixed sample keeps the test fast)."""
    entries = bundled_entries()
    cases = [
        (index, lang, held_out)
        for index, entry in enumerate(entries)
        for lang in ("zh", "en")
        for held_out in entry.similar.get(lang)  # type: ignore[arg-type]
    ][::3]
    correct = 0
    for index, lang, held_out in cases:
        entry = entries[index]
        kept = [q for q in entry.similar.get(lang) if q != held_out]  # type: ignore[arg-type]
        reduced = entries.copy()
        reduced[index] = entry.model_copy(
            update={"similar": entry.similar.model_copy(update={lang: kept})}
        )
        top = FaqMatcher(reduced).match(held_out)
        correct += bool(top) and top[0].entry_id == entry.id
    assert len(cases) >= 150
    assert correct / len(cases) >= 0.7, f"{correct}/{len(cases)}"
