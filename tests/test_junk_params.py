"""Junk in the query string, the path and the forms: a page answers 200, a redirect, 400, 403 or
404 — never a 500, on SQLite and on PostgreSQL.

Every page of the URL conf outside /admin/ is opened by every role that may open it (the permission
matrix's world and declarations, tests/test_permission_matrix.py), with junk in each parameter the
page reads (``PAGE_PARAMS``, from reading the views) and in a generic set (``GENERIC_PARAMS``):
numbers beyond the database's integers (SQLite: OverflowError), digits that are not ASCII
(``int("²")`` fails), impossible dates and dates at datetime's limits, a NUL byte (PostgreSQL
refuses it in a string: DataError), 5,000 characters, regular-expression bait and repeated
parameters. The page forms get the same junk, one field at a time in an otherwise valid body and
all fields at once; every URL with an id gets an over-long one; and the admin's 包户到人 form,
whose blank 层级 was a 500, answers with form errors in Chinese.

Each request runs in a savepoint that is rolled back: on PostgreSQL a failed statement would
otherwise abort the test's transaction and every request after it.
"""

from __future__ import annotations

import datetime
import uuid

import pytest
from django import forms
from django.db import transaction
from django.test import Client
from django.urls import reverse

from core.access import ANONYMOUS
from households.roles import CADRE, DEPARTMENT_HANDLER, LEADER, SECRETARY, STREET_ADMIN
from tests.support.matrix import MISSING_ID, POST_BODY, ROLES, SHORT, app_objects, app_url
from tests.support.urlconf import APP_PATTERNS

HUGE = "99999999999999999999"
LONG = "x" * 5000

JUNK = (
    HUGE,
    "-" + HUGE,
    "0",
    "-1",
    "²",  # str.isdigit() says yes, int() says no
    "2026-13-45",
    "0000-00-00",
    "99999-01-01",
    "9999-12-31",  # a real date at datetime's limit: one day further overflows
    LONG,
    "\x00",
    "(",
    r"^(\d?\d?)+Y$",
    ["1", HUGE],  # a repeated parameter (the last value counts)
)

# Names filters commonly take, sent to every page whether it reads them or not.
GENERIC_PARAMS = ("grid", "community", "campaign", "cadre", "page", "p", "month", "date", "start", "end", "day", "on",
                  "status", "q", "sort", "o", "year", "id", "from", "to", "tag", "household", "next")  # fmt: skip

_RANGE = ("campaign", "community", "from", "to")

# The parameters each GET page reads (from the views); a new page fails the test until it is listed.
PAGE_PARAMS = {
    "home": ("overview",),
    "login": ("next",),
    "password_change": (),
    "password_change_done": (),
    "service_worker": (),
    "web_manifest": (),
    "healthz": (),
    "households:list": ("q", "grid", "tag", "page"),
    "households:export": ("q", "grid", "tag"),
    "households:detail": (),
    "visits:mine": ("scope", "q", "show", "tag", "page"),
    "visits:followups": (),
    "visits:todo": (),
    "visits:cards": ("cadre", "grid", "community", "missing"),
    "visits:household": (),
    "visits:visit": (),
    "visits:followup": (),
    "visits:detail": (),
    "visits:offline": (),
    "visits:offline_state": (),
    "reports:dashboard": _RANGE,
    "reports:district": ("district",),
    "reports:unvisited": (*_RANGE, "grid", "tag", "visited", "page"),
    "reports:behind": _RANGE,
    "reports:cadre": (*_RANGE, "cadre", "behind"),
    "reports:issues": (*_RANGE, "issues", "status", "category", "page"),
    "reports:visits": (*_RANGE, "method", "short", "page"),
    "reports:followups": (*_RANGE, "status", "solved", "satisfaction", "satisfied", "page"),
    "reports:findings": _RANGE,
    "reports:phone_checks": _RANGE,
    "reports:phone_check": (),
    "reports:summary": _RANGE,
    "reports:evaluation": ("campaign", "year"),
    "reports:evaluation_export": ("campaign", "year"),
    "reports:bulletin": ("campaign", "month"),
    "reports:bulletin_export": ("campaign", "month"),
    "reports:ledgers": (),
    "reports:ledger_visits": _RANGE,
    "reports:ledger_hardship": _RANGE,
    "reports:ledger_monthly": ("month",),
    "reports:ledger_supervision": _RANGE,
    "reports:my_exports": (),
    "reports:export_job": ("format",),
    "reports:export_download": (),
    "reports:hardship_list": ("community", "page"),
    "reports:hardship_plan": (),
    "issues:ledger": ("status", "category", "department", "community", "due", "q", "page"),
    "issues:export": ("status", "category", "department", "community", "due", "q"),
    "issues:review": ("page",),
    "issues:mine": ("show", "page"),
    "issues:new": ("household", "q", "page"),
    "issues:detail": (),
    "issues:merge": (),
    "notifications:list": ("page",),
    "visitplan:rulebook": (),
    "visitplan:rulebook_edit": (),
    "households:plan_upload": (),
    "households:plan_image": (),
    "reports:map_building": ("by", "group"),
    "reports:map_community": ("by", "group"),
    "reports:map_grid": ("by", "group"),
}

