"""The in-app notifications (站内通知) of one user: selectors and services.

Every query here is filtered by the user, so nobody reaches someone else's notifications; a
notification of another user is "not found", the same as a missing one.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from ..channels import get_channels
from ..models import Delivery, Notification


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


def notify(users, *, title: str, body: str, issue=None, event=None) -> int:
    """Write one in-app notification per user and queue its outside deliveries (one per configured
    channel the user has an address on), sent after the surrounding transaction commits.

    With ``event``: once per (event, user) — a user already told about this event is skipped
    (the unique constraint decides, also between racing requests). How many were written."""
    from ..reminders import enqueue_deliveries

    written = []
    channels = get_channels()
    for user in users:
        try:
            with transaction.atomic():  # a savepoint: a duplicate leaves the outer transaction usable
                notification = Notification.objects.create(
                    user=user, issue=issue, event=event, title=title[:200], body=body
                )
        except IntegrityError:
            continue
        written.append(notification)
        for channel in channels:
            address = channel.address_for(user)
            if address:
                Delivery.objects.create(notification=notification, channel=channel.name, address=address[:200])
    delivery_ids = list(Delivery.objects.filter(notification__in=written).values_list("pk", flat=True))
    if delivery_ids:
        enqueue_deliveries(delivery_ids)
    return len(written)
