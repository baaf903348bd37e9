"""The cadre's own page (我的包户) and the leaders' list of who is behind tell the same story, cadre by
cadre: the page counts one cadre's visits, the dashboard every cadre's tallies (visits/tally.py),
and both ask visits/targets.py which targets a tier has and when a count falls short."""

import datetime
import random
import re

import pytest
from django.utils import timezone

from households.models import FocusGroup, Household
from households.roles import LEADER
from reports import dashboard
from tests.support.world import make_household, make_user
from visitplan.models import Assignment, Cadre, Tier
from visits import tally, targets
from visits.models import Visit

D = datetime.date
TODAY = D(2026, 11, 20)  # a Friday of the second half-year: "this week" is 11-14 … 11-20


def visit(w, household, user, day, method="in_person", purpose="visit"):
    made = Visit.objects.create(campaign=w.campaign, household=household, cadre=user.cadre, visited_on=day, method=method,
                                purpose=purpose, created_by=user)  # fmt: skip
    tally.record(made)  # what visits.services.visit_record does after writing a visit
    return made


def assign(w, household, user, tier):
    Assignment.objects.create(campaign=w.campaign, household=household, cadre=user.cadre, tier=tier)


@pytest.fixture
def linked(rw):
    """The cadres' households and the campaign's month (3 days, 3 households), no visits yet."""
    w = rw
    w.campaign.leader_days_per_month = w.campaign.leader_households_per_month = 3
    # the whole month's target from the 1st: these tests are about the two countings agreeing;
    # the pace has its own (visits/tests/test_pace.py, tests/test_presets.py)
    w.campaign.rules = {"pace_targets": False}
    w.campaign.save()
    w.campaign._rules_cache = None
    w.leader2 = make_user("leader2", LEADER, scope=w.street, tier=Tier.LEADER, staff=True)
    w.f1 = make_household(w.grid_a, "103", "孙老", 31)
    w.f1.tags.add(FocusGroup.objects.get(name="高龄老人"))
    w.f2 = make_household(w.grid_a, "104", "周婆", 32)
    w.f2.tags.add(FocusGroup.objects.get(name="孤寡老人"))
    w.hc.tags.add(FocusGroup.objects.get(name="卧床病人"))
    for h in (w.f1, w.f2):
        assign(w, h, w.worker_a, Tier.GRID_WORKER)
    for h in (w.ha, w.hb, w.f1, w.f2):  # the allocation gives the secretary every household of his community
        assign(w, h, w.secretary, Tier.SECRETARY)
    assign(w, w.f1, w.lw1, Tier.COMMITTEE)
    return w


@pytest.fixture
def cadres(linked):
    """Every kind of cadre, behind or not:

    - grid worker A: every household visited this half-year, but 孤寡老人 f2 had no community cadre's
      visit this week (a 未遇 and a 回头看 call do not count) — behind on the weekly focus visit only;
    - grid worker B: hb visited in May only — behind on the half-year;
    - the secretary: all four households of his community visited this year, f2 not this week —
      behind on the weekly focus visit, not on 户户到;
    - 两委 member: linked to f1, which grid worker A saw this week but he never did — behind on
      the half-year, not on the weekly visit;
    - the department cadre: hc (卧床病人) called in October — on track: a department is not held to
      the weekly visits of community cadres;
    - two leaders, with the campaign's own month (3 days, 3 households): one behind, one on track;
    - street staff without households: nothing to be behind on."""
    w = linked
    visit(w, w.ha, w.worker_a, D(2026, 9, 28))
    visit(w, w.f1, w.worker_a, D(2026, 11, 18))
    visit(w, w.f2, w.worker_a, D(2026, 10, 15))
    visit(w, w.f2, w.worker_a, D(2026, 11, 19), method="not_home")
    visit(w, w.f2, w.worker_a, D(2026, 11, 17), method="phone", purpose="follow_up")
    visit(w, w.hb, w.worker_b, D(2026, 5, 10))
    for h, day in ((w.ha, D(2026, 4, 2)), (w.hb, D(2026, 6, 1)), (w.f1, D(2026, 8, 3)), (w.f2, D(2026, 10, 20))):
        visit(w, h, w.secretary, day)
    visit(w, w.hc, w.handler, D(2026, 10, 10), method="phone")
    visit(w, w.ha, w.leader, D(2026, 11, 3))
    visit(w, w.hc, w.leader, D(2026, 11, 18))
    for h, day in ((w.ha, D(2026, 11, 2)), (w.hb, D(2026, 11, 9)), (w.hc, D(2026, 11, 19))):
        visit(w, h, w.leader2, day)
    visit(w, w.hb, w.leader2, D(2026, 10, 30))  # last month: not this month's
    return w


