"""The visit ledger (入户走访台账) and the 回头看 lists in the admin: read-only and scoped.

Visits are written from the visit form and follow-ups by their job and form (visits.services,
visits.followups), never typed here; the admin is where the office looks them up.

The issue's admin page shows its 来源走访 too: the ledger's admin knows no visits, so the issue
admin is registered again here with that inline (as one extends django.contrib.auth's UserAdmin).
"""

from django.contrib import admin

from core.admin import ReadOnlyAdmin, SafeTabularInline
from issues import admin as ledger_admin  # imported first: its IssueAdmin is replaced below
from issues.models import Issue
from visitplan.admin import CampaignFilter

from .models import FollowUp, RaisedIssue, Visit


@admin.register(Visit)
class VisitAdmin(ReadOnlyAdmin):
    list_display = (
        "visited_on",
        "household",
        "cadre",
        "purpose",
        "method",
        "duration_minutes",
        "card_given",
        "satisfaction",
    )
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


class SourceVisitInline(SafeTabularInline):
    model = RaisedIssue
    verbose_name = verbose_name_plural = "来源走访"
    fields = ("visit",)
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("visit__cadre", "visit__household")

    def has_view_permission(self, request, obj=None):
        # Part of the issue's page: whoever may see the issue sees which visit it was raised on.
        return request.user.has_perm("issues.view_issue") or request.user.has_perm("issues.change_issue")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class IssueAdmin(ledger_admin.IssueAdmin):
    inlines = [SourceVisitInline, *ledger_admin.IssueAdmin.inlines]


admin.site.unregister(Issue)
admin.site.register(Issue, IssueAdmin)
