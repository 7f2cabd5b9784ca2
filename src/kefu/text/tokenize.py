"""Tokenisation for Chinese, English and mixed text, with spans in the customer's original text.

rjieba (jieba's segmenter in Rust) splits Chinese and keeps ASCII words whole. Each tokenizer
owns its dictionary, so domain words from one tenant's knowledge packs (开不了锁, 免押金) don't
leak into another's. Tokens are found on the normalised text and mapped back through
`Normalized.to_original`, so a span always slices exactly what the customer typed, even after
full-width folding, zero-width removal or traditional-to-simplified conversion.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import rjieba

from kefu.text.normalize import Normalized, normalize


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # normalised form (lower case, simplified)
    start: int  # span in the original text
    end: int


def _is_word(piece: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in piece)


class Tokenizer:
    def __init__(self, domain_words: Iterable[str] = ()) -> None:
        self._jieba = rjieba.Jieba()
        self._last: tuple[Normalized, tuple[Token, ...]] | None = None
        self.domain_words = sorted({w for w in (normalize(x) for x in domain_words) if w})
        # Tokenizers with the same dictionary cut text the same way (caches key on this).
        self.signature = hashlib.sha256("\x1f".join(self.domain_words).encode()).hexdigest()
        for word in self.domain_words:
            if " " not in word:  # a dictionary word can't contain a space
                self._jieba.add_word(word, None, None)

    def tokenize(self, text: Normalized) -> tuple[Token, ...]:
        """Word tokens of normalised text (punctuation, spaces and symbols dropped)."""
        last = self._last  # one parse asks twice for the same (cached, immutable) Normalized
        if last is not None and last[0] is text:
            return last[1]
        tokens = []
        for piece, start, end in self._jieba.tokenize(text.text):
            if _is_word(piece):
                ostart, oend = text.to_original(start, end)
                tokens.append(Token(piece, ostart, oend))
        result = tuple(tokens)
        self._last = (text, result)
        return result
