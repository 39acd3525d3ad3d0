"""A recv on PostgreSQL takes its message or parks in one statement whose snapshot predates its
row lock: a send that commits while the recv waits for that lock must still be seen, or its
wake-up is lost."""

import os
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

import durable
from durable import groupcommit, pgsql, store
from durable.models import Checkpoint, Message, WorkflowRun
from durable.records import ClaimRequest
from tests import workflows as w
from tests.durable.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]


def _held_run(owner: str) -> str:
    handle = durable.start(w.collect, "t", 1)
    until = timezone.now() + timedelta(hours=1)  # a lease that has not run out
    WorkflowRun.objects.filter(id=handle.id).update(status="RUNNING", lease_owner=owner, ready_at=until)
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


def _while_a_send_holds_the_lock(run_id: str, receive: Callable[[], Any]) -> Any:
    """What ``receive`` returns, called in a thread of its own while a send to ``run_id`` holds
    the run's row lock, until it waits for that lock."""
    outcome: dict = {}

    def call() -> None:
        try:
            outcome["value"] = receive()
        finally:
            connection.close()

    thread = threading.Thread(target=call)
    with transaction.atomic():
        assert store.deliver(run_id, "t", '"hello"', None, sender="") is True  # holds the run's row lock
        thread.start()
        wait_for(_park_waiting_on_lock, what="the recv statement to wait for the send's row lock")
    thread.join(timeout=30)
    return outcome["value"]


def test_a_recv_that_waited_for_a_sends_lock_takes_its_message_and_does_not_park():
    run_id = _held_run("me")
    pending = _pending(run_id)
    received = _while_a_send_holds_the_lock(run_id, lambda: store.receive(pending, "me", pending.deadline))
    assert received.body == '"hello"' and not received.parked
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


# --- several threads' recvs in one statement (groupcommit.Receiver, pgsql.receive_many) -------

LEASE = ClaimRequest("me", timedelta(seconds=30), 1, takeover=False)  # a look for dead workers' runs goes alone


def _saved_pending(run_id: str) -> Checkpoint:
    """The recv's checkpoint as a run woken by its deadline and replayed has it: saved, pending."""
    pending = _pending(run_id)
    pending.save()
    return pending


def test_recvs_in_one_statement_each_take_their_message_or_park_and_only_the_parked_lease_a_run():
    with_message, parks, with_pending_message, parks_again, not_ours = [_held_run("me") for _ in range(4)] + [
        _held_run("someone else")
    ]
    store.deliver(with_message, "t", '"one"', None, sender="")
    store.deliver(with_pending_message, "t", '"two"', None, sender="")
    enqueued = [durable.start(w.collect, "t", 1).id for _ in range(3)]
    cps = [_pending(with_message), _pending(parks), _saved_pending(with_pending_message),
           _saved_pending(parks_again), _pending(not_ours)]  # fmt: skip
    asks = [pgsql.Ask(cp, "me", cp.deadline) for cp in cps]

    outcomes = pgsql.receive_many("default", asks, then=LEASE)

    took, parked, took_pending, parked_again, nothing = outcomes
    assert (took.body, took.parked, took.leased) == ('"one"', False, ())
    assert (took_pending.body, took_pending.parked, took_pending.leased) == ('"two"', False, ())
    assert nothing is None
    assert parked.parked and parked_again.parked
    leased = [r.id for r in parked.leased + parked_again.leased]
    assert len(leased) == 2 and set(leased) < set(enqueued)  # one each; the third is left enqueued
    statuses = dict(WorkflowRun.objects.values_list("id", "status"))
    assert [statuses[r] for r in (with_message, parks, with_pending_message, parks_again, not_ours)] == [
        "RUNNING", "WAITING", "RUNNING", "WAITING", "RUNNING"
    ]  # fmt: skip
    assert sorted(statuses[r] for r in enqueued) == ["ENQUEUED", "RUNNING", "RUNNING"]
    recorded = {c.run_id: c for c in Checkpoint.objects.filter(seq=0)}
    assert (recorded[with_message].output, recorded[with_message].pk) == ('"one"', cps[0].pk)
    assert (recorded[with_pending_message].output, recorded[with_pending_message].pk) == ('"two"', cps[2].pk)
    assert recorded[parks].finished_at is None and recorded[parks].pk == cps[1].pk
    assert recorded[parks_again].finished_at is None
    assert not_ours not in recorded
    consumed = dict(Message.objects.values_list("destination_id", "consumed_seq"))
    assert consumed == {with_message: 0, with_pending_message: 0}


