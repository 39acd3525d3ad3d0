"""JSON stored as text, so an object's keys come back in the order they were written.

PostgreSQL's jsonb keeps objects with their keys reordered (shortest first), so the arguments
a reviewer reads and edits would not be in the order the agent gave them. This field stores
the JSON text itself and reads it with plain ``json.loads`` (dicts keep their order).
"""

import json
from typing import Any

from django import forms
from django.db import models


class OrderedJSONField(models.TextField):  # type: ignore[type-arg]
    """A JSON value (plain data only) kept as text; SQL NULL stands for None."""

    description = "JSON text that keeps the order of object keys"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return None if value is None else json.loads(value)

    def to_python(self, value: Any) -> Any:
        return value  # already plain data: a str is a JSON string, not text to parse

    def get_prep_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def value_to_string(self, obj: models.Model) -> Any:
        return self.value_from_object(obj)  # serializers write the data itself, as JSONField does

    def formfield(
        self,
        form_class: type[forms.Field] | None = None,
        choices_form_class: type[forms.ChoiceField] | None = None,
        **kwargs: Any,
    ) -> forms.Field | None:
        return super().formfield(
            form_class=form_class or forms.JSONField, choices_form_class=choices_form_class, **kwargs
        )
