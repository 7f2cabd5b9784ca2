"""Normalisation of customer text before matching.

NFKC folds full-width forms (ＡＢＣ１２３，？) into half-width; invisible characters (zero-width
spaces, BOMs, bidi controls, C0/C1 controls) are removed because they are used to dodge keyword
rules and they break exact matching.
"""

from __future__ import annotations

import re
import unicodedata

# Cf (format: zero-width, bidi marks) and Cc (controls) except ordinary whitespace.
_KEEP_CONTROLS = {"\n", "\t", " "}
_SPACES = re.compile(r"\s+")
_REPEATED_PUNCT = re.compile(r"([!?.,;:~。！？，、；：～…])\1+")
# For matching only: drop punctuation and symbols, keep letters, digits, CJK.
_CJK_GAP = re.compile(r"(?<=[\u3400-\u4dbf\u4e00-\u9fff]) (?=[\u3400-\u4dbf\u4e00-\u9fff])")
_NON_WORD = re.compile(r"[^\w\u4e00-\u9fff\u3400-\u4dbf]+", re.UNICODE)


def strip_invisible(text: str) -> str:
    """Remove zero-width, bidi and control characters; keep newlines/tabs as whitespace."""
    return "".join(
        ch
        for ch in text
        if ch in _KEEP_CONTROLS or unicodedata.category(ch) not in ("Cf", "Cc", "Cs", "Co")
    )


def clean_display(text: str) -> str:
    """Text as stored: invisible characters removed, surrounding whitespace trimmed."""
    return strip_invisible(text).strip()


def normalize(text: str) -> str:
    """Canonical form for matching: NFKC, lower case, no invisible chars, one space."""
    text = unicodedata.normalize("NFKC", strip_invisible(text)).lower()
    text = _REPEATED_PUNCT.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


def match_key(text: str) -> str:
    """Key for exact matching: normalised, punctuation dropped, no spaces between CJK."""
    key = _SPACES.sub(" ", _NON_WORD.sub(" ", normalize(text).replace("_", " "))).strip()
    return _CJK_GAP.sub("", key)
