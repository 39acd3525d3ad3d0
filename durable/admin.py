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

from . import api, history, store, versions
from .models import WorkflowRun
from .schedules import schedules


class ForkForm(forms.Form):
    from_step = forms.IntegerField(min_value=0, help_text="Checkpoints before this operation number are reused.")


@admin.register(WorkflowRun)
class WorkflowRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "name", "status", "queue", "app_version", "wait_topic", "wait_until", "created_at",
                    "finished_at")  # fmt: skip
    list_filter = ("status", "queue", "app_version", "name")
    search_fields = ("id", "name", "wait_topic")
    date_hierarchy = "created_at"
    actions = ("cancel_runs", "resume_runs", "resume_on_current_version", "fork_on_current_version")

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

    @admin.action(description="Resume on the current version (replay on the current code)", permissions=["manage"])
    def resume_on_current_version(self, request: HttpRequest, queryset: QuerySet[WorkflowRun]) -> None:
        """For unfinished runs whose application version no worker serves any more: any worker
        may now take them, replaying their history on its code (a change that does not fit the
        history stops the run with a non-determinism error; fork it then)."""
        count = store.unpin_version([run.id for run in queryset])
        self.message_user(request, f"{count} run(s) will resume on the current version.", messages.SUCCESS)

    @admin.action(description="Fork on the current version (a copy reusing every checkpoint)", permissions=["manage"])
    def fork_on_current_version(self, request: HttpRequest, queryset: QuerySet[WorkflowRun]) -> None:
        """For runs whose application version no worker serves any more: a fork is a new run,
        which any worker may start, and it takes the version of the worker that claims it."""
        for run in queryset:
            handle = api.fork(run.id, from_step=run.checkpoints.count())
            self.message_user(
                request,
                f"Forked {run.id} (version {run.app_version or 'none'}) as {handle.id}: it reuses the original's "
                "finished checkpoints and runs on the current version. The original is left as it was; a wait it "
                "was in starts anew in the fork (send the fork what the original was waiting for).",
                messages.SUCCESS,
            )

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
        scheduled = path(
            "schedules/", self.admin_site.admin_view(self.schedules_view), name="durable_workflowrun_schedules"
        )
        return [scheduled, fork, *super().get_urls()]

    def schedules_view(self, request: HttpRequest) -> HttpResponse:
        """The schedules the workers import (each app's workflows module and DURABLE_IMPORTS) and
        their next tick: read-only, as the schedules live in code."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        versions.import_workflows()
        rows = []
        for schedule in schedules():
            runs = WorkflowRun.objects.filter(name=schedule.name, id__startswith=schedule.prefix)
            last = runs.order_by("-id").first()
            rows.append({"schedule": schedule, "next_tick": schedule.next_tick(), "last": last})
        context = {
            **self.admin_site.each_context(request),
            "title": "Schedules",
            "rows": rows,
            "version": versions.current(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/durable/workflowrun/schedules.html", context)

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
