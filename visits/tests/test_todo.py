"""每个人的待办: the page lists what waits for this user, each row opening its step, and the header
counts it; scoped like everything else."""

import datetime
import re

import pytest
from django.urls import reverse

from households.models import FocusGroup
from issues import services
from issues.models import Status
from issues.tests.factories import make_issue, register
from issues.todo import issue_todo_counts
from visitplan.models import Assignment
from visits import todo
from visits.models import FollowUp, FollowUpStatus

D = datetime.date
TODAY = D(2026, 3, 4)


@pytest.fixture
def today(monkeypatch):
    monkeypatch.setattr(services, "_today", lambda: TODAY)
    monkeypatch.setattr(todo.timezone, "localdate", lambda *a, **k: TODAY)
    return TODAY


def page(client, user):
    client.force_login(user)
    response = client.get(reverse("visits:todo"))
    assert response.status_code == 200
    return response.content.decode()


def issue_links(html):
    """{issue id: step anchor} of the issue rows."""
    return {int(pk): step for pk, step in re.findall(r'href="/issues/(\d+)/(?:#act-([a-z_]+))?"', html)}


def header_count(html):
    found = re.search(r'class="bell[^"]*">待办(?:<span class="badge"[^>]*>(\d+)</span>)?</a>', html)
    assert found, "no 待办 link in the header"
    return int(found.group(1) or 0)


@pytest.mark.django_db
def test_each_step_shows_in_the_next_persons_todo_with_its_action(client, world, today):
    w = world
    issue = register(w.ha, w.worker_a, text="楼道灯坏了", registered_on=TODAY)
    assert issue_links(page(client, w.secretary)) == {issue.pk: "accept"}
    assert issue.pk not in issue_links(page(client, w.handler))

    issue = services.issue_return(issue=issue, by=w.secretary, version=issue.version, reason="请写明单元")
    html = page(client, w.worker_a)
    assert issue_links(html)[issue.pk] == "resubmit" and "被退回待补充" in html
    assert issue.pk not in issue_links(page(client, w.secretary))

    issue = services.issue_resubmit(issue=issue, by=w.worker_a, version=issue.version, text="2单元楼道灯坏了")
    issue = services.issue_accept(issue=issue, by=w.secretary, version=issue.version)
    assert issue_links(page(client, w.secretary))[issue.pk] == "route"

    issue = services.issue_route(issue=issue, by=w.secretary, version=issue.version, department=w.dept)
    html = page(client, w.handler)
    assert issue_links(html)[issue.pk] == "post_plan"
    assert "方案时限 2026-03-11" in html and "剩5个工作日" in html  # 5 working days from the 4th

    issue = services.issue_post_plan(issue=issue, by=w.handler, version=issue.version, plan="更换灯具")
    assert issue_links(page(client, w.handler))[issue.pk] == "resolve"
    request = services.issue_request_extension(issue=issue, by=w.handler, days=5, reason="采购")
    assert issue_links(page(client, w.admin))[issue.pk] == "decide_extension"
    issue = services.issue_decide_extension(request=request, by=w.admin, approve=True)
    assert issue.pk not in issue_links(page(client, w.admin))

    issue = services.issue_resolve(issue=issue, by=w.handler, version=issue.version, answer="已更换")
    assert issue.pk not in issue_links(page(client, w.handler))
    assert issue_links(page(client, w.admin))[issue.pk] == "close"

    issue = services.issue_close(issue=issue, by=w.admin, version=issue.version)
    issue = services.issue_reopen(issue=issue, by=w.admin, reason="回头看未解决")
    html = page(client, w.handler)
    assert issue_links(html)[issue.pk] == "resolve" and "重新办理" in html
    assert issue.pk not in issue_links(page(client, w.admin))


@pytest.mark.django_db
def test_the_header_counts_what_the_page_lists(client, world, today):
    w = world
    for n in range(3):
        make_issue(w.ha, raised_by=w.worker_a, registered_on=TODAY, text=f"诉求{n}")
    make_issue(w.hc, raised_by=w.admin, registered_on=TODAY)  # 南纬社区: not the secretary's
    html = page(client, w.secretary)
    assert len(issue_links(html)) == 3
    assert header_count(html) == 3
    assert header_count(page(client, w.admin)) == 4  # the whole street
    client.force_login(w.secretary)
    assert header_count(client.get(reverse("issues:ledger")).content.decode()) == 3


@pytest.mark.django_db
def test_a_leader_has_nothing_to_act_on_in_the_ledger(client, world, today):
    w = world
    make_issue(w.ha, raised_by=w.worker_a, registered_on=TODAY)
    make_issue(w.ha, raised_by=w.worker_a, registered_on=TODAY, status=Status.RESOLVED, department=w.dept)
    assert issue_todo_counts(w.leader) == {"escalated": 0}
    assert "暂无待办" in page(client, w.leader)


@pytest.mark.django_db
def test_followups_due_and_households_behind_are_the_cadres_todo(client, world, today):
    w = world
    Assignment.objects.create(campaign=w.campaign, household=w.ha, cadre=w.worker_a.cadre, source="manual")
    weekly, _ = FocusGroup.objects.get_or_create(name="高龄老人")  # a weekly group of the default rulebook
    w.ha.tags.add(weekly)
    issue = make_issue(w.ha, raised_by=w.worker_a, registered_on=TODAY, status=Status.RESOLVED, department=w.dept)
    FollowUp.objects.create(
        campaign=w.campaign, household=w.ha, issue=issue, cadre=w.worker_a.cadre, due_on=TODAY, listed_on=TODAY,
        status=FollowUpStatus.DUE,
    )  # fmt: skip
    html = page(client, w.worker_a)
    assert reverse("visits:followup", args=[w.ha.pk]) in html
    assert reverse("visits:visit", args=[w.ha.pk]) in html  # never visited: behind
    # the weekly visit is due now; the half-year visit is not yet behind its pace on 3月4日
    assert "1 户未达走访要求：重点户每周走访（" in html and "每户每年至少走访2次" not in html
    assert header_count(html) == 2  # one follow-up, one household
    # Another grid's worker has neither.
    html = page(client, w.worker_b)
    assert reverse("visits:followup", args=[w.ha.pk]) not in html and header_count(html) == 0
