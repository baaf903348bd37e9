"""Headless Debian Chromium for the browser tests (fixture ``browser_page``, tests/fixtures/browser.py)."""

import os
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


def screenshot(page, name):
    page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)
