"""The clock of the scheduled jobs: which day "today" is when a job or command is given no date.

The daily and monthly jobs (reminders, 回头看, the tallies, the monthly report) and their
management commands all ask ``today()`` here, so a test moves all of them to another day by
replacing this one function (``monkeypatch.setattr("core.clock.today", …)``).
"""

from datetime import date

from django.utils import timezone


def today() -> date:
    # settings.TIME_ZONE is Asia/Shanghai: "today" is the office's day, not the server's UTC day.
    return timezone.localdate()
