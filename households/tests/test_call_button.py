"""拨打: the cadre a household is assigned to (and the street admin / community secretary of its
node) calls it from the household page or an issue page. The number comes from a POST that writes
one access-log row (households.masking.reveal_phone, through log_reveal like 电话调查's), then the
phone's dialler opens ``tel:<number>``. Leaders and department handlers get no button and a 403,
unless the household is assigned to them; another node's household is a 404, as a missing one.
"""

import pytest
from django.db import connection
from django.urls import reverse

from households.masking import may_call
from households.models import AccessKind, AccessLog
from issues.models import Status
from issues.tests.factories import make_issue
from tests.support.browser import log_in, screenshot
from tests.support.world import make_household
from visitplan.models import Assignment, Tier

JSON = {"HTTP_ACCEPT": "application/json"}


def call(client, household, **headers):
    return client.post(reverse("households:call", args=[household.pk]), **headers)


def reveals(household):
    return list(AccessLog.objects.filter(household=household, kind=AccessKind.REVEAL))


# ---------------------------------------------------------------------------------------------- who may call


@pytest.mark.django_db
def test_the_assigned_cadre_the_secretary_and_the_street_admin_may_call_others_not(vw):
    w = vw
    neighbour = make_household(w.grid_a, "102", "赵丁", 4)  # in grid_a, assigned to nobody
    assert may_call(w.worker_a, w.ha)  # his household (包户)
    assert may_call(w.secretary, w.ha) and may_call(w.admin, w.ha)  # the secretary / admin of its node
    assert may_call(w.handler, w.hc)  # a department cadre's own household (包户)
    assert not may_call(w.worker_a, neighbour)  # in his grid, but not his household
    assert not may_call(w.leader, w.ha)  # a leader as such
    assert not may_call(w.handler, w.ha)  # a department handler as such
    assert not may_call(w.secretary, w.hc)  # another community
    # A leader who takes the household himself (街道班子成员 包户) calls it.
    Assignment.objects.create(campaign=w.campaign, household=w.ha, cadre=w.leader.cadre, tier=Tier.LEADER)
    w.leader.__dict__.pop("_scope", None)
    assert may_call(w.leader, w.ha)


@pytest.mark.django_db
def test_a_call_answers_the_number_and_writes_one_access_log_row(client, vw):
    w = vw
    client.force_login(w.worker_a)
    answer = call(client, w.ha, **JSON)
    assert answer.status_code == 200
    assert answer.json() == {"household": w.ha.pk, "phone": w.ha.phone, "tel": f"tel:{w.ha.phone}"}
    assert "no-cache" in answer["Cache-Control"] or "max-age=0" in answer["Cache-Control"]
    (row,) = reveals(w.ha)
    assert row.user == w.worker_a and row.residents == 1
    assert row.what.startswith("拨打电话：湖田社区 第1网格") and "张甲户" in row.what
    # Without JavaScript: a page with the number as a tel: link (and another row: it was shown again).
    page = call(client, w.ha).content.decode()
    assert f'href="tel:{w.ha.phone}"' in page and "已记入访问日志" in page
    assert len(reveals(w.ha)) == 2
    # GET reveals nothing.
    assert client.get(reverse("households:call", args=[w.ha.pk])).status_code == 405


@pytest.mark.django_db
def test_a_number_with_dashes_is_dialled_as_digits(client, vw):
    w = vw
    w.ha.phone = "0532-8888 1234"
    w.ha.save()
    client.force_login(w.worker_a)
    assert call(client, w.ha, **JSON).json()["tel"] == "tel:053288881234"


@pytest.mark.django_db
def test_a_user_who_may_not_call_gets_403_or_404_and_nothing_is_logged(client, vw):
    w = vw
    client.force_login(w.leader)
    refused = call(client, w.ha, **JSON)
    assert refused.status_code == 403 and w.ha.phone not in refused.content.decode()
    client.force_login(w.worker_a)
    assert call(client, w.hb, **JSON).status_code == 404  # another grid's: as a missing one
    assert call(client, w.ha.__class__(pk=987654321), **JSON).status_code == 404
    client.force_login(w.handler)
    assert call(client, w.ha, **JSON).status_code == 404  # not his to see at all
    assert not AccessLog.objects.filter(kind=AccessKind.REVEAL).exists()


