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
a district (a house number, building, unit or room, or a street qualified by its district).
Names are only found where a knowledge pack declares them (`NameRules`): without that, a name
can't be told from an ordinary word.

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

from kefu.text.normalize import Normalized, normalize, normalize_aligned, strip_invisible
from kefu.understanding.entities.candidates import ALNUM, clear_before
from kefu.understanding.entities.contact import find_emails, find_plates, id_card_valid, phone_e164

__all__ = ["PII_TYPES", "NameRules", "PiiDetector", "PiiSpan", "find_pii", "mask", "mask_value"]

logger = logging.getLogger(__name__)

PII_TYPES: tuple[str, ...] = ("phone", "id_card", "bank_card", "email", "plate", "address", "name")
# Overlaps: the longer candidate wins, then the lower rank. "_blocked" marks digits that must
# not be reported as anything (an ID-shaped number with a wrong checksum).
_RANK = dict(_blocked=0, id_card=1, bank_card=2, email=3, phone=4, plate=5, address=6, name=7)
_MAX_PHONENUMBERS = 32  # +country numbers validated per message; the rest of a paste is skipped
# A candidate may not touch a letter, a digit or a mask: next to "138****5678" a "1234" is a
# fragment of something already masked, and masking twice must change nothing.
_WORD = ALNUM + "*"
_NUMERIC = "0123456789.*"


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


Found = tuple[int, int, str]  # (start, end, type) on the normalised text
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
    return clear_before(text, start, _WORD + "+") and not _is_id_or_amount(text, start, end)


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
        if not clear_before(text, start, _WORD + "+") or len(_digits(match.group())) > 15:
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
        if not clear_before(text, start, _WORD):
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


# --- Chinese addresses -----------------------------------------------------------------------
# The text is cut into components (province, district, street, number, compound, building,
# unit, room...) by one scan; runs of adjacent components that hold something finer than a
# street or district are addresses. Component names are Han characters that are neither
# function words (which mark where an address starts: 我住在, 地址是, 送到) nor component
# suffixes, so "我住在北京市朝阳区建国路88号" starts at 北 and splits at 市, 区, 路 and 号.

# Never inside a place name: the words that lead into one (我住在, 地址是, 送到, 帮我查).
_STOP = (
    "在是址住我你他她的了吗呢吧啊呀哦嗯么请帮问查找看送寄到往去从给把被让叫说想要就也还很又再这那"
    "哪个些有没不过着每条辆们"
)
# Inside a name but never its first character: "我家北京市..." but 陆家嘴, 成都, 会展中心.
_NOT_FIRST = "家都来会能于与及或为至近靠"
_SUFFIX_CHARS = "省市区县路街巷弄号栋幢座室层"


def _han_except(excluded: str) -> str:
    """A character class body: CJK unified ideographs minus `excluded`."""
    ranges, low = [], 0x4E00
    for code in sorted({ord(ch) for ch in excluded}):
        if code > low:
            ranges.append(f"{chr(low)}-{chr(code - 1)}" if code - 1 > low else chr(low))
        low = code + 1
    ranges.append(f"{chr(low)}-\u9fff")
    return "".join(ranges)


