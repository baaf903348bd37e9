"""The issue rollups (``IssueCount``, issues/rollups.py): after random registrations (answered on the
spot or not, within a campaign or before it), every step of the workflow — reviews with a changed
class (deadlines recomputed), returns and resubmissions, merges, routes and 退办, plans posted on
time and late, answers on time and late, closures, explanations, extensions, reopenings — issues
saved and deleted through the model, households moved, a stage moved (the span), the working-day
calendar changed (open deadlines recomputed, working days to close recounted) and a community moved
to another street, the rows equal a count made here from the issues one by one, the dashboard's
issue panel read from them equals the panel counted over the period's issues (the old computation,
kept here as the oracle) for each reader and several days, and a rebuild repairs rows gone wrong."""

import datetime
import random

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from households.models import Household, Node, NodeKind
from issues import rollups, services, workdays
from issues.models import (
    OPEN_STATUSES,
    Category,
    ExtensionRequest,
    HolidayOverride,
    Issue,
    IssueCount,
    Level,
    Severity,
    Status,
    overdue_q,
)
from issues.tests.factories import make_issue
from reports import dashboard
from tests.support.world import make_household
from visitplan.models import Campaign, Stage, StageKind
from visits import tally

D = datetime.date
LAST_REGISTRATION = D(2026, 11, 30)
TODAYS = (D(2026, 12, 1), D(2026, 12, 20), D(2027, 2, 1))


# ---------------------------------------------------------------------------------------------- oracles


def fresh():
    """The rows counted here from the issues one by one: {key: (n, close_days)} of every campaign."""
    calendar = workdays.WorkCalendar.load()
    campaigns = [(c.pk, c.street_id, *c.span()) for c in Campaign.objects.prefetch_related("stages")]
    found = {}
    for i in Issue.objects.select_related("community"):
        plan = rollups.timeliness(i.plan_posted_on, i.plan_due_on)
        answer = rollups.timeliness(i.answered_on, i.due_on)
        days = max(0, calendar.working_days_between(i.registered_on, i.answered_on)) if i.answered_on else 0
        for pk, street, first, last in campaigns:
            if street == i.community.parent_id and first <= i.registered_on <= last:
                key = (pk, i.community_id, i.status, i.category, i.closure, plan, answer)
                n, spent = found.get(key, (0, 0))
                found[key] = (n + 1, spent + days)
    return found


def stored():
    return {
        (r.campaign_id, r.community_id, r.status, r.category, r.closure, r.plan_state, r.answer_state): (r.n, r.close_days)
        for r in IssueCount.objects.all()
        if r.n or r.close_days
    }  # fmt: skip


def issue_figures_counted(user, period, communities, *, today):
    """The issue panel as reports/dashboard.py counted it before the rollups (the test's oracle):
    every figure an aggregate over the period's issues. Categories of equal counts in the order of
    ``Category`` (the old panel left their order to the database)."""
    issues = dashboard.period_issues(user, period, communities)
    by_status = dict(issues.values("status").annotate(n=Count("pk")).values_list("status", "n"))
    by_category = dict(issues.values("category").annotate(n=Count("pk")).values_list("category", "n"))
    counts = {}
    for figure in dashboard.ISSUE_FIGURES:
        q = dashboard.issue_figure_q(figure, today=today)
        counts[figure] = Count("pk", filter=q) if q else Count("pk")
    f = issues.aggregate(**counts)
    calendar = workdays.current_calendar()
    pairs = issues.filter(dashboard.answered_q()).values("registered_on", "answered_on").annotate(n=Count("pk"))
    spent = weight = 0
    for p in pairs:
        spent += max(0, calendar.working_days_between(p["registered_on"], p["answered_on"])) * p["n"]
        weight += p["n"]
    overdue = list(issues.filter(overdue_q(today)).order_by("due_on", "plan_due_on", "id")[: dashboard.OVERDUE_LIST])
    order = {k: n for n, k in enumerate(Category.values)}
    return {
        **f,
        "plan_pct": dashboard.pct(f["plan_on_time"], f["plan_due"]),
        "close_pct": dashboard.pct(f["close_on_time"], f["close_due"]),
        "avg_days": round(spent / weight, 1) if weight else 0,
        "by_status": [
            {"key": k, "label": Status(k).label, "n": by_status[k]} for k, _ in Status.choices if by_status.get(k)
        ],
        "by_category": sorted(
            ({"key": k, "label": Category(k).label, "n": n} for k, n in by_category.items()),
            key=lambda c: (-c["n"], order[c["key"]]),
        ),
        "overdue_list": overdue,
    }


