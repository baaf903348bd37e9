"""按社区汇总的诉求: the dashboard's issue panel per campaign and community, so that it sums a few
hundred rows per street instead of aggregating every issue of the campaign (decision 0018).

``IssueCount``: the issues of a community registered within the span of a campaign of its street
(``Campaign.span``: the first stage's start to the last stage's end, or the year), per status,
category, closure and the timeliness of the plan and of the answer (``Timeliness``), with the
working days from registration to the answer summed (``close_days``). An issue registered on a day
that two campaigns of the street span is counted under each. What depends on the day the panel is
read (overdue, the late part of 应报方案 / 应办结) is not here: reports/dashboard.py counts it from
the open issues.

Always equal to a count from the raw rows (``count``):

- every writer that knows the row before and after its change moves it from its old key to its new
  one (``moved``: -1 and +1, one upsert ``INSERT … ON CONFLICT DO UPDATE SET n = r.n + EXCLUDED.n``,
  nothing when the key stays):
  - the workflow's conditional UPDATE (``services._write``), with the copy it read: the version
    check makes that copy the row it replaced;
  - ``issue_register`` (+1 of the row as registered, answered on the spot or not);
  - the deadline recomputes (``deadlines._recompute``: the timeliness follows the deadlines);
  - a model save or delete (the test factories, the shell): ``pre_save`` reads the row before;
  - the demo's backdating of its steps (issues/demo.py);
- what moves many keys at once is recounted from the raw rows (``refresh``): a campaign created or
  its year changed, a stage saved or deleted (the span moves), a community moved to another street,
  a working-day calendar change (the working days to close, after commit), and ``rebuild`` — the
  campaign's rows, called first by ``visits.rollups.rebuild`` (so by ``tally.rebuild``: the admin
  job 重新计算统计数据, ``manage.py rebuild_tallies``, the nightly task, the benchmarks' seeding).

``refresh`` locks the table (SHARE ROW EXCLUSIVE on PostgreSQL: the dashboard's reads go on, the
upserts wait) before it counts, so the count sees every upsert made before it and every upsert after
it adds to the recount; a writer that changed its issue but had not upserted yet is counted as it
was, and its delta comes after. The campaign column has no foreign key constraint: an upsert takes
no lock on the campaign row, which ``tally.rebuild`` holds FOR UPDATE while it calls ``rebuild``.

The working days use the calendar of the writer's process (``workdays.current_calendar``, at most
``SNAPSHOT_TTL_SECONDS`` old); an office change to the calendar recounts every campaign after commit.
"""

from __future__ import annotations

import threading

from django.db import connection, transaction
from django.db.models import Case, Count, F, IntegerField, Max, Min, Value, When
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from households.models import Node, NodeKind
from visitplan.models import Campaign, Stage, span_of

from . import workdays
from .models import HolidayOverride, Issue, IssueCount, Timeliness

# The columns of an issue the rollups read (``row``).
FIELDS = (
    "community_id", "registered_on", "status", "category", "closure", "plan_posted_on", "plan_due_on", "answered_on",
    "due_on",
)  # fmt: skip
KEY = ("campaign_id", "community_id", "status", "category", "closure", "plan_state", "answer_state")
_BATCH = 500


def row(issue) -> dict:
    """The columns of ``issue`` (an instance) the rollups read."""
    return {name: getattr(issue, name) for name in FIELDS}


def timeliness(done, due) -> int:
    """``Timeliness`` of a step done on ``done`` (None: not yet) against the deadline ``due``."""
    if done is None:
        return int(Timeliness.NONE)
    return int(Timeliness.ON_TIME if due is not None and done <= due else Timeliness.LATE)


def timeliness_sql(done, due):
    """``timeliness`` as an SQL expression on the columns ``done`` and ``due`` (NULL deadline: late)."""
    return Case(
        When(**{f"{done}__isnull": True}, then=Value(int(Timeliness.NONE))),
        When(**{f"{done}__lte": F(due)}, then=Value(int(Timeliness.ON_TIME))),
        default=Value(int(Timeliness.LATE)),
        output_field=IntegerField(),
    )


def _key(r) -> tuple:
    """The key of row ``r`` (without the campaign)."""
    return (
        r["community_id"], r["status"], r["category"], r["closure"] or "", timeliness(r["plan_posted_on"], r["plan_due_on"]),
        timeliness(r["answered_on"], r["due_on"]),
    )  # fmt: skip


def close_days(registered_on, answered_on, calendar) -> int:
    """The working days from registration to the answer, as the panel averages them (0 unanswered)."""
    if answered_on is None:
        return 0
    return max(0, calendar.working_days_between(registered_on, answered_on))


