"""按网格汇总: the coverage panel's figures per grid, so that the dashboard sums a hundred rows per
street instead of counting 100,000 households (docs/decisions/0018-dashboard-rollups.md).

- ``GridCount`` / ``GroupCount``: the households of a grid, and of each focus group in it;
- ``GridVisited`` / ``GroupVisited``: of those, the ones with a counted visit in a campaign (a
  ``HouseholdDays`` row with a day; ``by_staff``: with a day in its 街道干部 bits);
- ``CadreGridCount``: a cadre's assignments in a grid and those his visits mark done, for the
  cadre-targets panel (its own section at the end: its upkeep follows the assignments' writers).

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

import datetime

from django.db import connection, transaction
from django.db.models import Count, F, FilteredRelation, Q
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver

from households.models import Household, Node, NodeKind
from households.register.importing import households_imported
from issues import rollups as issue_rollups
from visitplan.models import Assignment, Campaign, assignments_changed

from .models import (
    WORDS,
    CadreGridCount,
    FollowUp,
    FollowUpCount,
    FollowUpStatus,
    GridCount,
    GridVisited,
    GroupCount,
    GroupVisited,
    HouseholdDays,
    Satisfaction,
)

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
        # The cadre-targets rollup of the same grids, after these (a visit locks in this order too).
        refresh_cadre_grids(grids)
        refresh_followups(grids)  # the follow-ups of the same grids (section below)
    return len(grids)


def rebuild(campaign) -> int:
    """Recount every grid of the campaign's street (``tally.rebuild`` calls it, after the tallies),
    and, first, the campaign's issue counts (issues/rollups.py: their table lock before any row lock
    here, the order the workflow's writers take them in)."""
    issue_rollups.rebuild(campaign)
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


# ---------------------------------------------------------------------------------------------- cadre targets
# ``CadreGridCount``: per campaign, grid and cadre, his assignments (包户到人) and, of those not taken
# over, the ones his own span of the household (``CadreSpan``) marks done — at all, in 1–6月, in
# 7–12月, in both: the cadre-targets panel's main count (``visits.targets.rolled_up_figures``). The
# few households taken over (their grace days depend on the day) and the weekly focus households
# are counted from the raw rows at query time. Kept:
#
# - by a visit whose span of the household is new or reaches into another half-year
#   (``span_changed``, from ``tally.record`` under the household's row lock): it locks its grid's
#   row of the cadre first (an upsert adding nothing), then reads whether he holds the household
#   himself (an assignment not taken over), then adds the change to the row;
# - by every writer of assignments, through a recount of the grids it touched
#   (``refresh_cadre_grids``): an assignment saved (post_save; its old grid too), the allocation,
#   ``reassign_cadre`` and the admin's deletes (``visitplan.models.assignments_changed``: visitplan
#   may not import visits), and every ``refresh_grids`` (households moved, deleted, imported, a
#   building moved; the rebuild).
#
# The recount first makes sure the row of every assignment exists, locks every row of its grids
# (FOR UPDATE), then counts: a visit holding a row's lock has committed its span before the count
# (a new statement under READ COMMITTED) reads it; a visit after the lock waits for the recount and
# then reads the assignments it committed. A row left without assignments is deleted.

CADRE_KEYS = ("campaign_id", "grid_id", "cadre_id")
CADRE_COUNTS = ("assigned", "taken_over", "sweep", "h1", "h2", "both")


def _span_counts(year, span) -> tuple[int, int, int, int]:
    """(sweep, h1, h2, both) of a span ``(first_on, last_on)`` (or None): visited at all, in 1–6月
    (the first visit on or before 30 June), in 7–12月 (the last on or after 1 July), in both."""
    if span is None:
        return 0, 0, 0, 0
    h1, h2 = span[0] <= datetime.date(year, 6, 30), span[1] >= datetime.date(year, 7, 1)
    return 1, int(h1), int(h2), int(h1 and h2)


