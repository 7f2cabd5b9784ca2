"""Key rotation on SQLite and PostgreSQL: batches, interruption and resumption, legacy rows,
servers that keep reading with the keyring they started with, and `kefu keys`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from kefu.cli import app
from kefu.config import Settings
from kefu.conversations.models import Role
from kefu.db.engine import make_engine
from kefu.privacy import rotation
from kefu.privacy.crypto import KEY_FILE, Keyring, add_key, blind_index, install_keyring
from kefu.privacy.rotation import encrypted_columns, key_usage, rotate
from kefu.runtime import Runtime

LEGACY_TEXT = "旧数据：押金怎么退？"


def keyed_engine(settings: Settings) -> Engine:
    engine = make_engine(settings.effective_database_url)
    install_keyring(engine, Keyring.from_settings(settings))
    return engine


@pytest.fixture
def new_key(settings: Settings) -> Iterator[Callable[[], Engine]]:
    """`kefu keys new`, then the engine `kefu keys rotate` uses: a fresh keyring, k2 primary."""
    engines: list[Engine] = []

    def make() -> Engine:
        assert add_key(settings.data_dir / KEY_FILE) == "k2"
        engines.append(keyed_engine(settings))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


def _customer_texts(runtime: Runtime, conversation_id: uuid.UUID) -> list[str]:
    messages = runtime.conversations.messages(conversation_id)
    return [m.text for m in messages if m.role is Role.CUSTOMER]


def _usage(engine: Engine) -> dict[str, rotation.KeyUsage]:
    return {u.column: u for u in key_usage(engine)}


def _converse(runtime: Runtime, count: int) -> tuple[uuid.UUID, list[str], uuid.UUID | None]:
    """A conversation of `count` messages, the first one left as legacy plaintext, and a
    legacy customer (plaintext, no blind index) whose id is returned last."""
    conv = runtime.conversations.start(customer_external_id="cust-7", customer_name="王小明")
    texts = [f"订单 {i} 怎么退款？" for i in range(count)]
    for i, body in enumerate(texts):
        runtime.conversations.post(conv.id, body, f"m{i}")
    # Rows from before encryption: one message, one customer without a blind index.
    with runtime.engine.begin() as conn:
        first = conn.execute(text("SELECT min(id) FROM messages")).scalar_one()
        conn.execute(
            text("UPDATE messages SET text = :t WHERE id = :id"), {"t": LEGACY_TEXT, "id": first}
        )
    texts[0] = LEGACY_TEXT
    legacy = runtime.conversations.start(customer_external_id="legacy-9", customer_name="Old")
    with runtime.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE customers SET external_id = 'legacy-9', display_name = 'Old', "
                "external_id_hash = NULL WHERE external_id_hash = :h"
            ),
            {"h": blind_index(Keyring.from_settings(runtime.settings), "legacy-9")},
        )
    return conv.id, texts, legacy.customer_id


def test_encrypted_columns_are_found_in_the_metadata() -> None:
    names = {c.name for c in encrypted_columns()}
    assert {"messages.text", "customers.external_id", "customers.display_name"} <= names
    for enc in encrypted_columns():
        assert enc.name == f"{enc.table.name}.{enc.column.name}"


def test_interrupted_rotation_resumes_and_servers_keep_reading(
    runtime: Runtime, new_key: Callable[[], Engine]
) -> None:
    conv_id, texts, legacy_customer = _converse(runtime, 5)
    rotating = new_key()
    before = _usage(rotating)
    assert before["messages.text"].plaintext == 1 and before["messages.text"].by_key["k1"] > 4
    assert before["customers.external_id"].plaintext == 1
    stored = sum(before["messages.text"].by_key.values()) + 1

    calls: list[tuple[int, int]] = []

    def interrupt(column: str, done: int, total: int) -> None:
        if column == "messages.text":
            calls.append((done, total))
            if len(calls) == 2:
                raise KeyboardInterrupt  # Ctrl-C between two batches

    with pytest.raises(KeyboardInterrupt):
        rotate(rotating, batch_size=2, progress=interrupt)
    assert calls == [(2, stored), (4, stored)]
    halfway = _usage(rotating)["messages.text"]
    assert halfway.by_key["k2"] == 4 and halfway.by_key["k1"] + halfway.plaintext == stored - 4

    results = {r.column: r for r in rotate(rotating, batch_size=2)}
    assert results["messages.text"].rotated == stored - 4
    assert results["customers.external_id"].rotated == 0  # done before the interruption
    after = _usage(rotating)
    for usage in after.values():
        assert usage.plaintext == usage.unknown == usage.by_key["k1"] == 0, usage
    with rotating.connect() as conn:
        raw = conn.execute(text("SELECT text FROM messages")).scalars().all()
        hashes = conn.execute(text("SELECT external_id_hash FROM customers")).scalars().all()
    assert len(raw) == stored and all(v.startswith("enc:v1:k2:") for v in raw)
    assert None not in hashes

    # A server started before `keys new` still holds only k1: it reloads the key file.
    assert _customer_texts(runtime, conv_id) == texts
    again = runtime.conversations.start(customer_external_id="legacy-9")
    assert again.customer_id == legacy_customer  # found by the blind index rotation filled
    assert {r.rotated for r in rotate(rotating)} == {0}  # a finished rotation is a no-op


@pytest.mark.postgres
def test_row_changed_during_a_batch_is_rechecked_not_overwritten(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kefu.runtime import prepare_database

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "var",
        database_url=postgres_url,
        secret_key=None,
    )
    prepare_database(settings)
    runtime = Runtime.build(settings)
    try:
        old = Keyring.from_settings(settings)
        conv_id, _, _ = _converse(runtime, 2)
        add_key(settings.data_dir / KEY_FILE)
        engine = keyed_engine(settings)
        original = rotation._change
        seen: list[Any] = []

        def server_writes_meanwhile(*args: Any) -> dict[str, Any]:
            name, row = args[2], args[4]
            if name == "messages.text" and (not seen or row[0] == seen[0]):
                seen.append(row[0])
                if len(seen) == 1:  # first read: a server rewrites the row before the update
                    changed = old.encrypt("changed by a server", name, key_id="k1")
                    with runtime.engine.begin() as conn:  # another connection, committed now
                        conn.execute(
                            text("UPDATE messages SET text = :v WHERE id = :id"),
                            {"v": changed, "id": row[0]},
                        )
            return original(*args)

        monkeypatch.setattr(rotation, "_change", server_writes_meanwhile)
        rotate(engine, batch_size=10)
        with engine.connect() as conn:
            raw = conn.execute(
                text("SELECT text FROM messages WHERE id = :id"), {"id": seen[0]}
            ).scalar_one()
        assert raw.startswith("enc:v1:k2:")
        assert len(seen) == 2  # read, found changed at write time, read again
        assert "changed by a server" in _customer_texts(runtime, conv_id)
        engine.dispose()
    finally:
        runtime.close()


def test_keys_commands(
    settings: Settings, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv_id, texts, _ = _converse(runtime, 2)
    monkeypatch.setenv("KEFU_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("KEFU_DATABASE_URL", settings.effective_database_url)
    for name in ("KEFU_ENCRYPTION_KEYS", "KEFU_ENCRYPTION_KEY_FILE", "KEFU_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    key_file = (settings.data_dir / KEY_FILE).read_text(encoding="utf-8")

    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    assert "k1" in listed.stdout and "plaintext" in listed.stdout
    new = runner.invoke(app, ["keys", "new"])
    assert new.exit_code == 0 and "added key k2" in new.stdout, new.output
    rotated = runner.invoke(app, ["keys", "rotate", "--batch", "3"])
    assert rotated.exit_code == 0, rotated.output
    assert "messages.text:" in rotated.stdout and "under key k2" in rotated.stdout
    assert "customers.external_id: 2 values re-encrypted, 1 blind indexes filled" in rotated.stdout
    listed = runner.invoke(app, ["keys", "list"])
    assert "plaintext" not in listed.stdout and "keys rotate" not in listed.stdout
    for line in key_file.splitlines():  # no key material on screen
        if not line.startswith("#"):
            material = line.split(":", 1)[1]
            assert material not in listed.output + new.output + rotated.output
    assert _customer_texts(runtime, conv_id) == texts
    trail = runner.invoke(app, ["audit", "--deployment", "--json"])
    assert trail.exit_code == 0, trail.output
    assert [json.loads(x)["action"] for x in trail.stdout.splitlines()] == [
        "keys.rotate",
        "keys.new",
    ]

    monkeypatch.setenv("KEFU_ENCRYPTION_KEYS", key_file.splitlines()[-1])
    refused = runner.invoke(app, ["keys", "new"])
    assert refused.exit_code == 1 and "KEFU_ENCRYPTION_KEYS" in refused.stderr
    assert "Traceback" not in refused.output
