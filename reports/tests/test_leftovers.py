"""阶段遗留事项 (reports/leftovers.py): what a stage left undone, on the dashboard and in the notices.

南山街道, a 2026 campaign on 002's rulebook: 集中走访 3-01 … 6-30, 集中整改 7-01 … 8-31, 回头看 9-01 … 9-30.

    南山社区 h1 visited (5-10), h2 not visited;   i2 办结, i3 registered after 集中整改 (9-05, open),
                                                   i0 registered before the campaign (2-02, open)
    北山社区 h3 visited (6-01);                    i1 registered 8-15, still open

So 集中走访 left 1 household (南山社区 h2) and 集中整改 1 issue (北山社区 i1). The street admin hears of both;
sec1 (南山社区) of the household only, sec2 (北山社区) of the issue only; sec3, not 在岗, of nothing.
外街街道's 集中走访 also ended on 6-30 with a household not visited: its own admin hears of it.
"""

import datetime
import uuid
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from households.models import Node, NodeKind
from households.roles import LEADER, SECRETARY, STREET_ADMIN, sync_role_groups
from issues.models import Issue, Notification, Status
from issues.tests.factories import make_issue
from reports import dashboard, leftovers
from reports.models import StageNotice
from reports.tasks import notify_stage_leftovers_task
from tests.support.world import make_household, make_user
from visitplan.models import Cadre, Campaign, Stage, StageKind, Tier
from visitplan.rulebook import apply_preset
from visits import tally
from visits.models import Visit

D = datetime.date
VISIT_END, RECTIFY_END = D(2026, 6, 30), D(2026, 8, 31)


def visit(campaign, household, user, day):
    made = Visit.objects.create(
        campaign=campaign, household=household, cadre=user.cadre, method="in_person", visited_on=day,
        started_at=datetime.time(9, 0), ended_at=datetime.time(9, 40), duration_minutes=40, key=uuid.uuid4(),
        created_by=user,
    )  # fmt: skip
    tally.record(made)
    return made


@pytest.fixture
def sw(db):
    sync_role_groups()
    street = Node.objects.create(kind=NodeKind.STREET, name="南山街道")
    c1 = Node.objects.create(kind=NodeKind.COMMUNITY, name="南山社区", parent=street)
    c2 = Node.objects.create(kind=NodeKind.COMMUNITY, name="北山社区", parent=street)
    g1 = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=c1)
    g2 = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=c2)
    h1, h2, h3 = (
        make_household(g1, "101", "赵一", 1),
        make_household(g1, "102", "钱二", 2),
        make_household(g2, "201", "孙三", 3),
    )
    campaign = Campaign(year=2026, name="走千村进万户", street=street)
    apply_preset(campaign, "002")
    campaign.save()
    stages = {
        kind: Stage.objects.create(campaign=campaign, kind=kind, starts_on=start, ends_on=end)
        for kind, start, end in (
            (StageKind.VISIT, D(2026, 3, 1), VISIT_END),
            (StageKind.RECTIFY, D(2026, 7, 1), RECTIFY_END),
            (StageKind.FOLLOW_UP, D(2026, 9, 1), D(2026, 9, 30)),
        )
    }  # fmt: skip
    admin = make_user("admin", STREET_ADMIN, scope=street, tier=Tier.STREET_STAFF, staff=True)
    leader = make_user("leader", LEADER, scope=street, tier=Tier.LEADER, staff=True)
    sec1 = make_user("sec1", SECRETARY, scope=c1, tier=Tier.SECRETARY)
    sec2 = make_user("sec2", SECRETARY, scope=c2, tier=Tier.SECRETARY)
    sec3 = make_user("sec3", SECRETARY, scope=c2, tier=Tier.SECRETARY)
    Cadre.objects.filter(pk=sec3.cadre.pk).update(active=False)
    visit(campaign, h1, sec1, D(2026, 5, 10))
    visit(campaign, h3, sec2, D(2026, 6, 1))
    i1 = make_issue(h3, raised_by=sec2, registered_on=D(2026, 8, 15), status=Status.ROUTED)
    i2 = make_issue(h1, raised_by=sec1, registered_on=D(2026, 8, 20), status=Status.CLOSED)
    i3 = make_issue(h2, raised_by=sec1, registered_on=D(2026, 9, 5), status=Status.ROUTED)
    i0 = make_issue(h2, raised_by=sec1, registered_on=D(2026, 2, 2), status=Status.ROUTED)
    # Another street whose 集中走访 ended the same day, with a household not visited: its admin is told
    # of it, and nothing of it reaches this street's people (nor this street's of it).
    other = Node.objects.create(kind=NodeKind.STREET, name="外街街道")
    oc = Node.objects.create(kind=NodeKind.COMMUNITY, name="外街社区", parent=other)
    make_household(Node.objects.create(kind=NodeKind.GRID, name="外街网格", parent=oc), "1", "外街户主", 9)
    outsider = make_user("outsider", STREET_ADMIN, scope=other, tier=Tier.STREET_STAFF, staff=True)
    campaign_x = Campaign(year=2026, name="外街走访", street=other)
    apply_preset(campaign_x, "002")
    campaign_x.save()
    Stage.objects.create(campaign=campaign_x, kind=StageKind.VISIT, starts_on=D(2026, 3, 1), ends_on=VISIT_END)
    return locals()


