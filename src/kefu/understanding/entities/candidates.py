"""A candidate entity on the normalised text, before overlaps are resolved and spans mapped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# When two candidates cover the same length, the more specific type wins (lower rank).
RANK = {
    "id_card": 0,
    "email": 1,
    "phone": 2,
    "plate": 3,
    "datetime_range": 5,
    "date_range": 6,
    "time_range": 7,
    "datetime": 8,
    "date": 9,
    "time": 10,
    "duration": 11,
    "amount": 12,
    "place": 13,
    "number": 14,
}
PACK_RANK = 4  # pack-declared ids: declared on purpose, so above the generic types


def clear_before(text: str, start: int, forbidden: str) -> bool:
    """True when the character before `start` is not in `forbidden`. Used instead of a leading
    lookbehind: a regex that starts with one loses sre's fast first-character scan and runs
    10-50x slower on long messages."""
    return start == 0 or text[start - 1] not in forbidden


ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Candidate:
    type: str
    start: int  # on the normalised text
    end: int
    value: Any
    source: str

    @property
    def rank(self) -> int:
        return RANK.get(self.type, PACK_RANK)
