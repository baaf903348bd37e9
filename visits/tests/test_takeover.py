"""A cadre leaves mid-campaign and another takes his households over (转给,
``visitplan.allocation.reassign_cadre``): the visits the households had stay with them, on the
receiver's page (我的包户) and on the leaders' dashboard alike, and the receiver gets
the rulebook's ``takeover_grace_days`` for the households nobody has visited yet (visits/targets.py)."""

import datetime
import random
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from households.roles import CADRE
from reports import dashboard
from tests.support.world import make_household, make_user
from visitplan.allocation import reassign_cadre
from visitplan.models import Assignment, Cadre, Tier
from visits import tally, targets
from visits.models import Visit

D = datetime.date
TODAY = D(2026, 11, 20)  # second half-year; the takeover day in these tests


def visit(w, household, user, day, method="in_person"):
    made = Visit.objects.create(campaign=w.campaign, household=household, cadre=user.cadre, visited_on=day,
                                method=method, created_by=user)  # fmt: skip
    tally.record(made)  # what visits.services.visit_record does
    return made


def assign(w, household, user, tier=Tier.GRID_WORKER):
    return Assignment.objects.create(campaign=w.campaign, household=household, cadre=user.cadre, tier=tier)


def page(w, user, today):
    return targets.cadre_targets(user.cadre, w.campaign, today=today)


def board_row(w, user, today):
    """The receiver's line as the leaders' dashboard computes it (from the tallies)."""
    t = dashboard.build(w.leader, w.campaign, today=today).targets
    rows = {r["cadre_id"]: r for r in t["behind"]}
    return t, rows.get(user.cadre.pk)


@pytest.fixture
def handover(rw):
    """Grid worker A (leaving) holds ha and a1…a3; grid worker B holds hb, visited this half-year.

    A's visits: ha two days before the takeover, a1 in September, a2 in May only (first half);
    a3 never — but the secretary saw it on 11-10, before the takeover."""
    w = rw
    w.a1 = make_household(w.grid_a, "111", "甲一", 41)
    w.a2 = make_household(w.grid_a, "112", "甲二", 42)
    w.a3 = make_household(w.grid_a, "113", "甲三", 43)
    for h in (w.a1, w.a2, w.a3):
        assign(w, h, w.worker_a)
    visit(w, w.hb, w.worker_b, D(2026, 11, 1))
    visit(w, w.ha, w.worker_a, D(2026, 11, 18))
    visit(w, w.a1, w.worker_a, D(2026, 9, 1))
    visit(w, w.a2, w.worker_a, D(2026, 5, 10))
    visit(w, w.a3, w.secretary, D(2026, 11, 10))
    return w


def take_over(w, on=TODAY):
    return reassign_cadre(from_cadre=w.worker_a.cadre, to_cadre=w.worker_b.cadre, campaign=w.campaign, on=on)


@pytest.mark.django_db
def test_the_handover_records_the_day_and_the_cadre_it_came_from(handover):
    w = handover
    assign(w, w.hb, w.worker_a)  # B holds hb already: A's row of it is dropped, not taken over
    report = take_over(w)
    assert (report.moved, report.dropped) == (4, 1)
    rows = Assignment.objects.filter(campaign=w.campaign, cadre=w.worker_b.cadre)
    taken = {a.household_id: (a.taken_over_on, a.taken_over_from_id) for a in rows}
    for h in (w.ha, w.a1, w.a2, w.a3):
        assert taken[h.pk] == (TODAY, w.worker_a.cadre.pk)
    assert taken[w.hb.pk] == (None, None)  # his own since the allocation


