"""A fork of an agent that asked the inbox publishes its own requests.

A fork keeps its original's checkpoints before the operation it was forked from, so its replay of
``ask`` returns the original's request id. A request the fork will still wait for (published before
that operation, not decided or expired before it) gets a copy of its own, under an id derived from
the fork and the original request; ``ask`` maps the original's id to it. Reviewers then decide the
fork's request and the decision reaches the fork, not the original.
"""

import json
import uuid
from typing import Any

from durable.models import Checkpoint, StepKind

from . import wire
from .models import INBOX_TOPIC, PUBLISH_STEP, Request, RequestStatus

COPIED = ("agent", "title", "body_markdown", "action", "arguments", "schema", "choices", "assignee_kind",
          "assignee_name", "deadline", "on_expiry", "approvals_needed", "requester", "escalate_at",
          "escalate_to")  # fmt: skip


def request_id_for(run_id: str, request_id: str) -> str:
    """The id of ``request_id`` as ``run_id`` asks it: itself if the run published it, else the
    fork's own copy."""
    if Request.objects.filter(id=request_id, run_id=run_id).exists():
        return request_id
    return str(uuid.uuid5(uuid.UUID(request_id), run_id))


def copy_requests_for_fork(sender: Any, run_id: str, forked_from: str, from_step: int, **kwargs: Any) -> None:
    """Receiver of ``durable.run_forked``: open the fork's copies of the requests it will wait for."""
    awaited = _awaited(Checkpoint.objects.filter(run_id=forked_from, seq__lt=from_step).order_by("seq"))
    for original in Request.objects.filter(id__in=awaited):
        values = {field: getattr(original, field) for field in COPIED}
        Request.objects.get_or_create(
            id=request_id_for(run_id, str(original.id)),
            defaults={**values, "run_id": run_id, "status": RequestStatus.OPEN},
        )


def _awaited(checkpoints: Any) -> list[str]:
    """Requests published in ``checkpoints`` that no recv among them answered (with a decision for
    it, or with nothing: its deadline passed). Values are read as plain JSON, never jsonpickle."""
    published: list[str] = []
    answered: set[str] = set()
    for cp in checkpoints:
        if cp.kind == StepKind.STEP and cp.name == PUBLISH_STEP and cp.output and cp.error is None:
            published.append(json.loads(cp.output))
        elif cp.kind == StepKind.RECV and cp.name == INBOX_TOPIC and cp.done and published:
            message = json.loads(cp.output) if cp.output else None
            fields = wire.parse(message) if message is not None else None
            if message is None:
                answered.add(published[-1])  # the request it waited for expired
            elif fields is not None:
                answered.add(fields["request_id"])
    return [r for r in published if r not in answered]
