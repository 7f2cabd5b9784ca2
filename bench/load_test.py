"""Load test (issue 9): Locust customers against `kefu serve --workers N` on PostgreSQL + Redis.

    .venv/bin/python bench/load_test.py [--workers 2] [--users 100] [--rate 4] [--duration 60]
        [--soak] [--messages FILE] [--database-url URL] [--redis-url URL | --redis-db 3]
        [--compare-workers 1,2] [--locust-processes N] [--json OUT]

Each run gets a fresh PostgreSQL database (created on 127.0.0.1:5432 as user postgres and
dropped afterwards, unless --database-url names one) and a flushed Redis database (only the
number given, default 3 on 127.0.0.1:6379), starts `kefu serve` with N workers, then runs
Locust headless (bench/load/locustfile.py) for --duration seconds: --users customers, each
sending --rate messages per second (offered load = users x rate). While it runs, the server's
processes (master and workers) are sampled every few seconds for resident memory (RSS, and PSS,
which counts the pages the forked workers share once), and the CPU of the server, Locust,
PostgreSQL and Redis is measured, so a missed target names its bottleneck. Rate limits are
lifted: every simulated customer comes from 127.0.0.1.

Target (issue 9, 2-core machine): >= 400 customer messages/s at p95 <= 150 ms with 2 workers;
a 10-minute soak (--soak) with memory growth <= 5% after the first minute and zero errors.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from inspect import signature
from pathlib import Path
from typing import Any

import psutil
import redis
import yaml

from kefu.testing import Server

HERE = Path(__file__).resolve().parent
LOCUSTFILE = HERE / "load" / "locustfile.py"
TARGET_RATE, TARGET_P95_MS, TARGET_GROWTH_PCT = 400.0, 150.0, 5.0
# Every simulated customer shares one address: the per-IP and per-conversation limits would
# answer 429 to most of the load.
UNLIMITED = "1000000000/minute"


def machine() -> str:
    info = Path("/proc/cpuinfo").read_text()
    cpu = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if "model name" in ln), "")
    ram = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores, {cpu or platform.machine()}, {ram:.0f} GiB RAM, " + (
        f"Python {platform.python_version()}"
    )


def fresh_database(pg: str) -> tuple[str, str]:
    """createdb a uniquely named database; (its name, its SQLAlchemy URL)."""
    name = f"kefu_load_{os.getpid()}_{secrets.token_hex(3)}"
    host, port = pg.rsplit(":", 1)
    subprocess.run(["createdb", "-h", host, "-p", port, "-U", "postgres", name], check=True)
    return name, f"postgresql+psycopg://postgres@{pg}/{name}"


def drop_database(pg: str, name: str) -> None:
    host, port = pg.rsplit(":", 1)
    cmd = ["dropdb", "--if-exists", "--force", "-h", host, "-p", port, "-U", "postgres", name]
    subprocess.run(cmd, check=False)


def check_messages(path: Path) -> None:
    """Fail before the server starts, not in every Locust user, on a broken messages file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not (data.get("faq") or data.get("flows")):
        raise SystemExit(f"{path}: expected a mapping with faq and/or flows (see messages.yaml)")
    for lang, scripts in (data.get("flows") or {}).items():
        for script in scripts:
            if not isinstance(script, list) or not all(isinstance(t, str) for t in script):
                raise SystemExit(f"{path}: flows.{lang}: each script is a list of texts")


class Cpu:
    """CPU seconds of a changing set of processes since `start`: processes that appear later
    count from zero, and one that exits keeps what it had used at the last look."""

    def __init__(self, find: Callable[[], list[psutil.Process]]) -> None:
        self.find = find
        self.base: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def look(self) -> None:
        for p in self.find():
            try:
                t = p.cpu_times()
            except psutil.Error:  # gone between listing and reading
                continue
            self.last[p.pid] = t.user + t.system

    def start(self) -> None:
        self.look()
        self.base = dict(self.last)

    def used(self) -> float:
        return sum(v - self.base.get(pid, 0.0) for pid, v in self.last.items())


def named(*names: str) -> Callable[[], list[psutil.Process]]:
    """Every process with one of these names, whoever runs it (/proc/PID/stat is readable)."""

    def find() -> list[psutil.Process]:
        procs = psutil.process_iter(["name"])
        return [p for p in procs if (p.info["name"] or "").startswith(names)]

    return find


