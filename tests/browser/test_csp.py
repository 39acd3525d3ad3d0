"""The inbox works under its Content-Security-Policy: sign-in, live updates, edits and decisions,
keyboard shortcuts, and the admin, with no violation reported by the browser."""

import re

import pytest
from playwright.sync_api import expect

import durable
from durable.models import Status
from inbox.agents.refund import refund_agent
from tests.browser.conftest import PASSWORD
from tests.inbox.conftest import start_and_wait

pytestmark = pytest.mark.django_db(transaction=True)

# Collected from the first script on every document, before the page's own scripts run.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${where})`);
});
"""


@pytest.fixture
def watched(page):
    page.add_init_script(WATCH)
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    return page, console


def violations(page):
    return page.evaluate("window.__violations")


def test_the_inbox_works_under_its_content_security_policy(watched, reviewer, worker, url):
    page, console = watched
    response = page.goto(url("/"))  # signed out: the sign-in page, through django-axes' backend
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert {"private", "no-store"} <= set(response.headers["cache-control"].split(", "))
    page.get_by_label("Username").fill(reviewer.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signed-in-as")).to_have_text(reviewer.username)

    # htmx's poll brings a new request in without a reload, and the keyboard shortcuts answer.
    handle = durable.start(refund_agent, order_id="A-7", customer="cy@example.com", complaint="Late")
    link = page.locator("#request-table .request-link")
    expect(link).to_have_count(1, timeout=10_000)
    page.keyboard.press("j")
    expect(link).to_be_focused()

    # Open it, preview an edit (an htmx swap), then confirm it (an htmx redirect).
    link.click()
    expect(page.locator("#request-title")).to_contain_text("A-7")
    page.get_by_label("amount").fill("1.5")
    page.get_by_role("button", name="Review changes").first.click()
    expect(page.locator('#edit-diff tr[data-key="amount"] ins')).to_have_text("1.5")
    page.get_by_role("button", name="Confirm edit and send").click()
    expect(page.locator("#messages")).to_contain_text("You edited")
    assert handle.result(timeout=15)["outcome"] == "edited" and handle.status() == Status.SUCCESS

    # The countdowns tick (inbox.js) on a waiting request.
    start_and_wait(refund_agent, order_id="A-8", customer="di@example.com", complaint="Broken")
    page.goto(url("/"))
    expect(page.locator("time.countdown").first).to_have_text(re.compile(r"^in "))

    assert violations(page) == []
    assert [line for line in console if line.startswith(("error", "pageerror"))] == []
