"""The visit ledger (入户走访台账) and the 回头看 lists in the admin: read-only and scoped.

Visits are written from the visit form and follow-ups by their job and form (visits.services,
visits.followups), never typed here; the admin is where the office looks them up.

The issue's admin page shows its 来源走访 too: the ledger's admin knows no visits, so the issue
admin is registered again here with that inline (as one extends django.contrib.auth's UserAdmin).
"""

from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from core.admin import ReadOnlyAdmin, SafeTabularInline
from issues import admin as ledger_admin  # imported first: its IssueAdmin is replaced below
from issues.models import Issue
from visitplan.admin import CampaignFilter
from visitplan.rulebook import rules_for

from .models import CardIssued, FollowUp, RaisedIssue, Visit
from .questionnaire import answered, ticked

_READABLE = {"answers": "answers_display", "checklist": "checklist_display"}
NEEDS_HELP = mark_safe(' <strong class="help-needed">（需要帮助）</strong>')


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
    # The JSON fields are shown as the visit form asked them: question by question, in Chinese, by
    # the rulebook of the visit's campaign (its questions, its checklist's words).
    fields = [_READABLE.get(f.name, f.name) for f in Visit._meta.fields if f.name != "id"]
    readonly_fields = fields

    def get_queryset(self, request):
        return Visit.objects.visible_to(request.user)

    @admin.display(description="入户必问")
    def answers_display(self, visit):
        rows = answered(visit.answers, rules_for(visit.campaign))
        if not rows:
            return "未填写"
        return format_html(
            '<dl class="visit-answers">{}</dl>',
            format_html_join(
                "",
                '<dt><b>{}</b>{}</dt><dd>{}<br><small class="quiet">问：{}</small></dd>',
                (
                    (
                        label,
                        NEEDS_HELP if help_ else "",
                        answer or "（未填写回答）",
                        question,
                    )
                    for label, question, answer, help_ in rows
                ),  # fmt: skip
            ),
        )

    @admin.display(description="三了解 · 四掌握 · 五到位")
    def checklist_display(self, visit):
        groups = ticked(visit.checklist, rules_for(visit.campaign))
        if not groups:
            return "未勾选"
        return format_html_join(mark_safe("<br>"), "<b>{}</b>：{}", ((g, "、".join(labels)) for g, labels in groups))


@admin.register(FollowUp)
class FollowUpAdmin(ReadOnlyAdmin):
    list_display = ("issue", "household", "cadre", "due_on", "status", "solved", "satisfaction", "reopened", "done_on")
    list_filter = ("status", "solved", "satisfaction", "reopened", CampaignFilter)
    search_fields = ("household__head_name", "cadre__name")
    list_select_related = ("issue", "household", "household__building", "cadre")
    date_hierarchy = "due_on"

    def get_queryset(self, request):
        return FollowUp.objects.visible_to(request.user)


@admin.register(CardIssued)
class CardIssuedAdmin(ReadOnlyAdmin):
    """亲情卡发放: marked on the cards page (visits:cards) after printing; looked up here."""

    list_display = ("given_on", "household", "cadre", "given_by", "campaign")
    list_filter = (CampaignFilter,)
    search_fields = ("household__head_name", "cadre__name")
    list_select_related = ("household", "household__building", "cadre", "given_by", "campaign")
    date_hierarchy = "given_on"

    def get_queryset(self, request):
        return CardIssued.objects.visible_to(request.user)


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
