"""The chat page's server-side rendering: language choice and limits (no browser needed)."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_language_follows_query_then_accept_language(client: TestClient) -> None:
    assert "kefu 智能客服" in client.get("/").text  # default_language zh
    assert "kefu customer service" in client.get("/", headers={"Accept-Language": "en-US"}).text
    assert "kefu 智能客服" in client.get("/?lang=zh", headers={"Accept-Language": "en"}).text
    assert (
        "kefu customer service" in client.get("/?lang=fr", headers={"Accept-Language": "en"}).text
    )


def test_page_carries_message_limit_and_security_headers(client: TestClient) -> None:
    res = client.get("/")
    assert 'maxlength="2000"' in res.text
    assert "default-src 'self'" in res.headers["content-security-policy"]
