"""The admin as an attacker with a staff login would use it: no personal-data oracle in the URL
lookups or the search, nothing shown in full without a logged reveal, no relation field that offers
or accepts (or names) another node's object, no custom view wider than the user's scope.

Roles: the street admin, the leader, the community secretary (the staff roles) and a superuser,
in the matrix world (``mw``, tests/fixtures/matrix.py: places a, b, c of the street, x another street).
"""

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import models
from django.test import Client, RequestFactory
from django.urls import NoReverseMatch, reverse

from core.admin import SafeAdminMixin, SafeInlineMixin, ScopedRawIdWidget, scoped_related_queryset
from households.masking import mask_id_number, mask_phone
from households.models import AccessKind, AccessLog, Household, Member
from households.roles import LEADER, SECRETARY, STREET_ADMIN
from tests.support.world import valid_id

LOOKUPS = ("exact", "startswith", "contains", "regex", "iregex", "in", "gt")
STAFF_ROLES = (STREET_ADMIN, LEADER, SECRETARY)
USER_ATTR = {STREET_ADMIN: "admin", LEADER: "leader", SECRETARY: "secretary"}

# Fields that hold residents' (or staff members') personal data, by model.
PII_FIELDS = {
    Household: ("id_number", "phone", "head_name"),
    Member: ("id_number", "name"),
    User: ("email", "first_name", "last_name", "password"),
}


def _pii_paths(model):
    """Every lookup path to a personal-data field from ``model``: its own, and through one relation."""
    paths = [f for f in PII_FIELDS.get(model, ())]
    for field in model._meta.get_fields():
        if not (field.is_relation and field.concrete) or field.related_model is None:
            continue
        for name in PII_FIELDS.get(field.related_model, ()):
            paths.append(f"{field.name}__{name}")
    if model._meta.model_name == "cadre" or any(
        getattr(f, "related_model", None) is not None and f.related_model._meta.model_name == "cadre"
        for f in model._meta.get_fields()
        if f.concrete
    ):
        paths.append("phone" if model._meta.model_name == "cadre" else "cadre__phone")
    return paths


def _changelist(model):
    try:
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    except NoReverseMatch:
        return None


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", password="pw-test-123")


def _users(mw, superuser):
    return {**{role: getattr(mw, USER_ATTR[role]) for role in STAFF_ROLES}, "superuser": superuser}


def _request(user, path="/admin/"):
    request = RequestFactory().get(path)
    request.user = user
    return request


def test_every_model_admin_and_inline_has_the_rails():
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, SafeAdminMixin), model
        for inline in model_admin.inlines:
            assert issubclass(inline, SafeInlineMixin), (model, inline)


# ------------------------------------------------------------------------------------------------ 1. lookups


def test_no_changelist_takes_a_lookup_it_does_not_declare(mw, superuser):
    """Every field of every admin's model, with every lookup: refused unless it is a declared filter."""
    request = _request(superuser)
    for model, model_admin in admin.site._registry.items():
        declared = model_admin.declared_lookups(request)
        for field in model._meta.concrete_fields:
            for lookup in LOOKUPS:
                param = f"{field.name}__{lookup}"
                if param in declared:
                    continue
                assert not model_admin.lookup_allowed(param, "1", request), (model, param)
        for path in _pii_paths(model):
            assert not any(p.startswith(path + "__") for p in declared), (model, path)


@pytest.mark.parametrize("role", [*STAFF_ROLES, "superuser"])
def test_personal_data_lookups_answer_400_for_every_role(client, mw, superuser, role):
    user = _users(mw, superuser)[role]
    client.force_login(user)
    probes = {"id_number": mw.ha.id_number[:10], "phone": mw.ha.phone[:5], "head_name": "张"}
    checked = 0
    for model, model_admin in admin.site._registry.items():
        url = _changelist(model)
        if url is None or not model_admin.has_view_or_change_permission(_request(user)):
            continue
        for path in _pii_paths(model):
            value = probes.get(path.rsplit("__", 1)[-1], "1")
            for lookup in LOOKUPS:
                response = client.get(url, {f"{path}__{lookup}": value})
                assert response.status_code == 400, (role, url, path, lookup, response.status_code)
                checked += 1
    assert checked >= 7 * 4  # at least households, members, visits and issues were probed