def _spans(communities) -> dict[int, list[tuple]]:
    """community id → [(campaign id, first day, last day)] of its street's campaigns (one query)."""
    found = {}
    campaigns = (
        Campaign.objects.annotate(community=F("street__children"))
        .filter(community__in=communities)
        .values("pk", "year", "community")
        .annotate(first_day=Min("stages__starts_on"), last_day=Max("stages__ends_on"))
        .order_by()
    )
    for c in campaigns:
        found.setdefault(c["community"], []).append((c["pk"], *span_of(c["year"], c["first_day"], c["last_day"])))
    return found


# ---------------------------------------------------------------------------------------------- deltas


def moved(changes) -> None:
    """``changes``: [(row before or None, row after or None)] (``row``, or dicts with at least its
    columns) of issues written in the caller's transaction: -1 under the old key, +1 under the new
    one, for each campaign whose span holds the registration day. Nothing when no key changes."""
    calendar = workdays.current_calendar()

    def seen(r):
        days = close_days(r["registered_on"], r["answered_on"], calendar)
        return r["community_id"], r["registered_on"], _key(r), days

    signed = []
    for before, after in changes:
        sides = [(sign, seen(r)) for sign, r in ((-1, before), (1, after)) if r is not None]
        if len(sides) == 2 and sides[0][1] == sides[1][1]:
            continue
        signed += sides
    if not signed:
        return
    spans = _spans({community for _sign, (community, *_rest) in signed})
    deltas = {}
    for sign, (community, registered_on, key, days) in signed:
        for campaign, first, last in spans.get(community, ()):
            if first <= registered_on <= last:
                d = deltas.setdefault((campaign, *key), [0, 0])
                d[0] += sign
                d[1] += sign * days
    _add(sorted((key, d) for key, d in deltas.items() if d != [0, 0]))


def _add(rows) -> None:
    """Upsert ``rows`` ([(key, [n, close_days])], sorted: concurrent writers lock rows in one order)
    adding to a row already there: atomic under concurrent writers (PostgreSQL and SQLite)."""
    meta, qn = IssueCount._meta, connection.ops.quote_name
    keys = [qn(meta.get_field(k.removesuffix("_id")).column) for k in KEY]
    counts = [qn(meta.get_field(c).column) for c in ("n", "close_days")]
    for start in range(0, len(rows), _BATCH):
        batch = rows[start : start + _BATCH]
        values = "(" + ", ".join(["%s"] * (len(keys) + len(counts))) + ")"
        sql = (
            f"INSERT INTO {qn(meta.db_table)} AS r ({', '.join(keys + counts)}) VALUES {', '.join([values] * len(batch))} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET " + ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in counts)
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [v for key, d in batch for v in (*key, *d)])


def deadlines_moved(changes) -> None:
    """The deadline recomputes (``deadlines._recompute``), after their UPDATEs in the caller's
    transaction: ``changes`` [(issue id, {deadline field: value before})]. The rows are read again
    (locked by those UPDATEs), so the other columns are the ones written."""
    if not changes:
        return
    now = {r["id"]: r for r in Issue.objects.filter(pk__in=[pk for pk, _old in changes]).values("id", *FIELDS)}
    moved([({**now[pk], **old}, now[pk]) for pk, old in changes if pk in now])


# ---------------------------------------------------------------------------------------------- recount


def count(campaign_ids=None, community_ids=None, *, calendar=None) -> dict[tuple, list[int]]:
    """The rows counted from the issues: {key: [n, close_days]} for the campaigns ``campaign_ids``
    (None: every campaign) and, when given, the communities ``community_ids`` only (one query per
    campaign, and one for the campaigns)."""
    calendar = calendar or workdays.current_calendar()
    campaigns = Campaign.objects.annotate(first_day=Min("stages__starts_on"), last_day=Max("stages__ends_on"))
    if campaign_ids is not None:
        campaigns = campaigns.filter(pk__in=campaign_ids)
    found = {}
    for c in campaigns.values("pk", "year", "street_id", "first_day", "last_day").order_by("pk"):
        issues = Issue.objects.filter(
            community__parent_id=c["street_id"],
            registered_on__range=span_of(c["year"], c["first_day"], c["last_day"]),
        )
        if community_ids is not None:
            issues = issues.filter(community_id__in=community_ids)
        # Grouped by the key and, for the answered ones, the (registered, answered) pair: the working
        # days are counted per pair on the calendar.
        rows = (
            issues.annotate(
                plan_state=timeliness_sql("plan_posted_on", "plan_due_on"),
                answer_state=timeliness_sql("answered_on", "due_on"),
                since=Case(When(answered_on__isnull=False, then=F("registered_on"))),
            )
            .values(
                "community_id", "status", "category", "closure", "plan_state", "answer_state", "since", "answered_on"
            )
            .annotate(n=Count("pk"))
            .order_by()
        )
        for r in rows:
            key = (
                c["pk"],
                r["community_id"],
                r["status"],
                r["category"],
                r["closure"],
                r["plan_state"],
                r["answer_state"],
            )
            d = found.setdefault(key, [0, 0])
            d[0] += r["n"]
            d[1] += close_days(r["since"], r["answered_on"], calendar) * r["n"]
    return found


