"""亲情卡 on the pages: printed for a chosen cadre, grid or community (``?cadre=``, ``?grid=``,
``?community=``, the names the admin's 打印亲情卡 links with), recorded as given (已发放), and the
households never given one shown as such — ``visits.cards.has_card`` deciding, for 我的包户 and
the cards page alike."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from households.models import Household
from tests.support.world import make_household
from visitplan.models import Assignment, Cadre, Campaign, Tier
from visits import cards
from visits.models import CardIssued, Visit

D = datetime.date
TODAY = D(2026, 11, 20)


@pytest.fixture
def on_today(monkeypatch):
    real = timezone.localdate
    monkeypatch.setattr(timezone, "localdate", lambda value=None, tz=None: TODAY if value is None else real(value, tz))


def on_cards(html):
    """(householder, cadre on the card) of every printed card, in order."""
    return re.findall(r"致 <b>([^<]+)</b> 家庭.*?<dt>包户干部</dt><dd><b>([^<]*)</b>", html, re.S)


def with_card(w):
    return set(
        Household.objects.annotate(c=cards.has_card(w.campaign)).filter(c=True).values_list("head_name", flat=True)
    )


@pytest.mark.django_db
def test_a_household_has_a_card_from_a_visit_or_a_mark_in_its_campaign(vw):
    w = vw
    assert with_card(w) == set()
    Visit.objects.create(campaign=w.campaign, household=w.ha, cadre=w.worker_a.cadre, visited_on=D(2026, 9, 1),
                         card_given=True)  # fmt: skip
    Visit.objects.create(campaign=w.campaign, household=w.hc, cadre=w.handler.cadre, visited_on=D(2026, 9, 1))
    CardIssued.objects.create(campaign=w.campaign, household=w.hb, cadre=w.worker_b.cadre, given_on=D(2026, 9, 2))
    other = Campaign.objects.create(year=2025, name="去年走访", street=w.street)
    CardIssued.objects.create(campaign=other, household=w.hc, cadre=w.handler.cadre, given_on=D(2025, 9, 2))
    assert with_card(w) == {"张甲", "李乙"}  # 王丙: visited without a card here, given one last year


@pytest.mark.django_db
def test_a_cadre_prints_and_records_his_own_cards(client, vw, on_today):
    w = vw
    h2 = make_household(w.grid_a, "105", "赵五", 15, building=w.ha.building)
    Assignment.objects.create(campaign=w.campaign, household=h2, cadre=w.worker_a.cadre, tier=Tier.GRID_WORKER)
    client.force_login(w.worker_a)
    html = client.get(reverse("visits:cards")).content.decode()
    assert on_cards(html) == [("张甲", "grid_a"), ("赵五", "grid_a")]
    assert 'data-total="2" data-missing="2"' in html and "未发亲情卡 <b>2</b> 户" in html
    response = client.post(reverse("visits:cards"), {"given_on": "2026-11-19", "expected": "2"})
    assert response.status_code == 302
    given = CardIssued.objects.order_by("household__room")
    assert [(c.household.head_name, c.cadre_id, c.given_on, c.given_by_id) for c in given] == [
        ("张甲", w.worker_a.cadre.pk, D(2026, 11, 19), w.worker_a.pk),
        ("赵五", w.worker_a.cadre.pk, D(2026, 11, 19), w.worker_a.pk),
    ]
    html = client.get(response["Location"]).content.decode()
    assert "已登记发放亲情卡 2 户（2026-11-19）" in html and 'data-missing="0"' in html
    # Marking the same cards again records nothing twice.
    response = client.post(reverse("visits:cards"), {"given_on": "2026-11-20", "expected": "2"}, follow=True)
    assert "此前都已登记发放" in response.content.decode()
    assert CardIssued.objects.count() == 2 and not CardIssued.objects.filter(given_on=TODAY).exists()


@pytest.mark.django_db
def test_only_the_missing_cards_are_printed_and_recorded(client, vw, on_today):
    w = vw
    h2 = make_household(w.grid_a, "105", "赵五", 15, building=w.ha.building)
    Assignment.objects.create(campaign=w.campaign, household=h2, cadre=w.worker_a.cadre, tier=Tier.GRID_WORKER)
    Visit.objects.create(campaign=w.campaign, household=w.ha, cadre=w.worker_a.cadre, visited_on=D(2026, 9, 1),
                         card_given=True)  # fmt: skip
    client.force_login(w.worker_a)
    html = client.get(reverse("visits:cards"), {"missing": "1"}).content.decode()
    assert on_cards(html) == [("赵五", "grid_a")] and 'data-total="2" data-missing="1"' in html
    client.post(reverse("visits:cards") + "?missing=1", {"given_on": "2026-11-20", "expected": "1"})
    assert list(CardIssued.objects.values_list("household__head_name", flat=True)) == ["赵五"]


@pytest.mark.django_db
def test_a_changed_list_or_a_wrong_date_records_nothing(client, vw, on_today):
    w = vw
    client.force_login(w.worker_a)
    url = reverse("visits:cards")
    page = client.post(url, {"given_on": "2026-11-20", "expected": "5"}, follow=True).content.decode()
    assert "名单已变化：打印时 5 户，现在 1 户" in page
    page = client.post(url, {"given_on": "2026-11-21", "expected": "1"}, follow=True).content.decode()
    assert "发放日期有误" in page
    page = client.post(url, {"given_on": "2026-13-45", "expected": "1"}, follow=True).content.decode()
    assert "发放日期有误" in page
    assert not CardIssued.objects.exists()


@pytest.mark.django_db
def test_the_street_admin_prints_a_grid_or_a_community_with_each_households_own_cadre(client, rw, on_today):
    """The admin's 打印亲情卡 links with ?grid= / ?community=: every household of the node, each card
    naming its own 包户干部 (the grid worker before the secretary and the street staff)."""
    w = rw
    h2 = make_household(w.grid_a, "105", "赵五", 15, building=w.ha.building)  # only the secretary holds it
    h3 = make_household(w.grid_a, "106", "钱六", 16, building=w.ha.building)  # nobody in post holds it
    for h in (w.ha, w.hb, h2):
        Assignment.objects.create(campaign=w.campaign, household=h, cadre=w.secretary.cadre, tier=Tier.SECRETARY)
    Assignment.objects.create(campaign=w.campaign, household=w.ha, cadre=w.staff1.cadre, tier=Tier.STREET_STAFF)
    gone = Cadre.objects.create(name="离岗干部", tier=Tier.GRID_WORKER, scope=w.grid_a, active=False)
    Assignment.objects.create(campaign=w.campaign, household=h3, cadre=gone, tier=Tier.GRID_WORKER)
    client.force_login(w.admin)
    html = client.get(reverse("visits:cards"), {"grid": w.grid_a.pk}).content.decode()
    assert on_cards(html) == [("张甲", "grid_a"), ("赵五", "sec1")]
    assert "湖田社区 第1网格：共 <b>2</b> 户" in html and "另有 1 户没有在岗包户干部" in html
    html = client.get(reverse("visits:cards"), {"community": w.c1.pk}).content.decode()
    assert on_cards(html) == [("张甲", "grid_a"), ("赵五", "sec1"), ("李乙", "grid_b")]
    html = client.get(reverse("visits:cards"), {"cadre": w.secretary.cadre.pk}).content.decode()
    assert {name for name, _ in on_cards(html)} == {"张甲", "李乙", "赵五"}
    assert {cadre for _, cadre in on_cards(html)} == {"sec1"}
    # A cadre and a grid: that cadre's households in that grid.
    html = client.get(reverse("visits:cards"), {"cadre": w.secretary.cadre.pk, "grid": w.grid_b.pk}).content.decode()
    assert on_cards(html) == [("李乙", "sec1")]
    # Recording a community's cards: each with the cadre printed on it.
    client.post(reverse("visits:cards") + f"?community={w.c1.pk}", {"given_on": "2026-11-20", "expected": "3"})
    assert set(CardIssued.objects.values_list("household__head_name", "cadre__name")) == {
        ("张甲", "grid_a"), ("赵五", "sec1"), ("李乙", "grid_b")}  # fmt: skip


@pytest.mark.django_db
def test_the_page_lets_node_wide_users_choose_and_nobody_else(client, rw, on_today):
    w = rw
    client.force_login(w.secretary)
    html = client.get(reverse("visits:cards")).content.decode()
    assert 'name="community"' in html and 'name="grid"' in html and 'name="cadre"' in html
    assert f'<option value="{w.worker_a.cadre.pk}">grid_a（网格员 · 湖田社区 / 第1网格） 1户</option>' in html
    assert f'<option value="{w.c2.pk}">' not in html  # another community: not his to choose
    assert f'value="{w.handler.cadre.pk}"' not in html
    client.force_login(w.worker_a)
    html = client.get(reverse("visits:cards")).content.decode()
    assert 'name="community"' not in html and 'name="cadre"' not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "user,params",
    [
        ("secretary", {"community": "c2"}),  # another community
        ("secretary", {"grid": "grid_c"}),
        ("secretary", {"cadre": "handler"}),  # a cadre outside his node
        ("worker_a", {"grid": "grid_b"}),  # a cadre narrows his own households only
        ("worker_a", {"community": "c2"}),
        ("worker_a", {"cadre": "worker_b"}),
        ("admin", {"grid": "c1"}),  # a community is not a grid
        ("admin", {"community": "c1", "grid": "grid_c"}),  # a grid of another community
        ("admin", {"grid": "²"}),
    ],
)
def test_another_nodes_choice_answers_404_and_records_nothing(client, rw, on_today, user, params):
    w = rw
    client.force_login(getattr(w, user))
    query = {}
    for key, value in params.items():
        obj = getattr(w, value, None)
        query[key] = value if obj is None else (obj.cadre.pk if key == "cadre" else obj.pk)
    assert client.get(reverse("visits:cards"), query).status_code == 404
    url = reverse("visits:cards") + "?" + "&".join(f"{k}={v}" for k, v in query.items())
    assert client.post(url, {"given_on": "2026-11-20"}).status_code == 404
    assert not CardIssued.objects.exists()


@pytest.mark.django_db
def test_my_households_shows_the_households_without_a_card(client, vw, on_today):
    w = vw
    h2 = make_household(w.grid_a, "105", "赵五", 15, building=w.ha.building)
    Assignment.objects.create(campaign=w.campaign, household=h2, cadre=w.worker_a.cadre, tier=Tier.GRID_WORKER)
    CardIssued.objects.create(campaign=w.campaign, household=w.ha, cadre=w.worker_a.cadre, given_on=D(2026, 9, 2))
    client.force_login(w.worker_a)
    html = client.get(reverse("visits:mine")).content.decode()
    assert "未发亲情卡 <b>1</b> 户" in html
    assert "未发亲情卡" not in html.split("<strong>张甲</strong>")[1].split("</li>")[0]
    assert "未发亲情卡" in html.split("<strong>赵五</strong>")[1].split("</li>")[0]
    html = client.get(reverse("visits:mine"), {"show": "nocard"}).content.decode()
    assert set(re.findall(r'class="hh-name"><strong>([^<]+)</strong>', html)) == {"赵五"}


@pytest.mark.django_db
def test_a_street_admin_without_households_gets_the_choice(client, rw, on_today):
    w = rw
    from django.contrib.auth.models import User

    root = User.objects.create_superuser("root_cards", password="pw-test-123")
    for user in (root, w.admin):  # a superuser without a cadre; the street admin, who has no households here
        client.force_login(user)
        response = client.get(reverse("visits:cards"))
        html = response.content.decode()
        assert response.status_code == 200 and "请选择社区、网格或干部" in html and "contact-card" not in html
        response = client.post(reverse("visits:cards"), {"given_on": "2026-11-20"}, follow=True)
        assert "没有可登记的亲情卡" in response.content.decode()
    assert not CardIssued.objects.exists()
