"""The edit form, following the agent's schema: enums are selects, numbers number inputs with their
limits beside them, booleans checkboxes, emails, dates and web addresses their own input types.

The browser posts plain fields; the server turns them into JSON values of the schema's types and
validates the whole against the schema (the browser's checks are only a convenience).
"""

import json
from typing import Any

from django import forms

from .forms import MAX_TEXT, FieldArgumentsForm, NumberField
from .models import Request

INPUT_TYPES = {"email": "email", "idn-email": "email", "date": "date", "uri": "url", "time": "time"}


class SchemaArgumentsForm(FieldArgumentsForm):
    """One input per argument, of the kind its schema property describes (else of its value's type)."""

    def __init__(self, request_obj: Request, *args: Any, **kwargs: Any) -> None:
        super().__init__(request_obj, *args, **kwargs)
        schema = request_obj.schema if isinstance(request_obj.schema, dict) else {}
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        for name, key in self.keys.items():
            prop = properties.get(key) if isinstance(properties, dict) else None
            if isinstance(prop, dict):
                self.fields[name] = _follow(self.fields[name], key, request_obj.arguments[key], prop)

    def _field_of(self, problem: str) -> str | None:
        """The input a schema error is about: its sentence starts with the argument's name."""
        for name, key in sorted(self.keys.items(), key=lambda item: -len(item[1])):
            if problem.startswith((f"{key} ", f"{key}.", f"{key}[", f"{key}:")):
                return name
        return None


def _follow(field: forms.Field, key: str, value: Any, prop: dict[str, Any]) -> forms.Field:
    made = _made(field, value, prop)
    title, description = prop.get("title"), prop.get("description")
    made.label = title if isinstance(title, str) and title.strip() else key
    made.help_text = description if isinstance(description, str) else ""
    made.widget.attrs.update({"data-key": key, "data-json-type": field.widget.attrs.get("data-json-type", "")})
    return made


def _made(field: forms.Field, value: Any, prop: dict[str, Any]) -> forms.Field:
    enum = prop.get("enum")
    if isinstance(enum, list) and enum and all(_scalar(v) for v in enum):
        return _choice(enum, value)
    kind = prop.get("type")
    if (kind == "boolean" or isinstance(value, bool)) and isinstance(value, bool):
        return field  # already a checkbox
    if kind in ("number", "integer") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number(field, prop, integer=kind == "integer")
    if kind == "string" and isinstance(value, str):
        return _text(field, prop)
    return field


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _choice(enum: list[Any], value: Any) -> forms.Field:
    """A select of the allowed values; each posts as text and turns back into its value (a number
    stays a number). Strings post as themselves, unless another value would post the same text."""
    values = enum if value in enum else [value, *enum]  # the proposal shows even if the schema refuses it
    posted = {_posted(v): v for v in values}
    if len(posted) < len(values):
        posted = {json.dumps(v): v for v in values}
    labels = {_posted(v): _posted(v) + ("" if v in enum else " (proposed, not allowed)") for v in values}
    options = [(text, labels.get(text, text)) for text in posted]
    initial = next(text for text, v in posted.items() if v == value and type(v) is type(value))
    return forms.TypedChoiceField(choices=options, coerce=posted.__getitem__, initial=initial)


def _posted(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _number(field: forms.Field, prop: dict[str, Any], integer: bool) -> forms.Field:
    attrs: dict[str, Any] = {"step": "1" if integer else "any", "inputmode": "numeric" if integer else "decimal"}
    for bound, attr in (("minimum", "min"), ("maximum", "max")):
        if _number_value(prop.get(bound)):
            attrs[attr] = json.dumps(prop[bound])
    made = NumberField(initial=field.initial, widget=forms.NumberInput(attrs=attrs))
    made.limits = limits(prop)  # type: ignore[attr-defined]
    return made


def _number_value(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def limits(prop: dict[str, Any]) -> str:
    """ "more than 0, at most 148.34": the bounds a number must keep, in words."""
    words = {
        "exclusiveMinimum": "more than",
        "minimum": "at least",
        "exclusiveMaximum": "less than",
        "maximum": "at most",
        "multipleOf": "a multiple of",
    }
    return ", ".join(f"{w} {json.dumps(prop[k])}" for k, w in words.items() if _number_value(prop.get(k)))


def _text(field: forms.Field, prop: dict[str, Any]) -> forms.Field:
    fmt = prop.get("format")
    attrs: dict[str, Any] = {}
    if isinstance(prop.get("maxLength"), int):
        attrs["maxlength"] = prop["maxLength"]
    if fmt in INPUT_TYPES:
        widget: forms.Widget = forms.TextInput(attrs=attrs | {"type": INPUT_TYPES[str(fmt)]})
    elif isinstance(field.widget, forms.Textarea):
        widget = forms.Textarea(attrs=attrs | {"rows": 4})
    else:
        widget = forms.TextInput(attrs=attrs)
    made = forms.CharField(required=False, strip=False, max_length=MAX_TEXT, initial=field.initial, widget=widget)
    if isinstance(prop.get("maxLength"), int):
        made.limits = f"up to {prop['maxLength']} characters"  # type: ignore[attr-defined]
    return made
