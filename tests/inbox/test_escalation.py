"""Escalation is part of the agent's durable wait: due while no worker runs, it happens once the
workers are back, once, recorded in the request's history and shown in the list."""

from datetime import timedelta

from django.utils import timezone

from durable.models import Checkpoint, Status, WorkflowRun
from inbox import tokens
from inbox.models import Note, NoteKind, Request
from tests.inbox.api_client import call
from tests.inbox.conftest import start_and_wait, wait_for
from tests.inbox.team_workflows import team_asker


def test_an_escalation_due_while_no_worker_runs_happens_once_after_restart(
    worker_processes, live_server, make_user, reviewer_client
):
    lead = make_user("lead", groups=["Leads"])
    proc = worker_processes.start()
    escalation = {"escalate_after": 2, "escalate_to": "group:Leads"}
    handle, req = start_and_wait(team_asker, approvals=1, assignees="user:alice", **escalation)
    assert req.escalate_at is not None and req.assignee_label == "user alice"
    worker_processes.kill(proc)
    # Its moment passes with no worker running: nothing can happen yet.
    wait_for(lambda: timezone.now() > req.escalate_at + timedelta(seconds=1), 10, "the escalation time to pass")
    assert not Note.objects.filter(request=req).exists()
    worker_processes.start()
    note = wait_for(lambda: Note.objects.filter(request=req, kind=NoteKind.ESCALATED).first(), 30, "the escalation")
    assert "from user alice to group Leads" in note.text
    wait_for(lambda: WorkflowRun.objects.filter(id=handle.id, status=Status.WAITING).exists(), 30, "the wait again")
    req.refresh_from_db()
    assert req.assignee_label == "group Leads" and req.escalated_at is not None
    html = reviewer_client.get("/").content.decode()
    assert "escalated" in html and "group Leads" in html
    # The lead decides over the API; the run replays past its escalation without repeating it.
    token = tokens.create(lead, "phone")
    shown = call(f"{live_server.url}/api/v1/requests/{req.id}/", token)[1]["shown"]
    decide = {"choice": "approve", "shown": shown}
    assert call(f"{live_server.url}/api/v1/requests/{req.id}/decide/", token, decide)[0] == 200
    assert handle.result(timeout=60)["approvers"] == ["lead"]
    worker_processes.check()
    assert Note.objects.filter(request=req, kind=NoteKind.ESCALATED).count() == 1
    assert Checkpoint.objects.filter(run_id=handle.id, name="inbox.escalate").count() == 1
    assert WorkflowRun.objects.filter(id=f"inbox.notify:{req.id}:escalated").count() == 1
    assert Request.objects.get(id=req.id).assignee_label == "group Leads"


def test_a_decision_before_the_escalation_time_means_no_escalation(worker, make_user, client):
    lead = make_user("lead", groups=["Leads"])
    handle, req = start_and_wait(team_asker, approvals=1, escalate_after=3600, escalate_to="group:Leads")
    from inbox.deciding import decide

    decide(req.id, lead, "approve")
    assert handle.result(timeout=30)["outcome"] == "approved"
    assert not Note.objects.filter(request=req).exists()
