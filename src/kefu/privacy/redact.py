"""What kefu keeps about a message besides its (encrypted) text is PII-free: turn events feed
analytics and are not encrypted, so their copy of the understanding is masked here, and log
records pass through the same masking."""

from __future__ import annotations

import logging
import re
from typing import Any

from kefu.privacy.pii import PiiDetector, PiiSpan, mask, mask_value
from kefu.privacy.rules import pack_detector

# Entity types that are personal data: their values are masked like the text around them.
PII_ENTITY_TYPES = frozenset({"phone", "email", "id_card", "plate", "bank_card", "address", "name"})


def _overlaps(start: int, end: int, spans: list[PiiSpan]) -> PiiSpan | None:
    for span in spans:
        if start < span.end and span.start < end:
            return span
    return None


def redact_understanding(
    summary: dict[str, Any], original: str, detector: PiiDetector | None = None
) -> dict[str, Any]:
    """`Parse.summary()` made PII-free. The normalised text is replaced by the original text
    masked (`text_masked`: English names and addresses need their capitals to be found), tokens
    inside a PII span become `<type>`, and personal entity values are masked."""
    detector = detector or pack_detector()
    spans = detector.find(original)
    out = dict(summary)
    out.pop("normalized", None)
    out["text_masked"] = _masked(original, spans)
    if spans and isinstance(out.get("tokens"), list):
        out["tokens"] = [
            [f"<{hit.type}>", token[1], token[2]]
            if (hit := _overlaps(token[1], token[2], spans))
            else token
            for token in out["tokens"]
        ]
    if isinstance(out.get("entities"), list):
        entities = []
        for entity in out["entities"]:
            kind = entity.get("type")
            hit = _overlaps(entity.get("start", 0), entity.get("end", 0), spans)
            masked_type = kind if kind in PII_ENTITY_TYPES else (hit.type if hit else None)
            if masked_type is not None:
                entity = {
                    **entity,
                    "text": mask_value(masked_type, str(entity.get("text", ""))),
                    "value": mask_value(masked_type, str(entity.get("value", ""))),
                }
            entities.append(entity)
        out["entities"] = entities
    return out


def _masked(text: str, spans: list[PiiSpan]) -> str:
    parts, last = [], 0
    for span in spans:
        parts.append(text[last : span.start])
        parts.append(mask_value(span.type, span.text))
        last = span.end
    parts.append(text[last:])
    return "".join(parts)


# Credentials in URLs: the widget's WebSocket carries its conversation token in the query
# string (browsers can't set headers on a WebSocket), and uvicorn logs each socket's path.
_URL_SECRET = re.compile(r"((?:[?&](?:token|access_token|key|signature)=))[^&\s\"']+", re.I)


class MaskingFilter(logging.Filter):
    """Masks PII and URL credentials in a record's final message (arguments included) before
    any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as usual
            return True
        masked = _URL_SECRET.sub(r"\1***", mask(message))
        if masked != message:
            record.msg, record.args = masked, None
        return True
