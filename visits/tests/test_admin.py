"""The visit ledger and 回头看 lists in the admin: read-only, and scoped like the pages."""

import datetime

import pytest

from visits.models import Visit


@pytest.mark.django_db
def test_the_admin_lists_visits_read_only_within_the_users_node(client, vw):
    w = vw
    mine = Visit.objects.create(
        campaign=w.campaign, household=w.ha, cadre=w.worker_a.cadre, visited_on=datetime.date(2026, 9, 1)
    )
    other = Visit.objects.create(
        campaign=w.campaign, household=w.hc, cadre=w.handler.cadre, visited_on=datetime.date(2026, 9, 2)
    )
    client.force_login(w.secretary)  # 湖田社区 only
    page = client.get("/admin/visits/visit/")
    assert page.status_code == 200
    shown = set(page.context["cl"].result_list)
    assert shown == {mine}
    assert client.get(f"/admin/visits/visit/{other.pk}/change/").status_code in (302, 404)
    assert client.get("/admin/visits/visit/add/").status_code == 403
    assert client.post(f"/admin/visits/visit/{mine.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Visit.objects.count() == 2
    client.force_login(w.admin)
    assert set(client.get("/admin/visits/visit/").context["cl"].result_list) == {mine, other}
    assert client.get("/admin/visits/followup/").status_code == 200


@pytest.mark.django_db
def test_the_issue_admin_page_shows_the_visit_it_was_raised_on(client, vw):
    from issues.tests.factories import make_issue

    w = vw
    day = datetime.date(2026, 9, 1)
    visit = Visit.objects.create(campaign=w.campaign, household=w.ha, cadre=w.worker_a.cadre, visited_on=day)
    raised = make_issue(w.ha, raised_by=w.worker_a)
    visit.issues.add(raised)
    hotline = make_issue(w.ha, hotline_ticket="12345-0001")

    def source_visits(issue):
        page = client.get(f"/admin/issues/issue/{issue.pk}/change/")
        assert page.status_code == 200
        (inline,) = [f for f in page.context["inline_admin_formsets"] if f.opts.verbose_name == "来源走访"]
        return [form.original.visit for form in inline], page.content.decode()

    for user in (w.admin, w.secretary):
        client.force_login(user)
        shown, html = source_visits(raised)
        assert shown == [visit] and str(visit) in html
        assert source_visits(hotline)[0] == []