def check(w, *, rolled_up=True):
    """The rows equal the fresh count; each reader's panel, for each campaign and several days,
    equals the old computation — read from the rollups (``rolled_up``) for the whole campaign — and
    a narrower period (counted as before) does too."""
    assert stored() == fresh()
    for campaign in (w.campaign, w.summer, w.older):
        for today in TODAYS:
            period = dashboard.Period.of(campaign, today=today)
            for user in (w.admin, w.leader, w.secretary):
                ids = list(dashboard.scope_communities(user).values_list("pk", flat=True))
                assert dashboard._issues_in_campaign(period, ids) == rolled_up
                got = dashboard.issue_figures(user, period, ids, today=today)
                assert got == issue_figures_counted(user, period, ids, today=today)
    narrow = dashboard.Period.of(w.campaign, start=D(2026, 6, 1), end=D(2026, 9, 30), today=TODAYS[0])
    ids = list(dashboard.scope_communities(w.admin).values_list("pk", flat=True))
    assert dashboard.issue_figures(w.admin, narrow, ids, today=TODAYS[0]) == issue_figures_counted(
        w.admin, narrow, ids, today=TODAYS[0]
    )


# ---------------------------------------------------------------------------------------------- the world


@pytest.fixture
def iw(vw):
    """The visits world (the 2026 campaign: stages 3-01 … 12-31) with a second 2026 campaign of the
    street over the summer (its issues are counted under both), the 2025 campaign (no stages: its
    year), and households in both communities."""
    w = vw
    w.summer = Campaign.objects.create(year=2026, name="夏季专项走访", street=w.street)
    Stage.objects.create(campaign=w.summer, kind=StageKind.VISIT, starts_on=D(2026, 6, 1), ends_on=D(2026, 8, 31))
    w.older = Campaign.objects.create(year=2025, name="2025年入户走访", street=w.street)
    w.grid_d = Node.objects.create(kind=NodeKind.GRID, name="第3网格", parent=w.c2)
    w.grids = [w.grid_a, w.grid_b, w.grid_c, w.grid_d]
    w.households = [w.ha, w.hb, w.hc]
    for i in range(7):
        w.households.append(make_household(w.grids[i % 4], f"{700 + i}", f"诉求户{i}", 400 + i))
    w.day = [D(2026, 3, 2)]  # "today" for the services: moved along by the test
    return w


def register(w, rnd):
    h = Household.objects.get(pk=rnd.choice(w.households).pk)
    registered_on = rnd.choice([D(2025, 10, 1), D(2026, 2, 20)]) if rnd.random() < 0.15 else None
    registered_on = registered_on or D(2026, 3, 1) + datetime.timedelta(days=rnd.randrange(275))
    raiser = w.worker_a if h.grid_id == w.grid_a.pk and rnd.random() < 0.5 else w.admin
    return services.issue_register(
        household=h, raised_by=raiser, text=f"诉求{rnd.randrange(10**6)}", category=rnd.choice(Category.values),
        severity=rnd.choice(Severity.values), registered_on=registered_on,
        answer_on_the_spot="已现场答复" if rnd.random() < 0.15 else "",
    )  # fmt: skip