@pytest.mark.django_db
def test_the_receiver_keeps_the_visits_done_before_on_his_page_and_on_the_dashboard(handover):
    w = handover
    before = page(w, w.worker_b, TODAY)
    assert (before.assigned, before.visited, before.half_done, before.reasons) == (1, 1, 1, [])
    covered = dashboard.build(w.leader, w.campaign, today=TODAY).coverage["visited"]
    take_over(w)

    after = page(w, w.worker_b, TODAY)
    # ha, a1, a2 and a3 were visited this campaign before the handover (a3 by the secretary): 5 of 5.
    assert (after.assigned, after.visited, after.taken_over) == (5, 5, 4)
    # This half-year: hb (his), ha and a1 (A's), a3 (the secretary's, before the handover); a2 only in May,
    # taken over today: in its grace days, not due yet.
    assert (after.half_done, after.half_excused, after.half_due, after.year_done) == (4, 1, 4, 0)
    assert after.reasons == [] and after.behind == 0
    t, row = board_row(w, w.worker_b, TODAY)
    assert row is None  # not on the 落后名单
    assert dashboard.build(w.leader, w.campaign, today=TODAY).coverage["visited"] == covered
    counts = targets.tallied_figures(Assignment.objects.filter(campaign=w.campaign), campaign=w.campaign, today=TODAY)
    b = counts[w.worker_b.cadre.pk]
    assert (b["assigned"], b["half_done"], b["year_done"], b["half_excused"], b["taken_over"]) == (5, 4, 0, 1, 4)


@pytest.mark.django_db
def test_after_the_grace_days_an_undone_household_is_due_like_any_other(handover):
    w = handover
    take_over(w)
    last = targets.grace_ends_on(w.campaign, TODAY)
    assert last == D(2026, 12, 19)
    assert page(w, w.worker_b, last).reasons == []
    assert board_row(w, w.worker_b, last)[1] is None
    due = last + datetime.timedelta(days=1)  # 30 days after the handover
    t = page(w, w.worker_b, due)
    assert (t.half_done, t.half_due, t.reasons) == (4, 5, ["half_year"])
    _, row = board_row(w, w.worker_b, due)
    assert row["reasons"] == ["half_year"] and (row["now"], row["half_due"], row["taken_over"]) == (4, 5, 4)


@pytest.mark.django_db
def test_only_his_own_visits_count_after_the_handover(handover):
    w = handover
    take_over(w)
    visit(w, w.a2, w.secretary, D(2026, 11, 21))  # someone else, after the handover
    day = D(2026, 12, 25)  # grace over
    assert page(w, w.worker_b, day).half_done == 4
    assert board_row(w, w.worker_b, day)[1]["now"] == 4
    visit(w, w.a2, w.worker_b, D(2026, 11, 22))  # he goes himself
    t = page(w, w.worker_b, day)
    assert (t.half_done, t.half_due, t.year_done, t.reasons) == (5, 5, 1, [])  # a2: May (A's) and November (his)
    assert board_row(w, w.worker_b, day)[1] is None


@pytest.mark.django_db
def test_a_second_handover_keeps_the_visits_of_every_earlier_holder(handover):
    w = handover
    take_over(w, on=D(2026, 11, 19))
    worker_c = make_user("grid_a2", CADRE, scope=w.grid_a, tier=Tier.GRID_WORKER)
    reassign_cadre(from_cadre=w.worker_b.cadre, to_cadre=worker_c.cadre, campaign=w.campaign, on=TODAY)
    t = page(w, worker_c, TODAY)
    assert (t.assigned, t.visited, t.half_done, t.taken_over, t.reasons) == (5, 5, 4, 5, [])
    row = Assignment.objects.get(campaign=w.campaign, household=w.ha)
    assert (row.cadre_id, row.taken_over_from_id, row.taken_over_on) == (worker_c.cadre.pk, w.worker_b.cadre.pk, TODAY)