class Sampler(threading.Thread):
    """Memory of the server's process tree, and CPU of it and of PostgreSQL and Redis, every
    `every` seconds."""

    def __init__(self, root: psutil.Process, every: float) -> None:
        super().__init__(daemon=True)
        self.root, self.every = root, every
        # Looked at on every sample, so short-lived PostgreSQL backends are mostly counted.
        self.cpu = {
            "server": Cpu(self.tree),
            "postgres": Cpu(named("postgres")),
            "redis": Cpu(named("redis-server")),
        }
        self.samples: list[dict[str, Any]] = []
        self.done = threading.Event()
        self.started = time.monotonic()

    def tree(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return []

    def sample(self) -> dict[str, Any]:
        for cpu in self.cpu.values():
            cpu.look()
        each: list[float] = []
        pss = 0.0
        procs = self.tree()
        for p in procs:
            try:
                mem = p.memory_full_info()  # PSS needs smaps: our own processes only
                each.append(round(mem.rss / 2**20, 1))
                pss += mem.pss
            except psutil.Error:
                pass
        row: dict[str, Any] = {
            "t": round(time.monotonic() - self.started, 1),
            "rss_mb": round(sum(each), 1),
            "pss_mb": round(pss / 2**20, 1),
            "processes": len(procs),
            "rss_each_mb": each,  # the master (or the only process) first
        }
        self.samples.append(row)
        return row

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.sample()


def run_once(args: argparse.Namespace, workers: int, data_dir: Path) -> dict[str, Any]:
    own_db = args.database_url is None
    db_name, db_url = fresh_database(args.pg) if own_db else ("", args.database_url)
    redis_url = args.redis_url or f"redis://127.0.0.1:6379/{args.redis_db}"
    if redis.Redis.from_url(redis_url).connection_pool.connection_kwargs.get("host") not in (
        "127.0.0.1",
        "localhost",
        "::1",
    ):
        raise SystemExit(f"refusing to flush a Redis that is not on this machine: {redis_url}")
    redis.Redis.from_url(redis_url).flushdb()  # that database number only
    key = secrets.token_hex(32)
    # The harness passes --workers itself where it knows the option (it overrides the env).
    per_server = {"workers": workers} if "workers" in signature(Server).parameters else {}
    server = Server(
        data_dir,
        **per_server,  # type: ignore[arg-type]
        KEFU_DATABASE_URL=db_url,
        KEFU_REDIS_URL=redis_url,
        KEFU_WORKERS=str(workers),
        KEFU_TRAIN_ON_START="true",  # flows need the intent model; trained on the first run
        KEFU_RATE_LIMIT_IP=UNLIMITED,
        KEFU_RATE_LIMIT_CUSTOMER=UNLIMITED,
        KEFU_CUSTOMER_IDENTITY_KEY=key,
    )
    out_dir = args.out_dir / f"w{workers}"
    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"workers": workers, "users": args.users, "rate": args.rate}
    try:
        result["start_to_ready_s"] = round(server.start(timeout=300), 1)
        assert server.proc is not None
        root = psutil.Process(server.proc.pid)
        sampler = Sampler(root, args.sample_every)
        procs = sampler.tree()
        deadline = time.monotonic() + 60
        while len(procs) < workers + (workers > 1) and time.monotonic() < deadline:
            time.sleep(0.5)  # ready when the first worker answers; the others may still fork
            procs = sampler.tree()
        result["server_processes"] = len(procs)
        if workers > 1 and len(procs) < workers + 1:
            raise SystemExit(
                f"asked for {workers} workers but the server runs {len(procs)} process(es): "
                "does this kefu have `kefu serve --workers`?"
            )
        for cpu in sampler.cpu.values():
            cpu.start()
        first = sampler.sample()
        locust_before, system_before = _children_cpu(), psutil.cpu_times()
        sampler.start()
        started = time.monotonic()
        locust_log = out_dir / "locust.log"
        with locust_log.open("w") as log:
            code = subprocess.run(
                locust_command(args, server.url, out_dir, key),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=args.duration + 180,
                check=False,
            ).returncode
        wall = time.monotonic() - started
        sampler.done.set()
        sampler.join()
        last = sampler.sample()
        system = psutil.cpu_times()
        busy = sum(system) - system.idle - (sum(system_before) - system_before.idle)
        used = {name: c.used() for name, c in sampler.cpu.items()}
        used["locust"] = _children_cpu() - locust_before
        # Cores used on average (2.0 = both cores of this machine busy all the time).
        result["cores_used"] = {k: round(v / wall, 2) for k, v in used.items()}
        result["cores_used"]["whole machine"] = round(busy / wall, 2)
        summary_path = out_dir / "summary.json"
        if not summary_path.exists():
            raise RuntimeError(f"locust exited {code} without results: see {locust_log}")
        result.update(json.loads(summary_path.read_text()))
        if not result["kinds"]["all"]["requests"]:
            tail = locust_log.read_text()[-3000:]
            raise RuntimeError(f"locust sent nothing (exit {code}):\n{tail}")
        result["locust_exit"] = code
        # Cost per request (starts included), whatever the contention: what sizing needs.
        requests = max(1, result["kinds"]["all"]["requests"])
        window = result["window_s"] / wall  # the stats cover the run after the ramp only
        result["cpu_ms_per_request"] = {
            k: round(1000 * v * window / requests, 2) for k, v in used.items()
        }
        result["memory"] = memory(sampler.samples, first, last, args)
        result["samples"] = sampler.samples
    finally:
        server.stop()
        redis.Redis.from_url(redis_url).flushdb()  # leave the database number as found: empty
        if own_db:
            drop_database(args.pg, db_name)
    return result


