"""Normalisation of customer text, with a map back to the original characters.

Steps, in order: invisible characters dropped (zero-width spaces, BOMs, bidi controls, C0/C1
controls: used to dodge keyword rules, and they break matching); NFKC per grapheme (folds
full-width ＡＢＣ１２３，？ to half-width); lower case; whitespace runs to one space; repeated
punctuation collapsed; traditional Chinese to simplified (OpenCC t2s). Every normalised
character remembers the original character it came from, so spans found on the normalised text
(tokens, entities) map back exactly to what the customer typed.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import opencc

_KEEP_CONTROLS = frozenset("\n\t\r ")
_INVISIBLE = frozenset(("Cf", "Cc", "Cs", "Co"))
_PUNCT = frozenset("!?.,;:~。！？，、；：～…")
_CJK_GAP = re.compile(r"(?<=[\u3400-\u4dbf\u4e00-\u9fff]) (?=[\u3400-\u4dbf\u4e00-\u9fff])")
# For matching only: drop punctuation and symbols, keep letters, digits, CJK.
_NON_WORD = re.compile(r"[^\w\u4e00-\u9fff\u3400-\u4dbf]+", re.UNICODE)
_SPACES = re.compile(r"\s+")

_T2S = opencc.OpenCC("t2s.json")


def _invisible(ch: str) -> bool:
    return ch not in _KEEP_CONTROLS and unicodedata.category(ch) in _INVISIBLE


def strip_invisible(text: str) -> str:
    """Remove zero-width, bidi and control characters; keep newlines/tabs as whitespace."""
    return "".join(ch for ch in text if not _invisible(ch))


def clean_display(text: str) -> str:
    """Text as stored: invisible characters removed, surrounding whitespace trimmed."""
    return strip_invisible(text).strip()


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalised text plus, for each of its characters, the index of the source character."""

    original: str
    text: str
    source: tuple[int, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a span [start, end) of `text` to the span of `original` it came from."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span {start}:{end} outside 0:{len(self.text)}")
        last = self.source[end - 1]
        stop = last + 1
        # Extend over combining marks and the rest of a grapheme folded into one character.
        while stop < len(self.original) and unicodedata.combining(self.original[stop]):
            stop += 1
        return self.source[start], stop


def _graphemes(text: str) -> list[tuple[int, str]]:
    """(start, cluster) for each base character with its combining marks, so NFKC can compose
    them (e + U+0301 -> é) without losing track of where they started."""
    clusters: list[tuple[int, str]] = []
    for index, ch in enumerate(text):
        if clusters and unicodedata.combining(ch):
            start, cluster = clusters[-1]
            clusters[-1] = (start, cluster + ch)
        else:
            clusters.append((index, ch))
    return clusters


def _to_simplified(chars: list[str], source: list[int]) -> tuple[str, list[int]]:
    text = "".join(chars)
    converted = _T2S.convert(text)
    if len(converted) == len(text):
        return converted, source
    # A phrase rule changed the length: convert character by character to keep the map.
    out, mapped = [], []
    for ch, src in zip(chars, source, strict=True):
        piece = _T2S.convert(ch) or ch
        out.append(piece)
        mapped.extend([src] * len(piece))
    return "".join(out), mapped


@functools.lru_cache(maxsize=256)
def normalize_aligned(text: str) -> Normalized:
    """Cached: one message is normalised by several steps of a parse (retrieval, intents,
    sentiment, entities), and `Normalized` is immutable."""
    chars: list[str] = []
    source: list[int] = []
    for start, cluster in _graphemes(text):
        cluster = "".join(ch for ch in cluster if not _invisible(ch))
        if not cluster:
            continue
        for ch in unicodedata.normalize("NFKC", cluster).lower():
            if ch.isspace():
                if not chars or chars[-1] == " ":
                    continue  # leading or repeated whitespace
                ch = " "
            elif ch in _PUNCT and chars and chars[-1] == ch:
                continue  # "？？？" -> "?"
            chars.append(ch)
            source.append(start)
    if chars and chars[-1] == " ":
        chars.pop()
        source.pop()
    simplified, mapped = _to_simplified(chars, source)
    return Normalized(text, simplified, tuple(mapped))


def normalize(text: str) -> str:
    """Canonical form for matching (see the module docstring)."""
    return normalize_aligned(text).text


def match_key(text: str) -> str:
    """Key for exact matching: normalised, punctuation dropped, no spaces between CJK."""
    return key_of(normalize(text))


def key_of(normalized: str) -> str:
    """`match_key` of text that is already normalised."""
    key = _SPACES.sub(" ", _NON_WORD.sub(" ", normalized.replace("_", " "))).strip()
    return _CJK_GAP.sub("", key)
