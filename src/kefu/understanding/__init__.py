"""Understanding: text in, one immutable `Parse` out. No I/O, no storage, no web.

`Understander` is the seam: the rule-based `FaqMatcher` implements it today; the NLU engine
(intents, entities, sentiment) replaces it behind the same protocol.
"""

from kefu.understanding.parse import FaqCandidate, Parse, Understander

__all__ = ["FaqCandidate", "Parse", "Understander"]