@pytest.mark.django_db
def test_a_new_secretary_inherits_the_sweep(rw):
    """户户到: the households the old secretary reached count for the new one; the others get the grace days."""
    w = rw
    for h in (w.ha, w.hb):
        assign(w, h, w.secretary, Tier.SECRETARY)
    visit(w, w.ha, w.secretary, D(2026, 4, 2))
    new = make_user("sec_new", CADRE, scope=w.c1, tier=Tier.SECRETARY)
    reassign_cadre(from_cadre=w.secretary.cadre, to_cadre=new.cadre, campaign=w.campaign, on=TODAY)
    t = page(w, new, TODAY)
    assert (t.sweep_done, t.sweep_excused, t.sweep_due, t.reasons) == (1, 1, 1, [])
    t = page(w, new, D(2026, 12, 31))
    assert (t.sweep_done, t.sweep_due, t.reasons) == (1, 2, ["sweep"])
    counts = targets.tallied_figures(Assignment.objects.filter(campaign=w.campaign), campaign=w.campaign,
                                     today=D(2026, 12, 31))  # fmt: skip
    assert (counts[new.cadre.pk]["sweep_done"], counts[new.cadre.pk]["sweep_excused"]) == (1, 0)


# ------------------------------------------------------------------------------------------ the page


@pytest.fixture
def on_today(monkeypatch):
    real = timezone.localdate
    monkeypatch.setattr(timezone, "localdate", lambda value=None, tz=None: TODAY if value is None else real(value, tz))


def names(client, **params):
    html = client.get(reverse("visits:mine"), params).content.decode()
    return set(re.findall(r'class="hh-name"><strong>([^<]+)</strong>', html))


def row_of(html, name):
    return html.split(f"<strong>{name}</strong>")[1].split("</li>")[0]


@pytest.mark.django_db
def test_the_receivers_page_shows_inherited_households_as_such(client, handover, on_today):
    w = handover
    take_over(w)
    client.force_login(w.worker_b)
    html = client.get(reverse("visits:mine")).content.decode()
    assert '已走访 <strong class="big-num">5</strong> / 5 户' in html
    assert "其中接手" in html and "4 户" in html
    assert "下半年已访 <b>4</b>/4（另有新接手 1 户在宽限期内）" in html
    assert '<li class="t-ok">每户每年至少走访2次' in html  # not behind
    ha = row_of(html, "张甲")
    assert "接手 · 由grid_a转来，11月20日，宽限至12月19日" not in ha  # visited this half-year: no grace needed
    assert "接手 · 由grid_a转来，11月20日" in ha and "我未访" in ha and "本户未访" not in ha
    assert "宽限至12月19日" in row_of(html, "甲二")
    assert "接手" not in row_of(html, "李乙")
    assert names(client, show="takenover") == {"张甲", "甲一", "甲二", "甲三"}
    assert names(client, show="behind") == set()


@pytest.mark.django_db
def test_unvisited_by_anyone_and_unvisited_by_me_are_two_filters(client, handover, on_today):
    w = handover
    a4 = make_household(w.grid_a, "114", "甲四", 44)
    assign(w, a4, w.worker_a)
    take_over(w)
    client.force_login(w.worker_b)
    assert names(client, show="unvisited") == {"甲四"}  # nobody has been there this campaign
    assert names(client, show="notmine") == {"张甲", "甲一", "甲二", "甲三", "甲四"}
    html = client.get(reverse("visits:mine")).content.decode()
    assert ">本户未访</span>" in row_of(html, "甲四") and "我未访" not in row_of(html, "甲四")
    assert ">我未访</span>" in row_of(html, "甲三") and "本户未访" not in row_of(html, "甲三")
    assert "本户未访" not in row_of(html, "李乙") and "我未访" not in row_of(html, "李乙")
    assert ">本户未访</a>" in html and ">我未访</a>" in html  # both filters offered, each by its name


@pytest.mark.django_db
def test_the_leaders_list_shows_the_taken_over_households(client, handover):
    w = handover
    take_over(w)
    day = D(2026, 12, 21)
    t, row = board_row(w, w.worker_b, day)
    assert row["reasons"] == ["half_year"]
    client.force_login(w.leader)
    real = timezone.localdate
    from unittest import mock

    with mock.patch.object(
        timezone, "localdate", lambda value=None, tz=None: day if value is None else real(value, tz)
    ):
        html = client.get("/reports/behind/", {"campaign": w.campaign.pk}).content.decode()
    line = re.search(rf'<tr data-cadre="{w.worker_b.cadre.pk}">(.*?)</tr>', html, re.S).group(1)
    assert "下半年已访 4/5 户" in line and "接手 4 户" in line