@pytest.mark.skipif(
    os.environ.get("DATABASE_ISOLATION") == "serializable",
    reason="under SERIALIZABLE isolation this test's own send transaction may fail at commit (a pivot)",
)
def test_recvs_sharing_a_statement_do_not_wait_for_a_run_whose_row_a_send_holds():
    # A send in a caller's transaction holds the run's row until that transaction ends: the
    # shared statement skips that run (its thread runs the recv again alone, which waits)
    # rather than hold up the other threads' recvs, and the group's next statements, meanwhile.
    sent_to, other = _held_run("me"), _held_run("me")
    asks = [pgsql.Ask(cp, "me", cp.deadline) for cp in (_pending(sent_to), _pending(other))]
    outcome: dict = {}

    def receive() -> None:
        try:
            outcome["many"] = pgsql.receive_many("default", asks)
        finally:
            connection.close()

    with transaction.atomic():
        assert store.deliver(sent_to, "t", '"hello"', None, sender="") is True  # holds the run's row lock
        thread = threading.Thread(target=receive)
        thread.start()
        thread.join(timeout=30)
        busy, parked = outcome["many"]  # returned while the send's transaction is still open
    assert isinstance(busy, pgsql.Busy) and parked.parked
    assert WorkflowRun.objects.get(id=other).status == "WAITING"
    assert WorkflowRun.objects.get(id=sent_to).status == "RUNNING"
    assert not Checkpoint.objects.filter(run_id=sent_to).exists()  # nothing written for it
    received = store.receive(asks[0].cp, "me", asks[0].deadline)  # the thread's next try, alone
    assert received.body == '"hello"' and not received.parked


def test_recvs_made_while_one_is_in_flight_park_in_one_commit_and_each_leases_its_next_run():
    first, *others = [_held_run("me") for _ in range(4)]
    following = {durable.start(w.collect, "t", 1).id for _ in range(4)}
    results: dict = {}

    def receive(run_id: str) -> None:
        cp = _pending(run_id)
        try:
            results[run_id] = store.receive(cp, "me", cp.deadline, then=LEASE)
        finally:
            connection.close()

    receiver = groupcommit.receiver("default")
    with transaction.atomic():
        # Hold the first run's row so its recv waits; the others queue behind it meanwhile.
        WorkflowRun.objects.select_for_update().get(id=first)
        threads = [threading.Thread(target=receive, args=(first,))]
        threads[0].start()
        wait_for(_park_waiting_on_lock, what="the first recv to wait for the run's row lock")
        threads += [threading.Thread(target=receive, args=(run_id,)) for run_id in others]
        for thread in threads[1:]:
            thread.start()
        wait_for(lambda: len(receiver.queue) >= 3, what="three queued recvs")
    for thread in threads:
        thread.join(timeout=30)
    assert all(results[r].parked for r in [first, *others])
    assert {r.id for result in results.values() for r in result.leased} == following
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, xmin::text FROM durable_workflowrun WHERE status = 'WAITING'")
        commits = dict(cursor.fetchall())
    assert commits[first] != commits[others[0]]
    assert commits[others[0]] == commits[others[1]] == commits[others[2]]


def test_when_one_kind_of_recvs_statement_fails_the_recvs_of_another_that_committed_keep_their_outcome(
    monkeypatch,
):
    # Recvs that lease a next run and recvs that do not share no statement: two statements, one
    # after the other. Had the second's failure reached the first's threads, they would have
    # tried again a recv that had committed: with its message taken, the retry parked the run
    # for a message already consumed, and it waited for ever (seen under SERIALIZABLE isolation).
    took, parks = _held_run("me"), _held_run("me")
    store.deliver(took, "t", '"hello"', None, sender="")
    real = pgsql.receive_many

    def second_fails(alias, asks, then=None):
        if then is None:
            raise OperationalError("could not serialize access due to concurrent update")
        return real(alias, asks, then)

    monkeypatch.setattr(pgsql, "receive_many", second_fails)
    asks = [groupcommit._Receive(pgsql.Ask(cp, "me", cp.deadline), then)
            for cp, then in ((_pending(took), LEASE), (_pending(parks), None))]  # fmt: skip
    received, failed = groupcommit.receiver("default")._execute(asks)
    assert (received.body, received.parked) == ('"hello"', False)
    assert isinstance(failed, OperationalError)
    assert WorkflowRun.objects.get(id=parks).status == "RUNNING"  # nothing written: its thread tries again


def test_a_recv_that_looks_for_a_dead_workers_runs_does_not_wait_for_the_group():
    # Such a look reads a dead index entry for each run parked since the last vacuum: tens of
    # milliseconds at 100,000, which every recv queued behind it would wait for.
    blocked, looks = _held_run("me"), _held_run("me")
    results: dict = {}

    def receive(run_id: str, then: ClaimRequest) -> None:
        cp = _pending(run_id)
        try:
            results[run_id] = store.receive(cp, "me", cp.deadline, then=then)
        finally:
            connection.close()

    with transaction.atomic():
        WorkflowRun.objects.select_for_update().get(id=blocked)
        first = threading.Thread(target=receive, args=(blocked, LEASE))
        first.start()
        wait_for(_park_waiting_on_lock, what="the group's recv to wait for the run's row lock")
        second = threading.Thread(target=receive, args=(looks, ClaimRequest("me", timedelta(seconds=30), 1)))
        second.start()
        second.join(timeout=30)
        assert results[looks].parked and blocked not in results  # done while the group's is still blocked
    first.join(timeout=30)
    assert results[blocked].parked
