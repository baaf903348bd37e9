"""seed_demo builds a complete, valid demo street: tree, register, cadres of every tier, campaign, allocation."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from households import roles
from households.models import Community, Grid, Household, Member, NodeKind
from households.validators import id_number_error, phone_error
from visitplan.models import Assignment, Cadre, Campaign, StageKind, Tier

pytestmark = pytest.mark.django_db

# The tiers that count as a household's linked cadre (包户到人): leaders and secretaries visit on top.
LINKING_TIERS = (Tier.DEPARTMENT, Tier.STREET_STAFF, Tier.COMMITTEE, Tier.GRID_WORKER)

EXPECTED_GROUP = {
    Tier.LEADER: roles.LEADER,
    Tier.DEPARTMENT: roles.CADRE,
    Tier.SECRETARY: roles.SECRETARY,
    Tier.COMMITTEE: roles.CADRE,
    Tier.GRID_WORKER: roles.CADRE,
}


@pytest.fixture
def seeded():
    call_command("seed_demo", households=300)


def test_it_builds_the_tree(seeded):
    assert Community.objects.count() >= 6
    assert Grid.objects.count() >= 30
    assert all(h.path.startswith(h.grid.path) for h in Household.objects.select_related("grid"))


def test_it_builds_a_valid_register(seeded):
    households = list(Household.objects.prefetch_related("members", "tags"))
    assert len(households) == 300
    assert [h.id_number for h in households if id_number_error(h.id_number)] == []
    assert [h.phone for h in households if phone_error(h.phone)] == []
    assert all(h.size == len(h.members.all()) + 1 for h in households)
    assert len({h.id_number for h in households}) == 300
    assert Member.objects.exists()
    for member in Member.objects.all():
        assert id_number_error(member.id_number) is None
        assert int(member.id_number[6:10]) == member.birth_year
    assert Household.tags.through.objects.exists()


def test_it_creates_cadres_of_every_tier_with_logins(seeded):
    cadres = list(Cadre.objects.select_related("user", "scope"))
    assert {c.tier for c in cadres} == set(Tier.values)
    for cadre in cadres:
        assert cadre.user is not None and cadre.user.check_password("demo12345")
        group_names = set(cadre.user.groups.values_list("name", flat=True))
        if cadre.user.username == "admin":
            assert group_names == {roles.STREET_ADMIN}
        elif cadre.tier in EXPECTED_GROUP:
            assert EXPECTED_GROUP[cadre.tier] in group_names, cadre.user.username
        else:
            assert group_names == {roles.CADRE}
    scope_kinds = {(c.tier, c.scope.kind) for c in cadres if c.user.username != "admin"}
    assert scope_kinds == {
        (Tier.LEADER, NodeKind.STREET),
        (Tier.DEPARTMENT, NodeKind.STREET),
        (Tier.STREET_STAFF, NodeKind.COMMUNITY),
        (Tier.SECRETARY, NodeKind.COMMUNITY),
        (Tier.COMMITTEE, NodeKind.GRID),
        (Tier.GRID_WORKER, NodeKind.GRID),
    }
    assert Cadre.objects.filter(tier=Tier.GRID_WORKER).count() == Grid.objects.count()
    assert not Cadre.objects.get(user__username="grid_hutian_1").user.is_staff
    assert Cadre.objects.get(user__username="sec_hutian").user.is_staff
    root = get_user_model().objects.get(username="root")
    assert root.is_superuser and root.check_password("demo12345")


def test_it_plans_the_campaign_and_links_every_household(seeded):
    campaign = Campaign.objects.get()
    assert campaign.year == 2026
    assert sorted(campaign.stages.values_list("kind", flat=True)) == sorted(StageKind.values)
    assert campaign.quotas.exists()
    linked = set(
        Assignment.objects.filter(campaign=campaign, tier__in=LINKING_TIERS).values_list("household_id", flat=True)
    )
    assert set(Household.objects.values_list("pk", flat=True)) == linked


def test_it_skips_a_database_that_has_households(seeded, capsys):
    call_command("seed_demo", households=300, if_empty=True)
    assert "跳过" in capsys.readouterr().out
    assert Household.objects.count() == 300
    assert Campaign.objects.count() == 1
