"""PostgreSQL's hot path: prepared single statements, and the plain fallback for poolers."""

import time
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.utils import timezone

import durable
from durable import groupcommit, pgsql, prepared
from durable.context import RunContext
from durable.execution import execute
from durable.models import Checkpoint, Message, WorkflowRun
from durable.records import ClaimRequest
from durable.worker import Worker
from tests import workflows as w
from tests.durable.conftest import held_run, running_worker, wait_for, write_in_thread, writing_alone

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]


def _execute_here(handle) -> str:
    """Claim and execute the run on this thread's connection, as a worker thread does."""
    worker = Worker(concurrency=1)
    [run] = worker.claim(1)
    assert run.id == handle.id
    return execute(run, RunContext(run_id=run.id, owner=worker.id, checkpoints={})).kind


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_the_engine_prepares_its_statements_and_leaves_djangos_unprepared():
    handle = durable.start(w.three_steps)
    assert _execute_here(handle) == "succeeded"
    prepared = _prepared()
    assert any("INSERT INTO durable_workflowrun" in s for s in prepared), prepared  # the start
    assert any("INSERT INTO durable_checkpoint" in s for s in prepared), prepared  # each step
    assert any("UPDATE durable_workflowrun" in s for s in prepared), prepared  # the claim and the end
    assert not any("SELECT statement FROM pg_prepared_statements" in s for s in prepared)  # the ORM's


def test_the_batched_checkpoint_insert_is_planned_once_per_connection():
    # Planned anew on every execution, it cost the server more than running it.
    runs = [durable.start(w.three_steps).id for _ in range(4)]
    WorkflowRun.objects.filter(id__in=runs).update(status="RUNNING", lease_owner="me")
    now = timezone.now()
    for seq in range(20):
        batch = [
            (Checkpoint(run_id=r, seq=seq, kind="step", name="s", output="null", started_at=now, finished_at=now), "me")
            for r in runs[: 1 + seq % 4]
        ]
        assert pgsql.insert_checkpoints("default", batch) == [True] * len(batch)
    with connection.cursor() as cursor:
        cursor.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
                       ["%INSERT INTO durable_checkpoint%SELECT%FROM rows%"])  # fmt: skip
        [(generic, custom)] = cursor.fetchall()
    assert custom <= 5 and generic >= 15  # the server tries five custom plans before it settles
    assert Checkpoint.objects.filter(run_id=runs[3]).count() == 5


def test_parks_whose_statement_was_planned_on_empty_tables_are_still_woken():
    handles = [durable.start(w.collect, "t", 1) for _ in range(8)]
    worker = Worker(concurrency=1)
    for _ in handles:
        [run] = worker.claim(1)
        assert execute(run, RunContext(run_id=run.id, owner=worker.id, checkpoints={})).kind == "parked"
    assert WorkflowRun.objects.filter(status="WAITING", wait_topic="t").count() == 8
    durable.send(handles[3].id, "hello", topic="t")
    [woken] = worker.claim(1)
    assert woken.id == handles[3].id and woken.received_seq is not None


def test_a_runs_end_finds_its_waiters_by_index_when_most_waiting_runs_wait_on_one_topic():
    # With 2,000 runs waiting on "inbox" (the statistics say: one topic), a plan made for any topic
    # (a prepared statement's generic plan, which the server may keep) read every waiting run on
    # each run's end through the general waiting index: 95 ms a run at 100,000 waiting agents.
    one = durable.start(w.collect, "inbox", 1).id
    columns = [f.column for f in WorkflowRun._meta.concrete_fields]
    values = ", ".join(
        {"id": "id || '~' || k", "status": "'WAITING'", "wait_topic": "'inbox'"}.get(c, c) for c in columns
    )
    with connection.cursor() as cursor:
        copies = "FROM durable_workflowrun CROSS JOIN generate_series(1, 2000) AS k WHERE id = %s"
        cursor.execute(f"INSERT INTO durable_workflowrun ({', '.join(columns)}) SELECT {values} {copies}", [one])
        cursor.execute("ANALYZE durable_workflowrun")
        sql, order = prepared.numbered(
            f"WITH finished AS (SELECT 1), {pgsql._WAKE_WAITERS} SELECT count(*) FROM waiters"
        )
        cursor.execute(f"PREPARE end_waiters AS {sql}")
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        try:
            given = {"set_finished_at": timezone.now(), "end_topic": "durable.child:x", "channel": "c", "notify": False}
            cursor.execute(f"EXPLAIN EXECUTE end_waiters({', '.join(['%s'] * len(order))})", [given[k] for k in order])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET plan_cache_mode")
            cursor.execute("DEALLOCATE end_waiters")
    assert "durable_run_end_waiters_idx" in plan and "Seq Scan" not in plan, plan


