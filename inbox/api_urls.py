"""The inbox's JSON API (namespace "inbox-api"): token-authenticated, never by session."""

from django.urls import path

from .views import api

app_name = "inbox-api"

urlpatterns = [
    path("requests/", api.waiting, name="waiting"),
    path("requests/<uuid:request_id>/", api.one, name="request"),
    path("requests/<uuid:request_id>/decide/", api.decide, name="decide"),
]
