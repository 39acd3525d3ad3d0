"""inbox.ask end to end: a real workflow on a worker waits, a reviewer decides in the views, the agent acts."""

import json

import pytest
from django.urls import reverse

import durable
from durable.models import Checkpoint, Status
from inbox import RequestExpired
from inbox.asking import close_expired
from inbox.deciding import decide
from inbox.models import INBOX_TOPIC, DecisionRecord, Request, RequestStatus
from tests.conftest import post_decision
from tests.inbox import workflows as w
from tests.inbox.conftest import start_and_wait, wait_for, waiting_request

pytestmark = pytest.mark.django_db(transaction=True)


def test_approve_reaches_the_agent(worker, reviewer_client):
    handle, req = start_and_wait(w.asker)
    assert (req.title, req.action, req.agent) == ("Refund 10 EUR?", "issue_refund", "tests.inbox.workflows.asker")
    assert req.arguments == {"amount": 10, "currency": "EUR", "express": False}
    assert post_decision(reviewer_client, req, "approve").status_code == 302
    result = handle.result(timeout=15)
    assert result["outcome"] == "approved" and result["approved"] and result["reviewer"] == "alice"
    assert json.loads(result["arguments_json"]) == req.arguments
    events = [e.decoded for e in durable.event_history(handle.id, "inbox")]
    assert [e["state"] for e in events] == ["waiting", "approved"]


def test_reject_reaches_the_agent_with_its_reason(worker, reviewer_client):
    handle, req = start_and_wait(w.asker)
    post_decision(reviewer_client, req, "reject", reason="Refund policy says no")
    result = handle.result(timeout=15)
    assert result["outcome"] == "rejected" and result["reason"] == "Refund policy says no"
    assert not result["go_ahead"]


def test_respond_reaches_the_agent(worker, reviewer_client):
    handle, req = start_and_wait(w.asker)
    post_decision(reviewer_client, req, "respond", response="Ask for a photo first.")
    assert handle.result(timeout=15)["text"] == "Ask for a photo first."


def test_the_agent_acts_with_the_edited_arguments(worker, reviewer_client, ledger):
    handle, req = start_and_wait(w.acting_asker, arguments={"amount": 10, "currency": "EUR"})
    preview = reviewer_client.post(
        reverse("inbox:edit", args=[req.id]), {"mode": "fields", "arg.amount": "7", "arg.currency": "EUR"}
    )
    assert preview.status_code == 200 and 'id="edit-diff"' in preview.content.decode()
    post_decision(reviewer_client, req, "edit", arguments_json='{"amount": 7, "currency": "EUR"}')
    assert json.loads(handle.result(timeout=15)) == {"amount": 7, "currency": "EUR"}
    assert ledger.read_text().splitlines() == ['perform:{"amount": 7, "currency": "EUR"}']


def test_expiry_is_its_own_outcome_and_shows_as_expired(worker, reviewer_client):
    handle = durable.start(w.asker, timeout=0.3, on_expiry="reject")
    result = handle.result(timeout=15)
    assert result["outcome"] == "expired" and not result["approved"] and result["reviewer"] == ""
    req = Request.objects.get(run_id=handle.id)
    assert req.status == RequestStatus.EXPIRED and req.closed_at >= req.deadline
    page = reviewer_client.get(reverse("inbox:list") + "?tab=expired").content.decode()
    assert f'data-request-id="{req.id}"' in page and "agent's rule: reject" in page
    assert 'id="tab-expired" data-count="1"' in page
    late = post_decision(reviewer_client, req, "approve")
    assert late.status_code == 302 and not DecisionRecord.objects.exists()


def test_expiry_with_approve_lets_the_action_go_ahead(worker):
    result = durable.start(w.asker, timeout=0.2, on_expiry="approve").result(timeout=15)
    assert result["outcome"] == "expired" and result["approved"] and result["go_ahead"]


