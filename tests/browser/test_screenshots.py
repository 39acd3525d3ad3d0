"""Screenshots of the inbox and of a request, with the demo agents waiting (saved to artifacts/)."""

import re

import pytest
from playwright.sync_api import expect

from inbox.agents import start_agents
from tests.inbox.conftest import waiting_request

pytestmark = pytest.mark.django_db(transaction=True)


def test_screenshots_of_the_inbox_and_a_refund_request(reviewer_page, worker, url, artifacts):
    page = reviewer_page
    handles = [start_agents(kind, 1, seed=7)[0] for kind in ("refund", "deploy", "email")]
    refund, _deploy, _email = (waiting_request(h.id) for h in handles)
    page.goto(url("/"))
    expect(page.locator(".request-row")).to_have_count(3)
    expect(page.locator("time.countdown").first).to_have_text(re.compile(r"^in \d"))  # ticking in the browser
    page.screenshot(path=artifacts / "inbox.png", full_page=True)

    page.get_by_role("link", name=refund.title).click()
    expect(page.locator("#request-body table")).to_be_visible()
    page.screenshot(path=artifacts / "detail.png", full_page=True)
    assert (artifacts / "inbox.png").stat().st_size > 10_000 and (artifacts / "detail.png").stat().st_size > 10_000
