"""The inbox in the admin: requests and the append-only decision records, read-only."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ApiToken, DecisionRecord, Note, Notification, Request


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


@admin.register(Note)
class NoteAdmin(ReadOnlyAdmin):
    list_display = ("request", "kind", "author_name", "created_at")
    list_filter = ("kind",)
    search_fields = ("author_name", "text", "request__title")
    readonly_fields = [f.name for f in Note._meta.fields]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """Deliveries and their failures: a failed row keeps its last error and attempt count."""

    list_display = ("key", "event", "channel", "status", "attempts", "last_error", "sent_at")
    list_filter = ("status", "channel", "event")
    search_fields = ("key", "request__title", "last_error")
    readonly_fields = [f.name for f in Notification._meta.fields]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Tokens are created with ``manage.py inbox_token``; here they can be seen and revoked (deleted)."""

    list_display = ("prefix", "name", "user", "created_at", "last_used_at")
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at")
    exclude = ("digest",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
