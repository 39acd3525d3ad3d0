"""Pydantic AI's RequestInput on this engine: the question is asked once, the run parks, the answer resumes it."""

import pytest

import durable
from durable.pydantic_ai import fail_external_event, resolve_external_event
from tests.agents import agents
from tests.durable.conftest import wait_for, wait_status
from tests.workflows import ledger_lines

pytestmark = pytest.mark.django_db(transaction=True)


def token_of(handle):
    lines = wait_for(lambda: ledger_lines("token:"), what="RequestInput's ask")
    return lines[0].removeprefix("token:")


def test_request_input_parks_the_run_until_its_token_is_resolved(worker, ledger):
    handle = durable.start(agents.asking_agent, "A-1")
    wait_status(handle, "WAITING")
    token = token_of(handle)
    assert token.startswith(f"{handle.id}/")
    assert resolve_external_event(token, {"approvals": {"r1": True}})
    assert handle.result(timeout=30) == "ToolReturnPart: refunded 30.0 EUR on A-1"
    assert not resolve_external_event(token, {"approvals": {"r1": False}})  # answered once
    # The run replayed after its park: the question was asked once, and the model request before it too.
    assert len(ledger_lines("token:")) == 1
    assert ledger_lines("refund-model:") == ["refund-model:1", "refund-model:3"]


def test_a_failed_wait_denies_the_call_with_the_reason(worker, ledger):
    handle = durable.start(agents.asking_agent, "A-1")
    wait_status(handle, "WAITING")
    fail_external_event(token_of(handle), "the approver is on holiday")
    output = handle.result(timeout=30)
    assert "the approver is on holiday" in output and ledger_lines("issue_refund") == []