def test_the_lease_check_of_a_step_finds_its_run_by_primary_key_with_a_plan_made_on_an_empty_table():
    # Through the partial index of RUNNING runs it would read every entry (and every dead one a
    # finished run left) on every step, for as long as the connection keeps the plan.
    assert not pgsql.held("default", "no-such-run", "me")  # prepared and planned now, tables empty
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE statement LIKE %s", ["SELECT EXISTS%CASE WHEN%"])
        [(name,)] = cursor.fetchall()
        cursor.execute(f"EXPLAIN EXECUTE {name}('no-such-run', 'me')")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "durable_workflowrun_pkey" in plan, plan


@override_settings(DURABLE_PREPARED_STATEMENTS=False)
def test_without_prepared_statements_nothing_is_prepared_and_runs_still_finish():
    handle = durable.start(w.three_steps)
    assert _execute_here(handle) == "succeeded"
    assert handle.result(timeout=5) == ["a", "b", "c"]
    assert _prepared() == []


@pytest.mark.parametrize("prepared", [True, False])
def test_buffered_and_parked_messages_arrive_either_way(prepared):
    with override_settings(DURABLE_PREPARED_STATEMENTS=prepared), running_worker():
        buffered = durable.start(w.collect, "t", 2)
        durable.send(buffered.id, "early", topic="t")
        parked = durable.start(w.collect, "t", 1)
        durable.send(buffered.id, "late", topic="t")
        assert buffered.result(timeout=10) == ["early", "late"]
        assert durable.send(parked.id, "once", topic="t", idempotency_key="k") is True
        assert durable.send(parked.id, "twice", topic="t", idempotency_key="k") is False
        assert parked.result(timeout=10) == ["once"]


def _queued(count: int) -> bool:
    return len(groupcommit.writer("default").queue) >= count


