"""The in-app notifications (站内通知): ``services`` (a user's own, read and marked read) and the
page at /notifications/ (``views``, ``urls``: namespace "notifications"). The reminder job
(issues.reminders) writes them.

Code outside the package imports from here.
"""

from .services import (
    get_notification_for_user,
    notification_mark_all_read,
    notification_mark_read,
    notifications_for,
    unread_count,
)

__all__ = [
    "get_notification_for_user",
    "notification_mark_all_read",
    "notification_mark_read",
    "notifications_for",
    "unread_count",
]
