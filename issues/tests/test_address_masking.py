"""One masking rule for the door number (门牌/房号): an issue page shows a household's address as the
household page shows it to the same user (households.masking.may_see_address). The grid worker who
registered the issue sees "1号楼1单元101" on both; a department handler who sees the issue routed to
him, not the household, sees "101" masked."""

import pytest
from django.urls import reverse

from households.masking import mask_room, may_see_address
from issues.models import Status
from issues.tests.factories import make_issue

FULL = "第1网格1号楼1单元101"
MASKED = "第1网格1号楼1单元" + mask_room("101")


@pytest.mark.django_db
def test_the_issue_page_shows_the_door_number_exactly_to_those_the_household_page_shows_it(client, vw):
    w = vw
    issue = make_issue(w.ha, status=Status.ROUTED, raised_by=w.worker_a, department=w.dept, assignee=w.handler)
    assert MASKED != FULL
    seen = {}
    for user in (w.worker_a, w.secretary, w.admin, w.leader, w.handler, w.worker_b):
        client.force_login(user)
        household = client.get(reverse("visits:household", args=[w.ha.pk]))
        page = client.get(reverse("issues:detail", args=[issue.pk]))
        if page.status_code != 200:
            seen[user.username] = None  # may see neither
            assert household.status_code == 404
            continue
        text = page.content.decode()
        shows_full = FULL in text
        assert shows_full != (MASKED in text), user.username
        # The household page shows the address to whoever it opens for: the issue page, the same.
        assert shows_full == (household.status_code == 200) == may_see_address(user, w.ha), user.username
        if household.status_code == 200:
            assert "1号楼1单元101" in household.content.decode()
        seen[user.username] = shows_full
    assert seen == {"grid_a": True, "sec1": True, "admin": True, "leader": True, "dept1": False, "grid_b": None}


@pytest.mark.django_db
def test_the_grid_worker_who_registered_an_issue_sees_its_door_number(client, vw):
    w = vw
    issue = make_issue(w.ha, status=Status.REGISTERED, raised_by=w.worker_a)
    client.force_login(w.worker_a)
    text = client.get(reverse("issues:detail", args=[issue.pk])).content.decode()
    assert f"湖田社区 {FULL}" in text and MASKED not in text
