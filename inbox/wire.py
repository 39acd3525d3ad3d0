"""The decision message sent from the inbox to a waiting agent.

Only plain strings travel, built by our code from validated input: the engine stores messages
with jsonpickle, which would turn a reviewer's ``{"py/object": ...}`` into an object, so edited
arguments go as a JSON *string* that the agent decodes with ``json.loads``.
"""

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import DecisionRecord

KIND = "inbox.decision"
CHOICES = ("approve", "reject", "edit", "respond")
FIELDS = ("request_id", "choice", "reason", "response", "arguments_json", "reviewer", "decided_at")


def message_for(record: "DecisionRecord") -> dict[str, str]:
    after = record.arguments_after
    return {
        "kind": KIND,
        "request_id": str(record.request_id),
        "choice": str(record.choice),
        "reason": record.reason,
        "response": record.response,
        "arguments_json": "" if after is None else json.dumps(after, sort_keys=True),
        "reviewer": record.reviewer_name,
        "decided_at": record.decided_at.isoformat(),
        "approvers_json": json.dumps(list(record.approvers)),
    }


def parse(message: Any) -> dict[str, str] | None:
    """The message's fields if it is a well-formed decision message, else None (to be skipped)."""
    if not isinstance(message, dict) or message.get("kind") != KIND:
        return None
    if not all(isinstance(message.get(name), str) for name in FIELDS):
        return None
    if message["choice"] not in CHOICES:
        return None
    fields = {name: message[name] for name in FIELDS}
    # Messages sent before quorums existed carry no approvers.
    approvers = message.get("approvers_json", "[]")
    fields["approvers_json"] = approvers if isinstance(approvers, str) else "[]"
    return fields


def approvers(fields: dict[str, str]) -> tuple[str, ...]:
    try:
        names = json.loads(fields.get("approvers_json") or "[]")
    except ValueError:
        return ()
    return tuple(n for n in names if isinstance(n, str)) if isinstance(names, list) else ()


def edited_arguments(fields: dict[str, str]) -> dict[str, Any]:
    value = json.loads(fields["arguments_json"])
    if not isinstance(value, dict):
        raise ValueError("Edited arguments must be a JSON object.")
    return value