def test_the_digit_by_digit_probe_gets_the_same_answer_with_or_without_the_row(client, mw):
    client.force_login(mw.secretary)
    url = reverse("admin:households_household_changelist")
    right = client.get(url, {"id": mw.ha.pk, "id_number__startswith": mw.ha.id_number[:10]})
    wrong = client.get(url, {"id": mw.ha.pk, "id_number__startswith": "9" * 10})
    assert right.status_code == wrong.status_code == 400
    assert right.content == wrong.content


@pytest.mark.parametrize("pattern", [r"^(\d?\d?)+Y$", "(", "[", "a{99999999999}"])
def test_regex_lookups_are_refused_before_they_reach_the_database(client, mw, superuser, pattern):
    client.force_login(superuser)
    for name in ("household", "member", "cadre"):
        app = "visitplan" if name == "cadre" else "households"
        field = "phone" if name == "cadre" else "id_number"
        response = client.get(reverse(f"admin:{app}_{name}_changelist"), {f"{field}__regex": pattern})
        assert response.status_code == 400


def test_declared_filters_still_filter(client, mw):
    client.force_login(mw.admin)
    url = reverse("admin:households_household_changelist")
    page = client.get(url, {"community": mw.c2.pk})
    assert page.status_code == 200 and "王丙" in page.content.decode() and "张甲" not in page.content.decode()
    assert client.get(url, {"tags__id__exact": mw.focus.pk}).status_code == 200
    assert client.get(reverse("admin:issues_issue_changelist"), {"status__exact": "registered"}).status_code == 200
    assert client.get(reverse("admin:households_accesslog_changelist"), {"at__year": "2026"}).status_code == 200
    assert client.get(reverse("admin:visits_visit_changelist"), {"campaign": mw.campaign.pk}).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"community": "99999999999999999999"},
        {"community": "abc"},
        {"grid": "-1"},
        {"tags__id__exact": "99999999999999999999"},
        {"tags__id__exact": "x"},
        {"tags__isnull": "maybe"},
    ],
)
def test_junk_in_a_declared_filter_is_a_400_not_a_500(client, mw, params):
    client.force_login(mw.admin)
    assert client.get(reverse("admin:households_household_changelist"), params).status_code == 400


def test_a_filter_value_outside_the_offered_choices_is_refused(client, mw):
    """The secretary's community filter offers her community only: another one is not a way in."""
    client.force_login(mw.secretary)
    url = reverse("admin:households_household_changelist")
    assert client.get(url, {"community": mw.c1.pk}).status_code == 200
    assert client.get(url, {"community": mw.c2.pk}).status_code == 400
    assert client.get(url, {"community": mw.cx.pk}).status_code == 400


def test_changelist_junk_in_paging_sorting_and_search_is_never_a_500(client, mw, superuser):
    client.force_login(superuser)
    junk = ["99999999999999999999", "-1", "abc", "(", "x" * 3000, "2026-13-45"]
    for model, _model_admin in admin.site._registry.items():
        url = _changelist(model)
        if url is None:
            continue
        for value in junk:
            for param in ("p", "o", "q"):
                response = client.get(url, {param: value})
                assert response.status_code in (200, 302, 400), (url, param, value, response.status_code)


# ------------------------------------------------------------------------------------------------ 2. masked, revealed, logged


def _change(model, pk):
    return reverse(f"admin:households_{model}_change", args=[pk])


@pytest.mark.parametrize("who", ["admin", "superuser"])
def test_lists_and_edit_pages_are_masked_for_every_role(client, mw, superuser, who):
    user = superuser if who == "superuser" else mw.admin
    client.force_login(user)
    pages = [
        client.get(reverse("admin:households_household_changelist")),
        client.get(reverse("admin:households_member_changelist")),
        client.get(_change("household", mw.ha.pk)),
        client.get(_change("member", mw.son.pk)) if hasattr(mw, "son") else None,
    ]
    for page in filter(None, pages):
        body = page.content.decode()
        assert page.status_code == 200
        for h in Household.objects.all():
            assert h.id_number not in body and h.phone not in body
        for m in Member.objects.exclude(id_number=""):
            assert m.id_number not in body
    body = pages[0].content.decode()
    assert mask_id_number(mw.ha.id_number) in body and mask_phone(mw.ha.phone) in body
    assert not AccessLog.objects.filter(kind=AccessKind.REVEAL).exists()


