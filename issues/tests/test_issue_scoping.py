"""Who sees which issues (issues/scoping.py), checked on the shared world and through the services."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from issues import services
from issues.models import Issue, Status
from issues.scoping import get_issue_for_user
from issues.services import IssueActionError
from issues.tests.factories import make_issue


@pytest.fixture
def issues(world):
    """One issue per household, one routed to the department, one raised by grid worker A elsewhere."""
    w = world
    return {
        "a": make_issue(w.ha, raised_by=w.worker_a),
        "b": make_issue(w.hb, raised_by=w.worker_b),
        "c": make_issue(w.hc, raised_by=w.secretary),
        "routed": make_issue(w.hb, status=Status.ROUTED, department=w.dept),
        # Raised by A during a visit outside his grid (e.g. a relative's household in grid B).
        "a_raised_in_b": make_issue(w.hb, raised_by=w.worker_a),
    }


def _visible(user):
    return set(Issue.objects.visible_to(user).values_list("pk", flat=True))


def _ids(issues, *names):
    return {issues[n].pk for n in names}


@pytest.mark.django_db
def test_it_shows_a_grid_worker_his_grid_and_what_he_raised(world, issues):
    assert _visible(world.worker_a) == _ids(issues, "a", "a_raised_in_b")
    assert _visible(world.worker_b) == _ids(issues, "b", "routed", "a_raised_in_b")


@pytest.mark.django_db
def test_it_shows_a_secretary_only_his_community(world, issues):
    assert _visible(world.secretary) == _ids(issues, "a", "b", "routed", "a_raised_in_b")


@pytest.mark.django_db
def test_it_shows_a_department_handler_only_what_reached_his_department(world, issues):
    # hc is assigned to the handler for visits (包户), so its issue is his to see too (as a visitor).
    assert issues["routed"].pk in _visible(world.handler)
    assert _ids(issues, "a", "b", "a_raised_in_b").isdisjoint(_visible(world.handler))


@pytest.mark.django_db
def test_it_shows_a_leader_and_the_street_admin_everything_under_the_street(world, issues):
    everything = {i.pk for i in issues.values()}
    assert _visible(world.leader) == everything
    assert _visible(world.admin) == everything


@pytest.mark.django_db
def test_it_shows_an_anonymous_user_nothing(world, issues):
    assert _visible(AnonymousUser()) == set()


@pytest.mark.django_db
def test_it_answers_404_to_outsiders(world, issues):
    assert get_issue_for_user(world.worker_a, issues["a"].pk) == issues["a"]
    for user, name in [
        (world.worker_a, "b"),
        (world.worker_b, "a"),
        (world.secretary, "c"),
        (world.handler, "a"),
    ]:
        with pytest.raises(Http404):
            get_issue_for_user(user, issues[name].pk)
    with pytest.raises(Http404):
        get_issue_for_user(world.admin, 999999)
    with pytest.raises(Http404):
        get_issue_for_user(world.admin, "not-a-number")


@pytest.mark.django_db
def test_it_refuses_every_step_on_an_issue_the_user_cannot_see(world, issues):
    other = make_issue(world.hc, status=Status.ROUTED, department=world.dept)  # visible to the handler only
    for call in (
        lambda: services.issue_accept(issue=issues["c"], by=world.secretary, version=1),
        lambda: services.issue_post_plan(issue=issues["a"], by=world.handler, version=1, plan="x"),
        lambda: services.issue_route(issue=issues["c"], by=world.secretary, version=1, department=world.dept),
        lambda: services.issue_escalate(
            issue=issues["b"], by=world.worker_a, version=1, level="street", person=world.admin
        ),
    ):
        with pytest.raises(IssueActionError, match="没有找到该诉求"):
            call()
    assert services.allowed_actions(world.secretary, issues["c"]) == []
    assert services.allowed_actions(world.secretary, other) == []
    assert set(Issue.objects.values_list("version", flat=True)) == {1}
