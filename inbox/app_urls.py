"""The inbox's pages (namespace "inbox")."""

from django.urls import path

from .views import team
from .views.agents import start_agent
from .views.decide import decide, edit_preview
from .views.detail import request_detail, request_status
from .views.listing import inbox_list

app_name = "inbox"

urlpatterns = [
    path("", inbox_list, name="list"),
    path("requests/<uuid:request_id>/", request_detail, name="detail"),
    path("requests/<uuid:request_id>/status/", request_status, name="status"),
    path("requests/<uuid:request_id>/decide/", decide, name="decide"),
    path("requests/<uuid:request_id>/edit/", edit_preview, name="edit"),
    path("agents/start/", start_agent, name="start"),
    path("bulk/", team.bulk_decide, name="bulk"),
    path("requests/<uuid:request_id>/comment/", team.comment, name="comment"),
    path("requests/<uuid:request_id>/claim/", team.claim, name="claim"),
]