_N = _han_except(_STOP + _SUFFIX_CHARS)
_F = _han_except(_STOP + _SUFFIX_CHARS + _NOT_FIRST)  # a name's first character
_COMPOUND_SUFFIX = (
    "小区|花园|大厦|广场|公寓|中心|家园|新村|新城|国际|公馆|大楼|写字楼|商场|酒店|宾馆|社区|华庭|名苑|花苑"
    "|天地|世纪|苑|园|城|府|村|庄|湾|里"
)
_NOT_ROOM_AFTER = r"(?![0-9a-z*年月日号元块个分秒点:：%-]|\.\d)"
_ZH_COMPONENT = re.compile(
    rf"(?P<building>(?:\d{{1,3}}|[a-z])(?:号楼|栋|幢|座|号院))"
    r"|(?P<unit>\d{1,2}单元)"
    r"|(?P<floor>\d{1,3}[层楼](?![0-9*]))"
    r"|(?P<number>\d{1,5}(?:-\d{1,4})?号(?![线机口车位码床柜窗楼]|门(?!口))院?)"
    rf"|(?P<room>[a-z]?\d{{2,5}}(?:室|房间|号房|房)|(?P<digits>[a-z]?\d{{2,5}}){_NOT_ROOM_AFTER})"
    rf"|(?P<coarse>[{_F}][{_N}]{{1,4}}(?:省|市|自治州|自治区|特别行政区|地区|盟)"
    rf"|[{_F}][{_N}]{{0,3}}(?<![小社园])(?:新区|区|县|旗))"
    rf"|(?P<mid>(?:[{_F}][{_N}]{{0,3}})?(?:科技园|软件园|工业园|产业园|开发区|高新区|园区)"
    rf"|[{_F}][{_N}]{{0,3}}(?:街道|镇|乡))"
    rf"|(?P<street>[{_F}][{_N}]{{0,5}}(?:大道|大街|路|街|巷|胡同|弄)(?:[东西南北中]?段)?)"
    rf"|(?P<compound>[{_F}a-z][{_N}a-z]{{0,9}}?(?:{_COMPOUND_SUFFIX})(?!{_COMPOUND_SUFFIX}))"
)
_FINE_AFTER = {"number": {"street", "compound"}, "digits": {"building", "unit", "floor"}}


def _zh_runs(text: str, start: int, end: int) -> Iterator[list[tuple[str, int, int]]]:
    """Runs of adjacent components (one space between two still joins them)."""
    run: list[tuple[str, int, int]] = []
    for match in _ZH_COMPONENT.finditer(text, start, end):
        if text[match.start()].isdigit() and not clear_before(text, match.start(), _NUMERIC):
            continue  # the tail of a longer number ("1381381203室")
        kind = match.lastgroup or ""
        kind = "digits" if match["digits"] else kind
        if run and (match.start() - run[-1][2] > 1 or text[run[-1][2] : match.start()] not in " "):
            yield run
            run = []
        run.append((kind, match.start(), match.end()))
    if run:
        yield run


def _zh_address(run: list[tuple[str, int, int]]) -> list[tuple[str, int, int]] | None:
    """The part of a run that is an address, or None."""
    first, last = 0, len(run)
    while first < last and run[first][0] in ("digits", "number", "floor"):
        first += 1  # "24号" or "3楼" before a place belongs to something else
    while last - first > 1 and run[last - 1][0] in _FINE_AFTER:
        if run[last - 2][0] in _FINE_AFTER[run[last - 1][0]]:
            break
        last -= 1  # "阳光花园2024": a number only counts after a street, building or unit
    run = run[first:last]
    has = {kind for kind, _, _ in run}
    fine = {"number", "building", "unit", "room", "digits", "floor"} & has
    placed = {"street", "compound", "coarse", "mid"} & has
    if ("street" in has and "number" in has) or (fine and placed):
        return run
    if {"coarse", "mid"} & has and {"street", "compound"} & has:
        return run
    if "building" in has and {"unit", "room", "digits", "floor"} & has:
        return run
    return None


# Every address has a numbered part or an administrative unit, and no component holds a function
# word or punctuation: only the stretches between those that have one are cut into components.
_ZH_HINT = re.compile(
    r"\d(?:-\d+)?[号栋幢座单室房层楼]|[a-z][栋座幢]|[省市区县旗盟镇乡]|街道|[技件业]园|自治州"
)
_ZH_STRETCH = re.compile(rf"[{_han_except(_STOP)}a-z0-9 -]+")


def _find_zh_addresses(nz: Normalized) -> Iterator[Found]:
    text = nz.text
    if not _ZH_HINT.search(text):
        return
    for stretch in _ZH_STRETCH.finditer(text):
        if not _ZH_HINT.search(text, stretch.start(), stretch.end()):
            continue
        # One character more: the lookaheads must see what ends the stretch, as in one scan.
        for run in _zh_runs(text, stretch.start(), stretch.end() + 1):
            address = _zh_address(run) if len(run) > 1 else None
            if address:
                yield address[0][1], address[-1][2], "address"


