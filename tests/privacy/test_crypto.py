"""Encryption at rest: keys from the environment or a key file, AES-GCM values bound to their
column, key reloads, blind indexes, and the encrypted column type."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, text
from sqlalchemy.exc import StatementError

from kefu.config import Settings
from kefu.errors import InvalidInput
from kefu.privacy import crypto
from kefu.privacy.crypto import (
    EncryptedText,
    EncryptionError,
    Keyring,
    add_key,
    blind_index,
    install_keyring,
    key_id_of,
)

K1 = base64.b64encode(b"\x01" * 32).decode()
K2 = base64.b64encode(b"\x02" * 32).decode()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "data_dir": tmp_path / "var",
        "secret_key": "s" * 40,
        "encryption_keys": None,
        "encryption_key_file": None,
        **overrides,
    }
    return Settings(**values)


def ring(primary: str = "k1") -> Keyring:
    keys = {"k1": b"\x01" * 32, "k2": b"\x02" * 32}
    return Keyring(keys, primary, index_key=b"i" * 32)


def test_round_trip_names_the_key_and_hides_the_text() -> None:
    keyring = ring()
    stored = keyring.encrypt("我的手机 13812345678", "messages.text")
    assert stored.startswith("enc:v1:k1:") and key_id_of(stored) == "k1"
    assert "13812345678" not in stored
    assert keyring.decrypt(stored, "messages.text") == "我的手机 13812345678"
    # A fresh nonce every time: equal texts don't give equal ciphertexts.
    assert keyring.encrypt("same", "messages.text") != keyring.encrypt("same", "messages.text")


def test_any_key_decrypts_and_only_the_primary_encrypts() -> None:
    old = ring("k1").encrypt("hello", "messages.text")
    newer = ring("k2")
    assert newer.decrypt(old, "messages.text") == "hello"
    assert key_id_of(newer.encrypt("hello", "messages.text")) == "k2"


def test_tampered_ciphertext_is_refused() -> None:
    keyring = ring()
    stored = keyring.encrypt("hello", "messages.text")
    body = stored.rsplit(":", 1)[1]
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(EncryptionError, match="does not decrypt"):
        keyring.decrypt(stored.replace(body, flipped), "messages.text")
    with pytest.raises(EncryptionError):
        keyring.decrypt("enc:v1:k1:", "messages.text")


def test_ciphertext_moved_to_another_column_is_refused() -> None:
    keyring = ring()
    name = keyring.encrypt("Zhang San", "customers.display_name")
    with pytest.raises(EncryptionError, match="another column"):
        keyring.decrypt(name, "messages.text")


def test_legacy_plaintext_is_read_as_is() -> None:
    assert ring().decrypt("押金怎么退？", "messages.text") == "押金怎么退？"
    assert key_id_of("押金怎么退？") is None


def test_unknown_key_rereads_the_key_file_then_fails_clearly(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    server = Keyring.from_settings(settings)  # a running server's keyring, made at start
    assert server.key_ids == ("k1",)
    path = settings.data_dir / crypto.KEY_FILE
    assert add_key(path) == "k2"
    newer = Keyring.from_settings(settings)
    assert newer.primary == "k2"
    stored = newer.encrypt("hello", "messages.text")
    assert server.decrypt(stored, "messages.text") == "hello"  # picked up without a restart
    assert list(server.key_ids) == ["k1", "k2"]
    stranger = Keyring({"k9": b"\x09" * 32}, "k9").encrypt("x", "messages.text")
    with pytest.raises(EncryptionError, match="no encryption key 'k9'"):
        server.decrypt(stranger, "messages.text")


def test_running_process_switches_to_a_new_primary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crypto, "RELOAD_INTERVAL_S", 0.0)
    settings = make_settings(tmp_path)
    server = Keyring.from_settings(settings)
    add_key(settings.data_dir / crypto.KEY_FILE)
    assert key_id_of(server.encrypt("hello", "messages.text")) == "k2"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (f"k1:{K1[:-4]}!!!!", "not valid base64"),
        (f"k1:{base64.b64encode(b'x' * 16).decode()}", "16 bytes; AES-256 needs 32"),
        (f"k1:{K1},k1:{K2}", "k1 appears twice"),
        (f"bad id!:{K1}", "key id must be 1-16"),
        (f"{K1}:k1", "key id must be 1-16"),  # the wrong way round: the key is not echoed
        (f"{K1}", "expected 'KEYID:BASE64KEY'"),
        (" , ", "holds no keys"),
    ],
)
def test_malformed_keys_are_clear_errors_without_key_material(
    tmp_path: Path, value: str, problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem) as caught:
        Keyring.from_settings(make_settings(tmp_path, encryption_keys=value))
    for material in (K1, K1[:-4], K2):
        assert material not in caught.value.message


def test_malformed_key_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# comment\nk1:{K1}\nk2:c2hvcnQ=\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"keys: line 3: key k2 is 5 bytes"):
        Keyring.from_settings(make_settings(tmp_path, encryption_key_file=path))


def test_environment_keys_win_and_the_first_is_primary(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, encryption_keys=f"k2:{K2}, k1:{K1}")
    keyring = Keyring.from_settings(settings)
    assert keyring.primary == "k2" and keyring.key_ids == ("k2", "k1")
    assert keyring.key_file is None and keyring.source == "KEFU_ENCRYPTION_KEYS"
    assert not (settings.data_dir / crypto.KEY_FILE).exists()


def test_key_file_last_line_is_primary_and_comments_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "ops" / "kefu.keys"
    path.parent.mkdir()
    path.write_text(f"# old\nold:{K1}\n\n  # current\ncur_2:{K2}", encoding="utf-8")
    keyring = Keyring.from_settings(make_settings(tmp_path, encryption_key_file=path))
    assert keyring.primary == "cur_2" and keyring.key_ids == ("old", "cur_2")
    assert add_key(path) == "k1"  # no kN ids yet; appended after a missing final newline
    assert Keyring.from_settings(make_settings(tmp_path, encryption_key_file=path)).primary == "k1"


def test_embedded_default_generates_a_private_key_file_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    first = Keyring.from_settings(settings)
    path = settings.data_dir / crypto.KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert first.primary == "k1" and first.key_file == path
    stored = first.encrypt("hello", "messages.text")
    again = Keyring.from_settings(make_settings(tmp_path))
    assert again.decrypt(stored, "messages.text") == "hello"  # same file, not a new key
    assert K1 not in repr(first) and "k1" in repr(first)


def test_configured_key_file_that_is_missing_is_not_generated(tmp_path: Path) -> None:
    missing = tmp_path / "mounted" / "keys"
    with pytest.raises(EncryptionError, match="does not exist"):
        Keyring.from_settings(make_settings(tmp_path, encryption_key_file=missing))
    assert not missing.exists()


def test_blind_index_follows_the_secret_key_not_the_data_keys(tmp_path: Path) -> None:
    one = Keyring.from_settings(make_settings(tmp_path, encryption_keys=f"k1:{K1}"))
    other = Keyring.from_settings(make_settings(tmp_path, encryption_keys=f"k2:{K2}"))
    assert blind_index(one, "cust-42") == blind_index(other, "cust-42")
    assert blind_index(one, "cust-42") != blind_index(one, "cust-43")
    resalted = Keyring.from_settings(
        make_settings(tmp_path, encryption_keys=f"k1:{K1}", secret_key="t" * 40)
    )
    assert blind_index(resalted, "cust-42") != blind_index(one, "cust-42")
    assert len(blind_index(one, "cust-42")) == 64
    with pytest.raises(EncryptionError, match="no blind-index key"):
        blind_index(Keyring({"k1": b"\x01" * 32}, "k1"), "cust-42")


def _notes_table() -> tuple[MetaData, Table]:
    metadata = MetaData()
    notes = Table(
        "notes",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("body", EncryptedText("notes.body")),
    )
    return metadata, notes


def test_encrypted_column_encrypts_on_write_and_decrypts_on_read() -> None:
    metadata, notes = _notes_table()
    engine = create_engine("sqlite://")
    install_keyring(engine, ring())
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(notes), [{"id": 1, "body": "13812345678"}, {"id": 2, "body": None}])
        conn.execute(text("INSERT INTO notes (id, body) VALUES (3, 'legacy text')"))
    with engine.connect() as conn:
        raw: dict[int, str | None] = dict(conn.execute(text("SELECT id, body FROM notes")).all())
        assert str(raw[1]).startswith("enc:v1:k1:") and raw[2] is None
        assert dict(conn.execute(select(notes)).all()) == {
            1: "13812345678",
            2: None,
            3: "legacy text",
        }
    with pytest.raises(TypeError, match="encrypted"):
        _ = notes.c.body == "13812345678"  # would silently match nothing
    assert notes.c.body.is_(None) is not None  # NULL tests still work


def test_engine_without_keyring_refuses_encrypted_columns() -> None:
    metadata, notes = _notes_table()
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn, pytest.raises(StatementError, match="no encryption keys"):
        conn.execute(insert(notes), {"id": 1, "body": "hello"})


def test_a_value_under_a_lost_key_is_a_logged_500_not_a_crash(
    client: Any, runtime: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import start

    conv, auth = start(client)
    res = client.post(f"/v1/conversations/{conv}/messages", json={"text": "hi"}, headers=auth)
    assert res.status_code == 201
    with runtime.engine.begin() as conn:  # as if written under a key nobody has any more
        conn.execute(text("UPDATE messages SET text = 'enc:v1:gone:AAAAAAAAAAAAAAAAAAAAAAAAAAAA'"))
    res = client.get(f"/v1/conversations/{conv}/messages", headers=auth)
    assert res.status_code == 500
    assert res.json()["error"]["code"] == "encryption_error"
    assert "gone" in res.json()["error"]["message"]
    assert any("encryption error" in r.getMessage() for r in caplog.records)
