"""Visits written straight through the ORM for the reports tests (the services' rules bypassed, so
a world can hold a visit on any day): ``make_visit`` as the ledgers' world has them (untallied),
``visit`` tallied as visits.services.visit_record would."""

import datetime

from django.db import transaction

from visits import tally
from visits.models import Purpose, Visit

T = datetime.time
NINE_AM = T(9, 0)  # when a visit starts unless told otherwise


def make_visit(
    w, household, user, day, *, method="in_person", purpose=Purpose.VISIT, start=NINE_AM, minutes=40, **fields
):
    end = (datetime.datetime.combine(day, start) + datetime.timedelta(minutes=minutes)).time()
    return Visit.objects.create(
        campaign=w.campaign, household=household, cadre=user.cadre, purpose=purpose, method=method, visited_on=day,
        started_at=start, ended_at=end, duration_minutes=minutes, created_by=user, **fields,
    )  # fmt: skip


def visit(w, household, user, day, method="in_person", minutes=None):
    start = NINE_AM if minutes else None
    end = (datetime.datetime.combine(day, start) + datetime.timedelta(minutes=minutes)).time() if minutes else None
    # In one transaction, as visits.services.visit_record writes a visit and records it in the tallies
    # (tally.record locks the household's row: it must run inside the visit's transaction).
    with transaction.atomic():
        made = Visit.objects.create(campaign=w.campaign, household=household, cadre=user.cadre, visited_on=day,
                                    method=method, started_at=start, ended_at=end, duration_minutes=minutes,
                                    created_by=user)  # fmt: skip
        tally.record(made)
    return made
