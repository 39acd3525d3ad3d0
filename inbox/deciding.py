"""Recording a decision and delivering it to the agent: once, however many reviewers click."""

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

import durable
from durable.models import Status, WorkflowRun

from . import stopped, wire
from .models import INBOX_TOPIC, DecisionRecord, Request, RequestStatus


class AlreadyClosed(Exception):
    """Someone decided first, the request expired, or the agent stopped waiting."""


def decide(request_id: Any, reviewer: Any, choice: str, **details: Any) -> DecisionRecord:
    """Record the decision and send it, in one transaction: both happen, or neither.

    Raises AlreadyClosed when the request is not open any more (the caller says why, with
    ``closed_message``). The one-to-one decision row and ``durable.send``'s idempotency key
    (the request id) each guarantee a single decision on their own.
    """
    with transaction.atomic():
        request = Request.objects.select_for_update().get(id=request_id)
        # A request whose run stopped is closed with that outcome; the close commits, then the refusal.
        if request.is_open and not stopped.close_if_run_stopped(request):
            return _record_and_send(request, reviewer, choice, details)
    raise AlreadyClosed()


def _record_and_send(request: Request, reviewer: Any, choice: str, details: dict[str, Any]) -> DecisionRecord:
    record = DecisionRecord(
        request=request,
        run_id=request.run_id,
        reviewer=reviewer,
        reviewer_name=reviewer.get_username(),
        choice=choice,
        reason=details.get("reason", ""),
        response=details.get("response", ""),
        arguments_before=request.arguments,
        arguments_after=details.get("arguments"),
        shown_digest=request.shown_digest(),
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
