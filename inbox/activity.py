"""The agent's activity as a reviewer reads it: its steps and progress, without engine internals.

Values come from the engine's rows (jsonpickle text). They are read with plain ``json.loads``
and never decoded to objects; jsonpickle's ``py/...`` tags are dropped for display.
"""

import json
from dataclasses import dataclass
from typing import Any

import durable
from durable.models import Checkpoint, Event, Message, Status, StepKind, WorkflowRun

from .models import Request
from .rendering import pretty_json

# Clock readings and event bookkeeping: the engine needs them to replay, a reviewer does not.
BOOKKEEPING = (StepKind.NOW, StepKind.SET_EVENT, StepKind.GET_EVENT)
LIMIT = 600


@dataclass(frozen=True)
class Step:
    cp: Checkpoint
    output: str


@dataclass(frozen=True)
class Progress:
    key: str
    created_at: Any
    lines: list[tuple[str, str]]  # (field, value); field is "" for a value that is not an object


def activity(req: Request) -> dict[str, Any]:
    run = WorkflowRun.objects.filter(id=req.run_id).first()
    checkpoints = list(run.checkpoints.all()) if run else []
    steps = [Step(cp, _output(cp)) for cp in checkpoints if cp.error is not None or cp.kind not in BOOKKEEPING]
    events = [_progress(e) for e in durable.event_history(req.run_id)]
    return {"run": run, "steps": steps, "hidden_steps": len(checkpoints) - len(steps), "events": events}


@dataclass(frozen=True)
class AfterDecision:
    """What the agent did once the decision reached it."""

    run: WorkflowRun | None
    received: bool  # the agent's recv took the decision
    items: list[Step | Progress]  # in the order the agent did them
    result: str  # the run's result (or its error) once it ended
    next_request: Request | None = None  # the run's next question to the inbox, if it asked again

    @property
    def finished(self) -> bool:
        return self.run is None or self.run.is_finished


def after_decision(req: Request) -> AfterDecision:
    """The run's steps and progress events after the recv that took ``req``'s decision (sent with
    the request id as its idempotency key), and its result once it ends."""
    run = WorkflowRun.objects.filter(id=req.run_id).first()
    message = Message.objects.filter(destination_id=req.run_id, idempotency_key=str(req.id)).first()
    if run is None or message is None or message.consumed_seq is None:
        return AfterDecision(run, False, [], "")
    later = run.checkpoints.filter(seq__gt=message.consumed_seq).exclude(kind__in=BOOKKEEPING, error__isnull=True)
    events = Event.objects.filter(run_id=run.id, seq__gt=message.consumed_seq).order_by("id")
    result = ""
    if run.status == Status.SUCCESS:
        result = shown(run.output)
    elif run.status == Status.ERROR:
        result = run.error_message or shown(run.error)
    done = [(cp.seq, Step(cp, _output(cp))) for cp in later] + [(e.seq, _progress(e)) for e in events]
    items = [item for _, item in sorted(done, key=lambda pair: pair[0])]
    asked_again = Request.objects.filter(run_id=run.id, created_at__gt=req.created_at).order_by("created_at").first()
    return AfterDecision(run, True, items, result, asked_again)


def _output(cp: Checkpoint) -> str:
    if cp.error is not None:
        return shown(cp.error)
    return "" if cp.kind == StepKind.SLEEP else shown(cp.output)


def _progress(event: Any) -> Progress:
    value = plain(_loads(event.value))
    if isinstance(value, dict) and value:
        lines = [(str(k), _clip(v if isinstance(v, str) else _compact(v))) for k, v in value.items()]
    else:
        lines = [("", _clip(value if isinstance(value, str) else _compact(value)))]
    return Progress(event.key, event.created_at, lines)


def shown(text: str | None) -> str:
    """A stored value as readable text: a string as itself, anything else as indented JSON."""
    if text is None:
        return ""
    value = plain(_loads(text))
    return _clip(value if isinstance(value, str) else pretty_json(value))


def plain(value: Any) -> Any:
    """``value`` without jsonpickle's tags: objects become their fields, tuples and sets lists."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if not isinstance(value, dict):
        return value
    for tag in ("py/tuple", "py/set"):
        if tag in value:
            return plain(value[tag])
    if str(value.get("py/object", "")).endswith(".TaggedKeys"):  # a dict whose keys looked like tags
        return {_key(k): plain(v) for k, v in value.get("items", [])}
    reduced = value.get("py/reduce") or value.get("__reduce__")
    if isinstance(reduced, list) and reduced:
        return _reduced(reduced)
    if "py/id" in value:
        return "(shown above)"  # jsonpickle's reference to an object it already wrote
    if "py/state" in value:
        return plain(value["py/state"])
    return {_key(k): plain(v) for k, v in value.items() if not (isinstance(k, str) and k.startswith("py/"))}


def _reduced(reduced: list[Any]) -> str:
    """An object pickled by reduction (a Decimal, an exception): ``Name(args)`` when the args are simple."""
    kind = reduced[0].get("py/type", "object") if isinstance(reduced[0], dict) else "object"
    args = plain(reduced[1]) if len(reduced) > 1 else []
    simple = isinstance(args, list) and all(isinstance(a, (str, int, float, bool)) or a is None for a in args)
    inside = ", ".join(a if isinstance(a, str) else json.dumps(a) for a in args) if simple else "…"
    return f"{str(kind).rsplit('.', 1)[-1]}({inside})"


def _key(key: Any) -> str:
    text = plain(key)
    if isinstance(text, str) and text.startswith("json://"):
        return text[len("json://") :]  # a non-string key, written as its JSON
    return text if isinstance(text, str) else json.dumps(text)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _clip(text: str) -> str:
    return text if len(text) <= LIMIT else text[:LIMIT] + " … (truncated)"