@pytest.fixture
def son(mw):
    mw.son = Member.objects.create(household=mw.ha, name="张小明", relation="子", id_number="370303198206114163")
    return mw.son


def test_reveal_is_a_logged_post_and_shows_one_record_once(mw, son):
    client = Client(enforce_csrf_checks=False)
    client.force_login(mw.admin)
    url = _change("household", mw.ha.pk)
    reveal = reverse("admin:households_household_reveal", args=[mw.ha.pk])
    assert mw.ha.id_number not in client.get(url).content.decode()
    assert client.get(reveal).status_code == 405  # a GET reveals nothing
    response = client.post(reveal)
    assert response.status_code == 302 and response["Location"] == url
    log = AccessLog.objects.get(kind=AccessKind.REVEAL)
    assert (log.user, log.household, log.residents) == (mw.admin, mw.ha, 2)
    page = client.get(url).content.decode()
    assert mw.ha.id_number in page and mw.ha.phone in page and son.id_number in page
    assert 'name="id_number"' in page  # editable once revealed
    again = client.get(url).content.decode()
    assert mw.ha.id_number not in again and son.id_number not in again
    assert AccessLog.objects.filter(kind=AccessKind.REVEAL).count() == 1


def test_member_reveal_is_logged_against_its_household(client, mw, son):
    client.force_login(mw.admin)
    client.post(reverse("admin:households_member_reveal", args=[son.pk]))
    log = AccessLog.objects.get(kind=AccessKind.REVEAL)
    assert (log.household, log.residents) == (mw.ha, 1)
    assert son.id_number in client.get(_change("member", son.pk)).content.decode()


@pytest.mark.parametrize("attr", ["secretary", "leader"])
def test_roles_without_full_access_cannot_reveal(client, mw, attr):
    client.force_login(getattr(mw, attr))
    response = client.post(reverse("admin:households_household_reveal", args=[mw.ha.pk]))
    assert response.status_code == 403
    assert not AccessLog.objects.exists() or not AccessLog.objects.filter(kind=AccessKind.REVEAL).exists()
    assert "显示完整信息" not in client.get(_change("household", mw.ha.pk)).content.decode()


def test_reveal_of_another_streets_record_is_a_404(client, mw):
    client.force_login(mw.admin)
    assert client.post(reverse("admin:households_household_reveal", args=[mw.hx.pk])).status_code == 404
    assert not AccessLog.objects.filter(kind=AccessKind.REVEAL).exists()


def _household_post(client, mw, url, **changes):
    form = client.get(url).context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if isinstance(value, models.Model):
            value = value.pk
        if isinstance(value, (list, tuple)):
            data[name] = [getattr(v, "pk", v) for v in value]
        elif value is not None:
            data[name] = value
    for prefix in ("members",):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update(changes)
    return data


def test_a_masked_edit_form_saves_without_touching_the_identifiers(client, mw):
    client.force_login(mw.admin)
    url = _change("household", mw.ha.pk)
    before = (mw.ha.id_number, mw.ha.phone)
    data = _household_post(client, mw, url, head_name="张甲改", id_number="", phone="")
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    mw.ha.refresh_from_db()
    assert mw.ha.head_name == "张甲改"
    assert (mw.ha.id_number, mw.ha.phone) == before  # posted blanks were not part of the form