USERS = [role for role in ROLES if role != ANONYMOUS]
GET_PATTERNS = {p.name: p for p in APP_PATTERNS if p.rule.get}
ID_PATTERNS = [p for p in APP_PATTERNS if "<int:pk>" in p.route]


class Requests:
    """Sends requests, each in a savepoint that is rolled back, and collects the 500s."""

    def __init__(self):
        self.clients = {}
        self.failures = []
        self.sent = 0

    def client(self, user) -> Client:
        """The user's client (logged in once); None: an anonymous one."""
        key = getattr(user, "pk", None)
        if key not in self.clients:
            client = Client(raise_request_exception=False)
            if user is not None:
                client.force_login(user)
            self.clients[key] = client
        return self.clients[key]

    def send(self, user, method, url, data, what=""):
        client = self.client(user)
        try:
            with transaction.atomic():
                response = client.get(url, data) if method == "GET" else client.post(url, data)
                transaction.set_rollback(True)
        except Exception as exc:  # noqa: BLE001  (anything escaping the handler is a failure too)
            what = what() if callable(what) else what
            self.failures.append(f"{method} {url} {what}: raised {exc!r}")
            return None
        self.sent += 1
        client.cookies.pop("messages", None)
        if response.status_code >= 500:
            what = what() if callable(what) else what
            error = repr(response.exc_info[1]) if getattr(response, "exc_info", None) else ""
            who = user.username if user is not None else "anonymous"
            self.failures.append(f"{method} {url} {what} [{who}]: {response.status_code} {error[:300]}")
        return response

    def report(self):
        shown = "\n".join(self.failures[:40])
        assert not self.failures, f"{len(self.failures)} of {self.sent} requests failed:\n{shown}"


def _show(value):
    text = repr(value)
    return text if len(text) < 40 else text[:30] + f"…' ({len(text)})"


def _url_for(w, p, role):
    obj = app_objects(w, p.rule, role)[0] if p.rule.scope else None
    return app_url(p, obj)


# ================================================================================================ GET pages


def _app(name):
    return name.split(":")[0] if ":" in name else "site"


GET_GROUPS = sorted({_app(name) for name in GET_PATTERNS})


def latin_square(params):
    """len(JUNK) query strings in which each parameter gets each junk value once (a different one
    from its neighbours each time): every (parameter, value) pair in len(JUNK) requests."""
    n = len(JUNK)
    return [{param: JUNK[(k + i) % n] for i, param in enumerate(params)} for k in range(n)]


@pytest.mark.parametrize("app", GET_GROUPS)
def test_junk_in_the_query_string_is_never_a_500(app, mw):
    """Each page of the app, for every role that may open it (a page that reads no parameter: for
    one role), with every parameter junk at once. Where a page refused such a request (not 200: a
    refused value returns early and may hide what the other parameters would do), its own
    parameters are sent again one at a time, by the first role it refused."""
    r = Requests()
    for name in sorted(n for n in GET_PATTERNS if _app(n) == app):
        p, own = GET_PATTERNS[name], PAGE_PARAMS.get(name)
        assert own is not None, f"{name}: a new page; list the parameters it reads in PAGE_PARAMS"
        every = tuple(dict.fromkeys(own + GENERIC_PARAMS))
        roles = [role for role in USERS if p.rule.may_get(role)]
        refused = set()
        for role in roles if own else roles[:1]:  # a page that reads no parameter: one role is enough
            user, url = mw.users[role], _url_for(mw, p, role)
            for query in latin_square(every):
                response = r.send(user, "GET", url, query, lambda q=query, n=name: f"{n} " + " ".join(
                    f"{k}={_show(v)[:14]}" for k, v in q.items()))  # fmt: skip
                if response is not None and response.status_code != 200:
                    refused.add(role)
        for role in [role for role in roles if role in refused][:1]:
            user, url = mw.users[role], _url_for(mw, p, role)
            for param in own:
                for junk in JUNK:
                    r.send(user, "GET", url, {param: junk}, f"{name} {param}={_show(junk)}")
    r.report()


