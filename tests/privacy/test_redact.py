"""Turn events and log records carry no plaintext PII."""

from __future__ import annotations

import logging
import logging.config

from kefu.cli import masked_log_config
from kefu.privacy.pii import NameRules, PiiDetector
from kefu.privacy.redact import MaskingFilter, redact_understanding
from kefu.understanding.embeddings import make_embedder
from kefu.understanding.engine import NluEngine
from kefu.understanding.entities import EntityExtractor
from kefu.understanding.faq import FaqMatcher

PHONE = "13812345678"
ID_CARD = "11010519491231002X"


def test_understanding_is_stored_masked() -> None:
    text = f"我叫王小明，电话{PHONE}，身份证{ID_CARD}，车坏了"
    engine = NluEngine(
        FaqMatcher([]), make_embedder("use-multilingual"), entities=EntityExtractor()
    )
    summary = engine.parse(text, "zh").summary()
    assert PHONE in str(summary)  # what the engine sees, before redaction
    detector = PiiDetector(NameRules(cues=("我叫",)))
    stored = redact_understanding(summary, text, detector)
    flat = str(stored)
    for secret in (PHONE, ID_CARD, "王小明"):
        assert secret not in flat, secret
    assert "normalized" not in stored
    assert "138****5678" in stored["text_masked"]
    phones = [e for e in stored["entities"] if e["type"] == "phone"]
    assert phones and all("****" in e["value"] for e in phones)
    assert any(t[0] == "<phone>" for t in stored["tokens"])
    # What analytics need survives.
    assert stored["language"] == "zh" and "sentiment" in stored


def test_log_records_are_masked() -> None:
    record = logging.LogRecord(
        "kefu", logging.INFO, __file__, 1, "call %s at %s", ("me", PHONE), None
    )
    assert MaskingFilter().filter(record)  # masks, never drops
    assert PHONE not in record.getMessage() and "138****5678" in record.getMessage()


def test_credentials_in_logged_urls_are_masked() -> None:
    # uvicorn logs each WebSocket's path, and the widget's carries its conversation token.
    path = "/v1/conversations/c1/ws?token=eyJhbGciOi.eyJzdWIi.sig&after=3"
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", path),
        None,
    )
    assert MaskingFilter().filter(record)
    assert record.getMessage().endswith('ws?token=***&after=3" [accepted]')


def test_serve_logging_config_masks_every_handler() -> None:
    config = masked_log_config()
    assert all("mask_pii" in h.get("filters", []) for h in config["handlers"].values())
    assert config["loggers"]["kefu"]["handlers"] == ["default"]
    logging.config.dictConfig(config)
    try:
        handler = logging.getLogger("kefu").handlers[0]
        record = logging.LogRecord("kefu", logging.INFO, __file__, 1, f"id {ID_CARD}", None, None)
        assert handler.filter(record) and ID_CARD not in record.getMessage()
    finally:
        logging.getLogger("kefu").handlers.clear()
        logging.getLogger("kefu").propagate = True
