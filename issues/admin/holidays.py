"""Admin of the working-day calendar: 节假日调整 (HolidayOverride), 批量录入 and 年度覆盖情况.

Registered when issues.admin imports it. Every change made here
recomputes the open deadlines of the years it touched in the same request, and says how many moved;
the rules themselves live in issues/workdays.py and issues/deadlines.py.
"""

from __future__ import annotations

import datetime
import re
from importlib.metadata import PackageNotFoundError, version

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from core.admin import SafeModelAdmin

from .. import workdays
from ..deadlines import recompute_open_deadlines
from ..models import HolidayOverride, Issue
from ..signals import recompute_handled_by_caller

WEEKDAYS = "一二三四五六日"

OFFICE_RULE_HELP = (
    "请录入该年度的每一个放假日和每一个调休上班日（周末上班）。某一年只要录入了任何一天，"
    "该年未录入的日子即按周一至周五上班、周六周日休息计算，相关时限不再标“暂定”；"
    "只录入一部分会使时限算错。节假日数据包已覆盖的年份，只需录入与数据包不同的日子。"
)

SOURCE_LABELS = {
    "package": "节假日数据包",
    "office": "街道录入",
    "both": "节假日数据包 + 街道调整",
    "none": "无数据（暂定，按周一至周五计算）",
}

# Longest range one bulk line may cover: a holiday is at most ~9 days; a longer one is a typo.
MAX_RANGE_DAYS = 31

_OFF_WORDS = {"放假", "休", "休息", "假", "休假", "节假日"}
_ON_WORDS = {"上班", "班", "调休上班", "补班", "工作日", "调休"}
_DATE = r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
_LINE = re.compile(
    rf"^{_DATE}(?:\s*(?:~|～|至|到|—|－－|--)\s*{_DATE})?(?:[\s,，、;；:：]+(\S+))?(?:[\s,，、;；:：]+(.*))?$"
)


def _reported(request, changed: int, *, level=messages.INFO, prefix=""):
    if changed:
        text = f"{prefix}已重算 {changed} 条未办结诉求的时限（已记入各诉求的办理记录）。"
    else:
        text = f"{prefix}没有未办结诉求的时限因此变化。"
    messages.add_message(request, level, text)


def _recompute(request, years) -> int:
    return recompute_open_deadlines(by=request.user, years=set(years))


# ---------------------------------------------------------------------- bulk entry