def test_the_revealed_form_saves_the_identifiers_only_with_its_token(client, mw):
    client.force_login(mw.admin)
    url = _change("household", mw.ha.pk)
    old = mw.ha.id_number
    client.post(reverse("admin:households_household_reveal", args=[mw.ha.pk]))
    revealed = client.get(url)
    token = revealed.context["pii_reveal_token"]
    data = _household_post(client, mw, url)  # this GET is masked again: build the data, add the fields
    new_id = valid_id(77, born="19800202")
    forged = {**data, "id_number": new_id, "phone": "13900000000", "_pii_reveal": "forged"}
    client.post(url, forged)
    mw.ha.refresh_from_db()
    assert mw.ha.id_number == old
    good = {**data, "id_number": new_id, "phone": "13900000000", "_pii_reveal": token}
    if "seen_version" in good:
        good["seen_version"] = mw.ha.version
    response = client.post(url, good)
    assert response.status_code == 302, response.content.decode()[:3000]
    mw.ha.refresh_from_db()
    assert (mw.ha.id_number, mw.ha.phone) == (new_id, "13900000000")


# ------------------------------------------------------------------------------------------------ 2. search by a full number


def test_full_id_search_matches_nothing_for_roles_without_full_access(client, mw):
    client.force_login(mw.secretary)
    url = reverse("admin:households_household_changelist")
    page = client.get(url, {"q": mw.ha.id_number}).content.decode()
    assert "张甲" not in page
    assert "张甲" not in client.get(url, {"q": mw.ha.phone}).content.decode()
    assert "张甲" in client.get(url, {"q": "张"}).content.decode()
    assert not AccessLog.objects.filter(kind=AccessKind.SEARCH).exists()


def test_full_id_search_of_a_role_with_full_access_is_logged(client, mw):
    client.force_login(mw.admin)
    page = client.get(reverse("admin:households_household_changelist"), {"q": mw.ha.id_number}).content.decode()
    assert "张甲" in page
    log = AccessLog.objects.get(kind=AccessKind.SEARCH)
    assert log.user == mw.admin and log.rows == 1 and mw.ha.id_number not in log.what
    # A partial number matches nobody, whoever asks.
    assert (
        "张甲"
        not in client.get(
            reverse("admin:households_household_changelist"), {"q": mw.ha.id_number[:14]}
        ).content.decode()
    )


def test_the_pages_search_follows_the_same_rule(client, mw):
    client.force_login(mw.worker_a)
    assert "张甲" not in client.get(reverse("households:list"), {"q": mw.ha.id_number}).content.decode()
    assert "张甲" in client.get(reverse("households:list"), {"q": "张甲"}).content.decode()
    client.force_login(mw.admin)
    assert "张甲" in client.get(reverse("households:list"), {"q": mw.ha.id_number}).content.decode()
    assert AccessLog.objects.filter(kind=AccessKind.SEARCH, user=mw.admin).count() == 1


def test_cadre_phone_is_not_searchable_by_its_digits(client, mw):
    mw.worker_a.cadre.phone = "13812345678"
    mw.worker_a.cadre.save()
    client.force_login(mw.secretary)
    url = reverse("admin:visitplan_cadre_changelist")
    assert "grid_a" not in client.get(url, {"q": "1381234"}).content.decode()
    assert "grid_a" not in client.get(url, {"q": "13812345678"}).content.decode()


# ------------------------------------------------------------------------------------------------ 4. relation fields


def _outside_object(model, scoped):
    return model._default_manager.exclude(pk__in=scoped.values("pk")).order_by("pk").first()


@pytest.mark.parametrize("role", (STREET_ADMIN, SECRETARY))  # the leader only reads: no forms
def test_every_relation_field_of_every_admin_form_offers_only_what_the_user_sees(mw, role):
    """Forms and inline forms, every FK and M2M: an out-of-scope object is not a valid choice, and a
    raw-id widget holding its id names nothing."""
    user = getattr(mw, USER_ATTR[role])
    request = _request(user)
    checked = 0
    for model, model_admin in admin.site._registry.items():
        obj = model._default_manager.filter(pk__in=model_admin.get_queryset(request).values("pk")).first()
        if not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request, obj)):
            continue
        forms = []
        try:
            forms.append(model_admin.get_form(request, obj)())
        except Exception as exc:  # a form that cannot be built for this role is not offered to it
            pytest.fail(f"{model}: {exc!r}")
        for inline in model_admin.get_inline_instances(request, obj):
            formset = inline.get_formset(request, obj)
            forms.append(formset(instance=obj or model()).empty_form)
        for form in forms:
            for name, field in form.fields.items():
                queryset = getattr(field, "queryset", None)
                if queryset is None or name == form._meta.model._meta.pk.name:
                    continue  # an inline form's own id: the formset resolves it within its parent
                related = queryset.model
                scoped = scoped_related_queryset(admin.site, related, request)
                outside = _outside_object(related, scoped)
                if outside is None:
                    continue
                assert not queryset.filter(pk=outside.pk).exists(), (role, model, name, outside)
                if isinstance(field.widget, ScopedRawIdWidget):
                    assert field.widget.label_and_url_for_value(outside.pk) == ("", "")
                checked += 1
    assert checked >= 3, checked


