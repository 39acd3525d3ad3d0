"""Scheduled workflows (#15) against real worker processes on both databases: one run per tick
however many workers fire it, the tick's time as its argument, missed ticks started once on a
worker's return (or skipped, by option), and the admin's list of schedules."""

import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from django.urls import reverse
from django.utils import timezone

from durable import schedules
from durable.models import WorkflowRun
from durable.schedules import Schedule, scheduled
from tests import workflows as w
from tests.durable.conftest import wait_for, wait_started

pytestmark = [pytest.mark.django_db(transaction=True)]

EVERY_SECOND = "tests.durable.scheduled_workflows.every_second"
NO_CATCH_UP = "tests.durable.scheduled_workflows.every_second_no_catch_up"


@pytest.fixture
def schedule_workers(worker_processes, ledger, monkeypatch):
    """Workers that import the scheduled samples (this test process does not, so that its own
    in-process workers in other tests never fire them)."""
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "tests.durable.schedule_settings")
    return worker_processes


def ticks_of(name, status=None):
    runs = WorkflowRun.objects.filter(name=name)
    if status:
        runs = runs.filter(status=status)
    return sorted(run.args[0] for run in runs)


def assert_one_run_per_second(ticks):
    assert ticks == [ticks[0] + timedelta(seconds=i) for i in range(len(ticks))]


@pytest.mark.slow
def test_each_tick_starts_one_run_across_two_workers(schedule_workers):
    for _ in range(2):
        schedule_workers.start(concurrency=4, poll=0.05, lease=30)
    wait_started(schedule_workers, 2)
    wait_for(lambda: len(ticks_of(EVERY_SECOND, "SUCCESS")) >= 4, 30, "four ticks' runs to finish")
    schedule_workers.stop_all()
    runs = WorkflowRun.objects.filter(name=EVERY_SECOND)
    for run in runs:  # the id is derived from the tick, which is the run's one argument
        assert run.id == f"durable.scheduled:{EVERY_SECOND}:{run.args[0]:%Y-%m-%dT%H:%M:%SZ}"
        assert run.args[0].tzinfo is not None and run.args[0].microsecond == 0
    assert_one_run_per_second(ticks_of(EVERY_SECOND))
    executed = Counter(line.split(":", 1)[1] for line in w.ledger_lines("durable.scheduled:" + EVERY_SECOND))
    assert executed and set(executed.values()) == {1}  # each tick's step ran once, on one worker


@pytest.mark.slow
def test_missed_ticks_are_started_once_on_return_unless_skipped(schedule_workers):
    schedule_workers.start(concurrency=4, poll=0.05, lease=30)
    wait_for(lambda: len(ticks_of(EVERY_SECOND)) >= 2 and ticks_of(NO_CATCH_UP), 30, "the first ticks")
    schedule_workers.stop_all()
    stopped = timezone.now()
    wait_for(lambda: timezone.now() > stopped + timedelta(seconds=3), 10, "three ticks to pass with no worker")
    schedule_workers.start(concurrency=4, poll=0.05, lease=30)
    wait_for(lambda: ticks_of(NO_CATCH_UP)[-1] > stopped + timedelta(seconds=3), 30, "a tick after the return")
    schedule_workers.stop_all()
    assert_one_run_per_second(ticks_of(EVERY_SECOND))  # the missed ticks too, once each
    skipped = ticks_of(NO_CATCH_UP)
    gaps = [later - earlier for earlier, later in pairwise(skipped)]
    assert max(gaps) >= timedelta(seconds=3)  # the ticks missed while no worker ran were skipped


def test_a_schedule_names_its_ticks_and_refuses_a_bad_cron():
    schedule = Schedule(w.adder, "*/15 * * * *", catch_up=True)
    start = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    assert list(schedule.ticks(start, start + timedelta(minutes=40))) == [
        datetime(2026, 1, 1, 0, minute, tzinfo=UTC) for minute in (15, 30)
    ]
    tick = datetime(2026, 1, 1, 0, 15, tzinfo=UTC)
    assert schedule.tick_of(schedule.run_id(tick)) == tick
    with pytest.raises(ValueError, match="is not a cron expression"):
        scheduled("every tuesday")


def test_the_admin_lists_schedules_and_their_next_tick(admin_client, settings, monkeypatch):
    # The page imports the schedules into this process: keep them out of later tests' workers.
    monkeypatch.setattr(schedules, "_schedules", {})
    monkeypatch.delitem(sys.modules, "tests.durable.scheduled_workflows", raising=False)
    settings.DURABLE_IMPORTS = ["tests.durable.scheduled_workflows"]
    page = admin_client.get(reverse("admin:durable_workflowrun_schedules"))
    assert page.status_code == 200
    text = page.content.decode()
    assert EVERY_SECOND in text and "<code>* * * * * *</code>" in text and "skipped" in text
    assert (
        reverse("admin:durable_workflowrun_schedules")
        in admin_client.get(reverse("admin:durable_workflowrun_changelist")).content.decode()
    )
