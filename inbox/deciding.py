"""Recording a decision and delivering it to the agent: once, however many reviewers click."""

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

import durable
from durable.models import Status, WorkflowRun

from . import stopped, wire
from .models import INBOX_TOPIC, Choice, DecisionRecord, Note, NoteKind, Request, RequestStatus


class AlreadyClosed(Exception):
    """Someone decided first, the request expired, or the agent stopped waiting."""


class NotCounted(Exception):
    """A quorum approval that cannot count: the reviewer approved already, or asked for it."""


def decide(request_id: Any, reviewer: Any, choice: str, **details: Any) -> DecisionRecord | Note:
    """Record the decision and send it, in one transaction: both happen, or neither.

    On a request that needs several approvals, an approval (or an edit, which resets the
    approvals gathered so far) is recorded as a Note, and the decision is sent only with the
    approval that meets the quorum; a rejection or an answer decides at once. The row lock on
    the request orders reviewers who click at the same moment: one outcome, each step audited.

    Raises AlreadyClosed when the request is not open any more (the caller says why, with
    ``closed_message``). The one-to-one decision row and ``durable.send``'s idempotency key
    (the request id) each guarantee a single decision on their own.
    """
    with transaction.atomic():
        request = Request.objects.select_for_update().get(id=request_id)
        # A request whose run stopped is closed with that outcome; the close commits, then the refusal.
        if request.is_open and not stopped.close_if_run_stopped(request):
            if request.requester and reviewer.get_username() == request.requester:
                raise NotCounted(f"You asked for “{request.title}”: another reviewer has to decide it.")
            if request.quorum and choice in (Choice.APPROVE, Choice.EDIT):
                return _vote(request, reviewer, choice, details.get("arguments"), details.get("reason", ""))
            return _record_and_send(request, reviewer, choice, details)
    raise AlreadyClosed()


def _vote(request: Request, reviewer: Any, choice: str, arguments: Any, reason: str) -> DecisionRecord | Note:
    """One reviewer's approval (or edit) toward the quorum; the one that meets it decides."""
    name = reviewer.get_username()
    shown = request.shown_digest()
    if choice == Choice.EDIT:
        if request.proposed_arguments is None:
            request.proposed_arguments = request.arguments
        request.arguments, request.round, request.approvals = arguments, request.round + 1, [name]
    elif name in request.approvals:
        left = request.approvals_needed - len(request.approvals)
        raise NotCounted(f"You approved this already; the same person counts once. It needs {left} more.")
    else:
        request.approvals = [*request.approvals, name]
    kind = NoteKind.EDIT if choice == Choice.EDIT else NoteKind.APPROVAL
    note = Note.objects.create(
        request=request,
        kind=kind,
        author=reviewer,
        author_name=name,
        text=reason,
        round=request.round,
        arguments_after=arguments if choice == Choice.EDIT else None,
        shown_digest=shown,
    )
    request.save(update_fields=["arguments", "proposed_arguments", "round", "approvals"])
    if len(request.approvals) < request.approvals_needed:
        return note
    edited = request.proposed_arguments is not None
    final = Choice.EDIT if edited else Choice.APPROVE
    return _record_and_send(request, reviewer, final, {"arguments": request.arguments if edited else None})


def _record_and_send(request: Request, reviewer: Any, choice: str, details: dict[str, Any]) -> DecisionRecord:
    before = request.arguments if request.proposed_arguments is None else request.proposed_arguments
    approvers = request.approvals if request.quorum else [reviewer.get_username()]
    record = DecisionRecord(
        request=request,
        run_id=request.run_id,
        reviewer=reviewer,
        reviewer_name=reviewer.get_username(),
        choice=choice,
        reason=details.get("reason", ""),
        response=details.get("response", ""),
        arguments_before=before,
        arguments_after=details.get("arguments"),
        shown_digest=request.shown_digest(),
        approvers=approvers if choice in (Choice.APPROVE, Choice.EDIT) else [],
    )
    try:
        with transaction.atomic():
            record.save(force_insert=True)
    except IntegrityError:
        raise AlreadyClosed() from None
    request.status, request.closed_at = RequestStatus.DECIDED, record.decided_at
    request.save(update_fields=["status", "closed_at"])
    message = wire.message_for(record)
    if not durable.send(request.run_id, message, topic=INBOX_TOPIC, idempotency_key=str(request.id)):
        raise AlreadyClosed()
    return record


def done_message(done: DecisionRecord | Note, title: str) -> str:
    """What the reviewer is told after deciding (or after approving toward a quorum)."""
    if isinstance(done, DecisionRecord):
        return f"You {done.verb} “{title}”; the agent has been told."
    request = done.request
    left = request.approvals_needed - len(request.approvals)
    verb = "edited (approvals start again)" if done.kind == NoteKind.EDIT else "approved"
    have, need = len(request.approvals), request.approvals_needed
    return f"You {verb} “{title}”: {have} of {need} approvals, {left} more needed."


def closed_message(request: Request) -> str:
    """Why nobody can decide ``request`` any more, naming who decided first and when."""
    request.refresh_from_db()
    if request.status == RequestStatus.DECIDED:
        record = request.decision
        return f"{record.reviewer_name} already {record.verb} this request at {_when(record.decided_at)}."
    if request.status == RequestStatus.EXPIRED:
        rule = request.get_on_expiry_display().lower()
        return f"This request expired at {_when(request.closed_at)}; the agent applied its rule: {rule}."
    return _stopped_message(request)


def _stopped_message(request: Request) -> str:
    """Why an agent no longer waits: its run was cancelled, or ended, before anyone decided."""
    when = _when(request.closed_at)
    if request.status == RequestStatus.CANCELLED:
        return (
            f"The agent's run was cancelled at {when}, before anyone decided, so it no longer waits for an "
            "answer. To have it ask again, resume the run in the admin."
        )
    status = WorkflowRun.objects.filter(id=request.run_id).values_list("status", flat=True).first()
    if status is None:
        return "The agent's run no longer exists, so nobody can decide this request."
    if request.status == RequestStatus.ENDED:
        return f"The agent's run ended ({Status(status).label.lower()}) at {when}, before anyone decided."
    return f"The agent is no longer waiting for this request (its run is {Status(status).label.lower()})."


def _when(moment: Any) -> str:
    return f"{timezone.localtime(moment or timezone.now()):%Y-%m-%d %H:%M:%S %Z}"