def test_an_over_long_id_in_the_path_is_a_404(mw):
    """``<int:pk>`` takes any run of digits: an id beyond the database's integers is a missing one."""
    r = Requests()
    for p in ID_PATTERNS:
        kwargs = {"pk": HUGE} | ({"action": "accept"} if "<slug:action>" in p.route else {})
        url = reverse(p.name, kwargs=kwargs)
        for role in USERS:
            for method in ("GET", "POST"):
                response = r.send(mw.users[role], method, url, {}, "over-long id")
                if response is not None and response.status_code < 500 and response.status_code not in (403, 404, 405):
                    r.failures.append(f"{method} {url} [{SHORT[role]}]: {response.status_code}, expected 403/404/405")
    r.report()


# ================================================================================================ forms


def _first_choice(field):
    for value, label in field.choices:
        if isinstance(label, (list, tuple)):  # an option group
            for inner, _ in label:
                if inner not in ("", None):
                    return inner
        elif value not in ("", None):
            return value
    return ""


def valid_body(form):
    """A value for every field of an unbound form that the field accepts."""
    data = {}
    for name, field in form.fields.items():
        if name in form.initial and form.initial[name] is not None:
            value = form.initial[name]
        elif isinstance(field, forms.ModelChoiceField):
            first = field.queryset.first()
            value = first.pk if first is not None else ""
        elif isinstance(field, forms.ChoiceField):
            value = _first_choice(field)
        elif isinstance(field, forms.IntegerField):
            value = field.min_value or 1
        elif isinstance(field, forms.DateField):
            value = datetime.date(2026, 10, 12)
        elif isinstance(field, forms.UUIDField):
            value = uuid.uuid4()
        else:
            value = "测试"
        data[name] = value.isoformat() if isinstance(value, datetime.date) else str(value)
    return data


def _with_raised_issue(data):
    """A visit or follow-up body with one issue in its formset, so the issue fields are read too."""
    return {**data, "issues-TOTAL_FORMS": "1", "issues-INITIAL_FORMS": "0", "issues-MIN_NUM_FORMS": "0",
            "issues-MAX_NUM_FORMS": "10", "issues-0-text": "楼道灯坏了", "issues-0-category": "living",
            "issues-0-severity": "general", "issues-0-answer": ""}  # fmt: skip


def _hardship_body(w, obj):
    return {**POST_BODY["reports:hardship_plan"](w, obj), "measures-TOTAL_FORMS": "1", "measures-0-content": "申请临时救助",
            "measures-0-unit": "社区", "measures-0-due_on": "2026-12-01", "measures-0-done_on": "", "measures-0-id": "",
            "measures-0-household": ""}  # fmt: skip


def _page_forms(w):
    """(what, role, URL, a valid body, extra fields to junk) of the page forms that are not issue steps."""
    from visits.models import FollowUp

    fu = FollowUp.objects.get(pk=w.followups["a"].pk)
    return [
        ("visit form", CADRE, reverse("visits:visit", args=[w.ha.pk]), _with_raised_issue(POST_BODY["visits:visit"](w, w.ha)), ()),
        ("follow-up form", CADRE, reverse("visits:followup", args=[w.ha.pk]),
         _with_raised_issue(POST_BODY["visits:followup"](w, w.ha)), (f"solved_{fu.pk}", f"sat_{fu.pk}")),
        ("register an issue", STREET_ADMIN, reverse("issues:new") + f"?household={w.ha.pk}",
         {**POST_BODY["issues:new"](w, None), "household": str(w.ha.pk), "hotline_ticket": "", "answer_on_the_spot": ""}, ()),
        ("finding", STREET_ADMIN, reverse("reports:findings") + f"?campaign={w.campaign.pk}",
         {**POST_BODY["reports:findings"](w, None), "issue": "", "cadre": ""}, ("issue", "cadre")),
        ("phone-check draw", STREET_ADMIN, reverse("reports:phone_checks"), POST_BODY["reports:phone_checks"](w, None), ()),
        ("phone check", STREET_ADMIN, reverse("reports:phone_check", args=[w.phone_checks["a"].pk]),
         {**POST_BODY["reports:phone_check"](w, None), "reported_minutes": "30"}, ()),
        ("hardship plan", STREET_ADMIN, reverse("reports:hardship_plan", args=[w.ha.pk]), _hardship_body(w, w.ha),
         ("measures-INITIAL_FORMS",)),
        ("merge", STREET_ADMIN, reverse("issues:merge", args=[w.issue_reg.pk]), POST_BODY["issues:merge"](w, w.issue_reg), ()),
        ("cards given", CADRE, reverse("visits:cards") + "?missing=1", {**POST_BODY["visits:cards"](w, None), "expected": "1"}, ()),
        ("login", ANONYMOUS, reverse("login"), {"username": "admin", "password": "wrong-password"}, ("next",)),
        ("map spots", STREET_ADMIN, reverse("reports:map_spots", args=[w.grid_a.pk]), POST_BODY["reports:map_spots"](w, w.grid_a), ()),
        *_rulebook_forms(w),
    ]  # fmt: skip