EXPECTED = {
    "grid_a": {"weekly"},
    "grid_b": {"half_year"},
    "sec1": {"weekly"},
    "lw_c1": {"half_year"},
    "leader": {"month"},
}


def page_reasons(cadre, campaign, today):
    """What the cadre's page marks as not met (visits/templates/visits/mine.html: the targets shown
    as t-warn), from the figures my_households gives it: his visible assigned households."""
    visible = Household.objects.visible_to(cadre.user)
    assigned = visible.filter(pk__in=Assignment.objects.filter(campaign=campaign, cadre=cadre).values("household_id"))
    t = targets.cadre_targets(cadre, campaign, today=today, households=assigned)
    shown = set()
    # the linked target and 户户到 are marked by pace (prorated to the day), as the page does
    if t.half_done is not None and "half_year" in t.reasons:
        shown.add("half_year")
    if t.sweep_done is not None and "sweep" in t.reasons:
        shown.add("sweep")
    if t.weekly_total and t.weekly_behind:
        shown.add("weekly")
    if t.month_days is not None and t.leader_behind:
        shown.add("month")
    return shown


def pages(campaign, today):
    return {c.name: r for c in Cadre.objects.select_related("user") if (r := page_reasons(c, campaign, today))}


def flagged(t):
    """Every cadre the dashboard's targets panel names as behind: its list, and its leaders' and
    secretaries' lines."""
    return {r["cadre__name"] for r in t["behind"]} | {r["name"] for r in t["leaders"] + t["secretaries"] if r["behind"]}


def listed(t):
    """The dashboard's behind list: each cadre with the targets he is behind on."""
    return {r["cadre__name"]: set(r["reasons"]) for r in t["behind"]}


@pytest.mark.django_db
def test_the_cadres_page_and_the_leaders_list_agree_on_who_is_behind_and_why(cadres):
    w = cadres
    mine = pages(w.campaign, TODAY)
    assert mine == EXPECTED
    t = dashboard.build(w.leader, w.campaign, today=TODAY).targets
    assert flagged(t) == set(mine)  # the same cadres are behind …
    assert listed(t) == mine  # … on the same targets, all of them in the one list


@pytest.mark.django_db
def test_they_agree_on_a_past_campaign_judged_at_its_end(cadres):
    """In 2027 the 2026 campaign is judged on 31 December: nobody visited that week or that month, so
    every community cadre with a weekly focus household is behind on it, and both leaders on their month."""
    w = cadres
    later = D(2027, 3, 1)
    mine = pages(w.campaign, later)
    assert mine == {"grid_a": {"weekly"}, "grid_b": {"half_year"}, "sec1": {"weekly"}, "lw_c1": {"half_year", "weekly"},
                    "leader": {"month"}, "leader2": {"month"}}  # fmt: skip
    t = dashboard.build(w.leader, w.campaign, today=later).targets
    assert (flagged(t), listed(t)) == (set(mine), mine)


