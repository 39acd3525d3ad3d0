"""Bulk decisions in the browser: select rows (the live poll keeps them selected), reject them
with one reason, and read row by row what was decided and what someone else decided first."""

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from inbox.deciding import decide
from inbox.models import DecisionRecord
from inbox.reviewers import ensure_reviewers_group
from tests.browser.test_csp import WATCH, violations
from tests.inbox.conftest import make_request  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)

POLLS = """() => { window.__polls = 0;
  document.addEventListener("htmx:beforeRequest", (e) => {
    if (e.detail.elt.id === "inbox-results") window.__polls++;
  });
}"""


def test_bulk_reject_with_one_reason_reports_each_row(reviewer_page, url, make_request):  # noqa: F811
    page = reviewer_page
    page.add_init_script(WATCH)
    first, second, third = (make_request(title=f"Refund order {n}") for n in (1, 2, 3))
    page.goto(url("/"))
    page.evaluate(POLLS)
    page.get_by_label("Select “Refund order 1”").check()
    page.get_by_label("Select “Refund order 2”").check()
    # A poll comes due while rows are selected: the selection survives it.
    page.wait_for_function("() => window.__polls >= 1", timeout=15_000)
    expect(page.get_by_label("Select “Refund order 1”")).to_be_checked()
    # Meanwhile another reviewer approves the second request.
    bob = User.objects.create_user("bob")
    bob.groups.add(ensure_reviewers_group())
    decide(second.id, bob, "approve")
    page.get_by_label("Reason (required to reject").fill("Refunds are frozen this week")
    page.get_by_role("button", name="Reject selected").click()
    expect(page.locator("#bulk-summary")).to_contain_text("2 selected")
    done = page.locator(f'.bulk-row[data-request-id="{first.id}"]')
    conflict = page.locator(f'.bulk-row[data-request-id="{second.id}"]')
    expect(done).to_have_attribute("data-done", "yes")
    expect(done).to_contain_text("Rejected; the agent has been told.")
    expect(conflict).to_have_attribute("data-done", "no")
    expect(conflict).to_contain_text("bob already approved this request")
    record = DecisionRecord.objects.get(request=first)
    assert (record.reviewer_name, record.choice, record.reason) == ("alice", "reject", "Refunds are frozen this week")
    assert not DecisionRecord.objects.filter(request=third).exists()
    assert violations(page) == []  # the results page keeps the policy too
    # Back in the list, the third is still waiting, selectable, and nothing broke the page's policy.
    page.get_by_role("link", name="← Inbox").click()
    expect(page.get_by_label("Select “Refund order 3”")).to_be_visible()
    assert violations(page) == []