# ------------------------------------------------------------------------------------------ page = dashboard


@pytest.mark.django_db
def test_page_and_dashboard_agree_with_random_visits_and_handovers(rw):
    """Random visits by every cadre and random handovers between linked cadres (and secretaries),
    judged as the days go by: the tallied figures, cadre by cadre, equal the page's counts over the
    visits — taken over, in grace or not — and the behind lists are the same."""
    w, rng = rw, random.Random(13)
    extra = [make_household(w.grid_a, f"2{i:02d}", f"随{i}", 60 + i) for i in range(6)]
    households = [w.ha, w.hb, *extra]
    w.worker_c = make_user("grid_a3", CADRE, scope=w.grid_a, tier=Tier.GRID_WORKER)
    w.sec2 = make_user("sec_c1b", CADRE, scope=w.c1, tier=Tier.SECRETARY)
    workers = [w.worker_a, w.worker_b, w.worker_c, w.lw1]
    for i, h in enumerate(extra):
        holder = workers[i % len(workers)]
        assign(w, h, holder, holder.cadre.tier)
        assign(w, h, w.secretary, Tier.SECRETARY)
    people = [w.worker_a, w.worker_b, w.worker_c, w.lw1, w.secretary, w.sec2, w.staff1, w.leader]
    first, last = w.campaign.span()
    span = (last - first).days
    today = first
    for step in sorted(rng.sample(range(span + 1), 16)):
        yesterday, today = today, first + datetime.timedelta(days=step)
        for _ in range(6):
            day = yesterday + datetime.timedelta(days=rng.randrange((today - yesterday).days + 1))
            visit(
                w,
                rng.choice(households),
                rng.choice(people),
                day,
                method=rng.choice(["in_person", "phone", "not_home"]),
            )
        if rng.random() < 0.5:
            giver, receiver = rng.sample(workers, 2)
            reassign_cadre(from_cadre=giver.cadre, to_cadre=receiver.cadre, campaign=w.campaign, on=today)
        if rng.random() < 0.3:
            giver, receiver = rng.sample([w.secretary, w.sec2], 2)
            reassign_cadre(from_cadre=giver.cadre, to_cadre=receiver.cadre, campaign=w.campaign, on=today)
        for judged in (today, today + datetime.timedelta(days=rng.randrange(45))):
            counts = targets.tallied_figures(Assignment.objects.filter(campaign=w.campaign), campaign=w.campaign,
                                             today=judged)  # fmt: skip
            for cadre in Cadre.objects.filter(
                tier__in=targets.tiers_with(w.campaign, targets.HALF_YEAR, targets.SWEEP)
            ):
                p = targets.cadre_targets(cadre, w.campaign, today=judged)
                c = counts.get(cadre.pk, {"assigned": 0, "half_done": 0, "year_done": 0, "sweep_done": 0,
                                          "taken_over": 0, "half_excused": 0, "sweep_excused": 0})  # fmt: skip
                mine = targets.targets_of(cadre.tier, w.campaign)
                got = (c["assigned"], c["taken_over"])
                assert got == (p.assigned, p.taken_over), (judged, cadre)
                if targets.HALF_YEAR in mine:
                    got = (c["half_done"], c["year_done"], c["half_excused"])
                    assert got == (p.half_done, p.year_done, p.half_excused), (judged, cadre)
                if targets.SWEEP in mine:
                    assert (c["sweep_done"], c["sweep_excused"]) == (p.sweep_done, p.sweep_excused), (judged, cadre)
            t = dashboard.build(w.leader, w.campaign, today=judged).targets
            listed = {r["cadre_id"]: r["reasons"] for r in t["behind"]}
            on_pages = {
                c.pk: r
                for c in Cadre.objects.filter(active=True)
                if (r := targets.cadre_targets(c, w.campaign, today=judged).reasons)
            }
            assert listed == on_pages, judged