def span_changed(campaign, household, cadre_id, before, after) -> None:
    """The cadre's span of the household went from ``before`` to ``after`` (``tally.record``, in the
    visit's transaction, under the household's row lock): the change of its counts is added to his
    row of the household's grid when he holds the household himself."""
    delta = [new - old for new, old in zip(_span_counts(campaign.year, after), _span_counts(campaign.year, before))]
    if not any(delta):
        return
    key = dict(zip(CADRE_KEYS, (campaign.pk, household.grid_id, cadre_id)))
    # The row's lock first (module note above), then the assignment, read after it.
    _add(CadreGridCount, CADRE_KEYS, CADRE_COUNTS, [(*key.values(), *[0] * len(CADRE_COUNTS))])
    own = Assignment.objects.filter(
        campaign_id=campaign.pk, cadre_id=cadre_id, household_id=household.pk, taken_over_on__isnull=True
    )
    if own.exists():
        CadreGridCount.objects.filter(**key).update(
            **{name: F(name) + n for name, n in zip(("sweep", "h1", "h2", "both"), delta) if n}
        )


def _cadre_campaigns(grids) -> list[int]:
    """The campaigns a recount of ``grids`` counts: those of their streets and any with rows for them."""
    ids = set(_campaigns_of(grids))
    ids |= set(CadreGridCount.objects.filter(grid_id__in=grids).values_list("campaign_id", flat=True).distinct())
    return sorted(ids)


def _assignments_in(grids):
    """The assignments of the households of ``grids``. Said twice, as the households' ids (a
    semi-join on the grid's index and the assignments' household index) and on the joined
    household: with the join alone the planner read every assignment of the campaign (70 ms for a
    grid of 100,000 households' street, 16 ms so)."""
    households = Household.objects.filter(grid_id__in=grids).values("pk")
    return Assignment.objects.filter(household_id__in=households, household__grid_id__in=grids)


def _cadre_counts(campaign, grids) -> dict:
    """{(campaign, grid, cadre): counts} of the campaign's assignments in ``grids``, from the raw
    rows: the count ``visits.targets.tallied_figures`` makes, per grid."""
    span = FilteredRelation(
        "household__cadre_spans",
        condition=Q(household__cadre_spans__campaign=campaign, household__cadre_spans__cadre=F("cadre_id")),
    )
    own = Q(taken_over_on__isnull=True)
    h1 = Q(span__first_on__lte=datetime.date(campaign.year, 6, 30))
    h2 = Q(span__last_on__gte=datetime.date(campaign.year, 7, 1))
    rows = (
        _assignments_in(grids)
        .filter(campaign=campaign)
        .alias(span=span)
        .values("household__grid_id", "cadre_id")
        .annotate(assigned=Count("pk"), taken_over=Count("pk", filter=~own), sweep=Count("span__pk", filter=own),
                  h1=Count("pk", filter=own & h1), h2=Count("pk", filter=own & h2),
                  both=Count("pk", filter=own & h1 & h2))
        .order_by()
    )  # fmt: skip
    return {(campaign.pk, r.pop("household__grid_id"), r.pop("cadre_id")): r for r in rows}


