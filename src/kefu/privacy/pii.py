"""PII in chat text: phone numbers, resident ID numbers, bank cards, emails, licence plates,
street addresses and declared names, found and masked so transcripts can be stored and shown.

Detection runs on the normalised text (`normalize_aligned`: full width folded, zero-width and
control characters dropped, lower case, traditional characters simplified), so "１３８\u200b1234
5678" is found like its plain form; spans are mapped back, so `text[s.start:s.end] == s.text`
on what the customer typed. Every candidate is validated before it counts: allocated mobile
prefixes, phonenumbers' landline ranges and +country numbers, the GB 11643 checksum with a real
birth date, Luhn with a known issuer. Near-misses are excluded on purpose: a number right after
an order, ride or booking cue is that id; numbers inside longer runs, amounts, timestamps and
400/800 company hotlines are not personal; an 18-digit number shaped like an ID number but with
a wrong checksum is a typo, not a bank card. An address needs something finer than a street or
a district (a house number, building, unit or room, or a street qualified by its district);
the address rules and their span convention are in `kefu.privacy.address`. Names are only found
where a knowledge pack declares them (`NameRules`): without that, a name can't be told from an
ordinary word. After a copula cue ("this is", "我是") a question or an organisation word means
no name ("This is Acme, right?", "我是美团客服"), and a pack's `not_names` are never names.

Masked forms keep what an agent needs to recognise a value (138****5678, 北京市朝阳区***) and
contain "*", which no finder accepts next to a candidate, so masking twice changes nothing.
Where a mask keeps text that could still be found (a declared name inside an address's region,
digits in an email's domain), `mask` looks again until the text is stable.

Pure and bounded: regexes are compiled at import, phonenumbers (~60 µs a number) is capped per
message, digit runs too long to be anything are skipped, and `find`/`mask` never raise: a
failing finder is logged and skipped.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

import phonenumbers

from kefu.privacy.address import (
    STOP,
    WORD,
    Found,
    capitalised,
    find_en_addresses,
    find_zh_addresses,
    mask_address_at,
)
from kefu.text.normalize import Normalized, normalize, normalize_aligned, strip_invisible
from kefu.understanding.entities.candidates import clear_before
from kefu.understanding.entities.contact import find_emails, find_plates, id_card_valid, phone_e164

__all__ = ["PII_TYPES", "NameRules", "PiiDetector", "PiiSpan", "find_pii", "mask", "mask_value"]

logger = logging.getLogger(__name__)

PII_TYPES: tuple[str, ...] = ("phone", "id_card", "bank_card", "email", "plate", "address", "name")
# Overlaps: the longer candidate wins, then the lower rank. "_blocked" marks digits that must
# not be reported as anything (an ID-shaped number with a wrong checksum).
_RANK = dict(_blocked=0, id_card=1, bank_card=2, email=3, phone=4, plate=5, address=6, name=7)
_MAX_PHONENUMBERS = 32  # +country numbers validated per message; the rest of a paste is skipped


@dataclass(frozen=True, slots=True)
class PiiSpan:
    type: str
    start: int  # on the original text: text[start:end] == self.text
    end: int
    text: str


@dataclass(frozen=True)
class NameRules:
    """Names are only detected where a knowledge pack declares them."""

    names: frozenset[str] = frozenset()  # known names, e.g. staff or customer names
    cues: tuple[str, ...] = ()  # e.g. "我叫", "我是", "联系人", "my name is", "this is"
    # Words never taken as a name after a cue, e.g. the operator's own brand ("this is Acme").
    not_names: frozenset[str] = frozenset()


Finder = Callable[[Normalized], Iterator[Found]]

# --- numbers -------------------------------------------------------------------------------

# A number right after one of these is an order/ride/booking id, even when it looks like a phone.
_ID_CUE = re.compile(
    r"(?:订单|单号|运单|行程|流水|交易|工单|编号|车号|券码|发票|预订号|预定号|"
    r"order|booking|reservation|confirmation|ride|trip|tracking|transaction|invoice|ticket|"
    r"ref|reference|serial|waybill)"
    r"(?: ?(?:号码|号|码|id|no\.?|number|num|code|ref|#))?"
    r" ?(?:is |是|为)?[:：#= ]{0,2}$"
)
_CURRENCY = "¥$€£"


def _is_id_or_amount(text: str, start: int, end: int) -> bool:
    if _ID_CUE.search(text, max(0, start - 24), start) or text[start - 1 : start] == "#":
        return True
    before = text[max(0, start - 2) : start].strip()
    if before and before[-1] in _CURRENCY:
        return True
    return text[end : end + 1] == "." and text[end + 1 : end + 2].isdigit()


# Allocated mainland mobile prefixes (130-199 with the unallocated 154, 16x, 179, 194 left out).
_MOBILE_PREFIX = re.compile(r"1(?:3\d|4[5-9]|5[0-35-9]|6[25-7]|7[0-8]|8\d|9[0-35-9])")
_CN_CC = r"(?:(?:\+|00)86[ -]?|\(\+?86\) ?|86[ -]?)"
# The (?=...) lookaheads are for speed: they let sre skip to a possible first character.
_MOBILE = re.compile(
    rf"(?=[+(018])(?P<cc>{_CN_CC})?(?P<n>1[3-9]\d[ -]?\d{{4}}[ -]?\d{{4}})(?![0-9*])"
)
_LANDLINE = re.compile(
    rf"(?=[+(08])(?:(?P<cc>{_CN_CC})(?:\(0?(?P<a1>[1-9]\d{{1,2}})\)|0?(?P<a2>[1-9]\d{{1,2}}))"
    r"|\(0(?P<a3>[1-9]\d{1,2})\)|0(?P<a4>[1-9]\d{1,2}))"
    r"[ -]?(?P<n>\d{3,4}[ -]?\d{4})(?![0-9*])"
)
_INTL = re.compile(r"\+(?!86)[1-9]\d{0,2}(?:[ -]?\(?\d{1,4}\)?){2,5}(?![0-9*])")


def _cn_fixed_line() -> re.Pattern[str]:
    """phonenumbers' ranges of mainland landlines (area code without the 0, then subscriber):
    one fullmatch instead of a ~60 µs parse per candidate."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    desc = metadata.fixed_line if metadata else None
    if desc is None or not desc.national_number_pattern:
        raise RuntimeError("phonenumbers has no CN fixed-line metadata")
    return re.compile(desc.national_number_pattern)