def _zh_region_end(text: str) -> int:
    """Where the coarse region (province, city, district) of a Chinese address ends."""
    end = 0
    for match in _ZH_COMPONENT.finditer(text):
        if match.start() != end or not match["coarse"]:
            break
        end = match.end()
    return end


# --- English addresses -----------------------------------------------------------------------

_EN_UNIT = r"(?:apt|apartment|unit|flat|suite|ste|room|rm)\.? ?#?\d{1,5}[a-z]?(?![a-z0-9])"
# Suffixes that are also everyday words only count when the customer capitalised them.
_PLAIN_SUFFIXES = "street st road rd avenue ave boulevard blvd parkway pkwy highway hwy".split()  # noqa: SIM905
_WORD_SUFFIXES = "lane ln drive dr way close place pl crescent court ct terrace square sq".split()  # noqa: SIM905
_EN_WORD = r"[a-z][a-z'’.-]*"
_EN_ADDRESS = re.compile(
    rf"(?=[afnrsu0-9])(?:(?P<unit>{_EN_UNIT}),? )?(?:no\.? ?)?\d{{1,5}}[a-z]?(?:-\d{{1,4}})?,? "
    rf"(?P<name>{_EN_WORD}(?: {_EN_WORD}){{0,2}}) "
    rf"(?P<suffix>{'|'.join(_PLAIN_SUFFIXES + _WORD_SUFFIXES)})\.?(?![a-z0-9])"
    rf"(?:,? (?P<unit2>{_EN_UNIT}))?"
)
_EN_PLACE = re.compile(r", ?([a-z][a-z'’-]*(?: [a-z][a-z'’-]*){0,2})")
_EN_STOPWORDS = frozenset(
    (  # noqa: SIM905 - a word list reads best as text
        "a an the on in at of to for from by my your our his her their this that these those and "
        "or but is are was were be been it i you we they he she me us them near down up along "
        "across around off over into onto with without per each every more than about after "
        "before minutes mins min hours hrs km miles meters yuan rmb dollars times days people "
        "bikes scooters also please pls thanks thank hi hello help asap door code not no yes can "
        "could would will just has have had there here where when what which who why how all any "
        "some"
    ).split()
)


def _capitalised(nz: Normalized, start: int) -> bool:
    return nz.original[nz.source[start]].isupper()


def _en_words(text: str, start: int, end: int) -> Iterator[tuple[int, str]]:
    at = start
    for word in text[start:end].split(" "):
        yield at, word
        at += len(word) + 1


def _en_tail_end(nz: Normalized, at: int) -> int | None:
    """End of the place names after a street (", Mountain View", ", Xuhui District, Shanghai"):
    capitalised words that are not everyday words; in lower-case text, a whole comma-separated
    part of such words that ends at punctuation or the end of the message."""
    text, stop = nz.text, None
    for _ in range(3):
        part = _EN_PLACE.match(text, at)
        if part is None:
            break
        end = None
        for word_at, word in _en_words(text, part.start(1), part.end(1)):
            if word in _EN_STOPWORDS or not _capitalised(nz, word_at):
                break
            end = word_at + len(word)
        if end is None:
            follows = text[part.end(1) : part.end(1) + 1]
            words = text[part.start(1) : part.end(1)].split(" ")
            if follows not in ("", ",", ".", "!", "?", ";", ")") or set(words) & _EN_STOPWORDS:
                break
            end = part.end(1)
        stop = at = end
        if end < part.end(1):
            break
    return stop


def _en_address(nz: Normalized, match: re.Match[str]) -> tuple[int, int] | None:
    """(street end, address end) of a candidate, or None when it is not an address."""
    text = nz.text
    if not clear_before(text, match.start(), _WORD):
        return None
    if any(w.strip(".'’") in _EN_STOPWORDS for w in match["name"].split(" ")):
        return None
    # A full stop after the suffix stays out: it ends the sentence as often as "St." does.
    street = match.end("unit2") if match["unit2"] else match.end("suffix")
    end = _en_tail_end(nz, street)
    plain = match["suffix"] in _PLAIN_SUFFIXES or _capitalised(nz, match.start("suffix"))
    if not plain and end is None and not (match["unit"] or match["unit2"]):
        return None  # "5 star place": an everyday word needs a capital or more address after it
    return street, end or street


