"""The reports tests' fixtures: ``rw`` (reports/tests/supervision_world.py) on top of the visits world."""

from reports.tests.supervision_world import rw, vw, world  # noqa: F401  (fixtures)