def act(w, rnd, issue):
    """One step of the workflow on ``issue`` that its actors may take now, chosen at random, on a
    day between its registration and the last one (plans and answers on time or late)."""
    issue.refresh_from_db()
    w.day[0] = min(LAST_REGISTRATION, issue.registered_on + datetime.timedelta(days=rnd.randrange(40)))
    choices = [(a, w.admin) for a in services.allowed_actions(w.admin, issue)]
    choices += [(a, w.handler) for a in services.allowed_actions(w.handler, issue)]
    if not choices:
        return
    action, by = rnd.choice(choices)
    v = issue.version
    common = {"issue": issue, "by": by, "version": v}
    if action == "accept":
        other = rnd.choice([s for s in Severity.values if s != issue.severity])
        services.issue_accept(**common, severity=other if rnd.random() < 0.4 else None, severity_reason="复核")
    elif action == "return":
        services.issue_return(**common, reason="材料不全")
    elif action == "resubmit":
        services.issue_resubmit(**common, text=issue.text + "（补充）")
    elif action == "merge":
        into = Issue.objects.filter(status__in=OPEN_STATUSES).exclude(pk=issue.pk).order_by("?").first()
        if into is not None:
            services.issue_merge(**common, into=into)
    elif action == "route":
        services.issue_route(**common, department=w.dept, assignee=w.handler)
    elif action == "misroute":
        services.issue_misroute(**common, reason="不属于本单位")
    elif action == "post_plan":
        services.issue_post_plan(**common, plan="三日内维修")
    elif action == "add_progress":
        services.issue_add_progress(**common, text="已联系物业")
    elif action == "resolve":
        services.issue_resolve(**common, answer="已维修")
    elif action == "close":
        services.issue_close(**common)
    elif action == "explain":
        services.issue_explain(**common, explanation="政策之外，已解释")
    elif action == "request_extension":
        services.issue_request_extension(issue=issue, by=by, days=rnd.randint(1, 10), reason="材料待补")
    elif action == "decide_extension":
        request = ExtensionRequest.objects.get(issue=issue, decision=ExtensionRequest.Decision.PENDING)
        services.issue_decide_extension(request=request, by=by, approve=rnd.random() < 0.7)
    elif action == "escalate":
        higher = [Level.COMMUNITY, Level.STREET, Level.JOINT]
        higher = higher[higher.index(issue.level) + 1 :]
        services.issue_escalate(**common, level=rnd.choice(higher), person=w.admin)
    elif action == "reopen":
        services.issue_reopen(issue=issue, by=by, reason="回访未解决")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_issue_rollups_follow_every_writer_and_equal_a_fresh_count(
    iw, seed, monkeypatch, django_capture_on_commit_callbacks
):
    rnd = random.Random(seed)
    w = iw
    monkeypatch.setattr(services, "_today", lambda: w.day[0])
    check(w)
    issues = []
    try:
        for step in range(70):
            action = rnd.random()
            if action < 0.22 or len(issues) < 4:
                issues.append(register(w, rnd))
            elif action < 0.8:
                act(w, rnd, rnd.choice(issues))
            elif action < 0.85:
                # through the model: an issue made by a factory, or one changed by a full-row save
                if rnd.random() < 0.5:
                    h = rnd.choice(w.households)
                    issues.append(make_issue(h, status=rnd.choice([Status.ROUTED, Status.RESOLVED, Status.CLOSED]),
                                             department=w.dept, registered_on=D(2026, 4, 1) + datetime.timedelta(days=rnd.randrange(200)),
                                             category=rnd.choice(Category.values)))  # fmt: skip
                else:
                    issue = Issue.objects.get(pk=rnd.choice(issues).pk)
                    issue.category = rnd.choice(Category.values)
                    issue.save()
            elif action < 0.89:
                issue = rnd.choice(issues)
                if not Issue.objects.filter(merged_into=issue.pk).exists():
                    Issue.objects.get(pk=issue.pk).delete()
                    issues.remove(issue)
            elif action < 0.95:
                # households moved: their issues stay with the community they were registered in
                h = Household.objects.get(pk=rnd.choice(w.households).pk)
                h.grid = rnd.choice([g for g in w.grids if g.pk != h.grid_id])
                h.community = h.grid.parent
                h.save()
            else:
                # the summer campaign's span moves (its stage saved): its rows are recounted
                stage = Stage.objects.get(campaign=w.summer)
                stage.ends_on = rnd.choice([D(2026, 8, 31), D(2026, 9, 30), D(2026, 7, 15)])
                stage.save()
            if step % 14 == 0:
                check(w)
        check(w)
        # The calendar changes (a working day off): the open deadlines move (recomputed after commit,
        # moving their rows) and the working days to close are recounted (this one's among them).
        make_issue(w.ha, status=Status.CLOSED, registered_on=D(2026, 9, 21), answered_on=D(2026, 10, 20))
        with django_capture_on_commit_callbacks(execute=True):
            HolidayOverride.objects.create(date=D(2026, 9, 28), is_workday=False, note="测试：调休")
            HolidayOverride.objects.create(date=D(2026, 10, 10), is_workday=False, note="测试：调休")
        check(w)
        assert any(r.close_days for r in IssueCount.objects.all())  # the working days were counted
    finally:
        workdays.clear_cache()
    # The counts of the rows above include every kind of row the panel reads.
    assert {s for (_c, _m, s, *_rest) in stored()} >= {Status.REGISTERED, Status.CLOSED}
    before = stored()
    tally.rebuild(w.campaign)
    tally.rebuild(w.summer)
    assert stored() == before == fresh()


