"""The inbox's audit trail (requests and decisions) in the admin: shown, never deleted."""

import pytest
from django.contrib.auth.models import User

from inbox.models import DecisionRecord, Request

pytestmark = pytest.mark.django_db


def test_requests_and_decisions_cannot_be_deleted_even_by_a_superuser(client, make_request, reviewer):
    req = make_request(status="decided")
    record = DecisionRecord.objects.create(
        request=req, run_id=req.run_id, reviewer=reviewer, reviewer_name=reviewer.username, choice="approve",
        arguments_before=req.arguments, shown_digest=req.shown_digest(),
    )  # fmt: skip
    client.force_login(User.objects.create_superuser("sue", "sue@example.com", "pw"))
    for model, pk in (("request", req.pk), ("decisionrecord", record.pk)):
        url = f"/admin/inbox/{model}/"
        assert client.get(f"{url}{pk}/change/").status_code == 200  # shown
        assert 'value="delete_selected"' not in client.get(url).content.decode()
        client.post(url, {"action": "delete_selected", "_selected_action": [pk], "post": "yes"})
        assert client.get(f"{url}{pk}/delete/").status_code == 403
        assert client.post(f"{url}{pk}/delete/", {"post": "yes"}).status_code == 403
    assert Request.objects.filter(pk=req.pk).exists() and DecisionRecord.objects.filter(pk=record.pk).exists()
