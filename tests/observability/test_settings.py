"""The three telemetry settings: read from the environment, checked, the token kept secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kefu.config import Settings


def test_telemetry_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings(_env_file=None)
    assert (defaults.log_format, defaults.metrics_enabled, defaults.metrics_token) == (
        "text",
        True,
        None,
    )
    monkeypatch.setenv("KEFU_LOG_FORMAT", "json")
    monkeypatch.setenv("KEFU_METRICS_ENABLED", "false")
    monkeypatch.setenv("KEFU_METRICS_TOKEN", "scrape-me-please")
    s = Settings(_env_file=None)
    assert (s.log_format, s.metrics_enabled) == ("json", False)
    assert s.metrics_token is not None and s.metrics_token.get_secret_value() == "scrape-me-please"
    assert "scrape-me-please" not in str(s.masked())
    monkeypatch.setenv("KEFU_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError, match="log_format"):
        Settings(_env_file=None)