def test_a_member_cannot_be_moved_into_another_community(client, mw, son):
    client.force_login(mw.secretary)  # 湖田社区; hc is in 南纬社区, hx in another street
    url = _change("member", son.pk)
    form = client.get(url).context["adminform"].form
    data = {name: form.initial.get(name, "") or "" for name in form.fields}
    for target in (mw.hc, mw.hx):
        data["household"] = target.pk
        response = client.post(url, data)
        body = response.content.decode()
        assert response.status_code == 200
        assert "选择一个有效的选项" in body
        assert target.head_name not in body and target.address not in body
        son.refresh_from_db()
        assert son.household == mw.ha


def test_an_assignment_cannot_name_another_streets_household_or_cadre(client, mw):
    client.force_login(mw.admin)
    url = reverse("admin:visitplan_assignment_add")
    data = {
        "campaign": mw.campaign.pk,
        "household": mw.hx.pk,
        "cadre": mw.outsider.cadre.pk,
        "tier": 3,
        "source": "manual",
    }
    response = client.post(url, data)
    body = response.content.decode()
    assert response.status_code == 200 and "外街" not in body
    assert not mw.hx.assignments.filter(campaign=mw.campaign).exists()


def test_a_cadre_cannot_take_another_streets_login(client, mw):
    client.force_login(mw.admin)
    cadre = mw.worker_a.cadre
    url = reverse("admin:visitplan_cadre_change", args=[cadre.pk])
    form = client.get(url).context["adminform"].form
    data = {name: getattr(form.initial.get(name), "pk", form.initial.get(name)) for name in form.fields}
    data = {k: ("on" if v is True else v) for k, v in data.items() if v not in (None, False)}
    data["user"] = mw.outsider.pk
    response = client.post(url, data)
    assert response.status_code == 200 and "outsider" not in response.content.decode()
    cadre.refresh_from_db()
    assert cadre.user == mw.worker_a


# ------------------------------------------------------------------------------------------------ 5. custom admin views


def test_the_allocation_preview_shows_a_secretary_her_communities_only(client, mw):
    client.force_login(mw.secretary)
    url = reverse("admin:visitplan_campaign_allocation", args=[mw.campaign.pk])
    body = client.get(url, {"preview": "1"}).content.decode()
    assert "湖田社区" in body
    assert "南纬社区" not in body and "王丙" not in body and "外街" not in body
    client.force_login(mw.admin)
    body = client.get(url, {"preview": "1"}).content.decode()
    assert "湖田社区" in body and "南纬社区" in body


def test_another_streets_allocation_page_is_a_404(client, mw):
    client.force_login(mw.admin)
    url = reverse("admin:visitplan_campaign_allocation", args=[mw.campaign_x.pk])
    assert client.get(url, {"preview": "1"}).status_code == 404


# ------------------------------------------------------------------------------------------------ 7. one client address


def test_the_access_log_and_the_lockout_see_the_same_client_address(client, mw, settings):
    from axes.helpers import get_client_ip_address

    settings.CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    client.force_login(mw.admin)
    client.post(reverse("admin:households_household_reveal", args=[mw.ha.pk]), REMOTE_ADDR="10.0.0.1",
                HTTP_X_REAL_IP="172.20.1.9")  # fmt: skip
    assert AccessLog.objects.get(kind=AccessKind.REVEAL).ip == "172.20.1.9"
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_REAL_IP="172.20.1.9")
    assert get_client_ip_address(request) == "172.20.1.9"