_FIXED_LINE = _cn_fixed_line()
_HOTLINE = re.compile(r"[48]00\d{7}")


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


_LONG_RUN = re.compile(r"\d{20,}")


@functools.lru_cache(maxsize=16)
def _numbers_view(text: str) -> str:
    """`text` with digit runs too long to hold a phone, ID or card number replaced by "x": no
    candidate can start or end inside one, and a pasted 10,000-digit run would otherwise be
    tried at every position. "x" keeps the boundary checks (a letter next to a number is as
    disqualifying as a digit)."""
    return _LONG_RUN.sub(lambda run: "x" * len(run.group()), text)


def _clear(text: str, start: int, end: int) -> bool:
    """Not part of a longer token, not an order id, not an amount."""
    return clear_before(text, start, WORD + "+") and not _is_id_or_amount(text, start, end)


def _find_phones(nz: Normalized) -> Iterator[Found]:
    text = _numbers_view(nz.text)
    for match in _MOBILE.finditer(text):
        start, end = match.span()
        if _MOBILE_PREFIX.fullmatch(match["n"][:3]) and _clear(text, start, end):
            yield start, end, "phone"
    for match in _LANDLINE.finditer(text):
        start, end = match.span()
        if _clear(text, start, end):
            area = match["a1"] or match["a2"] or match["a3"] or match["a4"]
            national = area + _digits(match["n"])
            if _FIXED_LINE.fullmatch(national) and not _HOTLINE.fullmatch(national):
                yield start, end, "phone"
    tries = 0
    for match in _INTL.finditer(text):
        start, end = match.span()
        if not clear_before(text, start, WORD + "+") or len(_digits(match.group())) > 15:
            continue
        tries += 1
        if tries > _MAX_PHONENUMBERS:
            return
        if phone_e164(match.group(), "ZZ") is not None:
            yield start, end, "phone"


_S = r"[ -]?"
_ID_SHAPE = re.compile(
    rf"[1-9]\d{{5}}{_S}(?:18|19|20)\d{{2}}{_S}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]){_S}"
    r"\d{3}[0-9x](?![0-9a-z*])"
)


def _find_id_cards(nz: Normalized) -> Iterator[Found]:
    text = _numbers_view(nz.text)
    for match in _ID_SHAPE.finditer(text):
        start, end = match.span()
        if not clear_before(text, start, WORD):
            continue
        number = match.group().replace(" ", "").replace("-", "")
        valid = id_card_valid(number) and not _is_id_or_amount(text, start, end)
        yield start, end, "id_card" if valid else "_blocked"


