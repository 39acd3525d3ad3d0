"""A read-only history of every run, with cancel, resume and fork."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from . import api, history
from .models import WorkflowRun


class ForkForm(forms.Form):
    from_step = forms.IntegerField(min_value=0, help_text="Checkpoints before this operation number are reused.")


@admin.register(WorkflowRun)
class WorkflowRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "name", "status", "queue", "wait_topic", "wait_until", "created_at", "finished_at")
    list_filter = ("status", "queue", "name")
    search_fields = ("id", "name", "wait_topic")
    date_hierarchy = "created_at"
    actions = ("cancel_runs", "resume_runs")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # history is read-only; cancel, resume and fork need the "manage" permission below

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a run's history is the audit trail: nobody deletes it here, superusers included

    def can_manage(self, request: HttpRequest) -> bool:
        return request.user.has_perm("durable.change_workflowrun")

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

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The run's story (a timeline of its operations) instead of a form: history is never edited."""
        run = self.get_object(request, unquote(object_id))
        if run is None:  # a link to a run that does not exist is a 404, not the list with a notice
            raise Http404(f"There is no workflow run {unquote(object_id)!r}.")
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": f"{run.name} · {run.get_status_display()}",
            "subtitle": run.id,
            "story": history.story(run),
            "can_manage": self.can_manage(request),
            "opts": self.model._meta,
            "original": run,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/durable/workflowrun/history.html", context)

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
