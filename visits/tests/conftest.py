"""The visits world: the project's small street (tests/conftest.py) with a campaign that has its
five stages in 2026, and each grid worker's households assigned to him."""

import datetime

import pytest
from django.utils import timezone

from tests.conftest import world  # noqa: F401  (the fixture)
from visitplan.models import Assignment, Stage, StageKind, Tier

D = datetime.date
STAGES = {
    StageKind.MOBILISE: (D(2026, 3, 1), D(2026, 3, 20)),
    StageKind.VISIT: (D(2026, 3, 21), D(2026, 11, 30)),
    StageKind.RECTIFY: (D(2026, 12, 1), D(2026, 12, 15)),
    StageKind.FOLLOW_UP: (D(2026, 12, 16), D(2026, 12, 25)),
    StageKind.EVALUATE: (D(2026, 12, 26), D(2026, 12, 31)),
}
# A Monday before 国庆 2026 (Oct 1–7 off, Sat Oct 10 a make-up working day): see test_visit_service.
VISIT_DAY = D(2026, 9, 28)
# "Now" for the services: a Friday afternoon after the visit stage, inside the campaign.
NOW = timezone.make_aware(datetime.datetime(2026, 11, 20, 15, 0))


@pytest.fixture
def vw(world):
    w = world
    for kind, (start, end) in STAGES.items():
        Stage.objects.create(campaign=w.campaign, kind=kind, starts_on=start, ends_on=end)
    Assignment.objects.create(campaign=w.campaign, household=w.ha, cadre=w.worker_a.cadre, tier=Tier.GRID_WORKER)
    Assignment.objects.create(campaign=w.campaign, household=w.hb, cadre=w.worker_b.cadre, tier=Tier.GRID_WORKER)
    w.campaign.refresh_from_db()
    return w


def visit_kwargs(**overrides):
    """What a complete in-person visit form hands to visits.services.visit_record."""
    import uuid

    values = {
        "key": uuid.uuid4(),
        "method": "in_person",
        "visited_on": VISIT_DAY,
        "started_at": datetime.time(9, 0),
        "ended_at": datetime.time(9, 40),
        "answers": {"living": {"answer": "楼道灯坏了两周", "needs_help": True}, "health": {"answer": "", "needs_help": False}},
        "checklist": ["know_family", "done_care", "bogus"],
        "card_given": True,
        "satisfaction": "satisfied",
        "notes": "老人独居，子女在外地",
        "now": NOW,
    }
    values.update(overrides)
    return values
