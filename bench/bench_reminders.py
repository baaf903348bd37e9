#!/usr/bin/env python
"""The daily reminder job at scale, on PostgreSQL: 50,000 open issues, run twice for one day.

Usage (see bench/README.md):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/visitplan_bench .venv/bin/python bench/bench_reminders.py [--issues 50000]

Steps:
a. drop and recreate the bench database (on the server's ``postgres`` database), then migrate;
b. seed with bulk inserts: one street, communities, grids, households, departments with head
   users, department handlers (assignees) and street admins with emails, and the open issues with
   their deadlines computed by ``issues.deadlines`` from registration days spread over the
   previous weeks, so that the day's run meets every kind of reminder;
c. ``send_reminders(day=…)``: wall time and the report (reminders per kind, notifications,
   deliveries queued);
d. the same day again: nothing may be sent; wall time;
e. for information: the delivery rate (a sample sent through the locmem mail backend), the
   header's unread count and the notifications page for the busiest user.

The Celery broker is forced to ``memory://`` and mail to the locmem backend: the deliveries the
job queues must never reach a real broker, where a worker on another database would take them.

Prints a table with the targets next to the figures and exits 1 when a target is missed.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visitplan.settings")
os.environ.setdefault("DEBUG", "False")
# Forced, not defaulted: the queued deliveries point at rows of the bench database only.
os.environ["CELERY_BROKER_URL"] = "memory://"
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "False"
os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"

from bench_register import analyze, database_settings, finish, prepare_database, step  # noqa: E402

DAY = date(2026, 11, 23)  # a Monday with package data; registrations reach back into October's holiday
TARGETS = {"first_run_seconds": 30, "second_run_seconds": 30, "page_ms": 300}
COMMUNITIES = 5
GRIDS_PER_COMMUNITY = 10
DEPARTMENTS = 8
HANDLERS_PER_DEPARTMENT = 6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issues", type=int, default=50_000, help="open issues to seed (default 50000)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    db = database_settings()
    if db is None:
        return 2

    prepare_database(db)

    step("b", f"seed {args.issues:,} open issues (bulk inserts)")
    started = time.perf_counter()
    seeded = seed(args.issues, random.Random(args.seed))
    analyze()
    print(f"   {seeded}; {time.perf_counter() - started:.1f} s")

    from issues.models import Delivery, Notification, Reminder
    from issues.reminders import send_reminders

    results = []

    step("c", f"send_reminders(day={DAY.isoformat()})")
    started = time.perf_counter()
    first = send_reminders(day=DAY)
    first_seconds = time.perf_counter() - started
    for line in first.lines():
        print(f"   | {line}")
    results += [
        ("first run: wall time", f"{first_seconds:.1f} s", f"< {TARGETS['first_run_seconds']} s",
         first_seconds < TARGETS["first_run_seconds"]),
        ("first run: issues checked", f"{first.issues_checked:,}", "", None),
        ("first run: reminders / notifications / deliveries",
         f"{first.reminders:,} / {first.sent:,} / {first.deliveries:,}", "> 0", first.reminders > 0),
        ("first run: per kind", " ".join(f"{k}={v:,}" for k, v in first.counts.items()), "", None),
        ("first run: without a recipient", f"{first.failures:,}", "0", first.failures == 0),
    ]  # fmt: skip

    step("d", "the same day again")
    counts = (Reminder.objects.count(), Notification.objects.count(), Delivery.objects.count())
    started = time.perf_counter()
    second = send_reminders(day=DAY)
    second_seconds = time.perf_counter() - started
    for line in second.lines():
        print(f"   | {line}")
    unchanged = counts == (Reminder.objects.count(), Notification.objects.count(), Delivery.objects.count())
    results += [
        ("second run: reminders / notifications / deliveries",
         f"{second.reminders} / {second.sent} / {second.deliveries}", "0 / 0 / 0",
         second.reminders == second.sent == second.deliveries == 0 and unchanged),
        ("second run: skipped as already sent", f"{second.skipped_already_sent:,}", f"{first.reminders:,}",
         second.skipped_already_sent == first.reminders),
        ("second run: wall time", f"{second_seconds:.1f} s", f"< {TARGETS['second_run_seconds']} s",
         second_seconds < TARGETS["second_run_seconds"]),
    ]  # fmt: skip

    step("e", "delivery rate, unread count and notifications page of the busiest user")
    results += measure_delivery_and_page()

    return finish(results)


# ---------------------------------------------------------------------------------------------- b


def seed(n_issues, rng):
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User
    from django.db import transaction

    from households.models import Household, Node, NodeKind
    from households.register import address_key
    from households.roles import DEPARTMENT_HANDLER, STREET_ADMIN, sync_role_groups
    from households.validators import id_check_char
    from issues import deadlines, workdays
    from issues.models import Category, Issue, Severity, Status
    from visitplan.models import Cadre, Department, Tier

    with transaction.atomic():
        sync_role_groups()
        street = Node.objects.create(kind=NodeKind.STREET, name="湖田街道")
        grids = []
        for c in range(1, COMMUNITIES + 1):
            community = Node.objects.create(kind=NodeKind.COMMUNITY, name=f"第{c}社区", parent=street)
            for g in range(1, GRIDS_PER_COMMUNITY + 1):
                grids.append(Node.objects.create(kind=NodeKind.GRID, name=f"第{g}网格", parent=community))
        communities = {g.parent_id: g.parent for g in grids}

        # One household per two issues, spread over the grids.
        n_households = max(1, n_issues // 2)
        households = []
        for i in range(n_households):
            grid = grids[i % len(grids)]
            community = communities[grid.parent_id]
            unit, room = f"{i // 1000 % 6 + 1}单元", f"{i // len(grids) + 1}"
            first17 = f"370302{1940 + i % 60}0101{i % 1000:03d}"
            households.append(
                Household(
                    street=street,
                    community=community,
                    grid=grid,
                    unit=unit,
                    room=room,
                    address_key=address_key(community.name, grid.name, "", unit, room),
                    path=grid.path,
                    head_name=f"住户{i}",
                    id_number=first17 + id_check_char(first17),
                    phone=f"139{i:08d}",
                    size=3,
                )  # fmt: skip
            )
        Household.objects.bulk_create(households, batch_size=5000)
        households = list(Household.objects.only("id", "community_id", "path").order_by("pk"))

        password = make_password(None)  # unusable: nobody logs in to the bench database
        admins_group, handlers_group = Group.objects.get(name=STREET_ADMIN), Group.objects.get(name=DEPARTMENT_HANDLER)
        admins = []
        for a in range(2):
            user = User.objects.create(username=f"admin{a}", email=f"admin{a}@example.cn", password=password)
            user.groups.add(admins_group)
            Cadre.objects.create(
                user=user, name=f"管理员{a}", tier=Tier.STREET_STAFF, scope=street, takes_households=False
            )
            admins.append(user)
        departments, handlers = [], {}
        for d in range(DEPARTMENTS):
            head = User.objects.create(username=f"head{d}", email=f"head{d}@example.cn", password=password)
            dept = Department.objects.create(name=f"责任单位{d}", head_user=head)
            departments.append(dept)
            handlers[dept.pk] = []
            for h in range(HANDLERS_PER_DEPARTMENT):
                user = User.objects.create(username=f"d{d}h{h}", email=f"d{d}h{h}@example.cn", password=password)
                user.groups.add(handlers_group)
                Cadre.objects.create(
                    user=user, name=f"经办人{d}-{h}", tier=Tier.DEPARTMENT, scope=street, department=dept
                )
                handlers[dept.pk].append(user)

        # Registration days over the 45 working days before DAY: recent issues are due soon,
        # older ones overdue. Statuses as in a working ledger.
        calendar = workdays.WorkCalendar.load()
        days = []
        cursor = DAY
        while len(days) < 45:
            cursor -= timedelta(days=1)
            if calendar.is_workday(cursor):
                days.append(cursor)
        deadline_cache = {}
        rulebooks = deadlines.Rulebooks()  # each street's campaigns read once
        statuses = (
            [Status.REGISTERED] * 5
            + [Status.ACCEPTED] * 5
            + [Status.ROUTED] * 30
            + [Status.PLANNED] * 20
            + [Status.IN_PROGRESS] * 40
        )
        severities = [Severity.GENERAL] * 8 + [Severity.MAJOR] * 2
        categories = list(Category.values)
        issues = []
        for i in range(n_issues):
            household = households[i % len(households)]
            registered_on = rng.choice(days)
            severity = rng.choice(severities)
            status = rng.choice(statuses)
            rules = rulebooks.rules(household.path, registered_on)
            key = (registered_on, severity, id(rules))
            if key not in deadline_cache:
                deadline_cache[key] = deadlines.compute_deadlines(
                    registered_on, severity, rules=rules, calendar=calendar
                )
            issue = Issue(
                household_id=household.pk, community_id=household.community_id, path=household.path,
                text=f"第{i}号诉求：小区路灯损坏，夜间出行不便，请尽快维修", category=rng.choice(categories),
                severity=severity, status=status, registered_on=registered_on, **deadline_cache[key],
            )  # fmt: skip
            if status not in (Status.REGISTERED, Status.ACCEPTED):
                dept = rng.choice(departments)
                issue.department_id = dept.pk
                issue.assignee_id = rng.choice(handlers[dept.pk]).pk if rng.random() < 0.9 else None
            if status in (Status.PLANNED, Status.IN_PROGRESS):
                issue.plan_text = "联系物业维修"
                issue.plan_posted_on = registered_on
            issues.append(issue)
        Issue.objects.bulk_create(issues, batch_size=5000)
    return (
        f"{len(grids)} grids, {n_households:,} households, {DEPARTMENTS} departments, "
        f"{DEPARTMENTS * HANDLERS_PER_DEPARTMENT} handlers, {len(admins)} street admins, {n_issues:,} issues"
    )


# ---------------------------------------------------------------------------------------------- e


def measure_delivery_and_page():
    from django.contrib.auth.models import User
    from django.core import mail
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.urls import reverse

    from issues.channels import deliver
    from issues.models import Delivery, Notification
    from issues.notifications import unread_count

    results = []
    mail.outbox = []
    sample = list(Delivery.objects.order_by("pk").values_list("pk", flat=True)[:2000])
    started = time.perf_counter()
    outcome = deliver(sample)
    seconds = time.perf_counter() - started
    print(f"   delivered {len(outcome.sent):,} of {len(sample):,} in {seconds:.1f} s; {len(mail.outbox):,} mails")
    results.append(
        ("delivery (locmem mail, one worker)", f"{len(sample) / seconds:,.0f} per s", "all sent",
         len(outcome.sent) == len(sample) == len(mail.outbox))
    )  # fmt: skip

    busiest = Notification.objects.values("user").annotate(n=Count("id")).order_by("-n").first()
    user = User.objects.get(pk=busiest["user"])
    times = []
    for _ in range(6):
        started = time.perf_counter()
        count = unread_count(user)
        times.append((time.perf_counter() - started) * 1000)
    results.append(
        (f"unread count in the header ({user.username}, {count:,} unread)", f"{statistics.median(times[1:]):.1f} ms",
         "", None)
    )  # fmt: skip

    user.set_password("bench-only-pw-123")
    user.save()
    client = Client(raise_request_exception=False)
    client.force_login(user)
    url = reverse("notifications:list")
    warm = client.get(url)
    if warm.status_code != 200:
        return results + [("notifications page", f"HTTP {warm.status_code}", "200", False)]
    queries = []
    # Counted with a wrapper: the request_started signal empties connection.queries mid-capture.
    with connection.execute_wrapper(
        lambda execute, sql, params, many, ctx: queries.append(sql) or execute(sql, params, many, ctx)
    ):
        client.get(url)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    results.append(
        (f"notifications page, first page ({user.username})", f"{median:.0f} ms, {len(queries)} queries",
         f"< {TARGETS['page_ms']} ms", median < TARGETS["page_ms"])
    )  # fmt: skip
    return results


if __name__ == "__main__":
    sys.exit(main())