_CARD = re.compile(
    r"[2-69]\d{3}(?:[ -]?\d{4}){2,3}(?:[ -]?\d{1,3})?(?![0-9*])"
    r"|3[47]\d{2}[ -]?\d{6}[ -]?\d{5}(?![0-9*])"  # Amex: 4-6-5
)
# (prefix pattern, allowed lengths): UnionPay, Visa, Mastercard, Amex, JCB, Discover, and the
# pre-UnionPay 9558/9559 debit cards of Chinese banks.
_ISSUERS = (
    (re.compile(r"62|81"), range(16, 20)),
    (re.compile(r"4"), (16, 19)),
    (re.compile(r"5[1-5]|2(?:2[2-9]\d|[3-6]\d\d|7[01]\d|720)"), (16,)),
    (re.compile(r"3[47]"), (15,)),
    (re.compile(r"35(?:2[89]|[3-8]\d)"), range(16, 20)),
    (re.compile(r"6011|64[4-9]|65"), range(16, 20)),
    (re.compile(r"955[89]"), (19,)),
)


def luhn_valid(number: str) -> bool:
    total = 0
    for index, ch in enumerate(reversed(number)):
        digit = int(ch) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def _card_number(number: str) -> bool:
    for prefix, lengths in _ISSUERS:
        if prefix.match(number) and len(number) in lengths:
            return luhn_valid(number)
    return False


def _find_bank_cards(nz: Normalized) -> Iterator[Found]:
    text = _numbers_view(nz.text)
    for match in _CARD.finditer(text):
        start, end = match.span()
        if _card_number(_digits(match.group())) and _clear(text, start, end):
            yield start, end, "bank_card"


def _find_emails(nz: Normalized) -> Iterator[Found]:
    if "@" in nz.text:
        for candidate in find_emails(nz.text):
            if clear_before(nz.text, candidate.start, "*"):
                yield candidate.start, candidate.end, "email"


def _find_plates(nz: Normalized) -> Iterator[Found]:
    for candidate in find_plates(nz.text):
        if clear_before(nz.text, candidate.start, "*"):
            yield candidate.start, candidate.end, "plate"


# --- names ---------------------------------------------------------------------------------

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕"
    "丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱"
    "严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚"
    "符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农"
    "司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁"
    "沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
# Surnames that are also everyday words after 我是/我叫 ("我是新用户", "我叫车"): never a
# name's first character after a cue.
_AMBIGUOUS_SURNAMES = frozenset("和明时成车单房司路文安常关全向景")
_COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "诸葛",
    "上官",
    "慕容",
    "东方",
    "皇甫",
    "令狐",
    "司徒",
    "夏侯",
)
# Characters that end a name: function words, and the first characters of what usually follows
# one (电话, 手机, 身份证, 住在, 地址, 谢谢).
_GIVEN_STOP = frozenset(STOP + "人电手身住地号谢")
_AFTER_NAME = _GIVEN_STOP | frozenset("昨今刚已先女小老师")
_TITLES = ("先生", "女士", "小姐", "老师", "师傅", "经理", "总", "姐", "哥", "阿姨", "叔")
_EN_NAME_STOPWORDS = frozenset(
    (  # noqa: SIM905 - a word list reads best as text
        "i i'm im the a an and or but from of at in on is am are was my your our this that it "
        "not very so really just please thanks thank hi hello here there sorry ok okay yes no mr "
        "mrs ms dr chinese english american british canadian australian japanese korean french "
        "german indian russian spanish italian"
    ).split()
)


def _zh_name_end(text: str, start: int) -> int | None:
    """End of a 2-4 character Chinese name starting at `start`, or None. The name must be
    followed by punctuation, the end or a word that can follow a name ("我是张三的朋友"), so
    "我是白金会员" is not 白金会."""
    if text.startswith(_COMPOUND_SURNAMES, start):
        at = start + 2
    elif start < len(text) and text[start] in _SURNAMES and text[start] not in _AMBIGUOUS_SURNAMES:
        at = start + 1
    else:
        return None
    if text.startswith(_TITLES, at):
        return None
    for given in (2, 1):
        end = at + given
        name = text[at:end]
        if len(name) < given or not all("\u4e00" <= ch <= "\u9fff" for ch in name):
            continue
        if any(ch in _GIVEN_STOP for ch in name):
            continue
        if end == len(text) or not "\u4e00" <= text[end] <= "\u9fff" or text[end] in _AFTER_NAME:
            return end
    return None


