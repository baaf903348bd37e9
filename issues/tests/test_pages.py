"""The issue pages: ledger, review queue, my issues, one issue with its action forms, register, merge.

Each page for each role: what it lists (scoping), what it refuses (404 for another department's issue,
on the page and on its action POSTs), the filters, the version check on every form (stale and double
submits change nothing and say so), and a constant number of queries on the ledger.
"""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.versioning import STALE_EDIT_MESSAGE
from households.roles import DEPARTMENT_HANDLER
from issues import deadlines, views
from issues.models import Category, EventKind, ExtensionRequest, Issue, IssueEvent, Level, Severity, Status
from issues.tests.factories import advance, make_issue
from tests.support.world import make_household, make_user
from visitplan.models import Department, Tier

STALE = STALE_EDIT_MESSAGE


def days_ago(n):
    return timezone.localdate() - datetime.timedelta(days=n)


@pytest.fixture
def w(world):
    """The shared world, a second department with its handler, and a handful of issues.

    - routed: 张甲 (湖田社区), routed to 区民政局 and its handler, registered long ago → overdue;
    - fresh: 李乙 (湖田社区), 待审核, registered today;
    - other: 王丙 (南纬社区), routed to 区住建局 (not the first handler's department);
    - ticket: 张甲 again, 待审核, with a 12345 ticket, 城市建设.
    """
    world.dept2 = Department.objects.create(name="区住建局")
    world.handler2 = make_user(
        "dept2", DEPARTMENT_HANDLER, scope=world.street, tier=Tier.DEPARTMENT, department=world.dept2
    )
    world.routed = make_issue(
        world.ha,
        raised_by=world.worker_a,
        text="楼道灯不亮，晚上出行不便",
        status=Status.ROUTED,
        registered_on=days_ago(60),
        department=world.dept,
        assignee=world.handler,
    )
    world.fresh = make_issue(
        world.hb,
        raised_by=world.worker_b,
        text="小区门口积水严重",
        category=Category.MUNICIPAL,
        registered_on=days_ago(0),
    )
    world.other = make_issue(
        world.hc,
        text="南纬社区老旧小区加装电梯",
        category=Category.HOUSING,
        status=Status.ROUTED,
        registered_on=days_ago(3),
        department=world.dept2,
        assignee=world.handler2,
    )
    world.ticket = make_issue(
        world.ha,
        raised_by=world.worker_a,
        text="路灯损坏，夜间照明不足",
        category=Category.URBAN,
        registered_on=days_ago(1),
        hotline_ticket="2026112300017",
    )
    return world


def login(client, user):
    client.force_login(user)
    return client


def ids_on(response):
    """Issue numbers listed on a page (#12 …)."""
    return {int(n) for n in re.findall(r'class="ii-no">#(\d+)<', response.content.decode())}


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


