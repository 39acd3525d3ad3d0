"""A proposal's arguments as a reviewer reads them: labelled values, the ones that matter first.

Labels and descriptions come from the agent's JSON schema where it gives them. What matters most
is what a reviewer checks before saying yes: money, who receives something, what is changed.
"""

import json
from dataclasses import dataclass
from typing import Any

# Argument names (or their last word: "refund_amount", "target_env") a reviewer checks first.
PROMINENT_WORDS = {
    "amount", "total", "price", "cost", "sum", "fee", "quantity", "currency",
    "to", "recipient", "recipients", "email", "customer", "account", "user",
    "target", "service", "environment", "env", "version", "destination", "host",
}  # fmt: skip
PROMINENT_FORMATS = {"email", "uri", "idn-email"}


@dataclass(frozen=True)
class Argument:
    key: str
    label: str  # the schema's title, else the key
    description: str
    value: str  # as text: a string as itself, yes/no, numbers and other values as JSON
    kind: str  # the JSON type: string, number, boolean, null, array, object
    prominent: bool

    @property
    def long(self) -> bool:
        return "\n" in self.value or len(self.value) > 80


def labelled(arguments: dict[str, Any], schema: dict[str, Any] | None) -> list[Argument]:
    """Every argument, the prominent ones first (each group keeps the agent's order)."""
    properties = (schema or {}).get("properties")
    properties = properties if isinstance(properties, dict) else {}
    shown = [_argument(key, value, properties.get(key)) for key, value in arguments.items()]
    return [a for a in shown if a.prominent] + [a for a in shown if not a.prominent]


def _argument(key: str, value: Any, prop: Any) -> Argument:
    prop = prop if isinstance(prop, dict) else {}
    title, description = prop.get("title"), prop.get("description")
    return Argument(
        key=key,
        label=title if isinstance(title, str) and title.strip() else key,
        description=description if isinstance(description, str) else "",
        value=text(value),
        kind=kind(value),
        prominent=_prominent(key, value, prop),
    )


def _prominent(key: str, value: Any, prop: dict[str, Any]) -> bool:
    if isinstance(value, (dict, list)) or value is None:
        return False
    if prop.get("format") in PROMINENT_FORMATS:
        return True
    words = key.lower().replace("-", "_").split("_")
    return key.lower() in PROMINENT_WORDS or words[-1] in PROMINENT_WORDS


def text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "—"
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return ", ".join(v if isinstance(v, str) else json.dumps(v) for v in value) or "(none)"
    return json.dumps(value, ensure_ascii=False, indent=2 if isinstance(value, (dict, list)) else None)


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    return "array" if isinstance(value, list) else "null"