@pytest.mark.django_db
def test_a_household_without_a_phone_says_so_and_logs_nothing(client, vw):
    w = vw
    w.ha.phone = ""
    w.ha.save()
    client.force_login(w.worker_a)
    answer = call(client, w.ha, **JSON)
    assert answer.status_code == 404 and answer.json() == {"error": "该户没有登记联系电话"}
    assert "没有登记联系电话" in call(client, w.ha).content.decode()
    assert not reveals(w.ha)
    # …and its pages offer no button.
    assert reverse("households:call", args=[w.ha.pk]) not in client.get(f"/visits/h/{w.ha.pk}/").content.decode()


@pytest.mark.django_db
def test_the_button_is_on_the_household_and_issue_pages_only_for_those_who_may_call(client, vw):
    w = vw
    url = reverse("households:call", args=[w.ha.pk])
    issue = make_issue(w.ha, status=Status.ROUTED, raised_by=w.worker_a, department=w.dept, assignee=w.handler)
    for user, shown in ((w.worker_a, True), (w.secretary, True), (w.admin, True), (w.leader, False)):
        client.force_login(user)
        household_page = client.get(f"/visits/h/{w.ha.pk}/").content.decode()
        issue_page = client.get(f"/issues/{issue.pk}/").content.decode()
        assert (url in household_page, url in issue_page) == (shown, shown), user
        assert w.ha.phone not in household_page + issue_page  # the number itself only after the POST
    client.force_login(w.handler)  # sees the issue routed to him, may not call the household
    page = client.get(f"/issues/{issue.pk}/")
    assert page.status_code == 200 and url not in page.content.decode()


# ---------------------------------------------------------------------------------------------- on a phone


@pytest.fixture
def phone_page(chromium):
    """A 390-px phone (zh-CN) in a fresh browser context."""
    context = chromium.new_context(viewport={"width": 390, "height": 780}, locale="zh-CN")
    # Note each tel: link the page opens, instead of handing it to a dialler the test has not got.
    context.add_init_script(
        """window.__dialled = [];
        document.addEventListener('click', (e) => {
            const a = e.target.closest && e.target.closest('a[href^="tel:"]');
            if (a) { window.__dialled.push(a.getAttribute('href')); e.preventDefault(); }
        }, true);"""
    )
    yield context.new_page()
    context.close()


def _shot(page, name):
    screenshot(page, name, full_page=False)


def _rows(household):
    try:
        return reveals(household)
    finally:
        connection.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_grid_worker_calls_his_household_from_its_page_and_from_an_issue(live_server, vw, phone_page):
    page = phone_page
    w = vw
    issue = make_issue(w.ha, status=Status.REGISTERED, raised_by=w.worker_a)
    connection.close()
    log_in(page, live_server, "grid_a")
    page.goto(f"{live_server.url}/visits/h/{w.ha.pk}/")
    assert w.ha.phone not in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(page, "phone_call_button")
    page.click("[data-call-button]")
    link = page.wait_for_selector("a[data-call-link]")
    assert link.get_attribute("href") == f"tel:{w.ha.phone}" and w.ha.phone in link.inner_text()
    assert page.evaluate("window.__dialled") == [f"tel:{w.ha.phone}"]  # the dialler was opened
    assert "已记入访问日志" in page.inner_text(".call-form")
    _shot(page, "phone_call_revealed")
    assert [r.user_id for r in _rows(w.ha)] == [w.worker_a.pk]

    page.goto(f"{live_server.url}/issues/{issue.pk}/")
    page.click("[data-call-button]")
    page.wait_for_selector("a[data-call-link]")
    assert page.evaluate("window.__dialled") == [f"tel:{w.ha.phone}"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(page, "phone_call_issue")
    assert len(_rows(w.ha)) == 2