def counts(left):
    return [(c.name, c.count) for c in left.communities]


@pytest.mark.django_db
def test_the_end_of_each_stage_lists_what_it_left(sw):
    after = D(2026, 9, 10)
    visits = leftovers.stage_leftovers(sw["stages"][StageKind.VISIT], today=after)
    assert (visits.label, visits.ended, visits.total, counts(visits)) == ("集中走访", True, 1, [("南山社区", 1)])
    rectify = leftovers.stage_leftovers(sw["stages"][StageKind.RECTIFY], today=after)
    assert (rectify.total, counts(rectify)) == (1, [("北山社区", 1)])
    assert list(leftovers.issues_left(sw["stages"][StageKind.RECTIFY], Issue.objects.all())) == [sw["i1"]]
    # What is done after the stage is no longer owed: h2 visited, i1 answered.
    visit(sw["campaign"], sw["h2"], sw["sec1"], D(2026, 9, 8))
    Issue.objects.filter(pk=sw["i1"].pk).update(status=Status.RESOLVED, answered_on=D(2026, 9, 9))
    assert leftovers.stage_leftovers(sw["stages"][StageKind.VISIT], today=after).total == 0
    assert leftovers.stage_leftovers(sw["stages"][StageKind.RECTIFY], today=after).total == 0


@pytest.mark.django_db
def test_the_dashboard_panel_counts_per_community_and_links_to_the_same_rows(client, sw):
    board = dashboard.build(sw["admin"], sw["campaign"], today=D(2026, 9, 10))
    visits, rectify = board.leftovers
    assert (visits.kind, counts(visits), rectify.kind, counts(rectify)) == (
        StageKind.VISIT, [("南山社区", 1)], StageKind.RECTIFY, [("北山社区", 1)]
    )  # fmt: skip
    client.force_login(sw["admin"])
    unvisited = client.get(visits.communities[0].url)
    assert [h.pk for h in unvisited.context["page"].object_list] == [sw["h2"].pk]
    still_open = client.get(rectify.communities[0].url)
    assert [i.pk for i in still_open.context["page"].object_list] == [sw["i1"].pk]
    page = client.get(reverse("reports:dashboard"), {"campaign": sw["campaign"].pk})
    assert (
        'id="leftovers"' in page.content.decode()
        and visits.communities[0].url.replace("&", "&amp;") in page.content.decode()
    )
    # A stage still running is listed with nothing counted; a secretary sees his community only.
    running = dashboard.build(sw["admin"], sw["campaign"], today=D(2026, 8, 1)).leftovers
    assert [(s.kind, s.ended, s.total) for s in running] == [(StageKind.VISIT, True, 1), (StageKind.RECTIFY, False, 0)]
    mine = dashboard.build(sw["sec2"], sw["campaign"], today=D(2026, 9, 10)).leftovers
    assert [counts(s) for s in mine] == [[], [("北山社区", 1)]]


