"""Text utilities shared by understanding and the faces: normalisation (with a map back to the
original characters), language detection and tokenisation. Pure functions, no I/O.
"""

from kefu.text.language import detect_language, detect_script
from kefu.text.normalize import Normalized, normalize, normalize_aligned, strip_invisible
from kefu.text.signals import emoji_in
from kefu.text.tokenize import Token, Tokenizer

__all__ = [
    "Normalized",
    "Token",
    "Tokenizer",
    "detect_language",
    "detect_script",
    "emoji_in",
    "normalize",
    "normalize_aligned",
    "strip_invisible",
]
