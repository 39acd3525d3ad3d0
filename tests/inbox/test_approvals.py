"""A Pydantic AI tool with requires_approval=True is decided in the inbox, through its HTTP endpoint."""

import json

import pytest

import durable
from durable.models import Checkpoint, WorkflowRun
from inbox.models import RequestStatus
from tests.agents import agents
from tests.conftest import post_decision
from tests.inbox.conftest import start_and_wait, wait_for, waiting_request
from tests.workflows import ledger_lines, set_flag

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_request_shows_the_tool_call_and_the_models_reasons(worker, ledger, reviewer_client):
    _, req = start_and_wait(agents.refund_agent, "A-1")
    assert req.title == "Refund 30.0 EUR on A-1?"
    assert req.action == "issue_refund"
    assert req.arguments == {"order_id": "A-1", "amount": 30.0}
    assert "arrived **broken**" in req.body_markdown
    assert req.schema["properties"]["amount"]["maximum"] == 30
    assert ledger_lines("issue_refund") == []  # nothing runs before a reviewer says so


def test_approve_runs_the_tool_and_the_agent_finishes(worker, ledger, reviewer_client):
    handle, req = start_and_wait(agents.refund_agent, "A-1")
    assert post_decision(reviewer_client, req, "approve").status_code == 302
    assert handle.result(timeout=30) == "ToolReturnPart: refunded 30.0 EUR on A-1"
    assert ledger_lines("issue_refund") == ["issue_refund:A-1:30.0"]
    req.refresh_from_db()
    assert req.status == RequestStatus.DECIDED
    # The model request before the park was replayed afterwards, not sent again.
    assert ledger_lines("refund-model:") == ["refund-model:1", "refund-model:3"]
    names = list(Checkpoint.objects.filter(run_id=handle.id, kind="step").values_list("name", flat=True))
    assert "refunds__function_toolset__<agent>.call_tool:issue_refund" in names


def test_edit_runs_the_tool_with_the_reviewers_arguments(worker, ledger, reviewer_client):
    handle, req = start_and_wait(agents.refund_agent, "A-1")
    response = post_decision(
        reviewer_client, req, "edit", arguments_json=json.dumps({"order_id": "A-1", "amount": 12.5})
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert handle.result(timeout=30) == "ToolReturnPart: refunded 12.5 EUR on A-1"
    assert ledger_lines("issue_refund") == ["issue_refund:A-1:12.5"]


def test_reject_tells_the_model_the_reason_and_the_tool_never_runs(worker, ledger, reviewer_client):
    handle, req = start_and_wait(agents.refund_agent, "A-1")
    assert (
        post_decision(reviewer_client, req, "reject", reason="Only half: the jar was the only broken part").status_code
        == 302
    )
    output = handle.result(timeout=30)
    assert output == "ToolReturnPart: The reviewer rejected this call: Only half: the jar was the only broken part"
    assert ledger_lines("issue_refund") == []


def test_respond_gives_the_model_the_reviewers_text(worker, ledger, reviewer_client):
    handle, req = start_and_wait(agents.refund_agent, "A-1")
    assert post_decision(reviewer_client, req, "respond", response="Offer a voucher instead.").status_code == 302
    output = handle.result(timeout=30)
    assert output == "ToolReturnPart: The reviewer did not run this call and answered: Offer a voucher instead."
    assert ledger_lines("issue_refund") == []


def test_an_edit_pydantic_ai_refuses_goes_back_to_the_model_as_a_retry(worker, ledger, reviewer_client):
    handle, req = start_and_wait(agents.refund_agent, "A-1")
    response = post_decision(reviewer_client, req, "edit", arguments_json=json.dumps({"order_id": "B-2", "amount": 10}))
    assert response.status_code == 302, response.content.decode()[:2000]
    output = handle.result(timeout=30)
    # Pydantic AI validated the reviewer's arguments again and told the model what was wrong.
    assert "B-2 is not one of our orders (they start with A-)" in output
    assert ledger_lines("issue_refund") == []


def test_a_renamed_agent_stops_its_parked_runs_with_both_names_and_fork_resolves_it(worker, ledger, reviewer_client):
    handle, req = start_and_wait(agents.renamed_agent, "A-1")
    set_flag("renamed")  # the deploy: the agent is now called refunds_v2
    assert post_decision(reviewer_client, req, "approve").status_code == 302
    run = wait_for(lambda: WorkflowRun.objects.filter(id=handle.id, status="ERROR").first(), what="the run to stop")
    assert "NonDeterminismError" in run.error_message
    assert "'refunds__model.request'" in run.error_message and "'refunds_v2__model.request'" in run.error_message
    assert ledger_lines("issue_refund") == []

    forked = durable.fork(handle.id, from_step=0)  # the operation the error names
    again = waiting_request(forked.id)
    assert post_decision(reviewer_client, again, "approve").status_code == 302
    assert forked.result(timeout=30) == "ToolReturnPart: refunded 30.0 EUR on A-1"
    names = Checkpoint.objects.filter(run_id=forked.id, kind="step").values_list("name", flat=True)
    assert "refunds_v2__function_toolset__<agent>.call_tool:issue_refund" in names


def test_a_tool_asking_a_question_is_answered_in_the_inbox(worker, ledger, reviewer_client):
    handle, req = start_and_wait(agents.questions_agent)
    assert req.title == "Question: May we offer a 20 EUR voucher?" and req.choices == ["respond", "reject"]
    assert "wants a voucher" in req.body_markdown
    assert post_decision(reviewer_client, req, "respond", response="Yes, up to 25 EUR.").status_code == 302
    assert handle.result(timeout=30) == "ToolReturnPart: Yes, up to 25 EUR."


def test_a_rejected_question_tells_the_model_why(worker, ledger, reviewer_client):
    handle, req = start_and_wait(agents.questions_agent)
    assert post_decision(reviewer_client, req, "reject", reason="Vouchers are paused this month").status_code == 302
    output = handle.result(timeout=30)
    assert "Vouchers are paused this month" in output


def test_cancelling_an_agent_that_waits_for_approval_closes_its_request(worker, ledger, reviewer_client):
    handle, req = start_and_wait(agents.refund_agent, "A-1")
    durable.cancel(handle.id)
    wait_for(lambda: handle.status() == "CANCELLED", what="the run to be cancelled")
    req.refresh_from_db()
    assert req.status == RequestStatus.CANCELLED
    assert ledger_lines("issue_refund") == []
