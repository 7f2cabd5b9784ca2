"""Fixtures for fault tests: a private redis-server and a private PostgreSQL cluster that a
test may stop and start again on the same port, and kefu scaled out over them.

Never the shared services: tests here kill things. A missing redis-server or PostgreSQL binary
skips locally and fails under CI=true (tests/conftest.py's `service_missing`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from kefu.testing import Server, free_port, stop_process
from tests.conftest import service_missing

# Fault tests are about recovery, not abuse protection: every client here comes from 127.0.0.1.
UNLIMITED = {"KEFU_RATE_LIMIT_IP": "1000000/minute", "KEFU_RATE_LIMIT_CUSTOMER": "1000000/minute"}


class RedisServer:
    """`redis-server` without persistence, stoppable and restartable on the same port."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary, self.workdir = binary, workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"redis-{self.port}.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        command += ["--dir", str(self.workdir)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited: {self.log.read_text()[-1000:]}")
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return
                time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise TimeoutError(f"redis-server not up in {timeout}s: {self.log.read_text()[-1000:]}")

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        service_missing("redis-server", "no redis-server binary on PATH")
        raise AssertionError("unreachable")  # service_missing fails or skips
    server = RedisServer(binary, tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if found:
        return Path(found[-1])
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class PostgresCluster:
    """A throwaway cluster (initdb, trust auth) in a temp dir, on its own port. PostgreSQL
    refuses to run as root, so as root the commands run as the `postgres` OS user."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        # Not under pytest's tmp_path: that is root's, mode 0700, out of the postgres user's reach.
        self.root = Path(tempfile.mkdtemp(prefix="kefu-pg-"))
        self.data = self.root / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [*self.as_user, *command], capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode:
            raise RuntimeError(f"{command[0]} failed: {(done.stderr or done.stdout)[-1500:]}")

    def init(self) -> None:
        initdb = str(self.bindir / "initdb")
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg_ctl = str(self.bindir / "pg_ctl")
        log = str(self.root / "postgres.log")
        self._run(pg_ctl, "-D", str(self.data), "-o", options, "-l", log, "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        pg_ctl = str(self.bindir / "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PostgresCluster]:
    """For tests that stop and start PostgreSQL: never the shared server."""
    bindir = _postgres_bin()
    if bindir is None or not (bindir / "initdb").exists():
        service_missing("PostgreSQL binaries", "no initdb/pg_ctl under /usr/lib/postgresql/*/bin")
        raise AssertionError("unreachable")
    cluster = PostgresCluster(bindir)
    try:
        try:
            cluster.init()
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
            service_missing("private PostgreSQL cluster", str(exc).strip().splitlines()[0])
        yield cluster
    finally:
        cluster.destroy()


class Deployment:
    """kefu scaled out over one database and one Redis: `kefu serve --workers N` (a gunicorn
    master that replaces a worker that dies)."""

    def __init__(self, data_dir: Path, env: dict[str, str], workers: int = 2) -> None:
        self.server = Server(data_dir, port=None, workers=workers, **{**UNLIMITED, **env})

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.server.start(timeout=90)

    def worker_pids(self) -> list[int]:
        return self.server.worker_pids()

    def kill_worker(self) -> int:
        """SIGKILL one worker (no cleanup at all, as in a crash or an OOM kill); its pid."""
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[Callable[..., Deployment]]:
    """`deploy(env)` starts a Deployment; every one is stopped when the test ends."""
    made: list[Deployment] = []

    def make(env: dict[str, str], workers: int = 2) -> Deployment:
        deployment = Deployment(tmp_path / "var", env, workers)
        made.append(deployment)
        deployment.start()
        return deployment

    yield make
    for deployment in made:
        deployment.stop()
