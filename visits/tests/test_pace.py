"""Behind by pace: a period target prorated to the day (``visits.targets.prorated``), and the
rulebook's switch back to the whole target from day one (``pace_targets``)."""

import datetime

import pytest

from visitplan.rulebook import update_rules
from visits import targets

D = datetime.date
OCTOBER = (D(2026, 10, 1), D(2026, 10, 31))


@pytest.mark.parametrize(
    ("target", "day", "due"),
    [
        (10, D(2026, 9, 30), 0),  # before the span
        (10, D(2026, 10, 1), 0),  # 0.32
        (10, D(2026, 10, 6), 2),  # 1.94
        (50, D(2026, 10, 6), 10),  # 9.68
        (50, D(2026, 10, 7), 11),  # 11.29
        (10, D(2026, 10, 16), 5),  # 5.16
        (10, D(2026, 10, 31), 10),  # the last day: all of it
        (10, D(2026, 11, 3), 10),  # after the span
        (1, D(2026, 10, 15), 0),  # 0.48
        (1, D(2026, 10, 16), 1),  # 0.52: half up
    ],
)
def test_a_target_is_prorated_to_the_day_rounded_half_up(target, day, due):
    assert targets.prorated(target, OCTOBER, day) == due


@pytest.mark.django_db
def test_without_pace_the_whole_month_is_due_from_the_first(world):
    w = world
    w.campaign.leader_days_per_month, w.campaign.leader_households_per_month = 10, 50
    w.campaign.save()
    w.campaign._rules_cache = None
    assert not targets.month_short(w.campaign, 2, 10, D(2026, 10, 6))  # 2 days, 10 households: on pace
    update_rules(w.campaign, {"pace_targets": False}, user=w.admin)
    w.campaign._rules_cache = None
    assert targets.month_short(w.campaign, 2, 10, D(2026, 10, 6))
    assert not targets.month_short(w.campaign, 10, 50, D(2026, 10, 6))
