"""按网格汇总: the coverage panel's figures per grid, so that the dashboard sums a hundred rows per
street instead of counting 100,000 households (docs/decisions/0018-dashboard-rollups.md).

- ``GridCount`` / ``GroupCount``: the households of a grid, and of each focus group in it;
- ``GridVisited`` / ``GroupVisited``: of those, the ones with a counted visit in a campaign (a
  ``HouseholdDays`` row with a day; ``by_staff``: with a day in its 街道干部 bits).

Always equal to a count from the raw rows (households, their tags, ``HouseholdDays``):

- ``add_visited``, from ``tally.record`` in the visit's transaction, when a household gets its
  first counted day of the campaign (or its first by street staff): atomic upserts
  (``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n``); ``tally.record`` reads the
  household's old bits under a row lock, so two first visits of one household count once;
- ``household_added`` (+1, an upsert) for a new household without focus groups, and
  ``refresh_grids`` — recount the grids from the raw rows — for every other change of the
  households: a household saved with another grid, deleted, its focus groups changed (signals
  below), the register import (``households.register.importing``), a building moved to another
  grid (right after its commit: the households follow it in ``Node.save`` after the signal);
- ``rebuild`` — ``refresh_grids`` of the campaign's street — in ``tally.rebuild``, so the admin
  job, ``manage.py rebuild_tallies`` and the nightly task rebuild these too.

``refresh_grids`` first makes sure every (campaign, grid) row exists and locks the grids' rows
(FOR UPDATE) before it counts: a visit's transaction upserts its ``GridVisited`` row before it
reads the household's focus groups and writes their rows, so the lock waits for the visits in
flight, and the count, a new statement, sees them; a visit after it waits for the recount.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import Count, Q
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver

from households.models import Household, Node, NodeKind
from households.register.importing import households_imported
from visitplan.models import Campaign

from .models import WORDS, GridCount, GridVisited, GroupCount, GroupVisited, HouseholdDays

Tag = Household.tags.through


def days_q(prefix="", bits="days") -> Q:
    """A HouseholdDays row (at ``prefix``) with a day in its ``bits`` set ("days" or "staff")."""
    q = Q()
    for i in range(WORDS):
        q |= Q(**{f"{prefix}{bits}_{i}__gt": 0})
    return q


def _add(model, keys, counts, rows):
    """Upsert ``rows`` (tuples of ``keys`` then ``counts`` values) adding the counts to a row
    already there: one statement, atomic under concurrent writers (PostgreSQL and SQLite)."""
    if not rows:
        return
    meta, qn = model._meta, connection.ops.quote_name
    key_columns = [qn(meta.get_field(k).column) for k in keys]
    count_columns = [qn(meta.get_field(c).column) for c in counts]
    row = "(" + ", ".join(["%s"] * (len(keys) + len(counts))) + ")"
    sql = (
        f"INSERT INTO {qn(meta.db_table)} AS r ({', '.join(key_columns + count_columns)}) "
        f"VALUES {', '.join([row] * len(rows))} ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET "
        + ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in count_columns)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for r in rows for value in r])


# ---------------------------------------------------------------------------------------------- visits


def add_visited(campaign_id, household, *, visited: bool, by_staff: bool) -> None:
    """A household's first counted day of the campaign (``visited``) and/or its first by street
    staff (``by_staff``), inside the visit's transaction (``tally.record``)."""
    if not (visited or by_staff):
        return
    grid_id = household.grid_id
    # The grid's row first: it is the lock a recount of the grid waits on (module docstring).
    _add(
        GridVisited,
        ("campaign_id", "grid_id"),
        ("visited", "by_staff"),
        [(campaign_id, grid_id, int(visited), int(by_staff))],
    )
    if visited:
        groups = Tag.objects.filter(household_id=household.pk).values_list("focusgroup_id", flat=True)
        _add(
            GroupVisited,
            ("campaign_id", "grid_id", "group_id"),
            ("visited",),
            [(campaign_id, grid_id, g, 1) for g in groups],
        )


# ---------------------------------------------------------------------------------------------- households


def household_added(household) -> None:
    """A new household (no focus groups yet: they are added after it is saved)."""
    _add(GridCount, ("grid_id",), ("households",), [(household.grid_id, 1)])


def _campaigns_of(grids) -> list[int]:
    """The campaigns whose rows a recount of ``grids`` writes: those of the grids' streets, and
    any with rows for them already."""
    streets = {path.split(".")[0] for path in Node.objects.filter(pk__in=grids).values_list("path", flat=True)}
    ids = set(Campaign.objects.filter(street__path__in=streets).values_list("pk", flat=True))
    ids |= set(GridVisited.objects.filter(grid_id__in=grids).values_list("campaign_id", flat=True))
    return sorted(ids)


