"""Escalation: an undecided request is reassigned when its time comes, inside the agent's own wait.

``ask`` waits with ``durable.recv`` until the sooner of its deadline and its escalation time;
when the escalation time comes first, ``escalate`` runs as a step (once, however often the run
replays, even if no worker ran at that moment) and the wait goes on.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

import durable

from . import notifying
from .models import DB_STEP_INTERVAL, DB_STEP_RETRIES, Note, NoteKind, Request


@dataclass(frozen=True)
class Timer:
    """Something ``ask`` does at a moment of its wait unless the decision comes first."""

    at: datetime
    act: Callable[[], Any]


def escalate(request_id: str, escalate_to: str) -> None:
    if reassign(request_id, escalate_to):
        notifying.notify(request_id, notifying.ESCALATED)


@durable.step(name="inbox.escalate", retries=DB_STEP_RETRIES, interval=DB_STEP_INTERVAL)
def reassign(request_id: str, escalate_to: str) -> bool:
    """Reassign the open request to ``escalate_to`` and note it in its history; False if it closed."""
    kind, _, name = escalate_to.partition(":")
    with transaction.atomic():
        request = Request.objects.select_for_update().get(id=request_id)
        if not request.is_open or request.escalated_at is not None:
            return False
        before = request.assignee_label or "any reviewer"
        request.assignee_kind, request.assignee_name = kind, name
        request.escalated_at = timezone.now()
        request.save(update_fields=["assignee_kind", "assignee_name", "escalated_at"])
        text = f"Nobody decided in time: reassigned from {before} to {request.assignee_label}."
        Note.objects.create(request=request, kind=NoteKind.ESCALATED, text=text, created_at=request.escalated_at)
    return True
