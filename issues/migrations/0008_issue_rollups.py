# The dashboard's issue counts per campaign and community (issues/rollups.py; decision 0018).

import datetime

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Case, Count, F, IntegerField, Max, Min, Value, When


def _timeliness(done, due):
    return Case(
        When(**{f"{done}__isnull": True}, then=Value(0)),
        When(**{f"{done}__lte": F(due)}, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


def fill(apps, schema_editor):
    """The rows of the issues already there (what issues.rollups.count counts, for every campaign),
    the working days counted on the calendar as it is (issues.workdays: the office's overrides
    first, then the package)."""
    from issues.workdays import WorkCalendar

    Issue = apps.get_model("issues", "Issue")
    Campaign = apps.get_model("visitplan", "Campaign")
    HolidayOverride = apps.get_model("issues", "HolidayOverride")
    IssueCount = apps.get_model("issues", "IssueCount")
    calendar = WorkCalendar(dict(HolidayOverride.objects.values_list("date", "is_workday")))
    campaigns = Campaign.objects.annotate(first_day=Min("stages__starts_on"), last_day=Max("stages__ends_on"))
    rows = []
    for c in campaigns.values("pk", "year", "street_id", "first_day", "last_day").order_by("pk"):
        if c["first_day"] is None or c["last_day"] is None:
            span = (datetime.date(c["year"], 1, 1), datetime.date(c["year"], 12, 31))
        else:
            span = (c["first_day"], c["last_day"])
        found = {}
        issues = (
            Issue.objects.filter(community__parent_id=c["street_id"], registered_on__range=span)
            .annotate(
                plan_state=_timeliness("plan_posted_on", "plan_due_on"),
                answer_state=_timeliness("answered_on", "due_on"),
                since=Case(When(answered_on__isnull=False, then=F("registered_on"))),
            )
            .values(
                "community_id", "status", "category", "closure", "plan_state", "answer_state", "since", "answered_on"
            )
            .annotate(n=Count("pk"))
            .order_by()
        )
        for r in issues:
            key = (r["community_id"], r["status"], r["category"], r["closure"], r["plan_state"], r["answer_state"])
            d = found.setdefault(key, [0, 0])
            d[0] += r["n"]
            if r["answered_on"] is not None:
                d[1] += max(0, calendar.working_days_between(r["since"], r["answered_on"])) * r["n"]
        rows += [
            IssueCount(campaign_id=c["pk"], community_id=k[0], status=k[1], category=k[2], closure=k[3], plan_state=k[4],
                       answer_state=k[5], n=n, close_days=days)
            for k, (n, days) in found.items()
        ]  # fmt: skip
    IssueCount.objects.bulk_create(rows, batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("issues", "0007_step_notifications"),
        ("households", "0016_district_version"),
        ("visitplan", "0006_rulebook"),
    ]

    operations = [
        migrations.CreateModel(
            name="IssueCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("registered", "待审核"),
                            ("accepted", "待交办"),
                            ("returned", "已退回"),
                            ("merged", "已合并"),
                            ("routed", "已交办"),
                            ("planned", "方案已报"),
                            ("in_progress", "办理中"),
                            ("resolved", "已办结"),
                            ("closed", "已销号"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "category",
                    models.CharField(
                        choices=[
                            ("childcare", "幼有善育"),
                            ("education", "学有优教"),
                            ("employment", "劳有厚得"),
                            ("health", "病有良医"),
                            ("elderly", "老有颐养"),
                            ("living", "住有宜居"),
                            ("welfare", "弱有众扶"),
                            ("culture", "民有文乐"),
                            ("safety", "安有保全"),
                            ("urban", "城市建设"),
                            ("housing", "住房保障"),
                            ("municipal", "市政管理"),
                            ("transport", "交通出行"),
                            ("dispute", "矛盾纠纷"),
                            ("other", "其他"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "closure",
                    models.CharField(
                        blank=True,
                        choices=[("solved", "已解决"), ("on_the_spot", "现场答复/即知即办"), ("explained", "解疑释惑")],
                        max_length=16,
                    ),
                ),
                ("plan_state", models.PositiveSmallIntegerField(choices=[(0, "未完成"), (1, "按时"), (2, "逾期")])),
                ("answer_state", models.PositiveSmallIntegerField(choices=[(0, "未完成"), (1, "按时"), (2, "逾期")])),
                ("n", models.IntegerField(default=0)),
                ("close_days", models.IntegerField(default=0)),
                (
                    "campaign",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="visitplan.campaign",
                    ),
                ),
                (
                    "community",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="households.node"
                    ),
                ),
            ],
            options={
                "verbose_name": "诉求汇总",
                "verbose_name_plural": "诉求汇总",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("campaign", "community", "status", "category", "closure", "plan_state", "answer_state"),
                        name="issue_count_once",
                    )
                ],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="issue",
            index=models.Index(
                condition=models.Q(("status__in", ("registered", "accepted", "routed", "planned", "in_progress"))),
                fields=["due_on", "plan_due_on", "id"],
                name="issue_open_due",
            ),
        ),
    ]
