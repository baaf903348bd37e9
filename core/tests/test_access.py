"""core.access: the rules come from the module ``settings.ACCESS_RULES`` names, and without one the
middleware does not start (a site with nothing declared would answer 404 everywhere).

This module is itself such a declarations module (REGISTRY and NAMESPACES below), so the
machinery is checked here apart from the project's own declarations (visitplan/access.py, which
tests/test_permission_matrix.py checks against every view).
"""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpResponse
from django.test import RequestFactory
from django.urls import resolve

from core.access import ANONYMOUS, AccessMiddleware, Rule, declared_rule, rule_for

READ_ONLY = Rule(get=frozenset({"reader"}))
REGISTRY = {"home": READ_ONLY}
NAMESPACES = {"admin": Rule(admin=True)}

HERE = __name__


@pytest.fixture
def these_rules(settings):
    settings.ACCESS_RULES = HERE


def _through_middleware(method, path):
    request = getattr(RequestFactory(), method)(path)
    request.resolver_match = resolve(path)
    middleware = AccessMiddleware(lambda r: HttpResponse("ok"))
    return middleware.process_view(request, request.resolver_match.func, (), {})


def test_the_rules_are_read_from_the_module_the_setting_names(these_rules):
    assert declared_rule("home") is READ_ONLY
    assert declared_rule("login") is None  # declared in the project's module, not in this one
    assert declared_rule(None, ("admin",)) is NAMESPACES["admin"]
    assert declared_rule("admin:index", ("admin",)).admin
    assert rule_for(resolve("/")) is READ_ONLY
    assert rule_for(None) is None


def test_an_undeclared_url_answers_404_and_an_undeclared_method_405(these_rules):
    assert _through_middleware("get", "/") is None  # declared: the view decides
    assert _through_middleware("head", "/") is None
    refused = _through_middleware("post", "/")
    assert refused.status_code == 405 and refused["Allow"] == "GET, HEAD"
    with pytest.raises(Http404):
        _through_middleware("get", "/login/")


def test_the_project_declares_its_rules_in_visitplan_access(settings):
    from visitplan import access

    assert settings.ACCESS_RULES == "visitplan.access"
    assert declared_rule("login") is access.REGISTRY["login"]
    assert ANONYMOUS in access.REGISTRY["login"].get


def test_the_middleware_does_not_start_without_declarations(settings):
    del settings.ACCESS_RULES
    with pytest.raises(ImproperlyConfigured, match="ACCESS_RULES"):
        AccessMiddleware(lambda r: HttpResponse("ok"))
    with pytest.raises(ImproperlyConfigured):
        declared_rule("home")