def _rulebook_forms(w):
    """Each section of the rulebook's edit page, with one rule changed so that the body is saved."""
    from visitplan.rulebook_pages.forms import SECTION_KEYS, section_post_data

    url = reverse("visitplan:rulebook_edit", args=[w.campaign.pk])
    extra = ("section", "questions-TOTAL_FORMS", "checklist-TOTAL_FORMS", "questions-0-domains", "checklist-0-code")
    return [(f"rulebook {key}", STREET_ADMIN, url, section_post_data(w.campaign, key), extra)
            for key in SECTION_KEYS.values()]  # fmt: skip


# Each field alone gets these in an otherwise valid body (so that the value reaches the form's
# clean methods and, where the field accepts it, the service); every value of JUNK reaches every
# field through the Latin square, where all fields are junk at once.
SHARP_JUNK = (HUGE, "²", "\x00", ["1", HUGE])


def _post_junk(r, user, url, body, fields, what):
    for query in latin_square(fields):
        r.send(user, "POST", url, {**body, **query}, lambda q=query: f"{what}: all junk " + " ".join(
            f"{k}={_show(v)[:14]}" for k, v in q.items()))  # fmt: skip
    for name in fields:
        for junk in SHARP_JUNK:
            r.send(user, "POST", url, {**body, name: junk}, f"{what}: {name}={_show(junk)}")


def _step_user_and_issue(w, action):
    """A user who may take ``action`` now and the issue it applies to (else the street admin and
    a registered issue: the form is still parsed before the step is refused)."""
    from issues import services

    issues = [w.issue_reg, w.issue_acc, w.issue_routed, w.issue_planned, w.issue_ext, w.issue_resolved, w.issue_closed,
              w.issues["c"]]  # fmt: skip
    for role in (STREET_ADMIN, SECRETARY, DEPARTMENT_HANDLER, CADRE, LEADER):
        for issue in issues:
            if action in services.allowed_actions(w.users[role], issue):
                return w.users[role], issue
    return w.users[STREET_ADMIN], w.issue_reg


def _issue_step_forms(w):
    """(what, user, URL, a valid body, extra fields) of each step form of the issue page (POST to issues:act)."""
    from issues.forms import ACTION_FORMS

    for action, form_class in ACTION_FORMS.items():
        if action == "merge":
            continue  # its own page (_page_forms)
        user, issue = _step_user_and_issue(w, action)
        issue.refresh_from_db()
        url = reverse("issues:act", args=[issue.pk, action])
        yield action, user, url, valid_body(form_class(issue=issue, user=user)), ("next",)


def test_junk_in_the_forms_is_never_a_500(mw):
    """The page forms and every step form of the issue page: each field junk, alone and all at once."""
    r = Requests()
    for what, role, url, body, extra in _page_forms(mw):
        user = mw.users.get(role)  # None: anonymous
        response = r.send(user, "POST", url, body, f"{what}: the valid body")
        assert response is not None and response.status_code in (200, 302), f"{what}: the valid body got {response}"
        _post_junk(r, user, url, body, list(dict.fromkeys([*body, *extra])), what)
    for what, user, url, body, extra in _issue_step_forms(mw):
        _post_junk(r, user, url, body, [*body, *extra], what)
    r.report()


