"""Numbers and money: Arabic (`1,280.50`), Chinese (`一百二十`, `两千五`, `壹佰`) and mixed
(`1.5万`) forms, and amounts with their currency (`15块`, `¥15.5`, `两块五`, `20 dollars`).

Chinese numerals are converted by cn2an (pinned; about 0.2 s and 6 MB at import, 30 µs a call),
which knows the colloquial forms (`两千五` = 2500, `一万二` = 12000) that a hand-written
converter gets wrong. Our regexes decide *where* a number is; cn2an only converts a span we
already believe in, and any conversion error just drops that candidate.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator

import cn2an  # type: ignore[import-untyped]

from kefu.understanding.entities.candidates import ALNUM, Candidate, clear_before

CN_DIGITS = "零〇一二两三四五六七八九壹贰叁肆伍陆柒捌玖"
CN_UNITS = "十百千万亿拾佰仟"
# A Chinese numeral must start with a digit or 十: "千万" (must) and "万一" (in case) are words.
CN_NUMBER = rf"[{CN_DIGITS}十拾][{CN_DIGITS}{CN_UNITS}]*(?:点[{CN_DIGITS}]+)?"
ARABIC = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?"
MIXED = rf"{ARABIC}[万亿千]?"
ANY_NUMBER = rf"(?:{MIXED}|{CN_NUMBER})"

# Longer than this is an id, a pasted blob or an attack, not a quantity (and int() refuses
# strings over 4300 digits).
_MAX_DIGITS = 15

Number = int | float


_DIGIT_VALUES = {ch: i for i, ch in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_TENS = re.compile(r"([一二两三四五六七八九])?十([一二三四五六七八九])?")


@functools.lru_cache(maxsize=4096)
def to_number(text: str) -> Number | None:
    """The value of a numeral span, or None when it isn't one we trust. Cached, and the common
    small forms (五, 十五, 二十三) skip cn2an, which costs ~30 µs a call."""
    text = text.replace(",", "")
    if not text or sum(ch.isdigit() for ch in text) > _MAX_DIGITS or len(text) > 40:
        return None
    if len(text) == 1 and text in _DIGIT_VALUES:
        return _DIGIT_VALUES[text]
    if tens := _TENS.fullmatch(text):
        high, low = tens.group(1), tens.group(2)
        return (_DIGIT_VALUES[high] if high else 1) * 10 + (_DIGIT_VALUES[low] if low else 0)
    try:
        if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text):
            value = float(text)
        else:
            value = cn2an.cn2an(text, "smart")
    except Exception:  # cn2an raises ValueError and, on odd input, others: all mean "not a number"
        return None
    if not isinstance(value, int | float) or value != value or abs(value) > 1e15:
        return None
    return int(value) if float(value).is_integer() else float(value)


_CURRENCY_PREFIX = {
    "¥": "CNY",
    "rmb": "CNY",
    "cny": "CNY",
    "人民币": "CNY",
    "us$": "USD",
    "$": "USD",
    "usd": "USD",
    "hk$": "HKD",
    "hkd": "HKD",
    "€": "EUR",
    "eur": "EUR",
    "£": "GBP",
    "gbp": "GBP",
}
_CURRENCY_SUFFIX = {
    "块钱": "CNY",
    "块": "CNY",
    "元钱": "CNY",
    "元": "CNY",
    "圆": "CNY",
    "rmb": "CNY",
    "cny": "CNY",
    "yuan": "CNY",
    "kuai": "CNY",
    "usd": "USD",
    "dollars": "USD",
    "dollar": "USD",
    "bucks": "USD",
    "buck": "USD",
    "美元": "USD",
    "美金": "USD",
    "港币": "HKD",
    "港元": "HKD",
    "hkd": "HKD",
    "欧元": "EUR",
    "euros": "EUR",
    "euro": "EUR",
    "eur": "EUR",
    "英镑": "GBP",
    "pounds": "GBP",
    "gbp": "GBP",
}


def _alternation(words: Iterable[str]) -> str:
    """Longest first, and ASCII words must end at a word end ("15 euros", not "15 eurosx")."""
    ordered = sorted(words, key=len, reverse=True)
    return "|".join(re.escape(w) + ("(?![a-z])" if w[-1].isascii() else "") for w in ordered)


# "15块", "两块五", "3块5毛", "十五元", "15 yuan", "20 dollars"; ASCII units need a word end.
_SUFFIX_AMOUNT = re.compile(
    # This lookbehind stays: without it a run of 10k digits is rescanned from every position.
    rf"(?<![0-9a-z.,])(?P<num>{ANY_NUMBER})\s?(?P<unit>{_alternation(_CURRENCY_SUFFIX)})"
    r"(?:(?<=块)(?P<jiao>[0-9一二三四五六七八九])(?:毛|角)?(?![0-9]))?"
)
_PREFIX_AMOUNT = re.compile(
    rf"(?:(?<=[^a-z])|^)(?P<unit>{_alternation(_CURRENCY_PREFIX)})\s?(?P<num>{MIXED}|{CN_NUMBER})"
)
# "五毛", "8毛钱": dimes on their own.
_JIAO_AMOUNT = re.compile(rf"(?P<num>[0-9]|[{CN_DIGITS}])(?:毛|角)钱?")
# Chinese numerals that are not words: with a unit character, or before a measure word.
_CLASSIFIERS = (
    "个|辆|次|位|人|张|间|套|台|晚|天|周|年|月|小时|分钟|公里|千米|米|站|单|份|件|号|楼|层|把|条"
)
_NUMBER = re.compile(
    rf"(?P<num>{MIXED})(?![0-9a-z])"
    rf"|(?P<cn>[{CN_DIGITS}十拾]*[{CN_UNITS}][{CN_DIGITS}{CN_UNITS}]*(?:点[{CN_DIGITS}]+)?"
    rf"|[{CN_DIGITS}十拾]+点[{CN_DIGITS}]+"
    rf"|[{CN_DIGITS}十拾]+(?=(?:{_CLASSIFIERS})))"
)


def _amount_value(num: str, currency: str, jiao: str | None = None) -> dict[str, object] | None:
    value = to_number(num)
    if value is None:
        return None
    amount = float(value)
    if jiao:
        tenth = to_number(jiao)
        if tenth is None:
            return None
        amount += float(tenth) / 10
    return {"amount": round(amount, 2), "currency": currency}


def find_amounts(text: str) -> Iterator[Candidate]:
    for match in _SUFFIX_AMOUNT.finditer(text):
        if not clear_before(text, match.start(), ALNUM + ".,"):
            continue
        value = _amount_value(match["num"], _CURRENCY_SUFFIX[match["unit"]], match["jiao"])
        if value is not None:
            yield Candidate("amount", match.start(), match.end(), value, "amount")
    for match in _PREFIX_AMOUNT.finditer(text):
        value = _amount_value(match["num"], _CURRENCY_PREFIX[match["unit"]])
        if value is not None:
            yield Candidate("amount", match.start(), match.end(), value, "amount")
    for match in _JIAO_AMOUNT.finditer(text):
        if not clear_before(text, match.start(), "0123456789"):
            continue
        tenth = to_number(match["num"])
        if tenth:
            value = {"amount": round(float(tenth) / 10, 2), "currency": "CNY"}
            yield Candidate("amount", match.start(), match.end(), value, "amount")


def find_numbers(text: str) -> Iterator[Candidate]:
    for match in _NUMBER.finditer(text):
        if match["num"] and not clear_before(text, match.start(), ALNUM + ".,"):
            continue
        if match.group() == "一":
            continue  # 一个, 一次, 一下: "one" as an article, not a quantity worth reporting
        value = to_number(match.group())
        if value is not None:
            yield Candidate("number", match.start(), match.end(), value, "number")
