"""The visits world's calendar (``vw``, tests/fixtures/visits.py) and a complete visit form."""

import datetime
import uuid

from django.utils import timezone

from visitplan.models import StageKind

D = datetime.date
STAGES = {
    StageKind.MOBILISE: (D(2026, 3, 1), D(2026, 3, 20)),
    StageKind.VISIT: (D(2026, 3, 21), D(2026, 11, 30)),
    StageKind.RECTIFY: (D(2026, 12, 1), D(2026, 12, 15)),
    StageKind.FOLLOW_UP: (D(2026, 12, 16), D(2026, 12, 25)),
    StageKind.EVALUATE: (D(2026, 12, 26), D(2026, 12, 31)),
}
# A Monday before 国庆 2026 (Oct 1–7 off, Sat Oct 10 a make-up working day): see visits/tests/test_visit_service.py.
VISIT_DAY = D(2026, 9, 28)
# "Now" for the services: a Friday afternoon after the visit stage, inside the campaign.
NOW = timezone.make_aware(datetime.datetime(2026, 11, 20, 15, 0))


def visit_kwargs(**overrides):
    """What a complete in-person visit form hands to visits.services.visit_record."""
    values = {
        "key": uuid.uuid4(),
        "method": "in_person",
        "visited_on": VISIT_DAY,
        "started_at": datetime.time(9, 0),
        "ended_at": datetime.time(9, 40),
        "answers": {
            "living": {"answer": "楼道灯坏了两周", "needs_help": True},
            "health": {"answer": "", "needs_help": False},
        },
        "checklist": ["know_family", "done_care", "bogus"],
        "card_given": True,
        "satisfaction": "satisfied",
        "notes": "老人独居，子女在外地",
        "now": NOW,
    }
    values.update(overrides)
    return values