def test_a_rule_change_moves_the_rows_of_the_open_issues_whose_deadlines_move(iw, monkeypatch):
    """Plans posted on 04-13 against 5 working days from 04-01 are late; with 10 days (the campaign's
    rule changed: ``deadlines.rules_changed`` recomputes its open issues) they are on time."""
    from visitplan.rulebook import update_rules

    w = iw
    w.day[0] = D(2026, 4, 13)
    monkeypatch.setattr(services, "_today", lambda: w.day[0])
    for h in (w.ha, w.hb, w.hc):
        issue = services.issue_register(household=h, raised_by=w.admin, text="楼道灯不亮", category=Category.LIVING,
                                        registered_on=D(2026, 4, 1))  # fmt: skip
        issue = services.issue_accept(issue=issue, by=w.admin, version=issue.version)
        issue = services.issue_route(issue=issue, by=w.admin, version=issue.version, department=w.dept)
        services.issue_post_plan(issue=issue, by=w.handler, version=issue.version, plan="三日内维修")
    period = dashboard.Period.of(w.campaign, today=TODAYS[0])
    ids = list(dashboard.scope_communities(w.admin).values_list("pk", flat=True))
    before = dashboard.issue_figures(w.admin, period, ids, today=TODAYS[0])
    assert (before["plan_due"], before["plan_on_time"]) == (3, 0)
    update_rules(w.campaign, {"plan_days": 10}, user=w.admin)
    assert stored() == fresh()
    after = dashboard.issue_figures(w.admin, period, ids, today=TODAYS[0])
    assert after == issue_figures_counted(w.admin, period, ids, today=TODAYS[0])
    assert (after["plan_due"], after["plan_on_time"]) == (3, 3)


def test_a_community_moved_to_another_street_is_counted_under_its_campaigns(iw):
    w = iw
    for n in range(6):
        make_issue(w.hc if n % 2 else w.ha, registered_on=D(2026, 4, 1) + datetime.timedelta(days=n * 30))
    street2 = Node.objects.create(kind=NodeKind.STREET, name="车站街道")
    other = Campaign.objects.create(year=2026, name="车站街道入户走访", street=street2)
    assert not IssueCount.objects.filter(campaign=other).exists()
    w.c2.parent = street2
    w.c2.save()
    assert stored() == fresh()
    assert IssueCount.objects.filter(campaign=other, community=w.c2).exists()
    assert not IssueCount.objects.filter(campaign=w.campaign, community=w.c2).exists()
    # A reader of every street: the panel of a campaign over communities of two streets is counted;
    # over the moved community alone it is its new street's campaign's rows.
    root = get_user_model().objects.create_superuser("root", password="pw-test-123")
    today = TODAYS[0]
    every = list(dashboard.scope_communities(root).values_list("pk", flat=True))
    for campaign, ids in ((w.campaign, every), (other, [w.c2.pk]), (other, every)):
        period = dashboard.Period.of(campaign, today=today)
        assert dashboard._issues_in_campaign(period, ids) == (ids == [w.c2.pk])
        got = dashboard.issue_figures(root, period, ids, today=today)
        assert got == issue_figures_counted(root, period, ids, today=today)
        assert got["total"] > 0


