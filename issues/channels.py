"""Outside channels for notifications (email now; SMS would plug in the same way), and delivery.

One interface, ``Channel``:

- ``name`` — stored in ``Delivery.channel`` (max 16 characters), so it must stay stable;
- ``address_for(user) -> str | None`` — where this user is reached, or None to skip the user
  (no delivery row is written for them on this channel);
- ``send(delivery)`` — send one delivery; raise on failure (the task retries it).

``settings.REMINDER_CHANNELS`` lists the channels as dotted paths to classes. An SMS channel
would be a class with ``name = "sms"``, ``address_for`` returning the cadre's phone and ``send``
calling the SMS gateway, added to that list — nothing else changes.

``deliver(ids, final_attempt=...)`` sends the deliveries that are still pending, so a retried
or duplicated task re-sends only what is still pending. Each one is claimed first: on
PostgreSQL by locking its row (``SELECT … FOR UPDATE SKIP LOCKED``) for the time of the send, so
a concurrent task skips it; on SQLite (one solo worker) by a conditional UPDATE
(``state = pending AND attempts = <the value read>`` → attempts + 1). A delivery found locked by
another task is reported ``busy`` and the task looks again later: the other sender may be a
worker killed mid-send whose database session has not ended yet. Sending is at least once,
not exactly once: a worker killed between the SMTP "250 OK" and the commit of ``sent`` leaves the
delivery pending, and the redelivered task (acks_late) sends it again. Email cannot be made
transactional; a duplicate reminder is the lesser harm than a lost one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connections, router, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from .models import Delivery

log = logging.getLogger(__name__)

DEFAULT_CHANNELS = ["issues.channels.EmailChannel"]

# Stored errors are for people reading the admin list, not for dumping whole tracebacks.
ERROR_MAX_CHARS = 1000


class Channel:
    """A way to reach a user outside the application.

    One instance serves one batch of deliveries (``deliver`` makes it, sends, then calls
    ``close``), so it may keep a connection open between sends.
    """

    name = ""

    def address_for(self, user) -> str | None:
        raise NotImplementedError

    def send(self, delivery: Delivery) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the sends of this batch held (a connection); called once at the end."""


class EmailChannel(Channel):
    """Email through Django's mail backend (``EMAIL_BACKEND``); users without an address are skipped."""

    name = "email"

    def address_for(self, user) -> str | None:
        email = (getattr(user, "email", "") or "").strip()
        return email or None

    def __init__(self):
        self._connection = None

    def send(self, delivery: Delivery) -> None:
        notification = delivery.notification
        if self._connection is None:
            # One SMTP connection (and TLS handshake) for the batch, not one per mail.
            self._connection = get_connection(fail_silently=False)
            self._connection.open()
        message = EmailMessage(
            subject=notification.title,
            body=notification.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[delivery.address],
            connection=self._connection,
        )
        try:
            # fail_silently=False: an SMTP error must reach the task so that it retries.
            message.send(fail_silently=False)
        except Exception:
            self.close()  # a connection that failed is not trusted with the next mail
            raise

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail too
                log.debug("closing the mail connection failed", exc_info=True)


def get_channels() -> list[Channel]:
    """The channels configured in ``settings.REMINDER_CHANNELS``, in order (new instances each call)."""
    paths = getattr(settings, "REMINDER_CHANNELS", DEFAULT_CHANNELS)
    channels = []
    seen = set()
    for path in paths:
        channel = import_string(path)()
        if not channel.name or len(channel.name) > 16:
            raise ValueError(f"{path}: Channel.name must be 1–16 characters (it is stored in Delivery.channel)")
        if channel.name in seen:
            raise ValueError(f"{path}: two channels are named {channel.name!r}")
        seen.add(channel.name)
        channels.append(channel)
    return channels


@dataclass
class DeliveryResult:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # marked failed for good
    retry: list[int] = field(default_factory=list)  # failed this time, still pending
    skipped: list[int] = field(default_factory=list)  # not pending any more, or claimed by someone else
    # PostgreSQL: still pending but locked by another transaction — a task sending it right now,
    # or one whose worker died a moment ago and whose session the server has not ended yet. The
    # task checks again later (deliver_task retries), so a dead sender's delivery is not left behind.
    busy: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)

    def as_dict(self):
        return {"sent": len(self.sent), "failed": len(self.failed), "retry": len(self.retry), "skipped": len(self.skipped),
                "busy": len(self.busy)}  # fmt: skip


class ChannelNotConfigured(Exception):
    pass


