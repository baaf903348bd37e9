"""Headless Debian Chromium driven by Playwright; missing locally → skip, in CI → fail."""

import os
import shutil

import pytest

from conftest import require_or_skip

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "screenshots")


@pytest.fixture
def browser_page():
    """A phone-sized page (360 × 740) in a fresh browser context."""
    require_or_skip(os.path.exists(CHROMIUM) or shutil.which("chromium") is not None, "Chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is in requirements-dev.txt
        require_or_skip(False, "Playwright")
    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    os.makedirs(SCREENSHOTS, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
        page = context.new_page()
        yield page
        context.close()
        browser.close()


def screenshot(page, name):
    page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)
