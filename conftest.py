"""Project-wide test set-up: fast hashing, local mail, and services that CI must really have.

The fixtures every app's tests share are pytest plugins (tests/fixtures/), declared here: pytest
reads ``pytest_plugins`` only in the root conftest. A test names a fixture as a parameter and
imports only plain helpers, from tests/support/.
"""

import pytest

from tests.support.skipping import require_or_skip

pytest_plugins = (
    "tests.fixtures.world",
    "tests.fixtures.visits",
    "tests.fixtures.supervision",
    "tests.fixtures.matrix",
    "tests.fixtures.browser",
)


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
    # Pages link static files by their plain names: the tests do not run collectstatic first. The
    # hashed, compressed files are tested where they matter (tests/test_page_weight.py collects them).
    import tempfile

    settings.STATIC_ROOT = tempfile.mkdtemp(prefix="static-root-")  # empty: WhiteNoise serves through the finders
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