def refresh_cadre_grids(grid_ids, campaign_ids=None) -> int:
    """Recount the ``CadreGridCount`` rows of ``grid_ids`` (in ``campaign_ids``, by default every
    campaign of their streets) from the raw rows: the assignments and the cadre spans. Returns the
    grids recounted."""
    grids = sorted({g for g in grid_ids if g})
    if not grids:
        return 0
    with transaction.atomic():
        ids = sorted(set(campaign_ids)) if campaign_ids is not None else _cadre_campaigns(grids)
        assignments = _assignments_in(grids).filter(campaign_id__in=ids)
        keys = sorted(set(assignments.values_list("campaign_id", "household__grid_id", "cadre_id").order_by()))
        # Every row a visit may add to exists (so the lock below covers it), then is locked.
        CadreGridCount.objects.bulk_create(
            [CadreGridCount(**dict(zip(CADRE_KEYS, key))) for key in keys], ignore_conflicts=True, batch_size=2000
        )
        locked = list(
            CadreGridCount.objects.select_for_update()
            .filter(campaign_id__in=ids, grid_id__in=grids)
            .order_by(*CADRE_KEYS)
        )
        # The counts, after the locks: every visit that touched these rows has committed.
        counts = {}
        for campaign in Campaign.objects.filter(pk__in=ids):
            counts.update(_cadre_counts(campaign, grids))
        # Only the rows locked: one committed after the lock was written by its writer's own recount.
        kept, gone = [], []
        for row in locked:
            found = counts.get((row.campaign_id, row.grid_id, row.cadre_id))
            if found is None:
                gone.append(row.pk)
                continue
            for name in CADRE_COUNTS:
                setattr(row, name, found[name])
            kept.append(row)
        CadreGridCount.objects.bulk_update(kept, CADRE_COUNTS, batch_size=500)
        for i in range(0, len(gone), 500):
            CadreGridCount.objects.filter(pk__in=gone[i : i + 500]).delete()
    return len(grids)


def _remember_grid_of(instance) -> None:
    """pre_save of a row per (campaign, household) — an assignment, a follow-up: its (campaign, grid)
    as stored, for ``_recount_grids_of`` after the save."""
    if instance.pk:
        was = type(instance).objects.filter(pk=instance.pk).values_list("campaign_id", "household__grid_id")
        instance._rollup_was = was.first()


def _recount_grids_of(instance, refresh) -> None:
    """post_save of such a row: ``refresh(grid ids, [campaign id])`` for its grid, and for the one it
    was in before when its household or campaign changed."""
    grid_id = Household.objects.filter(pk=instance.household_id).values_list("grid_id", flat=True).first()
    pairs = {(instance.campaign_id, grid_id)}
    if getattr(instance, "_rollup_was", None):
        pairs.add(instance._rollup_was)
    for campaign_id in sorted({c for c, _ in pairs}):
        refresh([g for c, g in pairs if c == campaign_id], [campaign_id])
    instance._rollup_was = (instance.campaign_id, grid_id)


@receiver(pre_save, sender=Assignment)
def _remember_assignment(sender, instance, raw=False, **kwargs):
    if not raw:
        _remember_grid_of(instance)


@receiver(post_save, sender=Assignment)
def _assignment_saved(sender, instance, raw=False, **kwargs):
    """An assignment added or changed (the admin, a form, a fixture): its grid is recounted, and the
    grid it was in before when its household or campaign changed."""
    if not raw:
        _recount_grids_of(instance, refresh_cadre_grids)


@receiver(assignments_changed)
def _assignments_changed(sender, campaign_id, grid_ids, **kwargs):
    refresh_cadre_grids(grid_ids, [campaign_id])


# ---------------------------------------------------------------------------------------------- follow-ups
# ``FollowUpCount``: per campaign and grid, the 回头看 listed, done, done and solved, reopened, and done
# per satisfaction — the follow-up panel (reports/dashboard.py ``followup_figures``). Every writer
# recounts the rows it touched from the raw rows (a grid has a few dozen follow-ups), in its
# transaction (``refresh_followups``):
#
# - the daily lists (``followups.build_followups``: a bulk insert) and the recording of a follow-up
#   visit (``services.followup_record``: its conditional UPDATEs, the reopened mark), through
#   ``followups_changed``;
# - a follow-up saved or deleted through the model (the shell, fixtures; the cascade of a deleted
#   household or issue): the signals below — not the cascade of a deleted campaign, whose rows go
#   with it;
# - every ``refresh_grids`` (households moved, deleted, imported, a building moved; the rebuild).
#
# The recount first makes sure the row of every (campaign, grid) it counts exists, locks the rows
# (FOR UPDATE, in key order), then counts: a writer that recounted the same rows a moment ago has
# committed when the count, a new statement, reads; one after it waits for the lock. A row whose
# follow-ups are gone stays, with zeros.

