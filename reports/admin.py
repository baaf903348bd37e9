"""Supervision in the admin: findings and phone checks, read-only and scoped (they are recorded on
the supervision pages, through reports.supervision, so the score and its evidence cannot drift)."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from households.admin import CommunityFilter
from visitplan.admin import CampaignFilter

from .models import Bulletin, Finding, MonthlyReport, PhoneCheck


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdmin):
    list_display = ("found_on", "community", "kind", "method", "cadre", "visit", "issue", "recorded_by")
    list_filter = ("kind", "method", CampaignFilter, CommunityFilter)
    search_fields = ("evidence", "cadre__name")
    list_select_related = ("community", "cadre", "visit", "issue", "recorded_by")
    date_hierarchy = "found_on"

    def get_queryset(self, request):
        return Finding.objects.visible_to(request.user)


@admin.register(PhoneCheck)
class PhoneCheckAdmin(ReadOnlyAdmin):
    list_display = (
        "drawn_on",
        "community",
        "household",
        "called_on",
        "reached",
        "was_visited",
        "satisfaction",
        "finding",
    )
    list_filter = ("reached", "was_visited", CampaignFilter, CommunityFilter)
    list_select_related = ("community", "household", "finding")

    def get_queryset(self, request):
        return PhoneCheck.objects.visible_to(request.user)


@admin.register(MonthlyReport)
class MonthlyReportAdmin(ReadOnlyAdmin):
    list_display = ("month", "street", "built_at")


@admin.register(Bulletin)
class BulletinAdmin(ReadOnlyAdmin):
    """督查通报: built by the job of the 1st (reports/bulletin/); read on the 督查通报 page."""

    list_display = ("month", "campaign", "built_at", "notified_at")
    list_filter = (CampaignFilter,)
    list_select_related = ("campaign",)

    def get_queryset(self, request):
        return Bulletin.objects.visible_to(request.user).select_related("campaign")
