"""Requests whose agent stopped waiting without a decision: its run was cancelled, or it ended.

Such a request is closed with that outcome, never as a reviewer's answer, when the engine says
so: the run was cancelled (``durable.run_cancelled``) or ended (``durable.run_finished``). A
decision on a request whose run stopped is refused, and closes it if a receiver did not run (a
process killed between the commit and the signal). A resumed run (``durable.run_resumed``) has
its stopped requests opened again: it replays ``ask`` and waits for them once more.
"""

from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from durable.models import TERMINAL, Status, WorkflowRun

from .models import PUBLISH_STEP, STOPPED, Request, RequestStatus


def close_requests_of_cancelled_run(sender: Any, run_id: str, **kwargs: Any) -> None:
    """Receiver of ``durable.run_cancelled``: close the run's open requests, in one UPDATE."""
    Request.objects.filter(run_id=run_id, status=RequestStatus.OPEN).update(
        status=RequestStatus.CANCELLED, closed_at=timezone.now()
    )


def close_requests_of_ended_run(
    sender: Any, run_id: str, status: str, operations: frozenset[str] | None = None, **kwargs: Any
) -> None:
    """Receiver of ``durable.run_finished``: close the run's open requests as ended, in one UPDATE.
    It runs at the end of every run, most of which asked nobody: a run whose history has no
    ``publish_request`` step made no request (a fork's copies are of requests published in its
    copied history), so it skips them without a statement. On SQLite it looks first: an UPDATE
    takes the database's one write lock even when it changes nothing (the run's requests, if any,
    are made by the run itself, so none can appear after it ended)."""
    if operations is not None and PUBLISH_STEP not in operations:
        return
    open_requests = Request.objects.filter(run_id=run_id, status=RequestStatus.OPEN)
    if connection.vendor == "sqlite" and not open_requests.exists():
        return
    open_requests.update(status=RequestStatus.ENDED, closed_at=timezone.now())


def reopen_requests_of_resumed_run(sender: Any, run_id: str, **kwargs: Any) -> None:
    """Receiver of ``durable.run_resumed``: open the requests its stop closed again."""
    Request.objects.filter(run_id=run_id, status__in=STOPPED).update(status=RequestStatus.OPEN, closed_at=None)


def close_if_run_stopped(request: Request) -> bool:
    """Close ``request`` if it is open and its run has stopped; True if it is closed now."""
    run = WorkflowRun.objects.filter(id=request.run_id).values_list("status", "finished_at").first()
    if run is not None and run[0] not in TERMINAL:
        return False
    status = RequestStatus.CANCELLED if run is not None and run[0] == Status.CANCELLED else RequestStatus.ENDED
    closed_at: datetime = (run[1] if run is not None else None) or timezone.now()
    if Request.objects.filter(id=request.id, status=RequestStatus.OPEN).update(status=status, closed_at=closed_at):
        request.status, request.closed_at = status, closed_at
    else:
        request.refresh_from_db(fields=["status", "closed_at"])  # closed meanwhile, by the receiver or a reviewer
    return True
