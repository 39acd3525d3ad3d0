"""The worker process: draining on SIGTERM, recovery after SIGKILL, sharing work, wake-ups."""

import os
import signal
import time

import pytest
from django.db import transaction
from django.test import override_settings

import durable
from durable.models import WorkflowRun
from durable.notify import APPLICATION_NAME
from tests import workflows as w
from tests.durable.conftest import run_of, running_worker, wait_for, wait_started, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_sigterm_finishes_the_current_step_hands_the_run_back_and_exits_cleanly(worker_processes, ledger):
    draining = worker_processes.start(lease=60)  # a long lease: only a hand-back lets another worker take over
    handle = durable.start(w.gated, "gate")
    wait_for(lambda: f"{handle.id}:b:start" in w.ledger_lines(), what="step b to start")
    draining.send_signal(signal.SIGTERM)
    # Open the gate once the worker has taken the signal (it logs that after marking its runs
    # to stop): opened first, step b could end and step c start before the handler ran. Before
    # the handler marked them itself, the mark waited for the main loop, and under load step c
    # began in between (seen in CI).
    wait_for(lambda: "received SIGTERM" in worker_processes.logs(), what="the worker to take the SIGTERM")
    w.set_flag("gate")
    assert draining.wait(timeout=30) == 0
    run = run_of(handle)
    assert run.status == "ENQUEUED" and run.lease_owner == ""

    worker_processes.start(lease=60)
    assert handle.result(timeout=20) == ["a", "b", "c"]
    assert w.ledger_lines(handle.id) == [
        f"{handle.id}:a",
        f"{handle.id}:b:start",
        f"{handle.id}:b:end",  # the step in flight finished before the worker left: not repeated
        f"{handle.id}:c",  # run by the second worker
    ]
    assert run_of(handle).recovery_attempts == 0


def test_sigterm_on_an_idle_worker_exits_at_once(worker_processes):
    proc = worker_processes.start()
    wait_started(worker_processes)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert time.monotonic() - started < 10


def test_a_killed_worker_loses_its_lease_and_another_worker_finishes_its_runs(worker_processes, ledger):
    victim = worker_processes.start(concurrency=4, lease=1.0)
    handles = [durable.start(w.gated, "gate") for _ in range(4)]
    wait_for(lambda: len(w.ledger_lines()) == 8, what="the victim to be inside step b of all four runs")
    assert WorkflowRun.objects.filter(status="RUNNING", lease_owner__contains=f":{victim.pid}:").count() == 4
    worker_processes.kill(victim)

    rescuer = worker_processes.start(concurrency=4, lease=1.0)
    wait_for(
        lambda: WorkflowRun.objects.filter(status="RUNNING", lease_owner__contains=f":{rescuer.pid}:").count() == 4,
        20,
        "the rescuer to take over all four runs once their leases ran out",
    )
    w.set_flag("gate")
    for h in handles:
        assert h.result(timeout=20) == ["a", "b", "c"]
        assert w.ledger_lines(h.id) == [f"{h.id}:a", f"{h.id}:b:start", f"{h.id}:b:start", f"{h.id}:b:end", f"{h.id}:c"]
        assert run_of(h).recovery_attempts == 1
    assert "recovering workflow run" in worker_processes.logs()


def test_two_worker_processes_share_the_work(postgres_only, worker_processes, ledger):
    worker_processes.start(concurrency=2)
    worker_processes.start(concurrency=2)
    wait_started(worker_processes, 2)
    handles = [durable.start(w.busy_run, f"job{i}", 0.2) for i in range(12)]
    for h in handles:
        h.result(timeout=30)
    pids = {line.split()[2] for line in w.ledger_lines("start ")}
    assert pids == {str(p.pid) for p in worker_processes.procs}
    assert len(w.ledger_lines("start ")) == 12, "a run was executed twice"


POLL = 30.0  # only a notification can explain a reaction within half of it


def test_listen_notify_wakes_a_parked_run_promptly(notify_on, worker_processes):
    worker_processes.start(poll=POLL, lease=120.0)
    wait_started(worker_processes)
    assert durable.start(w.adder, 1, 1).result(timeout=40) == 2  # warm-up: LISTEN is surely up now

    started = time.monotonic()
    handle = durable.start(w.parks, "wake")
    wait_status(handle, "WAITING", timeout=5)
    sent = time.monotonic()
    durable.send(handle.id, "now", topic="wake")
    assert handle.result(timeout=POLL / 2) == "now"
    assert sent - started < POLL / 2, "the run was claimed by a poll, not woken by a notification"
    assert "LISTEN/NOTIFY" in worker_processes.logs()


def _listening_backends():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(  # this test's database only: the server is shared with other runs and projects
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()",
            [APPLICATION_NAME],
        )
        return {pid for (pid,) in cursor.fetchall()}


def test_a_worker_whose_listen_connection_dies_listens_again(notify_on, worker_processes):
    worker_processes.start(poll=POLL, lease=120.0)
    wait_started(worker_processes)
    assert durable.start(w.adder, 1, 1).result(timeout=40) == 2
    (first,) = wait_for(_listening_backends, what="the worker's LISTEN connection")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [first])
    wait_for(lambda: _listening_backends() - {first}, 20, "the worker to LISTEN on a new connection")

    assert durable.start(w.adder, 2, 3).result(timeout=POLL / 2) == 5  # woken, not polled
    assert "LISTEN connection lost" in worker_processes.logs()


@override_settings(DURABLE_USE_NOTIFY=False)
def test_polling_wakes_a_parked_run_without_notifications():
    with running_worker(poll_interval=0.2) as worker:
        assert not worker.use_notify
        handle = durable.start(w.parks, "wake")
        wait_status(handle, "WAITING")
        durable.send(handle.id, "polled", topic="wake")
        assert handle.result(timeout=10) == "polled"  # notify is off: only the poll can have woken it


def test_a_worker_subprocess_polls_on_sqlite(worker_processes):
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("SQLite only: PostgreSQL workers use LISTEN/NOTIFY")
    worker_processes.start(poll=0.2)
    handle = durable.start(w.parks, "wake")
    wait_status(handle, "WAITING")
    durable.send(handle.id, "polled", topic="wake")
    assert handle.result(timeout=10) == "polled"
    assert "polling every 0.2s" in worker_processes.logs()


def test_a_run_whose_workflow_cannot_be_imported_fails_with_a_clear_error(worker):
    with transaction.atomic():  # the worker must not see the run before it is renamed
        handle = durable.start(w.adder, 1, 1)
        WorkflowRun.objects.filter(id=handle.id).update(
            name="tests.workflows.renamed", target="tests.workflows:renamed"
        )
    run = wait_status(handle, "ERROR")
    assert "Cannot import workflow tests.workflows.renamed" in run.error_message
    assert "durable.workflow(name=...)" in run.error_message