def test_checkpoints_written_at_the_same_moment_share_one_commit():
    first, *others = [held_run("me") for _ in range(4)]
    results: dict = {}
    with transaction.atomic():
        # Hold the first run's row so its checkpoint insert waits; the others queue meanwhile.
        WorkflowRun.objects.select_for_update().get(id=first)
        threads = [write_in_thread(first, 0, "me", results)]
        wait_for(writing_alone, what="the first checkpoint's write to start")
        threads += [write_in_thread(run_id, 0, "me", results) for run_id in others]
        wait_for(lambda: _queued(3), what="three queued checkpoints")
    for thread in threads:
        thread.join(timeout=10)
    assert results == dict.fromkeys([first, *others], True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT run_id, xmin::text FROM durable_checkpoint")  # the inserting transaction
        commits = dict(cursor.fetchall())
    assert commits[first] != commits[others[0]]
    assert commits[others[0]] == commits[others[1]] == commits[others[2]]


def test_in_a_shared_commit_only_the_run_taken_over_is_stopped():
    first, taken, lost, fine = [held_run("me") for _ in range(4)]
    Checkpoint.objects.create(run_id=taken, seq=0, kind="step", name="s", output="null")  # another worker's
    WorkflowRun.objects.filter(id=lost).update(lease_owner="someone else")
    results: dict = {}
    with transaction.atomic():
        WorkflowRun.objects.select_for_update().get(id=first)
        threads = [write_in_thread(first, 0, "me", results)]
        wait_for(writing_alone, what="the first checkpoint's write to start")
        threads += [write_in_thread(run_id, 0, "me", results) for run_id in (taken, lost, fine)]
        wait_for(lambda: _queued(3), what="three queued checkpoints")
    for thread in threads:
        thread.join(timeout=10)
    assert results[first] is True and results[fine] is True
    assert results[lost] is False  # recorded, but the run is no longer ours: record() stops it
    assert isinstance(results[taken], IntegrityError)
    assert Checkpoint.objects.filter(run_id=fine, seq=0).exists()


def test_a_three_step_run_costs_three_statements_and_its_end_leases_the_next_run(django_assert_num_queries):
    first, second = durable.start(w.three_steps), durable.start(w.three_steps)
    worker = Worker(concurrency=1)
    [run] = worker.claim(1)
    ctx = RunContext(run_id=run.id, owner=worker.id, checkpoints={})
    ctx.then = ClaimRequest(worker.id, timedelta(seconds=30), 1)
    ctx.confirmed_at = time.monotonic() + 60  # as just after the claim, however slow this machine is
    # The first two steps' checkpoints (each also checks for a cancel before the next step; the
    # claim just did before the first), and the third with the run's end and the next claim. The
    # inbox's run_finished receiver writes nothing: the run asked nobody.
    with django_assert_num_queries(3):
        outcome = execute(run, ctx)
    assert outcome.kind == "succeeded"
    assert [r.id for r in outcome.leased] == [second.id]
    assert first.result(timeout=1) == ["a", "b", "c"]
    assert list(Checkpoint.objects.filter(run_id=first.id).values_list("seq", flat=True)) == [0, 1, 2]
    leased = WorkflowRun.objects.get(id=second.id)
    assert (leased.status, leased.lease_owner) == ("RUNNING", worker.id)


def test_a_recv_that_parks_costs_one_statement_which_leases_the_next_run(django_assert_num_queries):
    first, second = durable.start(w.collect, "t", 1), durable.start(w.collect, "t", 1)
    worker = Worker(concurrency=1)
    [run] = worker.claim(1)
    ctx = RunContext(run_id=run.id, owner=worker.id, checkpoints={})
    ctx.then = ClaimRequest(worker.id, timedelta(seconds=30), 1)
    with django_assert_num_queries(1):  # no message: record the recv, park, lease the next run
        outcome = execute(run, ctx)
    assert outcome.kind == "parked"
    assert [r.id for r in outcome.leased] == [second.id]
    parked, leased = WorkflowRun.objects.get(id=first.id), WorkflowRun.objects.get(id=second.id)
    assert (parked.status, parked.wait_topic) == ("WAITING", "t")
    assert (leased.status, leased.lease_owner) == ("RUNNING", worker.id)


def test_the_engine_numbers_its_placeholders_once_per_statement_and_binds_them_by_name_or_position():
    long_padding = " " * 5000  # longer than psycopg's own cache of parsed statements takes
    named = f"SELECT %(a)s::int + %(b)s::int, %(a)s::text || '%%'{long_padding}"
    assert prepared.fetchone("default", named, {"b": 2, "a": 40, "unused": 0}) == (42, "40%")
    assert prepared.fetchone("default", "SELECT %s::int, %s::text", [1, "x"]) == (1, "x")
    before = prepared.numbered.cache_info().hits
    prepared.fetchone("default", named, {"a": 1, "b": 1})
    assert prepared.numbered.cache_info().hits == before + 1


def test_a_step_checks_for_a_cancel_when_nothing_confirmed_the_lease_just_before(django_assert_num_queries):
    durable.start(w.three_steps)
    worker = Worker(concurrency=1)
    [run] = worker.claim(1)
    ctx = RunContext(run_id=run.id, owner=worker.id, checkpoints={}, confirmed_at=0.0)
    with django_assert_num_queries(4):  # the lease check, then as above
        assert execute(run, ctx).kind == "succeeded"


def test_a_claim_takes_a_woken_runs_message_and_history_in_one_statement(django_assert_num_queries):
    handle = durable.start(w.collect, "t", 1)
    worker = Worker(concurrency=1)
    [run] = worker.claim(1)
    assert execute(run, RunContext(run_id=run.id, owner=worker.id, checkpoints={})).kind == "parked"
    durable.send(handle.id, "the answer", topic="t")
    with django_assert_num_queries(1):
        [woken] = worker.claim(1)
    recv = woken.history[0]
    assert (recv.kind, recv.finished_at is not None) == ("recv", True)
    assert Message.objects.get(destination_id=handle.id).consumed_at is not None
    # The replay finds the recv done: it returns the message without a query of its own.
    with django_assert_num_queries(1):  # the run's end (it asked nobody: no inbox statement)
        assert execute(woken, RunContext(run_id=woken.id, owner=worker.id, checkpoints={})).kind == "succeeded"
    assert handle.result(timeout=1) == ["the answer"]


def test_recvs_sharing_a_statement_find_their_runs_by_primary_key_with_a_plan_made_on_empty_tables():
    # A join of the asks with the run table, planned while it was small, would read the whole
    # table for every group of recvs for as long as the connection keeps the plan.
    sql, params = pgsql.receive_many_sql(ClaimRequest("me", timedelta(seconds=30), 1))
    params["asks"] = "[]"
    numbered, order = prepared.numbered(sql)
    with connection.cursor() as cursor:
        cursor.execute(f"PREPARE recvs AS {numbered}")
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        try:
            cursor.execute(f"EXPLAIN EXECUTE recvs({', '.join(['%s'] * len(order))})", [params[k] for k in order])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET plan_cache_mode")
            cursor.execute("DEALLOCATE recvs")
    assert "Seq Scan" not in plan, plan
    assert plan.count("durable_workflowrun_pkey") >= 3 and "durable_msg_pending_idx" in plan, plan


def test_a_workers_connections_plan_the_engines_statements_once_generically():
    # Left to choose, the server re-planned the claim at every execution whenever the statistics
    # (taken while nothing was enqueued) made its generic plan look dearer, and sorted the whole
    # backlog to pick a run: a 32-thread worker parked 1,120 runs/s instead of 2,620.
    Worker(concurrency=1)
    connection.close()  # the next connection is opened as a worker's threads open theirs
    assert not pgsql.held("default", "no-such-run", "me")
    assert not pgsql.held("default", "no-such-run", "me")
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "force_generic_plan"
        cursor.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
                       ["SELECT EXISTS%CASE WHEN%"])  # fmt: skip
        assert cursor.fetchall() == [(2, 0)]
