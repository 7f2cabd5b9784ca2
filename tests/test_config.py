"""Settings: env vars, kefu.toml, generated secret key, masking."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from kefu.config import Settings, mask_url


def test_defaults_are_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.effective_database_url == "sqlite:///var/kefu.db"
    assert s.redis_url is None
    assert (s.host, s.port, s.default_language, s.max_message_chars) == (
        "127.0.0.1",
        8000,
        "zh",
        2000,
    )


def test_env_vars_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_PORT", "9001")
    monkeypatch.setenv("KEFU_DEFAULT_LANGUAGE", "en")
    monkeypatch.setenv("KEFU_DATABASE_URL", "postgresql://u:pw@db/kefu")
    s = Settings()
    assert (s.port, s.default_language) == (9001, "en")


def test_toml_file_is_read_and_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "kefu.toml"
    config.write_text('port = 8123\nmax_message_chars = 500\ndefault_language = "en"\n')
    monkeypatch.setenv("KEFU_CONFIG_FILE", str(config))
    monkeypatch.setenv("KEFU_PORT", "8124")
    # The file name is read when the class is created: build a fresh subclass to pick it up.
    from pydantic_settings import SettingsConfigDict

    class Fresh(Settings):
        model_config = SettingsConfigDict(toml_file=str(config))

    s = Fresh()
    assert (s.port, s.max_message_chars, s.default_language) == (8124, 500, "en")


def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_PORT", "99999")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.delenv("KEFU_PORT")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(secret_key="short")


def test_secret_key_generated_once_and_private(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "var")
    key = s.signing_key
    path = tmp_path / "var" / "secret_key"
    assert len(key) >= 32 and path.read_text().strip() == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert Settings(data_dir=tmp_path / "var").signing_key == key


def test_masked_hides_secrets_and_passwords(tmp_path: Path) -> None:
    s = Settings(
        data_dir=tmp_path,
        secret_key="s" * 40,
        database_url="postgresql://kefu:hunter2@db:5432/kefu",
        redis_url="redis://:redispw@cache:6379/0",
    )
    shown = str(s.masked())
    assert "hunter2" not in shown and "redispw" not in shown and "s" * 40 not in shown
    assert mask_url("redis://:pw@h/0") == "redis://:***@h/0"
