"""Benchmark of the admin console's knowledge work (issue 7): how long a save takes to be live,
and how long bulk files take, as the knowledge base grows.

    .venv/bin/python bench/knowledge_admin.py [--sizes 0,1000,5000] [--saves 5]
                                              [--file KB.csv|KB.xlsx|KB.yaml] [--json OUT]

For each size, a fresh SQLite database gets the bundled packs plus that many generated entries
(or, with --file, your own knowledge file imported once instead of generated ones). Measured,
in process through the real API (TestClient):
- save: `PUT /v1/admin/knowledge/{id}` -> 200, which includes rebuilding this process's bot, so
  the next customer message is answered with the change (median and max of --saves);
- export and import of the whole knowledge base as CSV, Excel and YAML (import of an unchanged
  export: parse, validate, compare).
The first start encodes every question with the sentence encoder (the vectors are stored), so
generated entries make the setup slow; only the steps above are timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from kefu.accounts import service as accounts
from kefu.accounts.permissions import AccountRole
from kefu.api.app import create_app
from kefu.config import Settings
from kefu.knowledge.pack import KnowledgePack
from kefu.knowledge.service import import_pack
from kefu.runtime import Runtime, prepare_database
from kefu.tenants.models import Tenant

PASSWORD = "correct horse battery"


def generated(n: int) -> KnowledgePack:
    return KnowledgePack.model_validate(
        {
            "pack": "bench",
            "entries": [
                {
                    "id": f"bench.e{i}",
                    "skill": "common",
                    "question": {
                        "zh": f"第{i}号网点的营业时间是几点到几点",
                        "en": f"what are the opening hours of outlet {i}",
                    },
                    "similar": {"zh": [f"{i}号网点几点开门"], "en": [f"when does outlet {i} open"]},
                    "answer": {"zh": f"{i}号网点九点开门。", "en": f"Outlet {i} opens at nine."},
                }
                for i in range(n)
            ],
        }
    )


def measure(size: int, saves: int, file: Path | None) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="kefu-bench-kb-"))
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=folder,
        database_url=f"sqlite:///{folder / 'kefu.db'}",
        rate_limit_ip="1000000/minute",
    )
    prepare_database(settings)
    runtime = Runtime.build(settings)
    try:
        with runtime.system_sessions.begin() as session:
            accounts.create_account(
                session, runtime.tenant.id, "bench", PASSWORD, AccountRole.ADMIN
            )
            if size and file is None:
                import_pack(session, session.get_one(Tenant, runtime.tenant.id), generated(size))
        client = TestClient(create_app(settings, runtime))
        login = client.post("/v1/auth/login", json={"username": "bench", "password": PASSWORD})
        headers = {"X-CSRF-Token": login.json()["csrf_token"]}
        if file is not None:
            res = client.post(
                f"/v1/admin/knowledge/import?filename={file.name}",
                content=file.read_bytes(),
                headers=headers,
            )
            if res.status_code != 200:
                sys.exit(f"{file}: {res.json()['error']['message']}")
        print(f"size {size}: encoding questions (setup, not timed)...", file=sys.stderr)
        runtime.conversations.bot.refresh(force=True)
        total = client.get("/v1/admin/knowledge?limit=1", headers=headers).json()["total"]
        entry = client.get("/v1/admin/knowledge?limit=1", headers=headers).json()["items"][0]
        timings = []
        for i in range(saves):
            body = {k: v for k, v in entry.items() if k not in ("pack", "version", "updated_at")}
            body["tags"] = [f"bench-{i}"]
            started = time.perf_counter()
            res = client.put(f"/v1/admin/knowledge/{entry['id']}", json=body, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            assert res.status_code == 200, res.text
        files: dict[str, Any] = {}
        for fmt in ("csv", "xlsx", "yaml"):
            started = time.perf_counter()
            res = client.get(f"/v1/admin/knowledge/export?format={fmt}", headers=headers)
            exported = time.perf_counter() - started
            started = time.perf_counter()
            back = client.post(
                f"/v1/admin/knowledge/import?filename=kb.{fmt}",
                content=res.content,
                headers=headers,
            )
            imported = time.perf_counter() - started
            assert back.status_code == 200, back.text
            files[fmt] = {
                "bytes": len(res.content),
                "export_s": round(exported, 2),
                "import_s": round(imported, 2),
            }
        return {
            "entries": total,
            "save_p50_ms": round(statistics.median(timings), 1),
            "save_max_ms": round(max(timings), 1),
            "files": files,
        }
    finally:
        runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,1000,5000", help="generated entries per run")
    parser.add_argument("--saves", type=int, default=5)
    parser.add_argument("--file", type=Path, help="your knowledge file instead of generated")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    sizes = [0] if args.file else [int(s) for s in args.sizes.split(",")]
    results = [measure(size, args.saves, args.file) for size in sizes]
    for r in results:
        files = ", ".join(
            f"{fmt} {f['export_s']} s / {f['import_s']} s" for fmt, f in r["files"].items()
        )
        print(
            f"{r['entries']:>6} entries: save live p50 {r['save_p50_ms']} ms "
            f"(max {r['save_max_ms']}); export / import {files}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
