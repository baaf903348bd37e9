"""Services a test needs (PostgreSQL, Redis, Chromium, …): skipped locally when missing, required in CI."""

import os

import pytest
from django.conf import settings


def require_or_skip(available: bool, what: str):
    """Skip when a service is missing locally; CI (REQUIRE_SERVICES=1) fails instead."""
    if available:
        return
    if settings.REQUIRE_SERVICES or os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required in CI (REQUIRE_SERVICES=1) but is not available")
    pytest.skip(f"{what} not available")
