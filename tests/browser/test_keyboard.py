"""The keyboard, through the three demo agents: j/k move a visible focus; a/r/e open a request on that action.

The walk also saves the screenshots of the inbox and of a request (artifacts/inbox.png, artifacts/detail.png).
"""

import re

import pytest
from playwright.sync_api import expect

from durable.models import Status
from inbox.agents import start_agents
from tests.inbox.conftest import waiting_request

pytestmark = pytest.mark.django_db(transaction=True)

FOCUSED = """() => {
  const el = document.activeElement;
  return {id: el.dataset.requestId || null, visible: el.matches(":focus-visible"),
          outline: getComputedStyle(el).outlineStyle};
}"""


def test_keyboard_walk_through_the_demo_agents(reviewer_page, worker, url, artifacts):
    page = reviewer_page
    refund, deploy, email = (start_agents(kind, 1, seed=7)[0] for kind in ("refund", "deploy", "email"))
    # Sorted by deadline: the refund (4 hours), the email (8 hours), the deploy (a day).
    order = [waiting_request(handle.id) for handle in (refund, email, deploy)]
    page.goto(url("/"))
    expect(page.locator(".request-link")).to_have_text([req.title for req in order])
    expect(page.locator("time.countdown").first).to_have_text(re.compile(r"^in 3h 59m"))  # ticking
    page.screenshot(path=artifacts / "inbox.png", full_page=True)

    def focused():
        return page.evaluate(FOCUSED)

    page.keyboard.press("j")
    assert focused() == {"id": str(order[0].id), "visible": True, "outline": "solid"}
    for _ in range(3):  # the last one keeps the focus
        page.keyboard.press("j")
    assert focused()["id"] == str(order[2].id)
    page.keyboard.press("k")
    expect(page.get_by_role("link", name=order[1].title)).to_be_focused()
    assert focused()["visible"]

    # a: open the focused request (the email) with Approve focused; Enter approves it.
    page.keyboard.press("a")
    expect(page).to_have_url(url(f"/requests/{order[1].id}/?act=approve"))
    expect(page.get_by_role("button", name="Approve")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#messages")).to_contain_text("You approved")
    assert email.result(timeout=15)["status"] == "sent"

    # r: on the deploy, the reason box has the focus; type, Tab to Reject, Enter.
    expect(page.locator(".request-link")).to_have_text([order[0].title, order[2].title])
    page.wait_for_load_state()  # inbox.js runs before "load": keys pressed earlier would be lost
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("r")
    expect(page).to_have_url(url(f"/requests/{order[2].id}/?act=reject"))
    expect(page.locator("#reject-reason")).to_be_focused()
    page.keyboard.type("Not during the sale.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Reject")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#messages")).to_contain_text("You rejected")
    assert deploy.result(timeout=15) == {
        "status": "not deployed",
        "outcome": "rejected",
        "reason": "Not during the sale.",
    }

    # e: on the refund, the first argument's input has the focus; Esc leaves it, u goes back.
    expect(page.locator(".request-link")).to_have_text([order[0].title])
    page.wait_for_load_state()
    page.keyboard.press("j")
    page.keyboard.press("e")
    expect(page).to_have_url(url(f"/requests/{order[0].id}/?act=edit"))
    # The inputs follow the agent's key order on every database.
    expect(page.locator("#edit-form .field input").first).to_be_focused()
    assert page.locator("#edit-form .field").evaluate_all("els => els.map(e => e.dataset.key)") == [
        "order_id",
        "amount",
        "currency",
        "note",
    ]
    expect(page.locator("#request-body table")).to_be_visible()
    page.screenshot(path=artifacts / "detail.png", full_page=True)
    page.keyboard.press("Escape")
    page.keyboard.press("u")
    expect(page).to_have_url(url("/"))
    expect(page.locator(".request-link")).to_have_text([order[0].title])
    assert refund.status() == Status.WAITING
    assert (artifacts / "inbox.png").stat().st_size > 10_000 and (artifacts / "detail.png").stat().st_size > 10_000