_EN_HINT = re.compile(r"\d[a-z]?,? [a-z]")


def _find_en_addresses(nz: Normalized) -> Iterator[Found]:
    if not _EN_HINT.search(nz.text):
        return
    for match in _EN_ADDRESS.finditer(nz.text):
        found = _en_address(nz, match)
        if found:
            yield match.start(), found[1], "address"


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
_GIVEN_STOP = frozenset(_STOP + "人电手身住地号谢")
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
        if not word or word.group() in _EN_NAME_STOPWORDS or not _capitalised(nz, start):
            break
        if word.end() < len(text) and (text[word.end()].isalnum() or text[word.end()] == "*"):
            break
        end = word.end()
        if text[end : end + 1] != " ":
            break
        start = end + 1
    return end


@dataclass(frozen=True, slots=True)
class _NameFinder:
    listed: re.Pattern[str] | None
    cued: re.Pattern[str] | None

    @classmethod
    def build(cls, rules: NameRules) -> _NameFinder:
        names = sorted({normalize(n) for n in rules.names} - {""}, key=len, reverse=True)
        cues = sorted({normalize(c) for c in rules.cues} - {""}, key=len, reverse=True)
        listed = re.compile("|".join(map(re.escape, names))) if names else None
        cue_alt = "|".join(re.escape(c).replace("'", "['’]") for c in cues)
        cued = re.compile(rf"(?:{cue_alt})(?: ?[:：] ?| )?") if cues else None
        return cls(listed, cued)

    def __call__(self, nz: Normalized) -> Iterator[Found]:
        text = nz.text
        if self.listed:
            for match in self.listed.finditer(text):
                start, end = match.span()
                latin = text[start].isascii() or text[end - 1].isascii()
                if latin and not (clear_before(text, start, _WORD) and _clear_after(text, end)):
                    continue
                yield start, end, "name"
        if self.cued:
            for match in self.cued.finditer(text):
                start, stop = match.end(), None
                if start >= len(text):
                    continue
                if not text[start].isascii():
                    stop = _zh_name_end(text, start)
                elif not text[match.start()].isascii() or clear_before(text, match.start(), _WORD):
                    stop = _en_name_end(nz, start)  # an English cue must start a word
                if stop is not None:
                    yield start, stop, "name"


def _clear_after(text: str, end: int) -> bool:
    return end >= len(text) or text[end] not in _WORD


# --- detection -------------------------------------------------------------------------------

_FINDERS: dict[str, tuple[Finder, ...]] = {
    "phone": (_find_phones,),
    "id_card": (_find_id_cards,),
    "bank_card": (_find_bank_cards,),
    "email": (_find_emails,),
    "plate": (_find_plates,),
    "address": (_find_zh_addresses, _find_en_addresses),
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
                pieces.append(_safely(_mask_address_at, nz, start, end))
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


def _mask_address_at(nz: Normalized, start: int, end: int) -> str:
    """The address at [start, end) of `nz` with only its coarse region left: province, city
    and district; for an English address, the town after the street."""
    original = nz.original
    if not nz.text[start].isascii():
        region = _zh_region_end(nz.text[start:end])
        return (
            original[nz.source[start] : nz.to_original(start, start + region)[1]] if region else ""
        ) + "***"
    match = _EN_ADDRESS.match(nz.text, start, end)
    found = _en_address(nz, match) if match else None
    if found is None or found[0] == found[1]:
        return "***"
    town = nz.to_original(found[0], found[1])
    return "***" + original[town[0] : town[1]]


def _mask_address(value: str) -> str:
    nz = normalize_aligned(value)
    return _mask_address_at(nz, 0, len(nz.text)) if nz.text else "***"


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
