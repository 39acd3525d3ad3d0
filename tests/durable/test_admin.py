"""The admin shows each run's history and manages runs (cancel, resume, fork)."""

import pytest
from django.contrib.auth.models import Permission, User

import durable
from durable.models import Status, WorkflowRun
from tests import workflows as w

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def wait_status(handle, *statuses, timeout=10):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if handle.status() in statuses:
            return
        time.sleep(0.01)
    raise AssertionError(f"{handle.id} is {handle.status()}, not {statuses}")


def test_change_page_shows_inputs_steps_events_and_messages(worker, admin_client):
    handle = durable.start(w.waiter, "go", timeout=30)
    wait_status(handle, Status.WAITING)
    durable.send(handle.id, {"approved": "<script>alert(1)</script>"}, topic="go")
    handle.result(timeout=10)
    page = admin_client.get(f"/admin/durable/workflowrun/{handle.id}/change/").content.decode()
    assert "tests.workflows.waiter" in page
    assert "set_event" in page and "recv" in page and "status" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # stored text is shown inert
    assert "<script>alert(1)" not in page


def test_an_unknown_run_is_a_404_on_its_page_and_its_fork_page(admin_client):
    for url in ("/admin/durable/workflowrun/no-such-run/change/", "/admin/durable/workflowrun/no-such-run/fork/"):
        response = admin_client.get(url)
        assert response.status_code == 404, url


def test_failed_run_shows_error_and_traceback(worker, admin_client):
    handle = durable.start(w.waiter, "go", timeout=0)
    handle.result(timeout=10)
    run = WorkflowRun.objects.get(id=handle.id)
    run.status, run.error_message, run.traceback = Status.ERROR, "NonDeterminismError: at #1", "Traceback..."
    run.save()
    page = admin_client.get(f"/admin/durable/workflowrun/{handle.id}/change/").content.decode()
    assert "NonDeterminismError: at #1" in page and "Traceback..." in page


def test_cancel_and_resume_actions(worker, admin_client):
    handle = durable.start(w.waiter, "go", timeout=60)
    wait_status(handle, Status.WAITING)
    url = "/admin/durable/workflowrun/"
    admin_client.post(url, {"action": "cancel_runs", "_selected_action": [handle.id]})
    assert handle.status() == Status.CANCELLED
    admin_client.post(url, {"action": "resume_runs", "_selected_action": [handle.id]})
    wait_status(handle, Status.WAITING)
    durable.send(handle.id, "hello", topic="go")
    assert handle.result(timeout=10) == "hello"


def test_fork_view_starts_a_new_run_reusing_earlier_checkpoints(worker, admin_client):
    handle = durable.start(w.waiter, "go", timeout=30)
    wait_status(handle, Status.WAITING)
    durable.send(handle.id, "first", topic="go")
    handle.result(timeout=10)
    response = admin_client.post(f"/admin/durable/workflowrun/{handle.id}/fork/", {"from_step": 1})
    assert response.status_code == 302
    fork = WorkflowRun.objects.get(forked_from=handle.id)
    assert fork.checkpoints.filter(seq=0).exists()
    wait_status(durable.retrieve(fork.id), Status.WAITING)
    durable.send(fork.id, "second", topic="go")
    assert durable.retrieve(fork.id).result(timeout=10) == "second"


def test_staff_without_permission_cannot_see_or_manage_runs(worker, client):
    handle = durable.start(w.adder, 1, 2)
    handle.result(timeout=10)
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(f"/admin/durable/workflowrun/{handle.id}/change/").status_code in (302, 403)
    assert client.post(f"/admin/durable/workflowrun/{handle.id}/fork/", {"from_step": 0}).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_workflowrun"))
    user = User.objects.get(pk=user.pk)
    client.force_login(user)
    assert client.get(f"/admin/durable/workflowrun/{handle.id}/change/").status_code == 200
    assert client.post(f"/admin/durable/workflowrun/{handle.id}/fork/", {"from_step": 0}).status_code == 403


def test_run_history_cannot_be_deleted_even_by_a_superuser(worker, admin_client):
    handle = durable.start(w.waiter, "go", timeout=30)
    wait_status(handle, Status.WAITING)
    durable.send(handle.id, "done", topic="go")
    handle.result(timeout=10)
    run = WorkflowRun.objects.get(id=handle.id)
    history = (run.checkpoints.count(), run.messages.count(), run.events.count())
    changelist = admin_client.get("/admin/durable/workflowrun/").content.decode()
    assert 'value="cancel_runs"' in changelist and 'value="delete_selected"' not in changelist
    admin_client.post("/admin/durable/workflowrun/", {"action": "delete_selected", "_selected_action": [run.id]})
    assert admin_client.get(f"/admin/durable/workflowrun/{run.id}/delete/").status_code == 403
    assert admin_client.post(f"/admin/durable/workflowrun/{run.id}/delete/", {"post": "yes"}).status_code == 403
    page = admin_client.get(f"/admin/durable/workflowrun/{run.id}/change/").content.decode()
    assert "deletelink" not in page and "-DELETE" not in page  # no delete link, no inline delete boxes
    run = WorkflowRun.objects.get(id=handle.id)
    assert (run.checkpoints.count(), run.messages.count(), run.events.count()) == history
    assert history[0] > 0 and history[1] > 0 and history[2] > 0
