"""Reviewer input, validated before anything is recorded or sent to an agent."""

import json
import math
from typing import Any

from django import forms

from . import schema as schemas
from .arguments import kind as json_kind
from .models import Choice, Request

MAX_TEXT = 10_000
MAX_JSON = 100_000


def parse_object(text: str) -> dict[str, Any]:
    """A JSON object from reviewer text (plain ``json``: never an object instantiated from it)."""
    value = _loads(text)
    if not isinstance(value, dict):
        raise forms.ValidationError("The arguments must be a JSON object: {...}.")
    return value


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise forms.ValidationError(f"This is not valid JSON: {exc}. Check quotes, commas and brackets.") from None
    except RecursionError:  # the parser refuses nesting past the recursion limit (~1,000 levels)
        raise forms.ValidationError(
            f"This JSON nests too deeply to read; at most {schemas.MAX_DEPTH} levels are accepted. "
            "Flatten the structure."
        ) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_arguments(request: Request, arguments: dict[str, Any]) -> list[str]:
    """What is wrong with the arguments: first what the engine cannot store (the schema's messages
    quote values, so they come only after), then what the agent's schema refuses."""
    return schemas.storage_problems(arguments) or schemas.errors(arguments, request.schema)


class DecisionForm(forms.Form):
    """One decision on one request: what was chosen, with what it needs."""

    choice = forms.ChoiceField(choices=Choice.choices)
    reason = forms.CharField(required=False, max_length=MAX_TEXT, strip=True)
    response = forms.CharField(required=False, max_length=MAX_TEXT, strip=True)
    arguments_json = forms.CharField(required=False, max_length=MAX_JSON, strip=False)
    shown = forms.CharField(max_length=64, error_messages={"required": "The form is incomplete: reload the page."})

    def __init__(self, request_obj: Request, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_obj = request_obj
        self.arguments: dict[str, Any] | None = None

    def clean_choice(self) -> str:
        choice: str = self.cleaned_data["choice"]
        if not self.request_obj.allows(choice):
            allowed = ", ".join(self.request_obj.choices)
            raise forms.ValidationError(f"This agent does not accept “{choice}”; it accepts: {allowed}.")
        return choice

    def clean_shown(self) -> str:
        shown: str = self.cleaned_data["shown"]
        if shown != self.request_obj.shown_digest():
            raise forms.ValidationError("What you were shown does not match this request: reload the page.")
        return shown

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        choice = data.get("choice")
        if choice == Choice.REJECT and not data.get("reason"):
            self.add_error("reason", "Say why you reject it: the agent and the audit log need a reason.")
        if choice == Choice.RESPOND and not data.get("response"):
            self.add_error("response", "Write the answer to send to the agent.")
        if choice == Choice.EDIT:
            self._clean_edit(data.get("arguments_json") or "")
        return data

    def details(self) -> dict[str, Any]:
        """What the chosen decision carries, as ``deciding.decide`` takes it (valid forms only)."""
        choice = self.cleaned_data["choice"]
        return {
            "reason": self.cleaned_data["reason"] if choice == Choice.REJECT else "",
            "response": self.cleaned_data["response"] if choice == Choice.RESPOND else "",
            "arguments": self.arguments if choice == Choice.EDIT else None,
        }

    def _clean_edit(self, text: str) -> None:
        try:
            arguments = parse_object(text)
        except forms.ValidationError as exc:
            self.add_error("arguments_json", exc)
            return
        problems = check_arguments(self.request_obj, arguments)
        for problem in problems:
            self.add_error("arguments_json", problem)
        if not problems and _same_json(arguments, self.request_obj.arguments):
            self.add_error("arguments_json", "Nothing changed: approve it instead, or change a value.")
        self.arguments = arguments


def _same_json(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


class JsonArgumentsForm(forms.Form):
    """Edit the arguments as one JSON object (to add or remove keys)."""

    arguments_json = forms.CharField(max_length=MAX_JSON, strip=False, widget=forms.Textarea(attrs={"rows": 10}))

    def __init__(self, request_obj: Request, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_obj = request_obj
        self.arguments: dict[str, Any] = {}
        if not self.is_bound:
            self.initial["arguments_json"] = json.dumps(request_obj.arguments, indent=2, ensure_ascii=False)

    def clean_arguments_json(self) -> str:
        text: str = self.cleaned_data["arguments_json"]
        self.arguments = parse_object(text)
        problems = check_arguments(self.request_obj, self.arguments)
        if problems:
            raise forms.ValidationError(problems)
        return text


class FieldArgumentsForm(forms.Form):
    """Edit each argument in an input that keeps its JSON type (the type of the proposed value)."""

    def __init__(self, request_obj: Request, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_obj = request_obj
        self.arguments: dict[str, Any] = {}
        self.keys: dict[str, str] = {}
        for key, value in request_obj.arguments.items():
            name = f"arg.{key}"
            self.keys[name] = key
            self.fields[name] = _field_for(key, value)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        self.arguments = {key: data[name] for name, key in self.keys.items()}
        for problem in check_arguments(self.request_obj, self.arguments):
            self.add_error(self._field_of(problem), problem)
        return data

    def _field_of(self, problem: str) -> str | None:
        """Attach a schema error to the input it is about, when it names one."""
        for name, key in self.keys.items():
            if problem.startswith(f"{key}:") or problem.startswith(f"{key}."):
                return name
        return None


def _field_for(key: str, value: Any) -> forms.Field:
    attrs = {"data-json-type": json_kind(value), "data-key": key}
    if isinstance(value, bool):
        return forms.BooleanField(label=key, required=False, initial=value, widget=forms.CheckboxInput(attrs=attrs))
    if isinstance(value, (int, float)):
        return NumberField(
            label=key, initial=json.dumps(value), widget=forms.TextInput(attrs=attrs | {"inputmode": "decimal"})
        )
    if isinstance(value, str):
        widget = (
            forms.Textarea(attrs=attrs | {"rows": 4})
            if "\n" in value or len(value) > 80
            else forms.TextInput(attrs=attrs)
        )
        return forms.CharField(
            label=key, required=False, strip=False, initial=value, max_length=MAX_TEXT, widget=widget
        )
    return JsonValueField(
        type(value), label=key, initial=json.dumps(value, indent=2), widget=forms.Textarea(attrs=attrs | {"rows": 4})
    )


class NumberField(forms.CharField):
    """A JSON number: whole numbers stay integers, decimals become floats."""

    def to_python(self, value: Any) -> Any:
        text = str(super().to_python(value)).strip()
        try:
            number = json.loads(text, parse_constant=_no_constant)
        except ValueError:
            number = None
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise forms.ValidationError(f"“{text}” is not a number. Write digits, like 42 or 42.50.")
        return number


class JsonValueField(forms.CharField):
    """An object, list or null argument, written as JSON; it keeps its kind (an object stays an object)."""

    def __init__(self, kind: type, **kwargs: Any) -> None:
        super().__init__(required=False, strip=False, max_length=MAX_JSON, **kwargs)
        self.kind = kind

    def to_python(self, value: Any) -> Any:
        text = str(super().to_python(value)).strip() or "null"
        parsed = _loads(text)
        if self.kind in (dict, list) and not isinstance(parsed, self.kind):
            raise forms.ValidationError(f"Keep this a JSON {'object' if self.kind is dict else 'list'}.")
        return parsed
