"""Introspection: list_workflows and the WorkflowRun queryset, as one indexed query."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

import durable
from durable.models import WorkflowRun
from tests import workflows as w
from tests.durable.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def parked(worker):
    """Runs parked on topic "inbox" with deadlines in 300, 100, 200 s and none, plus others."""
    runs = {
        "inbox-300": durable.start(w.collect, "inbox", 1, timeout=300),
        "inbox-100": durable.start(w.collect, "inbox", 1, timeout=100),
        "inbox-200": durable.start(w.collect, "inbox", 1, timeout=200),
        "inbox-forever": durable.start(w.collect, "inbox", 1, timeout=None),
        "other-50": durable.start(w.collect, "other", 1, timeout=50),
        "sleep-150": durable.start(w.sleeper, 150),
    }
    ids = [h.id for h in runs.values()]
    wait_for(lambda: WorkflowRun.objects.filter(id__in=ids, status="WAITING").count() == len(ids), what="all to park")
    runs["done"] = durable.start(w.adder, 1, 1)
    runs["done"].result(timeout=10)
    return {label: h.id for label, h in runs.items()}


def labels(parked, ids):
    by_id = {v: k for k, v in parked.items()}
    return [by_id[i] for i in ids]


def test_waiting_on_a_topic_lists_the_soonest_deadline_first(parked):
    qs = WorkflowRun.objects.waiting(topic="inbox")
    assert labels(parked, qs.values_list("id", flat=True)) == ["inbox-100", "inbox-200", "inbox-300", "inbox-forever"]
    run = qs.first()
    assert run.wait_topic == "inbox"
    assert timezone.now() + timedelta(seconds=90) < run.wait_until < timezone.now() + timedelta(seconds=101)


def test_waiting_without_a_topic_includes_sleeps(parked):
    ids = WorkflowRun.objects.waiting().values_list("id", flat=True)
    assert labels(parked, ids) == ["other-50", "inbox-100", "sleep-150", "inbox-200", "inbox-300", "inbox-forever"]


def test_list_workflows_filters_by_status_name_and_topic(parked):
    assert labels(parked, durable.list_workflows(waiting_on="other").values_list("id", flat=True)) == ["other-50"]
    assert set(durable.list_workflows(status="SUCCESS").values_list("id", flat=True)) == {parked["done"]}
    assert durable.list_workflows(status=["WAITING", "SUCCESS"]).count() == 7
    assert durable.list_workflows(name="tests.workflows.sleeper").get().id == parked["sleep-150"]
    assert durable.list_workflows(name="tests.workflows.collect", waiting_on="inbox", limit=2).count() == 2
    assert durable.list_workflows(status="ERROR").count() == 0


def test_list_workflows_is_newest_first_and_filters_by_creation_time(parked):
    newest_first = list(durable.list_workflows().values_list("id", flat=True))
    assert newest_first[0] == parked["done"]
    assert newest_first[-1] == parked["inbox-300"]
    cutoff = WorkflowRun.objects.get(id=parked["other-50"]).created_at
    assert set(durable.list_workflows(created_after=cutoff).values_list("id", flat=True)) == {
        parked["other-50"],
        parked["sleep-150"],
        parked["done"],
    }
    assert durable.list_workflows(created_before=cutoff).count() == 4


def test_queryset_states(parked):
    assert WorkflowRun.objects.finished().count() == 1
    assert WorkflowRun.objects.active().count() == 6
    assert WorkflowRun.objects.with_status("WAITING").named("tests.workflows.collect").count() == 5


def test_list_workflows_by_parent(worker):
    parent = durable.start(w.parent_of_adder, 1, 2)
    child = wait_for(lambda: durable.list_workflows(parent=parent.id).first(), what="the child")
    assert child.name == "tests.workflows.adder"


def test_the_inbox_listing_is_one_query(parked, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = list(durable.list_workflows(waiting_on="inbox").values("id", "name", "wait_until"))
    assert len(rows) == 4
    with django_assert_num_queries(1):
        runs = list(WorkflowRun.objects.waiting(topic="inbox"))
    assert [r.wait_topic for r in runs] == ["inbox"] * 4


def test_waiting_on_a_topic_uses_the_waiting_index():
    qs = WorkflowRun.objects.waiting(topic="inbox")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = off")  # an empty table would be scanned otherwise
        try:
            plan = qs.explain()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET enable_seqscan")
        assert "Seq Scan" not in plan, plan
    else:
        plan = qs.explain()
        assert "SEARCH durable_workflowrun USING INDEX durable_run_waiting_idx (wait_topic=?)" in plan, plan
    assert "durable_run_waiting_idx" in plan, plan
