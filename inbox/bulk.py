"""Bulk decisions: several waiting requests approved or rejected with one reason, each its own
audited decision through ``deciding.decide``; whatever changed meanwhile is reported row by row."""

import uuid
from dataclasses import dataclass
from typing import Any

from . import deciding
from .models import DecisionRecord, Request
from .reviewers import may_decide

MAX_PICKS = 100


@dataclass(frozen=True)
class Row:
    request_id: str
    title: str
    done: bool
    message: str


def parse_picks(values: list[str]) -> list[tuple[uuid.UUID, int]]:
    """``<request id>:<round>`` values from the list's checkboxes (the round: what the reviewer saw)."""
    picks = []
    for value in values[:MAX_PICKS]:
        raw_id, _, raw_round = value.partition(":")
        try:
            picks.append((uuid.UUID(raw_id), int(raw_round)))
        except ValueError:
            continue
    return picks


def decide_many(user: Any, picks: list[tuple[uuid.UUID, int]], choice: str, reason: str) -> list[Row]:
    requests = Request.objects.in_bulk([request_id for request_id, _ in picks])
    rows = []
    for request_id, seen_round in picks:
        req = requests.get(request_id)
        if req is None:
            rows.append(Row(str(request_id), "(unknown request)", False, "No such request."))
            continue
        rows.append(Row(str(req.id), req.title, *_decide_one(user, req, seen_round, choice, reason)))
    return rows


def _decide_one(user: Any, req: Request, seen_round: int, choice: str, reason: str) -> tuple[bool, str]:
    if not may_decide(user, req):
        if req.requester and req.requester == user.get_username():
            return False, "Not decided: you asked for it, so another reviewer decides it."
        return False, f"Not decided: it is assigned to {req.assignee_label}."
    if not req.allows(choice):
        return False, f"Not decided: this agent does not accept “{choice}” (it accepts {', '.join(req.choices)})."
    if req.round != seen_round:
        return False, "Not decided: its arguments were edited since you loaded the list. Open it to see them."
    try:
        done = deciding.decide(req.id, user, choice, reason=reason)
    except deciding.AlreadyClosed:
        return False, deciding.closed_message(req)
    except deciding.NotCounted as exc:
        return False, str(exc)
    if isinstance(done, DecisionRecord):
        return True, f"{done.verb.capitalize()}; the agent has been told."
    return True, deciding.done_message(done, req.title)