# ------------------------------------------------------------------------------------------------ anonymous


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name,args",
    [("issues:ledger", []), ("issues:review", []), ("issues:mine", []), ("issues:new", []), ("issues:export", [])],
)
def test_it_sends_anonymous_visitors_to_the_login_page(client, w, name, args):
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_it_sends_anonymous_visitors_to_login_from_an_issue_and_its_actions(client, w):
    for url in (reverse("issues:detail", args=[w.routed.pk]), reverse("issues:merge", args=[w.fresh.pk])):
        assert client.get(url)["Location"].startswith(reverse("login"))
    url = reverse("issues:act", args=[w.routed.pk, "post_plan"])
    response = client.post(url, {"version": w.routed.version, "plan": "x"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert Issue.objects.get(pk=w.routed.pk).status == Status.ROUTED


# ------------------------------------------------------------------------------------------------ ledger


@pytest.mark.django_db
def test_it_lists_the_whole_street_for_the_street_admin(client, w):
    response = login(client, w.admin).get(reverse("issues:ledger"))
    assert response.status_code == 200
    assert ids_on(response) == {w.routed.pk, w.fresh.pk, w.other.pk, w.ticket.pk}
    body = response.content.decode()
    assert "问题整改台账" in body and "张甲" in body and "区民政局" in body
    # No resident identifiers on the ledger.
    assert w.ha.id_number not in body and w.ha.phone not in body


@pytest.mark.django_db
@pytest.mark.parametrize(
    "who,expected",
    [
        ("leader", {"routed", "fresh", "other", "ticket"}),
        ("secretary", {"routed", "fresh", "ticket"}),  # 湖田社区 only
        ("worker_a", {"routed", "ticket"}),  # grid a only
        ("worker_b", {"fresh"}),
        ("handler", {"routed"}),  # routed to 区民政局
        ("handler2", {"other"}),  # routed to 区住建局
    ],
)
def test_it_scopes_the_ledger_to_each_role(client, w, who, expected):
    response = login(client, getattr(w, who)).get(reverse("issues:ledger"))
    assert response.status_code == 200
    assert ids_on(response) == {getattr(w, name).pk for name in expected}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params,expected",
    [
        ({"status": "registered"}, {"fresh", "ticket"}),
        ({"status": "open"}, {"routed", "fresh", "other", "ticket"}),
        ({"category": Category.URBAN}, {"ticket"}),
        ({"department": "dept2"}, {"other"}),
        ({"community": "c2"}, {"other"}),
        ({"status": "routed", "community": "c1"}, {"routed"}),
        ({"due": "overdue"}, {"routed"}),
        ({"q": "积水"}, {"fresh"}),
        ({"q": "2026112300017"}, {"ticket"}),
        ({"q": "王丙"}, {"other"}),
        ({"q": "#ID:other"}, {"other"}),
        ({"status": "closed"}, set()),
        ({"status": "bogus", "department": "x"}, {"routed", "fresh", "other", "ticket"}),  # ignored, no error
    ],
)
def test_it_filters_the_ledger(client, w, params, expected):
    resolved = {}
    for key, value in params.items():
        if key == "department" and value in ("dept2",):
            value = getattr(w, value).pk
        elif key == "community":
            value = getattr(w, value).pk
        elif key == "q" and value.startswith("#ID:"):
            value = f"#{getattr(w, value[4:]).pk}"
        resolved[key] = value
    response = login(client, w.admin).get(reverse("issues:ledger"), resolved)
    assert response.status_code == 200
    assert ids_on(response) == {getattr(w, name).pk for name in expected}


@pytest.mark.django_db
def test_it_counts_what_it_lists_even_next_to_a_bad_filter_value(client, w):
    response = login(client, w.admin).get(reverse("issues:ledger"), {"status": "bogus", "category": Category.URBAN})
    assert ids_on(response) == {w.ticket.pk}
    assert response.context["page"].paginator.count == 1


@pytest.mark.django_db
def test_it_filters_what_is_due_this_week(client, w):
    today = timezone.localdate()
    sunday = today + datetime.timedelta(days=6 - today.weekday())
    due = make_issue(w.hb, text="本周到期的诉求", status=Status.ROUTED, department=w.dept, registered_on=days_ago(10))
    Issue.objects.filter(pk=due.pk).update(due_on=sunday, plan_posted_on=days_ago(5))
    later = make_issue(w.hb, text="下周才到期", status=Status.PLANNED, department=w.dept, registered_on=days_ago(0))
    Issue.objects.filter(pk=later.pk).update(due_on=sunday + datetime.timedelta(days=8))
    response = login(client, w.admin).get(reverse("issues:ledger"), {"due": "week"})
    listed = ids_on(response)
    assert due.pk in listed and later.pk not in listed and w.routed.pk not in listed


@pytest.mark.django_db
def test_it_marks_overdue_due_soon_and_provisional_deadlines(client, w):
    today = timezone.localdate()
    # Due tomorrow (or the next working day): 即将到期.
    soon = make_issue(w.hb, text="即将到期的诉求", status=Status.PLANNED, department=w.dept, registered_on=days_ago(2))
    next_workday = deadlines.workdays.add_working_days(today, 1)
    Issue.objects.filter(pk=soon.pk).update(due_on=next_workday.date, plan_posted_on=today)
    # A deadline flagged 暂定 by the calendar (e.g. reaching into a year without holiday data).
    Issue.objects.filter(pk=w.other.pk).update(due_provisional=True)
    body = login(client, w.admin).get(reverse("issues:ledger")).content.decode()
    rows = {
        int(m.group(1)): m.group(0) for m in re.finditer(r'<li class="issue-item[^"]*">.*?#(\d+)<.*?</li>', body, re.S)
    }
    assert "is-overdue" in rows[w.routed.pk] and "逾期" in rows[w.routed.pk] and "超期" in rows[w.routed.pk]
    assert "is-soon" in rows[soon.pk] and "即将到期" in rows[soon.pk] and "剩1个工作日" in rows[soon.pk]
    assert "暂定" in rows[w.other.pk]
    assert "暂定" not in rows[soon.pk]


@pytest.mark.django_db
def test_it_shows_the_days_left_from_the_working_day_calendar(client, w):
    today = timezone.localdate()
    response = login(client, w.admin).get(reverse("issues:ledger"))
    issue = next(i for i in response.context["page"].object_list if i.pk == w.other.pk)
    assert issue.days_left == deadlines.working_days_left(Issue.objects.get(pk=w.other.pk), on=today)


@pytest.mark.django_db
def test_it_counts_the_ledger_with_the_same_number_of_queries_whatever_the_page_size(client, w, monkeypatch):
    for n in range(40):
        make_issue(
            w.ha if n % 2 else w.hc,
            text=f"批量诉求{n}",
            status=[Status.REGISTERED, Status.ROUTED, Status.PLANNED, Status.CLOSED][n % 4],
            department=w.dept if n % 3 else w.dept2,
            assignee=w.handler if n % 3 else None,
            registered_on=days_ago(n),
            plan_due_provisional=bool(n % 5 == 0),
        )
    login(client, w.admin)
    url = reverse("issues:ledger")
    client.get(url)  # warm-up: sessions, the calendar snapshot
    counts = {}
    for size in (5, 40):
        monkeypatch.setattr(views, "PAGE_SIZE", size)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert len(response.context["page"].object_list) == size
        counts[size] = [q["sql"] for q in ctx.captured_queries]
    assert len(counts[5]) == len(counts[40]), counts
    assert len(counts[40]) <= 15, "\n".join(counts[40])


# ------------------------------------------------------------------------------------------------ review queue


@pytest.mark.django_db
def test_it_lists_the_review_queue_oldest_first_with_accept_return_and_merge(client, w):
    response = login(client, w.admin).get(reverse("issues:review"))
    assert response.status_code == 200
    listed = [i.pk for i in response.context["page"].object_list]
    assert listed == [w.ticket.pk, w.fresh.pk]  # registered yesterday, then today
    body = response.content.decode()
    assert reverse("issues:act", args=[w.ticket.pk, "accept"]) in body
    assert reverse("issues:act", args=[w.ticket.pk, "return"]) in body
    assert reverse("issues:merge", args=[w.ticket.pk]) in body


@pytest.mark.django_db
def test_it_accepts_and_returns_from_the_review_queue_and_comes_back_to_it(client, w):
    login(client, w.admin)
    queue = reverse("issues:review")
    response = client.post(
        reverse("issues:act", args=[w.ticket.pk, "accept"]), {"version": w.ticket.version, "next": queue}
    )
    assert response.status_code == 302 and response["Location"] == queue
    assert Issue.objects.get(pk=w.ticket.pk).status == Status.ACCEPTED
    response = client.post(
        reverse("issues:act", args=[w.fresh.pk, "return"]),
        {"version": w.fresh.version, "reason": "不属于诉求范围", "next": queue},
        follow=True,
    )
    assert Issue.objects.get(pk=w.fresh.pk).status == Status.RETURNED
    assert "已退回" in messages_of(response)
    assert ids_on(response) == set()


@pytest.mark.django_db
def test_it_does_not_follow_a_next_link_to_another_site(client, w):
    response = login(client, w.admin).post(
        reverse("issues:act", args=[w.ticket.pk, "accept"]),
        {"version": w.ticket.version, "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("issues:detail", args=[w.ticket.pk])


@pytest.mark.django_db
def test_it_shows_no_review_actions_to_a_leader(client, w):
    response = login(client, w.leader).get(reverse("issues:review"))
    assert response.status_code == 200
    assert ids_on(response) == {w.ticket.pk, w.fresh.pk}
    assert "/act/" not in response.content.decode()


# ------------------------------------------------------------------------------------------------ merge tool


@pytest.mark.django_db
def test_it_offers_likely_duplicates_and_merges_into_the_chosen_one(client, w):
    unrelated = make_issue(w.hb, text="其他类别的诉求", category=Category.EDUCATION, registered_on=days_ago(2))
    login(client, w.admin)
    url = reverse("issues:merge", args=[w.ticket.pk])
    response = client.get(url)
    assert response.status_code == 200
    offered = [c.pk for c in response.context["candidates"]]
    assert offered[0] == w.routed.pk  # same household first
    assert unrelated.pk not in offered and w.ticket.pk not in offered
    assert "楼道灯不亮" in response.content.decode()

    response = client.post(url, {"version": w.ticket.version, "into": w.routed.pk})
    assert response.status_code == 302
    merged = Issue.objects.get(pk=w.ticket.pk)
    assert merged.status == Status.MERGED and merged.merged_into_id == w.routed.pk
    # Submitted again (double click): nothing more happens, a friendly message.
    response = client.post(url, {"version": w.ticket.version, "into": w.routed.pk}, follow=True)
    assert response.status_code == 200
    assert IssueEvent.objects.filter(issue=w.ticket, kind=EventKind.MERGED).count() == 1


@pytest.mark.django_db
def test_it_refuses_to_merge_into_an_issue_not_offered(client, w):
    login(client, w.admin)
    response = client.post(
        reverse("issues:merge", args=[w.ticket.pk]), {"version": w.ticket.version, "into": w.other.pk}
    )
    assert response.status_code == 200 and response.context["form"].errors
    assert Issue.objects.get(pk=w.ticket.pk).status == Status.REGISTERED


@pytest.mark.django_db
def test_it_hides_the_merge_tool_from_someone_outside_the_scope(client, w):
    assert login(client, w.handler).get(reverse("issues:merge", args=[w.fresh.pk])).status_code == 404


# ------------------------------------------------------------------------------------------------ my issues


@pytest.mark.django_db
def test_it_lists_my_departments_issues_overdue_first_with_my_actions(client, w):
    later = make_issue(w.hb, text="方案已报的诉求", status=Status.PLANNED, department=w.dept, registered_on=days_ago(1))
    closed = make_issue(w.hb, text="已销号的诉求", status=Status.CLOSED, department=w.dept, registered_on=days_ago(30))
    response = login(client, w.handler).get(reverse("issues:mine"))
    assert response.status_code == 200
    rows = list(response.context["page"].object_list)
    assert [i.pk for i in rows] == [w.routed.pk, later.pk]  # overdue first; closed ones not in 在办
    assert dict(rows[0].actions).get("post_plan") == "上报方案"
    assert "add_progress" in dict(rows[1].actions)
    assert reverse("issues:detail", args=[w.routed.pk]) + "#act-post_plan" in response.content.decode()
    everything = login(client, w.handler).get(reverse("issues:mine"), {"show": "all"})
    assert closed.pk in ids_on(everything) and w.other.pk not in ids_on(everything)


@pytest.mark.django_db
def test_it_lists_issues_escalated_to_me_on_my_issues(client, w):
    Issue.objects.filter(pk=w.fresh.pk).update(level=Level.STREET, level_person=w.secretary)
    response = login(client, w.secretary).get(reverse("issues:mine"))
    assert ids_on(response) == {w.fresh.pk}


# ------------------------------------------------------------------------------------------------ one issue


@pytest.mark.django_db
def test_it_shows_an_issue_with_masked_address_deadlines_and_the_timeline(client, w):
    issue = advance(make_issue(w.ha, raised_by=w.worker_a, registered_on=days_ago(1)), to=Status.ROUTED, admin=w.admin,
                    handler=w.handler, department=w.dept)  # fmt: skip
    response = login(client, w.handler).get(reverse("issues:detail", args=[issue.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "张甲" in body and "湖田社区" in body and "1号楼1单元1*" in body
    assert w.ha.id_number not in body and w.ha.phone not in body and "1号楼1单元101" not in body
    assert issue.plan_due_on.strftime("%Y-%m-%d") in body and issue.due_on.strftime("%Y-%m-%d") in body
    events = response.context["events"]
    assert [e.kind for e in events] == [EventKind.ACCEPTED, EventKind.ROUTED]  # newest last
    assert events[0].actor_name == "admin"
    assert [f.action for f in response.context["forms"]] == ["post_plan", "resolve", "misroute", "request_extension"]
    assert 'name="version" value="%d"' % issue.version in body


@pytest.mark.django_db
def test_it_shows_the_full_address_to_the_street_admin(client, w):
    body = login(client, w.admin).get(reverse("issues:detail", args=[w.routed.pk])).content.decode()
    assert "1号楼1单元101" in body and w.ha.id_number not in body


@pytest.mark.django_db
def test_it_marks_provisional_deadlines_on_the_issue_page(client, w):
    Issue.objects.filter(pk=w.routed.pk).update(plan_due_provisional=True)
    body = login(client, w.admin).get(reverse("issues:detail", args=[w.routed.pk])).content.decode()
    assert body.count('class="mk mk-prov"') == 1 and "暂定" in body


@pytest.mark.django_db
def test_it_answers_404_for_another_departments_issue_on_the_page_and_on_every_action(client, w):
    login(client, w.handler)
    assert client.get(reverse("issues:detail", args=[w.other.pk])).status_code == 404
    before = Issue.objects.get(pk=w.other.pk)
    for action in ("post_plan", "add_progress", "resolve", "misroute", "request_extension", "accept", "close", "nope"):
        response = client.post(
            reverse("issues:act", args=[w.other.pk, action]),
            {"version": before.version, "plan": "x", "text": "x", "answer": "x", "reason": "x", "days": 3},
        )
        assert response.status_code == 404, action
    after = Issue.objects.get(pk=w.other.pk)
    assert (after.status, after.version) == (before.status, before.version)
    assert not ExtensionRequest.objects.filter(issue=w.other).exists()


@pytest.mark.django_db
def test_it_answers_404_for_a_missing_issue(client, w):
    assert login(client, w.admin).get(reverse("issues:detail", args=[999999])).status_code == 404


@pytest.mark.django_db
def test_it_posts_a_plan_and_shows_it_on_the_timeline(client, w):
    login(client, w.handler)
    url = reverse("issues:act", args=[w.routed.pk, "post_plan"])
    response = client.post(url, {"version": w.routed.version, "plan": "联系物业三日内更换灯具"})
    assert response.status_code == 302 and response["Location"] == reverse("issues:detail", args=[w.routed.pk])
    issue = Issue.objects.get(pk=w.routed.pk)
    assert issue.status == Status.PLANNED and issue.plan_text == "联系物业三日内更换灯具"
    page = client.get(response["Location"])
    assert "已上报方案" in messages_of(page)
    assert page.context["events"][-1].kind == EventKind.PLAN_POSTED
    assert "联系物业三日内更换灯具" in page.content.decode()


@pytest.mark.django_db
def test_it_refuses_a_stale_form_and_changes_nothing(client, w):
    login(client, w.handler)
    stale_version = w.routed.version
    # Someone else moved the issue on after the page was drawn.
    Issue.objects.filter(pk=w.routed.pk).update(version=stale_version + 1)
    response = client.post(
        reverse("issues:act", args=[w.routed.pk, "post_plan"]), {"version": stale_version, "plan": "方案"}, follow=True
    )
    assert response.status_code == 200
    assert STALE in messages_of(response)
    issue = Issue.objects.get(pk=w.routed.pk)
    assert issue.status == Status.ROUTED and issue.plan_text == "" and issue.version == stale_version + 1
    assert not IssueEvent.objects.filter(issue=issue).exists()


@pytest.mark.django_db
def test_it_refuses_a_form_without_a_version(client, w):
    response = login(client, w.handler).post(
        reverse("issues:act", args=[w.routed.pk, "post_plan"]), {"plan": "方案"}, follow=True
    )
    assert STALE in messages_of(response)
    assert Issue.objects.get(pk=w.routed.pk).status == Status.ROUTED


@pytest.mark.django_db
@pytest.mark.parametrize(
    "action,data,status",
    [
        ("post_plan", {"plan": "联系物业更换灯具"}, Status.PLANNED),
        ("resolve", {"answer": "已更换，已告知居民"}, Status.RESOLVED),
        ("misroute", {"reason": "不属于民政职责"}, Status.ACCEPTED),
    ],
)
def test_it_saves_a_double_submitted_form_once(client, w, action, data, status):
    login(client, w.handler)
    url = reverse("issues:act", args=[w.routed.pk, action])
    payload = {"version": w.routed.version, **data}
    first = client.post(url, payload)
    second = client.post(url, payload, follow=True)
    assert first.status_code == 302 and second.status_code == 200
    assert STALE in messages_of(second) or views.GONE_MESSAGE in messages_of(second)
    issue = Issue.objects.get(pk=w.routed.pk)
    assert issue.status == status and issue.version == w.routed.version + 1
    assert IssueEvent.objects.filter(issue=issue).count() == 1


@pytest.mark.django_db
def test_it_sends_the_handler_to_my_issues_after_returning_a_misrouted_issue(client, w):
    login(client, w.handler)
    response = client.post(
        reverse("issues:act", args=[w.routed.pk, "misroute"]), {"version": w.routed.version, "reason": "不属于民政职责"}
    )
    assert response["Location"] == reverse("issues:mine")
    assert Issue.objects.get(pk=w.routed.pk).department is None


@pytest.mark.django_db
def test_it_requests_an_extension_once_even_when_submitted_twice(client, w):
    login(client, w.handler)
    url = reverse("issues:act", args=[w.routed.pk, "request_extension"])
    payload = {"version": w.routed.version, "days": 5, "reason": "需协调多个部门"}
    client.post(url, payload)
    second = client.post(url, payload, follow=True)
    assert ExtensionRequest.objects.filter(issue=w.routed).count() == 1
    assert messages_of(second)  # a friendly message, not an error page
    assert second.status_code == 200


@pytest.mark.django_db
def test_it_decides_an_extension_and_moves_the_deadline(client, w):
    login(client, w.handler)
    client.post(
        reverse("issues:act", args=[w.routed.pk, "request_extension"]),
        {"version": w.routed.version, "days": 5, "reason": "需协调多个部门"},
    )
    login(client, w.admin)
    page = client.get(reverse("issues:detail", args=[w.routed.pk]))
    assert "decide_extension" in [f.action for f in page.context["forms"]]
    assert "需协调多个部门" in page.content.decode()
    issue = Issue.objects.get(pk=w.routed.pk)
    url = reverse("issues:act", args=[w.routed.pk, "decide_extension"])
    client.post(url, {"version": issue.version, "approve": "1", "note": "同意"})
    again = client.post(url, {"version": issue.version, "approve": "1", "note": "同意"}, follow=True)
    after = Issue.objects.get(pk=w.routed.pk)
    assert after.extension_days == 5 and after.due_on > issue.due_on
    assert "已被他人处理" in " ".join(messages_of(again))


@pytest.mark.django_db
def test_it_routes_only_to_a_person_of_the_chosen_department(client, w):
    accepted = make_issue(w.hb, text="待交办的诉求", status=Status.ACCEPTED, registered_on=days_ago(1))
    login(client, w.admin)
    url = reverse("issues:act", args=[accepted.pk, "route"])
    wrong = client.post(url, {"version": accepted.version, "department": w.dept.pk, "assignee": w.handler2.pk})
    assert wrong.status_code == 200 and "责任人须是所选责任单位的人员" in wrong.content.decode()
    assert Issue.objects.get(pk=accepted.pk).status == Status.ACCEPTED
    page = client.get(reverse("issues:detail", args=[accepted.pk])).content.decode()
    # Each person carries his department: the page's script offers only the chosen department's.
    assert f'value="{w.handler.pk}" data-department="{w.dept.pk}"' in page
    assert f'value="{w.handler2.pk}" data-department="{w.dept2.pk}"' in page
    right = client.post(url, {"version": accepted.version, "department": w.dept.pk, "assignee": w.handler.pk})
    assert right.status_code == 302
    routed = Issue.objects.get(pk=accepted.pk)
    assert (routed.status, routed.department, routed.assignee) == (Status.ROUTED, w.dept, w.handler)


@pytest.mark.django_db
def test_it_escalates_with_a_level_and_a_named_person(client, w):
    login(client, w.admin)
    url = reverse("issues:act", args=[w.routed.pk, "escalate"])
    response = client.post(url, {"version": w.routed.version, "level": Level.STREET, "person": w.secretary.pk})
    assert response.status_code == 302
    issue = Issue.objects.get(pk=w.routed.pk)
    assert (issue.level, issue.level_person) == (Level.STREET, w.secretary)


@pytest.mark.django_db
def test_it_closes_and_reopens_through_the_forms(client, w):
    issue = make_issue(w.ha, status=Status.RESOLVED, department=w.dept, assignee=w.handler, registered_on=days_ago(5))
    login(client, w.admin)
    client.post(reverse("issues:act", args=[issue.pk, "close"]), {"version": issue.version})
    closed = Issue.objects.get(pk=issue.pk)
    assert closed.status == Status.CLOSED
    client.post(reverse("issues:act", args=[issue.pk, "reopen"]), {"version": closed.version, "reason": "回访不满意"})
    assert Issue.objects.get(pk=issue.pk).status == Status.IN_PROGRESS


@pytest.mark.django_db
def test_it_explains_an_issue_outside_policy(client, w):
    login(client, w.admin)
    client.post(
        reverse("issues:act", args=[w.fresh.pk, "explain"]),
        {"version": w.fresh.version, "explanation": "不属于政策范围，已解释"},
    )
    issue = Issue.objects.get(pk=w.fresh.pk)
    assert issue.status == Status.CLOSED and issue.closure == "explained"


@pytest.mark.django_db
def test_it_shows_field_errors_without_changing_anything(client, w):
    response = login(client, w.handler).post(
        reverse("issues:act", args=[w.routed.pk, "post_plan"]), {"version": w.routed.version, "plan": "  "}
    )
    assert response.status_code == 200
    assert response.context["open_action"] == "post_plan"
    assert Issue.objects.get(pk=w.routed.pk).status == Status.ROUTED


@pytest.mark.django_db
def test_it_lets_a_leader_read_but_not_act(client, w):
    login(client, w.leader)
    page = client.get(reverse("issues:detail", args=[w.fresh.pk]))
    assert page.status_code == 200 and page.context["forms"] == []
    response = client.post(
        reverse("issues:act", args=[w.fresh.pk, "accept"]), {"version": w.fresh.version}, follow=True
    )
    assert response.status_code == 200 and messages_of(response)
    assert Issue.objects.get(pk=w.fresh.pk).status == Status.REGISTERED


# ------------------------------------------------------------------------------------------------ register


@pytest.mark.django_db
def test_it_registers_an_issue_with_computed_deadlines(client, w):
    login(client, w.secretary)
    url = reverse("issues:new") + f"?household={w.hb.pk}"
    page = client.get(url)
    assert page.status_code == 200 and "李乙" in page.content.decode()
    response = client.post(
        url,
        {"text": "单元门禁损坏", "category": Category.LIVING, "severity": Severity.MAJOR, "hotline_ticket": " 123 "},
    )
    issue = Issue.objects.latest("pk")
    assert response.status_code == 302 and response["Location"] == reverse("issues:detail", args=[issue.pk])
    assert (issue.household, issue.raised_by, issue.status) == (w.hb, w.secretary, Status.REGISTERED)
    assert issue.hotline_ticket == "123" and issue.severity == Severity.MAJOR
    expected = deadlines.compute_deadlines(issue.registered_on, Severity.MAJOR, rules=deadlines.issue_rules(issue))
    assert issue.plan_due_on == expected["plan_due_on"] and issue.due_on == expected["due_on"]
    assert issue.due_provisional == expected["due_provisional"]
    assert IssueEvent.objects.filter(issue=issue, kind=EventKind.REGISTERED).count() == 1


@pytest.mark.django_db
def test_it_closes_an_issue_answered_on_the_spot(client, w):
    login(client, w.worker_a)
    client.post(
        reverse("issues:new") + f"?household={w.ha.pk}",
        {
            "text": "咨询养老补贴",
            "category": Category.ELDERLY,
            "severity": Severity.GENERAL,
            "answer_on_the_spot": "已当场解释政策",
        },
    )
    issue = Issue.objects.latest("pk")
    assert issue.status == Status.CLOSED and issue.closure == "on_the_spot" and issue.answer == "已当场解释政策"


@pytest.mark.django_db
def test_it_keeps_the_register_form_on_errors(client, w):
    login(client, w.secretary)
    response = client.post(reverse("issues:new") + f"?household={w.hb.pk}", {"text": "", "category": ""})
    assert response.status_code == 200 and response.context["form"].errors
    assert Issue.objects.count() == 4


@pytest.mark.django_db
def test_it_registers_only_for_a_household_i_can_see(client, w):
    login(client, w.worker_a)
    assert client.get(reverse("issues:new") + f"?household={w.hb.pk}").status_code == 404
    response = client.post(reverse("issues:new"), {"household": w.hb.pk, "text": "x", "category": Category.LIVING})
    assert response.status_code == 404
    assert Issue.objects.count() == 4


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["handler", "leader"])
def test_it_does_not_let_handlers_or_leaders_register(client, w, who):
    assert login(client, getattr(w, who)).get(reverse("issues:new") + f"?household={w.hc.pk}").status_code == 403


@pytest.mark.django_db
def test_it_lets_a_cadre_pick_a_household_first(client, w):
    response = login(client, w.worker_a).get(reverse("issues:new"))
    body = response.content.decode()
    assert response.status_code == 200 and "张甲" in body and "李乙" not in body
    assert f"?household={w.ha.pk}" in body


@pytest.mark.django_db
def test_it_adds_the_ledger_to_the_top_bar(client, w):
    body = login(client, w.worker_a).get(reverse("home")).content.decode()
    assert reverse("issues:ledger") in body and "诉求台账" in body


@pytest.mark.django_db
def test_it_shows_each_role_its_tabs(client, w):
    admin = login(client, w.admin).get(reverse("issues:ledger")).content.decode()
    assert reverse("issues:review") in admin and reverse("issues:new") in admin
    handler = login(client, w.handler).get(reverse("issues:ledger")).context["nav"]
    assert handler == {"review": False, "register": False}


@pytest.mark.django_db
def test_it_keeps_a_second_street_out_of_the_ledger(client, w):
    from households.models import Node, NodeKind

    street2 = Node.objects.create(kind=NodeKind.STREET, name="南区街道")
    community = Node.objects.create(kind=NodeKind.COMMUNITY, name="远方社区", parent=street2)
    grid = Node.objects.create(kind=NodeKind.GRID, name="第1网格", parent=community)
    far = make_issue(make_household(grid, "909", "赵丁", 9), text="别的街道的诉求")
    response = login(client, w.admin).get(reverse("issues:ledger"))
    assert far.pk not in ids_on(response)
    assert client.get(reverse("issues:detail", args=[far.pk])).status_code == 404