def _lock() -> None:
    """Hold the upserts off until the caller's transaction ends (module docstring); reads go on."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"LOCK TABLE {connection.ops.quote_name(IssueCount._meta.db_table)} IN SHARE ROW EXCLUSIVE MODE"
            )


def refresh(campaign_ids=None, community_ids=None, *, calendar=None) -> int:
    """Recount the rows of ``campaign_ids`` (None: every campaign) — of the communities
    ``community_ids`` only, when given — from the raw rows. Returns the rows written."""
    with transaction.atomic():
        _lock()
        found = count(campaign_ids, community_ids, calendar=calendar or workdays.WorkCalendar.load())
        stale = IssueCount.objects.all()
        if campaign_ids is not None:
            stale = stale.filter(campaign_id__in=campaign_ids)
        if community_ids is not None:
            stale = stale.filter(community_id__in=community_ids)
        stale.delete()
        IssueCount.objects.bulk_create(
            [IssueCount(**dict(zip(KEY, key)), n=n, close_days=days) for key, (n, days) in found.items() if n],
            batch_size=2000,
        )
    return len(found)


def rebuild(campaign) -> int:
    """Recount the rows of ``campaign`` (``visits.rollups.rebuild`` calls it, so the nightly task does)."""
    return refresh([campaign.pk])


# ---------------------------------------------------------------------------------------------- signals
# The writers that go through the model (the workflow's own writes call ``moved`` themselves).


@receiver(pre_save, sender=Issue)
def _remember_row(sender, instance, raw=False, **kwargs):
    if raw or instance._state.adding or not instance.pk:
        return
    instance._rollup_before = Issue.objects.filter(pk=instance.pk).values(*FIELDS).first()


@receiver(post_save, sender=Issue)
def _issue_saved(sender, instance, created=False, raw=False, **kwargs):
    if raw or getattr(instance, "_rollup_later", False):
        return  # issue_register counts the issue once it is complete
    before = None if created else getattr(instance, "_rollup_before", None)
    after = row(instance) if created else Issue.objects.filter(pk=instance.pk).values(*FIELDS).first()
    instance._rollup_before = None
    moved([(before, after)])


@receiver(post_delete, sender=Issue)
def _issue_deleted(sender, instance, **kwargs):
    moved([(row(instance), None)])


def _cascade_of_campaign(origin) -> bool:
    """Deleted because its campaign is: the campaign's rows go with it (no recount)."""
    return isinstance(origin, Campaign) or getattr(origin, "model", None) is Campaign


@receiver(post_save, sender=Stage)
@receiver(post_delete, sender=Stage)
def _span_moved(sender, instance, raw=False, origin=None, **kwargs):
    if raw or _cascade_of_campaign(origin):
        return
    refresh([instance.campaign_id])


@receiver(pre_save, sender=Campaign)
def _remember_campaign(sender, instance, raw=False, **kwargs):
    if raw or not instance.pk:
        return
    instance._rollup_span = Campaign.objects.filter(pk=instance.pk).values_list("year", "street_id").first()


@receiver(post_save, sender=Campaign)
def _campaign_saved(sender, instance, created=False, raw=False, **kwargs):
    if raw:
        return
    if created or getattr(instance, "_rollup_span", None) != (instance.year, instance.street_id):
        refresh([instance.pk])
    instance._rollup_span = (instance.year, instance.street_id)


@receiver(pre_save, sender=Node)
def _remember_street(sender, instance, raw=False, **kwargs):
    if raw or not instance.pk or instance.kind != NodeKind.COMMUNITY:
        return
    instance._rollup_street = Node.objects.filter(pk=instance.pk).values_list("parent_id", flat=True).first()


@receiver(post_save, sender=Node)
def _community_moved(sender, instance, raw=False, **kwargs):
    before = getattr(instance, "_rollup_street", None)
    if raw or before is None or before == instance.parent_id:
        return
    instance._rollup_street = instance.parent_id
    refresh(community_ids=[instance.pk])


_calendar = threading.local()


def _recount_after_calendar_change():
    # One callback per change; the first to run recounts, the others find nothing pending. A rolled
    # back change leaves it pending: recounted (needlessly) with the next change that commits.
    if not getattr(_calendar, "pending", False):
        return
    _calendar.pending = False
    refresh()


@receiver(post_save, sender=HolidayOverride, dispatch_uid="issues_override_saved_rollups")
@receiver(post_delete, sender=HolidayOverride, dispatch_uid="issues_override_deleted_rollups")
def _calendar_changed(sender, instance, raw=False, **kwargs):
    """The working days to close move with the calendar: every campaign is recounted once, after
    the transaction that changed it commits (a year's schedule is dozens of rows in one)."""
    if raw:
        return
    _calendar.pending = True
    transaction.on_commit(_recount_after_calendar_change)
