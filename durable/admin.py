"""A read-only history of every run, with cancel, resume and fork."""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from . import api
from .models import Checkpoint, Event, Message, WorkflowRun


def pretty(text: str | None, limit: int = 4000) -> str:
    """Show stored jsonpickle text as indented JSON without decoding it into objects."""
    if text is None:
        return "—"
    try:
        shown = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        shown = text
    return shown if len(shown) <= limit else shown[:limit] + "\n… (truncated)"


def pre(text: str) -> str:
    return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', text)


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CheckpointInline(ReadOnlyInline):
    model = Checkpoint
    fields = readonly_fields = ("seq", "kind", "name", "shown_output", "attempts", "started_at", "duration", "deadline")
    verbose_name_plural = "Steps (checkpoints)"

    @admin.display(description="output / error")
    def shown_output(self, obj: Checkpoint) -> str:
        if obj.error is not None:
            return pre("raised " + pretty(obj.error, 1000))
        return pre(pretty(obj.output, 1000)) if obj.done else "waiting…"

    @admin.display(description="ms")
    def duration(self, obj: Checkpoint) -> str:
        ms = obj.duration_ms
        return "—" if ms is None else f"{ms:.1f}"


class MessageInline(ReadOnlyInline):
    model = Message
    fk_name = "destination"
    fields = readonly_fields = ("id", "topic", "shown_body", "idempotency_key", "sender", "created_at", "consumed_at")

    @admin.display(description="body")
    def shown_body(self, obj: Message) -> str:
        return pre(pretty(obj.body, 1000))


class EventInline(ReadOnlyInline):
    model = Event
    fields = readonly_fields = ("seq", "key", "shown_value", "created_at")
    verbose_name_plural = "Events (history)"

    @admin.display(description="value")
    def shown_value(self, obj: Event) -> str:
        return pre(pretty(obj.value, 1000))


class ForkForm(forms.Form):
    from_step = forms.IntegerField(min_value=0, help_text="Checkpoints before this operation number are reused.")


SECTIONS: list[tuple[str | None, tuple[str, ...]]] = [
    (None, ("id", "name", "target", "status", "queue", "priority", "parent", "forked_from")),
    ("Data", ("shown_inputs", "shown_output", "error_message", "shown_traceback")),
    ("Waiting and execution", (
        "wait_topic", "wait_until", "lease_owner", "recovery_attempts", "max_recovery_attempts",
        "created_at", "started_at", "finished_at", "fork_link",
    )),
]  # fmt: skip


@admin.register(WorkflowRun)
class WorkflowRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "name", "status", "queue", "wait_topic", "wait_until", "created_at", "finished_at")
    list_filter = ("status", "queue", "name")
    search_fields = ("id", "name", "wait_topic")
    date_hierarchy = "created_at"
    inlines = (CheckpointInline, MessageInline, EventInline)
    actions = ("cancel_runs", "resume_runs")
    fieldsets = [(title, {"fields": names}) for title, names in SECTIONS]
    readonly_fields = [name for _, names in SECTIONS for name in names]  # history is never edited

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # history is read-only; cancel, resume and fork need the "manage" permission below

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a run's history is the audit trail: nobody deletes it here, superusers included

    def can_manage(self, request: HttpRequest) -> bool:
        return request.user.has_perm("durable.change_workflowrun")

    @admin.display(description="inputs (args, kwargs)")
    def shown_inputs(self, obj: WorkflowRun) -> str:
        return pre(pretty(obj.inputs))

    @admin.display(description="output")
    def shown_output(self, obj: WorkflowRun) -> str:
        return pre(pretty(obj.output))

    @admin.display(description="traceback")
    def shown_traceback(self, obj: WorkflowRun) -> str:
        return pre(obj.traceback or "—")

    @admin.display(description="fork")
    def fork_link(self, obj: WorkflowRun) -> str:
        url = reverse("admin:durable_workflowrun_fork", args=[obj.pk])
        return format_html('<a class="button" href="{}">Fork from a step…</a>', url)

    @admin.action(description="Cancel selected runs", permissions=["manage"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[WorkflowRun]) -> None:
        for run in queryset:
            api.cancel(run.id)
        self.message_user(request, f"Cancelled {queryset.count()} run(s).", messages.SUCCESS)

    @admin.action(description="Resume selected runs from their last checkpoint", permissions=["manage"])
    def resume_runs(self, request: HttpRequest, queryset: QuerySet[WorkflowRun]) -> None:
        done, refused = 0, []
        for run in queryset:
            try:
                api.resume(run.id)
                done += 1
            except ValueError as exc:
                refused.append(str(exc))
        self.message_user(request, f"Resumed {done} run(s).", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.WARNING)

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return self.can_manage(request)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> WorkflowRun | None:
        if "\x00" in object_id:  # no id holds one, and PostgreSQL refuses it in a query
            return None
        return super().get_object(request, object_id, from_field)

    def get_urls(self) -> list[URLPattern]:
        fork = path(
            "<path:object_id>/fork/", self.admin_site.admin_view(self.fork_view), name="durable_workflowrun_fork"
        )
        return [fork, *super().get_urls()]

    def fork_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.can_manage(request):
            raise PermissionDenied
        run = self.get_object(request, object_id)
        if run is None:
            raise Http404(f"There is no workflow run {object_id!r}.")
        form = ForkForm(request.POST or None, initial={"from_step": run.checkpoints.count()})
        if request.method == "POST" and form.is_valid():
            handle = api.fork(run.id, from_step=form.cleaned_data["from_step"])
            self.message_user(request, f"Forked {run.id} as {handle.id}.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:durable_workflowrun_change", args=[handle.id]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Fork {run.name}",
            "run": run,
            "form": form,
            "checkpoints": run.checkpoints.all(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/durable/workflowrun/fork.html", context)
