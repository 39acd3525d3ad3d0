"""Showing what an agent wrote: it is untrusted text, so everything here comes out inert."""

import json
from dataclasses import dataclass
from typing import Any

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

# "js-default" is markdown-it's safe preset: raw HTML off, javascript:/vbscript:/data: links refused.
_markdown = MarkdownIt("js-default", {"html": False, "linkify": False, "typographer": False})

ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol",
    "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul", "del", "s",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"align"}, "th": {"align"}}


def markdown(text: str) -> SafeString:
    """Agent markdown as HTML that cannot run script: rendered without raw HTML, then sanitized."""
    html = _markdown.render(text or "")
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)


def pretty_json(value: Any) -> str:
    """Indented JSON text (escaped later by the template like any other text)."""
    return json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False)


@dataclass(frozen=True)
class Change:
    key: str
    kind: str  # "added", "removed", "changed"
    before: str
    after: str


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Top-level changes between two argument objects, values shown as JSON."""
    changes = []
    for key in [*before, *(k for k in after if k not in before)]:
        if key not in after:
            changes.append(Change(key, "removed", _show(before[key]), ""))
        elif key not in before:
            changes.append(Change(key, "added", "", _show(after[key])))
        elif not _same(before[key], after[key]):
            changes.append(Change(key, "changed", _show(before[key]), _show(after[key])))
    return changes


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
