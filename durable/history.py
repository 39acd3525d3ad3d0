"""A run's story for the admin: its operations on a timeline, values shown as the user's data.

Values are the engine's jsonpickle text. They are read with plain ``json.loads`` and never decoded
to objects (decoding imports classes and runs their code); jsonpickle's ``py/...`` markers are
turned back into what the user wrote: tuples and sets as lists, objects as their fields,
datetimes, dates and decimals as their text, exceptions as ``Name: message``.
"""

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from .models import Checkpoint, Event, Message, StepKind, WorkflowRun

LIMIT = 4000
WAITS = (StepKind.RECV, StepKind.SLEEP)
CHILDREN = (StepKind.START, StepKind.RESULT)


@dataclass(frozen=True)
class Bar:
    """Where an operation sits on the run's time axis, in thousandths of the run's span."""

    start: float
    width: float


@dataclass(frozen=True)
class Operation:
    cp: Checkpoint
    value: str  # the output (or the error) as the user's data; "" when there is nothing to show
    failed: bool
    waiting: bool  # a recv or sleep still in progress
    child_id: str  # the child run a "start" or "result" operation is about
    message: Message | None  # what a recv received: the message that woke the run
    event: Event | None  # what a set_event published
    bar: Bar

    @property
    def is_wait(self) -> bool:
        return self.cp.kind in WAITS

    @property
    def duration(self) -> dt.timedelta | None:
        end = self.cp.finished_at or (timezone.now() if self.waiting else None)
        return None if end is None else end - self.cp.started_at

    @property
    def took(self) -> str:
        return "" if self.duration is None else span_text(self.duration)


@dataclass(frozen=True)
class Story:
    run: WorkflowRun
    args: str
    kwargs: list[tuple[str, str]]
    output: str
    error: str
    operations: list[Operation]
    messages: list[tuple[Message, str]]
    children: list[WorkflowRun]
    start: dt.datetime
    end: dt.datetime

    @property
    def took(self) -> str:
        return span_text(self.end - self.start)


def span_text(span: dt.timedelta) -> str:
    """ "840 ms", "3.2 s", "4 min 12 s", "2 h 5 min", "3 d 4 h"."""
    seconds = span.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    days, hours, minutes = whole // 86400, whole % 86400 // 3600, whole % 3600 // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {whole % 60} s"


def story(run: WorkflowRun) -> Story:
    """Everything the run page shows, in five queries whatever the run's length."""
    checkpoints = list(run.checkpoints.all())
    messages = list(Message.objects.filter(destination=run).order_by("id"))
    events = {e.seq: e for e in Event.objects.filter(run=run)}
    start = run.created_at
    end = run.finished_at or max([timezone.now(), *(cp.finished_at or cp.started_at for cp in checkpoints)])
    consumed = {m.consumed_seq: m for m in messages if m.consumed_seq is not None}
    axis = (start, max(end - start, dt.timedelta(milliseconds=1)))
    args, kwargs = _inputs(run.inputs)
    return Story(
        run=run,
        args=args,
        kwargs=kwargs,
        output=readable(run.output) if run.output is not None else "",
        error=readable(run.error) if run.error else "",
        operations=[_operation(cp, consumed.get(cp.seq), events.get(cp.seq), axis) for cp in checkpoints],
        messages=[(m, readable(m.body)) for m in messages],
        children=list(WorkflowRun.objects.filter(parent=run).order_by("created_at").only("id", "name", "status")),
        start=start,
        end=end,
    )


def _operation(
    cp: Checkpoint, message: Message | None, event: Event | None, axis: tuple[dt.datetime, dt.timedelta]
) -> Operation:
    waiting = cp.kind in WAITS and cp.finished_at is None
    failed = cp.error is not None
    value = readable(cp.error) if failed else _value(cp, event)
    child = str(_loads(cp.output)) if cp.kind == StepKind.START and cp.output else ""
    if cp.kind == StepKind.RESULT:
        child = cp.name
    end = cp.finished_at or (timezone.now() if waiting else cp.started_at)
    origin, span = axis
    start = (cp.started_at - origin) / span
    width = (end - cp.started_at) / span
    left = _per_mille(start)
    # Drawn at least 3 per mille wide, so that an instant operation still shows where it happened.
    bar = Bar(min(left, 997.0), max(_per_mille(width), 3.0))
    return Operation(cp, value, failed, waiting, child, message, event, bar)


def _per_mille(fraction: float) -> float:
    return round(min(max(fraction, 0.0), 1.0) * 1000, 1)