_EN_NAME_WORD = re.compile(r"[a-z][a-z'’-]*[a-z]")


def _en_name_end(nz: Normalized, start: int) -> int | None:
    """End of 1-3 capitalised words starting at `start`, or None."""
    text, end = nz.text, None
    for _ in range(3):
        word = _EN_NAME_WORD.match(text, start)
        if not word or word.group() in _EN_NAME_STOPWORDS or not capitalised(nz, start):
            break
        if word.end() < len(text) and (text[word.end()].isalnum() or text[word.end()] == "*"):
            break
        end = word.end()
        if text[end : end + 1] != " ":
            break
        start = end + 1
    return end


# Cues that say who someone is without saying it is a name ("this is Acme", "我是新用户"): what
# follows them is not taken as a name in a question ("This is Acme, right?", "我是王伟吗").
_COPULA_CUES = frozenset(
    ("this is", "it's", "it is", "i'm", "im", "i am", "我是", "这是", "这里是")
)
_QUESTION = re.compile(
    r" ?(?:[?？]|[,，]? ?(?:right|correct|yes|no|yeah|ok|okay|eh|huh|is it|isn't it|aren't you"
    r"|am i|innit)[?？]|[吗嘛吧呢][?？。]?|[,，]?(?:对吧|是吧|对吗|是吗|对不对))"
)
# What follows an organisation's name, not a person's ("This is Acme support", "我是美团客服").
_ORG_WORDS = frozenset(
    (  # noqa: SIM905 - a word list reads best as text
        "inc ltd llc co corp corporation company limited plc gmbh group support service services "
        "team customer official app store shop hotel hotels hostel airlines bank bikes scooters"
    ).split()
)
_ORG_AFTER_ZH = tuple("公司 客服 团队 集团 官方 平台 酒店 民宿 门店 单车 app".split())  # noqa: SIM905


@dataclass(frozen=True, slots=True)
class _NameFinder:
    listed: re.Pattern[str] | None
    cued: re.Pattern[str] | None
    not_names: frozenset[str]

    @classmethod
    def build(cls, rules: NameRules) -> _NameFinder:
        names = sorted({normalize(n) for n in rules.names} - {""}, key=len, reverse=True)
        cues = sorted({normalize(c) for c in rules.cues} - {""}, key=len, reverse=True)
        listed = re.compile("|".join(map(re.escape, names))) if names else None
        cue_alt = "|".join(re.escape(c).replace("'", "['’]") for c in cues)
        cued = re.compile(rf"(?:{cue_alt})(?: ?[:：] ?| )?") if cues else None
        return cls(listed, cued, frozenset(normalize(n) for n in rules.not_names) - {""})

    def __call__(self, nz: Normalized) -> Iterator[Found]:
        text = nz.text
        if self.listed:
            for match in self.listed.finditer(text):
                start, end = match.span()
                latin = text[start].isascii() or text[end - 1].isascii()
                if latin and not (clear_before(text, start, WORD) and _clear_after(text, end)):
                    continue
                yield start, end, "name"
        if self.cued:
            for match in self.cued.finditer(text):
                start, stop = match.end(), None
                if start >= len(text):
                    continue
                if not text[start].isascii():
                    stop = _zh_name_end(text, start)
                elif not text[match.start()].isascii() or clear_before(text, match.start(), WORD):
                    stop = _en_name_end(nz, start)  # an English cue must start a word
                if stop is not None and not self._not_a_name(text, match, stop):
                    yield start, stop, "name"

    def _not_a_name(self, text: str, cue: re.Match[str], stop: int) -> bool:
        """Whether what a cue introduces is not a person's name after all: a declared not-name,
        an organisation ("Acme support"), or a question after a copula cue ("This is Acme,
        right?")."""
        start = cue.end()
        words = text[start:stop].split(" ")
        if self.not_names and (
            text[start:stop] in self.not_names
            or any(word in self.not_names for word in words)
            or any(text.startswith(n, start) for n in self.not_names if not n.isascii())
        ):
            return True
        if text[start].isascii():
            following = (
                _EN_NAME_WORD.match(text, stop + 1) if text[stop : stop + 1] == " " else None
            )
            if any(w in _ORG_WORDS for w in words) or (
                following and following.group() in _ORG_WORDS
            ):
                return True
        elif text.startswith(_ORG_AFTER_ZH, stop):
            return True
        said = cue.group().rstrip(" :：").replace("’", "'")
        return said in _COPULA_CUES and _QUESTION.match(text, stop) is not None


