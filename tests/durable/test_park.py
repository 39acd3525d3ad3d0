"""A recv's park on PostgreSQL is one statement whose snapshot predates its row lock: a send
that commits while the park waits for that lock must still be seen, or its wake-up is lost."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

import durable
from durable import store
from durable.models import Checkpoint, WorkflowRun
from tests import workflows as w
from tests.durable.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]


def _held_run(owner: str) -> str:
    handle = durable.start(w.collect, "t", 1)
    WorkflowRun.objects.filter(id=handle.id).update(status="RUNNING", lease_owner=owner)
    return handle.id


def _park_waiting_on_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction sees its first look again
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%%WITH seen AS%%'"
        )
        return bool(cursor.fetchone()[0])


def test_a_park_that_waited_for_a_sends_lock_sees_its_message_and_does_not_park():
    run_id = _held_run("me")
    pending = Checkpoint(run_id=run_id, seq=0, kind="recv", name="t", started_at=timezone.now())
    outcome: dict = {}

    def park() -> None:
        try:
            ready = store.MessagesPending(run_id, "t")
            outcome["parked"] = store.park(run_id, "me", "t", timezone.now() + timedelta(hours=1), ready, None, pending)
        finally:
            connection.close()

    thread = threading.Thread(target=park)
    with transaction.atomic():
        assert store.deliver(run_id, "t", '"hello"', None, sender="") is True  # holds the run's row lock
        thread.start()
        wait_for(_park_waiting_on_lock, what="the park statement to wait for the send's row lock")
    thread.join(timeout=30)
    assert outcome == {"parked": False}  # the message is there: the recv takes it instead of parking
    run = WorkflowRun.objects.get(id=run_id)
    assert (run.status, run.lease_owner) == ("RUNNING", "me")
    assert not Checkpoint.objects.filter(run_id=run_id).exists()


def test_a_park_with_nothing_pending_records_the_recv_and_waits():
    run_id = _held_run("me")
    pending = Checkpoint(run_id=run_id, seq=0, kind="recv", name="t", started_at=timezone.now())
    deadline = timezone.now() + timedelta(hours=1)
    assert store.park(run_id, "me", "t", deadline, store.MessagesPending(run_id, "t"), None, pending) is True
    run = WorkflowRun.objects.get(id=run_id)
    assert (run.status, run.wait_topic, run.lease_owner, run.ready_at) == ("WAITING", "t", "", deadline)
    recorded = Checkpoint.objects.get(run_id=run_id, seq=0)
    assert (recorded.pk, recorded.kind, recorded.finished_at) == (pending.pk, "recv", None)
