"""What an agent writes is untrusted: in a real browser, none of it runs, and it reads as text."""

import pytest
from playwright.sync_api import expect

from tests.browser import workflows as w
from tests.inbox.conftest import start_and_wait

pytestmark = pytest.mark.django_db(transaction=True)

# Everything in the DOM that could run script; the page's own scripts are served from /static/.
FIND_DANGERS = """() => {
  const found = [];
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      if (attr.name.startsWith("on")) found.push(`${el.tagName} ${attr.name}=${attr.value}`);
      const url = ["href", "src", "action", "formaction", "xlink:href"].includes(attr.name);
      const script = attr.value.trim().toLowerCase().startsWith("javascript:");
      if (url && script) found.push(`${el.tagName} ${attr.name}=${attr.value}`);
    }
  }
  for (const s of document.scripts) {
    if (!s.src || !s.src.startsWith(location.origin + "/static/") || s.textContent.includes("__pwned")) {
      found.push(`script ${s.src} ${s.textContent.slice(0, 80)}`);
    }
  }
  for (const el of document.querySelectorAll("iframe, svg, object, embed, img[onerror]")) found.push(el.outerHTML);
  if (document.querySelector("[autofocus][onfocus]")) found.push("autofocus+onfocus");
  if (window.__pwned !== undefined) found.push(`ran: ${window.__pwned}`);
  return found;
}"""


def assert_inert(page):
    assert page.evaluate(FIND_DANGERS) == []


def test_agent_payloads_stay_inert_text_on_every_page(reviewer_page, worker, url):
    page = reviewer_page
    dialogs, console, errors = [], [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: errors.append(str(error)))
    handle, req = start_and_wait(w.payload_agent)

    page.goto(url("/"))
    link = page.locator(f'.request-link[data-request-id="{req.id}"]')
    expect(link).to_have_text(w.TITLE)  # the title reads as the agent wrote it, tags and all
    expect(page.locator(f'.request-row[data-request-id="{req.id}"]')).to_have_attribute("data-agent", w.AGENT)
    assert_inert(page)

    link.click()
    expect(page.locator("#request-title")).to_have_text(w.TITLE)
    body = page.locator("#request-body")
    expect(body.locator("strong")).to_have_text("bold")  # markdown still renders
    for payload in (w.SCRIPT, w.IMG, w.SVG):
        expect(body).to_contain_text(payload)
    expect(body).to_contain_text("click me")
    expect(page.locator("#request-arguments")).to_contain_text("javascript:alert('argument')")
    expect(page.locator("#request-action")).to_have_text(f"issue_refund{w.SCRIPT}")
    assert_inert(page)

    # The edit form and its diff show the payloads too (as labels, values and JSON).
    page.get_by_label("note").fill("a safe note")
    page.get_by_role("button", name="Review changes").first.click()
    expect(page.locator('#edit-diff tr[data-key="note"] del')).to_have_text(f'"{w.SCRIPT}"')
    assert_inert(page)

    page.goto(url(f"/requests/{req.id}/?tab=activity"))
    expect(page.locator("#events")).to_contain_text(w.SVG)
    expect(page.locator("#steps")).to_contain_text(f"lookup {w.IMG}")
    assert_inert(page)

    # The reviewer's own text is shown to other reviewers: it is inert as well.
    page.goto(url(f"/requests/{req.id}/"))
    page.get_by_label("Reason for rejecting (required)").fill(f"No. {w.IMG}")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator("#messages")).to_contain_text("You rejected")
    assert handle.result(timeout=15) == {"outcome": "rejected", "reason": f"No. {w.IMG}"}
    page.goto(url(f"/requests/{req.id}/?tab=history"))
    expect(page.locator(".history-reason")).to_have_text(f"No. {w.IMG}")
    assert_inert(page)
    page.goto(url("/?tab=decided"))
    expect(page.locator(".request-link")).to_have_text(w.TITLE)
    assert_inert(page)

    assert dialogs == [] and errors == []
    assert [line for line in console if "pwned" in line or line.startswith("error")] == []
