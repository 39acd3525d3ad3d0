"""A reviewer in a real browser approves, rejects, edits and watches requests expire; the agents act on it."""

import re
import time

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

import durable
from durable.models import Status
from inbox.agents.deploy import deploy_agent
from inbox.agents.refund import refund_agent
from inbox.deciding import decide
from inbox.models import DecisionRecord
from tests.inbox import workflows as w
from tests.inbox.conftest import make_request, start_and_wait  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def rows(page):
    return page.locator("#request-table .request-row")


def open_request(page, title):
    page.get_by_role("link", name=title).click()
    expect(page.locator("#request-title")).to_have_text(title)


def step_row(page, name):
    return page.locator("#steps tr.step", has=page.locator("code", has_text=name))


def tool_row(page, agent, tool):
    """The step of a Pydantic AI tool call, named by Pydantic AI."""
    return step_row(page, f"{agent}__function_toolset__<agent>.call_tool:{tool}")


def test_approve_leaves_the_live_list_and_the_run_finishes(signed_in, worker, url):
    inbox = signed_in
    expect(inbox.locator("#empty-inbox")).to_be_visible()
    inbox.evaluate("window.__sameDocument = true")  # gone if the page ever reloads

    handle = durable.start(deploy_agent, service="billing", version="v1.2.3")
    title = "Deploy billing v1.2.3 to production?"
    # The htmx poll brings the new request in without a reload.
    expect(rows(inbox)).to_have_count(1, timeout=10_000)
    expect(inbox.get_by_role("link", name=title)).to_be_visible()
    expect(inbox.locator("#tab-waiting")).to_have_attribute("data-count", "1")

    # A second tab (same reviewer) opens the request and approves it.
    other = inbox.context.new_page()
    other.goto(url("/"))
    open_request(other, title)
    expect(other.locator("#request-body")).to_contain_text("CI is green")
    expect(other.locator("#request-arguments")).to_contain_text('"strategy": "canary"')
    other.get_by_role("button", name="Approve").click()
    expect(other.locator("#messages")).to_contain_text(f"You approved “{title}”")
    expect(other).to_have_url(url("/"))

    # The first tab, untouched, sees it leave the waiting list and land in "decided".
    expect(rows(inbox)).to_have_count(0, timeout=10_000)
    expect(inbox.locator("#tab-decided")).to_have_attribute("data-count", "1")
    assert inbox.evaluate("window.__sameDocument") is True

    result = handle.result(timeout=15)
    assert result["status"] == "deployed" and "billing v1.2.3 is live on production (canary)" in result["log"]
    assert handle.status() == Status.SUCCESS

    # What the agent did after the approval is on the request's activity tab.
    inbox.locator("#tab-decided").click()
    open_request(inbox, title)
    expect(inbox.locator("#decided-by")).to_have_text("alice")
    # What the agent did once approved, and how its run ended, on the request itself.
    expect(inbox.locator("#after-list")).to_contain_text("deploy__function_toolset__<agent>.call_tool:deploy")
    expect(inbox.locator("#after-result")).to_have_attribute("data-status", "SUCCESS")
    expect(inbox.locator("#after-result-value")).to_contain_text('"status": "deployed"')
    inbox.locator("#tab-activity").click()
    expect(inbox.locator("#run-status")).to_have_attribute("data-status", "SUCCESS")
    expect(inbox.locator("#run-status")).to_have_text("Succeeded")
    expect(tool_row(inbox, "deploy", "deploy")).to_contain_text("is live on production (canary)")


def test_reject_needs_a_reason_and_the_agent_gets_it(reviewer_page, worker, url):
    page = reviewer_page
    handle, req = start_and_wait(refund_agent, order_id="A-1001", customer="bo@example.com", complaint="Wrong colour")
    page.goto(url("/"))
    open_request(page, req.title)

    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator("#reject-form .errorlist")).to_have_text(re.compile("Say why you reject it"))
    assert not DecisionRecord.objects.exists() and handle.status() == Status.WAITING
    # The 400 landed in the panel (with DEBUG on too): the page around it is the same, styled document.
    expect(page.locator("#request-title")).to_have_text(req.title)
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator(".topbar").evaluate("el => getComputedStyle(el).display") == "flex"

    reason = "The colour matches the photo; offer an exchange instead."
    page.get_by_label("Reason for rejecting (required)").fill(reason)
    page.get_by_role("button", name="Reject").click()
    expect(page.locator("#messages")).to_contain_text(f"You rejected “{req.title}”")

    result = handle.result(timeout=15)
    assert result == {"status": "declined", "outcome": "rejected", "reason": reason}
    # The agent told the customer why, and the history tab keeps the reason.
    page.goto(url(f"/requests/{req.id}/?tab=activity"))
    expect(tool_row(page, "refund", "notify_customer")).to_contain_text(f"We could not refund this order: {reason}")
    page.locator("#tab-history").click()
    expect(page.locator(".history-reason")).to_have_text(reason)