def _clear_after(text: str, end: int) -> bool:
    return end >= len(text) or text[end] not in WORD


# --- detection -------------------------------------------------------------------------------

_FINDERS: dict[str, tuple[Finder, ...]] = {
    "phone": (_find_phones,),
    "id_card": (_find_id_cards,),
    "bank_card": (_find_bank_cards,),
    "email": (_find_emails,),
    "plate": (_find_plates,),
    "address": (find_zh_addresses, find_en_addresses),
}
_NUMBERS = frozenset(("phone", "id_card", "bank_card"))
# Masks that keep letters or Han characters (a region, a domain, a surname).
_KEEPS_TEXT = frozenset(("address", "email", "name", "plate"))


def _resolve(found: list[Found]) -> list[Found]:
    """Non-overlapping candidates, sorted: of two that overlap, the longer wins, then the lower
    rank (an ID number is not also a bank card)."""
    chosen: list[Found] = []
    for cand in sorted(found, key=lambda c: (c[0], c[0] - c[1], _RANK[c[2]])):
        if chosen and cand[0] < chosen[-1][1]:
            last = chosen[-1]
            if (cand[1] - cand[0], -_RANK[cand[2]]) > (last[1] - last[0], -_RANK[last[2]]):
                chosen[-1] = cand
            continue
        chosen.append(cand)
    return [c for c in chosen if c[2] != "_blocked"]


class PiiDetector:
    """Finds and masks PII of the chosen `types` (all by default). Build one per set of name
    rules and reuse it: construction compiles the name patterns."""

    def __init__(
        self, names: NameRules | None = None, types: Collection[str] | None = None
    ) -> None:
        wanted = frozenset(PII_TYPES if types is None else types)
        unknown = wanted - set(PII_TYPES)
        if unknown:
            raise ValueError(f"unknown PII types: {', '.join(sorted(unknown))}")
        self.types = wanted
        finders: list[tuple[str, Finder]] = []
        # ID-shaped numbers block bank cards and phones even when ID numbers aren't wanted.
        run = wanted | ({"id_card"} if wanted & _NUMBERS else set())
        for kind in PII_TYPES:
            finders += [(kind, finder) for finder in _FINDERS.get(kind, ()) if kind in run]
        self._listed: re.Pattern[str] | None = None
        if names is not None and "name" in wanted and (names.names or names.cues):
            name_finder = _NameFinder.build(names)
            finders.append(("name", name_finder))
            self._listed = name_finder.listed
            self._longest_name = max((len(n) for n in names.names), default=0)
        self._finders = tuple(finders)

    def find(self, text: str) -> list[PiiSpan]:
        """Spans on `text`, sorted and non-overlapping."""
        return [span for span, _, _ in self._find(text)[1]]

    def mask(self, text: str) -> str:
        """`text` with every span replaced by its masked form (`mask_value`), repeated until
        nothing changes (see the module docstring), so mask(mask(x)) == mask(x)."""
        masked, recheck = self._mask_once(text)
        for _ in range(3):
            if not recheck or masked == text:
                break
            text, (masked, recheck) = masked, self._mask_once(masked)
        return masked

    def _mask_once(self, text: str) -> tuple[str, bool]:
        """(masked text, whether a mask kept text that a second look could read differently)."""
        nz, found = self._find(text)
        pieces, at = [], 0
        for span, start, end in found:
            pieces.append(text[at : span.start])
            if span.type == "address" and nz is not None:  # reuse the message's normalisation
                pieces.append(_safely(mask_address_at, nz, start, end))
            else:
                pieces.append(mask_value(span.type, span.text))
            at = span.end
        if not pieces:
            return text, False
        recheck = nz is not None and any(self._may_hide(nz, *item) for item in found)
        return "".join(pieces) + text[at:], recheck

    def _may_hide(self, nz: Normalized, span: PiiSpan, start: int, end: int) -> bool:
        """Whether what the mask of `span` keeps could itself be found once the rest is gone: a
        declared name in or just before an address's region or an email's domain ("张伟北京市
        深南大道" is one address until it is masked), or a phone in a domain. Digit masks
        (138****5678) keep nothing that a finder accepts next to "*"."""
        if span.type not in _KEEPS_TEXT:
            return False
        if span.type == "email" and len(_digits(span.text.partition("@")[2])) >= 7:
            return True  # a number in the domain; not "163.com"
        if self._listed is None:
            return False
        return self._listed.search(nz.text, max(0, start - self._longest_name), end) is not None

    def _find(self, text: str) -> tuple[Normalized | None, list[tuple[PiiSpan, int, int]]]:
        """(normalised text, [(span, start, end on the normalised text)])."""
        try:
            nz = normalize_aligned(text)
        except Exception:  # never let a privacy filter take the message path down
            logger.exception("pii: normalisation failed")
            return None, []
        found: list[Found] = []
        for kind, finder in self._finders:
            try:
                found.extend(finder(nz))
            except Exception:
                logger.exception("pii: %s finder failed", kind)
        spans: list[tuple[PiiSpan, int, int]] = []
        for start, end, kind in _resolve(found):
            if kind not in self.types:
                continue
            first, stop = nz.to_original(start, end)
            # NFKC can expand one character into several ("①" -> "1"): two spans may share it.
            if spans and first < spans[-1][0].end:
                continue
            spans.append((PiiSpan(kind, first, stop, text[first:stop]), start, end))
        return nz, spans


