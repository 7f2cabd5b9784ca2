"""Run a real `kefu serve` in a subprocess: for integration tests and benchmarks (kefu's own and
an operator's)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(
        self, data_dir: Path, port: int | None = None, workers: int = 1, **env: str
    ) -> None:
        self.data_dir = data_dir
        self.workers = workers
        self.port = port or free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KEFU_")},
            "KEFU_DATA_DIR": str(data_dir),
            "KEFU_PORT": str(self.port),
            # Servers under test start in seconds; tests that need intents train them.
            "KEFU_TRAIN_ON_START": "false",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> float:
        """Start and wait for /readyz; return seconds from launch to ready."""
        started = time.perf_counter()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        log_start = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kefu", "serve", "--workers", str(self.workers)],
                env=self.env,
                stdout=log,
                stderr=log,
            )
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as res:
                    if res.status == 200 and self._workers_started(log_start):
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"server not ready in {timeout}s: {self.log.read_text()[-2000:]}")

    def _workers_started(self, log_start: int) -> bool:
        """All workers have finished starting (one answering /readyz isn't all of them)."""
        if self.workers == 1:
            return True
        with self.log.open("rb") as log:
            log.seek(log_start)
            return log.read().count(b"Application startup complete") >= self.workers

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run `kefu ARGS` against this server's data (same environment)."""
        return subprocess.run(
            [sys.executable, "-m", "kefu", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def rss_mb(self) -> float:
        """Resident memory of the server process, from /proc (Linux)."""
        assert self.proc is not None
        return _rss_mb(self.proc.pid)

    def worker_pids(self, timeout: float = 30) -> list[int]:
        """The worker processes serving requests: the server itself with one worker, else the
        master's children, once all `workers` are up (a killed one is replaced)."""
        assert self.proc is not None
        if self.workers == 1:
            return [self.proc.pid]
        deadline = time.perf_counter() + timeout
        while True:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            pids = [int(p) for p in children.read_text().split()]
            if len(pids) >= self.workers or time.perf_counter() > deadline:
                return pids
            time.sleep(0.05)

    def rss_total_mb(self) -> float:
        """Resident memory of the server and all its workers."""
        assert self.proc is not None
        return sum(_rss_mb(pid) for pid in {self.proc.pid, *self.worker_pids()})

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it hasn't exited within `timeout` seconds."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return kb / 1024