def parse_schedule(text: str) -> tuple[list[tuple[datetime.date, bool, str]], list[str]]:
    """Parse lines like '2027-01-01 放假 元旦' or '2027-02-06~2027-02-13 放假 春节' or
    '2027-02-14 上班 春节调休'. Returns (entries, errors); blank lines and '#' comments are skipped."""
    entries: list[tuple[datetime.date, bool, str]] = []
    errors: list[str] = []
    seen: dict[datetime.date, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            errors.append(f"第{number}行：无法识别“{line}”，应为“2027-01-01 放假 元旦”的格式。")
            continue
        g = match.groups()
        try:
            first = datetime.date(int(g[0]), int(g[1]), int(g[2]))
            last = datetime.date(int(g[3]), int(g[4]), int(g[5])) if g[3] else first
        except ValueError:
            errors.append(f"第{number}行：日期不存在。")
            continue
        if last < first:
            errors.append(f"第{number}行：结束日期早于开始日期。")
            continue
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            errors.append(f"第{number}行：一行最多录入 {MAX_RANGE_DAYS} 天。")
            continue
        kind = (g[6] or "").strip()
        if kind in _OFF_WORDS:
            is_workday = False
        elif kind in _ON_WORDS:
            is_workday = True
        else:
            errors.append(f"第{number}行：请写明“放假”或“上班”。")
            continue
        note = (g[7] or "").strip()
        if len(note) > 100:
            errors.append(f"第{number}行：说明不能超过100个字。")
            continue
        day = first
        while day <= last:
            if day in seen:
                errors.append(f"第{number}行：{day} 与第{seen[day]}行重复。")
            else:
                seen[day] = number
                entries.append((day, is_workday, note))
            day += datetime.timedelta(days=1)
    if not entries and not errors:
        errors.append("没有可录入的内容。")
    return entries, errors


class BulkScheduleForm(forms.Form):
    lines = forms.CharField(
        label="安排",
        widget=forms.Textarea(
            attrs={
                "rows": 20,
                "cols": 60,
                "placeholder": "2027-01-01 放假 元旦\n2027-02-06~2027-02-13 放假 春节\n2027-02-14 上班 春节调休",
            }
        ),
        help_text="每行一天或一段：日期（或“开始~结束”）、放假/上班、说明。以 # 开头的行忽略。",
    )
    replace_years = forms.BooleanField(
        label="替换所涉年份的全部调整",
        required=False,
        help_text="勾选后，所涉年份中未在上面列出的已有调整将被删除（用于整年重新录入）。",
    )

    def clean(self):
        cleaned = super().clean()
        if "lines" in cleaned:
            entries, errors = parse_schedule(cleaned["lines"])
            if errors:
                raise forms.ValidationError(errors)
            cleaned["entries"] = entries
        return cleaned


def save_schedule(entries, *, replace_years=False) -> dict:
    """Write the entries (update_or_create by date). Caller holds the transaction and recomputes."""
    years = {day.year for day, _, _ in entries}
    created = updated = deleted = 0
    existing = {o.date: o for o in HolidayOverride.objects.filter(date__year__in=years)}
    for day, is_workday, note in entries:
        current = existing.pop(day, None)
        if current is None:
            HolidayOverride.objects.create(date=day, is_workday=is_workday, note=note)
            created += 1
        elif (current.is_workday, current.note) != (is_workday, note):
            current.is_workday, current.note = is_workday, note
            current.save(update_fields=["is_workday", "note"])
            updated += 1
    if replace_years and existing:
        for stale in existing.values():
            stale.delete()  # one by one, so the delete signals run like any other delete
            deleted += 1
    return {"years": years, "created": created, "updated": updated, "deleted": deleted}


# ---------------------------------------------------------------------- coverage


def coverage_rows(today: datetime.date | None = None) -> list[dict]:
    """One row per year worth showing: a year back, the years ahead with rows or open deadlines."""
    today = today or datetime.date.today()
    calendar = workdays.WorkCalendar.load()
    counts = {}
    for row in (
        HolidayOverride.objects.order_by()
        .values("date__year")
        .annotate(off=Count("pk", filter=Q(is_workday=False)), on=Count("pk", filter=Q(is_workday=True)))
    ):
        counts[row["date__year"]] = (row["off"], row["on"])
    provisional = {
        row["due_on__year"]: row["n"]
        for row in Issue.objects.open()
        .filter(Q(due_provisional=True) | Q(plan_due_provisional=True))
        .exclude(due_on__isnull=True)
        .order_by()
        .values("due_on__year")
        .annotate(n=Count("pk"))
    }
    last = max([today.year + 1, *counts, *provisional])
    rows = []
    for year in range(today.year - 1, last + 1):
        source = calendar.year_source(year)
        off, on = counts.get(year, (0, 0))
        rows.append(
            {
                "year": year,
                "source": source,
                "label": SOURCE_LABELS[source],
                "provisional": source == "none",
                "off": off,
                "on": on,
                "open_provisional": provisional.get(year, 0),
            }
        )
    return rows


def package_summary() -> str:
    years = workdays.package_years()
    try:
        pkg_version = version("chinesecalendar")
    except PackageNotFoundError:  # pragma: no cover - installed from requirements
        pkg_version = "?"
    if not years:
        return f"节假日数据包 chinesecalendar {pkg_version} 未提供任何年份的数据。"
    return f"节假日数据包 chinesecalendar {pkg_version} 覆盖 {min(years)}–{max(years)} 年。"


class YearCoverageFilter(admin.SimpleListFilter):
    """年份, each labelled with where its working days come from."""

    title = "年份（数据来源）"
    parameter_name = "year"

    def lookups(self, request, model_admin):
        calendar = workdays.WorkCalendar.load()
        this_year = datetime.date.today().year
        years = {d.year for d in HolidayOverride.objects.dates("date", "year")} | {this_year, this_year + 1}
        return [(str(y), f"{y}（{SOURCE_LABELS[calendar.year_source(y)]}）") for y in sorted(years, reverse=True)]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(date__year=int(self.value()))
        return queryset


# ---------------------------------------------------------------------- the model admin


@admin.register(HolidayOverride)
class HolidayOverrideAdmin(SafeModelAdmin):
    list_display = ("date", "weekday", "kind", "note", "package_says", "created_at")
    list_filter = (YearCoverageFilter, "is_workday")
    date_hierarchy = "date"
    search_fields = ("note",)
    ordering = ("-date",)
    change_list_template = "admin/issues/holidayoverride/change_list.html"
    fieldsets = ((None, {"fields": ("date", "is_workday", "note"), "description": OFFICE_RULE_HELP}),)

    @admin.display(description="星期", ordering="date")
    def weekday(self, obj):
        return "星期" + WEEKDAYS[obj.date.weekday()]

    @admin.display(description="上班/放假", ordering="is_workday")
    def kind(self, obj):
        return "上班" if obj.is_workday else "放假"

    @admin.display(description="数据包")
    def package_says(self, obj):
        if obj.date.year not in workdays.package_years():
            return "无数据"
        answer = workdays.WorkCalendar().is_workday(obj.date)  # no overrides: the package alone
        same = "（相同）" if answer == obj.is_workday else ""
        return ("上班" if answer else "放假") + same

    # -- every write recomputes, in the same transaction, and reports the count

    def save_model(self, request, obj, form, change):
        years = {obj.date.year}
        old_date = form.initial.get("date") if change else None
        if isinstance(old_date, datetime.date):
            years.add(old_date.year)
        with recompute_handled_by_caller():
            super().save_model(request, obj, form, change)
        _reported(request, _recompute(request, years))

    def delete_model(self, request, obj):
        year = obj.date.year
        with recompute_handled_by_caller():
            super().delete_model(request, obj)
        _reported(request, _recompute(request, {year}))

    def delete_queryset(self, request, queryset):
        years = {d.year for d in queryset.dates("date", "year")}
        with recompute_handled_by_caller():
            super().delete_queryset(request, queryset)
        if years:
            _reported(request, _recompute(request, years))

    # -- extra pages

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        urls = [
            path("bulk/", self.admin_site.admin_view(self.bulk_view), name="%s_%s_bulk" % info),
            path("coverage/", self.admin_site.admin_view(self.coverage_view), name="%s_%s_coverage" % info),
        ]
        return urls + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "office_rule_help": OFFICE_RULE_HELP,
            "package_summary": package_summary(),
        }
        return super().changelist_view(request, extra_context)

    def bulk_view(self, request):
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        form = BulkScheduleForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            replace = form.cleaned_data["replace_years"]
            if replace and not self.has_delete_permission(request):
                raise PermissionDenied
            with transaction.atomic(), recompute_handled_by_caller():
                result = save_schedule(form.cleaned_data["entries"], replace_years=replace)
                changed = _recompute(request, result["years"])
            years = "、".join(str(y) for y in sorted(result["years"]))
            prefix = (
                f"{years} 年：新增 {result['created']} 天，更新 {result['updated']} 天"
                + (f"，删除 {result['deleted']} 天" if result["deleted"] else "")
                + "。"
            )
            _reported(request, changed, level=messages.SUCCESS, prefix=prefix)
            return redirect(reverse("admin:issues_holidayoverride_changelist") + f"?year={min(result['years'])}")
        context = {
            **self.admin_site.each_context(request),
            "title": "批量录入节假日安排",
            "opts": self.model._meta,
            "form": form,
            "office_rule_help": OFFICE_RULE_HELP,
            "package_summary": package_summary(),
        }
        return TemplateResponse(request, "admin/issues/holidayoverride/bulk.html", context)

    def coverage_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "工作日历年度覆盖情况",
            "opts": self.model._meta,
            "rows": coverage_rows(),
            "office_rule_help": OFFICE_RULE_HELP,
            "package_summary": package_summary(),
        }
        return TemplateResponse(request, "admin/issues/holidayoverride/coverage.html", context)
