"""Locust load test of kefu's customer API: simulated customers chatting with the bot.

    .venv/bin/locust -f bench/load/locustfile.py --headless -u 100 -r 20 -t 60s \
        --host http://127.0.0.1:8000 [--messages FILE] [--user-rate 4] [--identity-key KEY]

Each user starts a conversation (POST /v1/conversations, request name "start"), then sends a
short conversation's worth of messages from the messages file (default: messages.yaml next to
this file), named "faq" or "flow" so Locust's statistics separate them; when the conversation
is over it starts the next one. Pacing is `constant_throughput` per user, one customer message
per task run, so the offered load is users x --user-rate messages per second (unless the server
is too slow to keep up: then it is the achieved rate that drops, which is what we measure).

With --identity-key (KEFU_CUSTOMER_IDENTITY_KEY of the server under test), a share of the
conversations carry a signed demo customer id so flows act on a real account. Any answer but
201 (200 for a start) counts as a failure named by status and error code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import uuid
from pathlib import Path
from typing import Any, ClassVar

import yaml
from locust import FastHttpUser, events, task
from locust.runners import WorkerRunner
from locust.stats import StatsEntry
from locust.user.wait_time import constant_throughput

DEFAULT_MESSAGES = Path(__file__).with_name("messages.yaml")


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument(
        "--messages",
        default=os.environ.get("KEFU_LOAD_MESSAGES", str(DEFAULT_MESSAGES)),
        help="YAML or JSON file of FAQ questions and flow scripts (see messages.yaml)",
    )
    parser.add_argument(
        "--user-rate",
        type=float,
        default=float(os.environ.get("KEFU_LOAD_USER_RATE", "2")),
        help="customer messages per second per user (constant throughput)",
    )
    parser.add_argument(
        "--summary-json",
        default="",
        include_in_web_ui=False,
        help="write message-level results here when Locust quits (for bench/load_test.py)",
    )
    parser.add_argument(
        "--identity-key",
        default=os.environ.get("KEFU_LOAD_IDENTITY_KEY", ""),
        include_in_web_ui=False,
        help="the server's KEFU_CUSTOMER_IDENTITY_KEY, to sign demo customer ids",
    )


class Traffic:
    """The messages file, loaded once per process and shared by every user."""

    _cache: ClassVar[dict[str, Traffic]] = {}

    def __init__(self, data: dict[str, Any]) -> None:
        self.languages = {str(k): float(v) for k, v in data.get("languages", {"zh": 1}).items()}
        low, high = data.get("conversation_messages", [3, 8])
        self.length = (int(low), int(high))
        self.faq_share = float(data.get("faq_share", 0.65))
        self.signed_share = float(data.get("signed_share", 0.0))
        self.faq: dict[str, list[str]] = data.get("faq", {})
        self.flows: dict[str, list[list[str]]] = data.get("flows", {})
        spec = data.get("customers", {})
        gen = spec.get("generated") or {}
        self.customers = list(spec.get("fixed", [])) + [
            f"{gen['prefix']}{gen['first'] + i}" for i in range(int(gen.get("count", 0)))
        ]
        for lang in self.languages:
            if not self.faq.get(lang) and not self.flows.get(lang):
                raise ValueError(f"messages file: no faq or flows for language {lang!r}")

    @classmethod
    def load(cls, path: str) -> Traffic:
        if path not in cls._cache:
            # JSON is YAML, so one loader reads both.
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
            cls._cache[path] = cls(data)
        return cls._cache[path]

    def language(self) -> str:
        langs = list(self.languages)
        return random.choices(langs, weights=[self.languages[lang] for lang in langs])[0]

    def conversation(self, lang: str) -> list[tuple[str, str]]:
        """(kind, text) for one conversation: FAQ questions and flow scripts, budget-capped."""
        budget = random.randint(*self.length)
        turns: list[tuple[str, str]] = []
        while len(turns) < budget:
            faqs, flows = self.faq.get(lang), self.flows.get(lang)
            if faqs and (not flows or random.random() < self.faq_share):
                turns.append(("faq", random.choice(faqs)))
            elif flows:
                turns.extend(("flow", text) for text in random.choice(flows))
        return turns[:budget]


class Customer(FastHttpUser):
    # Connections are per user (as separate customers' browsers would be), kept alive.
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.traffic = Traffic.load(options.messages if options else str(DEFAULT_MESSAGES))
        self.rate = float(options.user_rate) if options else 2.0
        self.key = (options.identity_key if options else "") or ""
        self.pending: list[tuple[str, str]] = []
        self.conversation: tuple[str, dict[str, str]] | None = None

    def wait_time(self) -> float:
        return constant_throughput(self.rate)(self)

    @task
    def chat(self) -> None:
        if not self.pending or self.conversation is None:
            self.begin_conversation()
            if self.conversation is None:
                return
        kind, text = self.pending.pop(0)
        conv_id, headers = self.conversation
        body = {"text": text, "client_message_id": uuid.uuid4().hex}
        with self.client.post(
            f"/v1/conversations/{conv_id}/messages",
            json=body,
            headers=headers,
            name=kind,
            catch_response=True,
        ) as res:
            if res.status_code != 201:
                res.failure(describe(res))
                self.pending = []  # a broken conversation: start afresh

    def begin_conversation(self) -> None:
        lang = self.traffic.language()
        body: dict[str, Any] = {"language": lang}
        if self.key and self.traffic.customers and random.random() < self.traffic.signed_share:
            external = random.choice(self.traffic.customers)
            sig = hmac.new(self.key.encode(), external.encode(), hashlib.sha256).hexdigest()
            body["customer"] = {"external_id": external, "signature": sig}
        self.conversation = None
        with self.client.post(
            "/v1/conversations", json=body, name="start", catch_response=True
        ) as res:
            if res.status_code not in (200, 201):
                res.failure(describe(res))
                return
            created = res.json()
        self.conversation = (created["id"], {"Authorization": f"Bearer {created['token']}"})
        self.pending = self.traffic.conversation(lang)


def describe(res: Any) -> str:
    """'HTTP 429 rate_limited': the status and kefu's error code, so failures group usefully."""
    code = ""
    try:
        code = str(res.json()["error"]["code"])
    except Exception:  # not kefu's JSON error (connection reset, proxy page...)
        code = (str(res.error) if getattr(res, "error", None) else "")[:80]
    return f"HTTP {res.status_code} {code}".strip()


