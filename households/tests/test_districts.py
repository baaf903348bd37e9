"""Districts (区/县) above the streets: who sees what (visitplan.scope.UserScope), masking, the model."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from core.scope import forget_scope, scope_of
from households.masking import can_view_full_pii, mask_id_number, mask_phone
from households.models import Household, Node
from households.roles import DISTRICT_ADMIN, DISTRICT_LEADER
from issues.models import Issue
from issues.tests.factories import make_issue
from tests.support.districts import make_district, make_district_user, make_street
from visitplan.models import Cadre
from visitplan.scope import StreetScope, street_scope


@pytest.fixture
def district_world(world):
    """湖田街道 (the world's) and 北岭街道 in 张店区; 外区街道 in another district, 无区街道 in none."""
    w = world
    w.st2, w.c_2, w.grid_2, (w.h2,) = make_street("北岭街道", serial=600)
    w.st3, w.c_3, w.grid_3, (w.h3,) = make_street("外区街道", serial=700)
    w.st4, _c4, _g4, (w.h4,) = make_street("无区街道", serial=800)
    w.district = make_district("张店区", w.street, w.st2)
    w.other = make_district("淄川区", w.st3)
    w.dleader = make_district_user("dleader", DISTRICT_LEADER, w.district)
    w.dadmin = make_district_user("dadmin", DISTRICT_ADMIN, w.district)
    w.outsider = make_district_user("doutsider", DISTRICT_LEADER, w.other)
    return w


@pytest.mark.django_db
def test_a_district_reader_sees_every_street_of_his_district_and_no_other(district_world):
    w = district_world
    for user in (w.dleader, w.dadmin):
        scope = scope_of(user)
        assert scope.district == w.district
        assert set(scope.paths) == {w.street.path, w.st2.path}
        assert scope.node_wide and scope.cadre is None
        seen = set(Household.objects.visible_to(user))
        assert seen == {w.ha, w.hb, w.hc, w.h2}
        assert w.h3 not in seen and w.h4 not in seen
        streets = set(Node.objects.visible_to(user, ancestors=False).filter(kind="street"))
        assert streets == {w.street, w.st2}
    assert set(Household.objects.visible_to(w.outsider)) == {w.h3}


@pytest.mark.django_db
def test_a_district_reader_sees_the_issues_of_his_streets_only(district_world):
    w = district_world
    mine, other_street, other_district = make_issue(w.ha), make_issue(w.h2), make_issue(w.h3)
    assert set(Issue.objects.visible_to(w.dleader)) == {mine, other_street}
    assert set(Issue.objects.visible_to(w.outsider)) == {other_district}


@pytest.mark.django_db
def test_street_staff_still_see_only_their_street(district_world):
    w = district_world
    for user in (w.admin, w.leader):
        scope = scope_of(user)
        assert scope.district is None
        assert scope.paths == (w.street.path,)
        assert w.h2 not in set(Household.objects.visible_to(user))
    assert scope_of(w.secretary).paths == (w.c1.path,)
    assert set(Household.objects.visible_to(w.worker_a)) == {w.ha}


@pytest.mark.django_db
def test_a_role_without_the_membership_or_the_membership_without_the_role_sees_nothing(district_world):
    from django.contrib.auth.models import Group

    w = district_world
    w.dleader.groups.clear()
    forget_scope(w.dleader)
    assert scope_of(w.dleader).district is None
    assert not Household.objects.visible_to(w.dleader).exists()
    assert not Issue.objects.visible_to(w.dleader).exists()
    w.dadmin.district_member.delete()
    w.dadmin = type(w.dadmin).objects.get(pk=w.dadmin.pk)
    assert scope_of(w.dadmin).paths == ()
    assert not Household.objects.visible_to(w.dadmin).exists()
    # A street's cadre given the district role but no membership keeps his street's scope.
    w.admin.groups.add(Group.objects.get(name=DISTRICT_LEADER))
    forget_scope(w.admin)
    assert scope_of(w.admin).paths == (w.street.path,)


@pytest.mark.django_db
def test_an_inactive_district_account_sees_nothing(district_world):
    w = district_world
    w.dleader.is_active = False
    w.dleader.save()
    forget_scope(w.dleader)
    assert scope_of(w.dleader).paths == ()


@pytest.mark.django_db
def test_a_street_taken_out_of_the_district_is_out_of_sight_on_the_next_request(district_world):
    w = district_world
    Node.objects.filter(pk=w.st2.pk).update(district=None)
    fresh = type(w.dleader).objects.get(pk=w.dleader.pk)
    assert set(scope_of(fresh).paths) == {w.street.path}


@pytest.mark.django_db
def test_district_readers_see_pii_masked(district_world, client):
    w = district_world
    assert not can_view_full_pii(w.dleader) and not can_view_full_pii(w.dadmin)
    client.force_login(w.dadmin)
    page = client.get(reverse("households:detail", args=[w.h2.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert w.h2.id_number not in text and w.h2.phone not in text
    assert mask_id_number(w.h2.id_number) in text or mask_phone(w.h2.phone) in text
    # 显示完整信息 and 拨打 are not theirs.
    assert client.post(reverse("households:reveal", args=[w.h2.pk])).status_code == 403
    assert client.post(reverse("households:call", args=[w.h2.pk])).status_code == 403
    # Another district's household: as a missing one.
    assert client.get(reverse("households:detail", args=[w.h3.pk])).status_code == 404


@pytest.mark.django_db
def test_the_street_scope_narrows_a_district_reader_to_one_street(district_world):
    w = district_world
    narrowed = street_scope(w.dleader, w.st2.pk)
    assert isinstance(narrowed, StreetScope)
    assert narrowed.paths == (w.st2.path,)
    assert set(Household.objects.visible_to(narrowed)) == {w.h2}
    # A street outside his district: nothing (narrowing never widens).
    assert StreetScope(scope_of(w.dleader), w.st3).paths == ()
    # Street staff and superusers are left as they are.
    assert street_scope(w.admin, w.street.pk) is w.admin


@pytest.mark.django_db
def test_only_a_street_level_node_belongs_to_a_district(district_world):
    w = district_world
    w.c1.district = w.district
    with pytest.raises(ValidationError) as raised:
        w.c1.full_clean()
    assert "district" in raised.value.message_dict
    w.st4.district = w.district
    w.st4.full_clean()


@pytest.mark.django_db
def test_district_people_have_no_cadre_and_no_admin_permission(district_world):
    w = district_world
    assert not Cadre.objects.filter(user__in=[w.dleader, w.dadmin]).exists()
    for user in (w.dleader, w.dadmin):
        assert not user.get_all_permissions()


@pytest.mark.django_db
def test_a_superuser_makes_a_district_of_streets_in_the_admin_and_street_staff_cannot(district_world, client):
    from django.contrib.auth import get_user_model

    w = district_world
    User = get_user_model()
    root = User.objects.create_superuser("root", password="pw-test-123")
    newcomer = User.objects.create_user("zhoucun", password="pw-test-123")
    version = w.st4.version
    client.force_login(root)
    response = client.post(
        reverse("admin:households_district_add"),
        {
            "name": "周村区",
            "kind": "district",
            "code": "370306",
            "streets": [w.st4.pk, w.st3.pk],
            "members-TOTAL_FORMS": "1",
            "members-INITIAL_FORMS": "0",
            "members-0-user": newcomer.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    made = type(w.district).objects.get(name="周村区")
    assert set(made.streets.all()) == {w.st3, w.st4}  # 外区街道 moved over from 淄川区
    assert not w.other.streets.exists()
    w.st4.refresh_from_db()
    assert w.st4.version == version + 1  # an open edit form of the street sees the change
    assert made.members.get().user == newcomer
    # Street staff see no district page at all.
    client.force_login(w.admin)
    assert client.get(reverse("admin:households_district_changelist")).status_code == 403