def _value(cp: Checkpoint, event: Event | None) -> str:
    if cp.kind == StepKind.SET_EVENT and event is not None:
        return readable(event.value)
    if cp.kind == StepKind.SEND:
        delivered = _loads(cp.output) is not False
        return "Delivered." if delivered else "Not delivered again: its idempotency key was used before."
    if cp.kind in (StepKind.SLEEP, StepKind.SET_EVENT, StepKind.START) or cp.output is None:
        return ""
    return "" if _loads(cp.output) is None else readable(cp.output)  # None: nothing to show


def _inputs(text: str) -> tuple[str, list[tuple[str, str]]]:
    value = plain(_loads(text))
    if not (isinstance(value, list) and len(value) == 2):
        return readable(text), []
    args, kwargs = value
    shown_args = "" if args == [] else _show(args)
    if not isinstance(kwargs, dict):
        return shown_args, [("", _show(kwargs))]
    return shown_args, [(str(k), _show(v)) for k, v in kwargs.items()]


def readable(text: str | None) -> str:
    """Stored text as the user's data: a string as itself, anything else as indented JSON."""
    if text is None:
        return ""
    return _show(plain(_loads(text)))


def _show(value: Any) -> str:
    """A string as itself; other values as JSON, on one line when it is short."""
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(shown) > 72 and not isinstance(value, str):
        shown = json.dumps(value, indent=2, ensure_ascii=False)
    return shown if len(shown) <= LIMIT else shown[:LIMIT] + "\n… (truncated)"


def _loads(text: str | None) -> Any:
    try:
        return json.loads(text or "null")
    except ValueError:
        return text


def plain(value: Any) -> Any:
    """``value`` without jsonpickle's markers."""
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


def _reduced(reduced: list[Any]) -> Any:
    """An object pickled by reduction: a datetime, date or decimal as its text, an exception as
    ``Name: message``, anything else as ``Name(args)``."""
    kind = str(reduced[0].get("py/type", "object")) if isinstance(reduced[0], dict) else "object"
    args = plain(reduced[1]) if len(reduced) > 1 else []
    args = args if isinstance(args, list) else [args]
    if kind in ("datetime.datetime", "datetime.date", "datetime.time"):
        return _moment(kind, reduced[1] if isinstance(reduced[1], list) else [])
    if kind == "decimal.Decimal" and len(args) == 1:
        return args[0]
    name = kind.rsplit(".", 1)[-1]
    if name.endswith(("Error", "Exception")) or (kind.startswith("builtins.") and name[:1].isupper()):
        return f"{name}: {', '.join(str(a) for a in args)}" if args else name
    simple = all(isinstance(a, (str, int, float, bool)) or a is None for a in args)
    inside = ", ".join(a if isinstance(a, str) else json.dumps(a) for a in args) if simple else "…"
    return f"{name}({inside})"


def _moment(kind: str, args: list[Any]) -> str:
    """A datetime, date or time from its pickled state (bytes, base64) and its timezone offset."""
    try:
        state = base64.b64decode(str(args[0]))
        if kind == "datetime.date":
            return dt.date(state[0] * 256 + state[1], state[2], state[3]).isoformat()
        tz = _offset(args[1]) if len(args) > 1 else None
        if kind == "datetime.time":
            return dt.time(state[0], state[1], state[2], int.from_bytes(state[3:6]), tzinfo=tz).isoformat()
        year = state[0] * 256 + state[1]
        micro = int.from_bytes(state[7:10])
        moment = dt.datetime(year, state[2] & 0x7F, state[3], state[4], state[5], state[6], micro, tzinfo=tz)
        return moment.isoformat(sep=" ")
    except (IndexError, ValueError, TypeError, binascii.Error):
        return kind.rsplit(".", 1)[-1]


def _offset(value: Any) -> dt.tzinfo | None:
    """A ``datetime.timezone`` from its pickled reduction (the offset as days, seconds, microseconds)."""
    try:
        days, seconds, micro = value["py/reduce"][1]["py/tuple"][0]["py/reduce"][1]["py/tuple"]
        return dt.timezone(dt.timedelta(days=days, seconds=seconds, microseconds=micro))
    except (KeyError, IndexError, TypeError, ValueError):
        return None  # a zone other than a fixed offset: shown as local time without its zone


def _key(key: Any) -> str:
    text = plain(key)
    if isinstance(text, str) and text.startswith("json://"):
        return text[len("json://") :]  # a non-string key, written as its JSON
    return text if isinstance(text, str) else json.dumps(text)