@pytest.mark.django_db
def test_the_rendered_pages_agree(client, cadres, monkeypatch):
    """The same, read off the pages a person sees: each cadre's 我的包户 and the leaders' 落后干部名单."""
    w = cadres
    real_localdate = timezone.localdate
    monkeypatch.setattr(
        timezone, "localdate", lambda value=None, tz=None: TODAY if value is None else real_localdate(value, tz)
    )
    marks = {
        "每户每年至少走访2次": "half_year",
        "书记户户到": "sweep",
        "每周走访": "weekly",
        "班子成员每月走访": "month",
    }
    on_pages = {}
    for user in (w.worker_a, w.worker_b, w.secretary, w.lw1, w.handler, w.leader, w.leader2):
        client.force_login(user)
        page = client.get("/visits/").content.decode()
        warned = re.findall(r'<li class="t-warn">(.*?)</li>', page.split('<ul class="targets">')[1].split("</ul>")[0])
        reasons = {code for text in warned for mark, code in marks.items() if mark in text}
        if reasons:
            on_pages[user.cadre.pk] = reasons
    client.force_login(w.leader)
    listing = client.get("/reports/behind/", {"campaign": w.campaign.pk}).content.decode()
    on_list = {int(pk): set(re.findall(r'data-reason="(\w+)"', row))
               for pk, row in re.findall(r'<tr data-cadre="(\d+)">(.*?)</tr>', listing, re.S)}  # fmt: skip
    names = dict(Cadre.objects.values_list("pk", "name"))
    assert {names[pk]: r for pk, r in on_pages.items()} == EXPECTED
    assert on_list == on_pages
    assert "重点户近7天未访 1/2 户" in listing  # grid worker A's f2 of his f1, f2


@pytest.mark.django_db
def test_they_agree_for_random_visits_on_any_day(linked):
    """Random visits by every cadre, judged as the days go by: the tallies' figures, cadre by cadre,
    equal the page's counts over the visits, and the behind lists are the same."""
    w, rng = linked, random.Random(11)
    households = [w.ha, w.hb, w.hc, w.f1, w.f2]
    people = [w.worker_a, w.worker_b, w.secretary, w.lw1, w.handler, w.leader, w.leader2, w.staff1, w.staff2]
    assign(w, w.hc, w.staff2, Tier.STREET_STAFF)
    first, last = w.campaign.span()
    span = (last - first).days
    today = first
    for step in sorted(rng.sample(range(span + 1), 14)):
        yesterday, today = today, first + datetime.timedelta(days=step)
        for _ in range(8):  # visits of the days since the last look, none dated after today
            day = yesterday + datetime.timedelta(days=rng.randrange((today - yesterday).days + 1))
            visit(
                w,
                rng.choice(households),
                rng.choice(people),
                day,
                method=rng.choice(["in_person", "in_person", "phone", "not_home"]),
            )
        t = dashboard.build(w.leader, w.campaign, today=today).targets
        assert listed(t) == pages(w.campaign, today), today
        linked_cadres = Cadre.objects.filter(tier__in=targets.held(w.campaign)["half_year"])
        on_pages = [targets.cadre_targets(c, w.campaign, today=today) for c in linked_cadres]
        assert (t["linked_total"], t["linked_now"], t["linked_both"]) == (
            sum(p.assigned for p in on_pages),
            sum(p.half_done for p in on_pages),
            sum(p.year_done for p in on_pages),
        )
        rows = {r["cadre_id"]: r for r in t["secretaries"] + t["leaders"] + t["behind"]}
        for cadre_id, r in rows.items():
            cadre = Cadre.objects.get(pk=cadre_id)
            page = targets.cadre_targets(cadre, w.campaign, today=today)
            if "half_year" in r["targets"]:
                assert (r["now"], r["both"], r["assigned"]) == (page.half_done, page.year_done, page.assigned), (
                    today,
                    cadre,
                )
            if "sweep" in r["targets"]:
                assert (r["visited"], r["assigned"]) == (page.sweep_done, page.assigned), (today, cadre)
            if "weekly" in r["targets"]:
                assert (r["weekly_behind"], r["weekly_total"]) == (page.weekly_behind, page.weekly_total), (
                    today,
                    cadre,
                )
            if "month" in r["targets"]:
                assert (r["days"], r["households"]) == (page.month_days, page.month_households), (today, cadre)