@pytest.mark.django_db
def test_the_dashboard_reads_the_visit_stage_leftovers_from_its_coverage_as_the_stage_counts_them(sw):
    """The panel takes 集中走访's leftovers from the coverage rollups when no period is chosen, the job
    counts the households (``stage_leftovers``): the same communities and counts, for every reader,
    before and after a household is visited, and a chosen period counts the households again."""
    stage = sw["stages"][StageKind.VISIT]

    def both(user, today):
        ids = [c["pk"] for c in dashboard.scope_communities(user).values("pk")]
        counted = leftovers.stage_leftovers(stage, today=today, user=user, communities=ids)
        board = dashboard.build(user, sw["campaign"], today=today)
        return counts(board.leftovers[0]), counts(counted), [c.url for c in board.leftovers[0].communities]

    for user in (sw["admin"], sw["sec1"], sw["sec2"]):
        panel, counted, _urls = both(user, D(2026, 9, 10))
        assert panel == counted
    panel, counted, urls = both(sw["admin"], D(2026, 9, 10))
    assert panel == [("南山社区", 1)] and urls == [
        c.url for c in leftovers.stage_leftovers(stage, today=D(2026, 9, 10)).communities
    ]
    visit(sw["campaign"], sw["h2"], sw["sec1"], D(2026, 9, 8))
    for user in (sw["admin"], sw["sec1"], sw["sec2"]):
        panel, counted, _urls = both(user, D(2026, 9, 10))
        assert panel == counted == []
    chosen = dashboard.build(sw["admin"], sw["campaign"], today=D(2026, 9, 10), start=D(2026, 9, 9))
    assert counts(chosen.leftovers[0]) == []  # counted over the households: h2's visit of 9-8 counts


@pytest.mark.django_db
def test_the_day_after_a_stage_ends_the_street_and_the_secretaries_concerned_are_told_once(sw):
    assert leftovers.notify_stage_leftovers(day=VISIT_END).sent == 0  # the stage's last day: not yet
    report = leftovers.notify_stage_leftovers(day=VISIT_END + datetime.timedelta(days=1))
    assert (report.sent, report.already) == (3, 0)
    notes = {n.user.username: n for n in Notification.objects.select_related("user")}
    assert set(notes) == {"admin", "sec1", "outsider"}  # not sec2 (北山社区 was done), not the leader
    assert "外街社区 1 户" in notes["outsider"].body and "南山" not in notes["outsider"].body
    assert "外街" not in notes["admin"].body
    assert notes["admin"].title == "集中走访阶段已结束：仍有 1 户未走访"
    assert "南山社区 1 户" in notes["sec1"].body and "北山社区" not in notes["sec1"].body
    assert f"/reports/unvisited/?campaign={sw['campaign'].pk}&community={sw['c1'].pk}" in notes["admin"].body
    # Again the same day, and the days after: nobody twice.
    for day in (D(2026, 7, 1), D(2026, 7, 2), D(2026, 7, 5)):
        again = leftovers.notify_stage_leftovers(day=day)
        assert (again.sent, again.already) == (0, 3)
    assert Notification.objects.count() == 3 and StageNotice.objects.count() == 3
    # 集中整改: the issue of 北山社区, to the admin and sec2 (sec3 is not 在岗).
    report = leftovers.notify_stage_leftovers(day=RECTIFY_END + datetime.timedelta(days=1))
    assert report.sent == 2
    latest = Notification.objects.filter(title__startswith="集中整改")
    assert sorted(n.user.username for n in latest) == ["admin", "sec2"]
    assert all("北山社区 1 件" in n.body and "南山社区" not in n.body for n in latest)


@pytest.mark.django_db
def test_a_missed_day_is_caught_up_within_the_week_and_not_after(sw):
    assert leftovers.notify_stage_leftovers(day=D(2026, 7, 8)).sent == 0  # 8 days on: too late to tell
    assert leftovers.notify_stage_leftovers(day=D(2026, 7, 7)).sent == 3  # 7 days on: caught up (both streets)


@pytest.mark.django_db
def test_the_command_and_the_task_run_the_same_job_once(sw):
    out = StringIO()
    call_command("notify_stage_leftovers", "--date", "2026-07-01", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines == [
        "2026-07-01：阶段遗留事项通知 3 条，此前已通知 0 条",
        "  2026年走千村进万户 集中走访（06-30结束）：遗留 1 户，通知 2 人",
        "  2026年外街走访 集中走访（06-30结束）：遗留 1 户，通知 1 人",
    ]
    assert notify_stage_leftovers_task("2026-07-01") == {"day": "2026-07-01", "sent": 0, "already": 3}
    assert notify_stage_leftovers_task.delay("2026-09-01").get() == {"day": "2026-09-01", "sent": 2, "already": 0}
    assert Notification.objects.count() == 5


def test_the_beat_runs_it_every_morning():
    entry = settings.CELERY_BEAT_SCHEDULE["notify-stage-leftovers-daily"]
    assert entry["task"] == "reports.tasks.notify_stage_leftovers_task"
    assert entry["schedule"].hour == {8} and entry["schedule"].minute == {10}
