"""Shared fixtures: an in-process worker, real worker subprocesses, and the test database URL."""

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection, connections

from durable.testing import WorkerProcesses
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


@pytest.fixture
def worker_processes(transactional_db, tmp_path) -> Iterator[WorkerProcesses]:
    procs = WorkerProcesses(test_database_url(), tmp_path, ROOT)
    yield procs
    procs.stop_all()
    connections.close_all()


@pytest.fixture
def postgres_only() -> None:
    if not is_postgres():
        pytest.skip("needs PostgreSQL (run with DATABASE_URL=postgres://...)")