def test_edited_arguments_keep_their_types_show_a_diff_and_drive_the_agent(reviewer_page, worker, url):
    page = reviewer_page
    handle, req = start_and_wait(refund_agent, order_id="A-1000", customer="ana@example.com", complaint="It broke")
    proposed = req.arguments["amount"]
    page.goto(url("/"))
    open_request(page, req.title)
    expect(page.locator("#request-body table")).to_contain_text("A-1000")  # the agent's markdown table

    amount = page.get_by_label("amount")
    expect(amount).to_have_value(str(proposed))
    expect(amount).to_have_attribute("type", "number")
    total = req.schema["properties"]["amount"]["maximum"]
    expect(page.locator(".field[data-key=amount] .limits")).to_have_text(f"more than 0, at most {total}")
    expect(page.get_by_label("currency")).to_have_value("EUR")  # a select of the schema's enum
    # The schema caps the refund at the order total: the form says so, in words, beside the amount.
    page.evaluate("window.__sameDocument = true")
    amount.fill("100000")
    page.get_by_role("button", name="Review changes").first.click()
    expect(page.locator(".field[data-key=amount] .errorlist")).to_have_text(f"amount must be at most {total}.")
    assert page.evaluate("window.__sameDocument") is True  # a 400, swapped into the panel (DEBUG on or off)

    page.get_by_label("amount").fill("12.5")
    page.get_by_label("note").fill("Partial refund, agreed by phone")
    page.get_by_role("button", name="Review changes").first.click()
    diff = page.locator("#edit-diff")
    expect(diff.locator("tbody tr")).to_have_count(2)
    # Numbers stay numbers (12.5, not "12.5"); text stays text.
    expect(diff.locator('tr[data-key="amount"] ins')).to_have_text("12.5")
    expect(diff.locator('tr[data-key="amount"] del')).to_have_text(str(proposed))
    expect(diff.locator('tr[data-key="note"] ins')).to_have_text('"Partial refund, agreed by phone"')
    page.get_by_role("button", name="Confirm edit and send").click()
    expect(page.locator("#messages")).to_contain_text(f"You edited “{req.title}”")

    result = handle.result(timeout=15)
    assert result["status"] == "refunded" and result["outcome"] == "edited"
    assert result["receipt"]["amount"] == 12.5 and isinstance(result["receipt"]["amount"], float)
    page.goto(url(f"/requests/{req.id}/?tab=activity"))
    expect(tool_row(page, "refund", "issue_refund")).to_contain_text('"amount": 12.5')
    expect(tool_row(page, "refund", "notify_customer")).to_contain_text("We refunded 12.50 EUR.")


def test_an_unanswered_request_expires_and_the_agent_gets_its_expiry(reviewer_page, worker, url):
    page = reviewer_page
    title = "Refund 10 EUR before it expires?"
    handle, _ = start_and_wait(w.asker, title=title, timeout=6, on_expiry="reject")
    page.goto(url("/"))
    row = rows(page).filter(has_text=title)
    expect(row.locator("time.countdown")).to_have_text(re.compile(r"^in \ds$"))

    # Nobody decides: the row leaves the waiting list on its own and is counted as expired.
    expect(row).to_have_count(0, timeout=15_000)
    expect(page.locator("#tab-expired")).to_have_attribute("data-count", "1")
    page.locator("#tab-expired").click()
    expect(rows(page).filter(has_text=title)).to_contain_text("agent's rule: reject")
    open_request(page, title)
    expect(page.locator("#request-status")).to_have_text("Expired")
    expect(page.locator("#expired-summary")).to_contain_text("the agent applied its rule: reject")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)

    result = handle.result(timeout=15)
    assert result["outcome"] == "expired" and result["reviewer"] == "" and not result["approved"]
    page.locator("#tab-activity").click()
    # The inbox's progress event reads as "state: expired", not as a JSON dict.
    expired = page.locator('#events .event[data-key="inbox"]').filter(
        has=page.locator("dd", has_text=re.compile("^expired$"))
    )
    expect(expired.locator("dt").filter(has_text="state")).to_have_count(1)
    expect(page.locator("#events")).not_to_contain_text('"state"')


def pump_until(page, condition, timeout=15.0):
    """Let Playwright deliver events (route handlers run then) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the browser"
        page.evaluate("0")


def test_a_status_poll_during_the_decision_does_not_keep_the_reviewer_on_the_page(reviewer_page, worker, url):
    page = reviewer_page
    handle, req = start_and_wait(deploy_agent, service="search", version="v2.0.0")
    page.clock.install()  # the page's timers, so the 5 s status poll fires exactly when the test says
    page.goto(url(f"/requests/{req.id}/"))
    held = []
    # The decision is recorded on the server, but its answer reaches the browser only when the test says.
    page.route("**/decide/", lambda route: held.append((route, route.fetch())))
    page.get_by_role("button", name="Approve").click()
    pump_until(page, lambda: held)
    assert handle.result(timeout=15)["status"] == "deployed"
    page.clock.run_for(6_000)  # the status poll comes due while the answer is on its way...
    page.evaluate("0")
    route, response = held[0]
    route.fulfill(response=response)
    expect(page).to_have_url(url("/"))  # ...and must not reload the page: the reviewer is back in the inbox
    expect(page.locator("#messages")).to_contain_text("You approved")


def test_the_second_reviewer_is_told_who_decided_and_the_page_stops_waiting(reviewer_page, url, make_request):  # noqa: F811
    page = reviewer_page
    req = make_request()
    page.goto(url(f"/requests/{req.id}/"))
    expect(page.locator("#request-status")).to_have_text("Waiting")
    expect(page.locator("#request-deadline time.countdown")).to_have_count(1)
    page.evaluate("window.__sameDocument = true")
    decide(req.id, User.objects.create_user("bob"), "approve")  # someone else, before this reviewer clicks
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#closed-notice")).to_contain_text("bob already approved this request")
    # At once, not at the next poll: the pill says Decided and the countdown is gone.
    expect(page.locator("#request-status")).to_have_text("Decided")
    expect(page.locator("#request-deadline time.countdown")).to_have_count(0)
    expect(page.locator("#decided-by")).to_have_text("bob")
    assert page.evaluate("window.__sameDocument") is True
