"""Who may see and decide: sign-in, the Reviewers group, assignees; unknown ids are 404."""

import uuid

import pytest
from django.urls import reverse

from inbox.models import DecisionRecord
from tests.conftest import post_decision

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["list", "start"])
def test_anonymous_pages_redirect_to_sign_in(client, name):
    response = client.get(reverse(f"inbox:{name}"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_anonymous_detail_and_decide_redirect_to_sign_in(client, make_request):
    req = make_request()
    assert client.get(reverse("inbox:detail", args=[req.id])).status_code == 302
    response = post_decision(client, req, "approve")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not DecisionRecord.objects.exists()


def test_signed_in_user_without_the_permission_gets_403_everywhere(client, make_user, make_request):
    req = make_request()
    client.force_login(make_user("mallory", reviewer=False))
    assert client.get(reverse("inbox:list")).status_code == 403
    assert client.get(reverse("inbox:detail", args=[req.id])).status_code == 403
    assert client.get(reverse("inbox:start")).status_code == 403
    assert post_decision(client, req, "approve").status_code == 403
    assert client.post(reverse("inbox:edit", args=[req.id]), {"mode": "json"}).status_code == 403
    assert not DecisionRecord.objects.exists()


def test_reviewer_sees_the_inbox(reviewer_client, make_request):
    req = make_request(title="Ship it?")
    response = reviewer_client.get(reverse("inbox:list"))
    assert response.status_code == 200
    assert "Ship it?" in response.content.decode()
    assert reviewer_client.get(reverse("inbox:detail", args=[req.id])).status_code == 200


def test_sign_in_page_then_the_inbox(client, reviewer):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and 'id="login-form"' in page.content.decode()
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302 and response["Location"] == reverse("inbox:list")
    bad = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert "didn't match" in bad.content.decode()


def test_request_assigned_to_a_user_is_decided_only_by_them(client, make_user, make_request):
    req = make_request(assignee_kind="user", assignee_name="bob")
    client.force_login(make_user("carol"))
    detail = client.get(reverse("inbox:detail", args=[req.id]))
    assert detail.status_code == 200 and 'id="not-yours"' in detail.content.decode()
    assert post_decision(client, req, "approve").status_code == 403
    assert not DecisionRecord.objects.exists()
    client.force_login(make_user("bob"))
    assert post_decision(client, req, "approve").status_code == 302
    assert DecisionRecord.objects.get().reviewer_name == "bob"


def test_request_assigned_to_a_group_is_decided_by_its_members_and_superusers(client, make_user, make_request):
    finance = make_request(assignee_kind="group", assignee_name="Finance")
    other = make_request(assignee_kind="group", assignee_name="Finance")
    client.force_login(make_user("dave"))
    assert post_decision(client, finance, "approve").status_code == 403
    client.force_login(make_user("erin", groups=["Finance"]))
    assert post_decision(client, finance, "approve").status_code == 302
    client.force_login(make_user("root", reviewer=False, superuser=True))
    assert post_decision(client, other, "approve").status_code == 302
    assert sorted(DecisionRecord.objects.values_list("reviewer_name", flat=True)) == ["erin", "root"]


def test_unknown_and_malformed_ids_are_404(reviewer_client):
    missing = uuid.uuid4()
    assert reviewer_client.get(reverse("inbox:detail", args=[missing])).status_code == 404
    assert reviewer_client.get(reverse("inbox:status", args=[missing])).status_code == 404
    assert reviewer_client.post(reverse("inbox:decide", args=[missing]), {"choice": "approve"}).status_code == 404
    assert reviewer_client.post(reverse("inbox:edit", args=[missing]), {"mode": "json"}).status_code == 404
    assert reviewer_client.get("/requests/not-a-uuid/").status_code == 404
    assert reviewer_client.post("/requests/1234/decide/", {"choice": "approve"}).status_code == 404


def test_wrong_methods_are_405(reviewer_client, make_request):
    req = make_request()
    assert reviewer_client.get(reverse("inbox:decide", args=[req.id])).status_code == 405
    assert reviewer_client.get(reverse("inbox:edit", args=[req.id])).status_code == 405
    assert reviewer_client.post(reverse("inbox:list")).status_code == 405
