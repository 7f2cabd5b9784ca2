"""The real server process: serves on a fresh database, and keeps messages across restarts."""

from __future__ import annotations

from pathlib import Path

import httpx

from kefu.testing import Server


def test_messages_written_before_restart_are_there_after_it(tmp_path: Path) -> None:
    server = Server(tmp_path / "var")
    server.start()
    try:
        conv = httpx.post(f"{server.url}/v1/conversations", json={"language": "zh"}).json()
        auth = {"Authorization": f"Bearer {conv['token']}"}
        sent = httpx.post(
            f"{server.url}/v1/conversations/{conv['id']}/messages",
            json={"text": "押金怎么退？", "client_message_id": "r1"},
            headers=auth,
        )
        assert sent.status_code == 201
    finally:
        server.stop()
    server.start()  # same data dir: same database and the same generated secret key
    try:
        got = httpx.get(f"{server.url}/v1/conversations/{conv['id']}/messages", headers=auth)
        assert got.status_code == 200
        texts = [m["text"] for m in got.json()["messages"]]
        assert texts[0] == "押金怎么退？" and len(texts) == 2
        assert texts[1] == sent.json()["replies"][0]["text"]
    finally:
        server.stop()


def test_serve_on_a_new_postgres_database_just_works(tmp_path: Path, postgres_url: str) -> None:
    server = Server(tmp_path / "var", KEFU_DATABASE_URL=postgres_url)
    server.start()
    try:
        conv = httpx.post(f"{server.url}/v1/conversations").json()
        res = httpx.post(
            f"{server.url}/v1/conversations/{conv['id']}/messages",
            json={"text": "几点可以入住？"},
            headers={"Authorization": f"Bearer {conv['token']}"},
        )
        assert res.json()["replies"][0]["payload"]["faq"].startswith("lodging.")
    finally:
        server.stop()


def test_first_start_trains_the_intent_model_and_later_starts_reuse_it(tmp_path: Path) -> None:
    server = Server(tmp_path / "var", KEFU_TRAIN_ON_START="true")
    server.start(timeout=180)
    server.stop()
    current = tmp_path / "var" / "models" / "intent" / "current"
    assert current.is_file() and (tmp_path / "var" / "models" / "faq.json").is_file()
    version = current.read_text()
    server.start()  # a model exists: no training, quick start
    server.stop()
    assert current.read_text() == version
