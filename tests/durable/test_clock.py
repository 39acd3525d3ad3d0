"""durable.sleep (a persisted wake time) and durable.now (the same value on replay)."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

import durable
from durable.models import Checkpoint
from tests import workflows as w
from tests.durable.conftest import running_worker, wait_for, wait_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_sleep_parks_the_run_until_its_persisted_wake_time(worker):
    started = time.monotonic()
    before = timezone.now()
    handle = durable.start(w.sleeper, 1.0)
    run = wait_status(handle, "WAITING")
    assert run.wait_topic is None
    assert before + timedelta(seconds=1) <= run.wait_until <= timezone.now() + timedelta(seconds=1)
    assert run.ready_at == run.wait_until
    wait_for(lambda: not worker.inflight, what="the worker to let go of the sleeping run")
    cp = Checkpoint.objects.get(run_id=handle.id, kind="sleep")
    assert cp.deadline == run.wait_until and cp.finished_at is None

    slept = float(handle.result(timeout=10))
    assert slept >= 1.0
    assert time.monotonic() - started >= 1.0
    cp.refresh_from_db()
    assert cp.finished_at >= cp.deadline


def test_a_wake_time_that_passed_while_no_worker_ran_wakes_the_run_once_a_worker_starts():
    with running_worker():
        handle = durable.start(w.sleeper, 0.5)
        run = wait_status(handle, "WAITING")
    wait_for(lambda: timezone.now() > run.wait_until, what="the wake time to pass")
    assert handle.status() == "WAITING"
    with running_worker():
        assert float(handle.result(timeout=10)) >= 0.5


def test_sleep_accepts_a_timedelta_and_rejects_other_types():
    assert durable.messaging.seconds(timedelta(minutes=2)) == 120.0
    with pytest.raises(TypeError, match=r"timedelta or a number of seconds"):
        durable.messaging.seconds("5")


def test_sleep_outside_a_workflow_raises():
    with pytest.raises(durable.NotInWorkflow, match=r"durable.sleep"):
        durable.sleep(1)


def test_now_returns_the_recorded_value_on_replay(worker):
    handle = durable.start(w.remembers_now)
    wait_status(handle, "WAITING")
    recorded = Checkpoint.objects.get(run_id=handle.id, seq=0)
    assert recorded.kind == "now"
    sent_at = timezone.now()
    durable.send(handle.id, "go", topic="go")  # replays from the top, through durable.now()
    first = handle.result(timeout=10)
    assert first < sent_at, "durable.now() was evaluated again on replay"
    assert first == recorded.finished_at or abs((first - recorded.started_at).total_seconds()) < 1


def test_now_outside_a_workflow_is_the_wall_clock():
    assert abs((durable.now() - timezone.now()).total_seconds()) < 1
