"""The inbox in the admin: requests and the append-only decision records, read-only."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import DecisionRecord, Request


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Request)
class RequestAdmin(ReadOnlyAdmin):
    list_display = ("title", "agent", "status", "deadline", "assignee_label", "created_at")
    list_filter = ("status", "agent")
    search_fields = ("title", "run__id", "id")
    readonly_fields = [f.name for f in Request._meta.fields]


@admin.register(DecisionRecord)
class DecisionRecordAdmin(ReadOnlyAdmin):
    list_display = ("request", "choice", "reviewer_name", "decided_at", "run_id")
    list_filter = ("choice",)
    search_fields = ("reviewer_name", "run_id", "request__title", "reason")
    readonly_fields = [f.name for f in DecisionRecord._meta.fields]
    date_hierarchy = "decided_at"