@events.quitting.add_listener
def _summary(environment: Any, **_: Any) -> None:
    """Per kind and all customer messages together (Locust only aggregates every request,
    starts included), from the master's merged statistics."""
    options = environment.parsed_options
    if isinstance(environment.runner, WorkerRunner) or not options or not options.summary_json:
        return
    stats = environment.stats
    window = (stats.last_request_timestamp or 0) - stats.start_time
    entries = {name: stats.get(name, "POST") for name in ("start", "faq", "flow")}
    messages = StatsEntry(stats, "messages", "POST")
    messages.extend(entries["faq"])
    messages.extend(entries["flow"])
    out: dict[str, Any] = {"window_s": round(window, 2), "kinds": {}}
    for name, entry in [*entries.items(), ("messages", messages), ("all", stats.total)]:
        out["kinds"][name] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "per_s": round(entry.num_requests / window, 1) if window > 0 else 0.0,
            "avg_ms": round(entry.avg_response_time, 1),
            **{
                f"p{q}_ms": entry.get_response_time_percentile(q / 100)
                if entry.num_requests
                else None
                for q in (50, 95, 99)
            },
            "max_ms": entry.max_response_time,
        }
    out["errors"] = [
        {"name": e.name, "error": str(e.error), "count": e.occurrences}
        for e in stats.errors.values()
    ]
    Path(options.summary_json).write_text(json.dumps(out, indent=1), encoding="utf-8")