@functools.lru_cache(maxsize=64)
def _detector(names: NameRules | None) -> PiiDetector:
    return PiiDetector(names)


def find_pii(text: str, names: NameRules | None = None) -> list[PiiSpan]:
    return _detector(names).find(text)


def mask(text: str, names: NameRules | None = None) -> str:
    return _detector(names).mask(text)


# --- masking ---------------------------------------------------------------------------------


def _folded(value: str) -> str:
    return unicodedata.normalize("NFKC", strip_invisible(value))


def _mask_phone(value: str) -> str:
    folded, number = _folded(value), _digits(_folded(value))
    if folded.startswith("+") and not folded.startswith("+86"):
        # Country codes are prefix-free: the first known prefix is the code.
        codes = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
        code = next((number[:n] for n in (1, 2, 3) if int(number[:n] or 0) in codes), "")
        return f"+{code} ****{number[-4:]}"
    prefix = ""
    if re.match(r"\(?(?:\+|00)?86", folded) and len(number) > 11:
        prefix, number = "+86 ", number[4:] if folded.startswith("0086") else number[2:]
    if number.startswith("1") and len(number) == 11:
        return f"{prefix}{number[:3]}****{number[-4:]}"
    number = number.removeprefix("0")
    area = number[:2] if number[:1] in "12" else number[:3]
    return f"{prefix}{'' if prefix else '0'}{area}-****{number[-4:]}"


def _mask_id_card(value: str) -> str:
    number = "".join(ch for ch in _folded(value) if ch.isalnum()).upper()
    return f"{number[:3]}{'*' * max(len(number) - 7, 3)}{number[-4:]}"


def _mask_bank_card(value: str) -> str:
    number = _digits(_folded(value))
    return f"{number[:4]}{'*' * max(len(number) - 8, 4)}{number[-4:]}"


def _mask_email(value: str) -> str:
    local, _, domain = _folded(value).partition("@")
    return f"{local[:1]}***@{domain}"


def _mask_plate(value: str) -> str:
    plate = "".join(ch for ch in _folded(value) if ch.isalnum()).upper()
    return f"{plate[:2]}***{plate[-2:]}"


def _mask_address(value: str) -> str:
    nz = normalize_aligned(value)
    return mask_address_at(nz, 0, len(nz.text)) if nz.text else "***"


def _mask_name(value: str) -> str:
    return " ".join(word[:1] + "*" * (len(word) - 1) for word in _folded(value).split(" "))


_MASKERS: dict[str, Callable[[str], str]] = {
    "phone": _mask_phone,
    "id_card": _mask_id_card,
    "bank_card": _mask_bank_card,
    "email": _mask_email,
    "plate": _mask_plate,
    "address": _mask_address,
    "name": _mask_name,
}


def mask_value(type: str, value: str) -> str:
    """The masked form of one value of `type`: what stays is what an agent needs to recognise
    it (138****5678, 6222********1234, 北京市朝阳区***), never enough to use it."""
    masker = _MASKERS.get(type)
    if masker is None or not value.strip():
        return "***"
    return _safely(masker, value)


def _safely(masker: Callable[..., str], *args: Any) -> str:
    try:
        return masker(*args)
    except Exception:
        logger.exception("pii: masking failed")
        return "***"
