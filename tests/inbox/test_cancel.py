"""A cancelled or ended agent's request: closed as "run cancelled" or "run ended" (never as a
reviewer's decision) through the engine's signals, and open again when the run is resumed."""

import html
import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse
from django.utils import timezone

import durable
from durable.models import Message, Status, WorkflowRun
from inbox.models import DecisionRecord, Request, RequestStatus
from tests.conftest import post_decision
from tests.durable.conftest import running_worker, wait_for
from tests.inbox import workflows as w
from tests.inbox.conftest import start_and_wait, waiting_request

LIST = reverse("inbox:list")


def text(response):
    """The page as a reader sees it (the agent's and the notices' apostrophes unescaped)."""
    return html.unescape(response.content.decode())


@pytest.fixture
def cancelled_signals():
    """The run ids ``durable.run_cancelled`` was sent with, in order."""
    sent = []

    def receiver(sender, run_id, **kwargs):
        sent.append(run_id)

    durable.run_cancelled.connect(receiver)
    yield sent
    durable.run_cancelled.disconnect(receiver)


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_waiting_agent_closes_its_request_as_cancelled(worker, reviewer_client, cancelled_signals):
    handle, req = start_and_wait(w.asker)
    assert 'id="tab-waiting" data-count="1"' in text(reviewer_client.get(LIST))

    durable.cancel(handle.id)

    assert cancelled_signals == [handle.id]
    req.refresh_from_db()
    run = WorkflowRun.objects.get(id=handle.id)
    assert req.status == RequestStatus.CANCELLED and run.status == Status.CANCELLED
    assert run.finished_at <= req.closed_at <= timezone.now()
    listing = text(reviewer_client.get(LIST))
    assert 'id="tab-waiting" data-count="0"' in listing and 'id="tab-cancelled" data-count="1"' in listing
    cancelled = text(reviewer_client.get(LIST + "?tab=cancelled"))
    assert f'data-request-id="{req.id}"' in cancelled and "Run cancelled" in cancelled
    assert "before anyone decided" in cancelled

    detail = text(reviewer_client.get(reverse("inbox:detail", args=[req.id])))
    assert 'data-status="cancelled"' in detail and 'id="stopped-summary"' in detail
    assert "The agent's run was cancelled" in detail
    assert 'id="approve-form"' not in detail and 'id="decided-by"' not in detail

    response = post_decision(reviewer_client, req, "approve", htmx=True)
    assert response.status_code == 409
    notice = text(response)
    assert 'id="closed-notice"' in notice and "The agent's run was cancelled at " in notice
    assert "resume the run" in notice
    assert not DecisionRecord.objects.exists()
    assert not Message.objects.filter(destination_id=handle.id).exists()
    with pytest.raises(durable.WorkflowCancelled):
        handle.result(timeout=5)


@pytest.mark.django_db(transaction=True)
def test_the_history_tab_shows_the_cancel_and_not_a_decision(worker, reviewer_client):
    handle, req = start_and_wait(w.asker)
    durable.cancel(handle.id)
    page = text(reviewer_client.get(reverse("inbox:detail", args=[req.id]) + "?tab=history"))
    assert f'data-request-id="{req.id}" data-status="cancelled"' in page
    assert "<strong>Run cancelled</strong>" in page and "The agent's run was cancelled" in page
    assert 'class="record"' not in page


@pytest.mark.django_db(transaction=True)
def test_a_resumed_run_asks_again_and_can_be_decided(worker, reviewer_client):
    handle, req = start_and_wait(w.asker)
    durable.cancel(handle.id)
    req.refresh_from_db()
    assert req.status == RequestStatus.CANCELLED

    durable.resume(handle.id)

    again = waiting_request(handle.id)
    assert again.id == req.id and again.closed_at is None
    assert 'id="tab-waiting" data-count="1"' in text(reviewer_client.get(LIST))
    assert post_decision(reviewer_client, again, "approve").status_code == 302
    assert handle.result(timeout=15)["outcome"] == "approved"


@pytest.mark.django_db(transaction=True)
def test_only_the_cancelled_runs_open_requests_change(worker, reviewer, cancelled_signals):
    from inbox.deciding import decide

    cancelled, req = start_and_wait(w.asker, title="Cancel me")
    other, other_req = start_and_wait(w.asker, title="Keep me")
    decided, decided_req = start_and_wait(w.asker, title="Decided first")
    decide(decided_req.id, reviewer, "approve")
    assert decided.result(timeout=15)["outcome"] == "approved"

    durable.cancel(cancelled.id)
    durable.cancel(decided.id)  # already succeeded: nothing happens, nothing is sent

    assert cancelled_signals == [cancelled.id]
    statuses = dict(Request.objects.values_list("id", "status"))
    assert statuses == {
        req.id: RequestStatus.CANCELLED,
        other_req.id: RequestStatus.OPEN,
        decided_req.id: RequestStatus.DECIDED,
    }
    assert WorkflowRun.objects.get(id=decided.id).status == Status.SUCCESS
    assert WorkflowRun.objects.get(id=other.id).status == Status.WAITING


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_does_not_undo_the_cancel_nor_the_inbox_close(worker, caplog):
    def broken(sender, run_id, **kwargs):
        raise RuntimeError("a receiver that fails")

    durable.run_cancelled.connect(broken)
    try:
        handle, req = start_and_wait(w.asker)
        durable.cancel(handle.id)
    finally:
        durable.run_cancelled.disconnect(broken)
    assert WorkflowRun.objects.get(id=handle.id).status == Status.CANCELLED
    req.refresh_from_db()
    assert req.status == RequestStatus.CANCELLED
    assert "a receiver that fails" in caplog.text