def test_expiry_with_raise_fails_the_run_with_request_expired(worker):
    handle = durable.start(w.asker, timeout=0.2, on_expiry="raise")
    with pytest.raises(RequestExpired, match="before its deadline"):
        handle.result(timeout=15)


def test_a_stale_decision_is_skipped_and_the_deadline_kept(worker, reviewer_client):
    handle = durable.start(w.twice_asker, first_timeout=0.2, second_timeout=30)
    second = wait_for(lambda: Request.objects.filter(run_id=handle.id, title="Second question").first())
    first = Request.objects.get(run_id=handle.id, title="First question")
    waiting_request(handle.id)
    # A decision for the first (already expired) request arrives late, as a race could deliver it.
    stale = {
        "kind": "inbox.decision", "request_id": str(first.id), "choice": "approve", "reason": "",
        "response": "", "arguments_json": "", "reviewer": "zed", "decided_at": "2020-01-01T00:00:00+00:00",
    }  # fmt: skip
    assert durable.send(handle.id, stale, topic=INBOX_TOPIC, idempotency_key=str(first.id))
    # The agent consumed it, skipped it, and parked again with the same absolute deadline.
    wait_for(
        lambda: (
            Checkpoint.objects.filter(run_id=handle.id, kind="recv", finished_at__isnull=True).count() == 1
            and Checkpoint.objects.filter(run_id=handle.id, kind="recv").count() == 3
        ),
        what="a second recv for the second request",
    )
    waiting_request(handle.id)
    recvs = Checkpoint.objects.filter(run_id=handle.id, kind="recv").order_by("seq")
    for cp in recvs[1:]:
        assert abs((cp.deadline - second.deadline).total_seconds()) < 1.0
    post_decision(reviewer_client, second, "reject", reason="second thoughts")
    first_summary, second_summary = handle.result(timeout=15)
    assert first_summary["outcome"] == "expired"
    assert second_summary["outcome"] == "rejected" and second_summary["reason"] == "second thoughts"


def test_a_decision_recorded_as_the_deadline_passes_wins_over_expiry(reviewer, make_request):
    # The agent's recv timed out, but a reviewer's decision committed just before it could mark
    # the request expired: the agent takes the decision, never both.
    req = make_request()
    decide(req.id, reviewer, "reject", reason="just in time")
    message = close_expired(str(req.id))
    assert message["choice"] == "reject" and message["reason"] == "just in time"
    req.refresh_from_db()
    assert req.status == RequestStatus.DECIDED
    other = make_request()
    assert close_expired(str(other.id)) is None
    other.refresh_from_db()
    assert other.status == RequestStatus.EXPIRED


def test_ask_outside_a_workflow_says_how_to_fix_it(db):
    from inbox import ask

    with pytest.raises(durable.NotInWorkflow, match=r"inside a @durable\.workflow"):
        ask(title="x")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"title": ""}, "needs a title"),
        ({"decisions": ("approve", "launch")}, "decisions must be some of"),
        ({"on_expiry": "ignore"}, "on_expiry must be one of"),
        ({"assignees": "bob"}, 'assignees is "user:<username>"'),
        ({"schema": {"type": "nonsense"}}, "not a valid JSON schema"),
        ({"schema": {"type": "object", "required": ["x"]}}, "do not match their own schema"),
    ],
)
def test_bad_ask_arguments_fail_the_run_with_a_clear_message(worker, kwargs, message):
    from tests.inbox.workflows import asker

    handle = durable.start(asker, **({"title": "ok"} | kwargs))
    with pytest.raises(ValueError, match=message):
        handle.result(timeout=15)
    assert durable.retrieve(handle.id).status() == Status.ERROR


def test_non_json_arguments_are_refused():
    from inbox.asking import _spec

    with pytest.raises(ValueError, match="must be plain JSON data"):
        _spec("t", "", "", {"when": object()}, ("approve",), None, None, "reject")
