"""Long agent text wraps inside its box, and a phone-width screen never scrolls sideways."""

import pytest
from playwright.sync_api import expect

from tests.inbox.conftest import make_request  # noqa: F401 (a fixture)

# What sticks out past the right edge (the failure message names it).
WIDEST = """() => [...document.querySelectorAll("*")]
  .filter(e => e.getBoundingClientRect().right > innerWidth + 1).slice(0, 12)
  .map(e => `${e.tagName}.${e.className}#${e.id} ${Math.round(e.getBoundingClientRect().right)}`)"""

pytestmark = pytest.mark.django_db(transaction=True)

LONG = "x" * 180  # one unbroken "word", as an id or a base64 blob would be

# Every element whose content is wider than its own box (an overflow the reviewer would see).
OVERFLOWING = """(selector) => [...document.querySelectorAll(selector)]
  .filter(el => el.scrollWidth > el.clientWidth + 1).map(el => el.id || el.className || el.tagName)"""
PAGE_WIDTH = "() => document.documentElement.scrollWidth"
MIDDLE = "el => { const r = el.getBoundingClientRect(); return r.top + r.height / 2; }"


def long_request(make):
    return make(
        title=f"Refund {LONG}",
        action=f"issue_refund_{LONG}",
        agent=f"very.long.module.path.{LONG}",
        arguments={f"key_{LONG}": f"value_{LONG}", "amount": 10},
        body_markdown=f"> quoted {LONG}\n\nplain",
    )


@pytest.mark.parametrize("width", [1280, 420])
def test_long_unbroken_text_stays_inside_its_card(reviewer_page, url, make_request, artifacts, width):  # noqa: F811
    page = reviewer_page
    page.set_viewport_size({"width": width, "height": 900})
    req = long_request(make_request)

    page.goto(url("/"))
    expect(page.locator(".request-link")).to_have_text(f"Refund {LONG}")
    page.screenshot(path=artifacts / f"long-text-list-{width}.png", full_page=True)
    assert page.evaluate(PAGE_WIDTH) <= width, page.evaluate(WIDEST)  # the table wraps or scrolls in its box
    sign_out, who = page.locator("#sign-out"), page.locator("#signed-in-as")
    assert abs(sign_out.evaluate(MIDDLE) - who.evaluate(MIDDLE)) <= 2  # centred in the top bar

    page.goto(url(f"/requests/{req.id}/"))
    expect(page.locator("#request-title")).to_have_text(f"Refund {LONG}")
    assert page.evaluate(PAGE_WIDTH) <= width
    assert page.evaluate(OVERFLOWING, ".card, .card h1, .card .meta, .card h2, .field, #edit-form label") == []
    quote = page.locator("#request-body blockquote")
    assert quote.evaluate("el => getComputedStyle(el).borderLeftStyle") == "solid"
    page.screenshot(path=artifacts / f"long-text-{width}.png", full_page=True)