# A request whose run ends without a decision is closed by the engine's run_finished signal; one
# whose receiver never ran (a process killed between commit and signal) is closed when decided.


@pytest.mark.django_db(transaction=True)
def test_a_request_whose_run_ends_without_a_decision_is_closed_as_run_ended(reviewer_client, monkeypatch):
    def broken(run_id, request_id):
        raise RuntimeError("the agent broke between its request and its wait")

    monkeypatch.setattr("inbox.asking.forks.request_id_for", broken)  # the in-process worker's ask
    handle = durable.start(w.asker)
    with running_worker():
        wait_for(lambda: WorkflowRun.objects.get(id=handle.id).status == Status.ERROR, what="the run to fail")
        req = Request.objects.get(run_id=handle.id)
        wait_for(lambda: Request.objects.get(id=req.id).status == RequestStatus.ENDED, what="the request to close")
    req.refresh_from_db()
    assert req.closed_at is not None
    assert "Run ended" in text(reviewer_client.get(reverse("inbox:detail", args=[req.id])))


@pytest.mark.django_db(transaction=True)
def test_a_request_whose_run_fails_before_its_replay_is_closed_as_run_ended(monkeypatch):
    # An agent waiting in the inbox whose worker died once too often: the next worker fails the run
    # without replaying it, so the engine cannot tell the inbox whether the run asked anyone.
    handle = durable.start(w.asker)
    with running_worker():
        req = waiting_request(handle.id)
    run = WorkflowRun.objects.get(id=handle.id)
    WorkflowRun.objects.filter(id=run.id).update(
        status=Status.RUNNING, lease_owner="a dead worker", ready_at=timezone.now() - timedelta(seconds=1),
        recovery_attempts=run.max_recovery_attempts,
    )  # fmt: skip
    with running_worker():
        wait_for(lambda: Request.objects.get(id=req.id).status == RequestStatus.ENDED, what="the request to close")
    assert WorkflowRun.objects.get(id=run.id).error_message.startswith("MaxRecoveryAttemptsExceeded")


@pytest.mark.django_db
def test_deciding_a_request_whose_run_failed_says_the_run_ended(reviewer_client, make_request):
    req = make_request(run_status=Status.ERROR)
    response = post_decision(reviewer_client, req, "approve", htmx=True)
    assert response.status_code == 409
    assert "The agent's run ended (failed) at " in text(response)
    req.refresh_from_db()
    assert req.status == RequestStatus.ENDED and req.closed_at is not None
    assert not DecisionRecord.objects.exists()
    page = text(reviewer_client.get(LIST + "?tab=cancelled"))
    assert f'data-request-id="{req.id}"' in page and "Run ended" in page


@pytest.mark.django_db
def test_deciding_a_request_whose_run_is_gone_says_so(reviewer_client, make_request):
    req = make_request()
    WorkflowRun.objects.filter(id=req.run_id).delete()
    plain = post_decision(reviewer_client, req, "approve")
    assert plain.status_code == 302 and plain["Location"] == reverse("inbox:detail", args=[req.id])
    page = text(reviewer_client.get(plain["Location"]))
    assert "The agent's run no longer exists" in page and "Run ended" in page
    req.refresh_from_db()
    assert req.status == RequestStatus.ENDED


@pytest.mark.django_db
def test_a_request_of_a_run_that_is_not_waiting_yet_stays_open(reviewer_client, make_request):
    req = make_request(run_status=Status.ENQUEUED)
    reviewer_client.get(reverse("inbox:detail", args=[req.id]))
    req.refresh_from_db()
    assert req.status == RequestStatus.OPEN


@pytest.mark.django_db
def test_the_migration_closes_requests_orphaned_before_it(make_request):
    close_stopped = importlib.import_module("inbox.migrations.0005_close_requests_of_stopped_runs").close_stopped
    finished = timezone.now() - timedelta(days=2)
    cancelled = make_request(run_status=Status.CANCELLED)
    failed = make_request(run_status=Status.ERROR)
    gone = make_request()
    waiting = make_request()
    decided = make_request(status=RequestStatus.DECIDED, run_status=Status.SUCCESS)
    WorkflowRun.objects.filter(id__in=[cancelled.run_id, failed.run_id]).update(finished_at=finished)
    WorkflowRun.objects.filter(id=gone.run_id).delete()

    close_stopped(apps, SimpleNamespace(connection=connection))

    rows = {r.id: (r.status, r.closed_at) for r in Request.objects.all()}
    assert rows[cancelled.id] == (RequestStatus.CANCELLED, finished)
    assert rows[failed.id] == (RequestStatus.ENDED, finished)
    assert rows[gone.id][0] == RequestStatus.ENDED and rows[gone.id][1] is not None
    assert rows[waiting.id] == (RequestStatus.OPEN, None)
    assert rows[decided.id][0] == RequestStatus.DECIDED
