"""Two people editing one household: the second save is refused (Household.version, an optimistic
lock: UPDATE … WHERE version = the version the editor loaded, bumping it)."""

import pytest
from django.db.models import F
from django.db.models.signals import pre_save
from django.test import Client
from django.urls import reverse

from core.versioning import GONE_EDIT_MESSAGE, STALE_EDIT_MESSAGE, StaleEditError
from households.models import Household, Member, Node, Street
from households.register import import_register
from tests.support.threads import race

from .xlsx import register_row, write_register_file


def change_url(household):
    return reverse("admin:households_household_change", args=[household.pk])


def form_data(page):
    """What the browser would send back from the admin change page, as loaded (inlines included)."""

    def put(data, name, value):
        if value is None or value is False:
            return
        if value is True:
            data[name] = "on"
        elif isinstance(value, (list, tuple)):
            data[name] = [str(v) for v in value]
        else:
            data[name] = str(value)

    data = {}
    form = page.context["adminform"].form
    for name in form.fields:
        put(data, name, form[name].value())
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            put(data, f"{formset.prefix}-{name}", formset.management_form[name].value())
        for f in formset.forms:
            for name in f.fields:
                put(data, f.add_prefix(name), f[name].value())
    return data


def open_form(client, user, household):
    client.force_login(user)
    page = client.get(change_url(household))
    assert page.status_code == 200
    return form_data(page)


# ------------------------------------------------------------------------------------------------ the model


def test_a_new_household_is_version_1_and_each_save_bumps_it(world):
    h = world.ha
    assert h.version == 1
    h.notes = "独居"
    h.save()
    assert h.version == 2 and Household.objects.get(pk=h.pk).version == 2
    h.save(update_fields=["notes"])
    assert Household.objects.get(pk=h.pk).version == 3


def test_a_save_from_a_stale_instance_is_refused_and_writes_nothing(world):
    first = Household.objects.get(pk=world.ha.pk)
    second = Household.objects.get(pk=world.ha.pk)
    first.head_name = "张甲一"
    first.save()
    second.head_name = "张甲二"
    second.phone = "13999999999"
    with pytest.raises(StaleEditError) as caught:
        second.save()
    assert str(caught.value) == STALE_EDIT_MESSAGE
    assert second.version == 1  # still what it loaded: a retry fails again until reloaded
    fresh = Household.objects.get(pk=world.ha.pk)
    assert (fresh.head_name, fresh.phone, fresh.version) == ("张甲一", world.ha.phone, 2)


def test_a_save_of_a_household_deleted_meanwhile_is_refused(world):
    h = Household.objects.get(pk=world.hb.pk)
    Household.objects.filter(pk=h.pk).delete()
    h.head_name = "复活"
    with pytest.raises(StaleEditError, match=GONE_EDIT_MESSAGE):
        h.save()
    assert not Household.objects.filter(pk=h.pk).exists()


def test_moving_a_grid_bumps_the_version_of_its_households(world):
    w = world
    loaded = Household.objects.get(pk=w.hb.pk)
    grid = Node.objects.get(pk=w.grid_b.pk)
    grid.parent = w.c2
    grid.save()
    fresh = Household.objects.get(pk=w.hb.pk)
    assert fresh.community_id == w.c2.pk and fresh.version == 2
    with pytest.raises(StaleEditError):
        loaded.save()  # would have put it back under 湖田社区 with a grid that is no longer there


# ------------------------------------------------------------------------------------------------ the admin form


def test_the_change_form_carries_the_version_hidden(client, world):
    client.force_login(world.admin)
    page = client.get(change_url(world.ha)).content.decode()
    assert 'type="hidden" name="seen_version" value="1"' in page


