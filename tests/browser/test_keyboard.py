"""The keyboard: j/k move a visible focus through the list; a/r/e open a request on that action."""

import pytest
from playwright.sync_api import expect

import durable
from tests.inbox import workflows as w
from tests.inbox.conftest import waiting_request

pytestmark = pytest.mark.django_db(transaction=True)

TITLES = ["First", "Second", "Third"]

FOCUSED = """() => {
  const el = document.activeElement;
  return {id: el.dataset.requestId || null, visible: el.matches(":focus-visible"),
          outline: getComputedStyle(el).outlineStyle};
}"""


def test_j_k_move_a_visible_focus_and_a_r_e_act(reviewer_page, worker, url):
    page = reviewer_page
    # Sorted by deadline: first, second, third.
    first, second, third = (durable.start(w.asker, title=t, timeout=600 * n) for n, t in enumerate(TITLES, 1))
    r1, r2, r3 = (waiting_request(handle.id) for handle in (first, second, third))
    page.goto(url("/"))
    expect(page.locator(".request-link")).to_have_text(TITLES)

    def focused():
        return page.evaluate(FOCUSED)

    page.keyboard.press("j")
    assert focused() == {"id": str(r1.id), "visible": True, "outline": "solid"}
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")  # stays on the last one
    assert focused()["id"] == str(r3.id)
    page.keyboard.press("k")
    expect(page.get_by_role("link", name="Second")).to_be_focused()
    assert focused()["visible"]

    # a: open the focused request with Approve focused; Enter approves it.
    page.keyboard.press("a")
    expect(page).to_have_url(url(f"/requests/{r2.id}/?act=approve"))
    expect(page.get_by_role("button", name="Approve")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#messages")).to_contain_text("You approved “Second”")
    assert second.result(timeout=15)["outcome"] == "approved"

    # r: the reason box has the focus; type, Tab to Reject, Enter.
    expect(page.locator(".request-link")).to_have_text(["First", "Third"])
    page.keyboard.press("j")
    page.keyboard.press("r")
    expect(page).to_have_url(url(f"/requests/{r1.id}/?act=reject"))
    expect(page.locator("#reject-reason")).to_be_focused()
    page.keyboard.type("Not this one.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Reject")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#messages")).to_contain_text("You rejected “First”")
    assert first.result(timeout=15)["reason"] == "Not this one."

    # e: the first argument's input has the focus; Esc leaves it, u goes back to the inbox.
    page.keyboard.press("j")
    page.keyboard.press("e")
    expect(page).to_have_url(url(f"/requests/{r3.id}/?act=edit"))
    expect(page.get_by_label("amount")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("u")
    expect(page).to_have_url(url("/"))
    expect(page.locator(".request-link")).to_have_text(["Third"])
    assert third.status() == "WAITING"