@pytest.mark.parametrize("form", ["visit form", "follow-up form", "hardship plan"])
def test_a_forged_form_count_builds_no_more_rows_than_the_form_takes(mw, form):
    """TOTAL_FORMS=99999999999999999999 made Django build (and render) max_num + 1,000 rows, seconds
    of work per request; now the rows stop at the form's maximum and the page says so."""
    from reports.hardship.forms import MAX_MEASURES
    from visits.forms import MAX_RAISED_ISSUES

    _what, role, url, body, _extra = next(f for f in _page_forms(mw) if f[0] == form)
    prefix, most = ("measures", MAX_MEASURES) if form == "hardship plan" else ("issues", MAX_RAISED_ISSUES)
    client = Client()
    client.force_login(mw.users[role])
    with transaction.atomic():
        response = client.post(url, {**body, f"{prefix}-TOTAL_FORMS": HUGE})
        transaction.set_rollback(True)
    assert response.status_code == 200
    formset = response.context["formset"]
    assert len(formset.forms) <= most
    assert formset.non_form_errors()


# ================================================================================================ the admin's 包户到人 form


def _assignment_body(w, **overrides):
    data = {"campaign": w.campaign.pk, "household": w.hb.pk, "cadre": w.admin.cadre.pk, "tier": "", "department": "",
            "source": "manual"}  # fmt: skip
    data.update(overrides)
    return data


def _add_assignment(client, data):
    with transaction.atomic():
        return client.post(reverse("admin:visitplan_assignment_add"), data)


def _form_errors(response) -> str:
    form = response.context["adminform"].form
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


@pytest.fixture
def admin_client(mw):
    client = Client(raise_request_exception=False)
    client.force_login(mw.admin)
    return client


def test_an_assignment_with_a_blank_tier_takes_the_cadres(mw, admin_client):
    """层级 "留空则取干部的层级": saved with the cadre's tier, not a 500."""
    from visitplan.models import Assignment, Tier

    response = _add_assignment(admin_client, _assignment_body(mw))
    assert response.status_code == 302, _form_errors(response)
    assignment = Assignment.objects.get(campaign=mw.campaign, household=mw.hb, cadre=mw.admin.cadre)
    assert assignment.tier == Tier.STREET_STAFF


def test_an_assignment_without_cadre_and_tier_is_a_form_error(mw, admin_client):
    from visitplan.models import Assignment

    before = Assignment.objects.count()
    response = _add_assignment(admin_client, _assignment_body(mw, cadre=""))
    assert response.status_code == 200
    assert "这个字段是必填项" in _form_errors(response)
    assert Assignment.objects.count() == before


def test_a_second_department_for_a_household_is_a_chinese_form_error(mw, admin_client):
    """安排表: no household is visited by two units; the admin says so instead of a 500 or the
    database constraint's English name."""
    from visitplan.models import Assignment, Tier

    Assignment.objects.create(campaign=mw.campaign, household=mw.hb, cadre=mw.handler.cadre, tier=Tier.DEPARTMENT)
    response = _add_assignment(admin_client, _assignment_body(mw, tier=Tier.DEPARTMENT, department=mw.dept.pk))
    assert response.status_code == 200
    errors = _form_errors(response)
    assert "已有部门挂包" in errors and "assignment_one_department_per_household" not in errors
    assert Assignment.objects.filter(household=mw.hb, tier=Tier.DEPARTMENT).count() == 1


def test_a_household_outside_the_campaigns_street_is_a_form_error(mw):
    from django.contrib.auth.models import User

    from visitplan.models import Assignment

    root = User.objects.create_superuser("root-junk", password="pw-test-123")
    client = Client(raise_request_exception=False)
    client.force_login(root)
    response = _add_assignment(client, _assignment_body(mw, household=mw.hx.pk))
    assert response.status_code == 200
    assert "不属于该走访活动的街道" in _form_errors(response)
    assert not Assignment.objects.filter(campaign=mw.campaign, household=mw.hx).exists()


def test_junk_in_the_assignment_form_is_a_form_error(mw, admin_client):
    from visitplan.models import Assignment

    before = Assignment.objects.count()
    for field in ("campaign", "household", "cadre", "tier", "department", "source"):
        for junk in (HUGE, "-1", "abc", "²", "\x00", LONG, str(MISSING_ID)):
            response = _add_assignment(admin_client, _assignment_body(mw, **{field: junk}))
            assert response.status_code == 200, f"{field}={_show(junk)}: {response.status_code}"
            assert _form_errors(response), f"{field}={_show(junk)}: no form error"
    assert Assignment.objects.count() == before
