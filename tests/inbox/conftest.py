"""Fixtures for the inbox: reviewers, signed-in clients, and waiting requests."""

import pytest
from django.contrib.auth.models import Group, User

import durable
from durable.models import Status, WorkflowRun
from inbox.models import INBOX_TOPIC, Request, RequestStatus
from inbox.reviewers import ensure_reviewers_group
from tests.conftest import build_request
from tests.conftest import wait_for as wait_for  # the one definition, for the tests that import it here


def waiting_request(run_id, timeout=15.0):
    """The open request of a run once the run is parked on the inbox topic."""

    def ready():
        if not WorkflowRun.objects.filter(id=run_id, status=Status.WAITING, wait_topic=INBOX_TOPIC).exists():
            return None
        return Request.objects.filter(run_id=run_id, status=RequestStatus.OPEN).order_by("-created_at").first()

    return wait_for(ready, timeout, f"run {run_id} to wait in the inbox")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def reviewers_group(db):
    return ensure_reviewers_group()


@pytest.fixture
def make_user(db, reviewers_group):
    def make(username, reviewer=True, superuser=False, groups=()):
        user = User.objects.create_user(username, password="pw-" + username, is_superuser=superuser)
        if reviewer:
            user.groups.add(reviewers_group)
        for name in groups:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
        return user

    return make


@pytest.fixture
def reviewer(make_user):
    return make_user("alice")


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


@pytest.fixture
def make_request(db):
    """A request whose run is parked on the inbox (real rows, as ask() and the engine leave them)."""
    return build_request


def start_and_wait(workflow, *args, **kwargs):
    handle = durable.start(workflow, *args, **kwargs)
    return handle, waiting_request(handle.id)
