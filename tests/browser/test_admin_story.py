"""The admin's run page tells the run's story: a timeline of every kind of operation, read in seconds."""

from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission, User
from playwright.sync_api import expect

import durable
from durable.models import Status
from tests.browser import story_workflows as sw
from tests.browser.conftest import PAGE_WIDTH, WIDEST, login_as
from tests.browser.test_csp import WATCH
from tests.inbox.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished_run(worker):
    handle = durable.start(sw.every_kind, "A-1", 12.5, tags=("gift", "express"))
    wait_for(lambda: handle.status() == Status.WAITING and handle.get().wait_topic == "decision", what="the recv")
    durable.send(handle.id, {"approved": True, "by": "alice"}, topic="decision")
    handle.result(timeout=15)
    return handle


def test_the_page_shows_every_operation_as_the_users_data(client, finished_run):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    page = client.get(f"/admin/durable/workflowrun/{finished_run.id}/change/").content.decode()
    kinds = {"step", "recv", "send", "sleep", "set_event", "get_event", "now", "start", "result"}
    for kind in kinds:
        assert f'data-kind="{kind}"' in page, kind
    assert "py/" not in page  # no jsonpickle marker anywhere: tuples, datetimes, exceptions read as data
    assert "ConnectionError" not in page  # the retried step's first failure is not its result...
    assert "2 attempts" in page  # ...but its retry is counted
    assert "Raised KeyError: no coupon SPRING" in page
    assert "&quot;gift&quot;, &quot;express&quot;" in page  # a tuple argument, as a list
    assert "Woken by message" in page and "&quot;approved&quot;: true" in page
    assert "No message came before the deadline" in page  # the recv on "never" timed out


@pytest.mark.parametrize("width", [390, 1280])
def test_an_admin_reads_the_timeline_at_any_width(chromium, url, finished_run, artifacts, width):
    # The reader is in India (UTC+5:30); the server keeps UTC.
    context = chromium.new_context(viewport={"width": width, "height": 900}, timezone_id="Asia/Kolkata")
    context.add_init_script(WATCH)  # Content-Security-Policy violations, collected
    page = context.new_page()
    login_as(page, url, User.objects.create_superuser("root", "root@example.com", "pw"))
    page.goto(url(f"/admin/durable/workflowrun/{finished_run.id}/change/"))
    expect(page.locator("#run-status")).to_have_text("Succeeded")
    ops = page.locator("#run-timeline .op")
    expect(ops.filter(has=page.locator(".kind", has_text="Receive")).locator(".woke")).to_contain_text("Woken by")
    failed = page.locator(".op.failed")
    expect(failed.locator("pre")).to_be_hidden()  # the failure is folded...
    failed.locator("summary").click()
    expect(failed.locator("pre")).to_contain_text("KeyError: no coupon SPRING")  # ...one click away
    # Times to the second, in the reader's timezone (the browser's).
    created = finished_run.get().created_at.astimezone(ZoneInfo("Asia/Kolkata"))
    expect(page.locator("#run-summary time").first).to_contain_text(created.strftime("%H:%M:%S"))
    page.screenshot(path=artifacts / f"admin-run-story-{width}.png", full_page=True)
    assert page.evaluate(PAGE_WIDTH) <= width, page.evaluate(WIDEST)
    page.locator("#fork-run").click()
    expect(page.get_by_role("button", name="Fork")).to_be_visible()
    page.screenshot(path=artifacts / f"admin-fork-{width}.png", full_page=True)
    assert page.evaluate(PAGE_WIDTH) <= width, page.evaluate(WIDEST)
    assert page.evaluate("window.__violations") == []
    page.goto(url("/admin/durable/workflowrun/"))
    expect(page.locator("#result_list")).to_contain_text("every_kind")
    page.screenshot(path=artifacts / f"admin-runs-{width}.png", full_page=True)
    assert page.evaluate(PAGE_WIDTH) <= width, page.evaluate(WIDEST)
    context.close()


def test_only_users_who_may_fork_see_the_fork_button(page, url, finished_run):
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_workflowrun"))
    login_as(page, url, viewer)
    page.goto(url(f"/admin/durable/workflowrun/{finished_run.id}/change/"))
    expect(page.locator("#run-timeline")).to_be_visible()
    expect(page.locator("#fork-run")).to_have_count(0)
    manager = User.objects.create_superuser("root", "root@example.com", "pw")
    login_as(page, url, manager)
    page.goto(url(f"/admin/durable/workflowrun/{finished_run.id}/change/"))
    page.locator("#fork-run").click()
    expect(page.get_by_role("button", name="Fork")).to_be_visible()


def test_a_waiting_run_says_what_it_waits_for_and_can_be_cancelled_from_its_page(client, worker):
    handle = durable.start(sw.every_kind, "A-2", 3.0)
    wait_for(lambda: handle.get().wait_topic == "decision", what="the recv")
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    page = client.get(f"/admin/durable/workflowrun/{handle.id}/change/").content.decode()
    assert "Waiting for a message on “decision”" in page and 'id="cancel-run"' in page
    # What the page's Cancel button posts: the runs list's cancel action, for this run.
    data = {"action": "cancel_runs", "_selected_action": handle.id}
    assert client.post("/admin/durable/workflowrun/", data).status_code == 302
    assert handle.status() == Status.CANCELLED
    page = client.get(f"/admin/durable/workflowrun/{handle.id}/change/").content.decode()
    assert 'id="resume-run"' in page and 'id="cancel-run"' not in page
