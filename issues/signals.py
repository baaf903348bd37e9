"""Signal receivers of the issues app. Imported by IssuesConfig.ready() (``from . import signals``).

A HolidayOverride saved or deleted anywhere (admin, shell, fixture, data migration) recomputes the
open deadlines of its year after the transaction commits. Entering a year's schedule writes dozens
of rows in one transaction: the years are collected and recomputed once, in one pass, at commit.
The admin recomputes inside its own request (to report the count) and says so with
``recompute_handled_by_caller()``, so the work is not done twice.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import workdays  # noqa: F401  (connects the calendar-cache invalidation)
from .models import HolidayOverride

logger = logging.getLogger(__name__)

_local = threading.local()


@contextmanager
def recompute_handled_by_caller():
    """Within this block, override changes do not schedule the after-commit recompute: the caller
    runs ``recompute_open_deadlines`` itself."""
    depth = getattr(_local, "suppressed", 0)
    _local.suppressed = depth + 1
    try:
        yield
    finally:
        _local.suppressed = depth


def _flush_pending():
    years = getattr(_local, "pending_years", None)
    _local.pending_years = None
    if not years:
        return
    from .deadlines import recompute_open_deadlines

    changed = recompute_open_deadlines(years=years)
    logger.info("节假日调整 %s：重算 %d 条未办结诉求的时限", sorted(years), changed)


@receiver(post_save, sender=HolidayOverride, dispatch_uid="issues_override_saved_recompute")
@receiver(post_delete, sender=HolidayOverride, dispatch_uid="issues_override_deleted_recompute")
def holiday_override_changed(sender, instance, raw=False, **kwargs):
    if raw or getattr(_local, "suppressed", 0):
        return
    years = getattr(_local, "pending_years", None)
    if years is None:
        _local.pending_years = years = set()
    years.add(instance.date.year)
    # One callback per change, but the first to run takes every pending year and the rest find the
    # set empty: one recompute per transaction. A rolled-back transaction drops its callbacks; its
    # years stay pending and are merely recomputed (a no-op) with the next change that commits.
    transaction.on_commit(_flush_pending)
