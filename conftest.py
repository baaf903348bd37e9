"""Project-wide test set-up: fast hashing, local mail, and services that CI must really have."""

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


@pytest.fixture(autouse=True)
def _fast_test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def on_postgres(db):
    from django.db import connection

    require_or_skip(connection.vendor == "postgresql", "PostgreSQL")


def pytest_configure():
    # Persistent connections (CONN_MAX_AGE) outlive the threads tests start (the live server, the
    # race tests) and keep the test database busy when it is dropped: tests open one per use.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
