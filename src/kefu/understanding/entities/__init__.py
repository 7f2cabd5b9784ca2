"""Entities: typed, normalised values found in a customer message, each with its exact span.

Every extractor works on the normalised text (`kefu.text.normalize.normalize_aligned`: full
width folded, zero-width and control characters dropped, lower case, traditional characters
simplified), so "１３８\u200b1234 5678" and "明天下午三點" match like their plain forms; spans are
then mapped back with `Normalized.to_original`, so `text[e.start:e.end] == e.text` always holds
on what the customer typed. Overlapping candidates are resolved longest first, then by
specificity (`candidates.RANK`): an ID number is not also a phone or a number.

Modules: `contact` (phone, email, id_card, plate), `numbers` (amount, number), `when` and
`when_atoms` (date, time, datetime, ranges, duration), `places` (gazetteer). Packs declare their
own id patterns and place names (`skills/*/entities.yaml`, read by `kefu.knowledge.entities`);
this package does no I/O. `extract` never raises: a failing extractor is logged and skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from kefu.text.normalize import Normalized, normalize_aligned
from kefu.understanding.entities.candidates import RANK, Candidate
from kefu.understanding.entities.contact import find_emails, find_id_cards, find_phones, find_plates
from kefu.understanding.entities.numbers import find_amounts, find_numbers
from kefu.understanding.entities.places import Gazetteer
from kefu.understanding.entities.when import find_times

__all__ = ["BUILTIN_TYPES", "Entity", "EntityExtractor", "EntityPattern"]

logger = logging.getLogger(__name__)

BUILTIN_TYPES = frozenset(RANK)
# A message with more than this many numbers (or dates...) is a pasted table or an attack; the
# cap keeps a hostile 10k-character message inside the time budget.
_MAX_PER_EXTRACTOR = 256
_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Ids never start or end inside a run of letters/digits: "B123456" is not found in "AB1234567".
# The lookbehind costs a fast scan but keeps a pack regex like `\d+-\d+` from rescanning a
# long digit run from every position (quadratic).
_ID_BOUNDARY = r"(?<![a-z0-9])(?:{})(?![a-z0-9])"


@dataclass(frozen=True, slots=True)
class Entity:
    type: str
    start: int  # span in the ORIGINAL customer text: text[start:end] == self.text
    end: int
    text: str
    value: Any  # normalised and JSON-safe
    source: str  # the extractor that found it

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "value": self.value,
            "source": self.source,
        }


@dataclass(frozen=True)
class EntityPattern:
    """A pack-declared id pattern, matched case-insensitively on the normalised text, at
    letter/digit boundaries. A group named `value` narrows the span (context words in the
    regex, like `车牌号\\s*(?P<value>\\d{9})`, are not part of the entity). The value is the
    matched text in upper case, separators kept."""

    type: str
    regex: str
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _TYPE_NAME.match(self.type) or self.type in BUILTIN_TYPES:
            raise ValueError(
                f"entity type {self.type!r} must be lower_case and not a built-in type"
            )
        try:
            compiled = re.compile(_ID_BOUNDARY.format(self.regex), re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"regex for {self.type!r} does not compile: {exc}") from None
        if compiled.fullmatch(""):
            raise ValueError(f"regex for {self.type!r} matches the empty string")
        object.__setattr__(self, "compiled", compiled)

    def find(self, text: str) -> Iterable[Candidate]:
        for match in self.compiled.finditer(text):
            has_value = "value" in self.compiled.groupindex and match["value"] is not None
            start, end = match.span("value") if has_value else match.span()
            if end > start:
                yield Candidate(self.type, start, end, text[start:end].upper(), "pattern")


class EntityExtractor:
    """Built once per knowledge load (patterns and gazetteer compiled); `extract` is then pure
    and thread-safe."""

    def __init__(
        self,
        patterns: Sequence[EntityPattern] = (),
        gazetteer: Mapping[str, Sequence[str]] | None = None,
        default_region: str = "CN",
    ) -> None:
        self.patterns = tuple(patterns)
        self.gazetteer = Gazetteer(gazetteer or {})
        self.default_region = default_region
        self._finders: tuple[tuple[str, Callable[[str, dt.datetime], Iterable[Candidate]]], ...]
        self._finders = (
            ("id_card", lambda t, now: find_id_cards(t)),
            ("email", lambda t, now: find_emails(t)),
            ("phone", lambda t, now: find_phones(t, self.default_region)),
            ("plate", lambda t, now: find_plates(t)),
            *((p.type, lambda t, now, p=p: p.find(t)) for p in self.patterns),
            ("time", find_times),
            ("amount", lambda t, now: find_amounts(t)),
            ("place", lambda t, now: self.gazetteer.find(t)),
            ("number", lambda t, now: find_numbers(t)),
        )

    def extract(
        self, text: str, now: dt.datetime, *, normalized: Normalized | None = None
    ) -> tuple[Entity, ...]:
        """Entities sorted by start. Pass `normalized` when the caller already has
        `normalize_aligned(text)` (the FAQ matcher does): normalising is most of the cost."""
        try:
            aligned = normalized if normalized is not None else normalize_aligned(text)
        except Exception:
            logger.exception("entity extraction: normalising failed")
            return ()
        candidates: list[Candidate] = []
        for name, finder in self._finders:
            try:
                candidates.extend(islice(finder(aligned.text, now), _MAX_PER_EXTRACTOR))
            except Exception:  # one broken extractor must not cost the others or the turn
                logger.exception("entity extractor %s failed", name)
        return tuple(self._entities(aligned, _resolve(candidates, len(aligned.text))))

    def _entities(self, aligned: Normalized, chosen: list[Candidate]) -> Iterable[Entity]:
        previous_end = 0
        for c in chosen:
            try:
                start, end = aligned.to_original(c.start, c.end)
            except ValueError:
                continue
            if start < previous_end:
                continue  # two pieces of one folded character ("¼" -> "1⁄4"): keep the first
            previous_end = end
            text = aligned.original[start:end]
            yield Entity(c.type, start, end, text, c.value, c.source)


def _resolve(candidates: list[Candidate], length: int) -> list[Candidate]:
    """Longest first, then most specific; a candidate touching a chosen one is dropped."""
    taken = bytearray(length)
    chosen: list[Candidate] = []
    for c in sorted(candidates, key=lambda c: (c.start - c.end, c.rank, c.start)):
        if not 0 <= c.start < c.end <= length or taken.find(1, c.start, c.end) != -1:
            continue
        taken[c.start : c.end] = b"\x01" * (c.end - c.start)
        chosen.append(c)
    chosen.sort(key=lambda c: c.start)
    return chosen
