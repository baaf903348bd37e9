"""The supervision world: visits/tests/conftest.py's campaign (five stages in 2026) on the small street
of tests/conftest.py, with 包村居 street staff and a 两委 member for the interview list.
Imported by the dashboard, scoring and supervision tests (``from reports.tests.supervision_world import rw``)."""

import pytest

from households.roles import CADRE
from tests.conftest import make_user, world  # noqa: F401  (the fixture)
from visitplan.models import Tier
from visits.tests.conftest import vw  # noqa: F401  (the fixture)


@pytest.fixture
def rw(vw):  # noqa: F811
    w = vw
    w.staff1 = make_user("staff_c1", CADRE, scope=w.c1, tier=Tier.STREET_STAFF)  # 包村居 湖田社区
    w.staff2 = make_user("staff_c2", CADRE, scope=w.c2, tier=Tier.STREET_STAFF)
    w.lw1 = make_user("lw_c1", CADRE, scope=w.grid_a, tier=Tier.COMMITTEE)  # 两委 of 湖田社区
    return w