def test_the_second_of_two_editors_is_refused_with_a_clear_message(world):
    w = world
    alice, bob = Client(), Client()
    a = open_form(alice, w.admin, w.ha)
    b = open_form(bob, w.secretary, w.ha)  # a masked role edits the same household

    a["head_name"] = "张甲（改）"
    response = alice.post(change_url(w.ha), a)
    assert response.status_code == 302, response.content.decode()[:3000]

    b["notes"] = "老人独居，子女在外地"
    response = bob.post(change_url(w.ha), b)
    assert response.status_code == 200
    assert STALE_EDIT_MESSAGE in response.content.decode()
    fresh = Household.objects.get(pk=w.ha.pk)
    assert (fresh.head_name, fresh.notes, fresh.version) == ("张甲（改）", "", 2)
    assert (fresh.id_number, fresh.phone) == (w.ha.id_number, w.ha.phone)

    # Reloaded, Bob's save goes through.
    b = open_form(bob, w.secretary, w.ha)
    b["notes"] = "老人独居，子女在外地"
    assert bob.post(change_url(w.ha), b).status_code == 302
    fresh = Household.objects.get(pk=w.ha.pk)
    assert (fresh.head_name, fresh.notes, fresh.version) == ("张甲（改）", "老人独居，子女在外地", 3)


def test_a_post_without_the_version_is_refused(client, world):
    data = open_form(client, world.admin, world.ha)
    del data["seen_version"]
    data["head_name"] = "无版本"
    response = client.post(change_url(world.ha), data)
    assert response.status_code == 200 and STALE_EDIT_MESSAGE in response.content.decode()
    assert Household.objects.get(pk=world.ha.pk).head_name == "张甲"


def test_a_save_that_loses_the_race_after_the_check_writes_nothing(client, world):
    """Someone saves between the form's check and the write: the UPDATE … WHERE version finds no
    row, the whole admin save (members too) rolls back and the editor is sent back with the message."""
    w = world
    son = Member.objects.create(household=w.ha, name="张小明", relation="子", id_number="")
    data = open_form(client, w.admin, w.ha)
    data["head_name"] = "后来者"
    data["members-0-work"] = "青岛港"
    assert data["members-0-id"] == str(son.pk)

    def someone_else_saves(sender, instance, **kwargs):
        Household.objects.filter(pk=instance.pk).update(notes="别人刚改的", version=F("version") + 1)

    pre_save.connect(someone_else_saves, sender=Household)
    try:
        response = client.post(change_url(w.ha), data)
    finally:
        pre_save.disconnect(someone_else_saves, sender=Household)

    assert response.status_code == 302 and response["Location"] == change_url(w.ha)
    page = client.get(response["Location"]).content.decode()
    assert STALE_EDIT_MESSAGE in page
    # Nothing of the editor's is written (the "someone else" ran inside the same request here, so
    # his change went with the rollback too; the PostgreSQL race below has him commit on his own).
    fresh = Household.objects.get(pk=w.ha.pk)
    assert (fresh.head_name, fresh.version) == ("张甲", 1)
    assert Member.objects.get(pk=son.pk).work == ""


def test_editing_only_a_member_bumps_the_version_too(world):
    w = world
    Member.objects.create(household=w.ha, name="张小明", relation="子")
    alice, bob = Client(), Client()
    a = open_form(alice, w.admin, w.ha)
    b = open_form(bob, w.admin, w.ha)
    a["members-0-work"] = "青岛港"
    assert alice.post(change_url(w.ha), a).status_code == 302
    b["members-0-health"] = "高血压"
    response = bob.post(change_url(w.ha), b)
    assert response.status_code == 200 and STALE_EDIT_MESSAGE in response.content.decode()
    member = Member.objects.get(household=w.ha)
    assert (member.work, member.health) == ("青岛港", "")


def test_the_read_only_page_of_a_leader_has_no_version_field(client, world):
    client.force_login(world.leader)
    page = client.get(change_url(world.ha))
    assert page.status_code == 200
    assert "seen_version" not in page.content.decode()


