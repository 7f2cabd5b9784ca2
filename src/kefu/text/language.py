"""Language detection for zh/en customer text.

Script counts are enough for the two languages kefu speaks. `detect_script` says whether a text
is Chinese, English or a real mix of both; `detect_language` picks the language to reply in
(the dominant one). Both return None when neither script is present (digits, emoji only), so
the caller keeps the conversation's language.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh", "en"]
Script = Literal["zh", "en", "mixed"]

# One Han character carries about as much as a 3-letter English word.
HAN_WEIGHT = 3
# Below this share the minority script is a loan word ("我的 app"), not a second language.
MIXED_SHARE = 0.25


def _is_han(ch: str) -> bool:
    code = ord(ch)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


def _weights(text: str) -> tuple[int, int]:
    han = sum(1 for ch in text if _is_han(ch)) * HAN_WEIGHT
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return han, latin


def detect_language(text: str) -> Lang | None:
    han, latin = _weights(text)
    if han == 0 and latin == 0:
        return None
    return "zh" if han >= latin else "en"


def detect_script(text: str) -> Script | None:
    han, latin = _weights(text)
    total = han + latin
    if total == 0:
        return None
    if min(han, latin) / total >= MIXED_SHARE:
        return "mixed"
    return "zh" if han >= latin else "en"
