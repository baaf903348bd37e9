"""The daily reminder job (督办提醒): who is told what about which open issue, exactly once a day.

``send_reminders(day=...)`` — called by the Celery beat task ``issues.tasks.send_reminders_task``
(08:00 Asia/Shanghai) and by ``manage.py send_reminders --date`` — does this:

1. On a non-working day (``issues.workdays.is_workday``: weekends, statutory holidays, office
   overrides) it sends nothing and returns at once. Working days only: the departments are
   not at work to act on a Saturday reminder, and Monday's run reminds them anyway.
2. It loads one calendar snapshot for the whole run and selects the open issues (status in
   ``OPEN_STATUSES``) that may need a reminder: plan not posted and ``plan_due_on`` before the
   (DUE_SOON_WORKING_DAYS + 1)-th working day after ``day``, or ``due_on`` before it. That is
   exactly "≤ DUE_SOON_WORKING_DAYS working days left", as an indexed range filter.
3. For each such issue it decides the kinds with ``deadlines.plan_working_days_left`` and
   ``deadlines.working_days_left`` (no date arithmetic here):
   - plan not posted, 0…DUE_SOON_WORKING_DAYS working days left → PLAN_DUE_SOON (方案即将到期);
   - plan not posted, deadline passed → PLAN_OVERDUE (方案逾期), again every working day;
   - 0…DUE_SOON_WORKING_DAYS working days left to close → DUE_SOON (办结即将到期), on each of
     those days (还剩2个/1个工作日, 今天到期);
   - close deadline passed → OVERDUE (办结逾期) to the responsible person AND ESCALATION
     (逾期升级) to the supervisor, again on every working day the issue stays overdue.
4. Recipients follow one chain: the responsible person is the assignee (责任人); if none, the
   department's head (``Department.head_user``); if none, the street admins (group 街道管理员)
   whose cadre scope covers the issue. So issues not yet routed (待审核, 待交办) go to the street
   admins, whose step it is. The supervisor is the next level up the same chain that holds
   someone other than the responsible people; when the street admins are already responsible,
   there is nobody above them and no ESCALATION is made. Inactive users and inactive cadres
   are skipped. A reminder with nobody to receive it is counted in ``failures`` (and logged)
   and NOT claimed, so it goes out once someone is assigned and the job runs again.
5. Claim: each (issue, kind, day) is claimed by inserting a ``Reminder`` row with
   ``INSERT … ON CONFLICT (issue_id, kind, day) DO NOTHING RETURNING id`` (PostgreSQL, and
   SQLite ≥ 3.35 alike). Only the rows this statement returns are ours: a second run of the
   same day, a racing worker or a redelivered task gets nothing back and sends nothing. On
   PostgreSQL a racing INSERT of the same key waits for the first transaction and then skips;
   keys are inserted in (issue, kind) order by every run, so two runs cannot deadlock.
6. Only the claimant writes the ``Notification`` rows (one per recipient; unique per reminder
   and user) and the ``Delivery`` rows (one per notification and configured channel for which
   the user has an address — users without an email get the in-app notification only).
   Claim, notifications and deliveries of a batch of issues are one transaction (on
   PostgreSQL the rows are written with COPY: a large run writes ~100,000 of them).
7. The deliveries go out after commit: ``deliver_task.delay_on_commit`` (one Celery task per
   DELIVERY_BATCH deliveries; with ``deliver_now`` the task is applied in this process instead).
   A rolled-back run enqueues nothing; a retried task re-sends only deliveries still pending
   (``issues.channels.deliver``).
8. Deliveries of earlier days' reminders still pending (their message was lost: a broker
   restarted without persistence, a task gave up on a database error) are marked failed: today's
   reminders supersede them (every kind repeats daily while its condition holds).
9. Catch-up: a day on which the job did not run (beat or worker down) needs no look-back. The
   reminders are a function of each open issue's state on the day of the run, and every kind
   repeats on every working day while its condition holds, with no gap between the kinds
   (PLAN_DUE_SOON runs until the plan deadline, then PLAN_OVERDUE; DUE_SOON until the close
   deadline, then OVERDUE and ESCALATION). So the next run reminds every issue that was due on
   the missed day and still is, in its current words (还剩 1 个工作日, not yesterday's 2), exactly
   once (its own claims); an issue answered, planned or extended meanwhile needs no reminder.
   Re-sending the missed day's messages as well would reach the same people twice about the
   same issue, once with stale figures. Beat catches up by itself: after a stop across 08:00
   (DatabaseScheduler keeps ``last_run_at``; ``beat_cron_starting_deadline`` is unset) it runs
   the job once at start, not once per missed day, and the task takes "today" when it runs, so a
   message that waited in the broker overnight reminds about the day it is handled on.

Resolved issues (已办结) are not reminded: the answer has been given to the resident, which is what
the close deadline asks (the campaign plan: "closed with an answer to the resident within 15 working
days"); the 销号 that follows is the street office's audit of the ledger, not a deadline of the
department. Merged, returned and closed issues are not open either.

Messages are in Chinese and carry the issue's text, the household's address (never the ID number
or the phone: the mail leaves the application), the deadline (with 暂定 when provisional) and the
path of the issue page.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date
from functools import partial

from django.contrib.auth import get_user_model
from django.db import connections, router, transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from households.models import Household, Node
from households.roles import STREET_ADMIN
from visitplan.models import Department

from . import deadlines, workdays
from .channels import get_channels
from .models import OPEN_STATUSES, Delivery, Issue, Notification, Reminder, ReminderKind, Status

log = logging.getLogger(__name__)

# Issues per transaction: claims, notifications and deliveries of one batch commit together.
# Smaller on SQLite, where a transaction holds the write lock of the whole database (web requests wait).
ISSUE_BATCH = {"postgresql": 5000, "sqlite": 500}
# Deliveries per Celery task.
DELIVERY_BATCH = 200

KIND_ORDER = [
    ReminderKind.PLAN_DUE_SOON,
    ReminderKind.PLAN_OVERDUE,
    ReminderKind.DUE_SOON,
    ReminderKind.OVERDUE,
    ReminderKind.ESCALATION,
]


@dataclass
class ReminderReport:
    day: date
    workday: bool = True
    issues_checked: int = 0  # open issues inside a reminder window
    counts: dict = field(default_factory=lambda: {kind.value: 0 for kind in KIND_ORDER})  # reminders claimed now
    sent: int = 0  # notifications written now (one per reminder and recipient)
    deliveries: int = 0  # outside deliveries (email …) queued now
    skipped_already_sent: int = 0  # reminders already claimed for this day (earlier or racing run)
    failures: int = 0  # reminders due with nobody to receive them
    expired: int = 0  # deliveries of earlier days still pending, marked failed (superseded)
    seconds: float = 0.0

    @property
    def reminders(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict:
        return {
            "day": self.day.isoformat(),
            "workday": self.workday,
            "issues_checked": self.issues_checked,
            "counts": dict(self.counts),
            "reminders": self.reminders,
            "sent": self.sent,
            "deliveries": self.deliveries,
            "skipped_already_sent": self.skipped_already_sent,
            "failures": self.failures,
            "expired": self.expired,
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        """The report in Chinese, as the management command prints it."""
        if not self.workday:
            return [f"{self.day.isoformat()} 不是工作日，不发送提醒。"]
        lines = [f"{self.day.isoformat()} 督办提醒：检查诉求 {self.issues_checked} 件"]
        for kind in KIND_ORDER:
            lines.append(f"  {kind.label}：{self.counts[kind.value]} 条")
        lines.append(f"  站内通知：{self.sent} 条；外发（邮件等）已排队：{self.deliveries} 条")
        lines.append(f"  当天已提醒过、本次跳过：{self.skipped_already_sent} 条")
        lines.append(f"  无人可接收（未指定责任人、部门负责人，也无街道管理员）：{self.failures} 条")
        if self.expired:
            lines.append(f"  以前各天未发出的外发（已由今天的提醒取代）：{self.expired} 条标为发送失败")
        lines.append(f"  用时 {self.seconds:.1f} 秒")
        return lines


def send_reminders(*, day: date, deliver_now: bool = False) -> ReminderReport:
    """Send the reminders due on ``day``; idempotent per (issue, kind, day). See the module docstring.

    ``deliver_now`` (``manage.py send_reminders --deliver-now``): after each commit the delivery
    task runs in this process (``Task.apply``, retries included but without the backoff) instead
    of being queued for a worker; no broker is needed.
    """
    started = time.perf_counter()
    calendar = workdays.WorkCalendar.load()
    report = ReminderReport(day=day, workday=workdays.is_workday(day, calendar=calendar))
    if not report.workday:
        report.seconds = time.perf_counter() - started
        return report

    # "≤ N working days left" ⟺ the deadline falls before the (N+1)-th working day after `day`.
    window_end = workdays.add_working_days(day, deadlines.DUE_SOON_WORKING_DAYS + 1, calendar=calendar).date
    candidate_ids = list(
        Issue.objects.filter(status__in=OPEN_STATUSES)
        .filter(Q(plan_posted_on__isnull=True, plan_due_on__lt=window_end) | Q(due_on__lt=window_end))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    context = _RunContext(day=day, calendar=calendar)
    context.deliver_now = deliver_now
    batch = ISSUE_BATCH.get(connections[router.db_for_write(Issue)].vendor, 1000)
    for offset in range(0, len(candidate_ids), batch):
        _process_batch(candidate_ids[offset : offset + batch], context, report)
    _expire_stale_deliveries(day, report)
    report.seconds = time.perf_counter() - started
    log.info("send_reminders %s", report.as_dict())
    return report


# ---------------------------------------------------------------------------------------------- one run


class _RunContext:
    """What a run looks up once, or once per object: calendar, street admins, departments, users,
    channels, the link of the issue page. Tens of thousands of issues share a few hundred of these."""

    def __init__(self, *, day, calendar):
        self.day = day
        self.calendar = calendar
        self.deliver_now = False
        self.channels = get_channels()
        self.now = timezone.now()
        self.user_model = get_user_model()
        admins = (
            self.user_model.objects.filter(is_active=True, groups__name=STREET_ADMIN, cadre__active=True)
            .select_related("cadre__scope")
            .order_by("pk")
            .distinct()
        )
        self.street_admins = [(user.cadre.scope.path, user) for user in admins]
        self.departments = {d.pk: d for d in Department.objects.select_related("head_user__cadre")}
        self.users: dict[int, object] = {}
        self.nodes: dict[int, Node] = {}
        self.link = _issue_path_template()
        self._admins_by_path: dict[str, list] = {}
        self._addresses: dict[tuple[str, int], str | None] = {}

    def admins_for(self, path: str) -> list:
        found = self._admins_by_path.get(path)
        if found is None:
            found = [u for scope, u in self.street_admins if path == scope or path.startswith(scope + ".")]
            self._admins_by_path[path] = found
        return found

    def address(self, channel, user) -> str | None:
        key = (channel.name, user.pk)
        if key not in self._addresses:
            self._addresses[key] = channel.address_for(user)
        return self._addresses[key]

    def attach(self, issues):
        """Set household, department and assignee on the issues from the caches (few queries)."""
        missing = {i.assignee_id for i in issues if i.assignee_id and i.assignee_id not in self.users}
        if missing:
            for user in self.user_model.objects.filter(pk__in=missing).select_related("cadre"):
                self.users[user.pk] = user
        households = {
            h.pk: h
            for h in Household.objects.filter(pk__in={i.household_id for i in issues}).only(
                "id", "community_id", "grid_id", "building_id", "unit", "room"
            )
        }
        node_ids = {n for h in households.values() for n in (h.community_id, h.grid_id, h.building_id) if n}
        missing = node_ids - self.nodes.keys()
        if missing:
            self.nodes.update((n.pk, n) for n in Node.objects.filter(pk__in=missing).only("id", "name"))
        for h in households.values():
            # The names the address is made of, from a per-run cache of the (few) tree nodes.
            h.community = self.nodes[h.community_id]
            h.grid = self.nodes[h.grid_id]
            h.building = self.nodes[h.building_id] if h.building_id else None
        for issue in issues:
            issue.household = households[issue.household_id]
            if issue.department_id:
                department = self.departments.get(issue.department_id)
                if department is None:  # created during the run
                    department = Department.objects.select_related("head_user__cadre").get(pk=issue.department_id)
                    self.departments[department.pk] = department
                issue.department = department
            if issue.assignee_id:
                issue.assignee = self.users[issue.assignee_id]


def _active(user):
    return user if user is not None and user.is_active else None


def _recipient_levels(issue, context) -> list[list]:
    """The chain, lowest first: [assignee], [department head], [street admins covering the issue]."""
    assignee = _active(issue.assignee)
    head = _active(issue.department.head_user) if issue.department_id else None
    return [[assignee] if assignee else [], [head] if head else [], context.admins_for(issue.path)]


def _responsible_and_supervisors(issue, context):
    levels = _recipient_levels(issue, context)
    for i, level in enumerate(levels):
        if level:
            responsible = level
            mine = {u.pk for u in level}
            for upper in levels[i + 1 :]:
                supervisors = [u for u in upper if u.pk not in mine]
                if supervisors:
                    return responsible, supervisors
            return responsible, []
    return [], []


def _kinds_for(issue, context):
    """[(kind, working days left)] for this issue on this day; the rule lives in issues.deadlines."""
    kinds = []
    plan_left = deadlines.plan_working_days_left(issue, on=context.day, calendar=context.calendar)
    if plan_left is not None:
        if plan_left < 0:
            kinds.append((ReminderKind.PLAN_OVERDUE, plan_left))
        elif plan_left <= deadlines.DUE_SOON_WORKING_DAYS:
            kinds.append((ReminderKind.PLAN_DUE_SOON, plan_left))
    left = deadlines.working_days_left(issue, on=context.day, calendar=context.calendar)
    if left is not None:
        if left < 0:
            kinds.append((ReminderKind.OVERDUE, left))
            kinds.append((ReminderKind.ESCALATION, left))
        elif left <= deadlines.DUE_SOON_WORKING_DAYS:
            kinds.append((ReminderKind.DUE_SOON, left))
    return kinds


# What reminders read of an issue: nothing else is loaded for tens of thousands of rows.
_ISSUE_FIELDS = (
    "id", "status", "text", "path", "household_id", "department_id", "assignee_id",
    "plan_due_on", "plan_due_provisional", "plan_posted_on", "due_on", "due_provisional",
)  # fmt: skip


def _process_batch(issue_ids, context, report):
    with transaction.atomic():
        # Re-read inside the transaction: an issue closed since the id list was read is skipped.
        issues = list(
            Issue.objects.filter(pk__in=issue_ids, status__in=OPEN_STATUSES).only(*_ISSUE_FIELDS).order_by("pk")
        )
        context.attach(issues)
        report.issues_checked += len(issues)
        wanted = []  # (issue, kind, working days left, recipients, responsible people)
        for issue in issues:
            responsible, supervisors = _responsible_and_supervisors(issue, context)
            for kind, left in _kinds_for(issue, context):
                if kind == ReminderKind.ESCALATION:
                    if not responsible:
                        continue  # the OVERDUE of this issue already counts as a failure
                    if not supervisors:
                        continue  # street admins are responsible: nobody above them
                    recipients = supervisors
                else:
                    recipients = responsible
                if not recipients:
                    report.failures += 1
                    log.warning("reminder %s for issue %s on %s: nobody to send it to", kind, issue.pk, context.day)
                    continue
                wanted.append((issue, kind, left, recipients, responsible))
        if not wanted:
            return
        claimed = _claim([(issue.pk, kind.value) for issue, kind, *_ in wanted], context)
        report.skipped_already_sent += len(wanted) - len(claimed)

        notifications = []  # (user, reminder_id, issue_id, title, body)
        for issue, kind, left, recipients, responsible in wanted:
            reminder_id = claimed.get((issue.pk, kind.value))
            if reminder_id is None:
                continue
            report.counts[kind.value] += 1
            title, body = compose(issue, kind, left=left, responsible=responsible, link=context.link)
            for user in recipients:
                notifications.append((user, reminder_id, issue.pk, title, body))
        notification_ids = _insert(
            Notification,
            ["user_id", "reminder_id", "issue_id", "title", "body", "created_at"],
            [(user.pk, reminder_id, issue_id, title, body, context.now) for user, reminder_id, issue_id, title, body in notifications],
        )  # fmt: skip
        report.sent += len(notification_ids)

        deliveries = []
        for (user, *_), notification_id in zip(notifications, notification_ids):
            for channel in context.channels:
                address = context.address(channel, user)
                if address:
                    deliveries.append(
                        (notification_id, channel.name, address[:200], Delivery.State.PENDING.value, 0, "")
                    )
        delivery_ids = _insert(
            Delivery, ["notification_id", "channel", "address", "state", "attempts", "error"], deliveries
        )
        report.deliveries += len(delivery_ids)
        enqueue_deliveries(delivery_ids, now=context.deliver_now)


def _insert(model, columns, rows) -> list[int]:
    """Insert rows (tuples of the ``columns`` attnames) and return their primary keys, in order.

    PostgreSQL: ids drawn from the table's sequence, then one COPY — several times faster than
    bulk_create for the ~100,000 notifications and deliveries of a large run. Elsewhere
    bulk_create (SQLite ≥ 3.35 returns the keys). Model defaults are not applied: pass them.
    """
    if not rows:
        return []
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        objs = model.objects.bulk_create([model(**dict(zip(columns, row))) for row in rows], batch_size=500)
        return [obj.pk for obj in objs]
    qn = connection.ops.quote_name
    table = model._meta.db_table
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [qn(table), pk, len(rows)]
        )
        ids = [row[0] for row in cursor.fetchall()]
        names = ", ".join(qn(model._meta.get_field(c).column) for c in columns)
        with cursor.cursor.copy(f"COPY {qn(table)} ({qn(pk)}, {names}) FROM STDIN") as copy:
            for pk_value, row in zip(ids, rows):
                copy.write_row((pk_value, *row))
    return ids


def enqueue_deliveries(delivery_ids, *, now=False):
    """Queue the delivery task for ``delivery_ids`` after the current transaction commits."""
    from .tasks import deliver_task

    for offset in range(0, len(delivery_ids), DELIVERY_BATCH):
        batch = delivery_ids[offset : offset + DELIVERY_BATCH]
        # After commit: a rolled-back run leaves no task behind pointing at rows that do not exist.
        if now:
            transaction.on_commit(partial(deliver_task.apply, args=[batch]))
        else:
            deliver_task.delay_on_commit(batch)


def _claim(keys, context) -> dict[tuple[int, str], int]:
    """Insert a Reminder for each (issue_id, kind) of ``day`` unless it exists; {key: id} of those inserted here.

    ``INSERT … ON CONFLICT DO NOTHING RETURNING``: the database decides who owns each key, also
    between concurrent transactions (unlike bulk_create(ignore_conflicts=True) followed by a read,
    which cannot tell my rows from a racing run's). PostgreSQL: one statement over two arrays;
    SQLite: VALUES lists of 200 rows (its writers are serialised anyway).
    """
    connection = connections[router.db_for_write(Reminder)]
    qn = connection.ops.quote_name
    meta = Reminder._meta
    table = qn(meta.db_table)
    cols = [qn(meta.get_field(name).column) for name in ("issue", "kind", "day", "created_at")]
    day = connection.ops.adapt_datefield_value(context.day)
    now = connection.ops.adapt_datetimefield_value(context.now)
    conflict = (
        f"ON CONFLICT ({cols[0]}, {cols[1]}, {cols[2]}) DO NOTHING RETURNING {qn(meta.pk.column)}, {cols[0]}, {cols[1]}"
    )
    keys = sorted(set(keys))  # the same order in every run: racing inserts cannot deadlock
    claimed = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Two arrays instead of thousands of placeholders; rows are inserted in array order.
            sql = (
                f"INSERT INTO {table} ({', '.join(cols)}) "
                f"SELECT k.issue_id, k.kind, %s, %s FROM unnest(%s::bigint[], %s::varchar[]) AS k(issue_id, kind) "
                f"ORDER BY k.issue_id, k.kind {conflict}"
            )
            cursor.execute(sql, [day, now, [k[0] for k in keys], [k[1] for k in keys]])
            rows = cursor.fetchall()
        else:
            rows = []
            # SQLite allows 999 parameters per statement in the oldest builds Django supports.
            for offset in range(0, len(keys), 200):
                chunk = keys[offset : offset + 200]
                params = []
                for issue_id, kind in chunk:
                    params += [issue_id, kind, day, now]
                values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
                cursor.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES {values} {conflict}", params)
                rows += cursor.fetchall()
    for pk, issue_id, kind in rows:
        claimed[(issue_id, kind)] = pk
    return claimed


def _expire_stale_deliveries(day, report):
    """Give up the deliveries of earlier days' reminders that are still pending.

    Their retries (about two hours) are long over, so their message was lost (a broker restarted
    without persistence, a worker that never ran). Sending them now would be stale: every kind
    of reminder is sent again today while its condition holds (a due-soon issue is now due soon
    or overdue), and an issue resolved since needs no reminder. Marking them failed keeps the
    admin's delivery list truthful.
    """
    report.expired = Delivery.objects.filter(state=Delivery.State.PENDING, notification__reminder__day__lt=day).update(
        state=Delivery.State.FAILED,
        error=f"未在提醒当天发出（消息丢失或发送任务未运行），已由 {day.isoformat()} 的提醒取代",
    )


# ---------------------------------------------------------------------------------------------- messages

_TITLES = {
    ReminderKind.PLAN_DUE_SOON: "方案即将到期",
    ReminderKind.PLAN_OVERDUE: "方案逾期",
    ReminderKind.DUE_SOON: "办结即将到期",
    ReminderKind.OVERDUE: "办结逾期",
    ReminderKind.ESCALATION: "逾期升级督办",
}


def issue_path(issue_id) -> str:
    """The path of the issue page, or '' while the pages are not there."""
    try:
        return reverse("issues:detail", args=[issue_id])
    except NoReverseMatch:
        return ""


_PLACEHOLDER = 987654321


def _issue_path_template():
    """issue_path as a format string, reversed once per run (reverse() per issue costs ~0.1 ms)."""
    path = issue_path(_PLACEHOLDER)
    if path.count(str(_PLACEHOLDER)) != 1:
        return issue_path
    prefix, suffix = path.split(str(_PLACEHOLDER))
    return lambda pk: f"{prefix}{pk}{suffix}"


def _person(user) -> str:
    try:
        cadre = user.cadre
    except Exception:  # no cadre: RelatedObjectDoesNotExist
        cadre = None
    if cadre is not None and cadre.name:
        return cadre.name
    return user.get_full_name() or user.get_username()


def _when(left: int) -> str:
    if left == 0:
        return "今天到期"
    if left > 0:
        return f"还剩 {left} 个工作日"
    return f"已逾期 {-left} 个工作日"


def _address(household) -> str:
    # The address only: the ID number and phone never leave the application in a message.
    parts = [household.community.name, household.grid.name, household.address]
    return " ".join(p for p in parts if p)


def compose(issue, kind, *, left: int, responsible=(), link=issue_path) -> tuple[str, str]:
    """(title, body) of the reminder of ``kind`` about ``issue``; ``left`` is in working days."""
    kind = ReminderKind(kind)
    summary = issue.text.replace("\n", " ").strip()
    short = summary if len(summary) <= 24 else summary[:24] + "…"
    title = f"【{_TITLES[kind]}】诉求#{issue.pk} {short}（{_when(left)}）"[:200]

    plan_deadline = deadlines.format_deadline(issue.plan_due_on, issue.plan_due_provisional)
    close_deadline = deadlines.format_deadline(issue.due_on, issue.due_provisional)
    if kind == ReminderKind.PLAN_DUE_SOON:
        ask = f"解决方案应于 {plan_deadline} 前上报（{_when(left)}），请及时上报方案。"
    elif kind == ReminderKind.PLAN_OVERDUE:
        ask = f"解决方案时限 {plan_deadline} 已过（{_when(left)}），尚未上报方案，请立即上报。"
    elif kind == ReminderKind.DUE_SOON:
        ask = f"办结时限 {close_deadline}（{_when(left)}），请按时办结并答复居民；确需延期的请提前申请。"
    elif kind == ReminderKind.OVERDUE:
        ask = f"办结时限 {close_deadline} 已过（{_when(left)}），请尽快办结并答复居民。"
    else:
        names = "、".join(_person(u) for u in responsible) or "未指定"
        ask = f"该诉求办结时限 {close_deadline} 已过（{_when(left)}），责任人（{names}）尚未办结，请督促办理。"

    lines = [
        ask,
        "",
        f"诉求编号：#{issue.pk}",
        f"诉求内容：{issue.text.strip()}",
        f"住户地址：{_address(issue.household)}",
        f"当前状态：{Status(issue.status).label}",
    ]
    if issue.department_id:
        lines.append(f"责任单位：{issue.department.name}")
    if issue.assignee_id:
        lines.append(f"责任人：{_person(issue.assignee)}")
    if issue.plan_posted_on is None and plan_deadline:
        lines.append(f"方案时限：{plan_deadline}")
    if close_deadline:
        lines.append(f"办结时限：{close_deadline}")
    if issue.due_provisional or (issue.plan_posted_on is None and issue.plan_due_provisional):
        lines.append("（暂定：该时限跨越尚未公布放假安排的年份，公布后将自动重算。）")
    path = link(issue.pk)
    if path:
        lines.append(f"查看：{path}")
    return title, "\n".join(lines)
