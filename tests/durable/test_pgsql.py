"""PostgreSQL's hot path: prepared single statements, and the plain fallback for poolers."""

import pytest
from django.db import connection
from django.test import override_settings

import durable
from durable.context import RunContext
from durable.execution import execute
from durable.worker import Worker
from tests import workflows as w
from tests.durable.conftest import running_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]


def _execute_here(handle) -> str:
    """Claim and execute the run on this thread's connection, as a worker thread does."""
    worker = Worker(concurrency=1)
    [run] = worker.claim(1)
    assert run.id == handle.id
    return execute(run, RunContext(run_id=run.id, owner=worker.id, checkpoints={}))


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