def _children_cpu() -> float:
    """CPU of this script's finished children: the Locust run (and its --processes workers)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def locust_command(args: argparse.Namespace, url: str, out: Path, key: str) -> list[str]:
    spawn = args.spawn_rate or max(1.0, args.users / 10)  # about 10 s of ramp, then stats reset
    cmd = [
        *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"),
        *("-u", str(args.users), "-r", str(spawn), "-t", f"{args.duration}s"),
        *("--host", url, "--csv", str(out / "locust"), "--reset-stats", "--only-summary"),
        *("--stop-timeout", "10", "--loglevel", "WARNING"),
        *("--messages", str(args.messages), "--user-rate", str(args.rate)),
        *("--identity-key", key, "--summary-json", str(out / "summary.json")),
    ]
    if args.locust_processes > 1:
        cmd += ["--processes", str(args.locust_processes)]
    return cmd


def memory(
    samples: list[dict[str, Any]],
    first: dict[str, Any],
    last: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """RSS at start and end; growth from the end of warm-up (the first minute of a soak, when
    caches and pools fill) to the end, or from the start for a short run."""
    base = first
    if args.soak:
        warm = [s for s in samples if s["t"] >= args.warmup]
        base = warm[0] if warm else first
    return {
        "rss_start_mb": first["rss_mb"],
        "rss_base_mb": base["rss_mb"],
        "rss_end_mb": last["rss_mb"],
        "pss_end_mb": last["pss_mb"],
        "rss_max_mb": max(s["rss_mb"] for s in [*samples, last]),
        "rss_each_end_mb": last["rss_each_mb"],
        "growth_from": "warm-up end" if base is not first else "start",
        "growth_pct": round(100 * (last["rss_mb"] - base["rss_mb"]) / base["rss_mb"], 2),
        "pss_growth_pct": round(100 * (last["pss_mb"] - base["pss_mb"]) / base["pss_mb"], 2),
    }


def verdict(r: dict[str, Any], args: argparse.Namespace) -> list[str]:
    msgs = r["kinds"]["messages"]
    misses = []
    if msgs["per_s"] < TARGET_RATE:
        misses.append(f"{msgs['per_s']} msgs/s < {TARGET_RATE:.0f}")
    if (msgs["p95_ms"] or 0) > TARGET_P95_MS:
        misses.append(f"p95 {msgs['p95_ms']} ms > {TARGET_P95_MS:.0f}")
    if args.soak and r["memory"]["growth_pct"] > TARGET_GROWTH_PCT:
        misses.append(f"memory +{r['memory']['growth_pct']}% > {TARGET_GROWTH_PCT:.0f}%")
    errors = r["kinds"]["all"]["failures"]
    if errors:
        misses.append(f"{errors} errors")
    return misses


def show(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    cols = [f"{r['workers']} worker(s)" for r in results]
    rows: list[tuple[str, list[str]]] = [
        ("offered msgs/s", [f"{r['users'] * r['rate']:.0f}" for r in results]),
        ("achieved msgs/s", [str(r["kinds"]["messages"]["per_s"]) for r in results]),
        ("measured window s", [str(r["window_s"]) for r in results]),
    ]
    for kind in ("messages", "faq", "flow", "start", "all"):
        rows.append(
            (
                f"{kind} n / p50 / p95 / p99 ms",
                [
                    "{requests} / {p50_ms} / {p95_ms} / {p99_ms}".format(**r["kinds"][kind])
                    for r in results
                ],
            )
        )
    rows.append(("errors", [str(r["kinds"]["all"]["failures"]) for r in results]))
    for r in results:
        for e in r["errors"]:
            print(f"  {r['workers']} worker(s): {e['count']} x {e['name']}: {e['error']}")
    mem = [r["memory"] for r in results]
    rows += [
        ("server processes", [str(r["server_processes"]) for r in results]),
        ("RSS start / end MB", [f"{m['rss_start_mb']} / {m['rss_end_mb']}" for m in mem]),
        ("PSS end MB", [str(m["pss_end_mb"]) for m in mem]),
        ("RSS each process end MB", [" + ".join(map(str, m["rss_each_end_mb"])) for m in mem]),
        (
            "RSS growth %",
            [f"{m['growth_pct']} (from {m['growth_from']}: {m['rss_base_mb']})" for m in mem],
        ),
    ]
    for part in ("server", "locust", "postgres", "redis", "whole machine"):
        rows.append((f"cores used: {part}", [str(r["cores_used"][part]) for r in results]))
    rows.append(
        ("server CPU ms / request", [str(r["cpu_ms_per_request"]["server"]) for r in results])
    )
    rows.append(("missed targets", ["; ".join(verdict(r, args)) or "none" for r in results]))
    width = max(len(name) for name, _ in rows)
    print(f"{'':<{width}}  " + "  ".join(f"{c:>28}" for c in cols))
    for name, values in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{v:>28}" for v in values))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="server processes (1 or 2...)")
    parser.add_argument("--compare-workers", help="comma-separated worker counts, e.g. 1,2")
    parser.add_argument("--users", type=int, default=100, help="simulated customers")
    parser.add_argument("--rate", type=float, default=4.0, help="messages/s per customer")
    parser.add_argument("--spawn-rate", type=float, help="users started per second")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument(
        "--soak", action="store_true", help="long run (600 s unless --duration): memory growth"
    )
    parser.add_argument("--warmup", type=float, default=60, help="soak: seconds before baseline")
    parser.add_argument("--sample-every", type=float, default=5, help="memory sampling, s")
    parser.add_argument("--messages", type=Path, default=HERE / "load" / "messages.yaml")
    parser.add_argument("--database-url", help="use this database (not created or dropped)")
    parser.add_argument("--pg", default="127.0.0.1:5432", help="PostgreSQL for createdb")
    parser.add_argument("--redis-url", help="default redis://127.0.0.1:6379/<--redis-db>")
    parser.add_argument("--redis-db", type=int, default=3, help="Redis db number (flushed)")
    parser.add_argument("--locust-processes", type=int, default=1, help="Locust processes")
    parser.add_argument(
        "--data-dir", type=Path, help="kefu data dir to reuse (trained models), default: temp"
    )
    parser.add_argument("--out-dir", type=Path, help="Locust CSVs and logs (default: temp)")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    check_messages(args.messages)
    if args.soak and "--duration" not in sys.argv:
        args.duration = 600
    counts = (
        [int(n) for n in args.compare_workers.split(",")]
        if args.compare_workers
        else [args.workers]
    )
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "load_before": os.getloadavg(),
        "command": " ".join(sys.argv),
    }
    with tempfile.TemporaryDirectory(prefix="kefu-load-") as tmp:
        args.out_dir = args.out_dir or Path(tmp) / "out"
        # One data dir for every run: the intent model is trained once, on the first start.
        data_dir = args.data_dir or Path(tmp) / "var"
        results = [run_once(args, n, data_dir) for n in counts]
    report["results"] = results
    print(f"{report['date']}  {report['machine']}  load before: {report['load_before']}")
    show(results, args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 1 if any(verdict(r, args) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