def test_an_issue_registered_after_the_day_read_sends_the_panel_to_the_count(iw):
    """The period ends on the day read: an issue of the campaign registered after it is not the
    period's, so the rows of the whole campaign are not the period's and the panel counts."""
    w = iw
    make_issue(w.ha, registered_on=D(2026, 5, 4))
    late = make_issue(w.hb, registered_on=D(2026, 12, 10))
    ids = list(dashboard.scope_communities(w.admin).values_list("pk", flat=True))
    early = dashboard.Period.of(w.campaign, today=D(2026, 12, 1))
    assert not dashboard._issues_in_campaign(early, ids)
    figures = dashboard.issue_figures(w.admin, early, ids, today=D(2026, 12, 1))
    assert figures == issue_figures_counted(w.admin, early, ids, today=D(2026, 12, 1)) and figures["total"] == 1
    Issue.objects.get(pk=late.pk).delete()
    assert dashboard._issues_in_campaign(early, ids)


def test_a_rebuild_recounts_issue_rollups_gone_wrong(iw):
    w = iw
    for n in range(5):
        make_issue(w.ha, status=Status.CLOSED, registered_on=D(2026, 4, 1) + datetime.timedelta(days=n * 20))
    make_issue(w.hc, status=Status.ROUTED, department=w.dept, registered_on=D(2026, 7, 1))
    right = stored()
    assert right and right == fresh()
    IssueCount.objects.update(n=99, close_days=7)
    IssueCount.objects.filter(community=w.c2).delete()
    tally.rebuild(w.campaign)  # the nightly rebuild: visits.rollups.rebuild → issues.rollups.rebuild
    tally.rebuild(w.summer)
    assert stored() == right


def test_a_deleted_campaign_takes_its_rows_along(iw):
    w = iw
    make_issue(w.ha, registered_on=D(2026, 7, 1))
    assert IssueCount.objects.filter(campaign=w.summer).exists()
    pk = w.summer.pk
    w.summer.delete()
    assert not IssueCount.objects.filter(campaign_id=pk).exists()
    assert IssueCount.objects.filter(campaign=w.campaign).exists()


def test_the_issue_panel_reads_a_fixed_number_of_queries_at_any_size(iw):
    w = iw
    period = dashboard.Period.of(w.campaign, today=TODAYS[1])
    ids = list(dashboard.scope_communities(w.admin).values_list("pk", flat=True))

    def queries():
        with CaptureQueriesContext(connection) as captured:
            dashboard.issue_figures(w.admin, period, ids, today=TODAYS[1])
        return len(captured.captured_queries)

    make_issue(w.ha, registered_on=D(2026, 4, 1))
    queries()  # warm-up: the working-day calendar is loaded once per process
    small = queries()
    rnd = random.Random(3)
    for n in range(40):
        make_issue(rnd.choice(w.households), status=rnd.choice([Status.ROUTED, Status.CLOSED, Status.IN_PROGRESS]),
                   department=w.dept, registered_on=D(2026, 3, 2) + datetime.timedelta(days=n * 5),
                   category=rnd.choice(Category.values))  # fmt: skip
    assert Issue.objects.count() == 41
    assert queries() == small <= 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_steps_and_a_recount_add_up(iw, on_postgres):
    """Steps moving issues between the same rows at once, a registration, and a recount of the
    campaign racing them (its table lock against their upserts): the rows equal the fresh count."""
    from tests.support.threads import race

    w = iw
    for round_ in range(4):
        a = make_issue(w.ha, status=Status.ACCEPTED, registered_on=D(2026, 5, 4) + datetime.timedelta(days=round_))
        b = make_issue(w.hb, status=Status.ACCEPTED, registered_on=D(2026, 5, 4) + datetime.timedelta(days=round_))
        outcomes = race(
            lambda a=a: services.issue_route(issue=a, by=w.admin, version=a.version, department=w.dept),
            lambda b=b: services.issue_explain(issue=b, by=w.admin, version=b.version, explanation="已解释"),
            lambda: services.issue_register(household=w.hc, raised_by=w.admin, text="并发登记", category=Category.LIVING,
                                            registered_on=D(2026, 6, 1), answer_on_the_spot="已答复"),
            lambda: rollups.refresh([w.campaign.pk]),
        )  # fmt: skip
        assert all(error is None for _, error in outcomes), outcomes
        assert stored() == fresh()
