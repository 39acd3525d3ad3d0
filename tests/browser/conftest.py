"""Real Chromium (Debian's package) driven by Playwright, against the live test server."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from inbox.reviewers import ensure_reviewers_group

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PASSWORD = "correct horse battery staple"

# The page's width, and what sticks out past the right edge (a failure message names it).
PAGE_WIDTH = "() => document.documentElement.scrollWidth"
WIDEST = """() => [...document.querySelectorAll("*")]
  .filter(e => e.getBoundingClientRect().right > innerWidth + 1).slice(0, 12)
  .map(e => `${e.tagName}.${e.className}#${e.id} ${Math.round(e.getBoundingClientRect().right)}`)"""


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


# DEBUG on is how `make run` serves, and it serves on SQLite only; production (DEBUG off) runs on
# either database. So the PostgreSQL pass drives the browser with DEBUG off alone.
ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres:", "postgresql:"))
DEBUG_MODES = [False] if ON_POSTGRES else [False, True]


@pytest.fixture(autouse=True, params=DEBUG_MODES, ids=["debug-off", "debug-on"][: len(DEBUG_MODES)])
def debug(request, settings):
    """Every browser test runs with DEBUG off (production) and, as ``make run`` serves, on: with
    DEBUG on, django-htmx adds its error script, which once replaced the whole page on any 400."""
    settings.DEBUG = request.param
    return request.param


@pytest.fixture(scope="module", autouse=True)
def async_unsafe_allowed() -> Iterator[None]:
    """Playwright's sync API runs an event loop on this thread; the test's own ORM calls are still
    synchronous code, so Django's async-safety guard stands down, for the browser tests only (the
    engine's tests check that it refuses the ORM on an event loop)."""
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if before is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


# Per module, not per session: Playwright's event loop stays running on this thread while it
# lives, and later tests (an agent's run_sync) need the thread without one.
@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        missing = "Debian's chromium is not installed (make test installs it: apt-get install chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{missing}; CI runs the browser tests, so it must be installable")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.call_failed = report.failed
    return report


@pytest.fixture
def page(chromium, request):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    if getattr(request.node, "call_failed", False):
        # What the browser showed when the test failed, for CI to keep.
        failures = ARTIFACTS / "failures"
        failures.mkdir(parents=True, exist_ok=True)
        for n, shown in enumerate(context.pages):
            shown.screenshot(path=failures / f"{request.node.name}-{n}.png", full_page=True)
    context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def reviewer(transactional_db, settings):
    """A member of the Reviewers group who signs in with a password (hashed fast: tests only)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = User.objects.create_user("alice", password=PASSWORD)
    user.groups.add(ensure_reviewers_group())
    return user


@pytest.fixture
def url(live_server):
    return lambda path="/": live_server.url + path


@pytest.fixture
def signed_in(page, url, reviewer):
    """The page, signed in through the login form, showing the inbox."""
    from playwright.sync_api import expect

    page.goto(url("/"))
    expect(page).to_have_url(url("/accounts/login/?next=/"))
    page.get_by_label("Username").fill(reviewer.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signed-in-as")).to_have_text(reviewer.username)
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    return page


def login_as(page, url, user):
    """Give the page ``user``'s session cookie (the sign-in form itself is tested once, in ``signed_in``)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": url("/")}])
    return page


@pytest.fixture
def reviewer_page(page, url, reviewer):
    """The page, signed in as the reviewer."""
    return login_as(page, url, reviewer)