FOLLOWUP_COUNTS = ("total", "done", "solved", "reopened", *Satisfaction.values)


def _followup_counts(followups) -> dict:
    """{(campaign, grid): counts} of ``followups`` (a FollowUp queryset), as the panel counts them."""
    done = Q(status=FollowUpStatus.DONE)
    rows = (
        followups.values("campaign_id", "household__grid_id")
        .annotate(total=Count("pk"), done=Count("pk", filter=done), solved=Count("pk", filter=done & Q(solved=True)),
                  reopened=Count("pk", filter=Q(reopened=True)),
                  **{s: Count("pk", filter=done & Q(satisfaction=s)) for s in Satisfaction.values})
        .order_by()
    )  # fmt: skip
    return {(r.pop("campaign_id"), r.pop("household__grid_id")): r for r in rows}


def refresh_followups(grid_ids, campaign_ids=None) -> int:
    """Recount the ``FollowUpCount`` rows of ``grid_ids`` (in ``campaign_ids``; by default every
    campaign with follow-ups or rows there) from the follow-ups. Returns the grids recounted."""
    grids = sorted({g for g in grid_ids if g})
    if not grids:
        return 0
    with transaction.atomic():
        followups = FollowUp.objects.filter(household__grid_id__in=grids)
        rows = FollowUpCount.objects.filter(grid_id__in=grids)
        if campaign_ids is not None:
            followups = followups.filter(campaign_id__in=campaign_ids)
            rows = rows.filter(campaign_id__in=campaign_ids)
        keys = sorted(set(followups.values_list("campaign_id", "household__grid_id").order_by()))
        # Every row counted exists (so the lock below covers it), then is locked.
        FollowUpCount.objects.bulk_create(
            [FollowUpCount(campaign_id=c, grid_id=g) for c, g in keys], ignore_conflicts=True, batch_size=2000
        )
        locked = list(rows.select_for_update().order_by("campaign_id", "grid_id"))
        counts = _followup_counts(followups)  # after the locks
        for row in locked:
            found = counts.get((row.campaign_id, row.grid_id), {})
            for name in FOLLOWUP_COUNTS:
                setattr(row, name, found.get(name, 0))
        FollowUpCount.objects.bulk_update(locked, FOLLOWUP_COUNTS, batch_size=500)
    return len(grids)


def followups_changed(campaign_ids, household_ids) -> int:
    """The follow-ups of ``household_ids`` in ``campaign_ids`` were written by a bulk or conditional
    update (the daily lists, a follow-up visit): their grids' rows are recounted."""
    grids = Household.objects.filter(pk__in=household_ids).values_list("grid_id", flat=True).distinct()
    return refresh_followups(list(grids), sorted(set(campaign_ids)))


@receiver(pre_save, sender=FollowUp)
def _remember_followup(sender, instance, raw=False, **kwargs):
    if not raw:
        _remember_grid_of(instance)


@receiver(post_save, sender=FollowUp)
def _followup_saved(sender, instance, raw=False, **kwargs):
    """A follow-up added or changed through the model: its grid is recounted, and the one it was in
    before when its household or campaign changed."""
    if not raw:
        _recount_grids_of(instance, refresh_followups)


@receiver(post_delete, sender=FollowUp)
def _followup_deleted(sender, instance, origin=None, **kwargs):
    if isinstance(origin, Campaign) or getattr(origin, "model", None) is Campaign:
        return  # the campaign's rows are deleted with it
    grid_id = Household.objects.filter(pk=instance.household_id).values_list("grid_id", flat=True).first()
    refresh_followups([grid_id], [instance.campaign_id])
