"""FAQ entries with validity dates: out of their dates they neither answer nor crowd out the
entries that are valid (they are left out before candidates are picked)."""

from __future__ import annotations

import datetime as dt

from kefu.knowledge.pack import KnowledgeEntry
from kefu.understanding.faq import FaqMatcher

TODAY = dt.date(2026, 11, 24)


def entry(id_: str, question: str, similar: list[str], **dates: dt.date) -> KnowledgeEntry:
    return KnowledgeEntry.model_validate(
        {
            "id": id_,
            "skill": "common",
            "question": {"zh": question, "en": id_},
            "similar": {"zh": similar},
            "answer": {"zh": "答", "en": "a"},
            **{k: v.isoformat() for k, v in dates.items()},
        }
    )


def test_an_expired_notice_with_many_questions_does_not_hide_the_regular_answer() -> None:
    notice = entry(
        "holiday.hours",
        "国庆营业时间几点开门",
        [f"国庆第{i}天营业时间几点开门" for i in range(40)],
        valid_until=TODAY - dt.timedelta(days=1),
    )
    regular = entry("service.hours", "客服营业时间", ["客服几点上班"])
    matcher = FaqMatcher([notice, regular])
    found = matcher.match("营业时间几点开门呀", today=TODAY)
    assert [c.entry_id for c in found][:1] == ["service.hours"]
    assert all(c.entry_id != "holiday.hours" for c in found)
    # Its own exact question doesn't bring it back either; on its dates it answers.
    assert all(
        c.entry_id != "holiday.hours" for c in matcher.match("国庆营业时间几点开门", today=TODAY)
    )
    earlier = TODAY - dt.timedelta(days=3)
    assert matcher.match("国庆营业时间几点开门", today=earlier)[0].entry_id == "holiday.hours"


def test_not_yet_valid_and_undated_entries() -> None:
    promo = entry("promo", "双十二有优惠吗", [], valid_from=dt.date(2026, 12, 12))
    matcher = FaqMatcher([promo])
    assert matcher.match("双十二有优惠吗", today=TODAY) == ()
    assert matcher.match("双十二有优惠吗", today=dt.date(2026, 12, 12))[0].entry_id == "promo"
    assert matcher.match("双十二有优惠吗")[0].entry_id == "promo"  # no day given: no filter
