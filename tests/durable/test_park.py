"""A recv on PostgreSQL takes its message or parks in one statement whose snapshot predates its
row lock: a send that commits while the recv waits for that lock must still be seen, or its
wake-up is lost."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

import durable
from durable import store
from durable.models import Checkpoint, Message, WorkflowRun
from durable.records import ClaimRequest
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
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%%ctid AS tid%%'"
        )
        return bool(cursor.fetchone()[0])


def _pending(run_id: str) -> Checkpoint:
    deadline = timezone.now() + timedelta(hours=1)
    return Checkpoint(run_id=run_id, seq=0, kind="recv", name="t", started_at=timezone.now(), deadline=deadline)


def test_a_recv_that_waited_for_a_sends_lock_takes_its_message_and_does_not_park():
    run_id = _held_run("me")
    pending = _pending(run_id)
    outcome: dict = {}

    def receive() -> None:
        try:
            outcome["received"] = store.receive(pending, "me", pending.deadline)
        finally:
            connection.close()

    thread = threading.Thread(target=receive)
    with transaction.atomic():
        assert store.deliver(run_id, "t", '"hello"', None, sender="") is True  # holds the run's row lock
        thread.start()
        wait_for(_park_waiting_on_lock, what="the recv statement to wait for the send's row lock")
    thread.join(timeout=30)
    assert outcome["received"].body == '"hello"' and not outcome["received"].parked
    run = WorkflowRun.objects.get(id=run_id)
    assert (run.status, run.lease_owner) == ("RUNNING", "me")
    recorded = Checkpoint.objects.get(run_id=run_id, seq=0)
    assert (recorded.pk, recorded.output, recorded.finished_at is not None) == (pending.pk, '"hello"', True)
    assert Message.objects.get(destination_id=run_id).consumed_seq == 0


def test_a_recv_with_nothing_pending_records_itself_waits_and_leases_the_next_run():
    run_id, following = _held_run("me"), durable.start(w.collect, "t", 1).id
    pending = _pending(run_id)
    received = store.receive(pending, "me", pending.deadline, then=ClaimRequest("me", timedelta(seconds=30), 1))
    assert received.parked and [r.id for r in received.leased] == [following]
    run = WorkflowRun.objects.get(id=run_id)
    assert (run.status, run.wait_topic, run.lease_owner, run.ready_at) == ("WAITING", "t", "", pending.deadline)
    recorded = Checkpoint.objects.get(run_id=run_id, seq=0)
    assert (recorded.pk, recorded.kind, recorded.finished_at) == (pending.pk, "recv", None)
    leased = WorkflowRun.objects.get(id=following)
    assert (leased.status, leased.lease_owner) == ("RUNNING", "me")


def test_a_recv_that_takes_its_message_leases_nothing():
    run_id, other = _held_run("me"), durable.start(w.collect, "t", 1).id
    store.deliver(run_id, "t", '"hello"', None, sender="")
    pending = _pending(run_id)
    received = store.receive(pending, "me", pending.deadline, then=ClaimRequest("me", timedelta(seconds=30), 1))
    assert (received.body, received.parked, received.leased) == ('"hello"', False, ())
    assert WorkflowRun.objects.get(id=other).status == "ENQUEUED"


def test_a_recv_on_a_run_no_longer_held_writes_nothing():
    run_id = _held_run("someone else")
    with pytest.raises(store.NotHeld):
        store.receive(_pending(run_id), "me", None)
    assert WorkflowRun.objects.get(id=run_id).status == "RUNNING"
    assert not Checkpoint.objects.filter(run_id=run_id).exists()