def refresh_grids(grid_ids) -> int:
    """Recount the rows of ``grid_ids`` from the raw rows (households, their focus groups, the
    HouseholdDays of every campaign of their streets). Returns the grids recounted."""
    grids = sorted({g for g in grid_ids if g})
    if not grids:
        return 0
    with transaction.atomic():
        campaigns = _campaigns_of(grids)
        # Every row the visits may add to exists (so the lock below covers it), then is locked.
        GridCount.objects.bulk_create([GridCount(grid_id=g) for g in grids], ignore_conflicts=True)
        GridVisited.objects.bulk_create(
            [GridVisited(campaign_id=c, grid_id=g) for c in campaigns for g in grids], ignore_conflicts=True
        )
        counts = {
            r.grid_id: r for r in GridCount.objects.select_for_update().filter(grid_id__in=grids).order_by("grid_id")
        }
        visited = {
            (r.campaign_id, r.grid_id): r
            for r in GridVisited.objects.select_for_update()
            .filter(grid_id__in=grids)
            .order_by("campaign_id", "grid_id")
        }
        # The counts, after the locks: every visit that touched these grids has committed.
        households = dict(
            Household.objects.filter(grid_id__in=grids)
            .values("grid_id")
            .annotate(n=Count("pk"))
            .values_list("grid_id", "n")
        )
        groups = (
            Tag.objects.filter(household__grid_id__in=grids)
            .values("household__grid_id", "focusgroup_id")
            .annotate(n=Count("pk"))
        )
        days = HouseholdDays.objects.filter(household__grid_id__in=grids, campaign_id__in=[c for c, _ in visited])
        seen = {
            (r["campaign_id"], r["household__grid_id"]): r
            for r in days.values("campaign_id", "household__grid_id").annotate(
                visited=Count("pk", filter=days_q()), by_staff=Count("pk", filter=days_q(bits="staff"))
            )
        }
        seen_groups = (
            days.filter(days_q(), household__tags__isnull=False)
            .values("campaign_id", "household__grid_id", "household__tags")
            .annotate(n=Count("pk"))
        )
        for grid, row in counts.items():
            row.households = households.get(grid, 0)
        GridCount.objects.bulk_update(counts.values(), ["households"], batch_size=500)
        for key, row in visited.items():
            found = seen.get(key, {})
            row.visited, row.by_staff = found.get("visited", 0), found.get("by_staff", 0)
        GridVisited.objects.bulk_update(visited.values(), ["visited", "by_staff"], batch_size=500)
        GroupCount.objects.filter(grid_id__in=grids).delete()
        GroupCount.objects.bulk_create(
            [
                GroupCount(grid_id=r["household__grid_id"], group_id=r["focusgroup_id"], households=r["n"])
                for r in groups
            ],
            batch_size=2000,
        )
        GroupVisited.objects.filter(grid_id__in=grids).delete()
        GroupVisited.objects.bulk_create(
            [GroupVisited(campaign_id=r["campaign_id"], grid_id=r["household__grid_id"], group_id=r["household__tags"],
                          visited=r["n"]) for r in seen_groups],
            batch_size=2000,
        )  # fmt: skip
    return len(grids)


def rebuild(campaign) -> int:
    """Recount every grid of the campaign's street (``tally.rebuild`` calls it, after the tallies)."""
    street = Node.objects.filter(pk=campaign.street_id).values_list("path", flat=True).first()
    if street is None:
        return 0
    grids = Node.objects.filter(kind=NodeKind.GRID, path__startswith=street + ".").values_list("pk", flat=True)
    return refresh_grids(list(grids))


# ---------------------------------------------------------------------------------------------- signals
# Every change of the households that is not a plain new household goes through a recount of its
# grids (cheap: a grid has about a thousand households), in the writer's transaction.


@receiver(pre_save, sender=Household)
def _remember_grid(sender, instance, raw=False, **kwargs):
    if raw or not instance.pk:
        return
    instance._rollup_grid = Household.objects.filter(pk=instance.pk).values_list("grid_id", flat=True).first()


@receiver(post_save, sender=Household)
def _household_saved(sender, instance, created=False, raw=False, **kwargs):
    if raw:
        return
    before = getattr(instance, "_rollup_grid", None)
    if created or before is None:
        household_added(instance)
    elif before != instance.grid_id:
        refresh_grids([before, instance.grid_id])
    instance._rollup_grid = instance.grid_id


@receiver(post_delete, sender=Household)
def _household_deleted(sender, instance, **kwargs):
    refresh_grids([instance.grid_id])


@receiver(m2m_changed, sender=Tag)
def _tags_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear", "pre_clear"):
        return
    if not reverse:  # household.tags.add(…)
        if action != "pre_clear":
            refresh_grids([instance.grid_id])
        return
    # focus_group.households.add(…): the households of pk_set, or all of the group's on clear
    if action == "pre_clear":
        instance._rollup_grids = set(instance.households.values_list("grid_id", flat=True))
    elif action == "post_clear":
        refresh_grids(getattr(instance, "_rollup_grids", ()))
    else:
        refresh_grids(Household.objects.filter(pk__in=pk_set or ()).values_list("grid_id", flat=True).distinct())


@receiver(households_imported)
def _imported(sender, grid_ids, **kwargs):
    refresh_grids(grid_ids)


@receiver(pre_save, sender=Node)
def _remember_parent(sender, instance, raw=False, **kwargs):
    if raw or not instance.pk or instance.kind != NodeKind.BUILDING:
        return
    instance._rollup_parent = Node.objects.filter(pk=instance.pk).values_list("parent_id", flat=True).first()


@receiver(post_save, sender=Node)
def _building_moved(sender, instance, raw=False, **kwargs):
    """A building under another grid: ``Node.save`` moves its households after this signal, so
    the grids are recounted when that commits."""
    before = getattr(instance, "_rollup_parent", None)
    if raw or before is None or before == instance.parent_id:
        return
    grids = [before, instance.parent_id]
    transaction.on_commit(lambda: refresh_grids(grids))