def _reply(code, message) -> str:
    if isinstance(message, bytes):
        message = message.decode("utf-8", errors="replace")
    return f"{code} {message}".strip()


def _error_text(exc: BaseException) -> str:
    """The error as a person reads it: SMTP replies decoded (smtplib keeps them as bytes)."""
    import smtplib

    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        detail = "；".join(f"{address}: {_reply(*reply)}" for address, reply in exc.recipients.items())
    elif isinstance(exc, smtplib.SMTPResponseException):
        detail = _reply(exc.smtp_code, exc.smtp_error)
    else:
        detail = str(exc)
    return f"{type(exc).__name__}: {detail}"[:ERROR_MAX_CHARS]


def deliver(delivery_ids, *, final_attempt: bool = False) -> DeliveryResult:
    """Send the deliveries among ``delivery_ids`` that are still pending.

    A failure is written to ``Delivery.error``; the delivery stays pending for the next attempt,
    or becomes ``failed`` when ``final_attempt`` (the task's last retry) or when its channel is no
    longer configured (retrying cannot help).
    """
    result = DeliveryResult()
    channels = {c.name: c for c in get_channels()}
    wanted = sorted(set(delivery_ids))
    pending = list(
        Delivery.objects.filter(pk__in=wanted, state=Delivery.State.PENDING).order_by("pk").values_list("pk", flat=True)
    )
    locking = connections[router.db_for_write(Delivery)].features.has_select_for_update_skip_locked
    try:
        for pk in pending:
            if locking:
                _deliver_locked(pk, channels, final_attempt, result)
            else:
                _deliver_guarded(pk, channels, final_attempt, result)
    finally:
        for channel in channels.values():
            channel.close()
    still_pending = set(pending)
    result.skipped.extend(pk for pk in wanted if pk not in still_pending)
    return result


def _deliver_locked(pk, channels, final_attempt, result):
    """PostgreSQL: the row stays locked while it is sent; a concurrent task skips it, and finds it
    sent once the lock is gone. A worker dying mid-send rolls the attempt back: sent again later."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("notification")
            .filter(pk=pk, state=Delivery.State.PENDING)
            .first()
        )
        if delivery is None:
            if Delivery.objects.filter(pk=pk, state=Delivery.State.PENDING).exists():
                result.busy.append(pk)  # locked: being sent by another task (or its dead session)
            result.skipped.append(pk)
            return
        delivery.attempts += 1
        Delivery.objects.filter(pk=pk).update(attempts=delivery.attempts)
        _attempt(delivery, channels, final_attempt, result)


def _deliver_guarded(pk, channels, final_attempt, result):
    """SQLite (the embedded default, one solo worker): no row locks, and a transaction held during
    an SMTP exchange would hold the whole database's write lock; claim the attempt with a
    conditional UPDATE instead, so two tasks that read the same row cannot both send it."""
    delivery = Delivery.objects.select_related("notification").filter(pk=pk, state=Delivery.State.PENDING).first()
    if delivery is None:
        result.skipped.append(pk)
        return
    claimed = Delivery.objects.filter(pk=pk, state=Delivery.State.PENDING, attempts=delivery.attempts).update(
        attempts=F("attempts") + 1
    )
    if not claimed:
        result.skipped.append(pk)
        return
    delivery.attempts += 1
    _attempt(delivery, channels, final_attempt, result)


def _attempt(delivery, channels, final_attempt, result):
    channel = channels.get(delivery.channel)
    try:
        if channel is None:
            raise ChannelNotConfigured(f"渠道 {delivery.channel!r} 未在 REMINDER_CHANNELS 中配置")
        channel.send(delivery)
    except Exception as exc:  # noqa: BLE001 - any channel error is recorded, then retried or given up
        error = _error_text(exc)
        result.errors[delivery.pk] = error
        update = {"error": error}
        if final_attempt or isinstance(exc, ChannelNotConfigured):
            update["state"] = Delivery.State.FAILED
            result.failed.append(delivery.pk)
            log.error("delivery %s (%s → %s) failed for good after %s attempts: %s",
                      delivery.pk, delivery.channel, delivery.address, delivery.attempts, error)  # fmt: skip
        else:
            result.retry.append(delivery.pk)
            log.warning(
                "delivery %s (%s) failed, attempt %s: %s", delivery.pk, delivery.channel, delivery.attempts, error
            )
        Delivery.objects.filter(pk=delivery.pk).update(**update)
    else:
        Delivery.objects.filter(pk=delivery.pk).update(state=Delivery.State.SENT, sent_at=timezone.now(), error="")
        result.sent.append(delivery.pk)
