"""Street addresses in chat text, Chinese and English: the address rules of `kefu.privacy.pii`,
which calls `find_zh_addresses`, `find_en_addresses` and `mask_address_at` on the normalised
text (`normalize_aligned`: lower case, full width folded); capitals are read from the original.

What counts as an address, and where its span ends (the convention `bench/pii_data.py` labels):
- Chinese: a run of adjacent components (province, city, district, street, number, compound,
  building, unit, floor, room) holding something finer than a street or a district: a street
  with its house number, a building, unit or room, or a street or compound with its district.
- English: an optional unit ("Apt 5, "), a house number ("221B", "No. 88"), one to three
  street-name words and a street type ("Road", "St", "Close"), then an optional unit after
  it, and the place names that clearly belong to it: comma-separated parts (", Xuhui District,
  Shanghai") or a town followed by a state or postcode ("Springfield IL 62704"). A town with
  neither ("12 Oak Road Springfield") is left out: nothing tells it from the rest of the
  sentence, and the mask keeps the town anyway, so leaving it out hides nothing less.
  In lower-case text a comma-separated part is a place when its words are not function words
  and it ends at punctuation, the end of the message or a function word ("12 oak road, london
  has no hot water" ends at "london").
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kefu.text.normalize import Normalized
from kefu.understanding.entities.candidates import ALNUM, clear_before

__all__ = [
    "STOP",
    "WORD",
    "Found",
    "capitalised",
    "find_en_addresses",
    "find_zh_addresses",
    "mask_address_at",
]

Found = tuple[int, int, str]  # (start, end, type) on the normalised text
# A candidate may not touch a letter, a digit or a mask: next to "138****5678" a "1234" is a
# fragment of something already masked, and masking twice must change nothing.
WORD = ALNUM + "*"
_NUMERIC = "0123456789.*"


def capitalised(nz: Normalized, start: int) -> bool:
    """Whether the character at `start` of the normalised text was typed in upper case."""
    return nz.original[nz.source[start]].isupper()


# --- Chinese addresses -----------------------------------------------------------------------
# The text is cut into components (province, district, street, number, compound, building,
# unit, room...) by one scan; runs of adjacent components that hold something finer than a
# street or district are addresses. Component names are Han characters that are neither
# function words (which mark where an address starts: 我住在, 地址是, 送到) nor component
# suffixes, so "我住在北京市朝阳区建国路88号" starts at 北 and splits at 市, 区, 路 and 号.

# Never inside a place name: the words that lead into one (我住在, 地址是, 送到, 帮我查). The
# name rules of `kefu.privacy.pii` end a given name at them too.
STOP = (
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


_N = _han_except(STOP + _SUFFIX_CHARS)
_F = _han_except(STOP + _SUFFIX_CHARS + _NOT_FIRST)  # a name's first character
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
_ZH_STRETCH = re.compile(rf"[{_han_except(STOP)}a-z0-9 -]+")


def find_zh_addresses(nz: Normalized) -> Iterator[Found]:
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
# Suffixes that are also everyday words only count with a capital, more address after them or
# an address cue before the number (see `_en_address`).
_PLAIN_SUFFIXES = "street st road rd avenue ave boulevard blvd parkway pkwy highway hwy".split()  # noqa: SIM905
_WORD_SUFFIXES = "lane ln drive dr way close place pl crescent court ct terrace square sq".split()  # noqa: SIM905
_EN_WORD = r"[a-z][a-z'’.-]*"
_EN_ADDRESS = re.compile(
    rf"(?=[afnrsu0-9])(?:(?P<unit>{_EN_UNIT}),? )?(?:no\.? ?)?\d{{1,5}}[a-z]?(?:-\d{{1,4}})?,? "
    rf"(?P<name>{_EN_WORD}(?: {_EN_WORD}){{0,2}}) "
    rf"(?P<suffix>{'|'.join(_PLAIN_SUFFIXES + _WORD_SUFFIXES)})\.?(?![a-z0-9])"
    rf"(?:,? (?P<unit2>{_EN_UNIT}))?"
)
_PLACE_WORD = r"[a-z][a-z'’-]*(?![a-z0-9'’-])"
_EN_PLACE = re.compile(rf", ?({_PLACE_WORD}(?: {_PLACE_WORD}){{0,2}})")
# A state and/or postcode after the street or its town: "Springfield IL 62704", ", IL 62704",
# ", London SW1A 1AA". A bare US ZIP needs a town before it.
_EN_POSTCODE = re.compile(
    rf",? (?:(?P<town>{_PLACE_WORD}(?: {_PLACE_WORD}){{0,2}}?),? )??"
    r"(?:(?P<state>[a-z]{2}),? )?"
    r"(?:(?P<zip>\d{5}(?:-\d{4})?)|[a-z]{1,2}\d[a-z0-9]? \d[a-z]{2})(?![a-z0-9])"
)
# Function words: never part of a street or place name, and where a place name ends.
_EN_STOPWORDS = frozenset(
    (  # noqa: SIM905 - a word list reads best as text
        "a an the on in at of to for from by my your our his her their this that these those and "
        "or but so if because since until then is are was were be been it i you we they he she me "
        "us them near down up along across around off over into onto with without per each every "
        "more than about after before behind beside opposite outside inside next between towards "
        "via minutes mins min hours hrs km miles meters yuan rmb dollars times days people bikes "
        "scooters also please pls thanks thank hi hello help asap door code not no yes can could "
        "would will just do does did don't doesn't isn't aren't wasn't can't won't has have had "
        "need needs want wants there here where when what which who why how all any some nobody "
        "somebody someone anybody anyone everybody everyone nothing something anything everything"
    ).split()
)
# Nouns that follow a number as a quantity, not as a street's name ("a 5 minute drive", "a 2
# bedroom place"); a capital makes them a name again ("1 Mile End Road").
_QUANTITY = frozenset(
    (  # noqa: SIM905 - a word list reads best as text
        "second sec minute min hour hr day night week month year mile km metre meter foot feet "
        "star bedroom bed room person seat step storey story floor lane way"
    ).split()
)
# Words right before a house number that make it one: "live at", "deliver to", "address:".
_EN_LEAD = re.compile(
    r"(?<![a-z])(?:at|to|near|is|address|on|from|opposite|behind|beside|outside)[:：]? ?$"
)


def _en_words(text: str, start: int, end: int) -> Iterator[tuple[int, str]]:
    at = start
    for word in text[start:end].split(" "):
        yield at, word
        at += len(word) + 1


_PLACE_WORD_RE = re.compile(_PLACE_WORD)
_CLAUSE_END = ("", ",", ".", "!", "?", ";", ")", "，", "。", "！", "？", "；")


def _lower_place_end(text: str, start: int, end: int) -> int | None:
    """End of the place name a lower-case comma part [start, end) starts with: its words up to
    the first function word, when the part ends at punctuation or a function word."""
    stop = None
    for word_at, word in _en_words(text, start, end):
        if word in _EN_STOPWORDS:
            return stop
        stop = word_at + len(word)
    after = text[end : end + 1]
    if after in _CLAUSE_END:
        return stop
    following = _PLACE_WORD_RE.match(text, end + 1) if after == " " else None
    return stop if following and following.group() in _EN_STOPWORDS else None


def _en_tail_end(nz: Normalized, at: int, lower: bool) -> int | None:
    """End of the place names after a street (", Mountain View", ", Xuhui District, Shanghai"):
    capitalised words that are not function words; where the street itself was typed in lower
    case (`lower`), a lower-case part too (`_lower_place_end`)."""
    text, stop = nz.text, None
    for _ in range(3):
        part = _EN_PLACE.match(text, at)
        if part is None:
            break
        end = None
        for word_at, word in _en_words(text, part.start(1), part.end(1)):
            if word in _EN_STOPWORDS or not capitalised(nz, word_at):
                break
            end = word_at + len(word)
        if end is None and lower:
            end = _lower_place_end(text, part.start(1), part.end(1))
        if end is None:
            break
        stop = at = end
        if end < part.end(1):
            break
    return stop


def _postcode(nz: Normalized, at: int, tail: bool) -> tuple[int, int] | None:
    """(end of the town, end of the postcode) of a state or postcode at `at`, or None."""
    match = _EN_POSTCODE.match(nz.text, at)
    if match is None:
        return None
    town, state = match["town"], match["state"]
    if town and any(word in _EN_STOPWORDS for word in town.split(" ")):
        return None
    if state in _EN_STOPWORDS and not capitalised(nz, match.start("state")):
        return None  # "... road at 12345"; "IN 46204" is Indiana
    if match["zip"] and not (town or state or tail):
        return None
    return (match.end("town") if town else at), match.end()


def _en_address(nz: Normalized, match: re.Match[str]) -> tuple[int, int, int] | None:
    """(street end, end of the town the mask keeps, address end) of a candidate, or None when
    it is not an address."""
    text = nz.text
    if not clear_before(text, match.start(), WORD):
        return None
    for word_at, word in _en_words(text, match.start("name"), match.end("name")):
        word = word.strip(".'’")
        if word in _EN_STOPWORDS or (word in _QUANTITY and not capitalised(nz, word_at)):
            return None
    # A full stop after the suffix stays out: it ends the sentence as often as "St." does.
    street = match.end("unit2") if match["unit2"] else match.end("suffix")
    lower = not capitalised(nz, match.start("name"))
    town = end = _en_tail_end(nz, street, lower) or street
    code = _postcode(nz, end, end > street)
    if code:
        town, end = max(town, code[0]), code[1]
    if not (
        match["suffix"] in _PLAIN_SUFFIXES
        or capitalised(nz, match.start("suffix"))
        or match["unit"]
        or match["unit2"]
        or end > street
        or _EN_LEAD.search(text[max(0, match.start() - 12) : match.start()])
    ):
        return None  # "5 star place": an everyday word needs more than a number before it
    return street, town, end


_EN_HINT = re.compile(r"\d[a-z]?,? [a-z]")


def find_en_addresses(nz: Normalized) -> Iterator[Found]:
    if not _EN_HINT.search(nz.text):
        return
    for match in _EN_ADDRESS.finditer(nz.text):
        found = _en_address(nz, match)
        if found:
            yield match.start(), found[2], "address"


# --- masking ---------------------------------------------------------------------------------


def mask_address_at(nz: Normalized, start: int, end: int) -> str:
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
