"""Language detection for zh/en customer text.

A script-ratio rule is enough for the two languages kefu speaks: any Han characters make a
message Chinese unless Latin letters clearly dominate. Returns None when neither script is
present (digits, emoji only), so the caller keeps the conversation's language.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh", "en"]


def _is_han(ch: str) -> bool:
    code = ord(ch)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


def detect_language(text: str) -> Lang | None:
    han = sum(1 for ch in text if _is_han(ch))
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    if han == 0 and latin == 0:
        return None
    # One Han character counts about as much as a 3-letter English word.
    return "zh" if han * 3 >= latin else "en"
