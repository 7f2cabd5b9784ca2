"""Identifiers with a fixed shape: phone numbers, emails, resident ID numbers, licence plates.

Regexes find candidates on the normalised text (full-width folded, zero-width removed, lower
case); each is then validated (phonenumbers for phones, the GB 11643 checksum and a real birth
date for ID numbers) so a random digit run is not reported as a phone or an ID.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator

import phonenumbers

from kefu.understanding.entities.candidates import ALNUM, Candidate, clear_before

_SEP = r"[ -]?"
# Mainland mobiles and landlines, optionally +86/0086, spaced or dashed; 400/800 hotlines.
_CN_PHONE = re.compile(
    r"(?:(?:\+|00)86[ -]?|\(\+?86\)[ -]?)?"
    rf"(?:1[3-9][0-9]{_SEP}[0-9]{{4}}{_SEP}[0-9]{{4}}"
    rf"|\(0[1-9][0-9]{{1,2}}\){_SEP}[0-9]{{7,8}}"
    rf"|0[1-9][0-9]{{1,2}}{_SEP}[0-9]{{3,4}}{_SEP}?[0-9]{{4}}"
    rf"|[48]00{_SEP}[0-9]{{3}}{_SEP}[0-9]{{4}})"
    r"(?![0-9])"
)
# Other countries only with an explicit +country code.
_INTL_PHONE = re.compile(r"\+(?!86)[1-9][0-9]{0,2}(?:[ -]?\(?[0-9]{1,4}\)?){2,5}(?![0-9])")


# phonenumbers takes ~60 µs to parse and validate; a message with more candidates than this
# is a pasted list or an attack, and its tail is not worth the time budget.
_MAX_PHONE_TRIES = 64


@functools.lru_cache(maxsize=1024)
def phone_e164(candidate: str, region: str) -> str | None:
    """The E.164 form of a valid number, else None."""
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_phones(text: str, region: str) -> Iterator[Candidate]:
    tries = 0
    for pattern in (_CN_PHONE, _INTL_PHONE):
        for match in pattern.finditer(text):
            if not clear_before(text, match.start(), ALNUM + "+"):
                continue
            tries += 1
            if tries > _MAX_PHONE_TRIES:
                return
            if sum(ch.isdigit() for ch in match.group()) > 17:
                continue
            e164 = phone_e164(match.group(), region)
            if e164 is not None:
                yield Candidate("phone", match.start(), match.end(), e164, "phone")


# The TLD check happens in code: an optional-repeat regex for it backtracks badly on "a.a.a.a".
_EMAIL = re.compile(
    r"[a-z0-9][a-z0-9._%+-]{0,63}@[a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63}){1,8}"
)


def find_emails(text: str) -> Iterator[Candidate]:
    for match in _EMAIL.finditer(text):
        if not clear_before(text, match.start(), ALNUM + "._%+-"):
            continue
        address = match.group()
        end = match.end()
        while address[-1] in ".-":  # trailing punctuation of the sentence
            address, end = address[:-1], end - 1
        tld = address.rsplit(".", 1)[-1]
        if "." in address.split("@", 1)[1] and len(tld) >= 2 and tld.isalpha() and tld.isascii():
            yield Candidate("email", match.start(), end, address, "email")


_ID_CARD = re.compile(
    r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"[0-9]{3}[0-9x](?![0-9a-z])"
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_card_valid(number: str) -> bool:
    """GB 11643-1999: 17 digits, then a mod-11 check character; the birth date must exist."""
    number = number.upper()
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17]


def find_id_cards(text: str) -> Iterator[Candidate]:
    for match in _ID_CARD.finditer(text):
        if not clear_before(text, match.start(), ALNUM):
            continue
        number = match.group().upper()
        if id_card_valid(number):
            yield Candidate("id_card", match.start(), match.end(), number, "id_card")


_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_LETTER = "a-hj-np-z"  # plates never use I or O
_ENERGY = "abcdefghjk"  # new-energy plates: D (electric), F (hybrid) and, since 2023, more
_PLATE = re.compile(
    rf"(?P<province>[{_PROVINCES}])(?P<area>[{_LETTER}])[ ·•.-]?"
    rf"(?P<serial>[{_ENERGY}][{_LETTER}0-9][0-9]{{4}}|[0-9]{{5}}[{_ENERGY}]"
    rf"|[{_LETTER}0-9]{{5}}|[{_LETTER}0-9]{{4}}[挂学警港澳])(?![a-z0-9])"
)


def find_plates(text: str) -> Iterator[Candidate]:
    for match in _PLATE.finditer(text):
        if not clear_before(text, match.start(), ALNUM):
            continue
        serial = match["serial"]
        if not any(ch.isdigit() for ch in serial):
            continue  # "京abcde" is a word after a place name, not a plate
        value = f"{match['province']}{match['area']}{serial}".upper()
        yield Candidate("plate", match.start(), match.end(), value, "plate")
