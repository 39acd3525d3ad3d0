"""Every page works on a phone (390 px) and a desktop (1280 px): nothing scrolls sideways, long agent
text wraps inside its box, words are not broken mid-word, and code blocks scroll inside their card.
Screenshots of each page at both widths are kept in artifacts/."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from inbox.deciding import decide
from tests.browser.conftest import PAGE_WIDTH, WIDEST, login_as
from tests.inbox.conftest import make_request  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = [390, 1280]
LONG = "x" * 180  # one unbroken "word", as an id or a base64 blob would be
CODE = "```\n" + "curl -X POST https://payments.example.com/v1/refunds -d amount=1250 -d order=A-1000 " * 4 + "\n```"

# Every element whose content is wider than its own box (an overflow the reviewer would see).
OVERFLOWING = """(selector) => [...document.querySelectorAll(selector)]
  .filter(el => el.scrollWidth > el.clientWidth + 1).map(el => el.id || el.className || el.tagName)"""
# Words of ordinary length (up to 20 letters) that the layout broke across two lines ("Refun d").
BROKEN_WORDS = """(selector) => {
  const broken = [];
  for (const el of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.textContent.matchAll(/(?<!\\S)\\S{2,20}(?!\\S)/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (tops.size > 1) broken.push(match[0]);
      }
    }
  }
  return broken;
}"""
MIDDLE = "el => { const r = el.getBoundingClientRect(); return r.top + r.height / 2; }"


def fits(page, width, name, artifacts):
    page.screenshot(path=artifacts / f"page-{name}-{width}.png", full_page=True)
    assert page.evaluate(PAGE_WIDTH) <= width, (name, page.evaluate(WIDEST))
    assert page.evaluate(OVERFLOWING, ".card, .card h1, .card .meta, .card h2, .field, .argument") == [], name


@pytest.fixture
def requests(make_request, reviewer):  # noqa: F811
    long = make_request(
        title=f"Refund {LONG}",
        action=f"issue_refund_{LONG}",
        agent=f"very.long.module.path.{LONG}",
        arguments={f"key_{LONG}": f"value_{LONG}", "amount": 10},
        body_markdown=f"> quoted {LONG}\n\nplain\n\n{CODE}",
        deadline=timedelta(hours=5),
    )
    soon = make_request(
        title="Refund 42.00 EUR on order A-1000?",
        agent="refund_agent",
        arguments={"order_id": "A-1", "amount": 42.0, "currency": "EUR", "to": "ana@example.com", "on": "2026-12-24"},
        schema={
            "type": "object",
            "properties": {
                "amount": {"type": "number", "maximum": 50, "title": "Amount"},
                "to": {"type": "string", "format": "email"},
                "on": {"type": "string", "format": "date"},
            },
        },
        deadline=timedelta(minutes=30),
    )
    decided = make_request(title="Deploy billing v1.2.3 to production?", agent="deploy_agent")
    decide(decided.id, reviewer, "reject", reason="Not on a Friday")
    return {"long": long, "soon": soon, "decided": decided}


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_screen(page, reviewer, url, requests, artifacts, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(url("/accounts/login/"))
    fits(page, width, "login", artifacts)

    login_as(page, url, reviewer)
    page.goto(url("/"))
    expect(page.locator(".request-link").first).to_be_visible()
    fits(page, width, "list", artifacts)
    assert page.evaluate(BROKEN_WORDS, ".request-row td, .tabs, .filters") == []  # never "Refun d"
    expect(page.locator("footer.keys")).to_contain_text("a open to approve")
    sign_out, who = page.locator("#sign-out"), page.locator("#signed-in-as")
    assert abs(sign_out.evaluate(MIDDLE) - who.evaluate(MIDDLE)) <= 2  # centred in the top bar
    # A deadline within the hour stands out; one five hours away does not.
    soon = page.locator(f'.request-row[data-request-id="{requests["soon"].id}"]')
    expect(soon).to_have_class("request-row soon")
    expect(page.locator(f'.request-row[data-request-id="{requests["long"].id}"]')).not_to_have_class("soon")

    # Sorted by deadline (the soonest first), or by age.
    links = page.locator(".request-link")
    expect(links.first).to_have_text(requests["soon"].title)
    page.locator("#filter-sort").select_option("oldest")
    page.locator("#filter-apply").click()
    expect(links.first).to_have_text(f"Refund {LONG}")

    page.goto(url("/?tab=decided"))
    expect(page.locator(".decision")).to_have_text("Rejected")
    fits(page, width, "list-decided", artifacts)

    page.goto(url(f"/requests/{requests['long'].id}/"))
    expect(page.locator("#request-title")).to_have_text(f"Refund {LONG}")
    fits(page, width, "detail-long", artifacts)
    code = page.locator("#request-body pre")
    assert code.evaluate("el => el.scrollWidth > el.clientWidth")  # the code block scrolls inside its card
    quote = page.locator("#request-body blockquote")
    assert quote.evaluate("el => getComputedStyle(el).borderLeftStyle") == "solid"

    page.goto(url(f"/requests/{requests['soon'].id}/"))
    prominent = page.locator(".argument.prominent")
    expect(prominent.first).to_have_attribute("data-key", "amount")
    expect(prominent.first.locator(".value")).to_have_text("42.0")
    expect(page.locator("#request-arguments")).to_be_hidden()  # the raw JSON...
    page.get_by_text("Raw JSON").click()
    expect(page.locator("#request-arguments")).to_contain_text('"order_id": "A-1"')  # ...one click away
    expect(page.locator("#request-deadline .countdown")).to_have_class("countdown soon")
    expect(page.locator(".field[data-key=amount] .limits")).to_have_text("at most 50")
    expect(page.locator('.field[data-key=to] input[type="email"]')).to_have_value("ana@example.com")
    expect(page.locator('.field[data-key=on] input[type="date"]')).to_have_value("2026-12-24")
    expect(page.locator("#request-run")).to_have_attribute("href", "?tab=activity")  # what the agent did
    fits(page, width, "detail", artifacts)
    for tab in ("activity", "history"):
        page.goto(url(f"/requests/{requests['soon'].id}/?tab={tab}"))
        fits(page, width, f"detail-{tab}", artifacts)

    page.goto(url(f"/requests/{requests['decided'].id}/"))
    expect(page.locator("#decided-summary")).to_contain_text("Rejected by")
    fits(page, width, "detail-decided", artifacts)

    page.goto(url("/agents/start/"))
    expect(page.locator("#start-agent-form")).to_contain_text("Refund: proposes")  # no stray space
    fits(page, width, "start", artifacts)


def test_times_read_in_the_reviewers_timezone(chromium, reviewer, url, requests):
    from zoneinfo import ZoneInfo

    context = chromium.new_context(timezone_id="America/New_York")  # the server keeps UTC
    page = login_as(context.new_page(), url, reviewer)
    decided = requests["decided"]
    page.goto(url(f"/requests/{decided.id}/"))
    local = decided.decision.decided_at.astimezone(ZoneInfo("America/New_York"))
    expect(page.locator("#decided-summary time").first).to_contain_text(local.strftime("%H:%M:%S"))
    expect(page.locator("#decided-summary time").first).not_to_contain_text("UTC")
    context.close()
