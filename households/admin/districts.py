"""区（县） in the admin: a district, the streets and towns it is made of, its accounts.

Kept by superusers only (no role has a permission on these models: households/roles.py): a
district's accounts read every street of it (visitplan.scope.UserScope), so handing one out is
the installation's business, not a street office's. Decision: docs/decisions/0017-districts.md.
"""

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import F

from core.admin import SafeModelAdmin, SafeTabularInline

from ..models import District, DistrictMember, Node, NodeKind


def _streets(request):
    """The street-level nodes the user may hand to a district (superusers: all of them)."""
    return Node.objects.visible_to(request.user, ancestors=False).filter(kind=NodeKind.STREET).order_by("path")


class DistrictMemberInline(SafeTabularInline):
    model = DistrictMember
    extra = 1
    raw_id_fields = ("user",)
    verbose_name = verbose_name_plural = "区（县）级账号（角色另在“用户”中设为区级领导或区级管理员）"


class DistrictForm(forms.ModelForm):
    streets = forms.ModelMultipleChoiceField(
        label="下辖街道（镇、乡）",
        queryset=Node.objects.none(),  # the streets the user sees: DistrictAdmin.get_form
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="一个街道（镇、乡）只属于一个区（县）：勾选后即从原来的区（县）移到本区（县）",
    )

    class Meta:
        model = District
        fields = ("name", "kind", "code")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["streets"].initial = list(self.instance.streets.values_list("pk", flat=True))


@admin.register(District)
class DistrictAdmin(SafeModelAdmin):
    form = DistrictForm
    list_display = ("name", "kind", "code", "street_names")
    search_fields = ("name", "code")
    inlines = [DistrictMemberInline]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.base_fields["streets"].queryset = _streets(request)
        return form

    @admin.display(description="下辖街道（镇、乡）")
    def street_names(self, obj):
        return "、".join(obj.streets.order_by("path").values_list("name", flat=True))

    @transaction.atomic
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        district = form.instance
        chosen = [n.pk for n in form.cleaned_data.get("streets", [])]
        # A street's district changes under any open edit form of it: bump its version (optimistic lock).
        streets = _streets(request)
        streets.filter(district=district).exclude(pk__in=chosen).update(district=None, version=F("version") + 1)
        streets.filter(pk__in=chosen).exclude(district=district).update(district=district, version=F("version") + 1)
