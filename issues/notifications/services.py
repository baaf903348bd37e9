"""The in-app notifications (站内通知) of one user: selectors and services.

Every query here is filtered by the user, so nobody reaches someone else's notifications; a
notification of another user is "not found", the same as a missing one.
"""

from __future__ import annotations

from django.http import Http404
from django.utils import timezone

from ..models import Notification


def notifications_for(user):
    """The user's notifications, newest first."""
    if not user.is_authenticated:
        return Notification.objects.none()
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


def unread_count(user) -> int:
    """One COUNT on the (user, read_at) index."""
    if not user.is_authenticated:
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def get_notification_for_user(user, pk) -> Notification:
    try:
        return notifications_for(user).get(pk=pk)
    except (Notification.DoesNotExist, ValueError, TypeError):
        raise Http404("没有找到该通知") from None


def notification_mark_read(*, user, notification_id) -> Notification:
    """Mark one of the user's notifications read (the first read time is kept)."""
    notification = get_notification_for_user(user, notification_id)
    if notification.read_at is None:
        now = timezone.now()
        # Conditional: a second tab reading it at the same time does not move the time.
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.refresh_from_db(fields=["read_at"])
    return notification


def notification_mark_all_read(*, user) -> int:
    """Mark all the user's unread notifications read; how many were unread."""
    if not user.is_authenticated:
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
