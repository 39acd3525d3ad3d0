"""LlamaIndex's InputRequiredEvent decided in the inbox: asked once, parked with no thread, answered after a restart."""

import json

import psutil
import pytest

from durable import llama_index
from durable.models import WorkflowRun
from inbox.models import Request
from tests.agents import llama_workflows as lw
from tests.conftest import post_decision, wait_for
from tests.inbox.conftest import waiting_request
from tests.workflows import ledger_lines

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_request_is_decided_through_the_inbox_after_a_worker_restart(worker_processes, ledger, reviewer_client):
    first = worker_processes.start(poll=0.05)
    handle = llama_index.start(lw.Refund, runtime="tests", order="A-1", amount=30)
    req = waiting_request(handle.id, timeout=60)
    assert (req.title, req.action, req.arguments) == ("Refund 30 EUR on A-1?", "refund", {"order": "A-1", "amount": 30})
    worker_processes.kill(first)  # the run is parked: nothing of it lived in that worker
    worker_processes.start(poll=0.05)

    edited = {"order": "A-1", "amount": 25}
    assert post_decision(reviewer_client, req, "edit", arguments_json=json.dumps(edited)).status_code == 302
    stop = llama_index.stop_event(handle.result(timeout=60))
    assert stop.result == {"refunded": 25, "by": "alice"}
    assert ledger_lines("refund:") == ["refund:25"]
    assert Request.objects.filter(run_id=handle.id).count() == 1  # asked once, however often it replayed
    worker_processes.check()


def test_a_rejection_reaches_the_workflow_as_its_outcome(worker, ledger, reviewer_client):
    handle = llama_index.start(lw.Refund, runtime="tests", order="A-2", amount=10)
    req = waiting_request(handle.id)
    assert post_decision(reviewer_client, req, "reject", reason="not eligible").status_code == 302
    assert llama_index.stop_event(handle.result(timeout=30)).result == {"refunded": None, "outcome": "rejected"}
    assert ledger_lines("refund:") == []


def test_llama_index_runs_waiting_in_the_inbox_hold_no_thread(worker_processes, ledger):
    proc = worker_processes.start(concurrency=2, poll=0.05)
    wait_for(lambda: " started: " in worker_processes.logs(), 60, "the worker to start")
    idle = psutil.Process(proc.pid).num_threads()
    for i in range(12):  # six times the worker's concurrency
        llama_index.start(lw.Refund, runtime="tests", order=f"A-{i}", amount=i)
    waiting = WorkflowRun.objects.filter(status="WAITING", wait_topic="inbox")
    wait_for(lambda: waiting.count() == 12, 60, "12 LlamaIndex runs to wait in the inbox")
    threads = psutil.Process(proc.pid).num_threads()
    assert threads <= idle + 2, f"the worker holds {threads} threads ({idle} idle) for 12 runs waiting in the inbox"
    worker_processes.check()
