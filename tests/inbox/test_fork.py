"""A fork of an agent that waits in the inbox publishes its own request, and decisions reach the
run they were made for."""

import pytest
from django.urls import reverse

import durable
from durable.models import Checkpoint
from inbox.models import Request, RequestStatus
from tests.conftest import post_decision
from tests.inbox import workflows as w
from tests.inbox.conftest import start_and_wait, waiting_request

pytestmark = pytest.mark.django_db(transaction=True)


def recv_seq(run_id):
    return Checkpoint.objects.get(run_id=run_id, kind="recv").seq


def test_a_fork_that_still_waits_asks_with_a_request_of_its_own(worker, reviewer_client):
    original, asked = start_and_wait(w.asker)
    fork = durable.fork(original.id, from_step=recv_seq(original.id))  # keeps the publish, not the wait
    forked = waiting_request(fork.id)
    assert forked.id != asked.id and forked.title == asked.title and forked.status == RequestStatus.OPEN
    page = reviewer_client.get(reverse("inbox:list")).content.decode()
    assert str(forked.id) in page and str(asked.id) in page  # both agents wait, each on its own request

    assert post_decision(reviewer_client, forked, "reject", reason="not this one").status_code == 302
    assert fork.result(timeout=15)["outcome"] == "rejected"
    asked.refresh_from_db()
    assert asked.status == RequestStatus.OPEN  # the original still waits for its own reviewer

    assert post_decision(reviewer_client, asked, "approve").status_code == 302
    assert original.result(timeout=15)["outcome"] == "approved"


def test_a_fork_from_after_the_decision_replays_it_and_asks_nobody(worker, reviewer_client):
    original, asked = start_and_wait(w.asker)
    post_decision(reviewer_client, asked, "approve")
    assert original.result(timeout=15)["outcome"] == "approved"
    fork = durable.fork(original.id, from_step=recv_seq(original.id) + 1)
    assert fork.result(timeout=15)["outcome"] == "approved"
    assert not Request.objects.filter(run_id=fork.id).exists()
