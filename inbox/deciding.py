"""Recording a decision and delivering it to the agent: once, however many reviewers click."""

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

import durable
from durable.models import Status, WorkflowRun

from . import wire
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
        if request.status != RequestStatus.OPEN or _run_ended(request):
            raise AlreadyClosed()
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


def _run_ended(request: Request) -> bool:
    status = WorkflowRun.objects.filter(id=request.run_id).values_list("status", flat=True).first()
    return status is None or status in (Status.SUCCESS, Status.ERROR, Status.CANCELLED)


def closed_message(request: Request) -> str:
    """Why nobody can decide ``request`` any more, naming who decided first and when."""
    request.refresh_from_db()
    if request.status == RequestStatus.DECIDED:
        record = request.decision
        return f"{record.reviewer_name} already {record.verb} this request at {_when(record.decided_at)}."
    if request.status == RequestStatus.EXPIRED:
        rule = request.get_on_expiry_display().lower()
        return f"This request expired at {_when(request.closed_at)}; the agent applied its rule: {rule}."
    status = WorkflowRun.objects.filter(id=request.run_id).values_list("status", flat=True).first()
    return f"The agent is no longer waiting for this request (its run is {str(status or 'gone').lower()})."


def _when(moment: Any) -> str:
    return f"{timezone.localtime(moment or timezone.now()):%Y-%m-%d %H:%M:%S %Z}"
