"""Argument types shared by the management commands of every app."""

from datetime import date

from django.core.management.base import CommandError


def day(value):
    """``--date YYYY-MM-DD``, or a Chinese error naming the value."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"日期格式应为 YYYY-MM-DD：{value!r}") from None
