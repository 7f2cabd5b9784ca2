"""Benchmark of the analytics API (issue 8): how fast every dashboard call answers over a
large history, through a real `kefu serve` on loopback.

    .venv/bin/python bench/analytics_api.py --database-url URL
        [--simulate 150000 --days 30 --seed 7] [--rounds 20] [--json OUT]

With --simulate, `kefu demo simulate` first writes that many conversations through the real
pipeline into the database (slow: it is the pipeline, turn by turn); without it the database's
own history is measured, so you can point it at a copy of yours. Then the rollups are brought
up to date (`kefu analytics refresh`, timed) and every dashboard endpoint is called --rounds
times in three shapes (the default 30 days, the whole history, and filtered by skill and
language); p50 and p95 per endpoint are printed, with the row counts of the tables read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from sqlalchemy import func, select

from kefu.accounts import service as accounts
from kefu.accounts.permissions import AccountRole
from kefu.analytics.models import ConversationFact, TurnFact
from kefu.config import Settings
from kefu.conversations.models import Conversation, Message
from kefu.db.engine import make_session_factory
from kefu.runtime import open_engine, prepare_database
from kefu.testing import Server

PASSWORD = "correct horse battery"
ENDPOINTS = [
    "summary",
    "volume?by=day",
    "volume?by=hour",
    "trend",
    "handoff-reasons",
    "satisfaction",
    "intents?kind=intent",
    "intents?kind=faq",
    "flows",
    "flow-steps?flow={flow}",
    "conversations?reason=human_request",
    "conversations?day={last}",
    "gaps",
    "hot-topics",
]


def run(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kefu", *cmd], env=env, check=True)
    return time.perf_counter() - started


def counts(url: str, data_dir: Path) -> dict[str, Any]:
    settings = Settings(_env_file=None, database_url=url, data_dir=data_dir)
    engine = open_engine(settings)
    try:
        with make_session_factory(engine, system=True)() as session:
            first = session.scalar(select(func.min(ConversationFact.local_day)))
            last = session.scalar(select(func.max(ConversationFact.local_day)))
            flow = session.scalar(
                select(ConversationFact.flow)
                .where(ConversationFact.flow.is_not(None))
                .group_by(ConversationFact.flow)
                .order_by(func.count().desc())
                .limit(1)
            )
            return {
                "conversations": session.scalar(select(func.count()).select_from(Conversation)),
                "messages": session.scalar(select(func.count()).select_from(Message)),
                "conversation_facts": session.scalar(
                    select(func.count()).select_from(ConversationFact)
                ),
                "turn_facts": session.scalar(select(func.count()).select_from(TurnFact)),
                "first_day": first,
                "last_day": last,
                "flow": flow or "bike.report_broken",
            }
    finally:
        engine.dispose()


def account(url: str, data_dir: Path) -> None:
    settings = Settings(_env_file=None, database_url=url, data_dir=data_dir)
    engine = open_engine(settings)
    try:
        with make_session_factory(engine, system=True).begin() as session:
            from kefu.tenants.service import ensure_tenant

            tid = ensure_tenant(session, settings.tenant).id
            if not accounts.account_exists(session, tid, "bench-analyst"):
                accounts.create_account(
                    session, tid, "bench-analyst", PASSWORD, AccountRole.ANALYST
                )
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--simulate", type=int, default=0, help="conversations to simulate first")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=8, help="simulator threads")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="kefu-bench-analytics-"))
    server = Server(
        data_dir,
        KEFU_DATABASE_URL=args.database_url,
        KEFU_RATE_LIMIT_IP="1000000/minute",
        KEFU_ANALYTICS_REFRESH_SECONDS="0",
        KEFU_RETENTION_INTERVAL_MINUTES="0",
    )
    env = server.env
    prepare_database(Settings(_env_file=None, database_url=args.database_url, data_dir=data_dir))
    timings: dict[str, Any] = {}
    if args.simulate:
        print("training the intent model (realistic traffic needs it)...", file=sys.stderr)
        run(["train"], env)
        print(f"simulating {args.simulate} conversations...", file=sys.stderr)
        timings["simulate_s"] = round(
            run(
                [
                    "demo",
                    "simulate",
                    "--conversations",
                    str(args.simulate),
                    "--days",
                    str(args.days),
                    "--seed",
                    str(args.seed),
                    "--workers",
                    str(args.workers),
                ],
                env,
            ),
            1,
        )
    timings["refresh_full_s"] = round(run(["analytics", "refresh", "--full"], env), 2)
    timings["refresh_incremental_s"] = round(run(["analytics", "refresh"], env), 2)
    sizes = counts(args.database_url, data_dir)
    account(args.database_url, data_dir)
    first, last = sizes["first_day"] or date.today(), sizes["last_day"] or date.today()
    shapes = {
        "30 days": {"until": last.isoformat()},
        "all": {"since": first.isoformat(), "until": last.isoformat()},
        "bike+zh": {"until": last.isoformat(), "skill": "bike", "language": "zh"},
    }
    server.start(timeout=120)
    results: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            login = client.post(
                "/v1/auth/login", json={"username": "bench-analyst", "password": PASSWORD}
            )
            login.raise_for_status()
            for shape, shape_params in shapes.items():
                for name in ENDPOINTS:
                    endpoint, _, query = name.format(flow=sizes["flow"], last=last).partition("?")
                    path = "/v1/analytics/" + endpoint
                    params = {**shape_params, **dict(parse_qsl(query))}
                    started = time.perf_counter()
                    client.get(path, params=params).raise_for_status()  # first: caches warm
                    first_ms = (time.perf_counter() - started) * 1000
                    spent = []
                    for _ in range(args.rounds):
                        started = time.perf_counter()
                        res = client.get(path, params=params)
                        spent.append((time.perf_counter() - started) * 1000)
                        res.raise_for_status()
                    spent.sort()
                    results.append(
                        {
                            "shape": shape,
                            "endpoint": name.split("?")[0]
                            + ("?" + name.split("?")[1] if "?" in name else ""),
                            "first_ms": round(first_ms, 1),
                            "p50_ms": round(statistics.median(spent), 1),
                            "p95_ms": round(spent[max(0, int(len(spent) * 0.95) - 1)], 1),
                        }
                    )
    finally:
        server.stop()
    report = {**{k: str(v) for k, v in sizes.items()}, **timings, "results": results}
    worst = max(results, key=lambda r: r["p95_ms"])
    print(json.dumps({k: v for k, v in report.items() if k != "results"}, indent=1))
    print(f"{'shape':<9} {'endpoint':<36} {'first ms':>9} {'p50 ms':>8} {'p95 ms':>8}")
    for r in results:
        print(
            f"{r['shape']:<9} {r['endpoint']:<36} {r['first_ms']:>9} {r['p50_ms']:>8} "
            f"{r['p95_ms']:>8}"
        )
    print(f"worst p95: {worst['p95_ms']} ms ({worst['shape']}, {worst['endpoint']})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
