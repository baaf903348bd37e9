"""The visit ledger (入户走访台账) and the 回头看 lists in the admin: read-only and scoped.

Visits are written from the visit form and follow-ups by their job and form (visits.services,
visits.followups), never typed here; the admin is where the office looks them up.
"""

from django.contrib import admin

from issues.admin import ReadOnlyAdmin

from .models import FollowUp, Visit
from visitplan.admin import CampaignFilter


@admin.register(Visit)
class VisitAdmin(ReadOnlyAdmin):
    list_display = ("visited_on", "household", "cadre", "purpose", "method", "duration_minutes", "card_given", "satisfaction")
    list_filter = ("purpose", "method", "satisfaction", "card_given", CampaignFilter)
    search_fields = ("household__head_name", "cadre__name")
    list_select_related = ("household", "household__building", "cadre")
    date_hierarchy = "visited_on"
    readonly_fields = [f.name for f in Visit._meta.fields]

    def get_queryset(self, request):
        return Visit.objects.visible_to(request.user)


@admin.register(FollowUp)
class FollowUpAdmin(ReadOnlyAdmin):
    list_display = ("issue", "household", "cadre", "due_on", "status", "solved", "satisfaction", "reopened", "done_on")
    list_filter = ("status", "solved", "satisfaction", "reopened", CampaignFilter)
    search_fields = ("household__head_name", "cadre__name")
    list_select_related = ("issue", "household", "household__building", "cadre")
    date_hierarchy = "due_on"

    def get_queryset(self, request):
        return FollowUp.objects.visible_to(request.user)
