"""Small display helpers for the inbox templates."""

import functools
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from .. import rendering

register = template.Library()


@register.filter
def countdown(deadline: datetime | None) -> str:
    """ "in 3h 12m" or "overdue by 5m" (inbox.js keeps it ticking in the browser)."""
    if deadline is None:
        return "no deadline"
    left = int((deadline - timezone.now()).total_seconds())
    text = _span(abs(left))
    return f"in {text}" if left > 0 else f"overdue by {text}"


SOON = timedelta(hours=1)


@register.filter
def urgency(req: Any) -> str:
    """ "overdue" past an open request's deadline, "soon" within the hour before it, else "".
    (inbox.js moves a request from one to the next as the clock runs.)"""
    if not req.is_open or req.deadline is None:
        return ""
    left = req.deadline - timezone.now()
    return "overdue" if left <= timedelta(0) else "soon" if left <= SOON else ""


def _span(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


@register.filter
def agent_label(name: str) -> str:
    """A demo agent's display name ("Refund"); any other workflow by its full name (dots and all)."""
    return _demo_labels().get(name, name)


@functools.cache
def _demo_labels() -> dict[str, str]:
    from ..agents import KINDS, workflow_of

    return {workflow_of(kind).name: found.label for kind, found in KINDS.items()}


@register.filter
def ago(moment: datetime | None) -> str:
    """ "just now" under a minute, else Django's "3 minutes ago"."""
    if moment is None:
        return ""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"


@register.filter
def pretty_json(value: object) -> str:
    """Indented JSON text; the template escapes it like any other text."""
    return rendering.pretty_json(value)
