"""Context carried between turns: ordinals ("the second one"), follow-ups ("那押金呢?"),
corrections ("不是B123456，是B128000"), yes/no, cancel, safety and human requests.

Word lists live in `lexicon.yaml` (they must work with no intent model and never be missed);
this module only matches them. Everything runs on the normalised text of the Parse.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cache
from pathlib import Path

import yaml

from kefu.knowledge.pack import FAST_LOADER
from kefu.understanding.parse import Parse

_ZH_NUM = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_EN_ORD = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "fifth": 5, "5th": 5, "last": -1, "latest": 1, "most recent": 1, "one": 1, "two": 2,
    "three": 3,
}  # fmt: skip
_ZH_ORDINAL = re.compile(
    r"第\s*([一二两三四五六七八九十]|\d{1,2})\s*(?:个|次|条|项|笔|单|辆|趟|间|套)?"
)
_ZH_LAST = re.compile(
    r"最后(?:一|那)?(?:个|次|条|笔|单|趟)|最近(?:一|的|那)?(?:次|个|笔|单|趟)|上一次|刚才那(?:次|个|辆|趟)"
)
_EN_ORDINAL = re.compile(
    r"\b(?:the\s+)?(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last|latest|most recent)\b"
    r"|\b(?:number|no\.?|#|option)\s*(\d{1,2})\b"
)
_BARE = re.compile(r"^\s*(\d{1,2})\s*[.。!！]?\s*$")
_FOLLOW_ZH = re.compile(
    r"^(?:那|那么|还有|那如果是?)?\s*(?P<x>[^，,。？?]{1,12}?)\s*(?:呢|怎么办|怎么弄|怎么样)\s*[?？]*$"
)
_FOLLOW_EN = re.compile(
    r"^(?:and|so|ok|okay)?[, ]*(?:what|how)\s+about\s+(?P<x>.{1,40}?)\s*\??$"
    r"|^and\s+(?P<y>.{1,40}?)\s*\?$"
)
_LEX = Path(__file__).resolve().parent / "lexicon.yaml"


@cache
def lexicon() -> dict[str, dict[str, tuple[str, ...]]]:
    data = yaml.load(_LEX.read_text(encoding="utf-8"), Loader=FAST_LOADER)
    return {
        group: {lang: tuple(str(w).lower() for w in words) for lang, words in langs.items()}
        for group, langs in data.items()
    }


@cache
def _pattern(group: str) -> re.Pattern[str]:
    words = lexicon()[group]
    zh = "|".join(re.escape(w) for w in sorted(words.get("zh", ()), key=len, reverse=True))
    en = "|".join(re.escape(w) for w in sorted(words.get("en", ()), key=len, reverse=True))
    return re.compile(rf"(?:{zh})|(?<![a-z])(?:{en})(?![a-z])")


def mentions(group: str, normalized: str) -> str | None:
    """The first word of `group` found in the message, or None."""
    found = _pattern(group).search(normalized)
    return found.group(0) if found else None


def _strip(normalized: str) -> str:
    return re.sub(r"[\s,，。.!！?？~～…]+", " ", normalized).strip()


def whole(group: str, normalized: str) -> bool:
    """Is the whole message one of the group's words (punctuation and 吧/了/啊 aside)?"""
    words = lexicon()[group]
    text = _strip(normalized)
    if text in words.get("zh", ()) or text in words.get("en", ()):
        return True
    bare = re.sub(r"(?<=[\u4e00-\u9fff])[吧啊呀哦喔嘛]+$", "", text)
    return bare in words.get("zh", ())


def yes_no(normalized: str) -> bool | None:
    """An answer to a yes/no question: the whole message is a yes or no word, or starts with
    one before a pause ("是的，确认", "no, still locked"). A question is never an answer:
    "要多久才能到账？" must not confirm a refund because it starts with 要."""
    if is_question(normalized):
        return None
    text = _strip(normalized)
    # "不是" is a no even though it contains 是: check no first.
    for group, answer in (("no", False), ("yes", True)):
        if whole(group, text):
            return answer
    head = re.split(r"[\s,，。.!！;；]", normalized.strip(), maxsplit=1)[0]
    if head != normalized.strip():
        for group, answer in (("no", False), ("yes", True)):
            if whole(group, head):
                return answer
    return None


def ordinal(normalized: str) -> int | None:
    """1-based position chosen ("第二个", "the 2nd one", "2"), -1 for "the last", else None."""
    if m := _ZH_ORDINAL.search(normalized):
        raw = m.group(1)
        return int(raw) if raw.isdigit() else _ZH_NUM.get(raw)
    if m := _ZH_LAST.search(normalized):
        return 1 if m.group(0).startswith(("最近", "上一", "刚才")) else -1
    if m := _EN_ORDINAL.search(normalized):
        return _EN_ORD[m.group(1)] if m.group(1) else int(m.group(2))
    if m := _BARE.match(normalized):
        return int(m.group(1))
    return None


def follow_up(normalized: str) -> str | None:
    """The new subject of an elliptical follow-up ("那押金呢?" -> "押金"), else None."""
    text = normalized.strip()
    if m := _FOLLOW_ZH.match(text):
        return m.group("x").strip() or None
    if m := _FOLLOW_EN.match(text):
        return (m.group("x") or m.group("y") or "").strip() or None
    return None


_QUESTION = re.compile(
    r"[?？]\s*$|吗\s*$|呢\s*$|^(?:怎么|如何|为什么|能不能|可不可以|可以|是否|有没有|哪里|几点)"
    r"|^(?:is|are|can|could|do|does|how|what|where|when|why|will|should)\b"
)


def is_question(normalized: str) -> bool:
    return _QUESTION.search(normalized.strip()) is not None


def is_correction(normalized: str) -> bool:
    return mentions("correction", normalized) is not None


def reply_language(parse: Parse, conversation: str) -> Parse:
    """A message with at most one Latin word ("ok", "1pm", "BK20261124001") doesn't switch a
    Chinese conversation's reply language to English."""
    if (
        parse.language != conversation
        and parse.script not in ("zh", "mixed")
        and len(re.findall(r"[a-z]{2,}", parse.normalized)) <= 1
    ):
        return replace(parse, language=conversation)  # type: ignore[arg-type]
    return parse


def keep_original(rewritten: Parse, original: Parse) -> Parse:
    """A follow-up is decided on the rewritten question but recorded as what was typed."""
    return replace(
        rewritten,
        text=original.text,
        normalized=original.normalized,
        tokens=original.tokens,
        entities=original.entities,
        extras={**rewritten.extras, "follow_up": True},
    )
