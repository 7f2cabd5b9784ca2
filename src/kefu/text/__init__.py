"""Text utilities shared by understanding and the faces: normalisation and language detection.

Pure functions, no I/O. Later work adds tokenisation (rjieba) and traditional-to-simplified here.
"""

from kefu.text.language import detect_language
from kefu.text.normalize import normalize, strip_invisible

__all__ = ["detect_language", "normalize", "strip_invisible"]
