"""Shared fixtures: an in-process worker, real worker subprocesses, and the test database URL."""

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection, connections

from durable.worker import Worker

ROOT = Path(__file__).resolve().parent.parent
(ROOT / "var").mkdir(exist_ok=True)  # the SQLite test database lives there (settings.py)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def test_database_url() -> str:
    """A DATABASE_URL that points a subprocess at the database this test uses."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s["USER"] or ""
    auth = f"{user}:{s['PASSWORD']}@" if s["PASSWORD"] else (f"{user}@" if user else "")
    return f"postgres://{auth}{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def worker(transactional_db) -> Iterator[Worker]:
    """A worker running in a thread of the test process (fast polling), stopped after the test."""
    w = Worker(concurrency=8, poll_interval=0.05, lease_seconds=5)
    thread = threading.Thread(target=w.run, name="test-worker", daemon=True)
    thread.start()
    yield w
    w.stop()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the in-process worker did not stop"
    connections.close_all()


@pytest.fixture
def ledger(tmp_path, monkeypatch) -> Path:
    """A side-effect ledger file that sample workflow steps append to (in-process and subprocess)."""
    path = tmp_path / "ledger.txt"
    path.touch()
    monkeypatch.setenv("DURABLE_TEST_LEDGER", str(path))
    return path


class WorkerProcesses:
    """Starts ``manage.py durable_worker`` subprocesses against the test database."""

    def __init__(self, log_dir: Path) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log_dir = log_dir

    def start(
        self, *extra: str, concurrency: int = 8, poll: float = 0.1, lease: float = 3.0
    ) -> subprocess.Popen[bytes]:
        env = {**os.environ, "DATABASE_URL": test_database_url(), "PYTHONUNBUFFERED": "1"}
        log = (self.log_dir / f"worker-{len(self.procs)}.log").open("wb")
        cmd = [
            sys.executable,
            "manage.py",
            "durable_worker",
            f"--concurrency={concurrency}",
            f"--poll-interval={poll}",
            f"--lease={lease}",
            *extra,
        ]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log")))


@pytest.fixture
def worker_processes(transactional_db, tmp_path) -> Iterator[WorkerProcesses]:
    procs = WorkerProcesses(tmp_path)
    yield procs
    procs.stop_all()
    connections.close_all()


@pytest.fixture
def postgres_only() -> None:
    if not is_postgres():
        pytest.skip("needs PostgreSQL (run with DATABASE_URL=postgres://...)")
