"""Plain helpers the tests of every app share: builders, constants, readers — never a fixture.

Fixtures live in ``tests/fixtures/`` (pytest plugins, declared once in the root conftest.py's
``pytest_plugins``); a test asks for one by naming it as a parameter and imports from here only
functions and constants. An app's own builders of its models stay in its ``tests/factories.py``.
"""
