"""The user's scope is resolved once per request (core.scope): however many querysets a page
scopes and however many checks it makes, the cadre and the groups are read once."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.scope import Scope, scope_of
from households.models import Household
from issues.models import Issue
from visits.models import Visit


def reads_of(queries, table):
    pattern = re.compile(rf'FROM "{table}"')
    return sum(1 for q in queries if pattern.search(q["sql"]))


PAGES = [
    ("worker_a", lambda w: reverse("visits:mine")),
    ("worker_a", lambda w: reverse("visits:household", args=[w.ha.pk])),
    ("worker_a", lambda w: reverse("visits:visit", args=[w.ha.pk])),
    ("secretary", lambda w: reverse("visits:household", args=[w.ha.pk])),
    ("handler", lambda w: reverse("visits:household", args=[w.hc.pk])),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "url"), PAGES)
def test_a_page_reads_the_cadre_and_the_groups_once(world, client, who, url):
    user = getattr(world, who)
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(world))
    assert response.status_code == 200
    assert reads_of(queries, "visitplan_cadre") == 1, [q["sql"] for q in queries if "visitplan_cadre" in q["sql"]]
    # the role names (Django's own permission check reads the groups' permissions, not this)
    names = [q["sql"] for q in queries if q["sql"].startswith('SELECT "auth_group"."name"')]
    assert len(names) == 1, names


@pytest.mark.django_db
def test_a_scope_answers_as_its_user_and_every_visible_to_takes_either(world):
    w = world
    scope = scope_of(w.worker_a)
    assert isinstance(scope, Scope) and scope_of(scope) is scope and scope_of(w.worker_a) is scope
    assert scope.cadre == w.worker_a.cadre and scope.paths == (w.grid_a.path,) and not scope.node_wide
    for model in (Household, Visit, Issue):
        assert list(model.objects.visible_to(scope)) == list(model.objects.visible_to(w.worker_a))
    assert set(Household.objects.visible_to(scope)) == {w.ha}
    assert set(Household.objects.visible_to(w.handler)) == {w.hc}  # assigned, outside any node he sees
    assert scope_of(w.leader).node_wide and scope_of(w.leader).paths == (w.street.path,)


@pytest.mark.django_db
def test_the_request_carries_the_scope(world, rf):
    from core.scope import ScopeMiddleware

    request = rf.get("/")
    request.user = world.secretary
    seen = {}
    ScopeMiddleware(lambda r: seen.setdefault("scope", r.scope))(request)
    assert seen["scope"].paths == (world.c1.path,)
    assert seen["scope"].user == world.secretary
