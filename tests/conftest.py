"""Shared fixtures and helpers: an in-process worker, real worker subprocesses, the test database
URL, polling with a deadline, and the inbox's request and decision as the tests build them."""

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import OperationalError, connection, connections
from django.urls import reverse
from django.utils import timezone

from durable import serialization
from durable.models import Status, WorkflowRun
from durable.testing import WorkerProcesses
from durable.worker import Worker
from inbox.models import INBOX_TOPIC, Request, RequestStatus

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


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell that the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def worker_processes(request, transactional_db, tmp_path) -> Iterator[WorkerProcesses]:
    procs = WorkerProcesses(test_database_url(), tmp_path, ROOT)
    yield procs
    procs.stop_all()
    connections.close_all()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:  # the workers' side of the story, in the failure's output
        print(f"--- worker logs (last 20,000 characters) ---\n{procs.logs()[-20000:]}")


def retried(fn):
    """A test's own read or transaction, run again if told to: under SERIALIZABLE isolation
    (CockroachDB mode) even a lone SELECT can fail with SQLSTATE 40001, as user code must expect."""
    from durable.faults import retry_rolled_back

    return retry_rolled_back("default", fn)


@pytest.fixture
def postgres_only() -> None:
    if not is_postgres():
        pytest.skip("needs PostgreSQL (run with DATABASE_URL=postgres://...)")


@pytest.fixture
def notify_on(postgres_only) -> None:
    """For tests of LISTEN/NOTIFY itself: skipped where it is off (CockroachDB mode, DURABLE_USE_NOTIFY=0)."""
    from durable.conf import get_settings

    if not get_settings().notify_enabled:
        pytest.skip("LISTEN/NOTIFY is off (DURABLE_USE_NOTIFY=0, as on CockroachDB)")


def wait_for(predicate, timeout: float = 15.0, what: str = "the condition", interval: float = 0.02):
    """Poll ``predicate`` until it returns something truthy and return that; fail naming ``what``
    after ``timeout`` seconds. The deadline is a bound for a failing test, not a speed claim."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except OperationalError as error:
            # A read that lost a serialization conflict (CockroachDB mode, SQLSTATE 40001) is
            # retried, as CockroachDB's clients must: the test's poll is such a client.
            if getattr(error.__cause__, "sqlstate", None) != "40001":
                raise
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


HTMX = {"HTTP_HX_REQUEST": "true"}


def post_decision(client, req, choice=None, htmx=False, **fields):
    """POST to the decide endpoint as the inbox's form does: the choice, the digest of what the
    reviewer was shown, and any other fields (``reason``, ``response``, ``arguments_json``)."""
    body = {"shown": req.shown_digest()} | ({"choice": choice} if choice is not None else {}) | fields
    return client.post(reverse("inbox:decide", args=[req.id]), body, **(HTMX if htmx else {}))


def build_request(status=RequestStatus.OPEN, run_status=Status.WAITING, deadline=timedelta(hours=1), **fields):
    """A request and its run, as ``inbox.ask`` and the engine leave them (real rows, no worker)."""
    run = WorkflowRun.objects.create(
        name=fields.pop("agent", "tests.inbox.workflows.asker"),
        target="tests.inbox.workflows:asker",
        inputs=serialization.dumps(([], {})),
        status=run_status,
        wait_topic=INBOX_TOPIC if run_status == Status.WAITING else None,
    )
    values = {
        "title": "Refund 10 EUR?",
        "body_markdown": "The customer is **unhappy**.",
        "action": "issue_refund",
        "arguments": {"amount": 10, "currency": "EUR", "express": False, "tags": ["a"]},
        "choices": ["approve", "reject", "edit", "respond"],
        "deadline": None if deadline is None else timezone.now() + deadline,
    } | fields
    run.wait_until = values["deadline"]
    run.save()
    return Request.objects.create(id=uuid.uuid4(), run=run, agent=run.name, status=status, **values)