def test_adding_a_household_in_the_admin_starts_at_version_1(client, world):
    w = world
    client.force_login(w.admin)
    response = client.post(
        reverse("admin:households_household_add"),
        {
            "street": w.street.pk, "community": w.c1.pk, "grid": w.grid_a.pk, "unit": "2单元", "room": "501",
            "head_name": "新户", "id_number": "370303195405238431", "phone": "13953281234", "size": 2,
            "members-TOTAL_FORMS": 0, "members-INITIAL_FORMS": 0,
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Household.objects.get(head_name="新户").version == 1


# ------------------------------------------------------------------------------------------------ the register import


def test_the_register_import_still_inserts_and_updates(tmp_path, db):
    street = Street.objects.create(name="湖田街道")
    import_register(street=street, source=write_register_file(tmp_path / "a.xlsx", [register_row(1), register_row(2)]))
    assert list(Household.objects.values_list("version", flat=True)) == [1, 1]
    changed = write_register_file(tmp_path / "b.xlsx", [register_row(1, head_name="改名"), register_row(2)])
    report = import_register(street=street, source=changed)
    assert report.updated == 1
    h = Household.objects.get(head_name="改名")
    h.notes = "导入后在后台编辑"
    h.save()  # a household loaded after the import saves normally
    assert Household.objects.get(pk=h.pk).notes == "导入后在后台编辑"


def test_the_register_import_bumps_the_version_of_the_households_it_changes(tmp_path, db):
    street = Street.objects.create(name="湖田街道")
    import_register(street=street, source=write_register_file(tmp_path / "a.xlsx", [register_row(1)]))
    loaded = Household.objects.get()
    import_register(street=street, source=write_register_file(tmp_path / "b.xlsx", [register_row(1, head_name="改名")]))
    assert Household.objects.get().version == 2
    with pytest.raises(StaleEditError):
        loaded.save()


# ------------------------------------------------------------------------------------------------ PostgreSQL: two at once


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_of_two_simultaneous_saves_exactly_one_wins(world, on_postgres):
    pk = world.ha.pk
    for round_ in range(5):  # a few rounds, so the two threads really overlap at least sometimes
        seen = Household.objects.get(pk=pk).version

        def edit(name):
            def call():
                h = Household.objects.get(pk=pk)
                h.version = seen  # both loaded the same version
                h.head_name = name
                h.save()
                return name

            return call

        outcomes = race(edit(f"甲{round_}"), edit(f"乙{round_}"))
        winners = [r for r, e in outcomes if e is None]
        losers = [e for r, e in outcomes if e is not None]
        assert len(winners) == 1, outcomes
        assert len(losers) == 1 and isinstance(losers[0], StaleEditError), outcomes
        fresh = Household.objects.get(pk=pk)
        assert fresh.version == seen + 1 and fresh.head_name == winners[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_of_two_simultaneous_admin_saves_exactly_one_is_kept(world, on_postgres):
    w = world
    alice, bob = Client(), Client()
    a = open_form(alice, w.admin, w.ha)
    b = open_form(bob, w.admin, w.ha)
    a["head_name"], b["head_name"] = "爱丽丝改的", "鲍勃改的"

    outcomes = race(lambda: alice.post(change_url(w.ha), a), lambda: bob.post(change_url(w.ha), b))

    assert all(e is None for _, e in outcomes), outcomes
    responses = [r for r, _ in outcomes]
    saved = [r for r in responses if r.status_code == 302 and r["Location"] != change_url(w.ha)]
    refused = [r for r in responses if r not in saved]
    assert len(saved) == 1 and len(refused) == 1, [(r.status_code, r.get("Location")) for r in responses]
    loser = refused[0]
    if loser.status_code == 200:  # the form's check saw the winner's commit
        assert STALE_EDIT_MESSAGE in loser.content.decode()
    else:  # the UPDATE … WHERE version waited for the winner's row lock, then found no row
        assert loser.status_code == 302 and loser["Location"] == change_url(w.ha)
    fresh = Household.objects.get(pk=w.ha.pk)
    assert fresh.version == 2
    winner_name = "爱丽丝改的" if saved[0] is responses[0] else "鲍勃改的"
    assert fresh.head_name == winner_name
