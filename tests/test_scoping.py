"""Who sees what: a grid worker of one grid never reaches another grid's households."""

import io

import openpyxl
import pytest
from django.urls import reverse

from households.masking import mask_id_number
from households.models import AccessLog, Household, Node


def names(qs):
    return set(qs.values_list("head_name", flat=True))


def test_it_scopes_households_by_role(world):
    w = world
    assert names(Household.objects.visible_to(w.worker_a)) == {"张甲"}
    assert names(Household.objects.visible_to(w.worker_b)) == {"李乙"}
    assert names(Household.objects.visible_to(w.secretary)) == {"张甲", "李乙"}
    assert names(Household.objects.visible_to(w.admin)) == {"张甲", "李乙", "王丙"}
    assert names(Household.objects.visible_to(w.leader)) == {"张甲", "李乙", "王丙"}
    # A department handler sees only the households assigned to the department's cadre.
    assert names(Household.objects.visible_to(w.handler)) == {"王丙"}


def test_it_shows_nothing_to_a_user_without_role_or_cadre(world, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    loner = django_user_model.objects.create_user("loner", password="x")
    assert not Household.objects.visible_to(loner).exists()
    assert not Household.objects.visible_to(AnonymousUser()).exists()


def test_it_takes_away_access_when_the_cadre_leaves(world):
    cadre = world.worker_a.cadre
    cadre.active = False
    cadre.save()
    world.worker_a.refresh_from_db()
    assert not Household.objects.visible_to(world.worker_a).exists()


def test_it_scopes_the_tree(world):
    visible = set(Node.objects.visible_to(world.worker_a).values_list("pk", flat=True))
    assert world.grid_a.pk in visible and world.street.pk in visible  # own node and its ancestors
    assert world.grid_b.pk not in visible and world.c2.pk not in visible


def test_it_lists_only_my_grid_on_the_page(client, world):
    client.force_login(world.worker_a)
    page = client.get(reverse("households:list")).content.decode()
    assert "张甲" in page
    assert "李乙" not in page and "王丙" not in page


def test_it_answers_404_for_another_grids_household(client, world):
    client.force_login(world.worker_a)
    assert client.get(reverse("households:detail", args=[world.ha.pk])).status_code == 200
    assert client.get(reverse("households:detail", args=[world.hb.pk])).status_code == 404
    assert client.get(reverse("households:detail", args=[999999])).status_code == 404


def test_it_sends_anonymous_users_to_login(client, world):
    for url in (
        reverse("households:list"),
        reverse("households:detail", args=[world.ha.pk]),
        reverse("households:export"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def _exported_names(response):
    wb = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    ws = wb["居民底册"]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    return {r[5] for r in rows if r and r[5]}


def test_it_exports_only_my_grid_and_logs_it(client, world):
    client.force_login(world.worker_a)
    response = client.get(reverse("households:export"))
    assert response.status_code == 200
    assert _exported_names(response) == {"张甲"}
    # Filtering by another grid's id cannot widen the export.
    response = client.get(reverse("households:export"), {"grid": world.grid_b.pk})
    assert _exported_names(response) == set()
    log = AccessLog.objects.filter(user=world.worker_a)
    assert log.count() == 2 and log.first().rows == 0


def test_it_masks_ids_and_phones_for_grid_workers(client, world):
    client.force_login(world.worker_a)
    page = client.get(reverse("households:detail", args=[world.ha.pk])).content.decode()
    assert world.ha.id_number not in page and world.ha.phone not in page
    assert world.ha.id_number[:6] + "********" + world.ha.id_number[-4:] in page


def test_it_shows_full_ids_to_the_street_admin_only_when_he_asks_and_logs_it(client, world):
    client.force_login(world.admin)
    page = client.get(reverse("households:detail", args=[world.ha.pk])).content.decode()
    assert world.ha.id_number not in page and "显示完整信息" in page  # masked by default, even for him
    before = AccessLog.objects.count()
    page = client.post(reverse("households:reveal", args=[world.ha.pk])).content.decode()
    assert world.ha.id_number in page
    assert AccessLog.objects.count() == before + 1


@pytest.fixture
def staff_worker(world):
    """A grid worker who is also given admin access must still be fenced in there."""
    world.worker_a.is_staff = True
    world.worker_a.save()
    return world.worker_a


def test_admin_list_is_scoped(client, world, staff_worker):
    client.force_login(staff_worker)
    page = client.get(reverse("admin:households_household_changelist")).content.decode()
    assert "张甲" in page and "李乙" not in page and "王丙" not in page


def test_admin_cannot_open_or_change_another_grids_household(client, world, staff_worker):
    client.force_login(staff_worker)
    url = reverse("admin:households_household_change", args=[world.hb.pk])
    response = client.get(url)
    assert response.status_code == 302  # the admin's answer for "does not exist"
    client.post(url, {"head_name": "被篡改"})
    world.hb.refresh_from_db()
    assert world.hb.head_name == "李乙"


def test_admin_export_is_scoped(client, world, staff_worker):
    client.force_login(staff_worker)
    response = client.get(reverse("admin:households_household_export"))
    assert _exported_names(response) == {"张甲"}
    # The bulk action with another grid's id selected exports nothing of it.
    response = client.post(
        reverse("admin:households_household_changelist"),
        {"action": "export_selected", "_selected_action": [world.hb.pk, world.ha.pk]},
    )
    assert _exported_names(response) == {"张甲"}


def test_leader_reads_but_cannot_change(client, world):
    client.force_login(world.leader)
    url = reverse("admin:households_household_change", args=[world.ha.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"head_name": "改名"})
    assert response.status_code == 403
    world.ha.refresh_from_db()
    assert world.ha.head_name == "张甲"


def test_admin_list_masks_for_every_role(client, world):
    for user in (world.secretary, world.admin):
        client.force_login(user)
        page = client.get(reverse("admin:households_household_changelist")).content.decode()
        assert world.ha.id_number not in page and mask_id_number(world.ha.id_number) in page


def test_it_masks_the_export_for_roles_without_full_access(client, world):
    client.force_login(world.worker_a)
    response = client.get(reverse("households:export"))
    wb = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    row = next(wb["居民底册"].iter_rows(min_row=2, values_only=True))
    assert row[6] == world.ha.id_number[:6] + "********" + world.ha.id_number[-4:]
    assert row[7] == "138****0001"
