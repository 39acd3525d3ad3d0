"""Small display helpers for the inbox templates."""

from datetime import datetime

from django import template
from django.utils import timezone

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
def short_agent(name: str) -> str:
    """A workflow's name without its module path."""
    return name.rsplit(".", 1)[-1].replace("_", " ")


@register.filter
def get_item(mapping: dict[str, int], key: str) -> int:
    return mapping.get(key, 0)


@register.filter
def pretty_json(value: object) -> str:
    """Indented JSON text; the template escapes it like any other text."""
    return rendering.pretty_json(value)
