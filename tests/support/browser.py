"""Headless Debian Chromium for the browser tests (fixture ``browser_page``, tests/fixtures/browser.py)."""

import os
import shutil
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def screenshot(page, name, *, selector=None, full_page=True):
    """var/screenshots/<name>.png: the page (whole, or the screen with ``full_page=False``) or the
    first element matching ``selector``; copied to $SHOTS_DIR too when it is set."""
    path = os.path.join(SCREENSHOTS, f"{name}.png")
    if selector:
        page.locator(selector).first.screenshot(path=path)
    else:
        page.screenshot(path=path, full_page=full_page)
    if os.environ.get("SHOTS_DIR"):
        os.makedirs(os.environ["SHOTS_DIR"], exist_ok=True)
        shutil.copy(path, os.environ["SHOTS_DIR"])


# The passwords of the test worlds (tests.support.world.make_user) and of ``manage.py seed_demo``.
TEST_PASSWORD = "pw-test-123"
DEMO_PASSWORD = "demo12345"


def log_in(page, live_server, username, password=TEST_PASSWORD):
    """Log in through the login page, as a person would."""
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
